// The servers under test and which suites each takes part in. The order is
// the interleaving order within a repetition.

export interface ServerEntry {
  name: string;
  /** How the server appears in tables. */
  label: string;
  file: string;
  sse: boolean;
  http: boolean;
  stream: boolean;
  /** Serves the realistic route of `bench/servers/route-spec.ts` (the `route` suite). */
  route?: boolean;
  /** Runs only when named in `--servers`: a variant for a question, not part of the comparison. */
  optIn?: boolean;
  /** Runs the built package (`dist/`): the runners build it first when it is missing or stale. */
  built?: boolean;
}

const file = (name: string): string => `bench/servers/${name}.ts`;

export const SERVERS: readonly ServerEntry[] = [
  { name: 'raw-write', label: 'node:http', file: file('raw-write'), sse: true, http: true, stream: true },
  {
    name: 'raw-socket',
    label: 'node:http socket (ceiling)',
    file: file('raw-socket'),
    sse: true,
    http: false,
    stream: false,
  },
  {
    // The built package (`dist/`, as users run it; the runner builds it when missing or stale).
    // Every other server runs its framework as the JavaScript it ships.
    name: 'sluice',
    label: 'sluice',
    file: file('sluice-dist'),
    sse: true,
    http: true,
    stream: true,
    route: true,
    built: true,
  },
  {
    // The TypeScript sources through tsx, whose esbuild `keepNames` wraps each closure made per
    // request in a `__name()` call: a question about the bench harness, not about sluice.
    name: 'sluice-src',
    label: 'sluice from src/ (tsx)',
    file: file('sluice'),
    sse: true,
    http: true,
    stream: true,
    route: true,
    optIn: true,
  },
  {
    name: 'sluice-send',
    label: 'sluice es.send() per stream',
    file: file('sluice-send'),
    sse: true,
    http: false,
    stream: false,
  },
  {
    name: 'better-sse',
    label: 'better-sse',
    file: file('better-sse'),
    sse: true,
    http: false,
    stream: false,
  },
  { name: 'hono', label: 'hono', file: file('hono'), sse: true, http: true, stream: false, route: true },
  {
    name: 'fastify',
    label: 'fastify',
    file: file('fastify'),
    sse: true,
    http: true,
    stream: false,
    route: true,
  },
  {
    name: 'sluice-writejson',
    label: 'sluice, hello JSON by writeJson()',
    file: file('sluice-writejson'),
    sse: false,
    http: true,
    stream: false,
    optIn: true,
    built: true,
  },
  {
    name: 'sluice-returned',
    label: 'sluice, returned value (baseline of validated)',
    file: file('sluice-returned'),
    sse: false,
    http: true,
    stream: false,
    optIn: true,
  },
  {
    name: 'sluice-validated',
    label: 'sluice, defineRoute with query + response schemas',
    file: file('sluice-validated'),
    sse: false,
    http: true,
    stream: false,
    optIn: true,
  },
  {
    name: 'sluice-no-await',
    label: 'sluice, Channel route returning the subscription (README form)',
    file: file('sluice-no-await'),
    sse: true,
    http: false,
    stream: false,
    optIn: true,
  },
  {
    // raw-socket writing the bytes sluice writes (an `id:` line, one HTTP/1.1 chunk per event on a
    // keep-alive chunked response): whether the wire format, rather than the server, is the gap.
    name: 'raw-socket-chunked',
    label: 'node:http socket, sluice bytes',
    file: file('raw-socket-chunked'),
    sse: true,
    http: false,
    stream: false,
    optIn: true,
  },
  {
    // Another build of sluice (SLUICE_OTHER_DIST: its dist/index.js), to A/B two commits.
    name: 'sluice-other',
    label: 'sluice, another build',
    file: file('sluice-other'),
    sse: true,
    http: true,
    stream: true,
    route: true,
    optIn: true,
  },
  {
    name: 'sluice-res-write',
    label: 'sluice, socket shortcut off',
    file: file('sluice-res-write'),
    sse: true,
    http: false,
    stream: false,
    optIn: true,
  },
];

/** The reference every ratio is taken against. */
export const BASELINE = 'raw-write';

/** The reference of issue #15's hello-JSON and realistic-route targets. */
export const PEER = 'fastify';

export function pick(
  kind: 'sse' | 'http' | 'route' | 'stream',
  only: readonly string[] | undefined,
): ServerEntry[] {
  return SERVERS.filter((s) => s[kind] === true && (only ? only.includes(s.name) : s.optIn !== true));
}
