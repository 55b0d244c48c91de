// Child side of the IPC link (servers and load clients).

type Handler<Req> = (req: Req) => Promise<object> | object;

/** Answers each request from the runner; the process exits when the runner goes away. */
export function answerRequests<Req extends { op: string }>(handle: Handler<Req>): void {
  process.on('message', (raw: unknown) => {
    const msg = raw as Req & { id: number };
    Promise.resolve()
      .then(() => handle(msg))
      .then(
        (result) => send({ ...result, id: msg.id, ok: true }),
        (err: unknown) => send({ id: msg.id, ok: false, error: errorText(err) }),
      );
  });
  // Messages sent before this listener existed would be lost: tell the runner it may talk now.
  send({ op: 'ready' });
  // An orphan would hold thousands of sockets and a core; never outlive the runner.
  process.on('disconnect', () => process.exit(0));
}

export function send(msg: object): void {
  process.send?.(msg);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
