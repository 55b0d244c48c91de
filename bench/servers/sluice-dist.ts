// sluice from the built package (`npm run build`), as users run it. The bench runs every server
// through tsx, which compiles sluice's TypeScript with esbuild's keepNames: each function made per
// request is wrapped in a `__name()` call that the built package does not have. The other
// frameworks run as the plain JavaScript they ship, so this is the like-for-like sluice.
import { existsSync } from 'node:fs';
import type * as Sluice from '../../src/index.ts';
import { runBenchServer } from './harness.ts';
import { sluiceBench } from './sluice-app.ts';

const DIST = new URL('../../dist/index.js', import.meta.url);
if (!existsSync(DIST)) throw new Error('sluice-dist needs the built package: run `npm run build` first');
const sluice = (await import(DIST.href)) as typeof Sluice;
await runBenchServer(sluiceBench(sluice));
