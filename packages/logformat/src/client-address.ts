import { CidrSet, canonicalIp } from '@edgeguard/netaddr';

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
    const hop = hopBetween(forwardedFor, comma + 1, hopEnd);
    if (hop === null) return candidate;
    if (!trustedProxies.has(hop)) return hop;
    candidate = hop;
    if (comma < 0) break;
    hopEnd = comma;
  }
  return candidate;
}

/**
 * The address of the rightmost hop of an X-Forwarded-For (as addressWithoutPort reads it), or null when
 * that hop is empty or not an address: the hop the last proxy appended (Envoy's peer when it runs
 * with use_remote_address), never one left of it, which the client wrote.
 */
export function rightmostHopAddress(forwardedFor: string): string | null {
  return hopBetween(forwardedFor, forwardedFor.lastIndexOf(',') + 1, forwardedFor.length);
}

/** The address of the hop `forwardedFor[start, end)`, spaces around it dropped; null if none. */
function hopBetween(forwardedFor: string, start: number, end: number): string | null {
  while (start < end && isSpace(forwardedFor.charCodeAt(start))) start++;
  while (end > start && isSpace(forwardedFor.charCodeAt(end - 1))) end--;
  return start < end ? addressWithoutPort(forwardedFor.slice(start, end)) : null;
}

/** A hop's address (canonical), read without a port (`a.b.c.d:port`, `[v6]:port`); null if none. */
export function addressWithoutPort(text: string): string | null {
  const address = canonicalIp(text);
  if (address !== null) return address;
  const close = text.charCodeAt(0) === 91 ? text.indexOf(']') : -1; // [v6] or [v6]:port
  if (close > 0) {
    // Brackets hold an IPv6 address only (RFC 3986 3.2.2): `[1.2.3.4]:80` is no address.
    const inside = text.slice(1, close);
    return inside.includes(':') && isPortOrNone(text.slice(close + 1)) ? canonicalIp(inside) : null;
  }
  const colon = text.indexOf(':');
  if (colon > 0 && colon === text.lastIndexOf(':') && isPortOrNone(text.slice(colon)))
    return canonicalIp(text.slice(0, colon)); // a.b.c.d:port (an IPv6 address has several colons)
  return null;
}

/** `''` or `:port`, the port a TCP/UDP one (0 to 65535). */
function isPortOrNone(text: string): boolean {
  return text === '' || (/^:[0-9]{1,5}$/.test(text) && Number(text.slice(1)) <= 65535);
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * The client of an Envoy access log line whose peer was read from %DOWNSTREAM_DIRECT_REMOTE_ADDRESS%
 * (the connection), beside %DOWNSTREAM_REMOTE_ADDRESS% (`resolved`: the address Envoy resolved from
 * X-Forwarded-For / the PROXY protocol, port allowed) and no X-Forwarded-For: the resolved address
 * is believed only from a peer that is a trusted proxy, as a hop would be. Every other case
 * (X-Forwarded-For logged, or no direct address) is resolveClientAddress's walk.
 * Shared by the Envoy text formats (generated line reader) and envoy-json.
 */
export function envoyClientAddress(
  peer: string,
  resolved: string | null,
  forwardedFor: string | null,
  trustedProxies: CidrSet | null,
): string {
  if (resolved === null) return resolveClientAddress(peer, forwardedFor, trustedProxies);
  if (trustedProxies === null || !trustedProxies.has(peer)) return peer;
  return addressWithoutPort(resolved) ?? peer;
}

/**
 * The peer of an Envoy line, in the precedence both Envoy formats use: the direct address when
 * logged, else the resolved one (each read without its port), else, when the format logs no
 * address (Envoy's default format), the rightmost X-Forwarded-For hop: with use_remote_address
 * Envoy appends its peer there, and the hops left of it are the client's to write.
 */
export function envoyPeerAddress(address: string | null, forwardedFor: string | null): string | null {
  if (address !== null) return addressWithoutPort(address);
  return forwardedFor === null ? null : rightmostHopAddress(forwardedFor);
}
