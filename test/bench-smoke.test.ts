import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The benchmark harness is not run for figures here (too slow and noisy for a test), only kept
// working: its smoke mode runs every server with a few clients for a second and fails on any lost event.
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Row {
  server: string;
  status: string;
  burst?: { result: { delivered: number; clients: number; expectedPerClient: number } };
  allDelivered?: boolean;
}

test('bench --smoke runs every suite, sluice included, and every event reaches every client', {
  timeout: 120_000,
}, async () => {
  const code = await new Promise<number | null>((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', '--smoke'],
      { cwd: ROOT },
      () => {},
    );
    child.on('exit', resolve);
  });
  assert.equal(code, 0, 'bench --smoke exited non-zero');
  const results = JSON.parse(readFileSync(join(ROOT, '.bench-out/smoke/latest.json'), 'utf8'));
  const sse: Row[] = results.sse;
  const sluice = sse.filter((r) => r.server === 'sluice');
  assert.ok(sluice.length > 0 && sluice.every((r) => r.status === 'ok'), 'sluice ran in the SSE suite');
  for (const row of sse.filter((r) => r.status === 'ok')) {
    const b = row.burst?.result;
    assert.ok(b !== undefined, `${row.server} has burst figures`);
    assert.equal(b.delivered, b.clients * b.expectedPerClient, `${row.server} delivered every event`);
  }
  assert.ok(
    results.http.some((r: Row) => r.server === 'sluice' && r.status === 'ok'),
    'sluice ran in the HTTP suite',
  );
  // The realistic route is checked against its spec on each server before it is loaded.
  for (const name of ['sluice', 'hono', 'fastify']) {
    assert.ok(
      results.route.some((r: Row) => r.server === name && r.status === 'ok'),
      `${name} served the realistic route`,
    );
  }
  assert.ok(
    results.stream.some((r: Row) => r.server === 'sluice' && r.status === 'ok'),
    'sluice ran in the stream suite',
  );
});
