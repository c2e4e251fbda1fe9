import { CidrSet, parseCidr, prefixOf } from '@edgeguard/netaddr';

/**
 * Addresses and ranges that automatic decisions never cover: the operator's allowlist plus the
 * published ranges of verified crawlers. Allowlists always win: the decider does not decide on
 * them, and enforcement (the backtest, the edge) checks `has(ip)` BEFORE any decision, so a range
 * or fingerprint decision never applies to an allowlisted address.
 */
export class Allowlist {
  private readonly cidrs: CidrSet;
  /** Prefixes (at the range-decision granularity) that hold some allowlisted address. */
  private readonly touchedPrefixes = new Set<string>();
  /** Allowlisted CIDRs wider than a range decision: checked by the range's network address. */
  private readonly wide = new CidrSet();

  /**
   * @param entries addresses or CIDRs (throws BadInput `bad-cidr` naming a bad entry)
   * @param protectedRanges further CIDRs that are never covered (verified crawler ranges)
   * @param alsoProtected a further test, e.g. CDN egress addresses: a CDN address showing up as a
   *   client means a trusted proxy is missing from the config, and deciding on it would cover
   *   everyone behind that CDN node
   */
  constructor(
    entries: readonly string[] = [],
    protectedRanges: readonly string[] = [],
    private readonly ipv4Bits = 24,
    private readonly ipv6Bits = 64,
    private readonly alsoProtected: ((ip: string) => boolean) | null = null,
  ) {
    this.cidrs = new CidrSet();
    for (const text of [...entries, ...protectedRanges]) {
      const cidr = parseCidr(text);
      this.cidrs.add(cidr);
      const rangeBits = cidr.version === 4 ? ipv4Bits : ipv6Bits;
      if (cidr.prefixLength >= rangeBits) {
        const network = cidr.text.slice(0, cidr.text.indexOf('/'));
        const prefix = prefixOf(network, ipv4Bits, ipv6Bits);
        if (prefix !== null) this.touchedPrefixes.add(prefix);
      } else {
        this.wide.add(cidr);
      }
    }
  }

  get size(): number {
    return this.cidrs.size;
  }

  /** Whether `ip` is allowlisted: no automatic decision may apply to it. */
  has(ip: string): boolean {
    return (this.cidrs.size > 0 && this.cidrs.has(ip)) || this.alsoProtected?.(ip) === true;
  }

  /** Whether a range decision on `prefix` (a CIDR at the range granularity) would cover an allowlisted address. */
  touchesRange(prefix: string): boolean {
    if (this.touchedPrefixes.has(prefix)) return true;
    const slash = prefix.indexOf('/');
    const network = slash < 0 ? prefix : prefix.slice(0, slash);
    // `alsoProtected` is tested on the network address only (protected blocks are /24 or wider).
    return (this.wide.size > 0 && this.wide.has(network)) || this.alsoProtected?.(network) === true;
  }

  /** The range granularity this allowlist was indexed for. */
  get rangeBits(): { ipv4: number; ipv6: number } {
    return { ipv4: this.ipv4Bits, ipv6: this.ipv6Bits };
  }
}
