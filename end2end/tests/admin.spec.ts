import { test, expect } from '@playwright/test';
import { hydrated, signIn, uniqueEmail } from './helpers';

const adminEmail = 'admin@e2e.example.com';
const adminPassword = 'e2e admin password';

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

test('an admin watches the job queue and cancels and retries any job from it', async ({ page }) => {
  await signIn(page, adminEmail, adminPassword);
  // A long-running job of the admin's own, started from the Jobs page.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await expect(page.getByRole('heading', { name: 'Jobs', exact: true, level: 1 })).toBeVisible();
  await hydrated(page);
  await page.getByLabel('Steps', { exact: true }).fill('1000');
  await page.getByRole('button', { name: 'Start' }).click();
  const mine = page.locator('#jobs-table tbody tr').first();
  await expect(mine.locator('.job-state')).toHaveText('running', { timeout: 10_000 });
  const id = await mine.getAttribute('data-job-id');

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
  await page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'Job queue' }).click();
  await hydrated(page);
  // The overview counts the running demo job.
  const demo = page.locator('#queue-table tr[data-kind="demo.count"]');
  await expect(demo).toBeVisible();
  await expect.poll(async () => Number(await demo.locator('[data-col="running"]').textContent()))
    .toBeGreaterThan(0);

  // Dead letters are shown first; switch to running jobs of this kind and cancel ours.
  await page.getByLabel('State').selectOption('running');
  await demo.getByRole('button', { name: 'demo.count' }).click();
  const row = page.locator(`#admin-jobs-table tr[data-job-id="${id}"]`);
  await expect(row).toBeVisible();
  await row.getByRole('button', { name: 'Cancel' }).click();
  await page.getByLabel('State').selectOption('cancelled');
  await expect(row.locator('.job-state')).toHaveText('cancelled', { timeout: 10_000 });
  await row.getByRole('button', { name: 'Retry' }).click();
  await page.getByLabel('State').selectOption({ label: 'all' });
  await expect(row.locator('.job-state')).toHaveText(/queued|running/, { timeout: 10_000 });
  // Leave nothing running behind.
  await row.getByRole('button', { name: 'Cancel' }).click();
  await expect(row.locator('.job-state')).toHaveText('cancelled', { timeout: 10_000 });
});

test('an admin copies a template, fixes a refused edit, offers the copy in the wizard; each step is audited', async ({ page }) => {
  await signIn(page, adminEmail, adminPassword);
  await page.goto('/admin/templates');
  await hydrated(page);
  await expect(page.locator('tr[data-template="adr"]')).toBeVisible({ timeout: 15_000 });
  const key = `adr-e2e-${Date.now() % 1_000_000}`;
  await page.locator('tr[data-template="adr"] .template-copy').click();
  await page.locator('#template-key').fill(key);
  await page.locator('#template-copy-submit').click();

  // The copy opens in the editor as TOML; it waits switched off.
  const editor = page.locator('#template-toml');
  await expect(editor).toHaveValue(/\[\[sections\]\]/);
  const row = page.locator(`tr[data-template="${key}"]`);
  await expect(row.locator('.template-enabled')).not.toBeChecked();
  const toml = await editor.inputValue();
  // A broken edit is refused, the field named; a good one is saved.
  await editor.fill(toml.replace(/^name_en = ".*"$/m, 'name_en = ""'));
  await page.locator('#template-save').click();
  await expect(page.locator('#template-editor .field-error[data-field="name_en"]')).toBeVisible();
  await editor.fill(toml.replace(/^name_en = ".*"$/m, 'name_en = "Team ADR"'));
  await page.locator('#template-save').click();
  await expect(page.locator('#template-saved')).toBeVisible();
  await expect(row).toContainText('Team ADR');

  // Switched on, the wizard offers it.
  await row.locator('.template-enabled').check();
  await expect(row.locator('.template-enabled')).toBeChecked();
  await page.goto('/rfcs/new');
  await hydrated(page);
  await expect(page.locator('#rfc-template option', { hasText: 'Team ADR' })).toHaveCount(1);

  await page.goto('/admin');
  await hydrated(page);
  for (const action of ['rfc_template.copy', 'rfc_template.edit', 'rfc_template.enable']) {
    await expect(page.locator('#audit-table')).toContainText(action);
  }
});
