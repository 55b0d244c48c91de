// Command-line options of `npm run bench`. Every figure is bounded: counts
// and durations are clamped so a typo cannot start an unbounded run.

export const SUITES = ['sse', 'http', 'route', 'stream'] as const;
export type Suite = (typeof SUITES)[number];

export interface Options {
  clients: number;
  seconds: number;
  reps: number;
  rate: number;
  only: Suite[];
  servers: string[] | undefined;
  smoke: boolean;
  /** Connections opened concurrently while ramping up. */
  batch: number;
  /** Burst cap, in deliveries (events x clients), so a fast server cannot fill memory. */
  maxDeliveries: number;
  httpConnections: number;
  streamEvents: number;
  out: string | undefined;
}

export const USAGE = `Usage: npm run bench -- [options]
  --clients N          SSE clients (default 2000; 10000 is supported)
  --seconds S          length of each measured phase (default 3)
  --reps R             interleaved repetitions (default 3)
  --rate R             events per second in the fixed-rate phase
                       (default 40000 / clients: 20/s at 2000 clients, 4/s at 10000)
  --only LIST          suites: sse,http,route,stream (default all); route is the realistic route
                       (2 middlewares, a path parameter, a JSON POST) of sluice, hono and fastify
  --servers LIST       server names to run (default all): raw-write,raw-socket,sluice,sluice-send,better-sse,hono,fastify;
                       sluice-res-write (the Channel's socket shortcut off), sluice-returned and
                       sluice-validated (hello-JSON without and with schemas), sluice-dist (the
                       built package, as users run it; built when dist/ is missing) only when named
  --http-connections C wrk (or autocannon) connections (default 100)
  --stream-events N    events in the streaming response (default 200000)
  --batch B            connections opened at once (default 250)
  --out DIR            where latest.json and latest.md go (default bench/results,
                       .bench-out/smoke with --smoke)
  --smoke              20 clients, 1 s phases, 1 rep; exit 1 if a started server loses an event`;

const int = (v: string, name: string, min: number, max: number): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`--${name} must be between ${min} and ${max}`);
  return n;
};

export function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    clients: 2000,
    seconds: 3,
    reps: 3,
    rate: 0,
    only: [...SUITES],
    servers: undefined,
    smoke: false,
    batch: 250,
    maxDeliveries: 20_000_000,
    httpConnections: 100,
    streamEvents: 200_000,
    out: undefined,
  };
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--smoke') {
      o.smoke = true;
      continue;
    }
    if (flag === '--help' || flag === '-h') throw new Error(USAGE);
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    const name = flag.replace(/^--/, '');
    given.add(name);
    switch (name) {
      case 'clients':
        o.clients = int(value, name, 1, 15_000);
        break;
      case 'seconds':
        o.seconds = int(value, name, 0.2, 60);
        break;
      case 'reps':
        o.reps = int(value, name, 1, 20);
        break;
      case 'rate':
        o.rate = int(value, name, 1, 10_000);
        break;
      case 'only':
        o.only = value.split(',').map((s) => {
          if (!(SUITES as readonly string[]).includes(s)) throw new Error(`unknown suite '${s}'`);
          return s as Suite;
        });
        break;
      case 'servers':
        o.servers = value.split(',');
        break;
      case 'batch':
        o.batch = int(value, name, 1, 2000);
        break;
      case 'http-connections':
        o.httpConnections = int(value, name, 1, 1000);
        break;
      case 'stream-events':
        o.streamEvents = int(value, name, 1, 5_000_000);
        break;
      case 'out':
        o.out = value;
        break;
      default:
        throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  // About a third of what node:http res.write sustains on a 2-core machine, so
  // the fixed-rate latency is the fan-out itself, not a queue building up.
  if (!given.has('rate')) o.rate = Math.min(1000, Math.max(1, Math.round(40_000 / o.clients)));
  if (o.smoke) {
    // Small enough for npm test (well under 60 s), explicit flags still win.
    if (!given.has('clients')) o.clients = 20;
    if (!given.has('seconds')) o.seconds = 1;
    if (!given.has('reps')) o.reps = 1;
    if (!given.has('rate')) o.rate = 20;
    if (!given.has('http-connections')) o.httpConnections = 10;
    if (!given.has('stream-events')) o.streamEvents = 2000;
    o.maxDeliveries = 200_000;
  }
  return o;
}
