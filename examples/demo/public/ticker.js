import { PriceChart } from './chart.js';
import { byId, setBadge } from './dom.js';

/**
 * Follows GET /ticker with a native EventSource, because the point of this panel is to show what the browser
 * does on its own: reconnect after a drop and send `Last-Event-ID`, so the server can replay what was missed.
 *
 * @param {{ tickerSeqs: number[] }} exposed  receives every seq as it arrives (duplicates and all), so a test
 *   can check the replay itself instead of trusting the counters below
 */
export function startTicker(exposed) {
  const el = {
    status: byId('ticker-status'),
    price: byId('ticker-price'),
    symbol: byId('ticker-symbol'),
    lastId: byId('ticker-last-id'),
    events: byId('ticker-events'),
    reconnects: byId('ticker-reconnects'),
    replayed: byId('ticker-replayed'),
    resets: byId('ticker-resets'),
    gaps: byId('ticker-gaps'),
    duplicates: byId('ticker-duplicates'),
    note: byId('ticker-note'),
    reconnect: byId('ticker-reconnect'),
  };
  const chart = new PriceChart(/** @type {HTMLCanvasElement} */ (byId('ticker-chart')), 200);

  const stats = { events: 0, reconnects: 0, replayed: 0, replayedTotal: 0, resets: 0, gaps: 0, missing: 0 };
  let duplicates = 0;
  let opens = 0;
  let everOpened = false;
  /** @type {number | null} */
  let lastSeq = null;

  // How replayed events are told apart from live ones.
  //
  // An event is "replayed" when it could not have reached us live on the current connection: had it been
  // pushed the moment it was published (server time `t`), it would have arrived before this connection
  // opened. A live event arrives at `t + offset`, where `offset` is the server-to-browser clock skew plus
  // network delay; we estimate it as the smallest `receivedAt - t` seen on live events, so the skew cancels
  // out and the rule holds even when the two clocks disagree by seconds. A server replays history before
  // it sends anything live, so replayed events form a prefix of the reconnected stream: the first live
  // event ends the window, and nothing later on that connection is counted. Comparing against the open
  // time (rather than "arrived within N ms of reopening") doesn't depend on how fast the backlog is sent.
  let offset = Number.POSITIVE_INFINITY;
  let openedAt = 0;
  let inReplayWindow = false;

  /** @type {EventSource | null} */
  let source = null;

  function connect() {
    source?.close();
    // A new EventSource cannot carry Last-Event-ID, so a manual reconnect starts a fresh session: what was
    // missed meanwhile is lost knowingly, and the seq baseline restarts instead of being counted as a gap.
    lastSeq = null;
    opens = 0;
    el.reconnect.hidden = true;
    setBadge(el.status, 'connecting');

    const es = new EventSource('/ticker');
    source = es;

    es.onopen = () => {
      opens += 1;
      openedAt = Date.now();
      // Only a reopen of the same EventSource sends Last-Event-ID, so only that can bring a replay; a manual
      // reconnect still counts as a reconnect, it just has nothing to catch up on.
      inReplayWindow = opens > 1;
      if (everOpened) {
        stats.reconnects += 1;
        stats.replayed = 0;
      }
      everOpened = true;
      setBadge(el.status, 'open');
      render();
    };

    es.onerror = (e) => {
      // `event: error` sent by the server arrives here as a MessageEvent: it is data, not a dropped
      // connection.
      if (e instanceof MessageEvent) {
        showNote(`server error: ${e.data}`);
        return;
      }
      if (es.readyState === EventSource.CLOSED) {
        // The browser gives up for good on an HTTP error or a non-SSE response; only a new EventSource helps.
        setBadge(el.status, 'closed');
        el.reconnect.hidden = false;
      } else {
        setBadge(el.status, opens > 0 ? 'reconnecting' : 'connecting');
      }
    };

    es.addEventListener('tick', onTick);
    es.addEventListener('reset', (e) => {
      stats.resets += 1;
      // The server has told us the missed events are gone, so the jump in seq that follows is declared, not a
      // silent gap: "gaps detected" counts only losses nobody owned up to.
      lastSeq = null;
      inReplayWindow = false;
      let reason = e.data;
      try {
        reason = JSON.parse(e.data).reason ?? reason;
      } catch {}
      showNote(`reset: ${reason}`);
      render();
    });
  }

  /** @param {MessageEvent} e */
  function onTick(e) {
    const receivedAt = Date.now();
    /** @type {{ symbol?: string, price: number, t: number, seq?: number }} */
    let tick;
    try {
      tick = JSON.parse(e.data);
    } catch {
      showNote(`unreadable tick: ${e.data}`);
      return;
    }
    stats.events += 1;
    el.lastId.textContent = e.lastEventId || '–';

    let replayed = false;
    if (inReplayWindow) {
      const estimatedLiveArrival = tick.t + (Number.isFinite(offset) ? offset : 0);
      if (estimatedLiveArrival < openedAt) {
        replayed = true;
        stats.replayed += 1;
        stats.replayedTotal += 1;
      } else {
        inReplayWindow = false;
      }
    }
    if (!replayed) offset = Math.min(offset, receivedAt - tick.t);

    if (Number.isInteger(tick.seq)) {
      const seq = /** @type {number} */ (tick.seq);
      exposed.tickerSeqs.push(seq);
      if (lastSeq !== null && seq <= lastSeq) {
        // Already seen: a replay that overlapped; keep it off the chart so the line is not drawn twice.
        duplicates += 1;
        el.duplicates.textContent = String(duplicates);
        render();
        return;
      }
      if (lastSeq !== null && seq > lastSeq + 1) {
        stats.gaps += 1;
        stats.missing += seq - lastSeq - 1;
      }
      lastSeq = seq;
    }

    if (tick.symbol) el.symbol.textContent = tick.symbol;
    el.price.textContent = Number(tick.price).toFixed(2);
    chart.push(Number(tick.price), replayed);
    render();
  }

  function render() {
    el.events.textContent = String(stats.events);
    el.reconnects.textContent = String(stats.reconnects);
    el.replayed.textContent = String(stats.replayed);
    el.replayed.dataset.total = String(stats.replayedTotal);
    el.resets.textContent = String(stats.resets);
    el.gaps.textContent = String(stats.gaps);
    el.gaps.dataset.missing = String(stats.missing);
  }

  /** @param {string} text */
  function showNote(text) {
    el.note.textContent = `${new Date().toLocaleTimeString()} — ${text}`;
    el.note.hidden = false;
  }

  el.reconnect.addEventListener('click', connect);
  connect();
}
