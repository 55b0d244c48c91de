import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on 127.0.0.1, port 0, with a backlog that absorbs a batch of connects. */
export function listenLoopback(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** `n` from `/stream?n=…`, bounded so a typo cannot stream forever. */
export function streamCount(url: string | undefined): number {
  const n = Number(new URL(url ?? '/', 'http://x').searchParams.get('n') ?? '1000');
  return Number.isInteger(n) && n > 0 ? Math.min(n, 10_000_000) : 1000;
}
