import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors.ts';
import type { Handler } from '../request/request-middleware.ts';
import type { RouteGroup } from '../router/router.ts';
import { HIDDEN, type OpenApiDocument, type OpenApiOptions, openApiDocument } from './openapi-document.ts';

/**
 * Options of {@link serveOpenApi}.
 *
 * @example
 * ```ts
 * serveOpenApi(s, { path: '/api.json', docsPath: '/swagger', version: '3.2', info: { title: 'Shop', version: '1' } });
 * ```
 */
export interface ServeOpenApiOptions extends OpenApiOptions {
  /** Where the document is served. Default `/api.json`. */
  path?: string;
  /** Where the docs page is served; none when omitted. */
  docsPath?: string;
}

/**
 * Serves the server's OpenAPI document (GoFrame's `s.SetOpenApiPath`) and, with `docsPath`, a
 * docs page that renders it (`s.SetSwaggerPath`). The document is built on its first request,
 * when every route is bound, and again only when routes were added since.
 *
 * The page is sluice's own, small and self-contained: Swagger UI and Scalar load from a CDN or
 * weigh megabytes as a dependency, and a docs page must work on a machine without network. It
 * lists every operation with its parameters, body and answers, and a streaming route's events
 * each with its data schema.
 *
 * @example
 * ```ts
 * serveOpenApi(s, { path: '/api.json', docsPath: '/swagger', info: { title: 'Ticker', version: '1.0.0' } });
 * // GET /api.json → the document; GET /swagger → the page
 * ```
 */
export function serveOpenApi(s: RouteGroup, options: ServeOpenApiOptions = {}): void {
  const path = options.path ?? '/api.json';
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new InvalidArgumentError('path', 'must be a path starting with "/", such as "/api.json"', path);
  }
  // Built now, so a bad option fails at the call and not on the first request.
  openApiDocument(s, options);
  s.router.add(`GET:${path}`, documentHandler(s, options), s.ancestry, s.prefix, HIDDEN);
  const docsPath = options.docsPath;
  if (docsPath === undefined) return;
  if (typeof docsPath !== 'string' || !docsPath.startsWith('/')) {
    throw new InvalidArgumentError(
      'docsPath',
      'must be a path starting with "/", such as "/swagger"',
      docsPath,
    );
  }
  s.router.add(`GET:${docsPath}`, docsPageHandler(joinUrl(s.prefix, path)), s.ancestry, s.prefix, HIDDEN);
}

/**
 * @internal The handler that answers a group's document: built on its first request, when every
 * route is bound, and again only when routes were added since. Shared by `serveOpenApi` and the
 * server's `setOpenApiPath`.
 */
export function documentHandler(s: RouteGroup, options: OpenApiOptions): Handler {
  let cached: { routes: number; json: string } | undefined;
  return (r) => {
    const routes = s.router.list().length;
    if (cached === undefined || cached.routes !== routes) {
      const doc: OpenApiDocument = openApiDocument(s, options);
      cached = { routes, json: JSON.stringify(doc) };
    }
    r.response.header.set('Content-Type', 'application/json; charset=utf-8');
    r.response.write(cached.json);
  };
}

/** @internal The handler of the docs page that renders the document at `specUrl`. */
export function docsPageHandler(specUrl: string): Handler {
  const page = docsPage(specUrl);
  return (r) => {
    r.response.header.set('Content-Type', 'text/html; charset=utf-8');
    r.response.header.set('Content-Security-Policy', PAGE_POLICY);
    r.response.write(page);
  };
}

function joinUrl(prefix: string, path: string): string {
  return prefix === '' ? path : `${prefix.replace(/\/$/, '')}${path}`;
}

// Everything the page does is in this one script; text reaches the page through textContent only,
// so a description in the document can never become markup.
const SCRIPT = `
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
const pre = (value) => el('pre', 'schema', JSON.stringify(value, null, 2));
async function main() {
  const root = document.getElementById('ops');
  const doc = await (await fetch(document.body.dataset.spec)).json();
  document.title = doc.info.title + ' ' + doc.info.version;
  document.getElementById('title').textContent = doc.info.title + ' ' + doc.info.version + ' (OpenAPI ' + doc.openapi + ')';
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const sec = el('details', 'op'); sec.dataset.method = method; sec.dataset.path = path;
      const sum = el('summary'); sum.append(el('span', 'method ' + method, method.toUpperCase()), el('code', 'path', path), el('span', 'summary', op.summary || ''));
      sec.append(sum);
      if (op.description) sec.append(el('p', 'description', op.description));
      if (op.tags) sec.append(el('p', 'tags', 'Tags: ' + op.tags.join(', ')));
      for (const p of op.parameters || []) { const d = el('div', 'param'); d.append(el('b', '', p.name), el('span', '', ' in ' + p.in + (p.required ? ', required' : ''))); d.append(pre(p.schema)); sec.append(d); }
      const body = op.requestBody && op.requestBody.content['application/json'];
      if (body) { sec.append(el('h4', '', 'Body')); sec.append(pre(body.schema)); }
      for (const [status, res] of Object.entries(op.responses || {})) {
        sec.append(el('h4', '', 'Answer ' + status + ': ' + res.description));
        for (const [type, media] of Object.entries(res.content || {})) {
          const items = media.itemSchema || media['x-itemSchema'];
          if (type === 'text/event-stream' && items) {
            const list = el('ul', 'events');
            for (const v of items.oneOf || []) { const li = el('li', 'event'); li.dataset.event = v.properties.event.const; const data = v.properties.data; li.append(el('b', '', 'event: ' + v.properties.event.const)); li.append(pre(data.contentSchema || data)); list.append(li); }
            sec.append(el('p', '', type + ', events:'), list);
          } else { sec.append(el('p', '', type)); if (media.schema) sec.append(pre(media.schema)); }
        }
      }
      root.append(sec);
    }
  }
  document.body.dataset.ready = 'true';
}
main().catch((e) => { document.getElementById('ops').textContent = 'Could not load the document: ' + e.message; });
`;

const STYLE = `body{font:15px system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
.op{border:1px solid #ccc;border-radius:6px;margin:.5rem 0;padding:.4rem .8rem}
.method{display:inline-block;min-width:4.5rem;font-weight:bold;text-transform:uppercase}
.get{color:#0a6}.post{color:#06c}.put{color:#a60}.delete{color:#c22}.patch{color:#808}
.path{margin-right:1rem}.summary{color:#555}.schema{background:#f6f6f6;padding:.4rem;overflow:auto}`;

const PAGE_POLICY = `default-src 'none'; connect-src 'self'; script-src 'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

function docsPage(specUrl: string): string {
  const attr = specUrl.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>API</title><style>${STYLE}</style></head>
<body data-spec="${attr}"><h1 id="title">API</h1><main id="ops"></main><script>${SCRIPT}</script></body></html>
`;
}
