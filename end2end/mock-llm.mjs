// A local OpenAI-compatible chat server for the end-to-end run: real wire format (JSON and
// SSE with a final usage chunk), fixed token counts so budgets behave predictably.
import http from 'node:http';

const port = Number(process.env.MOCK_LLM_PORT ?? 3199);
const usage = { prompt_tokens: 14, completion_tokens: 270, total_tokens: 284 };

// The RFC studio's calls: questions as JSON, an outline, a review, and sections streamed slowly enough
// to watch, citing the first source the prompt offers (and one it never offered, [S99], which
// the server must drop).
const RFC_QUESTIONS = JSON.stringify({ questions: [
  { kind: 'single_choice', text: 'Which clients upload the large files?', why: 'It sets the scope.', options: ['Web', 'Mobile', 'CLI'], section: 'guide' },
  { kind: 'yes_no', text: 'Must a parked upload resume after a restart?', why: 'It decides the storage design.', section: 'reference' },
  { kind: 'text', text: 'Who owns the dead-letter queue?', why: 'Someone must empty it.', section: 'unresolved' },
] });
const RFC_OUTLINE = JSON.stringify({ sections: [{ key: 'summary', points: ['Retry failed uploads'] }] });
const RFC_REVIEW = JSON.stringify({ notes: [
  { aspect: 'clarity', rating: 4, note: 'The summary says what changes and why.' },
  { aspect: 'risks', rating: 2, note: 'Say how parked uploads are cleaned up.' },
  { aspect: 'alternatives', rating: 3, note: 'Compare with resumable uploads.' },
] });

function rfcSection(ask, res) {
  const data = JSON.parse(ask.messages[1].content);
  const cite = data.sources?.[0]?.id ? ` [${data.sources[0].id}]` : '';
  const heading = data.section?.heading ?? 'Section';
  const text = data.instruction
    ? `Rewritten as asked (${data.instruction}): uploads retry three times with backoff${cite}.`
    : `${heading}: the upload service retries a failed chunk three times${cite} and parks it afterwards [S99]. `
      + 'Users keep what they uploaded and resume where they stopped.';
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const pieces = text.match(/.{1,24}/g) ?? [];
  let i = 0;
  const next = () => {
    if (i < pieces.length) {
      res.write(`data: ${JSON.stringify({ object: 'chat.completion.chunk', model: ask.model, choices: [{ index: 0, delta: { content: pieces[i] }, finish_reason: null }] })}\n\n`);
      i += 1;
      setTimeout(next, 60);
      return;
    }
    res.write(`data: ${JSON.stringify({ object: 'chat.completion.chunk', model: ask.model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ object: 'chat.completion.chunk', model: ask.model, choices: [], usage })}\n\n`);
    res.end('data: [DONE]\n\n');
  };
  next();
}

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
    const system = ask.messages[0]?.role === 'system' ? ask.messages[0].content : '';
    if (system.includes('You write one section of an RFC')) {
      rfcSection(ask, res);
      return;
    }
    const last = [...ask.messages].reverse().find((m) => m.role === 'user');
    let text = `Mock answer to: ${last ? last.content : ''}`;
    if (system.includes('clarifying questions')) text = RFC_QUESTIONS;
    if (system.includes('You plan an RFC')) text = RFC_OUTLINE;
    if (system.includes('You review an RFC draft')) text = RFC_REVIEW;
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
