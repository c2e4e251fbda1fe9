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
  applyRequestTargetAt(target, 0, target.length, method, record);
}

/** applyRequestTarget of `text[start, end)`: the target read in place in its log line (no
 *  substring of the target itself, only of the path and query the record keeps). */
function applyRequestTargetAt(
  text: string,
  start: number,
  end: number,
  method: string,
  record: AccessLog,
): void {
  let pathStart = start;
  const c0 = text.charCodeAt(start);
  if (c0 !== 47 && (c0 | 32) === 104) {
    // http:// or https:// (scheme case-insensitive, RFC 3986 3.1)
    const schemeEnd = text.indexOf('://', start);
    const scheme =
      schemeEnd > start && schemeEnd + 3 <= end ? text.slice(start, schemeEnd).toLowerCase() : '';
    if (scheme === 'http' || scheme === 'https') {
      const authorityStart = schemeEnd + 3;
      let authorityEnd = authorityStart;
      while (authorityEnd < end) {
        const c = text.charCodeAt(authorityEnd);
        if (c === 47 || c === 63 || c === 35) break;
        authorityEnd++;
      }
      const host = hostOfAuthority(text.slice(authorityStart, authorityEnd));
      if (host !== null) record.host = host;
      pathStart = authorityEnd;
    }
  } else if (method === 'CONNECT' && c0 !== 47) {
    const target = text.slice(start, end);
    const host = hostOfAuthority(target);
    if (host !== null) record.host = host;
    record.path = target;
    record.query = null;
    return;
  }
  let question = text.indexOf('?', pathStart);
  if (question >= end) question = -1;
  if (question < 0) {
    record.path =
      pathStart === start ? text.slice(start, end) : pathStart === end ? '/' : text.slice(pathStart, end);
    record.query = null;
  } else {
    record.path = question === pathStart ? '/' : text.slice(pathStart, question);
    record.query = question + 1 < end ? text.slice(question + 1, end) : null;
  }
}

/**
 * The method token `text[start, end)` as a shared constant string when it is a common one (every
 * record then points at the same string; GET and POST are recognised by their char codes without
 * a substring), validated and sliced otherwise; null when it is not a token.
 */
function methodOf(text: string, start: number, end: number): string | null {
  const c0 = text.charCodeAt(start);
  if (
    end - start === 3 &&
    c0 === 71 &&
    text.charCodeAt(start + 1) === 69 &&
    text.charCodeAt(start + 2) === 84
  ) {
    return 'GET';
  }
  if (
    end - start === 4 &&
    c0 === 80 &&
    text.charCodeAt(start + 1) === 79 &&
    text.charCodeAt(start + 2) === 83 &&
    text.charCodeAt(start + 3) === 84
  ) {
    return 'POST';
  }
  const token = text.slice(start, end);
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
  for (let i = 0; i < token.length; i++) if (!isTokenChar(token.charCodeAt(i))) return null;
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

/**
 * ` HTTP/1.1`, ` HTTP/2.0` or ` HTTP/1.0` at `at` (the protocols of most requests) as its shared
 * constant, else null: one read of each char, no search for the space before the protocol.
 */
function commonProtocolAt(text: string, at: number): string | null {
  if (text.charCodeAt(at) !== 32 || !isHttpVersionAt(text, at + 1) || text.charCodeAt(at + 7) !== 46) {
    return null;
  }
  const major = text.charCodeAt(at + 6);
  const minor = text.charCodeAt(at + 8);
  if (major === 49 && minor === 49) return 'HTTP/1.1';
  if (major === 50 && minor === 48) return 'HTTP/2.0';
  if (major === 49 && minor === 48) return 'HTTP/1.0';
  return null;
}

/** The protocol `text[start, end)` (`HTTP/...`), a shared constant for the common versions. */
function protocolOf(text: string, start: number, end: number): string {
  if (end - start === 8 && text.charCodeAt(start + 6) === 46) {
    const major = text.charCodeAt(start + 5);
    const minor = text.charCodeAt(start + 7);
    if (major === 49 && minor === 49) return 'HTTP/1.1';
    if (major === 50 && minor === 48) return 'HTTP/2.0';
    if (major === 49 && minor === 48) return 'HTTP/1.0';
  }
  return text.slice(start, end);
}

/**
 * A request field that is not an HTTP request line (what applyRequestLine refuses): kept as a
 * request with no method and the field, as logged (escapes not undone), for its path. The line
 * itself is sound — the server answered the client (nginx: 400) and logged what it received — and
 * a client that sends TLS handshakes or RAT probes to the HTTP port is probing: fail2ban's
 * nginx-bad-request and CrowdSec's http-probing both count such requests (../shared/data
 * fail2ban-http-tests/logs/nginx-bad-request, crowdsec-hub-tests/tests/nginx-http-malformed).
 */
export function applyNonHttpRequest(record: AccessLog, logged: string): void {
  record.method = '';
  record.path = logged;
  record.query = null;
  record.protocol = null;
}

/**
 * Reads `METHOD target PROTOCOL` (or HTTP/0.9's `METHOD target`) into the record. False for
 * `-`, a single word (`HELP`), a method that is not a token, or (when `checkControl`, i.e. the
 * text came out of unescaping) control characters: binary noise such as a TLS handshake sent to
 * the HTTP port. A target with spaces (Apache logs the raw line) is kept whole: the protocol is
 * the last word when it starts with `HTTP/`, any version (`HTTP/1.2` is a probe worth seeing).
 */
export function applyRequestLine(text: string, record: AccessLog, checkControl = true): boolean {
  return applyRequestLineAt(text, 0, text.length, record, checkControl);
}

/**
 * applyRequestLine of `text[start, end)`: the request read in place in its log line, so that only
 * the strings the record keeps (path, query, an uncommon method or protocol) are cut out of it.
 */
export function applyRequestLineAt(
  text: string,
  start: number,
  end: number,
  record: AccessLog,
  checkControl: boolean,
): boolean {
  const firstSpace = text.indexOf(' ', start);
  if (firstSpace <= start || firstSpace + 1 >= end) return false;
  const method = methodOf(text, start, firstSpace);
  if (method === null) return false;
  let targetEnd = end;
  let protocol: string | null = null;
  const common = end - start >= 9 ? commonProtocolAt(text, end - 9) : null;
  // HTTP/1.1 even when its space is the first one (then there is no target, and the line is bad);
  // the others only after a target, as the search below takes them (`GET HTTP/2.0` is a target).
  if (common === 'HTTP/1.1' || (common !== null && end - 9 > firstSpace)) {
    protocol = common;
    targetEnd -= 9;
  } else {
    // The protocol is short: look for its space near the end (lastIndexOf is a slow runtime call in V8).
    let lastSpace = end - 1;
    const lowest = Math.max(firstSpace, end - 16);
    while (lastSpace > lowest && text.charCodeAt(lastSpace) !== 32) lastSpace--;
    // (`HTTP/` must lie inside the range: past `end` is the rest of the log line.)
    if (lastSpace > firstSpace && lastSpace + 6 <= end && isHttpVersionAt(text, lastSpace + 1)) {
      protocol = protocolOf(text, lastSpace + 1, end);
      targetEnd = lastSpace;
    }
  }
  while (targetEnd > firstSpace + 1 && text.charCodeAt(targetEnd - 1) === 32) targetEnd--;
  const targetStart = firstSpace + 1;
  if (targetEnd <= targetStart) return false;
  if (checkControl && hasControlCharacter(text, start, end)) return false;
  record.method = method;
  record.protocol = protocol;
  applyRequestTargetAt(text, targetStart, targetEnd, method, record);
  return true;
}
