import { test, expect } from '@playwright/test';
import { hydrated, roomToSpend, signIn } from './helpers';

const adminEmail = 'admin@e2e.example.com';
const adminPassword = 'e2e admin password';

test('an admin streams a prompt with its cost, switches the routing strategy and sees the spend', async ({ page }) => {
  await signIn(page, adminEmail, adminPassword);
  // Room for a few calls whatever else ran today (the default budget holds one).
  await roomToSpend(page, adminEmail, 'gateway e2e');

  await page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'AI gateway' }).click();
  await expect(page.locator('#llm-console')).toBeVisible();
  await hydrated(page);

  // The answer arrives over Server-Sent Events, then what it cost.
  await page.locator('#console-prompt').fill('Stream me');
  await page.locator('#console-send').click();
  await expect(page.locator('#console-output')).toContainText('Mock answer to: Stream me');
  await expect(page.locator('#console-cost')).toContainText('Cost: $0.000164 · 14 in / 270 out');

  // The configured provider is listed, its key never shown.
  await expect(page.locator('#providers-table tr[data-provider="mock"]')).toContainText('config');
  await expect(page.locator('#llm-providers')).not.toContainText('sk-e2e-not-a-secret');

  // Switching the strategy takes effect at once.
  await page.locator('#routing-strategy').selectOption('cost');
  await expect(page.locator('.strategy-help')).toContainText('cheapest model');
  await page.getByRole('button', { name: 'Save routing' }).click();
  await expect(page.locator('#routing-saved')).toContainText('strategy cost');

  // A bad route names the field.
  await page.locator('#routing-routes').fill('console = nowhere:gpt-4o');
  await page.getByRole('button', { name: 'Save routing' }).click();
  await expect(page.locator('#llm-routing [data-field="routes.console"]')).toContainText("no provider is called 'nowhere'");

  // After a reload, this period's spend and the team's usage include the streamed call.
  await page.reload();
  await hydrated(page);
  await expect(page.locator('#team-usage #spend-chart')).toBeVisible();
  await expect(page.locator('#team-by-model')).toContainText('gpt-4o-mini');
  await page.locator('#spend-q').fill(adminEmail);
  await page.locator('#spend-q').press('Enter');
  await expect(page.locator(`#spend-table tr[data-user-email="${adminEmail}"]`)).toContainText('$5.00 daily');
});
