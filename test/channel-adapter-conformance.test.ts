import { MemoryAdapter } from '../src/index.ts';
import { adapterConformance } from './helpers/adapter-conformance.ts';

// The Redis adapter runs the same suite in redis-adapter.test.ts.
adapterConformance('memory', () => new MemoryAdapter());
