import { parseIpInto, wordMask } from '@edgeguard/netaddr';
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
 * Layout (the hot path): the address text is parsed once, straight to a uint32 (IPv4) or four
 * uint32 words (IPv6), with no string built; exact addresses live in a typed-array hash table,
 * ranges in one table per prefix length in use, each probed with the masked address (most
 * deployments use one or two lengths: /24 and /64). Before a table is probed, the family's absence
 * filter (one cache-resident bitmap for its exact addresses and ranges) must have the key's bit,
 * and for ranges a per-/16 bitmap must say some range overlaps the address's /16; most lookups end
 * there. Tables hold the entries themselves (see address-table.ts); fingerprints are a Map by
 * string. Entries also sit in a slot array, which the expiry heap refers to.
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

  private readonly v4Exact = new Uint32Table<Entry>();
  private readonly v4Ranges: Array<Uint32Table<Entry> | undefined> = new Array(33);
  /** Range prefix lengths in use with their masks, longest first (probe order does not matter for correctness). */
  private v4Lengths: number[] = [];
  private v4Masks: number[] = [];
  private readonly v4LengthCount = new Int32Array(33);
  /** Ranges overlapping each IPv4 /16, and a bitmap of the /16s with any (8 KiB: read on the hot path). */
  private readonly v4RangesPer16 = new Int32Array(65536);
  private readonly v4RangeBits = new Uint32Array(2048);
  /** Bits of the IPv4 exact addresses and range networks (see uint32FilterBit). */
  private readonly v4Filter = new AbsenceFilter();
  private v4FilterKeys = 0;

  private readonly v6Exact = new Words128Table<Entry>();
  private readonly v6Ranges: Array<Words128Table<Entry> | undefined> = new Array(129);
  private v6Lengths: number[] = [];
  /** Four int32 masks per length in v6Lengths. */
  private v6Masks = new Int32Array(0);
  private readonly v6LengthCount = new Int32Array(129);
  private readonly v6RangesPer16 = new Int32Array(65536);
  private readonly v6RangeBits = new Uint32Array(2048);
  private readonly v6Filter = new AbsenceFilter();
  private v6FilterKeys = 0;

  private readonly fingerprints = new Map<string, Entry>();

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
    const w = scratchWords;
    // A dual-stack listener's `::ffff:a.b.c.d` is IPv4 here (parseIpInto reads it as the quad).
    const family = parseIpInto(request.ip, w);
    if (family === 4) {
      const v4 = w[0]!;
      const filter = this.v4Filter;
      if (filter.mayContain(uint32FilterBit(v4))) {
        const table = this.v4Exact;
        const i = table.indexOf(v4);
        if (i >= 0) {
          if (clock < 0) clock = Date.now();
          if (table.expiresAt(i) > clock) {
            best = table.valueAt(i);
            bestStrength = table.strengthAt(i);
          }
        }
      }
      if (bestStrength < 3 && hasBit(this.v4RangeBits, v4 >>> 16)) {
        const lengths = this.v4Lengths;
        const masks = this.v4Masks;
        for (let k = 0; k < lengths.length; k++) {
          const length = lengths[k]!;
          const network = v4 & masks[k]!;
          if (!filter.mayContain(uint32FilterBit(network, length))) continue;
          const table = this.v4Ranges[length]!;
          const i = table.indexOf(network);
          if (i < 0 || table.strengthAt(i) <= bestStrength) continue;
          if (clock < 0) clock = Date.now();
          if (table.expiresAt(i) > clock) {
            best = table.valueAt(i);
            bestStrength = table.strengthAt(i);
            if (bestStrength === 3) break;
          }
        }
      }
    } else if (family === 6) {
      const a = w[0]!;
      const b = w[1]!;
      const c = w[2]!;
      const d = w[3]!;
      const filter = this.v6Filter;
      if (filter.mayContain(words128FilterBit(a, b, c, d))) {
        const table = this.v6Exact;
        const i = table.indexOf(a, b, c, d);
        if (i >= 0) {
          if (clock < 0) clock = Date.now();
          if (table.expiresAt(i) > clock) {
            best = table.valueAt(i);
            bestStrength = table.strengthAt(i);
          }
        }
      }
      if (bestStrength < 3 && hasBit(this.v6RangeBits, a >>> 16)) {
        const lengths = this.v6Lengths;
        const masks = this.v6Masks;
        for (let k = 0; k < lengths.length; k++) {
          const length = lengths[k]!;
          const m = k << 2;
          const ma = a & masks[m]!;
          const mb = b & masks[m + 1]!;
          const mc = c & masks[m + 2]!;
          const md = d & masks[m + 3]!;
          if (!filter.mayContain(words128FilterBit(ma, mb, mc, md, length))) continue;
          const table = this.v6Ranges[length]!;
          const i = table.indexOf(ma, mb, mc, md);
          if (i < 0 || table.strengthAt(i) <= bestStrength) continue;
          if (clock < 0) clock = Date.now();
          if (table.expiresAt(i) > clock) {
            best = table.valueAt(i);
            bestStrength = table.strengthAt(i);
            if (bestStrength === 3) break;
          }
        }
      }
    }
    const fingerprint = request.fingerprint;
    if (bestStrength < 3 && fingerprint && this.fingerprints.size > 0) {
      const entry = this.fingerprints.get(fingerprint);
      if (entry !== undefined && entry.strength > bestStrength) {
        if (clock < 0) clock = Date.now();
        if (entry.expiresAt > clock) best = entry;
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
      // Same key, same target: a new entry in the same slot and in the tables.
      const replacement = new Entry(decision, entry.target, entry.generation + 1);
      this.entries[existing] = replacement;
      this.link(replacement, false);
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
    this.link(entry, true);
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

  /** Puts the entry in the tables of its target (`added`: a new key, else a replacement). */
  private link(entry: Entry, added: boolean): void {
    const target = entry.target;
    if (target.scope === 'fingerprint') {
      this.fingerprints.set(target.fingerprint, entry);
    } else if (target.scope === 'ip') {
      const a = target.address;
      if (a.version === 4) this.v4Exact.set(a.value, entry, entry.strength, entry.expiresAt);
      else
        this.v6Exact.set(
          a.words[0],
          a.words[1],
          a.words[2],
          a.words[3],
          entry,
          entry.strength,
          entry.expiresAt,
        );
    } else {
      const c = target.cidr;
      if (c.version === 4) {
        let table = this.v4Ranges[c.prefixLength];
        if (table === undefined) {
          table = new Uint32Table();
          this.v4Ranges[c.prefixLength] = table;
        }
        table.set(c.network, entry, entry.strength, entry.expiresAt);
      } else {
        let table = this.v6Ranges[c.prefixLength];
        if (table === undefined) {
          table = new Words128Table();
          this.v6Ranges[c.prefixLength] = table;
        }
        table.set(c.words[0], c.words[1], c.words[2], c.words[3], entry, entry.strength, entry.expiresAt);
      }
      if (added) {
        this.rangeCount++;
        if (c.version === 4) {
          if (this.v4LengthCount[c.prefixLength]!++ === 0) this.updateV4Lengths();
          countPer16(this.v4RangesPer16, this.v4RangeBits, c.network >>> 16, c.prefixLength, 1);
        } else {
          if (this.v6LengthCount[c.prefixLength]!++ === 0) this.updateV6Lengths();
          countPer16(this.v6RangesPer16, this.v6RangeBits, c.words[0] >>> 16, c.prefixLength, 1);
        }
      }
    }
    if (added && target.scope !== 'fingerprint') this.addFilterBit(target);
  }

  /** Sets the absence-filter bit of an address or range target. */
  private addFilterBit(target: DecisionTarget): void {
    if (target.scope === 'ip') {
      const a = target.address;
      if (a.version === 4) {
        this.v4Filter.add(uint32FilterBit(a.value));
        this.v4FilterKeys++;
      } else {
        this.v6Filter.add(words128FilterBit(a.words[0], a.words[1], a.words[2], a.words[3]));
        this.v6FilterKeys++;
      }
    } else if (target.scope === 'range') {
      const c = target.cidr;
      if (c.version === 4) {
        this.v4Filter.add(uint32FilterBit(c.network, c.prefixLength));
        this.v4FilterKeys++;
      } else {
        const w = c.words;
        this.v6Filter.add(words128FilterBit(w[0], w[1], w[2], w[3], c.prefixLength));
        this.v6FilterKeys++;
      }
    }
  }

  private removeSlot(slot: number): void {
    const entry = this.entries[slot]!;
    const target = entry.target;
    this.byKey.delete(target.key);
    let family = 0;
    if (target.scope === 'fingerprint') {
      this.fingerprints.delete(target.fingerprint);
    } else if (target.scope === 'ip') {
      const a = target.address;
      family = a.version;
      if (a.version === 4) this.v4Exact.delete(a.value);
      else this.v6Exact.delete(a.words[0], a.words[1], a.words[2], a.words[3]);
    } else {
      const c = target.cidr;
      family = c.version;
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
    if (family === 4) {
      this.v4FilterKeys--;
      if (++this.v4Filter.removedSinceRebuild > this.v4FilterKeys + 1024) this.rebuildFilter(4);
    } else if (family === 6) {
      this.v6FilterKeys--;
      if (++this.v6Filter.removedSinceRebuild > this.v6FilterKeys + 1024) this.rebuildFilter(6);
    }
  }

  /** Clears removed keys' bits: every live address and range of the family sets its bit again. */
  private rebuildFilter(family: 4 | 6): void {
    (family === 4 ? this.v4Filter : this.v6Filter).clear();
    if (family === 4) this.v4FilterKeys = 0;
    else this.v6FilterKeys = 0;
    for (const entry of this.entries) {
      if (entry === undefined) continue;
      const target = entry.target;
      if (
        target.scope === 'ip'
          ? target.address.version === family
          : target.scope === 'range' && target.cidr.version === family
      )
        this.addFilterBit(target);
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
