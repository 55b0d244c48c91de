// The realistic route of the hello-JSON suite (issue #15, target 3), as every framework serves it:
// `POST /api/users/:id` behind two middlewares scoped to `/api`. The first gives each request an id
// (the client's `X-Request-Id`, else a new one) and sends it back as `X-Request-Id`; the second
// wants `Authorization: Bearer bench-token` and answers 401 `{"error":"unauthorized"}` without it.
// The handler reads the JSON body and answers `{ id, name, requestId }` (400 when `name` is not a
// string). bench/suites/http.ts checks each server against this before it loads it.

/** What the second middleware accepts. */
export const ROUTE_AUTH = 'Bearer bench-token';

/** The body the load generator posts: a small user record, of which `name` is echoed. */
export const ROUTE_BODY =
  '{"name":"Ada Lovelace","email":"ada@example.com","tags":["math","engines"],"age":36}';

let issued = 0;

/** The request's id: the client's when it sent a usable one, else a new one. */
export function requestIdOf(incoming: string | string[] | undefined): string {
  if (typeof incoming === 'string' && incoming.length > 0 && incoming.length <= 64) return incoming;
  issued = (issued + 1) % Number.MAX_SAFE_INTEGER;
  return `req-${issued.toString(36)}`;
}
