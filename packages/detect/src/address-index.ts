import type { KeyIndex } from './clock-table.js';

/**
 * Address text → slot number, for the profiler's client table (one lookup per request). A
 * canonical dotted-quad IPv4 address (no leading zeros, four parts ≤ 255: what the log parsers
 * produce) is read as its 32-bit number and found in an open-addressing table of numbers, so the
 * lookup hashes no text and compares no text: a `Map` by address string hashes the request's
 * copy of the text, then compares it with the stored key, one more memory access to a string
 * elsewhere on the heap. An IPv6 address written as eight full groups (see readIpv6: most client
 * addresses in logs, temporary and SLAAC ones) is likewise read as its four 32-bit words and found
 * in a second such table (a `Map` lookup of a 37-character address cost ~1 µs per request with
 * the table out of cache: the text's hash, the bucket, the entry and the stored key's text are
 * four places in memory, where a table of words is one). Every other text (IPv6 with `::`, or any
 * address in another spelling) goes to a `Map`: the kinds never mix, since a number is only used
 * for texts that are the one spelling of it in their form. Same contract as the `Map` methods it
 * replaces (`get`, `set`, `delete`, `size`).
 */
export class AddressIndex implements KeyIndex<string> {
  /** (address, slot + 1) pairs, by linear probing; slot + 1 = 0 marks an empty cell. */
  private cells = new Int32Array(2 * 1024);
  private bits = 10;
  private count = 0;
  /**
   * IPv6 cells of CELL6 Int32 values, (4 words, slot + 1, unused), by linear probing; slot + 1 = 0
   * marks an empty cell. At most half full, as `cells`.
   */
  private cells6 = new Int32Array(CELL6 << 6);
  private bits6 = 6;
  private count6 = 0;
  private readonly other = new Map<string, number>();

  get size(): number {
    return this.count + this.count6 + this.other.size;
  }

  get(key: string): number | undefined {
    const address = ipv4Number(key);
    if (address < 0) return readIpv6(key) ? this.get6() : this.other.get(key);
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
      if (readIpv6(key)) {
        if (2 * (this.count6 + 1) > 1 << this.bits6) this.rehash6(this.bits6 + 1);
        this.place6(v6[0]!, v6[1]!, v6[2]!, v6[3]!, slot + 1);
        this.count6++;
      } else {
        this.other.set(key, slot);
      }
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
    if (address < 0) return readIpv6(key) ? this.delete6() : this.other.delete(key);
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

  /** The slot of the IPv6 address in v6 (undefined: none). */
  private get6(): number | undefined {
    const cells = this.cells6;
    const mask = (1 << this.bits6) - 1;
    const a = v6[0]!;
    const b = v6[1]!;
    const c = v6[2]!;
    const d = v6[3]!;
    for (let i = this.home6(a, b, c, d); ; i = (i + 1) & mask) {
      const at = i * CELL6;
      const slot = cells[at + 4]!;
      if (slot === 0) return undefined;
      if (cells[at] === a && cells[at + 1] === b && cells[at + 2] === c && cells[at + 3] === d)
        return slot - 1;
    }
  }

  /** Deletes the IPv6 address in v6 (backward-shift deletion, as for IPv4). */
  private delete6(): boolean {
    const cells = this.cells6;
    const mask = (1 << this.bits6) - 1;
    const a = v6[0]!;
    const b = v6[1]!;
    const c = v6[2]!;
    const d = v6[3]!;
    let hole = this.home6(a, b, c, d);
    for (; ; hole = (hole + 1) & mask) {
      const at = hole * CELL6;
      if (cells[at + 4] === 0) return false;
      if (cells[at] === a && cells[at + 1] === b && cells[at + 2] === c && cells[at + 3] === d) break;
    }
    for (let j = (hole + 1) & mask; cells[j * CELL6 + 4] !== 0; j = (j + 1) & mask) {
      const at = j * CELL6;
      const home = this.home6(cells[at]!, cells[at + 1]!, cells[at + 2]!, cells[at + 3]!);
      const homeInRun = hole < j ? home > hole && home <= j : home > hole || home <= j;
      if (!homeInRun) {
        cells.copyWithin(hole * CELL6, at, at + CELL6);
        hole = j;
      }
    }
    cells.fill(0, hole * CELL6, hole * CELL6 + CELL6);
    this.count6--;
    return true;
  }

  /** The cell an IPv6 address (four words) starts probing at: its words mixed, top bits. */
  private home6(a: number, b: number, c: number, d: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ b;
    h = Math.imul(h, 0x85ebca6b) ^ c;
    h = Math.imul(h, 0xc2b2ae35) ^ d;
    return Math.imul(h ^ (h >>> 16), 0x9e3779b1) >>> (32 - this.bits6);
  }

  private place6(a: number, b: number, c: number, d: number, slotPlusOne: number): void {
    const cells = this.cells6;
    const mask = (1 << this.bits6) - 1;
    let i = this.home6(a, b, c, d);
    while (cells[i * CELL6 + 4] !== 0) i = (i + 1) & mask;
    const at = i * CELL6;
    cells[at] = a;
    cells[at + 1] = b;
    cells[at + 2] = c;
    cells[at + 3] = d;
    cells[at + 4] = slotPlusOne;
  }

  private rehash6(bits: number): void {
    const old = this.cells6;
    this.cells6 = new Int32Array(CELL6 << bits);
    this.bits6 = bits;
    for (let at = 0; at < old.length; at += CELL6) {
      if (old[at + 4] !== 0) this.place6(old[at]!, old[at + 1]!, old[at + 2]!, old[at + 3]!, old[at + 4]!);
    }
  }
}

/** Int32 values per IPv6 cell (5 used; 8 keeps a cell within one 64-byte cache line). */
const CELL6 = 8;

/** The four 32-bit words (as Int32) of the IPv6 text readIpv6 accepted last. */
const v6 = new Int32Array(4);

/**
 * Whether `text` is an IPv6 address written as eight groups of 1–4 lower-case hex digits without
 * leading zeros ("2001:db8:0:a:8:800:200c:417a"); if so, its 128 bits are in v6. Within this form
 * a number has one spelling, so keying these texts by number keeps apart exactly the texts a `Map`
 * by text keeps apart. Any other text (`::`, upper case, a leading zero, an embedded dotted quad,
 * a zone, not an address at all) returns false and is keyed by its text.
 */
function readIpv6(text: string): boolean {
  const length = text.length;
  if (length < 15 || length > 39) return false;
  let group = 0;
  let digits = 0;
  let groups = 0;
  let word = 0;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) {
      if (digits === 0 || groups === 7) return false;
      if ((groups & 1) === 0) {
        word = group << 16;
      } else {
        v6[groups >> 1] = word | group;
      }
      groups++;
      group = 0;
      digits = 0;
    } else {
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else return false;
      if (digits === 4 || (digits === 1 && group === 0)) return false;
      group = (group << 4) | d;
      digits++;
    }
  }
  if (digits === 0 || groups !== 7) return false;
  v6[3] = word | group;
  return true;
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
