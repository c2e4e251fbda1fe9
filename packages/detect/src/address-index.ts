import type { KeyIndex } from './clock-table.js';

/**
 * Address text → slot number, for the profiler's client table (one lookup per request). A
 * canonical dotted-quad IPv4 address (no leading zeros, four parts ≤ 255: what the log parsers
 * produce) is read as its 32-bit number and found in an open-addressing table of numbers, so the
 * lookup hashes no text and compares no text: a `Map` by address string hashes the request's
 * copy of the text, then compares it with the stored key, one more memory access to a string
 * elsewhere on the heap. Every other text (IPv6, or an IPv4 text in another spelling) goes to a
 * `Map`: the two never mix, since the number is only used for texts that are the one spelling of
 * it. Same contract as the `Map` methods it replaces (`get`, `set`, `delete`, `size`).
 */
export class AddressIndex implements KeyIndex<string> {
  /** (address, slot + 1) pairs, by linear probing; slot + 1 = 0 marks an empty cell. */
  private cells = new Int32Array(2 * 1024);
  private bits = 10;
  private count = 0;
  private readonly other = new Map<string, number>();

  get size(): number {
    return this.count + this.other.size;
  }

  get(key: string): number | undefined {
    const address = ipv4Number(key);
    if (address < 0) return this.other.get(key);
    const cells = this.cells;
    const mask = (1 << this.bits) - 1;
    const tag = address | 0;
    for (let i = this.home(tag); ; i = (i + 1) & mask) {
      const slot = cells[2 * i + 1]!;
      if (slot === 0) return undefined;
      if (cells[2 * i] === tag) return slot - 1;
    }
  }

  /** Adds `key` → `slot` (`key` must not be present). */
  set(key: string, slot: number): this {
    const address = ipv4Number(key);
    if (address < 0) {
      this.other.set(key, slot);
      return this;
    }
    // At most half full: probe sequences stay short.
    if (2 * (this.count + 1) > 1 << this.bits) this.rehash(this.bits + 1);
    this.place(address | 0, slot + 1);
    this.count++;
    return this;
  }

  delete(key: string): boolean {
    const address = ipv4Number(key);
    if (address < 0) return this.other.delete(key);
    const cells = this.cells;
    const mask = (1 << this.bits) - 1;
    const tag = address | 0;
    let hole = this.home(tag);
    for (; ; hole = (hole + 1) & mask) {
      if (cells[2 * hole + 1] === 0) return false;
      if (cells[2 * hole] === tag) break;
    }
    // Backward-shift deletion: entries later in the probe run move into the hole when their home
    // cell is not after it, so no lookup stops early at an empty cell (no tombstones).
    for (let j = (hole + 1) & mask; cells[2 * j + 1] !== 0; j = (j + 1) & mask) {
      const home = this.home(cells[2 * j]!);
      const homeInRun = hole < j ? home > hole && home <= j : home > hole || home <= j;
      if (!homeInRun) {
        cells[2 * hole] = cells[2 * j]!;
        cells[2 * hole + 1] = cells[2 * j + 1]!;
        hole = j;
      }
    }
    cells[2 * hole] = 0;
    cells[2 * hole + 1] = 0;
    this.count--;
    return true;
  }

  /** The cell an address starts probing at: multiplicative hashing (Knuth), top bits. */
  private home(tag: number): number {
    return Math.imul(tag, 0x9e3779b1) >>> (32 - this.bits);
  }

  private place(tag: number, slotPlusOne: number): void {
    const cells = this.cells;
    const mask = (1 << this.bits) - 1;
    let i = this.home(tag);
    while (cells[2 * i + 1] !== 0) i = (i + 1) & mask;
    cells[2 * i] = tag;
    cells[2 * i + 1] = slotPlusOne;
  }

  private rehash(bits: number): void {
    const old = this.cells;
    this.cells = new Int32Array(2 << bits);
    this.bits = bits;
    for (let i = 0; i < old.length; i += 2) if (old[i + 1] !== 0) this.place(old[i]!, old[i + 1]!);
  }
}

/**
 * The text ipv4Number read last, and its number. Each request's address is looked up by the
 * profiler and then by the verdict backtest (each in its own AddressIndex), and a new address is
 * inserted right after its lookup: the second read of the same text costs one comparison (a
 * pointer compare when it is the same string) instead of parsing it again.
 */
let lastText = '';
let lastNumber = -1;

/**
 * The number of a canonical dotted-quad IPv4 text ("192.0.2.1": four decimal parts 0–255 without
 * leading zeros), or -1 for any other text.
 */
export function ipv4Number(text: string): number {
  if (text === lastText) return lastNumber;
  const address = readIpv4(text);
  lastText = text;
  lastNumber = address;
  return address;
}

function readIpv4(text: string): number {
  const length = text.length;
  if (length < 7 || length > 15) return -1;
  let address = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      address = address * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      const d = c - 48;
      if (d < 0 || d > 9 || (digits === 1 && part === 0)) return -1;
      part = part * 10 + d;
      if (part > 255) return -1;
      digits++;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return address * 256 + part;
}

/**
 * The right shift that takes a canonical IPv4 address's number to its prefix number for
 * DetectDeps.ipv4PrefixBits `bits` (see {@link ipv4PrefixNumber}), or -1 when `bits` is not given
 * or not 0–32: prefixes are then found by their text.
 */
export function ipv4PrefixShift(bits: number | undefined): number {
  return bits !== undefined && bits >= 0 && bits <= 32 ? 32 - bits : -1;
}

/** The prefix number of IPv4 address number `address` at {@link ipv4PrefixShift} `shift` (≥ 0). */
export function ipv4PrefixNumber(address: number, shift: number): number {
  // `>>> 32` would shift by 0: a /0 prefix is the one number 0.
  return shift === 32 ? 0 : address >>> shift;
}
