// The bench's sluice server on another build of the package, to compare two commits with the
// same harness (`bench/ab.ts --a sluice-other --b sluice`). SLUICE_OTHER_DIST names that build's
// dist/index.js; its imports resolve from its own tree, so give that tree a node_modules:
//   git worktree add /tmp/old <commit> && ln -s "$PWD/node_modules" /tmp/old/node_modules
//   (cd /tmp/old && npm run build)
//   SLUICE_OTHER_DIST=/tmp/old/dist/index.js npx tsx bench/ab.ts --a sluice-other --b sluice --suite sse
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type * as Sluice from '../../src/index.ts';
import { runBenchServer } from './harness.ts';
import { sluiceBench } from './sluice-app.ts';

const dist = process.env.SLUICE_OTHER_DIST;
if (dist === undefined || !existsSync(dist)) {
  process.stderr.write(
    `cannot start: SLUICE_OTHER_DIST must name another build's dist/index.js, not '${dist}'\n`,
  );
  process.exit(2);
}
await runBenchServer(sluiceBench((await import(pathToFileURL(dist).href)) as typeof Sluice));
