/**
 * Open-addressing hash tables from network keys to small integers (entry slots), laid out in typed
 * arrays: the hot path of `check()` probes one of these per prefix length in use, so a probe must
 * neither allocate nor hash a string. A JS Map keyed by uint32 boxes every key above 2^30 as a heap
 * number (half of IPv4); these tables compare int32 words instead.
 *
 * Linear probing with backward-shift deletion (no tombstones, so a long-lived table with churn
 * never degrades), load factor ≤ 1/2, capacity a power of two. Values are stored as slot + 1 so
 * that 0 means empty.
 */

const MIN_BITS = 4;
/** Fibonacci hashing multiplier (2^32 / golden ratio), the usual choice for multiplicative hashing. */
const GOLDEN = 0x9e3779b1 | 0;

/**
 * uint32 key (an IPv4 address or masked network) → slot. Key and value share one Int32Array
 * (`cells[2i]`, `cells[2i + 1]`), so a probe touches one cache line: with 100k random addresses
 * the table is megabytes and memory latency, not arithmetic, is what a lookup costs.
 */
export class Uint32Table {
  private cells: Int32Array;
  private mask: number;
  private shift: number;
  private count = 0;

  constructor(initialBits = MIN_BITS) {
    const bits = Math.max(MIN_BITS, initialBits);
    this.cells = new Int32Array(2 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
  }

  get size(): number {
    return this.count;
  }

  /** The slot stored for `key`, or -1. */
  get(key: number): number {
    const k = key | 0;
    const cells = this.cells;
    const mask = this.mask;
    let i = Math.imul(k, GOLDEN) >>> this.shift;
    for (;;) {
      const v = cells[2 * i + 1]!;
      if (v === 0) return -1;
      if (cells[2 * i] === k) return v - 1;
      i = (i + 1) & mask;
    }
  }

  /** Stores `slot` for `key`, replacing any previous one. */
  set(key: number, slot: number): void {
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    const k = key | 0;
    const cells = this.cells;
    let i = Math.imul(k, GOLDEN) >>> this.shift;
    for (;;) {
      const v = cells[2 * i + 1]!;
      if (v === 0) {
        cells[2 * i] = k;
        cells[2 * i + 1] = slot + 1;
        this.count++;
        return;
      }
      if (cells[2 * i] === k) {
        cells[2 * i + 1] = slot + 1;
        return;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Removes `key`; returns whether it was there. */
  delete(key: number): boolean {
    const k = key | 0;
    const cells = this.cells;
    const mask = this.mask;
    let i = Math.imul(k, GOLDEN) >>> this.shift;
    for (;;) {
      const v = cells[2 * i + 1]!;
      if (v === 0) return false;
      if (cells[2 * i] === k) break;
      i = (i + 1) & mask;
    }
    // Backward shift: move later members of the probe run into the hole when their home allows it.
    let hole = i;
    let j = (i + 1) & mask;
    while (cells[2 * j + 1] !== 0) {
      const home = Math.imul(cells[2 * j]!, GOLDEN) >>> this.shift;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        cells[2 * hole] = cells[2 * j]!;
        cells[2 * hole + 1] = cells[2 * j + 1]!;
        hole = j;
      }
      j = (j + 1) & mask;
    }
    cells[2 * hole + 1] = 0;
    this.count--;
    return true;
  }

  private grow(): void {
    const old = this.cells;
    const bits = 33 - this.shift;
    this.cells = new Int32Array(2 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
    this.count = 0;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i + 1] !== 0) this.set(old[i]!, old[i + 1]! - 1);
    }
  }
}

/** 128-bit key (an IPv6 address or masked network, four uint32 words) → slot. */
export class Words128Table {
  private keys: Int32Array;
  private values: Int32Array;
  private mask: number;
  private shift: number;
  private count = 0;

  constructor(initialBits = MIN_BITS) {
    const bits = Math.max(MIN_BITS, initialBits);
    this.keys = new Int32Array(4 << bits);
    this.values = new Int32Array(1 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
  }

  get size(): number {
    return this.count;
  }

  private home(a: number, b: number, c: number, d: number): number {
    let h = Math.imul(a | 0, GOLDEN);
    h = Math.imul(h ^ (b | 0), GOLDEN);
    h = Math.imul(h ^ (c | 0), GOLDEN);
    h = Math.imul(h ^ (d | 0), GOLDEN);
    return (h ^ (h >>> 15)) >>> this.shift;
  }

  get(a: number, b: number, c: number, d: number): number {
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    let i = this.home(a, b, c, d);
    for (;;) {
      const v = values[i]!;
      if (v === 0) return -1;
      const at = i << 2;
      if (
        keys[at] === (a | 0) &&
        keys[at + 1] === (b | 0) &&
        keys[at + 2] === (c | 0) &&
        keys[at + 3] === (d | 0)
      )
        return v - 1;
      i = (i + 1) & mask;
    }
  }

  set(a: number, b: number, c: number, d: number, slot: number): void {
    if ((this.count + 1) * 2 > this.values.length) this.grow();
    const i = this.find(a, b, c, d);
    if (this.values[i] === 0) this.count++;
    const at = i << 2;
    this.keys[at] = a;
    this.keys[at + 1] = b;
    this.keys[at + 2] = c;
    this.keys[at + 3] = d;
    this.values[i] = slot + 1;
  }

  delete(a: number, b: number, c: number, d: number): boolean {
    const mask = this.mask;
    const i = this.find(a, b, c, d);
    if (this.values[i] === 0) return false;
    let hole = i;
    let j = (i + 1) & mask;
    while (this.values[j] !== 0) {
      const at = j << 2;
      const home = this.home(this.keys[at]!, this.keys[at + 1]!, this.keys[at + 2]!, this.keys[at + 3]!);
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        this.keys.copyWithin(hole << 2, at, at + 4);
        this.values[hole] = this.values[j]!;
        hole = j;
      }
      j = (j + 1) & mask;
    }
    this.values[hole] = 0;
    this.count--;
    return true;
  }

  /** The index holding the key, or the empty index where it would go. */
  private find(a: number, b: number, c: number, d: number): number {
    let i = this.home(a, b, c, d);
    for (;;) {
      if (this.values[i] === 0) return i;
      const at = i << 2;
      if (
        this.keys[at] === (a | 0) &&
        this.keys[at + 1] === (b | 0) &&
        this.keys[at + 2] === (c | 0) &&
        this.keys[at + 3] === (d | 0)
      )
        return i;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const bits = 33 - this.shift;
    this.keys = new Int32Array(4 << bits);
    this.values = new Int32Array(1 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
    this.count = 0;
    for (let i = 0; i < oldValues.length; i++) {
      if (oldValues[i] === 0) continue;
      const at = i << 2;
      this.set(oldKeys[at]!, oldKeys[at + 1]!, oldKeys[at + 2]!, oldKeys[at + 3]!, oldValues[i]! - 1);
    }
  }
}

/**
 * A bitmap answering "is this key certainly absent?" for the exact-address tables: 2^20 bits
 * (128 KiB, cache-resident), one bit per hashed key. Most addresses a proxy sees have no decision;
 * for them a lookup reads one bit instead of probing a table of megabytes (with 100k keys about
 * 9 % of absent keys pass the filter and probe). Bits are not cleared on removal; the filter is
 * rebuilt by its owner when removals since the last rebuild exceed the keys present.
 */
export class AbsenceFilter {
  private readonly bits = new Uint32Array(1 << 15);
  /** Keys removed since the last rebuild (their bits may still be set). */
  removedSinceRebuild = 0;

  /** Bit index of a 32-bit hash (its top 20 bits). */
  static bitOf(hash: number): number {
    return hash >>> 12;
  }

  mayContain(bit: number): boolean {
    return (this.bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  add(bit: number): void {
    this.bits[bit >>> 5]! |= 1 << (bit & 31);
  }

  clear(): void {
    this.bits.fill(0);
    this.removedSinceRebuild = 0;
  }
}

/** Filter bit of an IPv4 address (or any uint32 key). */
export function uint32FilterBit(key: number): number {
  return AbsenceFilter.bitOf(Math.imul(key | 0, GOLDEN) >>> 0);
}

/** Filter bit of a 128-bit key. */
export function words128FilterBit(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a | 0, GOLDEN);
  h = Math.imul(h ^ (b | 0), GOLDEN);
  h = Math.imul(h ^ (c | 0), GOLDEN);
  h = Math.imul(h ^ (d | 0), GOLDEN);
  return AbsenceFilter.bitOf((h ^ (h >>> 15)) >>> 0);
}
