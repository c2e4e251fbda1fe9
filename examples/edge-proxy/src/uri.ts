/**
 * A request path in the normal form RFC 3986 section 6.2.2 defines, for matching cache policies
 * and keying the cache: percent-encoded unreserved characters decoded (`/h%6Ft` is `/hot`), other
 * escapes in upper case, dot segments removed (`/a/../hot` is `/hot`, section 5.2.4). These forms
 * name the same resource, so without this an attacker defeats a cache-bust policy for `/hot` by
 * spelling it `/h%6Ft?cb=…`. Empty segments (`//hot`) are kept: they are not equivalent.
 */
export function normalisePath(path: string): string {
  if (!path.startsWith('/')) return path;
  let out = path.includes('%')
    ? path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
        const char = String.fromCharCode(Number.parseInt(hex, 16));
        return /[A-Za-z0-9\-._~]/.test(char) ? char : `%${hex.toUpperCase()}`;
      })
    : path;
  if (out.includes('/.')) out = removeDotSegments(out);
  return out;
}

function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(segment);
  }
  return `/${out.join('/')}`;
}
