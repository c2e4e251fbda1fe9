import { type Cidr, maskIpv6Words, parseCidr, wordMask } from './cidr.js';
import { type IpAddress, parseIpInto, parseIpv4Value } from './ip.js';

// Scratch words for match(); lookups are synchronous, so one buffer serves every set.
const scratchWords = new Uint32Array(4);

/**
 * A set of IPv4 and IPv6 CIDRs answering "which range holds this address" on the hot path.
 *
 * Layout: one hash map per prefix length in use, keyed by the masked network (for IPv4 its 32 bits
 * read as a signed int32, see matchIpv4; for IPv6 the masked words as a short string), probed from
 * the longest prefix down. A lookup
 * costs one integer parse plus at most one map probe per distinct prefix length in the set (a
 * handful in practice), independent of the number of CIDRs. Nothing is cached per lookup, so
 * memory is the CIDRs added, never the traffic seen.
 *
 * Before probing, a coarse filter says whether any CIDR can hold the address: for IPv4, a bitmap of
 * the /16s the CIDRs overlap (8 KB); for IPv6 (where one /16 such as 2001::/16 holds most of the
 * allocated space), the first 32-bit words of CIDRs of /32 or longer, plus a /16 bitmap of wider
 * ones. Most addresses are in none of a set's ranges (CDN egress, crawler ranges, allowlists) and
 * are answered after that one test instead of a probe per prefix length.
 */
export class CidrSet {
  private readonly v4ByPrefix: Array<Map<number, string> | undefined> = new Array(33);
  /** Prefix lengths in use, longest first: the most specific match is the first hit. */
  private v4Prefixes: number[] = [];
  /** The masks of v4Prefixes, as signed int32 (see matchIpv4). */
  private readonly v4Masks: number[] = [];
  private readonly v6ByPrefix: Array<Map<string, string> | undefined> = new Array(129);
  private v6Prefixes: number[] = [];
  /** Bit k set when some IPv4 CIDR of the set overlaps the /16 numbered k. */
  private readonly v4Top16 = new Uint32Array(2048);
  /** IPv6: the first words of CIDRs of /32 or longer, and a /16 bitmap of the wider ones. */
  private readonly v6FirstWords = new Set<number>();
  private readonly v6WideTop16 = new Uint32Array(2048);
  private count = 0;

  constructor(cidrs?: Iterable<string | Cidr>) {
    if (cidrs) for (const cidr of cidrs) this.add(cidr);
  }

  /** Adds a CIDR (text or parsed). Throws BadInput (`bad-cidr`) on bad text. Adding twice is a no-op. */
  add(cidr: string | Cidr): this {
    const parsed = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
    if (parsed.version === 4) {
      let byNetwork = this.v4ByPrefix[parsed.prefixLength];
      if (!byNetwork) {
        byNetwork = new Map();
        this.v4ByPrefix[parsed.prefixLength] = byNetwork;
        this.v4Prefixes = [...this.v4Prefixes, parsed.prefixLength].sort((a, b) => b - a);
        this.v4Masks.length = 0;
        for (const length of this.v4Prefixes) this.v4Masks.push(wordMask(length) | 0);
      }
      if (!byNetwork.has(parsed.network | 0)) {
        byNetwork.set(parsed.network | 0, parsed.text);
        markTop16(this.v4Top16, parsed.network >>> 16, parsed.prefixLength);
        this.count++;
      }
    } else {
      let byNetwork = this.v6ByPrefix[parsed.prefixLength];
      if (!byNetwork) {
        byNetwork = new Map();
        this.v6ByPrefix[parsed.prefixLength] = byNetwork;
        this.v6Prefixes = [...this.v6Prefixes, parsed.prefixLength].sort((a, b) => b - a);
      }
      const key = v6Key(parsed.words, parsed.prefixLength);
      if (!byNetwork.has(key)) {
        byNetwork.set(key, parsed.text);
        if (parsed.prefixLength >= 32) this.v6FirstWords.add(parsed.words[0]);
        else markTop16(this.v6WideTop16, parsed.words[0] >>> 16, parsed.prefixLength);
        this.count++;
      }
    }
    return this;
  }

  /** Number of distinct CIDRs. */
  get size(): number {
    return this.count;
  }

  /** Whether some CIDR of the set holds `ip`. False when `ip` is not an address. */
  has(ip: string): boolean {
    return this.match(ip) !== null;
  }

  /** The most specific CIDR (canonical text) holding `ip`, or null (also when `ip` is not an address). */
  match(ip: string): string | null {
    const v4 = parseIpv4Value(ip);
    if (v4 >= 0) return this.matchIpv4(v4);
    const version = parseIpInto(ip, scratchWords);
    if (version === 4) return this.matchIpv4(scratchWords[0]!);
    return version === 6 ? this.matchIpv6(scratchWords) : null;
  }

  matchAddress(address: IpAddress): string | null {
    return address.version === 4 ? this.matchIpv4(address.value) : this.matchIpv6(address.words);
  }

  /**
   * Most specific match for an IPv4 address given as an unsigned 32-bit integer. The bits are read
   * as a signed int32 (networks and masks are held so too): a masked address is then an int32 for
   * every address. As a uint32 (`>>> 0`) it left the int32 range for the upper half of the space,
   * which deoptimised this (and its callers, where inlined) for lost precision once such an
   * address first passed the /16 filter, and made each such key a heap number.
   */
  matchIpv4(value: number): string | null {
    const bits = value | 0;
    if (!hasTop16(this.v4Top16, bits >>> 16)) return null;
    const prefixes = this.v4Prefixes;
    for (let k = 0; k < prefixes.length; k++) {
      const found = this.v4ByPrefix[prefixes[k]!]!.get(bits & this.v4Masks[k]!);
      if (found !== undefined) return found;
    }
    return null;
  }

  private matchIpv6(words: ArrayLike<number>): string | null {
    const first = words[0]!;
    if (!this.v6FirstWords.has(first) && !hasTop16(this.v6WideTop16, first >>> 16)) return null;
    for (const length of this.v6Prefixes) {
      const found = this.v6ByPrefix[length]!.get(v6Key(maskIpv6Words(words, length), length));
      if (found !== undefined) return found;
    }
    return null;
  }

  /** The CIDRs, canonical text, most specific first within each family (IPv4 first). */
  *[Symbol.iterator](): IterableIterator<string> {
    for (const length of this.v4Prefixes) yield* this.v4ByPrefix[length]!.values();
    for (const length of this.v6Prefixes) yield* this.v6ByPrefix[length]!.values();
  }
}

/** Key of a masked IPv6 network: only the words the prefix touches. */
function v6Key(masked: readonly number[], prefixLength: number): string {
  if (prefixLength === 0) return '';
  if (prefixLength <= 32) return `${masked[0]}`;
  if (prefixLength <= 64) return `${masked[0]},${masked[1]}`;
  if (prefixLength <= 96) return `${masked[0]},${masked[1]},${masked[2]}`;
  return `${masked[0]},${masked[1]},${masked[2]},${masked[3]}`;
}

/** Marks every /16 (by its top 16 bits) that a CIDR starting at `top` with `prefixLength` bits overlaps. */
function markTop16(bits: Uint32Array, top: number, prefixLength: number): void {
  const span = prefixLength >= 16 ? 1 : 2 ** (16 - prefixLength);
  for (let k = top; k < top + span; k++) bits[k >>> 5]! |= 1 << (k & 31);
}

function hasTop16(bits: Uint32Array, top: number): boolean {
  return (bits[top >>> 5]! & (1 << (top & 31))) !== 0;
}
