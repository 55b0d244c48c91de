import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createParser, type EventSourceMessage, type ParseError } from 'eventsource-parser';
import fc from 'fast-check';
import { InvalidArgumentError } from '../src/errors.ts';
import {
  assertEventFields,
  encodeEvent,
  formatComment,
  formatEvent,
  type SseEvent,
} from '../src/sse/encoder.ts';

// Two independent oracles read every frame back: the `eventsource-parser`
// package (what the `eventsource` client and many apps use) and a literal
// transcription of the WHATWG parsing algorithm below, which also sees what the
// package hides (field lines, the persistent last event ID, retry, comments).

interface SpecEvent {
  type: string;
  data: string;
  lastEventId: string;
}

interface SpecResult {
  events: SpecEvent[];
  /** Field names of every non-comment, non-blank line, in order. */
  fields: string[];
  comments: string[];
  retries: number[];
  lastEventId: string;
}

/** https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation */
function specParse(stream: string): SpecResult {
  const result: SpecResult = { events: [], fields: [], comments: [], retries: [], lastEventId: '' };
  let data = '';
  let eventType = '';
  let idBuffer = '';
  let text = stream.charCodeAt(0) === 0xfeff ? stream.slice(1) : stream;
  // An incomplete last line (no terminator) is never processed.
  for (;;) {
    const m = /\r\n|\r|\n/.exec(text);
    if (m === null) break;
    const line = text.slice(0, m.index);
    text = text.slice(m.index + m[0].length);
    if (line === '') {
      result.lastEventId = idBuffer;
      if (data === '') {
        eventType = '';
        continue;
      }
      if (data.endsWith('\n')) data = data.slice(0, -1);
      result.events.push({ type: eventType === '' ? 'message' : eventType, data, lastEventId: idBuffer });
      data = '';
      eventType = '';
      continue;
    }
    if (line.startsWith(':')) {
      result.comments.push(line.slice(1).startsWith(' ') ? line.slice(2) : line.slice(1));
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    result.fields.push(field);
    if (field === 'event') eventType = value;
    else if (field === 'data') data += `${value}\n`;
    else if (field === 'id') {
      if (!value.includes('\0')) idBuffer = value;
    } else if (field === 'retry') {
      if (/^[0-9]+$/.test(value)) result.retries.push(Number.parseInt(value, 10));
    }
  }
  return result;
}

interface PkgResult {
  events: EventSourceMessage[];
  retries: number[];
  comments: string[];
  errors: ParseError[];
}

function pkgParse(stream: string): PkgResult {
  const result: PkgResult = { events: [], retries: [], comments: [], errors: [] };
  const parser = createParser({
    onEvent: (e) => result.events.push(e),
    onRetry: (n) => result.retries.push(n),
    onComment: (c) => result.comments.push(c),
    onError: (e) => result.errors.push(e),
  });
  parser.feed(stream);
  return result;
}

/** What a frame looks like to a client: the bytes we would write, decoded. */
function wire(ev: SseEvent): string {
  return encodeEvent(ev).toString('utf8');
}

// What the transport itself does to text, independent of framing: the parser
// joins data lines with LF, and UTF-8 cannot carry a lone surrogate.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const wellFormed = (s: string): string => s.replace(LONE_SURROGATE, '\uFFFD');
const normalizeData = (s: string): string => wellFormed(s.replace(/\r\n|\r/g, '\n'));
const splitLines = (s: string): string[] => s.split(/\r\n|\r|\n/);

// Pieces that stress the framing: every line terminator, NUL, BOM, astral
// characters and halves of surrogate pairs, spaces and colons where a parser
// looks for them, and text that looks like fields.
const tricky = fc.constantFrom(
  '\r',
  '\n',
  '\r\n',
  '\n\r',
  '\r\r',
  '\0',
  ' ',
  '  ',
  ':',
  ': ',
  '\uFEFF',
  '\u2028',
  '\u0085',
  '😀',
  '👩‍👩‍👧',
  '\uD83D',
  '\uDE00',
  'data: x',
  'data:',
  'event: boom',
  'id: 999',
  'retry: 1',
  'é',
  'x',
);
const piece = fc.oneof(
  { weight: 4, arbitrary: tricky },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
  // Raw UTF-16 code units, so lone surrogates appear anywhere.
  {
    weight: 1,
    arbitrary: fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)), maxLength: 8 }),
  },
);
const shortText = fc.array(piece, { maxLength: 24 }).map((parts) => parts.join(''));
const longText = fc
  .tuple(fc.array(piece, { minLength: 1, maxLength: 12 }), fc.integer({ min: 10_000, max: 30_000 }))
  .map(([parts, length]) => {
    const unit = parts.join('') || 'x';
    return unit.repeat(Math.ceil(length / unit.length));
  });
const anyText = fc.oneof({ weight: 12, arbitrary: shortText }, { weight: 1, arbitrary: longText });
/** A value allowed in `event` and `id`. */
const lineText = shortText.map((s) => s.replace(/[\r\n\0]/g, ''));
const retryArb = fc.oneof(fc.nat(), fc.constantFrom(0, Number.MAX_SAFE_INTEGER));

const validEvent: fc.Arbitrary<SseEvent> = fc.record(
  {
    data: anyText,
    event: lineText,
    id: fc.oneof(lineText, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
    retry: retryArb,
    comment: shortText,
  },
  { requiredKeys: ['data'] },
);

/** Asserts what a client sees of one valid event, with both oracles. */
function assertRoundTrip(ev: SseEvent, stream: string): void {
  const expectedData = normalizeData(ev.data as string);
  const expectedType = ev.event === undefined || ev.event === '' ? undefined : wellFormed(ev.event);
  const expectedId = ev.id === undefined ? undefined : wellFormed(String(ev.id));

  const pkg = pkgParse(stream);
  assert.deepEqual(pkg.errors, []);
  assert.equal(pkg.events.length, 1);
  assert.equal(pkg.events[0]!.data, expectedData);
  assert.equal(pkg.events[0]!.event, expectedType);
  assert.equal(pkg.events[0]!.id, expectedId);
  assert.deepEqual(pkg.retries, ev.retry === undefined ? [] : [ev.retry]);

  const spec = specParse(stream);
  assert.equal(spec.events.length, 1);
  assert.deepEqual(spec.events[0], {
    type: expectedType ?? 'message',
    data: expectedData,
    lastEventId: expectedId ?? '',
  });
  assert.deepEqual(spec.retries, ev.retry === undefined ? [] : [ev.retry]);
  assert.deepEqual(spec.comments, ev.comment === undefined ? [] : splitLines(wellFormed(ev.comment)));
  // No value may contribute a field line of its own.
  const expectedFields = [
    ...(expectedType === undefined ? [] : ['event']),
    ...(expectedId === undefined ? [] : ['id']),
    ...(ev.retry === undefined ? [] : ['retry']),
    ...splitLines(expectedData).map(() => 'data'),
  ];
  assert.deepEqual(spec.fields, expectedFields);
}

describe('encodeEvent round trip', () => {
  test('random data, event, id, retry and comment parse back exactly, as one event', () => {
    fc.assert(
      fc.property(validEvent, (ev) => {
        const stream = wire(ev);
        assert.ok(!stream.includes('\r'), 'no raw CR may reach the wire');
        assertRoundTrip(ev, stream);
      }),
      { numRuns: 3000 },
    );
  });

  test('data alone (the fast path) parses back exactly', () => {
    fc.assert(
      fc.property(anyText, (data) => {
        assertRoundTrip({ data }, wire({ data }));
      }),
      { numRuns: 3000 },
    );
  });

  test('formatEvent and encodeEvent produce the same frame', () => {
    fc.assert(
      fc.property(validEvent, (ev) => {
        assert.deepEqual(encodeEvent(ev), Buffer.from(formatEvent(ev), 'utf8'));
      }),
      { numRuns: 500 },
    );
  });

  test('a stream of many frames parses into exactly those events, in order', () => {
    const frame = fc.oneof(
      { weight: 4, arbitrary: validEvent.map((ev) => ({ ev })) },
      { weight: 1, arbitrary: shortText.map((comment) => ({ comment })) },
    );
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 20 }), (frames) => {
        let stream = '';
        const expected: { data: string; event: string | undefined; id: string | undefined }[] = [];
        for (const f of frames) {
          if ('comment' in f) {
            stream += formatComment(f.comment);
            continue;
          }
          stream += wire(f.ev);
          expected.push({
            data: normalizeData(f.ev.data as string),
            event: f.ev.event === undefined || f.ev.event === '' ? undefined : wellFormed(f.ev.event),
            id: f.ev.id === undefined ? undefined : wellFormed(String(f.ev.id)),
          });
        }
        const pkg = pkgParse(stream);
        assert.deepEqual(pkg.errors, []);
        assert.deepEqual(
          pkg.events.map((e) => ({ data: e.data, event: e.event, id: e.id })),
          expected,
        );
        assert.equal(specParse(stream).events.length, expected.length);
      }),
      { numRuns: 500 },
    );
  });

  test('empty-string data is one event with data ""', () => {
    for (const ev of [{ data: '' }, { data: '', event: 'x' }, { data: '', id: '1', comment: 'c' }]) {
      const pkg = pkgParse(wire(ev));
      assert.equal(pkg.events.length, 1);
      assert.equal(pkg.events[0]!.data, '');
      const spec = specParse(wire(ev));
      assert.equal(spec.events.length, 1);
      assert.equal(spec.events[0]!.data, '');
    }
  });

  test('leading spaces and trailing line breaks in data survive', () => {
    for (const data of [' a', '  a', ' ', 'a\n', '\n', '\r\n\r\n', ' \r x\r']) {
      const pkg = pkgParse(wire({ data }));
      assert.equal(pkg.events.length, 1);
      assert.equal(pkg.events[0]!.data, normalizeData(data));
    }
  });

  test('a lone CR in data becomes a line break, never a raw CR', () => {
    const out = formatEvent({ data: 'a\rb\r\nc\nd' });
    assert.ok(!out.includes('\r'));
    assert.equal(pkgParse(out).events[0]!.data, 'a\nb\nc\nd');
  });
});

describe('encodeEvent data types', () => {
  test('objects, arrays, numbers, booleans and null are sent as JSON', () => {
    const values = fc.oneof(
      fc.jsonValue(),
      fc.object(),
      fc.array(fc.string({ unit: 'binary' })),
      fc.dictionary(shortText, shortText),
    );
    fc.assert(
      fc.property(values, (value) => {
        fc.pre(value !== undefined && typeof value !== 'string');
        const json = JSON.stringify(value);
        fc.pre(json !== undefined);
        const pkg = pkgParse(wire({ data: value }));
        assert.equal(pkg.events.length, 1);
        assert.equal(pkg.events[0]!.data, wellFormed(json));
      }),
      { numRuns: 1000 },
    );
    const pkg = pkgParse(wire({ data: { text: 'two\nlines', n: [1, null, true] } }));
    assert.deepEqual(JSON.parse(pkg.events[0]!.data), { text: 'two\nlines', n: [1, null, true] });
    assert.equal(formatEvent({ data: 42 }), 'data: 42\n\n');
    assert.equal(formatEvent({ data: false }), 'data: false\n\n');
    assert.equal(formatEvent({ data: null }), 'data: null\n\n');
  });

  test('bytes are decoded as UTF-8, including a view into a larger buffer', () => {
    const bytes = Buffer.from('xx héllo\n😀 wörld yy', 'utf8');
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset + 3, bytes.length - 6);
    assert.equal(pkgParse(wire({ data: view })).events[0]!.data, 'héllo\n😀 wörld');
    assert.equal(pkgParse(wire({ data: Buffer.from('a\r\nb') })).events[0]!.data, 'a\nb');
    const ab = new TextEncoder().encode('ab€').buffer;
    assert.equal(pkgParse(wire({ data: ab })).events[0]!.data, 'ab€');
  });

  test('data that is not JSON-serializable throws InvalidArgumentError("data")', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const data of [10n, () => 1, Symbol('s'), cyclic, { n: 1n }]) {
      for (const fn of [formatEvent, encodeEvent, assertEventFields]) {
        assert.throws(
          () => fn({ data }),
          (err) => err instanceof InvalidArgumentError && err.argument === 'data',
        );
      }
    }
  });
});

describe('field validation', () => {
  const withBadChar = fc
    .tuple(lineText, fc.constantFrom('\r', '\n', '\0', '\r\n'), lineText)
    .map(([a, bad, b]) => a + bad + b);

  test('every event or id containing CR, LF or NUL throws, naming the field', () => {
    fc.assert(
      fc.property(withBadChar, anyText, fc.constantFrom('event', 'id'), (value, data, field) => {
        const ev: SseEvent = { data, [field]: value };
        for (const fn of [formatEvent, encodeEvent, assertEventFields]) {
          assert.throws(
            () => fn(ev),
            (err) => err instanceof InvalidArgumentError && err.argument === field,
          );
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('event and id of the wrong type throw', () => {
    for (const event of [1, null, {}, ['a'], true]) {
      assert.throws(
        () => formatEvent({ data: 'x', event: event as unknown as string }),
        (err) => err instanceof InvalidArgumentError && err.argument === 'event',
      );
    }
    for (const id of [Number.NaN, Number.POSITIVE_INFINITY, null, {}, true, 1n]) {
      assert.throws(
        () => formatEvent({ data: 'x', id: id as unknown as string }),
        (err) => err instanceof InvalidArgumentError && err.argument === 'id',
      );
    }
  });

  test('a bad retry throws; a non-negative integer is written as digits', () => {
    for (const retry of [-1, 1.5, Number.NaN, '3', Number.POSITIVE_INFINITY, 2 ** 53, null, 1e21]) {
      for (const fn of [formatEvent, encodeEvent, assertEventFields]) {
        assert.throws(
          () => fn({ data: 'x', retry: retry as unknown as number }),
          (err) => err instanceof InvalidArgumentError && err.argument === 'retry',
        );
      }
    }
    assert.equal(formatEvent({ retry: -0 }), 'retry: 0\n\n');
    assert.deepEqual(pkgParse(wire({ retry: 3000 })).retries, [3000]);
  });

  test('a comment that is not a string throws', () => {
    assert.throws(
      () => formatEvent({ comment: 5 as unknown as string }),
      (err) => err instanceof InvalidArgumentError && err.argument === 'comment',
    );
    assert.throws(() => formatComment(null as unknown as string), InvalidArgumentError);
  });

  test('an event that is not an object throws, naming "ev"', () => {
    for (const ev of [null, undefined, 'hello', 42, ['data']]) {
      for (const fn of [formatEvent, encodeEvent, assertEventFields]) {
        assert.throws(
          () => fn(ev as unknown as SseEvent),
          (err) => err instanceof InvalidArgumentError && err.argument === 'ev',
        );
      }
    }
  });

  test('no input to any field can add a field or an extra event', () => {
    const fieldValue = fc.oneof(
      { weight: 3, arbitrary: anyText },
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.anything() },
      { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, Number.NaN, 0, 7, -0, '3', '') },
    );
    const anyEvent = fc.record(
      { data: fieldValue, event: fieldValue, id: fieldValue, retry: fieldValue, comment: fieldValue },
      { requiredKeys: [] },
    );
    const badLine = (v: unknown) => typeof v !== 'string' || /[\r\n\0]/.test(v);
    fc.assert(
      fc.property(anyEvent, (ev) => {
        const invalid: string[] = [];
        if (ev.event !== undefined && badLine(ev.event)) invalid.push('event');
        if (ev.id !== undefined && !(typeof ev.id === 'number' && Number.isFinite(ev.id)) && badLine(ev.id)) {
          invalid.push('id');
        }
        if (ev.retry !== undefined && !(Number.isSafeInteger(ev.retry) && (ev.retry as number) >= 0)) {
          invalid.push('retry');
        }
        if (ev.comment !== undefined && typeof ev.comment !== 'string') invalid.push('comment');
        let out: string;
        try {
          out = formatEvent(ev as SseEvent);
        } catch (err) {
          assert.ok(err instanceof InvalidArgumentError, String(err));
          // Data fails only when JSON cannot represent it, which the test does not predict.
          assert.ok(invalid.includes(err.argument) || err.argument === 'data', err.message);
          return;
        }
        assert.deepEqual(invalid, []);
        assert.ok(!out.includes('\r'));
        const spec = specParse(out);
        const fields = new Set(spec.fields);
        for (const f of fields) assert.ok(['event', 'id', 'retry', 'data'].includes(f), `field ${f}`);
        for (const f of ['event', 'id', 'retry']) {
          assert.ok(spec.fields.filter((x) => x === f).length <= 1, `one ${f} line at most`);
        }
        const named = typeof ev.event === 'string' && ev.event !== '';
        const dispatches = ev.data !== undefined || named;
        assert.equal(spec.events.length, dispatches ? 1 : 0);
        assert.equal(pkgParse(out).events.length, dispatches ? 1 : 0);
        assert.equal(
          spec.comments.length,
          ev.comment === undefined ? 0 : splitLines(ev.comment as string).length,
        );
      }),
      { numRuns: 3000 },
    );
  });

  test('each field is read once, so a getter cannot swap in an unsafe value', () => {
    let reads = 0;
    const ev = {
      data: 'x',
      get event() {
        reads++;
        return reads === 1 ? 'safe' : 'evil\ndata: injected';
      },
    };
    const pkg = pkgParse(formatEvent(ev));
    assert.equal(reads, 1);
    assert.deepEqual(
      pkg.events.map((e) => [e.event, e.data]),
      [['safe', 'x']],
    );
  });

  test('unknown keys are ignored', () => {
    const ev = { data: 'x', name: 'n', type: 't' } as SseEvent;
    assert.equal(formatEvent(ev), formatEvent({ data: 'x' }));
  });
});

describe('framing decisions', () => {
  test('fields are written as comment, event, id, retry, data, blank line', () => {
    assert.equal(
      formatEvent({ data: 'd1\nd2', retry: 10, id: 1, event: 'e', comment: 'c' }),
      ': c\nevent: e\nid: 1\nretry: 10\ndata: d1\ndata: d2\n\n',
    );
  });

  test('an empty event name is omitted, and the client sees a "message"', () => {
    const out = formatEvent({ event: '', data: 'x' });
    assert.ok(!out.includes('event'));
    assert.equal(specParse(out).events[0]!.type, 'message');
    assert.equal(formatEvent({ event: '' }), '');
  });

  test('a named event without data still dispatches, with data ""', () => {
    const spec = specParse(wire({ event: 'done' }));
    assert.deepEqual(spec.events, [{ type: 'done', data: '', lastEventId: '' }]);
    assert.equal(pkgParse(wire({ event: 'done' })).events.length, 1);
  });

  test('id or retry without data updates the client without dispatching', () => {
    const spec = specParse(wire({ id: 'cursor-9', retry: 500 }));
    assert.equal(spec.events.length, 0);
    assert.equal(spec.lastEventId, 'cursor-9');
    assert.deepEqual(spec.retries, [500]);
    // An empty id is written: it resets the last event ID.
    const reset = specParse(wire({ id: 'a' }) + wire({ id: '' }));
    assert.equal(reset.lastEventId, '');
    assert.deepEqual(reset.fields, ['id', 'id']);
  });

  test('no fields and no comment frame to nothing', () => {
    assert.equal(formatEvent({}), '');
    assert.equal(encodeEvent({ data: undefined }).length, 0);
  });
});

describe('comments', () => {
  test('a comment with line breaks becomes several comment lines and no event', () => {
    const text = 'one\rtwo\r\nthree\nfour: data: x\n\nid: 5';
    for (const out of [formatComment(text), formatEvent({ comment: text })]) {
      assert.ok(!out.includes('\r'));
      const pkg = pkgParse(out);
      assert.deepEqual(pkg.events, []);
      assert.deepEqual(pkg.comments, ['one', 'two', 'three', 'four: data: x', '', 'id: 5']);
      const spec = specParse(out);
      assert.deepEqual(spec.fields, []);
      assert.equal(spec.lastEventId, '');
    }
  });

  test('a comment-only frame equals formatComment and never dispatches', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const out = formatEvent({ comment: text });
        assert.equal(out, formatComment(text));
        const spec = specParse(Buffer.from(out).toString('utf8'));
        assert.deepEqual(spec.events, []);
        assert.deepEqual(spec.fields, []);
        assert.deepEqual(spec.comments, splitLines(wellFormed(text)));
        // A comment between two frames does not disturb them.
        const around = wire({ data: 'a', event: 'x' }) + out + wire({ data: 'b' });
        assert.deepEqual(
          pkgParse(around).events.map((e) => [e.event, e.data]),
          [
            ['x', 'a'],
            [undefined, 'b'],
          ],
        );
      }),
      { numRuns: 1000 },
    );
  });

  test('formatComment of an empty string is one empty comment line', () => {
    assert.equal(formatComment(''), ': \n');
    assert.deepEqual(pkgParse(formatComment('')).comments, ['']);
  });
});
