import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { mountChat } from '../examples/chat-tokens.ts';
import { startServer, type TestServer } from './helpers/server.ts';
import { parseEvents, read, waitFor } from './helpers/sse-clients.ts';

let ts: TestServer;

before(async () => {
  ts = await startServer((s) => {
    mountChat(s, '/chat', { tokenDelayMs: 4 });
    mountChat(s, '/slow-chat', { tokenDelayMs: 30 });
  });
});

after(() => ts.close());

const post = (path: string, body: unknown) =>
  read(`${ts.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

test('POST a prompt: token events in order, then done with the count', async () => {
  const res = await post('/chat', { prompt: 'Tell me about streams' });
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
  const events = parseEvents(res.body);
  const tokens = events.filter((e) => e.event === 'token').map((e) => JSON.parse(e.data).text as string);
  const done = events.at(-1);
  assert.equal(done?.event, 'done');
  assert.deepEqual(JSON.parse(done?.data ?? ''), { tokens: tokens.length, finishReason: 'stop' });
  assert.ok(tokens.length > 20);
  assert.ok(tokens.join('').startsWith('You asked: "Tell me about streams".'));
  assert.ok(tokens.join('').endsWith('✓'));
});

test('maxTokens cuts the answer and says so', async () => {
  const res = await post('/chat', { prompt: 'hi', maxTokens: 3 });
  const events = parseEvents(res.body);
  assert.deepEqual(
    events.map((e) => e.event),
    ['token', 'token', 'token', 'done'],
  );
  assert.deepEqual(JSON.parse(events[3]?.data ?? ''), { tokens: 3, finishReason: 'length' });
});

test('a request without a prompt gets 400 before any stream starts', async () => {
  const res = await post('/chat', { nope: 1 });
  assert.equal(res.status, 400);
  assert.match(res.body, /prompt/);
  const bad = await post('/chat', { prompt: 'hi', maxTokens: 0 });
  assert.equal(bad.status, 400);
});

test('a fetch client that stops reading ends generation at once', async () => {
  const controller = new AbortController();
  const res = await fetch(`${ts.url}/slow-chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'stop me' }),
    signal: controller.signal,
  });
  const got: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => got.push(e) });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  while (got.length < 3) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  controller.abort();
  const leftAt = performance.now();
  const stopped = () =>
    ts.logger.lines.filter((l) => l.level === 'info' && String(l.args[0]).startsWith('chat: client left'));
  await waitFor(() => stopped().length === 1, 'the generator to stop', 2000);
  assert.ok(performance.now() - leftAt < 500);
  const generated = Number(/after (\d+) tokens/.exec(String(stopped()[0]?.args[0]))?.[1]);
  // What was read, plus at most the token in flight when the client left.
  assert.ok(generated >= 3 && generated <= got.length + 1, `generated ${generated}, read ${got.length}`);
  // Nothing more is generated afterwards (at 30 ms a token, 300 ms would be ~10 more).
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(stopped().length, 1);
});
