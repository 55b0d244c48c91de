/**
 * `sluice/testing`: start an app on a real ephemeral port and talk to it with real clients.
 * Kept out of the core entry point: it uses the SSE client and is meant for test files only.
 *
 * @example
 * ```ts
 * import { testClient } from 'sluice/testing';
 *
 * const t = await testClient(buildApp);
 * assert.equal(await (await t.fetch('/health')).text(), 'ok');
 * await t.close();
 * ```
 */
export { type TestApp, type TestClient, type TestClientOptions, testClient } from './test-client.ts';
