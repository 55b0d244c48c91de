// sluice: the same routes as the other servers, on the public API, from the TypeScript sources.
import * as sluice from '../../src/index.ts';
import { runBenchServer } from './harness.ts';
import { sluiceBench } from './sluice-app.ts';

await runBenchServer(sluiceBench(sluice));
