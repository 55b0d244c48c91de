// The server side of `bench/compress.ts`: a channel ticker behind compress(), in a process of
// its own so its memory and CPU are the server's alone. Driven over IPC.
import { Channel, compress, createServer, silentLogger } from '../../src/index.ts';

declare const gc: (() => void) | undefined;

const s = createServer();
s.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
s.use(compress());
const ticker = new Channel({ history: 0 });
s.get('/ticker', (r) => ticker.subscribe(r.response.sse({ heartbeat: 0 })));
// The same, but the stream writes a frame of its own (its retry) before it subscribes: it has
// its own compressor by then, so its events are compressed for it alone, as before shared channels.
s.get('/ticker-own', (r) => ticker.subscribe(r.response.sse({ heartbeat: 0, retry: 3000 })));
await s.start();

let seq = 0;
function memory() {
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external + m.arrayBuffers };
}

process.on('message', (msg: { op: string; n?: number }) => {
  if (msg.op === 'memory')
    process.send?.({ op: 'memory', ...memory(), subscribers: ticker.stats().subscribers });
  else if (msg.op === 'cpu') {
    const c = process.cpuUsage();
    process.send?.({ op: 'cpu', us: c.user + c.system });
  } else if (msg.op === 'publish') {
    // A JSON ticker, the example: similar events, each a few dozen bytes of text.
    for (let i = 0; i < (msg.n ?? 1); i++) {
      seq++;
      ticker.publish({
        event: 'tick',
        data: {
          symbol: 'ACME',
          price: Math.round((100 + Math.sin(seq) * 5) * 100) / 100,
          volume: 1000 + (seq % 97),
          seq,
        },
      });
    }
    process.send?.({ op: 'published' });
  } else if (msg.op === 'stop') {
    ticker.close();
    void s.shutdown({ timeout: 500 }).then(() => process.exit(0));
  }
});
process.send?.({ op: 'ready', port: s.getListenedPort() });
