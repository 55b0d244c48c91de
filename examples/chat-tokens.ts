/**
 * An LLM-style token stream: POST a prompt as JSON, get the answer back as
 * Server-Sent Events, one `token` event per token, then `done`. The "model"
 * is fake (it paraphrases your prompt), but the serving side is what a real
 * one needs: tokens go out the moment they exist, a slow client slows the
 * model down instead of piling tokens up in memory, and when the client
 * leaves (Stop button, Ctrl-C in curl, a closed tab) generation stops at
 * once, so no tokens are paid for that nobody reads.
 *
 * Run: `npx tsx examples/chat-tokens.ts` (PORT overrides 8999), then
 *   curl -N -H 'content-type: application/json' -d '{"prompt":"hi"}' http://127.0.0.1:8999/chat
 *
 * Events:
 *   event: token  data: {"text":" word"}              one per token, in order
 *   event: done   data: {"tokens":57,"finishReason":"stop"}   "length" when maxTokens cut it
 *   event: error  data: {"message":"..."}             if generation fails after it began
 * A request without a prompt gets 400 before any stream starts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { createServer, HttpError, type Request, type RouteGroup, type Server, sseEvent } from 'sluice';

/**
 * Options of {@link mountChat}.
 *
 * @example
 * ```ts
 * mountChat(s, '/chat', { tokenDelayMs: 10 }); // a faster fake model, for tests
 * ```
 */
export interface ChatOptions {
  /** Milliseconds the fake model takes per token, on average (default 40). */
  tokenDelayMs?: number;
}

/** What the client sends. */
interface ChatRequest {
  prompt?: unknown;
  maxTokens?: unknown;
}

const MAX_PROMPT = 4000;
const MAX_TOKENS = 2000;

/**
 * Binds `POST <path>`: `{ "prompt": string, "maxTokens"?: number }` in,
 * a `text/event-stream` of `token` events and a final `done` out.
 *
 * @example
 * ```ts
 * import { server } from 'sluice';
 * import { mountChat } from './examples/chat-tokens.ts';
 *
 * const s = server();
 * mountChat(s, '/api/chat', { tokenDelayMs: 20 });
 * await s.run();
 * ```
 */
export function mountChat(s: RouteGroup, path = '/chat', options: ChatOptions = {}): void {
  s.bindHandler(`POST:${path}`, (r) => {
    const tokens = chatAnswer(r, options);
    // Plain { event, data } items become SSE events once wrapped; the demo's typed route yields them as they are.
    return (async function* framed() {
      for await (const item of tokens) yield sseEvent(item);
    })();
  });
}

/** One event of a chat answer. */
export type ChatEvent =
  | { event: 'token'; data: { text: string } }
  | { event: 'done'; data: { tokens: number; finishReason: 'stop' | 'length' } };

/**
 * Checks the request and returns the answer as `{ event, data }` items, for a route bound either
 * way: `mountChat` frames them, the demo's `defineRoute` route checks each against its schema.
 */
export function chatAnswer(r: Request, options: ChatOptions = {}): AsyncGenerator<ChatEvent> {
  const delay = options.tokenDelayMs ?? 40;
  const body = r.getBody<ChatRequest | string | undefined>();
  const input: ChatRequest = typeof body === 'string' ? { prompt: body } : (body ?? {});
  const prompt = typeof input.prompt === 'string' ? input.prompt.trim() : '';
  // Refused here, before the stream starts, so the client gets a plain 400 and not an event.
  if (prompt === '') throw new HttpError(400, 'Send JSON like {"prompt": "Tell me about streams"}');
  if (prompt.length > MAX_PROMPT)
    throw new HttpError(400, `The prompt is limited to ${MAX_PROMPT} characters`);
  const maxTokens = input.maxTokens ?? MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || (maxTokens as number) < 1 || (maxTokens as number) > MAX_TOKENS) {
    throw new HttpError(400, `maxTokens must be an integer from 1 to ${MAX_TOKENS}`);
  }

  const logger = r.server.getLogger();
  // r.signal aborts when the client leaves; the model's sleep listens to it, so generation stops
  // mid-token instead of finishing a token nobody will read.
  const signal = r.signal;
  return (async function* answer(): AsyncGenerator<ChatEvent> {
    let tokens = 0;
    let finished = false;
    try {
      for await (const text of fakeModel(prompt, delay, signal)) {
        tokens++;
        yield { event: 'token', data: { text } };
        if (tokens === maxTokens) break;
      }
      finished = true;
      const finishReason = tokens === maxTokens ? 'length' : 'stop';
      yield { event: 'done', data: { tokens, finishReason } };
    } finally {
      // Runs when the answer is complete, and also when the client left mid-answer: sluice calls the
      // generator's return() then.
      if (!finished) logger.info(`chat: client left after ${tokens} tokens; generation stopped`);
    }
  })();
}

/**
 * The example as an app: a fresh server (not started) with `POST /chat`. Tests build one per
 * test and start it on port 0 (`testClient(buildApp)` from `sluice/testing`); run directly,
 * this file starts it on PORT.
 *
 * @example
 * ```ts
 * import { testClient } from 'sluice/testing';
 * const t = await testClient(() => buildApp({ tokenDelayMs: 2 }));
 * ```
 */
export function buildApp(options: ChatOptions = {}): Server {
  const s = createServer('chat');
  mountChat(s, '/chat', options);
  return s;
}

/**
 * A stand-in for a model: yields the tokens of a canned answer about the
 * prompt, with a delay that varies like real decoding. Stops as soon as
 * `signal` aborts, even in the middle of a delay.
 */
async function* fakeModel(prompt: string, delayMs: number, signal: AbortSignal): AsyncGenerator<string> {
  const topic = prompt.length > 80 ? `${prompt.slice(0, 77)}...` : prompt;
  const answer =
    `You asked: "${topic}". Here is a streamed answer, produced one token at a time by a fake model. ` +
    'Each token you see left the server as its own Server-Sent Event the moment it existed, ' +
    'so the answer grows while you watch instead of arriving all at once at the end. ' +
    'If you stop reading now, the server notices that the connection is gone, ' +
    'stops generating, and runs the clean-up code of the generator that produced these words. ' +
    'A real model would be called in exactly the same place, with the same signal. ✓';
  const tokens = answer.match(/\s*\S+/g) ?? [];
  for (let i = 0; i < tokens.length; i++) {
    // Varies between 0.5x and 1.5x the average, deterministically, like uneven decoding steps.
    await sleep(Math.round(delayMs * (0.5 + ((i * 37) % 100) / 100)), undefined, { signal });
    yield tokens[i] ?? '';
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = buildApp();
  const host = process.env.HOST ?? '127.0.0.1';
  s.setAddress(host).setPort(Number(process.env.PORT ?? 8999));
  await s.start();
  const url = `http://${host}:${s.getListenedPort()}/chat`;
  console.log(`chat token stream on ${url} (POST)
try: curl -N -H 'content-type: application/json' -d '{"prompt":"Tell me about streams"}' ${url}`);
  await s.run();
}
