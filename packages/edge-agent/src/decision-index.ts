import { parseIpInto, parseIpv4Value, wordMask } from '@edgeguard/netaddr';
import { type Action, actionStrength, type Decision, type Verdict } from '@edgeguard/schema';
import {
  AbsenceFilter,
  Uint32Table,
  uint32FilterBit,
  Words128Table,
  words128FilterBit,
} from './address-table.js';
import { type DecisionTarget, parseDecisionKey } from './records.js';

/** What `check()` is asked about: the client address and, when the edge computes one, its fingerprint. */
export interface CheckRequest {
  ip: string;
  fingerprint?: string | null | undefined;
}

/**
 * The answer: the strongest action among the active decisions covering the request, and that
 * decision; `allow` with null when none does. Results are shared objects (one per stored
 * decision, read-only): check() allocates nothing.
 */
export interface CheckResult {
  readonly verdict: Verdict;
  readonly decision: Decision | null;
}

export const ALLOW: CheckResult = Object.freeze({ verdict: 'allow', decision: null });

export interface DecisionIndexOptions {
  /**
   * Active decisions held at most (default 1,000,000; measured ≈ 260 B per decision with two
   * signals, so ~260 MB at the bound). Past it the decision expiring soonest is dropped (counted in `evicted`): it is the
   * one that would have stopped applying first.
   */
  maxEntries?: number;
}

export interface DecisionIndexStats {
  size: number;
  ipv4: number;
  ipv6: number;
  ranges: number;
  fingerprints: number;
  /** Decisions dropped to stay within maxEntries. */
  evicted: number;
  /** Expired decisions removed by prune(). */
  expired: number;
  /** Puts ignored because the stored decision for the key had a higher version. */
  stale: number;
}

/**
 * A stored decision. It is also the CheckResult check() returns for it (callers see `verdict` and
 * `decision` only): the entry a lookup already loaded is the answer, with no second object to
 * fetch from memory. Replacing a key's decision creates a new entry in the same slot.
 */
class Entry implements CheckResult {
  readonly verdict: Action;
  readonly strength: number;
  readonly expiresAt: number;
  /** Bumped whenever the slot's content changes, so stale expiry-heap items are recognised. */
  readonly generation: number;

  constructor(
    readonly decision: Decision,
    readonly target: DecisionTarget,
    generation: number,
  ) {
    this.verdict = decision.action;
    this.strength = actionStrength(decision.action);
    this.expiresAt = decision.expiresAt;
    this.generation = generation;
  }
}

export const DEFAULT_MAX_ENTRIES = 1_000_000;
const scratchWords = new Uint32Array(4);

/**
 * The in-memory blocklist of an edge node: decisions by address (exact), by range (IPv4 and IPv6
 * CIDRs) and by fingerprint; `check()` answers synchronously from it.
 *
 * Layout (the hot path): an IPv4 address is parsed to a uint32 once; exact addresses live in a
 * typed-array hash table, ranges in one table per prefix length in use, each probed with the
 * masked address (most deployments use one or two lengths: /24 and /64). A per-/16 counter array
 * answers "no range can cover this address" with one read. IPv6 is the same with four words.
 * Fingerprints are a Map by string. Entries sit in a slot array; tables hold slot numbers.
 *
 * Expiry: an expired entry never answers (every hit compares its expiresAt with `now`), and
 * prune() removes expired entries in expiry order (a binary heap), so they cost memory only until
 * the next prune. The heap keeps stale items for replaced entries; it is rebuilt when they
 * outnumber the live ones, so it stays O(size).
 */
export class DecisionIndex {
  private readonly maxEntries: number;
  private readonly entries: Array<Entry | undefined> = [];
  private readonly freeSlots: number[] = [];
  private readonly byKey = new Map<string, number>();

  private readonly v4Exact = new Uint32Table();
  private readonly v4Ranges: Array<Uint32Table | undefined> = new Array(33);
  /** Range prefix lengths in use with their masks, longest first (probe order does not matter for correctness). */
  private v4Lengths: number[] = [];
  private v4Masks: number[] = [];
  private readonly v4LengthCount = new Int32Array(33);
  /** Ranges overlapping each IPv4 /16, and a bitmap of the /16s with any (8 KiB: read on the hot path). */
  private readonly v4RangesPer16 = new Int32Array(65536);
  private readonly v4RangeBits = new Uint32Array(2048);
  private readonly v4ExactFilter = new AbsenceFilter();

  private readonly v6Exact = new Words128Table();
  private readonly v6Ranges: Array<Words128Table | undefined> = new Array(129);
  private v6Lengths: number[] = [];
  /** Four int32 masks per length in v6Lengths. */
  private v6Masks = new Int32Array(0);
  private readonly v6LengthCount = new Int32Array(129);
  private readonly v6RangesPer16 = new Int32Array(65536);
  private readonly v6RangeBits = new Uint32Array(2048);
  private readonly v6ExactFilter = new AbsenceFilter();

  private readonly fingerprints = new Map<string, number>();

  // Expiry heap: parallel arrays of (expiresAt, slot, generation); the shape of detect's ExpiryQueue,
  // keyed by slot. Not imported: the agent depends on schema and netaddr only, not on the detector.
  private heapTimes: number[] = [];
  private heapSlots: number[] = [];
  private heapGenerations: number[] = [];

  private counters = { evicted: 0, expired: 0, stale: 0 };
  private rangeCount = 0;

  constructor(options: DecisionIndexOptions = {}) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!(this.maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1');
  }

  get size(): number {
    return this.byKey.size;
  }

  /**
   * The verdict for a request at `now` (epoch ms; decisions' expiresAt is on the same axis; default
   * the wall clock, read only when some decision matches: most requests match none, and a clock
   * read costs as much as the rest of a lookup). Never throws: an address that is not one matches
   * no address or range decision.
   */
  check(request: CheckRequest, now?: number): CheckResult {
    let clock = now === undefined ? -1 : now;
    let best: Entry | undefined;
    let bestStrength = 0;
    const ip = request.ip;
    let v4 = parseIpv4Value(ip);
    let family = 4;
    // A dual-stack listener reports every IPv4 client as `::ffff:a.b.c.d` (Node's remoteAddress):
    // read the quad directly rather than parsing eight groups.
    if (v4 < 0 && ip.startsWith('::ffff:')) v4 = parseIpv4Value(ip, 7);
    if (v4 < 0) {
      const version = parseIpInto(ip, scratchWords);
      if (version === 4) v4 = scratchWords[0]!;
      else family = version;
    }
    if (family === 4 && v4 >= 0) {
      if (this.v4ExactFilter.mayContain(uint32FilterBit(v4))) {
        const slot = this.v4Exact.get(v4);
        if (slot >= 0) {
          const entry = this.entries[slot]!;
          if (clock < 0) clock = Date.now();
          if (entry.expiresAt > clock) {
            best = entry;
            bestStrength = entry.strength;
          }
        }
      }
      if (bestStrength < 3 && hasBit(this.v4RangeBits, v4 >>> 16)) {
        const lengths = this.v4Lengths;
        const masks = this.v4Masks;
        for (let k = 0; k < lengths.length; k++) {
          const slot = this.v4Ranges[lengths[k]!]!.get(v4 & masks[k]!);
          if (slot < 0) continue;
          const entry = this.entries[slot]!;
          if (entry.strength <= bestStrength) continue;
          if (clock < 0) clock = Date.now();
          if (entry.expiresAt > clock) {
            best = entry;
            bestStrength = entry.strength;
            if (bestStrength === 3) break;
          }
        }
      }
    } else if (family === 6) {
      const w = scratchWords;
      if (this.v6ExactFilter.mayContain(words128FilterBit(w[0]!, w[1]!, w[2]!, w[3]!))) {
        const slot = this.v6Exact.get(w[0]!, w[1]!, w[2]!, w[3]!);
        if (slot >= 0) {
          const entry = this.entries[slot]!;
          if (clock < 0) clock = Date.now();
          if (entry.expiresAt > clock) {
            best = entry;
            bestStrength = entry.strength;
          }
        }
      }
      if (bestStrength < 3 && hasBit(this.v6RangeBits, w[0]! >>> 16)) {
        const lengths = this.v6Lengths;
        const masks = this.v6Masks;
        for (let k = 0; k < lengths.length; k++) {
          const m = k << 2;
          const slot = this.v6Ranges[lengths[k]!]!.get(
            w[0]! & masks[m]!,
            w[1]! & masks[m + 1]!,
            w[2]! & masks[m + 2]!,
            w[3]! & masks[m + 3]!,
          );
          if (slot < 0) continue;
          const entry = this.entries[slot]!;
          if (entry.strength <= bestStrength) continue;
          if (clock < 0) clock = Date.now();
          if (entry.expiresAt > clock) {
            best = entry;
            bestStrength = entry.strength;
            if (bestStrength === 3) break;
          }
        }
      }
    }
    const fingerprint = request.fingerprint;
    if (bestStrength < 3 && fingerprint && this.fingerprints.size > 0) {
      const slot = this.fingerprints.get(fingerprint);
      if (slot !== undefined) {
        const entry = this.entries[slot]!;
        if (clock < 0) clock = Date.now();
        if (entry.strength > bestStrength && entry.expiresAt > clock) best = entry;
      }
    }
    return best === undefined ? ALLOW : best;
  }

  /** The stored decision for a canonical key (`ip:…`, `range:…`, `fp:…`), expired or not. */
  get(key: string): Decision | undefined {
    const slot = this.byKey.get(key);
    return slot === undefined ? undefined : this.entries[slot]!.decision;
  }

  /** Every stored decision not expired at `now`. */
  *active(now: number = Date.now()): IterableIterator<Decision> {
    for (const slot of this.byKey.values()) {
      const entry = this.entries[slot]!;
      if (entry.expiresAt > now) yield entry.decision;
    }
  }

  /**
   * Stores a parsed decision (see parseDecision). A decision already expired at `now` removes its
   * key instead. Returns false when ignored: the stored decision for the key has a higher version
   * (a late or replayed older one must not replace it; manual decisions carry higher versions).
   */
  put(decision: Decision, target: DecisionTarget, now: number = Date.now()): boolean {
    const existing = this.byKey.get(target.key);
    if (existing !== undefined) {
      const entry = this.entries[existing]!;
      if (entry.decision.version > decision.version && entry.expiresAt > now) {
        this.counters.stale++;
        return false;
      }
      if (decision.expiresAt <= now) {
        this.removeSlot(existing);
        return true;
      }
      // Same key, same target: a new entry in the same slot, tables are unchanged.
      const replacement = new Entry(decision, entry.target, entry.generation + 1);
      this.entries[existing] = replacement;
      this.pushExpiry(replacement.expiresAt, existing, replacement.generation);
      return true;
    }
    if (decision.expiresAt <= now) return true;
    if (this.byKey.size >= this.maxEntries) {
      this.prune(now);
      while (this.byKey.size >= this.maxEntries) this.evictSoonest();
    }
    const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.entries.length;
    const entry = new Entry(decision, target, 0);
    this.entries[slot] = entry;
    this.byKey.set(target.key, slot);
    this.link(target, slot);
    this.pushExpiry(entry.expiresAt, slot, entry.generation);
    return true;
  }

  /** Removes the decision of a key (a tombstone, a `del` change). Returns whether it was there. */
  delete(key: string): boolean {
    let slot = this.byKey.get(key);
    if (slot === undefined) {
      // Not canonical as given (e.g. `ip:2001:DB8::1`): try its canonical form.
      try {
        slot = this.byKey.get(parseDecisionKey(key).key);
      } catch {
        return false;
      }
      if (slot === undefined) return false;
    }
    this.removeSlot(slot);
    return true;
  }

  /** Removes every decision. */
  clear(): void {
    for (const slot of [...this.byKey.values()]) this.removeSlot(slot);
    this.heapTimes = [];
    this.heapSlots = [];
    this.heapGenerations = [];
  }

  /** Removes the decisions expired at `now`; returns how many. Cost: O(expired · log size). */
  prune(now: number = Date.now()): number {
    let removed = 0;
    while (this.heapTimes.length > 0 && this.heapTimes[0]! <= now) {
      const slot = this.heapSlots[0]!;
      const generation = this.heapGenerations[0]!;
      this.popExpiry();
      const entry = this.entries[slot];
      if (entry === undefined || entry.generation !== generation) continue;
      this.removeSlot(slot);
      removed++;
    }
    this.counters.expired += removed;
    return removed;
  }

  stats(): DecisionIndexStats {
    return {
      size: this.byKey.size,
      ipv4: this.v4Exact.size,
      ipv6: this.v6Exact.size,
      ranges: this.rangeCount,
      fingerprints: this.fingerprints.size,
      ...this.counters,
    };
  }

  private evictSoonest(): void {
    while (this.heapTimes.length > 0) {
      const slot = this.heapSlots[0]!;
      const generation = this.heapGenerations[0]!;
      this.popExpiry();
      const entry = this.entries[slot];
      if (entry === undefined || entry.generation !== generation) continue;
      this.removeSlot(slot);
      this.counters.evicted++;
      return;
    }
  }

  private link(target: DecisionTarget, slot: number): void {
    if (target.scope === 'fingerprint') {
      this.fingerprints.set(target.fingerprint, slot);
    } else if (target.scope === 'ip') {
      const a = target.address;
      if (a.version === 4) {
        this.v4Exact.set(a.value, slot);
        this.v4ExactFilter.add(uint32FilterBit(a.value));
      } else {
        this.v6Exact.set(a.words[0], a.words[1], a.words[2], a.words[3], slot);
        this.v6ExactFilter.add(words128FilterBit(a.words[0], a.words[1], a.words[2], a.words[3]));
      }
    } else {
      const c = target.cidr;
      this.rangeCount++;
      if (c.version === 4) {
        let table = this.v4Ranges[c.prefixLength];
        if (table === undefined) {
          table = new Uint32Table();
          this.v4Ranges[c.prefixLength] = table;
        }
        table.set(c.network, slot);
        if (this.v4LengthCount[c.prefixLength]!++ === 0) this.updateV4Lengths();
        countPer16(this.v4RangesPer16, this.v4RangeBits, c.network >>> 16, c.prefixLength, 1);
      } else {
        let table = this.v6Ranges[c.prefixLength];
        if (table === undefined) {
          table = new Words128Table();
          this.v6Ranges[c.prefixLength] = table;
        }
        table.set(c.words[0], c.words[1], c.words[2], c.words[3], slot);
        if (this.v6LengthCount[c.prefixLength]!++ === 0) this.updateV6Lengths();
        countPer16(this.v6RangesPer16, this.v6RangeBits, c.words[0] >>> 16, c.prefixLength, 1);
      }
    }
  }

  private removeSlot(slot: number): void {
    const entry = this.entries[slot]!;
    const target = entry.target;
    this.byKey.delete(target.key);
    if (target.scope === 'fingerprint') {
      this.fingerprints.delete(target.fingerprint);
    } else if (target.scope === 'ip') {
      const a = target.address;
      if (a.version === 4) {
        this.v4Exact.delete(a.value);
        if (++this.v4ExactFilter.removedSinceRebuild > this.v4Exact.size + 1024) this.rebuildFilter(4);
      } else {
        this.v6Exact.delete(a.words[0], a.words[1], a.words[2], a.words[3]);
        if (++this.v6ExactFilter.removedSinceRebuild > this.v6Exact.size + 1024) this.rebuildFilter(6);
      }
    } else {
      const c = target.cidr;
      this.rangeCount--;
      if (c.version === 4) {
        this.v4Ranges[c.prefixLength]!.delete(c.network);
        if (--this.v4LengthCount[c.prefixLength]! === 0) this.updateV4Lengths();
        countPer16(this.v4RangesPer16, this.v4RangeBits, c.network >>> 16, c.prefixLength, -1);
      } else {
        this.v6Ranges[c.prefixLength]!.delete(c.words[0], c.words[1], c.words[2], c.words[3]);
        if (--this.v6LengthCount[c.prefixLength]! === 0) this.updateV6Lengths();
        countPer16(this.v6RangesPer16, this.v6RangeBits, c.words[0] >>> 16, c.prefixLength, -1);
      }
    }
    this.entries[slot] = undefined;
    this.freeSlots.push(slot);
  }

  /** Clears removed keys' bits: every live exact address of the family sets its bit again. */
  private rebuildFilter(family: 4 | 6): void {
    const filter = family === 4 ? this.v4ExactFilter : this.v6ExactFilter;
    filter.clear();
    for (const entry of this.entries) {
      if (entry === undefined || entry.target.scope !== 'ip' || entry.target.address.version !== family)
        continue;
      const a = entry.target.address;
      if (a.version === 4) filter.add(uint32FilterBit(a.value));
      else filter.add(words128FilterBit(a.words[0], a.words[1], a.words[2], a.words[3]));
    }
  }

  private updateV4Lengths(): void {
    const lengths: number[] = [];
    for (let length = 32; length >= 0; length--) if (this.v4LengthCount[length]! > 0) lengths.push(length);
    this.v4Lengths = lengths;
    // Masks as int32, the form the tables compare keys in.
    this.v4Masks = lengths.map((length) => wordMask(length) | 0);
  }

  private updateV6Lengths(): void {
    const lengths: number[] = [];
    for (let length = 128; length >= 0; length--) if (this.v6LengthCount[length]! > 0) lengths.push(length);
    this.v6Lengths = lengths;
    this.v6Masks = new Int32Array(lengths.length * 4);
    lengths.forEach((length, k) => {
      for (let word = 0; word < 4; word++) this.v6Masks[k * 4 + word] = wordMask(length - 32 * word) | 0;
    });
  }

  private pushExpiry(time: number, slot: number, generation: number): void {
    // Stale items (replaced or removed entries) are dropped by a rebuild when they dominate.
    if (this.heapTimes.length > 2 * this.byKey.size + 1024) this.rebuildHeap();
    const times = this.heapTimes;
    let i = times.length;
    times.push(time);
    this.heapSlots.push(slot);
    this.heapGenerations.push(generation);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= time) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private popExpiry(): void {
    const times = this.heapTimes;
    const last = times.length - 1;
    this.swap(0, last);
    times.pop();
    this.heapSlots.pop();
    this.heapGenerations.pop();
    let i = 0;
    const n = times.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && times[right]! < times[left]! ? right : left;
      if (times[child]! >= times[i]!) break;
      this.swap(i, child);
      i = child;
    }
  }

  private swap(i: number, j: number): void {
    const t = this.heapTimes[i]!;
    this.heapTimes[i] = this.heapTimes[j]!;
    this.heapTimes[j] = t;
    const s = this.heapSlots[i]!;
    this.heapSlots[i] = this.heapSlots[j]!;
    this.heapSlots[j] = s;
    const g = this.heapGenerations[i]!;
    this.heapGenerations[i] = this.heapGenerations[j]!;
    this.heapGenerations[j] = g;
  }

  private rebuildHeap(): void {
    const live: Array<[number, number, number]> = [];
    for (const slot of this.byKey.values()) {
      const entry = this.entries[slot]!;
      live.push([entry.expiresAt, slot, entry.generation]);
    }
    live.sort((a, b) => a[0] - b[0]);
    // A sorted array is a valid binary min-heap.
    this.heapTimes = live.map((item) => item[0]);
    this.heapSlots = live.map((item) => item[1]);
    this.heapGenerations = live.map((item) => item[2]);
  }
}

/**
 * Adds `delta` to the counter of every /16 (by its top 16 bits) a range of `prefixLength` bits
 * overlaps, and keeps the bitmap of non-zero counters (what lookups read) in step.
 */
function countPer16(
  counts: Int32Array,
  bits: Uint32Array,
  top: number,
  prefixLength: number,
  delta: number,
): void {
  const span = prefixLength >= 16 ? 1 : 2 ** (16 - prefixLength);
  const start = prefixLength >= 16 ? top : top & ~(span - 1);
  for (let k = start; k < start + span; k++) {
    counts[k]! += delta;
    if (counts[k] === 0) bits[k >>> 5]! &= ~(1 << (k & 31));
    else bits[k >>> 5]! |= 1 << (k & 31);
  }
}

function hasBit(bits: Uint32Array, k: number): boolean {
  return (bits[k >>> 5]! & (1 << (k & 31))) !== 0;
}
