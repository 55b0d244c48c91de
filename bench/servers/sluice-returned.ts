// sluice, hello-JSON as a returned value through a plain route: the baseline of sluice-validated
// (issue #11: a validated route within 10% of the same route unvalidated).
import { server, silentLogger } from '../../src/index.ts';
import { runBenchServer } from './harness.ts';

await runBenchServer(async () => {
  const s = server('bench');
  s.setLogger(silentLogger).setAddress('127.0.0.1').setPort(0);
  s.get('/hello', () => ({ hello: 'world' }));
  await s.start();
  const port = s.getListenedPort();
  return { listen: async () => port, sseUnavailable: 'hello-JSON only' };
});
