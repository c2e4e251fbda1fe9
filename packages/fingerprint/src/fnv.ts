/**
 * FNV-1a 64-bit (Fowler–Noll–Vo; parameters from the FNV reference, www.isthe.com/chongo/tech/comp/fnv)
 * over the UTF-8 bytes of text, kept as two uint32 halves because JS numbers hold 53 bits. A
 * non-cryptographic hash: fast on short strings and well spread, but not collision-resistant
 * against someone who crafts inputs — fingerprints group traffic, they never authorise anything.
 */
const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
/** The 64-bit prime is 2^40 + 0x1b3: multiplying is `h * 0x1b3 + (h << 40)`. */
const PRIME_LO = 0x1b3;
const TWO_POW_32 = 4294967296;

export class Fnv1a64 {
  private hi = OFFSET_HI;
  private lo = OFFSET_LO;

  /** Upper 32 bits of the running hash (with {@link low}, a resumable state). */
  get high(): number {
    return this.hi;
  }

  get low(): number {
    return this.lo;
  }

  /** Continues from a state saved with {@link high} and {@link low}. */
  resume(high: number, low: number): this {
    this.hi = high;
    this.lo = low;
    return this;
  }

  reset(): this {
    this.hi = OFFSET_HI;
    this.lo = OFFSET_LO;
    return this;
  }

  /** Feeds the UTF-8 encoding of `text`, byte for byte what `Buffer.from(text)` holds. */
  update(text: string): this {
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code < 0x80) {
        this.byte(code);
      } else if (code < 0x800) {
        this.byte(0xc0 | (code >> 6));
        this.byte(0x80 | (code & 0x3f));
      } else if (code >= 0xd800 && code < 0xdc00 && i + 1 < text.length) {
        const low = text.charCodeAt(i + 1);
        if (low >= 0xdc00 && low < 0xe000) {
          const point = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          this.byte(0xf0 | (point >> 18));
          this.byte(0x80 | ((point >> 12) & 0x3f));
          this.byte(0x80 | ((point >> 6) & 0x3f));
          this.byte(0x80 | (point & 0x3f));
          i++;
        } else {
          this.threeBytes(code);
        }
      } else {
        this.threeBytes(code);
      }
    }
    return this;
  }

  /** Feeds one byte (0..255); used between fields so that `ab|c` and `a|bc` differ. */
  byte(value: number): this {
    const lo = (this.lo ^ value) >>> 0;
    const product = lo * PRIME_LO; // < 2^41: exact in a double
    const carry = Math.floor(product / TWO_POW_32);
    this.hi = (Math.imul(this.hi, PRIME_LO) + (lo << 8) + carry) >>> 0;
    this.lo = product >>> 0;
    return this;
  }

  /** The top `digits` hex digits (1..16) of the 64-bit value; the high bits are the best mixed. */
  hex(digits = 16): string {
    const full = this.hi.toString(16).padStart(8, '0') + this.lo.toString(16).padStart(8, '0');
    return full.slice(0, digits);
  }

  /** A lone surrogate is not encodable: it becomes U+FFFD, as TextEncoder and Buffer write it. */
  private threeBytes(utf16: number): void {
    const code = utf16 >= 0xd800 && utf16 < 0xe000 ? 0xfffd : utf16;
    this.byte(0xe0 | (code >> 12));
    this.byte(0x80 | ((code >> 6) & 0x3f));
    this.byte(0x80 | (code & 0x3f));
  }
}

/** FNV-1a 64 of `text` as 16 hex digits (or fewer, from the top). */
export function fnv1a64Hex(text: string, digits = 16): string {
  return scratch.reset().update(text).hex(digits);
}

const scratch = new Fnv1a64();
