import { CidrSet, canonicalIp, parseIp, parseIpv4Value } from '@edgeguard/netaddr';

/** Trusted proxies as configured: CIDR text (throws BadInput `bad-cidr` on bad text) or a ready set. */
export type TrustedProxies = readonly string[] | CidrSet;

export function toTrustedSet(trustedProxies: TrustedProxies | undefined): CidrSet | null {
  if (trustedProxies === undefined) return null;
  const set = trustedProxies instanceof CidrSet ? trustedProxies : new CidrSet(trustedProxies);
  return set.size > 0 ? set : null;
}

/**
 * The client behind the proxies, with nginx `real_ip_recursive on` semantics:
 *
 * - The peer (canonical) is the client unless it is a trusted proxy: an X-Forwarded-For sent by
 *   an untrusted peer is the client's own claim, and is ignored.
 * - From a trusted peer, walk X-Forwarded-For from the right (the hop closest to us, appended by
 *   the proxy we trust) and return the first hop that is not trusted.
 * - When every hop is trusted, the leftmost hop is the client.
 * - A hop may carry a port, as some load balancers write it (`203.0.113.7:52311`,
 *   `[2001:db8::7]:443`, Azure Application Gateway among them): the address is read without it.
 * - A hop that is not an address (`unknown`, an empty entry) stops the walk: the last valid hop
 *   read so far (or the peer) is the client, as nginx does. Going further would mean believing
 *   text written by someone we cannot vouch for.
 *
 * The leftmost entries are written by the client, so a spoofed `X-Forwarded-For: victim` ends up
 * left of the hop a trusted proxy appended, and is never reached while an untrusted hop is found.
 */
export function resolveClientAddress(
  peer: string,
  forwardedFor: string | null,
  trustedProxies: CidrSet | null,
): string {
  if (trustedProxies === null || forwardedFor === null || !trustedProxies.has(peer)) return peer;
  let candidate = peer;
  let hopEnd = forwardedFor.length;
  while (hopEnd >= 0) {
    const comma = hopEnd > 0 ? forwardedFor.lastIndexOf(',', hopEnd - 1) : -1;
    let start = comma + 1;
    let end = hopEnd;
    while (start < end && isSpace(forwardedFor.charCodeAt(start))) start++;
    while (end > start && isSpace(forwardedFor.charCodeAt(end - 1))) end--;
    const hop = start < end ? hopAddress(forwardedFor.slice(start, end)) : null;
    if (hop === null) return candidate;
    if (!trustedProxies.has(hop)) return hop;
    candidate = hop;
    if (comma < 0) break;
    hopEnd = comma;
  }
  return candidate;
}

/** A hop's address (canonical), read without a port (`a.b.c.d:port`, `[v6]:port`); null if none. */
function hopAddress(text: string): string | null {
  const address = canonicalIp(text);
  if (address !== null) return address;
  const close = text.charCodeAt(0) === 91 ? text.indexOf(']') : -1; // [v6] or [v6]:port
  if (close > 0) return PORT.test(text.slice(close + 1)) ? canonicalIp(text.slice(1, close)) : null;
  const colon = text.indexOf(':');
  if (colon > 0 && colon === text.lastIndexOf(':') && PORT.test(text.slice(colon)))
    return canonicalIp(text.slice(0, colon)); // a.b.c.d:port (an IPv6 address has several colons)
  return null;
}

const PORT = /^(?::[0-9]{1,5})?$/;

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * canonicalIp(text), with IPv6 text that is already canonical (RFC 5952, as nginx and Apache log
 * it) recognised and returned as is: canonicalIp would parse it into groups and format a new,
 * equal string, which costs about as much as the rest of the log line.
 */
export function canonicalAddress(text: string): string | null {
  if (parseIpv4Value(text) >= 0) return text;
  if (CANONICAL_IPV6_EIGHT_GROUPS.test(text) || isCanonicalIpv6(text)) return text;
  return parseIp(text)?.text ?? null;
}

/**
 * The commonest IPv6 text in logs (a client's full address: eight groups, none compressed) when it
 * is canonical: no leading zeros, lower case, and no two zero groups in a row (those would be
 * `::`). A regex, since irregexp scans the 39 characters several times faster than a char-code loop
 * does; isCanonicalIpv6 reads the rest.
 */
const CANONICAL_IPV6_EIGHT_GROUPS =
  /^(?!(?:.*:)?0:0(?::|$))(?:0|[1-9a-f][0-9a-f]{0,3})(?::(?:0|[1-9a-f][0-9a-f]{0,3})){7}$/;

/**
 * Whether `text` is IPv6 exactly as canonicalIp writes it: lower-case groups without leading zeros,
 * `::` for the longest run of two or more zero groups (the first on a tie) and nowhere else, no
 * zone, no dotted quad, and not IPv4-mapped (canonical as dotted IPv4). False is always safe (the
 * caller then asks canonicalIp), so anything unusual is simply false.
 */
export function isCanonicalIpv6(text: string): boolean {
  const end = text.length;
  if (end < 2 || end > 39) return false;
  let groups = 0; // explicit groups read
  let gapAt = -1; // explicit groups before `::`
  let run = 0; // zero groups in a row, ending at the last group read
  let longestBefore = 0; // longest zero run before `::` (all of them, when there is none)
  let longestAfter = 0;
  let firstAfterGap = -1; // value of the first group after `::` (-1: none)
  let firstGroup = -1;
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false;
    gapAt = 0;
    i = 2;
  }
  while (i < end) {
    const groupStart = i;
    let value = 0;
    for (; i < end && i - groupStart < 5; i++) {
      const c = text.charCodeAt(i);
      if (c >= 48 && c <= 57) value = value * 16 + (c - 48);
      else if (c >= 97 && c <= 102) value = value * 16 + (c - 87);
      else break;
    }
    const digits = i - groupStart;
    if (digits === 0 || digits > 4) return false;
    if (digits > 1 && text.charCodeAt(groupStart) === 48) return false; // a leading zero
    if (groups === 0) firstGroup = value;
    if (groups === gapAt) firstAfterGap = value;
    groups++;
    run = value === 0 ? run + 1 : 0;
    if (gapAt < 0) longestBefore = Math.max(longestBefore, run);
    else longestAfter = Math.max(longestAfter, run);
    if (i === end) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (i === end) return false; // one trailing colon
    if (text.charCodeAt(i) === 58) {
      // `::`: a second one, or one right after a zero group (the run would be longer), is not canonical.
      if (gapAt >= 0 || run > 0) return false;
      gapAt = groups;
      i++;
    }
  }
  if (gapAt < 0) return groups === 8 && longestBefore < 2;
  const gap = 8 - groups;
  if (gap < 2) return false; // `::` for one zero group, or for none
  if (firstAfterGap === 0) return false; // a zero group right after `::` belongs in the run
  // IPv4-mapped (::ffff:a.b.c.d) is canonical as its dotted quad.
  if (gapAt === 0 && gap === 5 && firstGroup === 0xffff) return false;
  return longestBefore < gap && longestAfter <= gap;
}
