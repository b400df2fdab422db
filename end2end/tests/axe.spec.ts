import { test, expect, Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { hydrated, signIn } from './helpers';

const adminEmail = 'admin@e2e.example.com';
const adminPassword = 'e2e admin password';

const visitorPages = ['/signin', '/register', '/no-such-page'];
const memberPages = [
  '/', '/search', '/sources', '/rfcs', '/code-docs', '/usage', '/jobs', '/settings', '/notifications',
  '/admin', '/admin/jobs', '/admin/llm', '/admin/search', '/admin/templates',
];

/** Serious and critical WCAG 2 A/AA violations on the page as it is now, one line each. */
async function violations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(' ')} — ${n.failureSummary?.split('\n').slice(1).join(' ')}`));
}

async function setLook(page: Page, lang: string, theme: string) {
  const url = page.url().startsWith('http') ? page.url() : 'http://127.0.0.1';
  await page.context().addCookies([
    { name: 'bp_lang', value: lang, url: new URL(url).origin },
    { name: 'bp_theme', value: theme, url: new URL(url).origin },
  ]);
}

for (const lang of ['en', 'ru']) {
  for (const theme of ['light', 'dark']) {
    test(`axe finds no serious violation on any page (${lang}, ${theme})`, async ({ page }) => {
      test.setTimeout(120_000);
      const found: string[] = [];
      await page.goto('/signin');
      await setLook(page, lang, theme);
      for (const path of visitorPages) {
        await page.goto(path);
        await hydrated(page);
        found.push(...(await violations(page)).map((v) => `${path}: ${v}`));
      }
      // Signed in as the admin, so the admin pages are real pages, not refusals.
      await setLook(page, 'en', theme);
      await signIn(page, adminEmail, adminPassword);
      await setLook(page, lang, theme);
      for (const path of memberPages) {
        await page.goto(path);
        await hydrated(page);
        await expect(page.locator('html')).toHaveAttribute('lang', lang);
        await expect(page.locator('.loading')).toHaveCount(0);
        found.push(...(await violations(page)).map((v) => `${path}: ${v}`));
      }
      expect(found, found.join('\n')).toEqual([]);
    });
  }
}
