// A local Confluence Cloud REST server for the end-to-end run: the real v1 shapes
// (`/wiki/rest/api/space`, `/wiki/rest/api/content/search` with CQL, `_links.next` paging,
// storage-format bodies), Basic auth checked, two result pages.
import http from 'node:http';

const port = Number(process.env.MOCK_CONFLUENCE_PORT ?? 3198);
const expectedAuth = 'Basic ' + Buffer.from('bot@e2e.example.com:confluence-token').toString('base64');
const base = `http://127.0.0.1:${port}/wiki`;

const pages = [
  {
    id: '101', title: 'Payments service runbook',
    body: '<h1>Payments runbook</h1><p>When the ledger reconciliation job stalls, restart the <strong>reconciler</strong> worker and check the settlement queue depth.</p><ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter><ac:plain-text-body><![CDATA[kubectl rollout restart deploy/reconciler]]></ac:plain-text-body></ac:structured-macro>',
  },
  {
    id: '102', title: 'Onboarding checklist',
    body: '<h1>Welcome</h1><p>Request VPN access, install the toolchain and join the on-call rotation after two weeks.</p>',
  },
  {
    id: '103', title: 'Архитектура хранилища',
    body: '<h1>Хранилище</h1><p>Резервные копии базы данных снимаются каждую ночь и хранятся тридцать дней.</p>',
  },
];

function result(p) {
  return {
    id: p.id, type: 'page', status: 'current', title: p.title,
    space: { key: 'ENG', name: 'Engineering' },
    version: { number: 3, when: '2026-11-20T10:15:30.000Z', by: { displayName: 'Dana Docs' } },
    metadata: { labels: { results: [{ prefix: 'global', name: 'runbook' }] } },
    body: { storage: { value: p.body, representation: 'storage' } },
    _links: { webui: `/spaces/ENG/pages/${p.id}`, self: `${base}/rest/api/content/${p.id}` },
    _expandable: { ancestors: '' },
  };
}

http.createServer((req, res) => {
  const url = new URL(req.url, `http://127.0.0.1:${port}`);
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (url.pathname === '/health') return send(200, { ok: true });
  if (req.headers.authorization !== expectedAuth) return send(401, { message: 'Unauthorized' });
  if (url.pathname === '/wiki/rest/api/space') {
    const key = url.searchParams.get('spaceKey');
    return send(200, { results: key === 'ENG' || !key ? [{ key: 'ENG', name: 'Engineering' }] : [], size: 1 });
  }
  if (url.pathname === '/wiki/rest/api/user/current') return send(200, { displayName: 'E2E Bot' });
  if (url.pathname === '/wiki/rest/api/content/search') {
    const start = Number(url.searchParams.get('start') ?? 0);
    const limit = 2;
    const slice = pages.slice(start, start + limit);
    const body = {
      results: slice.map(result), start, limit, size: slice.length, totalSize: pages.length,
      _links: { base, context: '/wiki' },
    };
    if (start + limit < pages.length) {
      const next = new URL(url);
      next.searchParams.set('start', String(start + limit));
      body._links.next = next.pathname.replace(/^\/wiki/, '') + next.search;
    }
    return send(200, body);
  }
  send(404, { message: `no route ${req.method} ${url.pathname}` });
}).listen(port, '127.0.0.1', () => console.log(`mock Confluence on ${port}`));
