import { test, expect } from '@playwright/test';
import { hydrated, uniqueEmail } from './helpers';

test('register, keep the session over a reload, sign out, and come back through sign-in', async ({ page }) => {
  const email = uniqueEmail('ann');
  const password = 'correct horse battery';

  await page.goto('/register');
  await hydrated(page);
  await page.getByLabel('Name').fill('Ann Example');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();

  await expect(page.getByRole('heading', { name: 'Welcome, Ann Example' })).toBeVisible();
  await expect(page).toHaveURL(/\/$/);
  // The dashboard tells the truth: areas that work carry no "Not built yet" badge.
  const tile = (name: string) =>
    page.locator('a.tile', { has: page.getByRole('heading', { name, exact: true }) });
  for (const built of ['Search', 'Sources', 'Usage & Budget', 'Jobs', 'RFCs']) {
    await expect(tile(built)).toBeVisible();
    await expect(tile(built)).not.toContainText('Not built yet');
  }
  await expect(tile('Code Docs')).toContainText('Not built yet');
  // Live updates connect over the same-origin WebSocket (session cookie, CSP connect-src 'self').
  await expect(page.locator('#live-status')).toHaveAttribute('data-connected', 'true');

  // The session survives a full reload (server-rendered with the cookie).
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Welcome, Ann Example' })).toBeVisible();
  await hydrated(page);

  // Client-side navigation through the app shell.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Search' }).click();
  // The dashboard has a "Search" tile too: wait for the route, not just a heading.
  await expect(page).toHaveURL(/\/search$/);
  await expect(page.getByRole('heading', { name: 'Search', level: 1 })).toBeVisible();
  await expect(page.getByRole('searchbox', { name: 'Search' })).toBeVisible();

  // Sign out from the account menu: plain /signin, never "come back to /signin".
  await page.locator('#account-menu').click();
  await page.getByRole('menuitem', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/signin$/);

  // Signing in again there lands on the dashboard, not on the sign-in form.
  await hydrated(page);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL((url) => url.pathname === '/' && url.search === '');
  await expect(page.getByRole('heading', { name: 'Welcome, Ann Example' })).toBeVisible();

  // A signed-in user is not offered the forms again (moved on once the page is interactive).
  await page.goto('/register');
  await expect(page).toHaveURL((url) => url.pathname === '/' && url.search === '');
  await page.goto('/signin?next=%2Fsettings');
  await expect(page).toHaveURL(/\/settings$/);
  await hydrated(page);

  await page.locator('#account-menu').click();
  await page.getByRole('menuitem', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/signin$/);

  // A protected page sends the visitor to sign-in, and back after signing in.
  await page.goto('/settings');
  await expect(page).toHaveURL(/\/signin\?next=(%2F|\/)settings$/);
  await hydrated(page);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/settings$/);
  await expect(page.getByRole('heading', { name: 'Settings' })).toBeVisible();
});

test('wrong password shows a clear error and stays on sign-in', async ({ page }) => {
  await page.goto('/signin');
  await hydrated(page);
  await page.getByLabel('E-mail').fill(uniqueEmail('nobody'));
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('wrong e-mail or password');
  await expect(page).toHaveURL(/\/signin/);
});

test('registration names the broken field', async ({ page }) => {
  await page.goto('/register');
  await hydrated(page);
  await page.getByLabel('Name').fill('Bob');
  const email = uniqueEmail('bob');
  await page.getByLabel('E-mail').fill(email);
  // Passes the browser's minlength but equals the e-mail's local part.
  await page.getByLabel('Password').fill(email.split('@')[0]);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.locator('[data-field="password"]')).toContainText('must not be your e-mail');
});

test('the theme toggle works after hydration and survives a reload', async ({ page }) => {
  const email = uniqueEmail('theme');
  await page.goto('/register');
  await hydrated(page);
  await page.getByLabel('Name').fill('Theo');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill('another long password');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Welcome, Theo' })).toBeVisible();
  await hydrated(page);

  const toggle = page.locator('#theme-toggle');
  await toggle.click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  await toggle.click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  await page.reload();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
});

test('unknown pages get a real 404', async ({ page }) => {
  const response = await page.goto('/no-such-page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
});
