/**
 * Open-addressing hash tables from network keys to values (the decision index's entries), keys laid
 * out in typed arrays: the hot path of `check()` probes one of these per prefix length in use, so a
 * probe must neither allocate nor hash a string. A JS Map keyed by uint32 boxes every key above 2^30
 * as a heap number (half of IPv4); these tables compare int32 words instead.
 *
 * A cell's value sits in a plain array at the cell's index, and what a lookup decides on (the
 * action's strength and the expiry) in typed arrays at the same index: a hit loads key, strength,
 * expiry and value reference at once, all addressed by the cell index, instead of key → slot number
 * → slot array → object → its fields, one cache miss after the other (with 100k decisions the tables
 * are megabytes, and memory latency, not arithmetic, is what a hit costs).
 *
 * Linear probing with backward-shift deletion (no tombstones, so a long-lived table with churn
 * never degrades), load factor ≤ 1/2, capacity a power of two. An empty cell holds `undefined`.
 */

const MIN_BITS = 4;
/** Fibonacci hashing multiplier (2^32 / golden ratio), the usual choice for multiplicative hashing. */
const GOLDEN = 0x9e3779b1 | 0;

/**
 * What both tables share: per cell, the value and what a lookup decides on (strength, expiry), at
 * the cell's index; the subclasses add the keys and the probing.
 */
abstract class CellTable<T> {
  protected values: Array<T | undefined> = [];
  private strengths = new Uint8Array(0);
  private expiries = new Float64Array(0);
  protected mask = 0;
  protected shift = 0;
  protected count = 0;

  get size(): number {
    return this.count;
  }

  /** The value of cell `i` (from indexOf), its strength and its expiry. */
  valueAt(i: number): T {
    return this.values[i]!;
  }

  strengthAt(i: number): number {
    return this.strengths[i]!;
  }

  expiresAt(i: number): number {
    return this.expiries[i]!;
  }

  /** Empty cells for 2^bits entries (the keys are the subclass's). */
  protected allocate(bits: number): void {
    this.values = new Array<T | undefined>(1 << bits).fill(undefined);
    this.strengths = new Uint8Array(1 << bits);
    this.expiries = new Float64Array(1 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
    this.count = 0;
  }

  /** Writes cell `i`'s value, strength and expiry (its key is the caller's); counts a new cell. */
  protected fill(i: number, value: T, strength: number, expiresAt: number): void {
    if (this.values[i] === undefined) this.count++;
    this.values[i] = value;
    this.strengths[i] = strength;
    this.expiries[i] = expiresAt;
  }

  protected move(from: number, to: number): void {
    this.values[to] = this.values[from];
    this.strengths[to] = this.strengths[from]!;
    this.expiries[to] = this.expiries[from]!;
  }

  /** Doubles the capacity and stores every cell again through `reinsert(old index)`. */
  protected regrow(reinsert: (i: number, value: T, strength: number, expiresAt: number) => void): void {
    const { values, strengths, expiries } = this;
    this.allocate(33 - this.shift);
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (value !== undefined) reinsert(i, value, strengths[i]!, expiries[i]!);
    }
  }
}

/** uint32 key (an IPv4 address or masked network) → value. */
export class Uint32Table<T> extends CellTable<T> {
  private keys: Int32Array;

  constructor(initialBits = MIN_BITS) {
    super();
    const bits = Math.max(MIN_BITS, initialBits);
    this.keys = new Int32Array(1 << bits);
    this.allocate(bits);
  }

  /** The cell holding `key`, or -1. */
  indexOf(key: number): number {
    const k = key | 0;
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    let i = Math.imul(k, GOLDEN) >>> this.shift;
    for (;;) {
      if (values[i] === undefined) return -1;
      if (keys[i] === k) return i;
      i = (i + 1) & mask;
    }
  }

  get(key: number): T | undefined {
    return this.values[this.find(key | 0)];
  }

  /** Stores `value` for `key` (with its strength and expiry), replacing any previous one. */
  set(key: number, value: T, strength: number, expiresAt: number): void {
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    const i = this.find(key | 0);
    this.keys[i] = key;
    this.fill(i, value, strength, expiresAt);
  }

  /** Removes `key`; returns whether it was there. */
  delete(key: number): boolean {
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    const i = this.find(key | 0);
    if (values[i] === undefined) return false;
    // Backward shift: move later members of the probe run into the hole when their home allows it.
    let hole = i;
    let j = (i + 1) & mask;
    while (values[j] !== undefined) {
      const home = Math.imul(keys[j]!, GOLDEN) >>> this.shift;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        keys[hole] = keys[j]!;
        this.move(j, hole);
        hole = j;
      }
      j = (j + 1) & mask;
    }
    values[hole] = undefined;
    this.count--;
    return true;
  }

  /** The index holding the key, or the empty index where it would go. */
  private find(k: number): number {
    let i = Math.imul(k, GOLDEN) >>> this.shift;
    while (this.values[i] !== undefined && this.keys[i] !== k) i = (i + 1) & this.mask;
    return i;
  }

  private grow(): void {
    const keys = this.keys;
    this.keys = new Int32Array(2 * keys.length);
    this.regrow((i, value, strength, expiresAt) => this.set(keys[i]!, value, strength, expiresAt));
  }
}

/** 128-bit key (an IPv6 address or masked network, four uint32 words) → value. */
export class Words128Table<T> extends CellTable<T> {
  private keys: Int32Array;

  constructor(initialBits = MIN_BITS) {
    super();
    const bits = Math.max(MIN_BITS, initialBits);
    this.keys = new Int32Array(4 << bits);
    this.allocate(bits);
  }

  /** The cell holding the key, or -1. */
  indexOf(a: number, b: number, c: number, d: number): number {
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    let i = words128Hash(a, b, c, d) >>> this.shift;
    for (;;) {
      if (values[i] === undefined) return -1;
      const at = i << 2;
      if (
        keys[at] === (a | 0) &&
        keys[at + 1] === (b | 0) &&
        keys[at + 2] === (c | 0) &&
        keys[at + 3] === (d | 0)
      )
        return i;
      i = (i + 1) & mask;
    }
  }

  get(a: number, b: number, c: number, d: number): T | undefined {
    return this.values[this.find(a, b, c, d)];
  }

  set(a: number, b: number, c: number, d: number, value: T, strength: number, expiresAt: number): void {
    if ((this.count + 1) * 2 > this.values.length) this.grow();
    const i = this.find(a, b, c, d);
    const at = i << 2;
    this.keys[at] = a;
    this.keys[at + 1] = b;
    this.keys[at + 2] = c;
    this.keys[at + 3] = d;
    this.fill(i, value, strength, expiresAt);
  }

  delete(a: number, b: number, c: number, d: number): boolean {
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    const i = this.find(a, b, c, d);
    if (values[i] === undefined) return false;
    let hole = i;
    let j = (i + 1) & mask;
    while (values[j] !== undefined) {
      const at = j << 2;
      const home = words128Hash(keys[at]!, keys[at + 1]!, keys[at + 2]!, keys[at + 3]!) >>> this.shift;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        keys.copyWithin(hole << 2, at, at + 4);
        this.move(j, hole);
        hole = j;
      }
      j = (j + 1) & mask;
    }
    values[hole] = undefined;
    this.count--;
    return true;
  }

  /** The index holding the key, or the empty index where it would go. */
  private find(a: number, b: number, c: number, d: number): number {
    let i = words128Hash(a, b, c, d) >>> this.shift;
    for (;;) {
      if (this.values[i] === undefined) return i;
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
    const keys = this.keys;
    this.keys = new Int32Array(2 * keys.length);
    this.regrow((i, value, strength, expiresAt) => {
      const at = i << 2;
      this.set(keys[at]!, keys[at + 1]!, keys[at + 2]!, keys[at + 3]!, value, strength, expiresAt);
    });
  }
}

/** 32-bit hash of a 128-bit key (multiplicative, mixed down so the top bits depend on every word). */
function words128Hash(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a | 0, GOLDEN);
  h = Math.imul(h ^ (b | 0), GOLDEN);
  h = Math.imul(h ^ (c | 0), GOLDEN);
  h = Math.imul(h ^ (d | 0), GOLDEN);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * A bitmap answering "is this key certainly absent?" for the tables of one address family: 2^20
 * bits (128 KiB, cache-resident), one bit per hashed key, exact addresses and ranges alike (a
 * range's bit is its masked network's, salted with its prefix length). Most addresses a proxy sees
 * have no decision; for them a lookup reads a bit per table instead of probing tables of megabytes
 * (with 100k keys about 9 % of absent keys pass the filter and probe). Bits are not cleared on
 * removal; the filter is rebuilt by its owner when removals since the last rebuild exceed the keys
 * present.
 */
export class AbsenceFilter {
  private readonly bits = new Uint32Array(1 << 15);
  /** Keys removed since the last rebuild (their bits may still be set). */
  removedSinceRebuild = 0;

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

/**
 * Filter bit of an IPv4 key: an address (`prefixLength` 0, the exact table) or a range's masked
 * network with its prefix length (1–32), so that a /24 and a /32 of the same network differ.
 * The top 20 bits of a multiplicative hash.
 */
export function uint32FilterBit(key: number, prefixLength = 0): number {
  return Math.imul((key + prefixLength) | 0, GOLDEN) >>> 12;
}

/** Filter bit of a 128-bit key: an address (`prefixLength` 0) or a range's masked network and length. */
export function words128FilterBit(a: number, b: number, c: number, d: number, prefixLength = 0): number {
  return words128Hash(a, b, c, (d + prefixLength) | 0) >>> 12;
}
