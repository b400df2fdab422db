import { test, expect } from '@playwright/test';
import { hydrated, register, signIn, uniqueEmail } from './helpers';

const adminEmail = 'admin@e2e.example.com';
const adminPassword = 'e2e admin password';

test('a tiny budget warns, then refuses naming the budget and its reset; an admin raises it and the user continues', async ({ browser }) => {
  const user = await (await browser.newContext()).newPage();
  const email = uniqueEmail('budget');
  await register(user, 'Bea Budget', email, 'budget password 123');
  await user.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Usage' }).click();
  await expect(user.getByRole('heading', { name: 'Usage & Budget', level: 1 })).toBeVisible();
  await hydrated(user);
  const card = user.locator('.budget[data-budget^="user:"]');
  await expect(card).toHaveAttribute('data-band', 'active');
  await expect(card).toContainText('$0.000200');

  // One call uses 82 % of the daily budget: the card turns to the warning band.
  await user.getByLabel('Prompt').fill('Hello');
  await user.getByRole('button', { name: 'Ask' }).click();
  await expect(user.locator('#answer')).toContainText('Mock answer to: Hello');
  await expect(card).toHaveAttribute('data-band', 'warning');
  await expect(user.locator('#calls-table tbody tr')).toHaveCount(1);

  // The next one could cross it: refused with the budget and its reset time.
  await user.getByRole('button', { name: 'Ask' }).click();
  const refusal = user.locator('#try-prompt [role="alert"]');
  await expect(refusal).toContainText('your daily budget of $0.000200');
  await expect(refusal).toContainText('It resets at');
  await expect(refusal).toContainText('Europe/Berlin');
  await expect(user.locator('#calls-table tbody tr')).toHaveCount(1);

  // An admin raises this user's budget, with a reason.
  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, adminEmail, adminPassword);
  await admin.goto('/admin');
  await hydrated(admin);
  await admin.getByLabel('User e-mail').fill(email);
  await admin.getByLabel('Limit (USD)').fill('1');
  await admin.getByLabel('Period').selectOption('daily');
  await admin.getByLabel('Reason').fill('demo day');
  await admin.getByRole('button', { name: 'Save budget' }).click();
  await expect(admin.locator('#budget-saved')).toContainText('daily budget $1.00');
  await expect(admin.locator('#audit-table')).toContainText('budget.set');

  // The user continues at once.
  await user.getByRole('button', { name: 'Ask' }).click();
  await expect(refusal).toHaveCount(0);
  await expect(user.locator('#answer')).toContainText('Mock answer to: Hello');
  await expect(card).toHaveAttribute('data-band', 'active');
  await expect(user.locator('#calls-table tbody tr')).toHaveCount(2);
});
