import { CidrSet, parseCidr, prefixOf } from '@edgeguard/netaddr';

/**
 * Addresses and ranges that automatic decisions never cover: the operator's allowlist plus the
 * published ranges of verified crawlers. Allowlists always win: the decider does not decide on
 * them, and enforcement (the backtest, the edge) checks `has(ip)` BEFORE any decision, so a range
 * or fingerprint decision never applies to an allowlisted address.
 */
export class Allowlist {
  private cidrs = new CidrSet();
  /** Prefixes (at the range-decision granularity) that hold some allowlisted address. */
  private touchedPrefixes = new Set<string>();
  /** Allowlisted CIDRs wider than a range decision: checked by the range's network address. */
  private wide = new CidrSet();
  private readonly base: readonly string[];
  private runtime: readonly string[] = [];

  /**
   * @param entries addresses or CIDRs (throws BadInput `bad-cidr` naming a bad entry)
   * @param protectedRanges further CIDRs that are never covered (verified crawler ranges)
   * @param alsoProtected a further test, e.g. CDN egress addresses: a CDN address showing up as a
   *   client means a trusted proxy is missing from the config, and deciding on it would cover
   *   everyone behind that CDN node
   * @param alsoProtectedIpv4 the same test by the IPv4 number (see hasIpv4), e.g. fingerprint's
   *   `isCdnIpv4` beside its `isCdnAddress`; without it hasIpv4 asks `alsoProtected` with the text
   */
  constructor(
    entries: readonly string[] = [],
    protectedRanges: readonly string[] = [],
    private readonly ipv4Bits = 24,
    private readonly ipv6Bits = 64,
    private readonly alsoProtected: ((ip: string) => boolean) | null = null,
    private readonly alsoProtectedIpv4: ((ipv4: number) => boolean) | null = null,
  ) {
    this.base = [...entries, ...protectedRanges];
    this.index(this.base);
  }

  private index(texts: readonly string[]): void {
    for (const text of texts) {
      const cidr = parseCidr(text);
      this.cidrs.add(cidr);
      const rangeBits = cidr.version === 4 ? this.ipv4Bits : this.ipv6Bits;
      if (cidr.prefixLength >= rangeBits) {
        const network = cidr.text.slice(0, cidr.text.indexOf('/'));
        const prefix = prefixOf(network, this.ipv4Bits, this.ipv6Bits);
        if (prefix !== null) this.touchedPrefixes.add(prefix);
      } else {
        this.wide.add(cidr);
      }
    }
  }

  /**
   * A copy with the same configured entries, protected ranges and tests, without runtime entries
   * (each decider instance applies runtime entries at its own event time).
   */
  copy(): Allowlist {
    return new Allowlist(
      this.base,
      [],
      this.ipv4Bits,
      this.ipv6Bits,
      this.alsoProtected,
      this.alsoProtectedIpv4,
    );
  }

  /**
   * Replaces the entries added at run time (the operator's `allowlist` topic), keeping the
   * configured ones: the index is rebuilt, which costs O(entries) — allowlist changes are rare.
   * Throws BadInput (`bad-cidr`) before changing anything when an entry is not a CIDR.
   */
  setRuntimeEntries(cidrs: readonly string[]): void {
    for (const text of cidrs) parseCidr(text);
    this.runtime = [...cidrs];
    this.rebuild();
  }

  /** The entries added at run time, as last set. */
  get runtimeEntries(): readonly string[] {
    return this.runtime;
  }

  private rebuild(): void {
    this.cidrs = new CidrSet();
    this.touchedPrefixes = new Set();
    this.wide = new CidrSet();
    this.index(this.base);
    this.index(this.runtime);
  }

  get size(): number {
    return this.cidrs.size;
  }

  /** Whether `ip` is allowlisted: no automatic decision may apply to it. */
  has(ip: string): boolean {
    return (this.cidrs.size > 0 && this.cidrs.has(ip)) || this.alsoProtected?.(ip) === true;
  }

  /**
   * `has(ip)` for a caller that already holds the address's number: `ipv4` is `ipv4Number(ip)`,
   * ip's value as an unsigned 32-bit integer when it is a canonical dotted quad (the profiler's
   * and the backtest's address tables read it), negative otherwise (then the text is parsed). The
   * ranges are probed by the number, not by parsing the text again; so is the further test when it
   * has a by-number form (`alsoProtectedIpv4`: the CDN test), else it is asked with the text.
   */
  hasIpv4(ipv4: number, ip: string): boolean {
    if (ipv4 < 0) return this.has(ip);
    if (this.cidrs.size > 0 && this.cidrs.matchIpv4(ipv4) !== null) return true;
    const byNumber = this.alsoProtectedIpv4;
    return byNumber !== null ? byNumber(ipv4) : this.alsoProtected?.(ip) === true;
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

/** An allowlist entry learnt at run time, in effect in event time from `from` until `until` (epoch ms). */
export interface TimedAllowEntry {
  /** Canonical CIDR. */
  cidr: string;
  /** When the operator added it (event time = wall time live). */
  from: number;
  /** When it expires or was removed; +Infinity while it stands. */
  until: number;
}

/** Most runtime entries kept: the allowlist is operator-made (hundreds), this bounds a runaway script. */
export const MAX_RUNTIME_ALLOW_ENTRIES = 100_000;

/**
 * The operator's runtime allowlist on the event-time axis. The decider applies an entry to the
 * inputs dated from its `from` on, not to whatever it happens to be processing when the entry
 * arrives: a restarted decider replays its input with the entries it knows, and must make the
 * same decisions it made live (the Kafka runtime relies on stages being deterministic). Live,
 * event time is wall time, so an entry applies within the pipeline's latency of being added;
 * enforcement does not wait for it (edges check the allowlist before any decision).
 */
export class AllowlistTimeline {
  private entries: readonly TimedAllowEntry[] = [];
  /** Bumped on every update: a follower recomputes what is in effect when it changes. */
  revision = 0;

  /** Replaces the entries (the whole topic as last read; at most MAX_RUNTIME_ALLOW_ENTRIES are kept). */
  set(entries: readonly TimedAllowEntry[]): void {
    this.entries = entries.slice(0, MAX_RUNTIME_ALLOW_ENTRIES);
    this.revision++;
  }

  get size(): number {
    return this.entries.length;
  }

  /** The CIDRs in effect at `time` (sorted) and the next time that set changes (+Infinity: never). */
  at(time: number): { cidrs: string[]; nextChange: number } {
    const cidrs: string[] = [];
    let nextChange = Number.POSITIVE_INFINITY;
    for (const entry of this.entries) {
      if (entry.from > time) nextChange = Math.min(nextChange, entry.from);
      else if (entry.until > time) {
        cidrs.push(entry.cidr);
        nextChange = Math.min(nextChange, entry.until);
      }
    }
    return { cidrs: cidrs.sort(), nextChange };
  }
}
