import { byId, setBadge } from './dom.js';

// Both feeds are finite (100 events) but EventSource treats the end of a response as a dropped connection
// and reconnects, which would replay the whole feed forever. So the client closes once it has seen the last
// event it was promised.
const FEED_LENGTH = 100;
const LAST_INDEX = FEED_LENGTH - 1;
const STREAM_LIST_SIZE = 8;

/**
 * Wires one finite EventSource feed to a restart button; `onMessage` returns true when the feed is complete.
 * @param {{ url: string, badge: HTMLElement, restart: HTMLElement, reset: () => void,
 *           onMessage: (e: MessageEvent) => boolean }} feed
 */
function runFeed({ url, badge, restart, reset, onMessage }) {
  /** @type {EventSource | null} */
  let source = null;

  function connect() {
    source?.close();
    reset();
    setBadge(badge, 'connecting');
    const es = new EventSource(url);
    source = es;
    es.onopen = () => setBadge(badge, 'streaming');
    es.onmessage = (e) => {
      if (onMessage(e)) {
        es.close();
        setBadge(badge, 'done');
      }
    };
    es.onerror = (e) => {
      // A server may report a failure in-band as `event: error`; EventSource delivers that to onerror too,
      // as a MessageEvent, and it is not a connection problem.
      if (e instanceof MessageEvent) return;
      setBadge(badge, es.readyState === EventSource.CLOSED ? 'error' : 'reconnecting');
    };
  }

  restart.addEventListener('click', connect);
  connect();
}

export function startCounter() {
  const value = byId('counter-value');
  const progress = /** @type {HTMLProgressElement} */ (byId('counter-progress'));
  const received = byId('counter-received');
  let count = 0;

  runFeed({
    url: '/',
    badge: byId('counter-state'),
    restart: byId('counter-restart'),
    reset() {
      count = 0;
      value.textContent = '–';
      progress.value = 0;
      received.textContent = '0';
    },
    onMessage(e) {
      const n = Number.parseInt(e.data, 10);
      count += 1;
      value.textContent = Number.isNaN(n) ? e.data : String(n);
      // N counts from 0, so event N is the (N+1)th: the bar is full exactly when 99 arrives.
      progress.value = Math.min(n + 1, FEED_LENGTH);
      received.textContent = String(count);
      return n >= LAST_INDEX;
    },
  });
}

export function startJsonStream() {
  const countEl = byId('stream-count');
  const last = byId('stream-last');
  const list = byId('stream-list');
  let count = 0;

  runFeed({
    url: '/stream',
    badge: byId('stream-state'),
    restart: byId('stream-restart'),
    reset() {
      count = 0;
      countEl.textContent = '0';
      last.textContent = '–';
      list.replaceChildren();
    },
    onMessage(e) {
      count += 1;
      countEl.textContent = String(count);
      // Keep the exact wire text so a reader (or a test) can JSON.parse what the server sent.
      last.textContent = e.data;

      const item = document.createElement('li');
      item.value = count;
      let index = Number.NaN;
      try {
        const { Name, Value } = JSON.parse(e.data);
        item.textContent = `${Name} → ${Value}`;
        index = Number.parseInt(/\d+$/.exec(String(Name))?.[0] ?? '', 10);
      } catch {
        item.textContent = e.data;
        item.className = 'error';
      }
      list.prepend(item);
      while (list.childElementCount > STREAM_LIST_SIZE) list.lastElementChild?.remove();

      // The index inside Name ("Name99") is the authority; the count covers a server that changed the
      // message format.
      return index >= LAST_INDEX || count >= FEED_LENGTH;
    },
  });
}
