import { canonicalIp, prefixOf } from '@edgeguard/netaddr';
import type { AccessLog } from '@edgeguard/schema';

/**
 * Client keys: the strings stages key their state by and decisions are published under
 * (`Decision.key`). All are pure and allocation-light: they run once per request.
 */

/**
 * `ip:<canonical address>`, e.g. `ip:203.0.113.7`, `ip:2001:db8::1`. Text that is not an address
 * is kept verbatim (parsers reject such records upstream; a key must never throw on the hot path).
 */
export function addressKey(ip: string): string {
  return `ip:${canonicalIp(ip) ?? ip}`;
}

/**
 * `range:<network>/<bits>` of the prefix holding `ip`: the /24 for IPv4, the /64 for IPv6 (one
 * site or household), e.g. `range:203.0.113.0/24`, `range:2001:db8:1:2::/64`. Null when `ip` is
 * not an address.
 */
export function prefixKey(ip: string, v4Bits = 24, v6Bits = 64): string | null {
  const prefix = prefixOf(ip, v4Bits, v6Bits);
  return prefix === null ? null : `range:${prefix}`;
}

/** `fp:<fingerprint>`, the decision key of a fingerprint (`fp:h1:…`, `fp:ja4:…`). */
export function fingerprintKey(fingerprint: string): string {
  return `fp:${fingerprint}`;
}

/**
 * The TLS client fingerprint the edge logged: `ja4:<JA4>` when present (it is the more stable
 * one: extension order is sorted out), else `ja3:<JA3 hash, lower-case>`, else null.
 */
export function tlsFingerprint(log: Pick<AccessLog, 'ja3' | 'ja4'>): string | null {
  const ja4 = present(log.ja4);
  if (ja4 !== null) return `ja4:${ja4}`;
  const ja3 = present(log.ja3);
  return ja3 === null ? null : `ja3:${ja3.toLowerCase()}`;
}

function present(value: string | null): string | null {
  if (value === null) return null;
  const trimmed = value.trim();
  return trimmed === '' || trimmed === '-' ? null : trimmed;
}
