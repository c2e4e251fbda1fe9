/**
 * The form of a request path that an edge cache keyed on the raw path would store once, where a
 * bot can make it store many: most origins (nginx with its default `merge_slashes on`, every
 * framework router that decodes the path) serve all these variants of one page the same.
 *
 * - percent-encoded unreserved characters are decoded (`/a%62c` → `/abc`; RFC 3986 §2.3 and
 *   §6.2.2.2: `ALPHA / DIGIT / - . _ ~` encoded or not are the same URI);
 * - runs of slashes are one slash (`//abc` → `/abc`; not RFC 3986, what nginx and most servers do);
 * - dot segments are removed (`/./abc`, `/x/../abc` → `/abc`; §5.2.4 remove_dot_segments, after
 *   the decoding, as §6.2.2 orders them: `/%2e%2e/abc` is `/../abc`, then `/abc`).
 *
 * Not changed: reserved characters' escapes (`%2F` is not a slash: decoding it changes which
 * resource is named, §2.2), any other escape (`%20`, UTF-8 bytes) and the case of its hex digits
 * (§6.2.2.1 calls `%c3` and `%C3` equal, but WordPress writes its non-Latin slugs' links in lower
 * case: upper-casing made every request for such a page a variant, its content untracked), an
 * escape that is not one (`%zz`, `%4`), letter case (paths are case-sensitive), a path that does
 * not start with `/` (an empty path, `*`, an absolute URI: no origin-form path to normalise).
 *
 * Returns `path` itself (the same string) when nothing changes: the common case costs one pass
 * over its characters (a compare or two each) and no allocation. (Three `indexOf` scans for `%`,
 * `//` and `/.` measured slower than such a loop on the benchmark log's paths, ~13 characters:
 * each call has its own setup.)
 */
export function normalizePath(path: string): string {
  if (path.charCodeAt(0) !== SLASH || !needsNormalizing(path)) return path;
  const segments = decodeUnreserved(path).split('/');
  // segments[0] is the '' before the leading slash.
  const kept: string[] = [];
  let trailingSlash = false;
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '' || segment === '.') {
      // An empty segment is a doubled slash (or the path's final slash); '.' is this directory.
      trailingSlash = last;
    } else if (segment === '..') {
      kept.pop();
      trailingSlash = last;
    } else {
      kept.push(segment);
      trailingSlash = false;
    }
  }
  const normalized = `/${kept.join('/')}${trailingSlash && kept.length > 0 ? '/' : ''}`;
  // needsNormalizing said it changes; the same text would still be handed back as the original.
  return normalized === path ? path : normalized;
}

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;

/** Whether normalizePath changes `path` (a `/` path): the precise test behind the quick one. */
function needsNormalizing(path: string): boolean {
  const n = path.length;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c === PERCENT) {
      const high = hexValue(path.charCodeAt(i + 1));
      const low = hexValue(path.charCodeAt(i + 2));
      if (high < 0 || low < 0) continue;
      if (isUnreserved(high * 16 + low)) return true;
      i += 2;
    } else if (c === SLASH) {
      const next = path.charCodeAt(i + 1);
      if (next === SLASH) return true;
      if (next === DOT) {
        // `/.` or `/..` as a whole segment (not `/.env`, `/.well-known`, `/...`).
        if (i + 2 === n || path.charCodeAt(i + 2) === SLASH) return true;
        if (path.charCodeAt(i + 2) === DOT && (i + 3 === n || path.charCodeAt(i + 3) === SLASH)) return true;
      }
    }
  }
  return false;
}

/** Decodes escapes of unreserved characters; the others stay as written. */
function decodeUnreserved(path: string): string {
  let out = '';
  let from = 0;
  for (let i = path.indexOf('%'); i >= 0 && i < path.length; i = path.indexOf('%', i + 1)) {
    const high = hexValue(path.charCodeAt(i + 1));
    const low = hexValue(path.charCodeAt(i + 2));
    if (high < 0 || low < 0) continue;
    const code = high * 16 + low;
    if (!isUnreserved(code)) continue;
    out += path.slice(from, i) + String.fromCharCode(code);
    from = i + 3;
    i += 2;
  }
  return from === 0 ? path : out + path.slice(from);
}

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d ||
    c === DOT ||
    c === 0x5f ||
    c === 0x7e
  );
}

/** 0–15 for a hex digit, -1 otherwise (NaN past the end included). */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}
