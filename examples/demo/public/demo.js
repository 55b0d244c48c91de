import { startChat } from './chat.js';
import { startCounter, startJsonStream } from './feeds.js';
import { startTicker } from './ticker.js';

// Exposed for the browser test: the raw record of what arrived, so it can check replay for gaps and
// duplicates itself rather than trust the page's own counters.
const exposed = { tickerSeqs: /** @type {number[]} */ ([]) };
window.__demo = exposed;

// Each panel starts on its own: one failing (say, a renamed element) must not keep the others dark.
for (const start of [startCounter, startJsonStream, () => startTicker(exposed), startChat]) {
  try {
    start();
  } catch (err) {
    console.error(err);
  }
}
