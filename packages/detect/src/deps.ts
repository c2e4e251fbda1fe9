import type { AccessLog } from '@edgeguard/schema';

/**
 * What detection needs from the fingerprint and address packages, injected so the core stays pure
 * and unit tests can stub them. The pipeline wires the real implementations
 * (@edgeguard/fingerprint, @edgeguard/netaddr).
 */
export type UaKind = 'browser' | 'crawler' | 'tool' | 'empty' | 'other';

export interface UaInfo {
  kind: UaKind;
  family: string;
  major: number | null;
  os: string | null;
  /** Canonical crawler name when the UA declares one (e.g. `Googlebot`). */
  crawler: string | null;
}

export type CrawlerVerification = 'verified' | 'unverified' | 'unknown';

export interface DetectDeps {
  /** The range an address belongs to (IPv4 /24, IPv6 /64 by config), null for non-addresses. */
  prefixOf(ip: string): string | null;
  /**
   * Optional: `prefixOf` of a canonical dotted quad depends on the address's first
   * `ipv4PrefixBits` bits only (0–32), so the profiler may find a new client's prefix by that
   * number instead of building and hashing its text.
   */
  readonly ipv4PrefixBits?: number;
  classifyUserAgent(ua: string | null): UaInfo;
  /** Behavioural HTTP fingerprint of a request; depends only on its headers (UA, language, order). */
  httpFingerprint(log: AccessLog): string;
  verifyCrawlerClaim(crawler: string, ip: string): CrawlerVerification;
}
