// sluice, the Channel route as README.md writes it: `(r) => channel.subscribe(r.response.sse())`, the
// subscription's promise returned rather than awaited, so the handler keeps no suspended async frame
// of its own. The default `sluice` server awaits it (`async (r) => { await channel.subscribe(...) }`);
// heap-diff of the two prices that `await` per idle connection (issue #15, target 2). From the
// TypeScript sources, as heap-diff's `sluice` server.
import * as sluice from '../../src/index.ts';
import { runBenchServer } from './harness.ts';
import { sluiceBench } from './sluice-app.ts';

await runBenchServer(sluiceBench(sluice, { subscribeReturned: true }));
