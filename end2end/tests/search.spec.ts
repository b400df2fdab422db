import { test, expect } from '@playwright/test';
import { hydrated, register, signIn, uniqueEmail } from './helpers';

const adminEmail = 'admin@e2e.example.com';
const adminPassword = 'e2e admin password';

test('a user uploads a file, watches it sync, finds a phrase from it and opens the result', async ({ page }) => {
  await register(page, 'Sam Search', uniqueEmail('search'), 'search password 123');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sources' }).click();
  await expect(page.getByRole('heading', { name: 'Knowledge sources' })).toBeVisible();
  await hydrated(page);

  await page.locator('#source-name').fill('My notes');
  await page.getByRole('button', { name: 'Add source' }).click();
  const card = page.locator('.source', { hasText: 'My notes' });
  await expect(card).toBeVisible();
  await expect(card).toHaveAttribute('data-status', 'never synced');

  const notes = [
    '# Incident review: cache stampede',
    '',
    'On Tuesday the pricing service fell over when the **flamingo cache** expired for every key at once.',
    'We now add jitter to every time-to-live and warm the cache before deploys.',
    '',
    '## Follow-ups',
    '',
    '- Alert on the cache hit ratio dropping under 80 %.',
  ].join('\n');
  await card.locator('input[type="file"]').setInputFiles({
    name: 'incident-review.md', mimeType: 'text/markdown', buffer: Buffer.from(notes),
  });
  await card.getByRole('button', { name: 'Upload', exact: true }).click();
  await expect(card.locator('.upload-result')).toContainText('Uploaded incident-review.md');
  // The sync runs as a background job; its end arrives live and the card reloads.
  await expect(page.locator('.source', { hasText: 'My notes' })).toHaveAttribute('data-status', 'succeeded', { timeout: 20_000 });
  await expect(page.locator('.source', { hasText: 'My notes' })).toContainText('1 document ·');
  await page.locator('.source', { hasText: 'My notes' }).getByRole('button', { name: 'History' }).click();
  await expect(page.locator('.source', { hasText: 'My notes' }).locator('tr[data-run-status="succeeded"]').first()).toContainText('1 added');

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Search' }).click();
  await hydrated(page);
  await page.getByRole('searchbox', { name: 'Search' }).fill('flamingo cache expired');
  const hit = page.locator('#search-results .hit').first();
  await expect(hit.locator('.hit-title')).toHaveText('Incident review: cache stampede');
  await expect(hit.locator('.snippet mark').first()).toBeVisible();
  await expect(page.locator('#search-summary')).toContainText(/\d+ results?/);

  // The result links to the original file, which downloads with its bytes.
  const href = await hit.locator('.hit-title').getAttribute('href');
  expect(href).toMatch(/^\/api\/v1\/sources\/\d+\/files\/\d+$/);
  const download = await page.request.get(href!);
  expect(download.status()).toBe(200);
  expect(await download.text()).toContain('flamingo cache');

  // By words only, a misspelt query finds nothing and gets a suggestion that does.
  await page.locator('#search-mode').selectOption('keyword');
  await page.getByRole('searchbox', { name: 'Search' }).fill('flamingoo');
  await expect(page.locator('#no-results')).toBeVisible();
  await page.locator('#no-results .suggestion').first().click();
  await expect(page.locator('#search-results .hit').first().locator('.hit-title')).toHaveText('Incident review: cache stampede');
});

test('an admin adds a Confluence source, tests it, syncs it and finds a page', async ({ page }) => {
  await signIn(page, adminEmail, adminPassword);
  await page.goto('/sources');
  await hydrated(page);
  await page.locator('#source-name').fill('Engineering wiki');
  await page.locator('#source-kind').selectOption('confluence');
  await page.locator('#source-visibility').selectOption('everyone');
  await page.locator('#source-base-url').fill('http://127.0.0.1:3198/wiki');
  await page.locator('#source-email').fill('bot@e2e.example.com');
  await page.locator('#source-keys').fill('ENG');
  await page.locator('#source-secret').fill('confluence-token');
  await page.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.locator('#test-result')).toContainText('ENG');
  await page.getByRole('button', { name: 'Add source' }).click();
  const card = page.locator('.source', { hasText: 'Engineering wiki' });
  await expect(card).toHaveAttribute('data-status', 'succeeded', { timeout: 20_000 });
  await expect(card).toContainText('3 documents');

  // Any user sees a team-wide source's pages, in English and in Russian.
  const other = await (await page.context().browser()!.newContext()).newPage();
  await register(other, 'Olga Other', uniqueEmail('other'), 'other password 123');
  await other.goto('/search?q=reconciler%20worker');
  await hydrated(other);
  const hit = other.locator('#search-results .hit').first();
  await expect(hit.locator('.hit-title')).toHaveText('Payments service runbook');
  await expect(hit.locator('.hit-title')).toHaveAttribute('href', 'http://127.0.0.1:3198/wiki/spaces/ENG/pages/101');
  await expect(hit).toContainText('Engineering wiki');
  await other.getByRole('searchbox', { name: 'Search' }).fill('резервные копии');
  await expect(other.locator('#search-results .hit').first().locator('.hit-title')).toHaveText('Архитектура хранилища');

  // The language facet counts the results and narrows them.
  await other.getByRole('searchbox', { name: 'Search' }).fill('runbook');
  await expect(other.locator('#search-results .hit').first()).toBeVisible();
  const english = other.locator('input[data-facet="Language"][data-value="en"]');
  await expect(english).toBeVisible();
  await english.check();
  await expect(other.locator('#search-results .hit').first().locator('.hit-title')).toHaveText('Payments service runbook');
  await expect(other.locator('#search-results')).not.toContainText('Архитектура хранилища');

  // The admin sees the searches in the analytics.
  await page.goto('/admin/search');
  await hydrated(page);
  await expect(page.locator('#stat-queries')).not.toHaveText('0');
  await expect(page.locator('#freshness')).toContainText('Engineering wiki');
  await expect(page.locator('#embedder')).toContainText('bp-static-en-ru-256');
});
