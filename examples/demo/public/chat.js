import { connect } from './client/index.js';
import { byId, setBadge } from './dom.js';

/**
 * The chat answer is a POST, which EventSource cannot make, so the stream is read with sluice's own client
 * (`sluice/client`, served as built). A POST is not re-sent on its own: when the stream ends, the loop ends.
 * Stop aborts the request: the server sees the client leave and stops generating, which is the behaviour
 * this panel exists to show.
 */
export function startChat() {
  const form = /** @type {HTMLFormElement} */ (byId('chat-form'));
  const input = /** @type {HTMLTextAreaElement} */ (byId('chat-input'));
  const send = /** @type {HTMLButtonElement} */ (byId('chat-send'));
  const stop = /** @type {HTMLButtonElement} */ (byId('chat-stop'));
  const output = byId('chat-output');
  const tokensEl = byId('chat-tokens');
  const errorEl = byId('chat-error');
  const state = byId('chat-state');

  /** @type {AbortController | null} */
  let controller = null;

  /** @param {'idle' | 'streaming' | 'done' | 'stopped' | 'error'} next */
  function setState(next) {
    setBadge(state, next);
    output.dataset.state = next;
    const busy = next === 'streaming';
    send.disabled = busy;
    stop.disabled = !busy;
  }

  /** @param {string} message */
  function fail(message) {
    errorEl.textContent = message;
    errorEl.hidden = false;
    setState('error');
  }

  async function ask() {
    const prompt = input.value.trim();
    if (!prompt || controller) return;
    const abort = new AbortController();
    controller = abort;

    // Appending to one text node avoids re-parsing the whole answer on every token.
    const answer = document.createTextNode('');
    output.replaceChildren(answer);
    errorEl.hidden = true;
    let tokens = 0;
    tokensEl.textContent = '0';
    setState('streaming');

    // The UI settles exactly once, on whichever comes first: `done`, `error`, Stop, a failure, or the end of
    // the body. Later news about this request (a late token, the drain below) must not overwrite it.
    let settled = false;
    /** @param {() => void} apply */
    const settle = (apply) => {
      if (settled) return;
      settled = true;
      if (controller === abort) controller = null;
      apply();
    };

    // The server's own words for a refused request (sluice's envelope), not just the status.
    let refusal = '';
    const client = connect('/chat', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt }),
      signal: abort.signal,
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        if (!response.ok) refusal = await describeFailure(response.clone());
        return response;
      },
    });

    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let hangUp;
    try {
      for await (const event of client) {
        if (settled) continue;
        const payload = parseJson(event.data);
        if (event.type === 'token') {
          const pinned = isScrolledToBottom(output);
          answer.appendData(String(payload?.text ?? ''));
          tokens += 1;
          tokensEl.textContent = String(tokens);
          // Follow the answer only if the reader hasn't scrolled up to re-read something.
          if (pinned) output.scrollTop = output.scrollHeight;
        } else if (event.type === 'done') {
          // The server's count is the authority; it also covers tokens merged into one event.
          if (Number.isInteger(payload?.tokens)) tokensEl.textContent = String(payload.tokens);
          settle(() => setState('done'));
        } else if (event.type === 'error') {
          settle(() => fail(String(payload?.message ?? event.data)));
        }
        // Nothing is expected after `done` or `error`. Let the server end the response itself, so neither
        // side records an abort, but don't hold the connection if it never does.
        if (settled) hangUp = setTimeout(() => client.close(), 1000);
      }
      settle(() => {
        if (abort.signal.aborted) setState('stopped');
        else fail('The stream ended before the answer was complete.');
      });
    } catch (err) {
      // The client gives up on the first failure of a POST: a status, a wrong content type, the network.
      settle(() => fail(refusal || (err instanceof Error ? err.message : String(err))));
    } finally {
      clearTimeout(hangUp);
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ask();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      ask();
    }
  });
  stop.addEventListener('click', () => controller?.abort());
  setState('idle');
}

/** @param {string} text */
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** @param {HTMLElement} el */
function isScrolledToBottom(el) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 8;
}

/**
 * Explains a refused request, preferring the server's own message (sluice's envelope
 * `{ code, message, data }`) over a bare status line.
 * @param {Response} response
 */
async function describeFailure(response) {
  const text = await response.text().catch(() => '');
  const message = parseJson(text)?.message || text.slice(0, 200);
  return `HTTP ${response.status}${message ? `: ${message}` : ''}`;
}
