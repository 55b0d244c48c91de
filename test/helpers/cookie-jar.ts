import { type Reply, send } from './http-client.ts';

/** A browser's cookie store, reduced to what these tests need: names, values and deletions. */
export class Jar {
  readonly cookies = new Map<string, string>();

  /** Takes every Set-Cookie of a reply; an expired one (Expires in 1970, Max-Age=0) deletes. */
  take(reply: { headers: Reply['headers'] }): void {
    for (const line of reply.headers['set-cookie'] ?? []) {
      const [pair = '', ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const gone = attrs.some((a) => /^max-age=0$/i.test(a) || /^expires=.*1970/i.test(a));
      if (gone) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1));
    }
  }

  header(): Record<string, string> {
    if (this.cookies.size === 0) return {};
    return { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
  }

  /** Sends a request with the jar's cookies and keeps what comes back. */
  async send(url: string, options: { method?: string; body?: string } = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...this.header() };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const reply = await send(url, { method: options.method, headers, body: options.body });
    this.take(reply);
    return reply;
  }
}
