import type { DetectDeps } from '@edgeguard/detect';
import {
  classifyUserAgent,
  httpFingerprint,
  verifiedCrawlerRanges,
  verifyCrawlerClaim,
} from '@edgeguard/fingerprint';
import { prefixOf } from '@edgeguard/netaddr';

/**
 * The real implementations detection runs on: ranges from @edgeguard/netaddr, user-agent claims,
 * fingerprints and crawler verification from @edgeguard/fingerprint.
 */
export function defaultDeps(ipv4Bits = 24, ipv6Bits = 64): DetectDeps {
  return {
    prefixOf: (ip) => prefixOf(ip, ipv4Bits, ipv6Bits),
    ipv4PrefixBits: ipv4Bits,
    classifyUserAgent,
    httpFingerprint,
    verifyCrawlerClaim,
  };
}

/** Published ranges of verified crawlers: like the allowlist, never covered by automatic decisions. */
export function verifiedCrawlerCidrs(): string[] {
  return Object.values(verifiedCrawlerRanges()).flat();
}
