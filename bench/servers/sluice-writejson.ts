// sluice's hello JSON written with GoFrame's `r.response.writeJson()` instead of a returned
// object, from the built package like the `sluice` server (see sluice-app.ts).
import { runBenchServer } from './harness.ts';
import { builtSluice, sluiceBench } from './sluice-app.ts';

await runBenchServer(sluiceBench(await builtSluice(), { helloWriteJson: true }));
