import { expect, Page } from '@playwright/test';

/** Waits until the WASM has hydrated the page (App sets body[data-hydrated]). */
export async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

export function uniqueEmail(prefix: string) {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

/** Signs in through the form and waits for the hydrated dashboard. */
export async function signIn(page: Page, email: string, password: string) {
  await page.goto('/signin');
  await hydrated(page);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#dashboard-title')).toBeVisible();
  await hydrated(page);
}

/** Registers a new account through the form and waits for its dashboard. */
export async function register(page: Page, name: string, email: string, password: string) {
  await page.goto('/register');
  await hydrated(page);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: `Welcome, ${name}` })).toBeVisible();
  await hydrated(page);
}

/** As an admin on /admin: gives `email` a daily budget of $5 (the e2e default holds one call). */
export async function roomToSpend(page: Page, email: string, reason: string) {
  await page.goto('/admin');
  await hydrated(page);
  await page.getByLabel('User e-mail').fill(email);
  await page.getByLabel('Limit (USD)').fill('5');
  await page.getByLabel('Period').selectOption('daily');
  await page.getByLabel('Reason').fill(reason);
  await page.getByRole('button', { name: 'Save budget' }).click();
  await expect(page.locator('#budget-saved')).toContainText('daily budget $5.00');
}
