// sluice from the built package (`npm run build`), as users run it: the `sluice` bench server.
// Through tsx, esbuild's keepNames would wrap every closure made per request in a `__name()`
// call that the built package does not have; the other frameworks run as the plain JavaScript
// they ship, so this is the like-for-like sluice.
import { runBenchServer } from './harness.ts';
import { builtSluice, sluiceBench } from './sluice-app.ts';

await runBenchServer(sluiceBench(await builtSluice()));
