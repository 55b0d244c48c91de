// The built package the `sluice` bench server runs (bench/servers/sluice-dist.ts): users run
// `dist/`, not the TypeScript sources, so that is what the tables compare.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './children.ts';

const DIST_ENTRY = path.join(REPO_ROOT, 'dist', 'index.js');

/** The newest modification time of the `.ts` files under `dir`. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

/**
 * Builds `dist/` (`npm run build`) when it is missing or older than a file of `src/`: a bench of
 * a stale build would measure code that is no longer there.
 */
export function ensureDist(log: (line: string) => void): void {
  const built = existsSync(DIST_ENTRY) ? statSync(DIST_ENTRY).mtimeMs : 0;
  if (built >= newestSource(path.join(REPO_ROOT, 'src'))) return;
  log(built === 0 ? 'building dist/ (npm run build)' : 'src/ changed since dist/ was built: npm run build');
  execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Whether any of these bench servers runs the built package. */
export function needsDist(servers: readonly { built?: boolean }[]): boolean {
  return servers.some((s) => s.built === true);
}
