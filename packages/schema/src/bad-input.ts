import { getSystemErrorMap } from 'node:util';

/**
 * The one error type for bad input (log lines, Kafka messages, HTTP bodies, config). Parsers return
 * it (hot paths) or throw it (config); consumers count it by `reason` and keep a few samples.
 */
export class BadInput extends Error {
  override readonly name = 'BadInput';
  constructor(
    /** Stable machine-readable reason, e.g. `truncated`, `oversized-line`, `bad-timestamp`. */
    readonly reason: string,
    message: string,
    /** The field that was wrong, when one was. */
    readonly field?: string,
    /** Where: `file:line`, `topic/partition@offset`, ... */
    readonly location?: string,
  ) {
    super(location ? `${location}: ${message}` : message);
  }
}

export function isBadInput(value: unknown): value is BadInput {
  return value instanceof BadInput;
}

export interface RejectSample {
  location: string | undefined;
  message: string;
  /** The offending input, cut to a printable excerpt. */
  excerpt: string;
}

/**
 * Counts rejected inputs by reason and keeps the first few samples of each, so an operator sees
 * what went wrong without the counter growing with traffic: reasons are a small fixed vocabulary,
 * and samples are capped per reason.
 */
export class RejectCounter {
  private readonly counts = new Map<string, number>();
  private readonly samples = new Map<string, RejectSample[]>();
  total = 0;

  constructor(
    private readonly samplesPerReason = 3,
    private readonly excerptLength = 200,
    /** Reasons beyond this many are folded into `other`, bounding the map. */
    private readonly maxReasons = 64,
  ) {}

  /** `reason` as counted: itself, or `other` once maxReasons reasons are counted. */
  private counted(reason: string): string {
    return !this.counts.has(reason) && this.counts.size >= this.maxReasons ? 'other' : reason;
  }

  /**
   * Whether a record of `reason` would keep no sample (its samples are full): a caller may then
   * count it with countOnly and skip building the BadInput (an Error, with its stack).
   */
  samplesFull(reason: string): boolean {
    return (this.samples.get(this.counted(reason))?.length ?? 0) >= this.samplesPerReason;
  }

  /** Counts one rejection of `reason` without a sample. */
  countOnly(reason: string): void {
    const key = this.counted(reason);
    this.total++;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Counts one rejection; `location` (e.g. `file:line`) overrides the error's own, for samples only. */
  record(bad: BadInput, input: string, location?: string): void {
    const reason = this.counted(bad.reason);
    this.total++;
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
    let list = this.samples.get(reason);
    if (!list) {
      list = [];
      this.samples.set(reason, list);
    }
    if (list.length < this.samplesPerReason) {
      // The sample has the location; a BadInput that carries its own has it in front of its
      // message too, and a summary printing `location message` said it twice.
      const own = bad.location === undefined ? '' : `${bad.location}: `;
      list.push({
        location: location ?? bad.location,
        message: own && bad.message.startsWith(own) ? bad.message.slice(own.length) : bad.message,
        excerpt: printableExcerpt(input, this.excerptLength),
      });
    }
  }

  byReason(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort((a, b) => b[1] - a[1]));
  }

  samplesOf(reason: string): RejectSample[] {
    return this.samples.get(reason) ?? [];
  }

  toJSON(): { total: number; byReason: Record<string, number>; samples: Record<string, RejectSample[]> } {
    return { total: this.total, byReason: this.byReason(), samples: Object.fromEntries(this.samples) };
  }
}

/** Cuts text to `max` characters and escapes control and non-printable characters. */
export function printableExcerpt(text: string, max = 200): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(
    /[\u0000-\u001f\u007f-\u009f\ufffd]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/**
 * What a Node system error says, as `<the OS's words> (<CODE>)`: `ENOENT: no such file or
 * directory, open '/x'` gives `no such file or directory (ENOENT)`, so that a message can lead with
 * the path or the setting itself. Any other error: its message.
 */
export function systemErrorText(error: unknown): string {
  const { errno, code, message } = error as NodeJS.ErrnoException;
  const words = typeof errno === 'number' ? getSystemErrorMap().get(errno)?.[1] : undefined;
  return words === undefined ? message : `${words}${code ? ` (${code})` : ''}`;
}
