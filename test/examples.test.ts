import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mountTicker, type Ticker } from '../examples/broadcast.ts';
import { buildApp } from '../examples/chat-tokens.ts';
import { testClient } from '../src/testing/index.ts';

// The examples tested the way their README tells users to test an app: through sluice/testing.

test('chat-tokens: a POSTed prompt streams token events, then done', async () => {
  const t = await testClient(() => buildApp({ tokenDelayMs: 1 }));
  try {
    const tokens: string[] = [];
    let done: unknown;
    const stream = t.sse<{ token: { text: string }; done: { tokens: number; finishReason: string } }>(
      '/chat',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'streams', maxTokens: 5 }),
      },
    );
    for await (const ev of stream) {
      if (ev.type === 'token') tokens.push(ev.json().text);
      if (ev.type === 'done') done = ev.json();
    }
    assert.equal(tokens.length, 5);
    assert.ok(tokens.join('').startsWith('You asked: "streams"'));
    assert.deepEqual(done, { tokens: 5, finishReason: 'length' });
    const refused = await t.fetch('/chat', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(refused.status, 400);
  } finally {
    await t.close();
  }
});

test('broadcast: ticks arrive in order with their sequence numbers', async () => {
  let ticker: Ticker | undefined;
  const t = await testClient((s) => {
    ticker = mountTicker(s, '/ticker', 5);
  });
  try {
    const seqs: number[] = [];
    for await (const ev of t.sse<{ tick: { seq: number; symbol: string } }>('/ticker')) {
      if (ev.type === 'tick') seqs.push(ev.json().seq);
      if (seqs.length === 3) break;
    }
    assert.equal(seqs.length, 3);
    assert.deepEqual(seqs, [seqs[0]!, seqs[0]! + 1, seqs[0]! + 2]);
  } finally {
    ticker?.stop();
    await t.close();
  }
});
