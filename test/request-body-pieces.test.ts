// A body read whole keeps its first piece alone and makes a list only from the second on (see
// `readWhole` in src/request/request-body.ts): a body that arrives in several pieces, with a
// character split between two of them, must still be decoded whole and in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSocket, parseRawResponse, waitFor } from './helpers/http-client.ts';
import { startServer } from './helpers/server.ts';

const TEXT = '{"name":"Zoë","tags":["a","b"],"note":"ça va"}';

/** The body's bytes in `n` pieces; the first cut falls inside the two bytes of "ë". */
function pieces(n: number): Buffer[] {
  const bytes = Buffer.from(TEXT);
  const cut = bytes.indexOf(Buffer.from('ë')) + 1;
  const out = [bytes.subarray(0, cut)];
  const rest = bytes.subarray(cut);
  const size = Math.ceil(rest.length / (n - 1));
  for (let i = 0; i < rest.length; i += size) out.push(rest.subarray(i, i + size));
  return out;
}

for (const n of [2, 3, 5]) {
  test(`a JSON body sent in ${n} pieces, one character split between two, is parsed whole`, async (t) => {
    const seen: unknown[] = [];
    const srv = await startServer((s) =>
      s.post('/echo', (r) => {
        seen.push(r.getBody());
        return r.getBody();
      }),
    );
    t.after(() => srv.close());
    const socket = await openSocket(srv.port);
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    const ended = new Promise((resolve) => socket.on('end', resolve));
    socket.write(
      'POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    for (const piece of pieces(n)) {
      socket.write(`${piece.length.toString(16)}\r\n`);
      socket.write(piece);
      socket.write('\r\n');
      // Apart in time, so the server reads each as a 'data' event of its own.
      await sleep(15);
    }
    socket.write('0\r\n\r\n');
    await ended;
    const res = parseRawResponse(Buffer.concat(received));
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body.toString('utf8')), JSON.parse(TEXT));
    await waitFor(() => seen.length === 1, 'the handler to run');
    assert.deepEqual(seen[0], JSON.parse(TEXT));
  });
}
