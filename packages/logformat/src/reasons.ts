import { BadInput } from '@edgeguard/schema';

/**
 * Why a log line was rejected: a small fixed vocabulary, so that RejectCounter keys stay bounded
 * and dashboards can rely on the names. Every parser returns one of these, never throws.
 */
export const REJECT_REASONS = {
  /** The line is empty or only whitespace. */
  empty: 'empty',
  /** The line is longer than `maxLineLength` (or was cut by the source for being far longer). */
  oversizedLine: 'oversized-line',
  /** The line holds a NUL or U+FFFD (the replacement for bytes that were not valid UTF-8). */
  binary: 'binary',
  /** The line ends before the format's last field (e.g. a quote never closed). */
  truncated: 'truncated',
  /** The line does not have the format's shape (a separator missing), e.g. an error-log line. */
  formatMismatch: 'format-mismatch',
  /** The peer address is not an IPv4/IPv6 address. */
  badAddress: 'bad-address',
  /** The timestamp cannot be read. */
  badTimestamp: 'bad-timestamp',
  /** The status is not a three-digit number. */
  badStatus: 'bad-status',
  /** The byte count is neither a number nor `-`. */
  badBytes: 'bad-bytes',
  /** The request line is `-`, a single word, binary, or has no target. */
  badRequest: 'bad-request',
  /** A JSON format line is not a JSON object. */
  badJson: 'bad-json',
  /** A JSON format line lacks a required field. */
  missingField: 'missing-field',
  /**
   * The gzip input is cut short or corrupt, so reading stopped there (counted once per input, as
   * one line: the line it broke off, this rejection's excerpt, empty when the cut fell between
   * lines; the lines before it were kept).
   */
  badGzip: 'bad-gzip',
} as const;

export type RejectReason = (typeof REJECT_REASONS)[keyof typeof REJECT_REASONS];

export function reject(
  reason: RejectReason,
  message: string,
  field: string | undefined,
  location: string | undefined,
): BadInput {
  return new BadInput(reason, message, field, location);
}

/** A short quoted excerpt of untrusted text for error messages. */
/** A time later than the wall clock allows (see MAX_FUTURE_SKEW_MS in time.ts). */
export function tooFarAhead(shown: string, field: string, location: string | undefined): BadInput {
  return reject(
    REJECT_REASONS.badTimestamp,
    `${field} ${shown} is more than 24 h ahead of this machine's clock`,
    field,
    location,
  );
}

/** A JSON value for a message: a primitive quoted (cut), anything else named by its kind only
 *  (String() of a deeply nested array overflows the stack). */
export function describeValue(value: unknown): string {
  if (value === null || typeof value !== 'object') return quoteExcerpt(String(value));
  return Array.isArray(value) ? 'an array' : 'an object';
}

export function quoteExcerpt(text: string, max = 60): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}
