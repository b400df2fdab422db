import { test, expect } from '@playwright/test';
import { hydrated, register, uniqueEmail } from './helpers';

test('a browser preferring Russian registers in Russian; the choice of English follows the account', async ({ browser }) => {
  const email = uniqueEmail('vera');
  const password = 'vera password 123';
  const ru = await browser.newContext({ locale: 'ru-RU' });
  const page = await ru.newPage();

  await page.goto('/register');
  await expect(page.locator('html')).toHaveAttribute('lang', 'ru');
  await expect(page.getByRole('heading', { name: 'Создайте учётную запись' })).toBeVisible();
  await hydrated(page);
  await page.getByLabel('Имя').fill('Вера');
  await page.getByLabel('Эл. почта').fill(email);
  await page.getByLabel('Пароль').fill(password);
  await page.getByRole('button', { name: 'Создать учётную запись' }).click();
  await expect(page.getByRole('heading', { name: 'Здравствуйте, Вера' })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Главное меню' }).getByRole('link', { name: 'Поиск' })).toBeVisible();
  await expect(page.locator('#first-steps')).toContainText('Первые шаги');

  // The switch in the top bar: English at once, kept over a reload and on the account.
  const saved = page.waitForResponse((r) => r.url().endsWith('/api/set_language') && r.ok());
  await page.locator('#lang-switch').click();
  await saved;
  await expect(page.getByRole('heading', { name: 'Welcome, Вера' })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Welcome, Вера' })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await hydrated(page);

  // Another browser, also preferring Russian, shows Russian until the account signs in there.
  const other = await browser.newContext({ locale: 'ru-RU' });
  const second = await other.newPage();
  await second.goto('/signin');
  await expect(second.getByRole('heading', { name: 'Вход в Blueprint' })).toBeVisible();
  await hydrated(second);
  await second.getByLabel('Эл. почта').fill(email);
  await second.getByLabel('Пароль').fill(password);
  await second.getByRole('button', { name: 'Войти' }).click();
  await expect(second.getByRole('heading', { name: 'Welcome, Вера' })).toBeVisible();
  await expect(second.locator('html')).toHaveAttribute('lang', 'en');
  await ru.close();
  await other.close();
});

test('the first steps show a new member what to do and leave as each is done', async ({ page }) => {
  await register(page, 'Nia New', uniqueEmail('steps'), 'steps password 123');
  const steps = page.locator('#first-steps');
  await expect(steps).toBeVisible();
  // A member can upload their own files; the e2e server has a model provider, so no model step.
  await expect(steps.locator('#step-source')).toContainText('Upload your own files');
  await expect(steps.locator('#step-search')).toBeVisible();
  await expect(steps.locator('#step-model')).toHaveCount(0);
  await expect(page.locator('#dash-searches')).toContainText('You have not searched yet.');

  await steps.locator('#step-search').getByRole('link', { name: 'Go' }).click();
  await expect(page).toHaveURL(/\/search$/);
  await hydrated(page);
  await page.getByRole('searchbox', { name: 'Search' }).fill('onboarding question');
  await expect(page.locator('#search-summary, #no-results').first()).toBeVisible();

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
  await expect(page.locator('#step-source')).toBeVisible();
  await expect(page.locator('#step-search')).toHaveCount(0);
  await expect(page.locator('#dash-searches')).toContainText('onboarding question');
});

test('keyboard: a skip link, focus on the new page, and a menu with arrows and Escape', async ({ page }) => {
  await register(page, 'Kai Keys', uniqueEmail('keys'), 'keys password 123');
  await page.reload();
  await hydrated(page);
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  await expect(skip).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('#main')).toBeFocused();

  // After a client-side navigation focus is on the new page's heading, not on <body>.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toBeFocused();

  const button = page.locator('#account-menu');
  await button.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('menuitem', { name: 'Settings' })).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await expect(page.getByRole('menuitem', { name: 'Sign out' })).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await expect(page.getByRole('menuitem', { name: 'Settings' })).toBeFocused();
  await page.keyboard.press('End');
  await expect(page.getByRole('menuitem', { name: 'Sign out' })).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(page.getByRole('menu')).toHaveCount(0);
  await expect(button).toBeFocused();
  await expect(button).toHaveAttribute('aria-expanded', 'false');
});

test.describe('on a phone', () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test('the navigation folds behind a Menu button and folds again after a choice', async ({ page }) => {
    await register(page, 'Pia Phone', uniqueEmail('phone'), 'phone password 123');
    const nav = page.getByRole('navigation', { name: 'Main' });
    const toggle = page.locator('#nav-toggle');
    await expect(nav).toBeHidden();
    await expect(toggle).toHaveAttribute('aria-expanded', 'false');
    // The top bar stays one or two rows, not four.
    const bar = await page.locator('.topbar').boundingBox();
    expect(bar!.height).toBeLessThan(110);

    await toggle.click();
    await expect(nav).toBeVisible();
    await expect(toggle).toHaveAttribute('aria-expanded', 'true');
    await nav.getByRole('link', { name: 'Usage & Budget' }).click();
    await expect(page).toHaveURL(/\/usage$/);
    await expect(nav).toBeHidden();
    // Nothing is wider than the screen.
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390);
  });
});

test('before the page script runs: search still works, other forms are disabled and say why', async ({ browser }) => {
  const ctx = await browser.newContext();
  await register(await ctx.newPage(), 'Noa Script', uniqueEmail('nojs'), 'nojs password 123');
  // A page whose WASM never arrives never hydrates: what a slow link shows for a while.
  const page = await ctx.newPage();
  await page.route('**/*.wasm', (route) => route.abort());
  await page.goto('/settings');
  const gate = page.locator('fieldset.form-gate').first();
  await expect(gate.getByRole('status')).toHaveText('This form works once the page has loaded its script.');
  await expect(gate.getByRole('button', { name: 'Create token' })).toBeDisabled();
  await expect(gate.getByLabel('Name')).toBeDisabled();
  // The search box is a plain GET form: a query runs as a page load.
  await page.goto('/search');
  await page.locator('#search-input').fill('anything at all');
  await page.locator('#search-input').press('Enter');
  await expect(page).toHaveURL(/\/search\?q=anything(\+|%20)at(\+|%20)all$/);
  await expect(page.getByRole('heading', { name: 'Search', level: 1 })).toBeVisible();
  await ctx.close();
});

test('switching the language while a new token is on screen asks first, and staying keeps it', async ({ page }) => {
  await register(page, 'Tom Token', uniqueEmail('token'), 'token password 123');
  await page.goto('/settings');
  await hydrated(page);
  await page.locator('#token-name').fill('ci-bot');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = page.locator('#new-token');
  await expect(secret).toBeVisible();
  const token = await secret.textContent();

  // Declined: no reload, the secret and the English page stay.
  // The dialog is answered first and checked after, so a wrong one fails instead of hanging.
  let asked = '';
  page.once('dialog', (d) => {
    asked = `${d.type()}: ${d.message()}`;
    void d.dismiss();
  });
  await page.locator('#lang-switch').click();
  await expect(secret).toHaveText(token!);
  expect(asked).toMatch(/^confirm: .*will not be shown again/);
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  // The settings list asks too, and shows English again when the reader stays.
  page.once('dialog', (d) => void d.dismiss());
  await page.locator('#language').selectOption('ru');
  await expect(page.locator('#language')).toHaveValue('en');
  await expect(secret).toHaveText(token!);

  // Accepted: the page comes back in Russian.
  page.once('dialog', (d) => void d.accept());
  await page.locator('#lang-switch').click();
  await expect(page.getByRole('heading', { name: 'Настройки', level: 1 })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'ru');
});
