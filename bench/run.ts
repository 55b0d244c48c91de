// `npm run bench`: runs the suites, prints the tables, writes
// bench/results/latest.json and latest.md. See BENCHMARKS.md for the method.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from './lib/args.ts';
import { SERVERS } from './lib/catalog.ts';
import { killChildrenOnExit, REPO_ROOT } from './lib/children.ts';
import { ensureDist, needsDist } from './lib/dist.ts';
import { describeMachine } from './lib/machine.ts';
import { failures, markdown, type Results } from './lib/report.ts';
import { runHttp, runRoute } from './suites/http.ts';
import { runSse } from './suites/sse.ts';
import { runStream } from './suites/stream.ts';

killChildrenOnExit();

let options: ReturnType<typeof parseArgs>;
try {
  options = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(2);
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const started = Date.now();
const results: Results = {
  date: new Date().toISOString(),
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  options,
  machine: describeMachine(),
};

// The sluice server runs the built package: built here when missing or older than src/.
const chosen = SERVERS.filter((s) => (options.servers ? options.servers.includes(s.name) : s.optIn !== true));
if (needsDist(chosen)) ensureDist(log);

if (options.only.includes('sse')) results.sse = await runSse(options, log);
if (options.only.includes('http')) results.http = await runHttp(options, log);
if (options.only.includes('route')) results.route = await runRoute(options, log);
if (options.only.includes('stream')) results.stream = await runStream(options, log);

const md = markdown(results);
process.stdout.write(`\n${md}`);
// A smoke run (as in npm test) must not replace the real figures.
const out = path.resolve(REPO_ROOT, options.out ?? (options.smoke ? '.bench-out/smoke' : 'bench/results'));
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(path.join(out, 'latest.md'), md);
log(
  `\nwrote ${path.relative(REPO_ROOT, out)}/latest.{json,md} in ${Math.round((Date.now() - started) / 1000)} s`,
);

const failed = failures(results);
for (const f of failed) log(`FAILED ${f}`);
// Skipped servers are not failures: a server that did not start has no
// figures to be wrong about. One that started and lost an event is.
process.exit(options.smoke && failed.length > 0 ? 1 : 0);
