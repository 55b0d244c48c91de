// What the figures were measured on, read at run time.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './children.ts';

export interface Machine {
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  os: string;
  node: string;
  fdLimit: string;
  ephemeralPorts: string;
  somaxconn: string;
  libraries: Record<string, string>;
}

const LIBRARIES = ['better-sse', 'hono', '@hono/node-server', 'fastify', '@fastify/sse', 'autocannon'];

export function describeMachine(): Machine {
  const libraries: Record<string, string> = {};
  for (const name of LIBRARIES) {
    try {
      // Read from node_modules directly: some export maps hide package.json.
      const file = path.join(REPO_ROOT, 'node_modules', name, 'package.json');
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { version: string };
      libraries[name] = pkg.version;
    } catch {
      libraries[name] = 'not installed';
    }
  }
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpus: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    fdLimit: spawnSync('sh', ['-c', 'echo "soft $(ulimit -Sn), hard $(ulimit -Hn)"'], {
      encoding: 'utf8',
    }).stdout.trim(),
    ephemeralPorts: readProc('/proc/sys/net/ipv4/ip_local_port_range').replace(/\s+/, '-'),
    somaxconn: readProc('/proc/sys/net/core/somaxconn'),
    libraries,
  };
}

function readProc(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return 'unknown';
  }
}
