import { defineConfig } from '@playwright/test';

// Runs against the release build with a fresh SQLite database, in Debian's Chromium.
const port = Number(process.env.E2E_PORT ?? 3100);
const bin = process.env.E2E_SERVER_BIN ?? '../target/release/blueprint';
export const adminEmail = 'admin@e2e.example.com';
export const adminPassword = 'e2e admin password';

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: process.env.CI ? 1 : 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
  },
  webServer: [{
    // A local OpenAI-compatible model server (see e2e.toml).
    command: 'exec node mock-llm.mjs',
    url: 'http://127.0.0.1:3199/health',
    reuseExistingServer: false,
    timeout: 20_000,
    env: { MOCK_LLM_PORT: '3199' },
  }, {
    // A local Confluence Cloud REST server (the knowledge spec syncs it).
    command: 'exec node mock-confluence.mjs',
    url: 'http://127.0.0.1:3198/health',
    reuseExistingServer: false,
    timeout: 20_000,
    env: { MOCK_CONFLUENCE_PORT: '3198' },
  }, {
    // A fresh database with a scripted admin (the `create-admin` command), then the server.
    command: `rm -rf .data && mkdir -p .data && ${bin} create-admin --email ${adminEmail} --name 'E2E Admin' && exec ${bin}`,
    url: `http://127.0.0.1:${port}/health/ready`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    env: {
      DATABASE_URL: 'sqlite://.data/e2e.db',
      BLUEPRINT_SERVER__ADDR: `127.0.0.1:${port}`,
      BLUEPRINT_SERVER__SITE_ROOT: process.env.E2E_SITE_ROOT ?? '../target/site',
      REDIS_URL: '',
      BLUEPRINT_ADMIN_PASSWORD: adminPassword,
      BLUEPRINT_CONFIG: 'e2e.toml',
    },
  }],
});
