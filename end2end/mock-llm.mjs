// A local OpenAI-compatible chat server for the end-to-end run: real wire format (JSON and
// SSE with a final usage chunk), fixed token counts so budgets behave predictably.
import http from 'node:http';

const port = Number(process.env.MOCK_LLM_PORT ?? 3199);
const usage = { prompt_tokens: 14, completion_tokens: 270, total_tokens: 284 };

http.createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/health' || req.url === '/v1/models')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model' }] }));
    return;
  }
  if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
    return;
  }
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    const ask = JSON.parse(body);
    const last = [...ask.messages].reverse().find((m) => m.role === 'user');
    const text = `Mock answer to: ${last ? last.content : ''}`;
    if (ask.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const piece of text.match(/.{1,8}/g) ?? []) {
        res.write(`data: ${JSON.stringify({ object: 'chat.completion.chunk', model: ask.model, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] })}\n\n`);
      }
      res.write(`data: ${JSON.stringify({ object: 'chat.completion.chunk', model: ask.model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
      res.write(`data: ${JSON.stringify({ object: 'chat.completion.chunk', model: ask.model, choices: [], usage })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      id: 'chatcmpl-e2e', object: 'chat.completion', model: ask.model,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage,
    }));
  });
}).listen(port, '127.0.0.1');
