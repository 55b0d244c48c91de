/**
 * A live ticker that any number of browsers can watch: one channel, one
 * publisher, every subscriber gets the same framed bytes. Run
 * `npx tsx examples/broadcast.ts` and open http://127.0.0.1:8999/ in several
 * tabs (PORT overrides the port), or `curl -N http://127.0.0.1:8999/ticker`.
 *
 * Reconnects are free: the channel keeps the last events, and a browser that
 * lost its connection sends `Last-Event-ID` on its own, so it gets exactly
 * the ticks it missed, then the live ones. Kill the connection in the
 * browser's dev tools (or restart the server within the reconnect delay) to
 * see it. Had it been away longer than the history lasts, it would get an
 * `event: reset` instead and know to reload.
 */
import { pathToFileURL } from 'node:url';
import { Channel, type ChannelAdapter, parseId, type RouteGroup, server } from 'sluice';

/** One price update, the data of every `event: tick`. */
export interface Tick {
  symbol: string;
  price: number;
  /** Server time of the tick, epoch ms. */
  t: number;
  /** 1, 2, 3, … : lets a client check for itself that nothing was lost or repeated. */
  seq: number;
}

/** What {@link mountTicker} returns. */
export interface Ticker {
  readonly channel: Channel;
  /** Stops publishing and closes the channel (its streams end). */
  stop(): void;
}

/**
 * Binds `GET <path>`: an SSE stream of `event: tick` from one shared channel,
 * published about five times a second as a random walk.
 *
 * @example
 * ```ts
 * const s = server();
 * const ticker = mountTicker(s, '/ticker');
 * await s.run();
 * ticker.stop();
 * ```
 */
export function mountTicker(
  s: RouteGroup,
  path = '/ticker',
  intervalMs = 200,
  adapter?: ChannelAdapter,
): Ticker {
  const ticker = startTicker(intervalMs, adapter);
  s.get(path, async (r) => {
    // A short retry: a dropped browser is back (and caught up) within a second.
    const es = r.response.sse({ retry: 1000 });
    await ticker.channel.subscribe(es);
  });
  return ticker;
}

/**
 * The ticker's channel and its publisher, without a route: for a route bound another way (the
 * demo describes its ticker with `defineRoute`).
 *
 * @example
 * ```ts
 * const ticker = startTicker(200);
 * s.get('/prices', (r) => ticker.channel.subscribe(r.response.sse()));
 * ```
 */
export function startTicker(intervalMs = 200, adapter?: ChannelAdapter): Ticker {
  // Five minutes of ticks: a laptop waking from sleep later than that gets a reset, not a flood.
  const channel = new Channel({ name: 'ticker', history: { count: 1500, maxAge: 5 * 60_000 }, adapter });
  let price = 100;
  let publishing = false;
  const timer = setInterval(() => {
    // Not open yet (a Redis adapter still connecting): nothing to count from. Nor while the last
    // publish is still on its way to Redis: `lastId` moves when it lands, and a tick counted from
    // the old id would repeat its seq on a slow round trip.
    if (channel.lastId === '' || publishing) return;
    price = Math.max(1, price * (1 + (Math.random() - 0.5) * 0.004));
    // Counted from the channel's newest id, so a restarted process whose history lives in Redis goes on
    // where the last one stopped instead of starting again at 1.
    const seq = (parseId(channel.lastId)?.[1] ?? 0) + 1;
    const tick: Tick = { symbol: 'SLC', price: Math.round(price * 100) / 100, t: Date.now(), seq };
    // With Redis, a publish while it is away rejects; the next tick tries again.
    publishing = true;
    Promise.resolve(channel.publish({ event: 'tick', data: tick }))
      .catch(() => {})
      .finally(() => {
        publishing = false;
      });
  }, intervalMs);
  // The publisher alone should not keep a process alive; the server does that.
  timer.unref();
  return {
    channel,
    stop() {
      clearInterval(timer);
      void channel.close();
    },
  };
}

const PAGE = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>sluice ticker</title>
<style>
  body { font: 16px system-ui, sans-serif; margin: 3rem auto; max-width: 32rem; color: #222; }
  .price { font-size: 3.5rem; font-variant-numeric: tabular-nums; }
  .up { color: #0a7d32; } .down { color: #c62828; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: .25rem 1rem; color: #555; }
</style>
<h1>SLC <span id="state">connecting…</span></h1>
<div class="price" id="price">–</div>
<dl>
  <dt>ticks</dt><dd id="count">0</dd>
  <dt>last id</dt><dd id="id">–</dd>
  <dt>gaps / duplicates</dt><dd id="gaps">0 / 0</dd>
  <dt>resets</dt><dd id="resets">0</dd>
</dl>
<script type="module">
  const $ = (id) => document.getElementById(id);
  let last = null, count = 0, gaps = 0, dups = 0, resets = 0, prev = null;
  const es = new EventSource('ticker');
  es.onopen = () => { $('state').textContent = 'live'; };
  es.onerror = () => { $('state').textContent = 'reconnecting…'; };
  es.addEventListener('reset', (e) => {
    // The server could not replay what we missed: start counting afresh.
    resets++; last = null; $('resets').textContent = resets + ' (' + JSON.parse(e.data).reason + ')';
  });
  es.addEventListener('tick', (e) => {
    const t = JSON.parse(e.data);
    if (last !== null && t.seq <= last) dups++;
    else if (last !== null && t.seq > last + 1) gaps++;
    last = Math.max(last ?? 0, t.seq);
    const el = $('price');
    el.textContent = t.price.toFixed(2);
    el.className = 'price ' + (prev === null || t.price >= prev ? 'up' : 'down');
    prev = t.price;
    $('count').textContent = ++count;
    $('id').textContent = e.lastEventId;
    $('gaps').textContent = gaps + ' / ' + dups;
  });
</script>
</html>
`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = server();
  const ticker = mountTicker(s, '/ticker');
  s.get('/', (r) => {
    r.response.header.set('Content-Type', 'text/html; charset=utf-8');
    r.response.write(PAGE);
  });
  s.setPort(Number(process.env.PORT ?? 8999));
  await s.run();
  ticker.stop();
}
