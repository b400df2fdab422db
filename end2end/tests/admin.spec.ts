import { test, expect, Page } from '@playwright/test';
import { hydrated, uniqueEmail } from './helpers';

const adminEmail = 'admin@e2e.example.com';
const adminPassword = 'e2e admin password';

async function signIn(page: Page, email: string, password: string) {
  await page.goto('/signin');
  await hydrated(page);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#dashboard-title')).toBeVisible();
  await hydrated(page);
}

test('an admin changes a scope and deactivates a user; both are audited and apply at once', async ({ browser }) => {
  const memberPage = await (await browser.newContext()).newPage();
  const memberEmail = uniqueEmail('member');
  await memberPage.goto('/register');
  await hydrated(memberPage);
  await memberPage.getByLabel('Name').fill('Mia Member');
  await memberPage.getByLabel('E-mail').fill(memberEmail);
  await memberPage.getByLabel('Password').fill('member password 123');
  await memberPage.getByRole('button', { name: 'Create account' }).click();
  await expect(memberPage.getByRole('heading', { name: 'Welcome, Mia Member' })).toBeVisible();
  // Members get no Admin link, and the admin page refuses them.
  await expect(memberPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' })).toHaveCount(0);

  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, adminEmail, adminPassword);
  await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
  await expect(admin.getByRole('heading', { name: 'Admin' })).toBeVisible();

  await admin.getByRole('searchbox', { name: 'Search users' }).fill(memberEmail);
  const row = admin.locator(`tr[data-user-email="${memberEmail}"]`);
  await expect(row).toBeVisible();
  await expect(admin.locator('#users-table tbody tr')).toHaveCount(1);

  const generate = row.locator('input[data-scope="generate"]');
  await expect(generate).toBeChecked();
  await generate.uncheck();
  await expect(row.locator('input[data-scope="generate"]')).not.toBeChecked();
  await expect(admin.locator('#audit-table')).toContainText('user.scopes_changed');

  await row.getByRole('button', { name: 'Deactivate' }).click();
  await expect(row).toContainText('deactivated');
  await expect(admin.locator('#audit-table')).toContainText('user.deactivated');

  // The member's session ends with their next request.
  await memberPage.reload();
  await expect(memberPage).toHaveURL(/\/signin/);
});
