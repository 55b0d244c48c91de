import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidArgumentError, type TrustProxy, type TrustProxyOptions } from '../src/index.ts';
import { send } from './helpers/http-client.ts';
import { startServer, type TestServer } from './helpers/server.ts';

// r.ip, r.protocol and r.host over real connections from 127.0.0.1, with proxy headers as a client
// (spoofing) or a chain of proxies would send them. The server plays the app behind the last proxy.

let ts: TestServer;

before(async () => {
  ts = await startServer((s) => {
    s.get('/who', (r) => ({ ip: r.ip, protocol: r.protocol, host: r.host ?? null }));
  });
});

after(() => ts.close());

async function who(
  trust: TrustProxy,
  headers: Record<string, string>,
  options?: TrustProxyOptions,
): Promise<{ ip: string; protocol: string; host: string | null }> {
  ts.server.setTrustProxy(trust, options);
  const res = await send(`${ts.url}/who`, { headers: { Host: 'app.internal:8080', ...headers } });
  assert.equal(res.status, 200, res.text);
  return JSON.parse(res.text);
}

const SPOOF = {
  'X-Forwarded-For': '203.0.113.9',
  'X-Forwarded-Proto': 'https',
  'X-Forwarded-Host': 'bank.example',
  Forwarded: 'for=203.0.113.9;proto=https;host=bank.example',
};

describe('trusting nobody (the default)', () => {
  test('the socket and Host are believed; every proxy header a client sends is ignored', async () => {
    assert.deepEqual(await who(false, SPOOF), {
      ip: '127.0.0.1',
      protocol: 'http',
      host: 'app.internal:8080',
    });
    assert.deepEqual(await who(0, SPOOF), { ip: '127.0.0.1', protocol: 'http', host: 'app.internal:8080' });
  });
});

describe('X-Forwarded-*', () => {
  test('one trusted proxy: the client is the address it appended, whatever the client put before it', async () => {
    const got = await who('loopback', {
      'X-Forwarded-For': '6.6.6.6, 198.51.100.7',
      'X-Forwarded-Proto': 'http, https',
      'X-Forwarded-Host': 'evil.example, shop.example',
    });
    assert.deepEqual(got, { ip: '198.51.100.7', protocol: 'https', host: 'shop.example' });
  });

  test('hops: with two trusted, the walk stops at the third address from the server', async () => {
    const headers = { 'X-Forwarded-For': '6.6.6.6, 198.51.100.7, 10.0.0.2', 'X-Forwarded-Proto': 'https' };
    assert.equal((await who(2, headers)).ip, '198.51.100.7');
    assert.equal((await who(1, headers)).ip, '10.0.0.2');
    assert.equal((await who(true, headers)).ip, '6.6.6.6', 'true trusts every hop');
  });

  test('CIDR lists: trusted ranges are skipped right to left, the first untrusted address is the client', async () => {
    const headers = { 'X-Forwarded-For': '6.6.6.6, 198.51.100.7, 10.1.2.3, 10.9.9.9' };
    assert.equal((await who(['127.0.0.1', '10.0.0.0/8'], headers)).ip, '198.51.100.7');
    assert.equal((await who('127.0.0.1, 10.0.0.0/8', headers)).ip, '198.51.100.7', 'comma-separated string');
    assert.equal((await who(['10.0.0.0/8'], headers)).ip, '127.0.0.1', 'the socket itself is not trusted');
  });

  test('a proxy that overwrote X-Forwarded-Proto (one value for two hops) is still believed', async () => {
    const got = await who(2, { 'X-Forwarded-For': '198.51.100.7, 10.0.0.2', 'X-Forwarded-Proto': 'https' });
    assert.deepEqual(got, { ip: '198.51.100.7', protocol: 'https', host: 'app.internal:8080' });
  });

  test('a trusted peer that sends X-Forwarded-Proto without X-Forwarded-For is believed about the protocol', async () => {
    const got = await who('loopback', { 'X-Forwarded-Proto': 'https' });
    assert.deepEqual(got, { ip: '127.0.0.1', protocol: 'https', host: 'app.internal:8080' });
  });

  test('junk values fall back: an unknown protocol, a host with a path or spaces', async () => {
    const got = await who('loopback', {
      'X-Forwarded-For': '198.51.100.7',
      'X-Forwarded-Proto': 'gopher',
      'X-Forwarded-Host': 'evil.example/reset?x=1',
    });
    assert.deepEqual(got, { ip: '198.51.100.7', protocol: 'http', host: 'app.internal:8080' });
  });

  test('Forwarded is ignored when the proxies write X-Forwarded-*', async () => {
    const got = await who('loopback', {
      Forwarded: 'for=6.6.6.6;proto=https',
      'X-Forwarded-For': '198.51.100.7',
    });
    assert.equal(got.ip, '198.51.100.7');
    assert.equal(got.protocol, 'http');
  });
});

describe('Forwarded (RFC 7239)', () => {
  test('each element keeps its hop together: for, proto and host of the element that named the client', async () => {
    const got = await who(
      'loopback',
      {
        Forwarded:
          'for=6.6.6.6;proto=http;host=evil.example, for="[2001:db8:cafe::17]:4711";proto=https;host="api.example"',
      },
      { header: 'forwarded' },
    );
    assert.deepEqual(got, { ip: '2001:db8:cafe::17', protocol: 'https', host: 'api.example' });
  });

  test('quoted commas and semicolons do not split; IPv4 ports are dropped; case does not matter', async () => {
    const got = await who(
      2,
      { Forwarded: 'For="198.51.100.7:5000";Host="a.example";by="x;y,z", for=10.0.0.2;PROTO=HTTPS' },
      { header: 'forwarded' },
    );
    assert.deepEqual(got, { ip: '198.51.100.7', protocol: 'http', host: 'a.example' });
  });

  test('X-Forwarded-For is ignored when the proxies write Forwarded', async () => {
    const got = await who(
      'loopback',
      { 'X-Forwarded-For': '6.6.6.6', Forwarded: 'for=198.51.100.7' },
      { header: 'forwarded' },
    );
    assert.equal(got.ip, '198.51.100.7');
  });
});

describe('trust functions and bad settings', () => {
  test('a function is asked per hop with its index', async () => {
    const asked: [string, number][] = [];
    const trust = (addr: string, hop: number) => {
      asked.push([addr, hop]);
      return hop === 0 || addr.startsWith('10.');
    };
    const got = await who(trust, { 'X-Forwarded-For': '6.6.6.6, 198.51.100.7, 10.0.0.2' });
    assert.equal(got.ip, '198.51.100.7');
    assert.deepEqual(asked, [
      ['127.0.0.1', 0],
      ['10.0.0.2', 1],
      ['198.51.100.7', 2],
    ]);
  });

  test('a function that throws trusts no further and is logged; the request still succeeds', async () => {
    const got = await who(
      () => {
        throw new Error('lookup failed');
      },
      { 'X-Forwarded-For': '198.51.100.7' },
    );
    assert.equal(got.ip, '127.0.0.1');
    assert.ok(ts.logger.lines.some((l) => l.level === 'error' && String(l.args[0]).includes('trust proxy')));
  });

  test('bad settings are refused with InvalidArgumentError naming the argument', () => {
    const bad: [unknown, unknown, string][] = [
      ['10.0.0.0/99', undefined, 'trust'],
      [['not-an-ip'], undefined, 'trust'],
      [[], undefined, 'trust'],
      [-1, undefined, 'trust'],
      [1.5, undefined, 'trust'],
      [true, { header: 'x-real-ip' }, 'header'],
    ];
    for (const [trust, options, argument] of bad) {
      assert.throws(
        () => ts.server.setTrustProxy(trust as TrustProxy, options as TrustProxyOptions),
        (e: unknown) => e instanceof InvalidArgumentError && e.argument === argument,
        JSON.stringify(trust),
      );
    }
  });
});
