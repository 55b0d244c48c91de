import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type ParsedEvent, SseParser } from '../src/client/client-parser.ts';
import { formatEvent, type SseEvent } from '../src/sse/encoder.ts';

// The client's parser against the WHATWG "event stream interpretation" rules
// (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
// Every case is fed whole, one byte at a time, split in two at every position, as text whole and as text
// one code unit at a time: the result must be the same each way, and nothing is ever fed after the last
// chunk, so a parser that holds bytes back waiting for more fails.

interface Outcome {
  events: ParsedEvent[];
  retries: number[];
  comments: string[];
  lastEventId: string;
}

function parse(chunks: (Uint8Array | string)[], initialId = ''): Outcome {
  const out: Outcome = { events: [], retries: [], comments: [], lastEventId: '' };
  const parser = new SseParser(
    {
      onEvent: (e) => out.events.push({ ...e }),
      onRetry: (ms) => out.retries.push(ms),
      onComment: (text) => out.comments.push(text),
    },
    initialId,
  );
  for (const chunk of chunks) parser.feed(chunk);
  out.lastEventId = parser.lastEventId;
  return out;
}

/** Every way of cutting the stream this suite tries. */
function* cuts(stream: string): Generator<[string, (Uint8Array | string)[]]> {
  const bytes = new TextEncoder().encode(stream);
  yield ['bytes whole', [bytes]];
  yield ['byte by byte', Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))];
  for (let at = 1; at < bytes.length; at++)
    yield [`bytes split at ${at}`, [bytes.subarray(0, at), bytes.subarray(at)]];
  yield ['text whole', [stream]];
  yield ['text unit by unit', stream.split('')];
}

type Expected = { type?: string; data: string; id?: string; lastEventId: string }[];

function check(stream: string, expected: Expected, extra: Partial<Omit<Outcome, 'events'>> = {}): void {
  const events = expected.map((e) => ({
    type: e.type ?? 'message',
    data: e.data,
    id: e.id,
    lastEventId: e.lastEventId,
  }));
  for (const [how, chunks] of cuts(stream)) {
    const got = parse(chunks);
    assert.deepEqual(got.events, events, `${how}: ${JSON.stringify(stream)}`);
    if (extra.retries !== undefined) assert.deepEqual(got.retries, extra.retries, how);
    if (extra.comments !== undefined) assert.deepEqual(got.comments, extra.comments, how);
    if (extra.lastEventId !== undefined) assert.equal(got.lastEventId, extra.lastEventId, how);
  }
}

describe('line ends', () => {
  test('LF, CR and CRLF each end a line, and may be mixed', () => {
    check('data: a\ndata: b\rdata: c\r\ndata: d\n\n', [{ data: 'a\nb\nc\nd', lastEventId: '' }]);
    check('data: a\r\n\r\ndata: b\r\rdata: c\n\r\n', [
      { data: 'a', lastEventId: '' },
      { data: 'b', lastEventId: '' },
      { data: 'c', lastEventId: '' },
    ]);
  });

  test('a CR that is the last byte received so far ends the line at once: a CR-only stream delivers its last event', () => {
    check('data: 1\r\rdata: 2\r\r', [
      { data: '1', lastEventId: '' },
      { data: '2', lastEventId: '' },
    ]);
    // Fed in two: the event is out before any byte of what follows arrives.
    const got: string[] = [];
    const parser = new SseParser({ onEvent: (e) => got.push(e.data) });
    parser.feed('data: x\r');
    parser.feed('\r');
    assert.deepEqual(got, ['x']);
  });

  test('the LF of a CRLF split across chunks is not a second line end', () => {
    // A parser that counted that LF as an empty line would dispatch "a" alone, then "b".
    check('data: a\r\ndata: b\r\n\r\n', [{ data: 'a\nb', lastEventId: '' }]);
  });
});

describe('the byte order mark', () => {
  test('one leading BOM is stripped, even when its three bytes arrive one by one', () => {
    check('\uFEFFdata: a\n\n', [{ data: 'a', lastEventId: '' }]);
  });

  test('a second BOM is not stripped: the field becomes "\\uFEFFdata", which is ignored', () => {
    check('\uFEFF\uFEFFdata: a\n\ndata: b\n\n', [{ data: 'b', lastEventId: '' }]);
  });

  test('a BOM after the start of the stream is data', () => {
    check('data: a\n\ndata: \uFEFFb\n\n', [
      { data: 'a', lastEventId: '' },
      { data: '\uFEFFb', lastEventId: '' },
    ]);
  });
});

describe('fields', () => {
  test('the WHATWG examples: data lines joined with LF, the colon and one space', () => {
    check('data: YHOO\ndata: +2\ndata: 10\n\n', [{ data: 'YHOO\n+2\n10', lastEventId: '' }]);
    check('data:test\n\ndata: test\n\n', [
      { data: 'test', lastEventId: '' },
      { data: 'test', lastEventId: '' },
    ]);
    // "data" alone is a data field with an empty value; the final "data:" never reaches a blank line.
    check('data\n\ndata\ndata\n\ndata:', [
      { data: '', lastEventId: '' },
      { data: '\n', lastEventId: '' },
    ]);
  });

  test('exactly one space after the colon is removed; the rest of the value is kept, colons included', () => {
    check('data:  two spaces\n\ndata:none\n\ndata: a: b\n\n', [
      { data: ' two spaces', lastEventId: '' },
      { data: 'none', lastEventId: '' },
      { data: 'a: b', lastEventId: '' },
    ]);
  });

  test('field names are case-sensitive and unknown fields are ignored', () => {
    check('Data: x\nfoo: bar\nEVENT: y\ndata: z\n\n', [{ data: 'z', lastEventId: '' }]);
  });

  test('event sets the type for one event; empty or absent means "message"', () => {
    check('event: add\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n', [
      { type: 'add', data: '1', lastEventId: '' },
      { data: '2', lastEventId: '' },
      { data: '3', lastEventId: '' },
    ]);
  });

  test('a block without data is not dispatched, and its event type does not leak into the next', () => {
    check('event: ghost\n\ndata: real\n\n', [{ data: 'real', lastEventId: '' }]);
  });

  test('data keeps NUL and multi-byte characters split across chunks', () => {
    check('data: a\0b é 😀\n\n', [{ data: 'a\0b é 😀', lastEventId: '' }]);
  });

  test('retry takes ASCII digits only', () => {
    check('retry: 1000\nretry: 10a\nretry: -1\nretry: 1.5\nretry:\nretry:  500\nretry: 2000\n', [], {
      retries: [1000, 2000],
    });
  });

  test('comments are handed over without the colon and one space', () => {
    check(':\n: hello\n:  two\n:no space\ndata: x\n\n', [{ data: 'x', lastEventId: '' }], {
      comments: ['', 'hello', ' two', 'no space'],
    });
  });
});

describe('the last event ID', () => {
  test('persists across events until an id field changes it; an empty id resets it', () => {
    check('id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\ndata: d\n\nid: 2\ndata: e\n\n', [
      { data: 'a', id: '1', lastEventId: '1' },
      { data: 'b', lastEventId: '1' },
      { data: 'c', id: '', lastEventId: '' },
      { data: 'd', lastEventId: '' },
      { data: 'e', id: '2', lastEventId: '2' },
    ]);
  });

  test('an id-only block moves it without dispatching anything', () => {
    check('id: 5\n\ndata: x\n\n', [{ data: 'x', lastEventId: '5' }], { lastEventId: '5' });
  });

  test('an id containing NUL is ignored', () => {
    check('id: 1\n\nid: a\0b\ndata: x\n\n', [{ data: 'x', lastEventId: '1' }], { lastEventId: '1' });
  });

  test('an id whose block never ends does not move it', () => {
    check('id: 1\ndata: a\n\nid: 9\ndata: b\n', [{ data: 'a', id: '1', lastEventId: '1' }], {
      lastEventId: '1',
    });
  });

  test('reset() for a new connection drops the half-read event, keeps the id, and strips a new BOM', () => {
    const got: ParsedEvent[] = [];
    const parser = new SseParser({ onEvent: (e) => got.push(e) }, 'start');
    parser.feed('data: a\n\nid: 7\ndata: half');
    parser.reset();
    parser.feed('\uFEFFdata: b\n\n');
    assert.deepEqual(
      got.map((e) => [e.data, e.lastEventId]),
      [
        ['a', 'start'],
        ['b', 'start'],
      ],
    );
  });
});

// The property: whatever sluice's own encoder frames, split anywhere, parses back to exactly what was sent.

const unit = fc.constantFrom('a', 'Z', ' ', ':', '\r', '\n', '\r\n', '\0', 'é', '😀', '\uFEFF', 'data', 'id');
const text = fc.string({ unit, maxLength: 6 });
const safe = text.map((s) => s.replace(/[\r\n\0]/g, ''));
const sseEvent: fc.Arbitrary<SseEvent> = fc.record(
  {
    data: fc.oneof(text, fc.record({ n: fc.integer(), s: text })),
    event: safe,
    id: fc.oneof(safe, fc.nat()),
    retry: fc.nat(100_000),
    comment: text,
  },
  { requiredKeys: [] },
);

test('random events framed by the encoder and cut at random positions parse back exactly', () => {
  fc.assert(
    fc.property(
      fc.array(sseEvent, { maxLength: 8 }),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 6 }),
      (events, bom, cutAt) => {
        const stream = (bom ? '\uFEFF' : '') + events.map((e) => formatEvent(e)).join('');
        const bytes = new TextEncoder().encode(stream);
        const points = [...new Set(cutAt.map((n) => n % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let from = 0;
        for (const p of [...points, bytes.length]) {
          chunks.push(bytes.subarray(from, p));
          from = p;
        }
        const got = parse(chunks);

        const expected: ParsedEvent[] = [];
        const retries: number[] = [];
        const comments: string[] = [];
        let lastEventId = '';
        for (const e of events) {
          if (e.comment !== undefined) comments.push(...e.comment.split(/\r\n|\r|\n/));
          if (e.retry !== undefined) retries.push(e.retry);
          const id = e.id === undefined ? undefined : String(e.id);
          if (id !== undefined) lastEventId = id;
          const type = e.event === undefined || e.event === '' ? 'message' : e.event;
          const hasData = e.data !== undefined || type !== 'message';
          if (!hasData) continue;
          const data =
            typeof e.data === 'string' ? e.data : e.data === undefined ? '' : JSON.stringify(e.data);
          expected.push({ type, data: toWellFormed(data).replace(/\r\n|\r/g, '\n'), id, lastEventId });
        }
        assert.deepEqual(got.events, expected);
        assert.deepEqual(got.retries, retries);
        assert.deepEqual(got.comments, comments.map(toWellFormed));
        assert.equal(got.lastEventId, lastEventId);
      },
    ),
    { numRuns: 500 },
  );
});

/** What UTF-8 makes of a string: lone surrogates become U+FFFD. */
function toWellFormed(s: string): string {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(new TextEncoder().encode(s));
}
