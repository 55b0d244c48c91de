/**
 * sluice/redis — channels shared by several processes and machines through
 * Redis. Needs the `redis` package (node-redis 6), an optional peer
 * dependency: `npm install redis`. The core package never imports this file,
 * so an app that does not use Redis installs and loads nothing of it.
 */
export { RedisUnavailableError } from '../errors.ts';
export { RedisAdapter, type RedisAdapterOptions } from './redis-adapter.ts';
export {
  type RedisSessionClient,
  RedisSessionStore,
  type RedisSessionStoreOptions,
} from './redis-session-store.ts';
