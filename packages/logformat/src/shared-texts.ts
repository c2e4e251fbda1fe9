/**
 * Shared copies of field texts that repeat from line to line (user agents): a parser hands out
 * the same string object for the same text, so that consumers comparing a record's field with
 * the one they kept (`log.userAgent !== client.userAgent`, once per request in the profiler and
 * the backtest) find them identical by pointer, without reading either text. A field cut out of
 * its line is a slice of it in V8 (from 13 characters on), and `===` between a slice and a flat
 * copy leaves the fast path for the runtime (docs/BENCHMARKS.md, "Fourth session of 2026-11-29:
 * profiler stage CPU"). The shared copies are internalized ({@link internalizedCopy}): flat, owning
 * their characters (no line kept alive), and the very strings other packages' detached copies of
 * the same text are.
 *
 * Bounded and cheap to miss, since the input may be hostile (a flood of distinct user agents):
 * - a fixed table of `2 ** bits` sets of 2 entries, indexed by a hash of the text's length and some
 *   of its characters (a sample: a whole-text hash cost as much as what it saves);
 * - a text is admitted on its second sighting only (its hash noted on the first), so a text seen
 *   once costs a hash and a store;
 * - admissions (an internalization, ~0.5 µs) are limited to {@link ADMISSION_BURST} plus one per
 *   {@link LOOKUPS_PER_ADMISSION} lookups, so texts crafted to share a sample cost at most that;
 * - texts shorter than {@link MIN_SHARED_LENGTH} (V8 copies those anyway) or longer than
 *   {@link MAX_SHARED_LENGTH} are passed through.
 * A text that is not shared is returned as given: never a change in value, only in identity.
 */

/** V8 makes a copy, not a slice, of a substring shorter than this (SlicedString::kMinLength). */
export const MIN_SHARED_LENGTH = 13;
/** Longer texts are passed through: a long user agent is rare, and padding is hostile. */
export const MAX_SHARED_LENGTH = 512;
/** Admissions allowed before the rate below applies (a log's first lines bring its texts). */
export const ADMISSION_BURST = 1024;
/** After the burst, one admission per this many lookups. */
export const LOOKUPS_PER_ADMISSION = 64;
/** Characters of a text read into its hash, spread over its length (plus its last {@link TAIL}). */
const SAMPLES = 16;
/** Last characters read into the hash: versions (`Chrome/120.0.0.0 Mobile Safari/537.36`) sit there. */
const TAIL = 40;

/** A dictionary-mode object (null prototype) whose one key at a time internalizes a text. An
 *  object literal per text (`{ [text]: 0 }`) would add a hidden-class transition per distinct key. */
const internalizer: Record<string, number> = Object.create(null);

/**
 * An internalized copy of `text`: the one string V8 keeps for that text (in its string table, weakly:
 * freed when unreferenced), flat and owning its characters. The same text always gives the same
 * string object, so two copies made apart compare equal by pointer. Texts of 13 characters or
 * more are never array indices (at most 10 digits), so the key read back is the text itself.
 * About 1 µs: for admissions, not per line.
 */
export function internalizedCopy(text: string): string {
  internalizer[text] = 0;
  let key = text;
  for (key in internalizer) break;
  delete internalizer[text];
  return key;
}

export class SharedTexts {
  private readonly texts: string[];
  private readonly hashes: Int32Array;
  /** Per set: the hash of the last text that missed it (admitted when seen again). */
  private readonly seen: Int32Array;
  /** Per set: the way hit or admitted last (the other one is replaced). */
  private readonly recent: Uint8Array;
  private readonly mask: number;
  private lookups = 0;
  private admissions = 0;

  constructor(readonly bits = 10) {
    const sets = 1 << bits;
    this.mask = sets - 1;
    this.texts = new Array<string>(2 * sets).fill('');
    this.hashes = new Int32Array(2 * sets);
    this.seen = new Int32Array(sets);
    this.recent = new Uint8Array(sets);
  }

  /** How many texts the table can hold. */
  get capacity(): number {
    return this.texts.length;
  }

  /** How many texts it holds. */
  get size(): number {
    let n = 0;
    for (const text of this.texts) if (text !== '') n++;
    return n;
  }

  /** `text`, or the shared string of the same text. */
  share(text: string): string {
    return this.shareAt(text, 0, text.length, text);
  }

  /**
   * {@link share} of `text`, which is `source[start, end)` (read in place for the hash: a flat log
   * line's chars are quicker to read than its slice's).
   */
  shareAt(source: string, start: number, end: number, text: string): string {
    const length = end - start;
    if (length < MIN_SHARED_LENGTH || length > MAX_SHARED_LENGTH) return text;
    this.lookups++;
    const hash = sampleHash(source, start, end);
    const set = hash & this.mask;
    const way = set << 1;
    const texts = this.texts;
    const hashes = this.hashes;
    if (hashes[way] === hash) {
      const resident = texts[way]!;
      if (resident === text) {
        this.recent[set] = 0;
        return resident;
      }
    }
    if (hashes[way + 1] === hash) {
      const resident = texts[way + 1]!;
      if (resident === text) {
        this.recent[set] = 1;
        return resident;
      }
    }
    if (this.seen[set] !== hash) {
      this.seen[set] = hash;
      return text;
    }
    if (this.admissions >= ADMISSION_BURST + this.lookups / LOOKUPS_PER_ADMISSION) return text;
    this.admissions++;
    this.seen[set] = 0;
    const victim = way + 1 - this.recent[set]!;
    const shared = internalizedCopy(text);
    texts[victim] = shared;
    hashes[victim] = hash;
    this.recent[set] = victim - way;
    return shared;
  }

  /** {@link share} for optional fields. */
  shareOptional(text: string | null): string | null {
    return text === null ? null : this.share(text);
  }
}

/** A hash of `text`'s length and {@link SAMPLES} of its characters spread over it, plus its last {@link TAIL}. */
function sampleHash(text: string, start: number, end: number): number {
  const length = end - start;
  let h = Math.imul(length, 0x9e3779b1);
  // Integer arithmetic only: a double index (Math.ceil's) sends charCodeAt off its fast path.
  const step = ((length + SAMPLES - 1) / SAMPLES) | 0;
  for (let i = start; i < end; i += step) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  for (let i = length > TAIL ? end - TAIL : start; i < end; i++)
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  // Never 0 (the empty entry's and the `seen` slot's initial value).
  return h ^ (h >>> 15) || 1;
}
