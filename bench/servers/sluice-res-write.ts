// sluice with its Channel's socket shortcut off: every frame goes through res.write. Opt-in
// (`--servers raw-write,sluice,sluice-res-write`), to price the shortcut on the Node that runs it.
process.env.BENCH_SLUICE_SOCKET_WRITES = '0';
await import('./sluice.ts');
