import type { AccessLog } from '@edgeguard/schema';

/** RFC 9110 section 5.6.2 `tchar`: the characters a method token may hold. */
function isTokenChar(c: number): boolean {
  if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57)) return true;
  switch (c) {
    case 33: // !
    case 35: // #
    case 36: // $
    case 37: // %
    case 38: // &
    case 39: // '
    case 42: // *
    case 43: // +
    case 45: // -
    case 46: // .
    case 94: // ^
    case 95: // _
    case 96: // `
    case 124: // |
    case 126: // ~
      return true;
    default:
      return false;
  }
}

/** Whether `text[start, end)` holds a control character or U+FFFD: binary noise, not a URI. */
function hasControlCharacter(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 32 || c === 127 || c === 0xfffd) return true;
  }
  return false;
}

/** Host of an authority (`user@Host:port`, `[v6]:port`) as nginx `$host` has it: no port, lower case. */
export function hostOfAuthority(authority: string): string | null {
  let start = authority.lastIndexOf('@') + 1;
  let end = authority.length;
  if (authority.charCodeAt(start) === 91) {
    const close = authority.indexOf(']', start);
    if (close < 0) return null;
    start++;
    end = close;
  } else {
    const colon = authority.indexOf(':', start);
    if (colon >= 0) end = colon;
  }
  if (end <= start) return null;
  return authority.slice(start, end).toLowerCase();
}

/**
 * Sets `path`, `query` (and `host` for an absolute-form target) from a request target:
 * origin form `/p?q`, absolute form `http://host/p?q` (a proxy request), `*` (OPTIONS), or the
 * authority form of CONNECT (`host:443`, kept as the path; its host goes to `host`). Other text
 * (`index.html`, `../x`) is kept as the path as logged, since probes send exactly that.
 * An empty query (`/p?`) is null, per the AccessLog convention of no empty strings.
 */
export function applyRequestTarget(target: string, method: string, record: AccessLog): void {
  let pathStart = 0;
  const c0 = target.charCodeAt(0);
  if (c0 !== 47 && (c0 | 32) === 104) {
    // http:// or https:// (scheme case-insensitive, RFC 3986 3.1)
    const schemeEnd = target.indexOf('://');
    const scheme = schemeEnd > 0 ? target.slice(0, schemeEnd).toLowerCase() : '';
    if (scheme === 'http' || scheme === 'https') {
      const authorityStart = schemeEnd + 3;
      let authorityEnd = authorityStart;
      while (authorityEnd < target.length) {
        const c = target.charCodeAt(authorityEnd);
        if (c === 47 || c === 63 || c === 35) break;
        authorityEnd++;
      }
      const host = hostOfAuthority(target.slice(authorityStart, authorityEnd));
      if (host !== null) record.host = host;
      pathStart = authorityEnd;
    }
  } else if (method === 'CONNECT' && c0 !== 47) {
    const host = hostOfAuthority(target);
    if (host !== null) record.host = host;
    record.path = target;
    record.query = null;
    return;
  }
  const question = target.indexOf('?', pathStart);
  if (question < 0) {
    record.path = pathStart === 0 ? target : pathStart === target.length ? '/' : target.slice(pathStart);
    record.query = null;
  } else {
    record.path = question === pathStart ? '/' : target.slice(pathStart, question);
    record.query = question + 1 < target.length ? target.slice(question + 1) : null;
  }
}

/**
 * A method token as a shared constant string when it is a common one (every record then points
 * at the same string), validated and sliced otherwise; null when it is not a token.
 */
function methodOf(text: string, length: number): string | null {
  const token = text.slice(0, length);
  switch (token) {
    case 'GET':
      return 'GET';
    case 'POST':
      return 'POST';
    case 'HEAD':
      return 'HEAD';
    case 'PUT':
      return 'PUT';
    case 'DELETE':
      return 'DELETE';
    case 'OPTIONS':
      return 'OPTIONS';
    case 'PATCH':
      return 'PATCH';
    case 'CONNECT':
      return 'CONNECT';
  }
  for (let i = 0; i < length; i++) if (!isTokenChar(token.charCodeAt(i))) return null;
  return token;
}

/** `HTTP/` at `at` (compared by char codes: startsWith with a position is slow in V8). */
function isHttpVersionAt(text: string, at: number): boolean {
  return (
    text.charCodeAt(at) === 72 &&
    text.charCodeAt(at + 1) === 84 &&
    text.charCodeAt(at + 2) === 84 &&
    text.charCodeAt(at + 3) === 80 &&
    text.charCodeAt(at + 4) === 47
  );
}

function protocolOf(text: string, start: number): string {
  const protocol = text.slice(start);
  switch (protocol) {
    case 'HTTP/1.0':
      return 'HTTP/1.0';
    case 'HTTP/2.0':
      return 'HTTP/2.0';
    default:
      return protocol;
  }
}

/**
 * Reads `METHOD target PROTOCOL` (or HTTP/0.9's `METHOD target`) into the record. False for
 * `-`, a single word (`HELP`), a method that is not a token, or (when `checkControl`, i.e. the
 * text came out of unescaping) control characters: binary noise such as a TLS handshake sent to
 * the HTTP port. A target with spaces (Apache logs the raw line) is kept whole: the protocol is
 * the last word when it starts with `HTTP/`, any version (`HTTP/1.2` is a probe worth seeing).
 */
export function applyRequestLine(text: string, record: AccessLog, checkControl = true): boolean {
  const firstSpace = text.indexOf(' ');
  if (firstSpace <= 0 || firstSpace + 1 >= text.length) return false;
  const method = methodOf(text, firstSpace);
  if (method === null) return false;
  let targetEnd = text.length;
  let protocol: string | null = null;
  if (text.endsWith(' HTTP/1.1')) {
    protocol = 'HTTP/1.1';
    targetEnd -= 9;
  } else {
    // The protocol is short: look for its space near the end (lastIndexOf is a slow runtime call in V8).
    let lastSpace = text.length - 1;
    const lowest = Math.max(firstSpace, text.length - 16);
    while (lastSpace > lowest && text.charCodeAt(lastSpace) !== 32) lastSpace--;
    if (lastSpace > firstSpace && isHttpVersionAt(text, lastSpace + 1)) {
      protocol = protocolOf(text, lastSpace + 1);
      targetEnd = lastSpace;
    }
  }
  while (targetEnd > firstSpace + 1 && text.charCodeAt(targetEnd - 1) === 32) targetEnd--;
  const targetStart = firstSpace + 1;
  if (targetEnd <= targetStart) return false;
  if (checkControl && hasControlCharacter(text, 0, text.length)) return false;
  record.method = method;
  record.protocol = protocol;
  applyRequestTarget(text.slice(targetStart, targetEnd), method, record);
  return true;
}
