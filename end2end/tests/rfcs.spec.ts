import { test, expect } from '@playwright/test';
import { hydrated, roomToSpend, signIn } from './helpers';

const adminEmail = 'admin@e2e.example.com';
const adminPassword = 'e2e admin password';

const RUNBOOK = [
  '# Upload service runbook',
  '',
  'The upload service retries a failed chunk upload three times with exponential backoff.',
  'After the third failure the upload is parked in the dead-letter queue.',
].join('\n');
const COSTS = [
  '# Object store costs',
  '',
  'Unfinished uploads cost 1,200 USD last month in the object store, growing ten percent a month.',
].join('\n');

test('an RFC goes from an idea through questions and sources to a streamed, cited, edited draft', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page, adminEmail, adminPassword);
  // Room for the draft's calls whatever else ran today (the e2e budget holds one call).
  await roomToSpend(page, adminEmail, 'rfc e2e');

  // Two notes to ground the RFC on.
  await page.goto('/sources');
  await hydrated(page);
  await page.locator('#source-name').fill('Upload notes');
  await page.getByRole('button', { name: 'Add source' }).click();
  const card = page.locator('.source', { hasText: 'Upload notes' });
  await expect(card).toBeVisible();
  for (const [name, text] of [['upload-runbook.md', RUNBOOK], ['object-store-costs.md', COSTS]]) {
    await card.locator('input[type="file"]').setInputFiles({
      name, mimeType: 'text/markdown', buffer: Buffer.from(text),
    });
    await card.getByRole('button', { name: 'Upload', exact: true }).click();
    await expect(card.locator('.upload-result')).toContainText(`Uploaded ${name}`);
  }
  await expect(page.locator('.source', { hasText: 'Upload notes' })).toContainText('2 documents', { timeout: 30_000 });

  // The wizard.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'RFCs' }).click();
  await hydrated(page);
  await page.locator('#new-rfc').click();
  await hydrated(page);
  await page.getByLabel('Title').fill('Retries for failed uploads');
  await page.getByLabel('Description').fill('Uploads over flaky networks fail and users start again from zero; retry them with backoff.');
  await page.getByRole('button', { name: 'Start the RFC' }).click();
  await expect(page).toHaveURL(/\/rfcs\/\d+$/);
  await hydrated(page);
  const rfcUrl = page.url();

  // The model's questions: answer one, skip one, answer one.
  const questions = page.locator('#rfc-questions .rfc-question');
  await expect(questions).toHaveCount(3);
  await questions.nth(0).locator('select').selectOption('Web');
  await questions.nth(0).getByRole('button', { name: 'Save' }).click();
  await expect(questions.nth(0)).toContainText('answered');
  await questions.nth(1).getByRole('button', { name: 'Skip' }).click();
  await expect(questions.nth(1)).toContainText('skipped');
  await questions.nth(2).locator('textarea').fill('The platform team owns it.');
  await questions.nth(2).getByRole('button', { name: 'Save' }).click();
  await expect(questions.nth(2)).toContainText('answered');

  // Sources: find them, take the first one out.
  await page.locator('#rfc-ground').click();
  const sources = page.locator('#rfc-sources .rfc-source-list li');
  await expect(sources).toHaveCount(2, { timeout: 20_000 });
  await sources.first().getByRole('button', { name: 'Remove' }).click();
  await expect(sources.first()).toHaveClass(/removed/);
  const removedLabel = await sources.first().getAttribute('data-label');
  // Searching for more finds the notes again, marked as already among the sources.
  await page.locator('#rfc-source-search input').fill('dead-letter queue');
  await page.locator('#rfc-source-search button').click();
  await expect(page.locator('.rfc-hits li').first()).toContainText('added');

  // The draft streams in section by section, live.
  await page.locator('#rfc-draft').click();
  await expect(page.locator('.rfc-live').first()).toBeVisible({ timeout: 20_000 });
  await expect(page.locator('#rfc-status')).toHaveText('draft', { timeout: 60_000 });
  const sections = page.locator('.rfc-section');
  await expect(sections).toHaveCount(9);
  await expect(page.locator('#rfc-sections')).not.toContainText('[S99]');
  await expect(page.locator('#rfc-sections')).not.toContainText(`[S${removedLabel}]`);
  await expect(page.locator('#rfc-sections')).toContainText('parks it afterwards');

  // The completeness check names weak sections; rewrite one with an instruction.
  const finding = page.locator('#rfc-findings li').first();
  await expect(finding).toBeVisible();
  const key = await finding.getAttribute('data-finding');
  const weak = page.locator(`.rfc-section[data-key="${key}"]`);
  await weak.getByRole('textbox', { name: 'Instruction' }).fill('add a rollback plan');
  await weak.getByRole('button', { name: 'Rewrite' }).click();
  await expect(weak.locator('.rfc-proposal')).toContainText('Rewritten as asked (add a rollback plan)', { timeout: 20_000 });
  await weak.getByRole('button', { name: 'Accept' }).click();
  await expect(weak.locator('.rfc-proposal')).toHaveCount(0);
  await expect(weak.locator('.md').first()).toContainText('Rewritten as asked (add a rollback plan)');

  // The model's review sits beside the score.
  await page.locator('#rfc-review-run').click();
  await expect(page.locator('#rfc-review li')).toHaveCount(3, { timeout: 20_000 });
  await expect(page.locator('#rfc-review li[data-aspect="risks"]')).toContainText('2/5');
  await expect(page.locator('#rfc-review-stale')).toHaveCount(0);

  // Add a section, move it up, remove it.
  await page.locator('#rfc-add-section input').fill('Rollout plan');
  await page.locator('#rfc-add-section button').click();
  await expect(sections).toHaveCount(10);
  await expect(sections.last().locator('h2')).toHaveText('Rollout plan');
  await sections.last().getByRole('button', { name: 'Move up' }).click();
  await expect(sections.nth(8).locator('h2')).toHaveText('Rollout plan');
  page.once('dialog', (d) => d.accept());
  await sections.nth(8).locator('.rfc-remove-section').click();
  await expect(sections).toHaveCount(9);

  // Edit another section in Markdown, with a preview rendered (and sanitized) by the server.
  const other = page.locator(`.rfc-section:not([data-key="${key}"])`).last();
  const otherId = await other.getAttribute('data-section');
  const edited = page.locator(`.rfc-section[data-section="${otherId}"]`);
  await edited.getByRole('button', { name: 'Edit' }).click();
  await edited.getByRole('textbox', { name: 'Edit' }).fill('**Rollout** behind a flag.<script>window.pwned = 1</script>');
  await edited.getByRole('button', { name: 'Preview' }).click();
  await expect(edited.locator('.rfc-preview-body strong')).toHaveText('Rollout');
  await edited.getByRole('button', { name: 'Save' }).click();
  await expect(edited.locator('.md strong')).toHaveText('Rollout');
  expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  await expect(page.locator('#rfc-review-stale')).toBeVisible();

  // Reloaded, everything is saved.
  await page.goto(rfcUrl);
  await hydrated(page);
  await expect(page.locator('#rfc-status')).toHaveText('draft');
  await expect(page.locator(`.rfc-section[data-key="${key}"] .md`).first()).toContainText('Rewritten as asked');
  await expect(page.locator(`.rfc-section[data-section="${otherId}"] .md strong`)).toHaveText('Rollout');
  await expect(page.locator('#rfc-sources .rfc-source-list li').first()).toHaveClass(/removed/);
  await expect(page.locator('#rfc-review li')).toHaveCount(3);
  await expect(page.locator('#rfc-cost')).not.toHaveText('$0.00');
});
