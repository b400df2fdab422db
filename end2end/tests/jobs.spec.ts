import { test, expect } from '@playwright/test';
import { hydrated, uniqueEmail } from './helpers';

test('a demo job shows live progress to done without a reload, and another is cancelled', async ({ page }) => {
  await page.goto('/register');
  await hydrated(page);
  await page.getByLabel('Name').fill('Jo Jobs');
  await page.getByLabel('E-mail').fill(uniqueEmail('jobs'));
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Welcome, Jo Jobs' })).toBeVisible();

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await expect(page.getByRole('heading', { name: 'Jobs', exact: true, level: 1 })).toBeVisible();
  await expect(page.locator('#live-status')).toHaveAttribute('data-connected', 'true');

  // 8 steps of 0.3 s: the bar moves through intermediate values, then the job is done.
  await page.getByLabel('Steps', { exact: true }).fill('8');
  await page.getByRole('button', { name: 'Start' }).click();
  const row = page.locator('#jobs-table tbody tr').first();
  const bar = row.getByRole('progressbar');
  await expect.poll(async () => Number(await bar.getAttribute('value')), { timeout: 10_000 })
    .toBeGreaterThan(0);
  const midway = Number(await bar.getAttribute('value'));
  expect(midway).toBeLessThan(100);
  await expect(row.locator('.job-state')).toHaveText('succeeded', { timeout: 15_000 });
  await expect(bar).toHaveAttribute('value', '100');
  // The last step the job reported is what a finished job says, live and after a reload.
  await expect(row).toContainText('step 8 of 8');
  await page.reload();
  await hydrated(page);
  await expect(page.locator('#jobs-table tbody tr').first()).toContainText('step 8 of 8');

  // A long job is cancelled while it runs.
  await page.getByLabel('Steps', { exact: true }).fill('1000');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('#jobs-table tbody tr')).toHaveCount(2);
  const longRow = page.locator('#jobs-table tbody tr').first();
  await expect(longRow.locator('.job-state')).toHaveText('running', { timeout: 10_000 });
  await longRow.getByRole('button', { name: 'Cancel' }).click();
  await expect(longRow.locator('.job-state')).toHaveText('cancelled', { timeout: 10_000 });
  await expect(longRow.getByRole('button', { name: 'Retry' })).toBeVisible();
});
