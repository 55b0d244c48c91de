/**
 * How a request target becomes `r.url`, `r.path` and the string the router looks up. Both come
 * from one function so they can never disagree: a guard that reads `r.path` sees exactly the
 * path the router matched, whatever form the client sent it in (RFC 9112 §3.2: origin form
 * `/p?q`, absolute form `http://host/p?q` as sent to proxies, asterisk form `*`).
 */

/**
 * The origin form (`/path?query`) of a request target: an absolute-form target is reduced to its
 * path and query, as find-my-way reduces it when it routes. `undefined` when an absolute form is
 * malformed (no host, a fragment, a scheme other than http or https): the router answers those
 * with 400, and sluice keeps the target as sent.
 */
export function originForm(target: string): string | undefined {
  if (target.charCodeAt(0) === SLASH) return target;
  const schemeEnd = target.indexOf('://');
  if (schemeEnd === -1) return target === '*' ? target : undefined;
  const scheme = target.slice(0, schemeEnd).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return undefined;
  const authority = schemeEnd + 3;
  // A fragment is not valid in a request target: refused, so a '/' after it is never a path.
  if (target.indexOf('#', authority) !== -1) return undefined;
  let end = target.length;
  const slash = target.indexOf('/', authority);
  const query = target.indexOf('?', authority);
  if (slash !== -1) end = slash;
  if (query !== -1 && query < end) end = query;
  if (end === authority) return undefined;
  if (end === target.length) return '/';
  return end === query ? `/${target.slice(query)}` : target.slice(end);
}

/**
 * The path of an origin-form target as the router matches it: without the query (or a
 * fragment), one trailing slash dropped (routes ignore it), and percent-decoded the way the
 * router decodes (`decodeURI`): `/%61dmin` is `/admin`, so a guard cannot be walked past by
 * encoding a letter. Sequences for reserved characters (`%2F`, `%3F`, `%23`, ...) and `%25`
 * stay encoded, so a decoded path never gains a separator the router did not see. A malformed
 * escape leaves the path as sent (the router answers 400 for it).
 */
export function pathOf(url: string): string {
  let end = url.indexOf('?');
  if (end === -1) end = url.length;
  const hash = url.indexOf('#');
  if (hash !== -1 && hash < end) end = hash;
  if (end > 1 && url.charCodeAt(end - 1) === SLASH) end--;
  const path = end === url.length ? url : url.slice(0, end);
  return path.indexOf('%') === -1 ? path : decodePath(path);
}

function decodePath(path: string): string {
  try {
    // decodeURI keeps reserved characters encoded but turns %25 into '%', which would let
    // '%2561' become 'a' on a second decode somewhere else: keep it as it came.
    return decodeURI(path.replaceAll('%25', '%2525'));
  } catch {
    return path;
  }
}

const SLASH = 47;
