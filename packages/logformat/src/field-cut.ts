import { type AccessLog, BadInput, RejectCounter, type RejectSample } from '@edgeguard/schema';
import type { FieldCut } from './parser.js';

/**
 * How a field longer than maxFieldLength is kept: cut, not rejected. Rejecting the line let a
 * client hide every request it made from detection by padding one header (a 5 KiB User-Agent:
 * nginx takes header lines up to 8 KiB). These run only for a field that is over the limit.
 */

/** The reason-like word for a cut field in logs and reports (the line is kept: not a rejection). */
export const FIELD_CUT = 'field-cut';

/** `text` cut to at most `max` characters, not between the two halves of a surrogate pair. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/**
 * `text` cut to at most `max` characters by dropping its middle: its start and its end stay, so
 * what detection reads at either end still counts — a probe's file name after a padded directory
 * (`/AAAA…/../.env`), an injection appended to a padded query. Not between the two halves of a
 * surrogate pair on either side.
 */
export function cutMiddle(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = max >> 1;
  let tail = text.length - (max - head);
  const first = text.charCodeAt(tail);
  if (first >= 0xdc00 && first <= 0xdfff) tail++;
  return cutText(text, head) + text.slice(tail);
}

/**
 * The rightmost hops of an X-Forwarded-For longer than `max`, at most `max` characters, starting at
 * a hop boundary (no partial address is read), or null when no whole hop fits. The right end is
 * what client-address resolution reads (nginx `real_ip_recursive`: the hops our proxies appended);
 * the left end is whatever the client wrote, so it is what a padded header loses.
 */
export function keepRightmostHops(forwardedFor: string, max: number): string | null {
  if (forwardedFor.length <= max) return forwardedFor;
  let start = forwardedFor.length - max;
  // Unless the cut falls right after a comma, the first hop it keeps is partial: drop it.
  if (forwardedFor.charCodeAt(start - 1) !== 44) {
    const comma = forwardedFor.indexOf(',', start);
    if (comma < 0) return null;
    start = comma + 1;
  }
  while (forwardedFor.charCodeAt(start) === 32 || forwardedFor.charCodeAt(start) === 9) start++;
  return start < forwardedFor.length ? forwardedFor.slice(start) : null;
}

/**
 * Cuts a request read from a field longer than `max` so that `METHOD target PROTOCOL` fits in `max`
 * characters: the path first (its middle dropped when it alone does not fit, and the query dropped),
 * then the query gets what is left (its middle dropped, null when nothing is). Protocol and host stay
 * as read, the method (a word) to a sixteenth of `max`, so the record is still a request; path and
 * query lose the middles of their longest parts (cutLongestParts), so a probe padded in front
 * (`/AAAA…/../.env`) or between padded parameters is still one.
 */
export function cutRequestTarget(record: AccessLog, max: number): void {
  record.method = cutText(record.method, max >> 4);
  const protocol = record.protocol === null ? 0 : record.protocol.length + 1;
  const room = Math.max(1, max - protocol - (record.method === '' ? 0 : record.method.length + 1));
  if (record.path.length >= room) {
    record.path = cutLongestParts(record.path, '/', room);
    record.query = null;
  } else if (record.query !== null && record.path.length + 1 + record.query.length > room) {
    const left = room - record.path.length - 1;
    record.query = left > 0 ? cutLongestParts(record.query, '&', left) : null;
  }
}

/** A part cutLongestParts does not cut below (then it cuts the whole text's middle instead). */
const PART_FLOOR = 32;
/** Texts of more parts than this are cut in the middle (bounds the work on a line of `&&&&…`). */
const MAX_PARTS = 64;

/**
 * `text` (path segments or query parameters, split at `separator`) cut to at most `max` characters
 * by cutting the middle of its longest parts, so that the short ones stay whole: padding is what
 * makes a request long, and a probe or an injection written between two padded parameters
 * (`?a=AAAA…&id=1' UNION SELECT…&b=BBBB…`) would be lost to a cut of the whole text's middle.
 * Falls back to cutMiddle of the whole text when the parts are many or all short.
 */
export function cutLongestParts(text: string, separator: string, max: number): string {
  if (text.length <= max) return text;
  const parts = text.split(separator);
  if (parts.length > MAX_PARTS) return cutMiddle(text, max);
  let over = text.length - max;
  while (over > 0) {
    let longest = 0;
    for (let i = 1; i < parts.length; i++) if (parts[i]!.length > parts[longest]!.length) longest = i;
    const part = parts[longest]!;
    if (part.length <= PART_FLOOR) return cutMiddle(parts.join(separator), max);
    const cut = cutMiddle(part, Math.max(PART_FLOOR, part.length - over));
    over -= part.length - cut.length;
    parts[longest] = cut;
  }
  return parts.join(separator);
}

/**
 * Cuts every text field of `record` longer than `max` (and its request target, when `targetCut`:
 * the request's field was over the limit as logged), for the parsers that map fields to the record
 * through several variables (nginx log_format, Cloudflare). Only called for a line that had a
 * field over the limit.
 */
export function cutLongFields(record: AccessLog, max: number, targetCut: boolean): void {
  record.method = cutText(record.method, max);
  if (record.protocol !== null) record.protocol = cutText(record.protocol, max);
  if (targetCut || record.path.length > max || (record.query?.length ?? 0) > max)
    cutRequestTarget(record, max);
  record.host = cutOptional(record.host, max);
  record.referer = cutOptional(record.referer, max);
  record.userAgent = cutOptional(record.userAgent, max);
  record.acceptLanguage = cutOptional(record.acceptLanguage, max);
  record.cacheStatus = cutOptional(record.cacheStatus, max);
  record.country = cutOptional(record.country, max);
  record.edgeNode = cutOptional(record.edgeNode, max);
  record.requestId = cutOptional(record.requestId, max);
  record.ja3 = cutOptional(record.ja3, max);
  record.ja4 = cutOptional(record.ja4, max);
}

function cutOptional(text: string | null, max: number): string | null {
  return text === null ? null : cutText(text, max);
}

/**
 * Counts fields cut to maxFieldLength by field name, with the first few samples of each (location,
 * message, an excerpt of the line), for the replay summary and report and the shipper's log. The
 * field names come from the format (its variables, or a fixed list), not from the input, so the
 * counts stay a handful of keys; the RejectCounter underneath folds any beyond 64 into `other`.
 */
export class FieldCutCounter {
  private readonly counter: RejectCounter;

  constructor(
    /** The limit the fields were cut to, for the samples' messages. */
    readonly maxFieldLength: number,
    samplesPerField = 3,
  ) {
    this.counter = new RejectCounter(samplesPerField);
  }

  get total(): number {
    return this.counter.total;
  }

  /** Counts the cuts of one kept line (`parser.fieldCuts` after its parse), at `location` (`file:line`). */
  record(cuts: readonly FieldCut[], line: string, location: string): void {
    for (const cut of cuts) {
      // Keyed by field: the counter's reason is the field's name here. In a flood of padded lines
      // only the first few build a sample (a BadInput is an Error: its stack costs microseconds).
      if (this.counter.samplesFull(cut.field)) {
        this.counter.countOnly(cut.field);
        continue;
      }
      const message = `${cut.field} of ${cut.length} characters is longer than maxFieldLength ${this.maxFieldLength}: cut, the line kept`;
      this.counter.record(new BadInput(cut.field, message, cut.field), line, location);
    }
  }

  byField(): Record<string, number> {
    return this.counter.byReason();
  }

  samplesOf(field: string): RejectSample[] {
    return this.counter.samplesOf(field);
  }

  toJSON(): { total: number; byField: Record<string, number>; samples: Record<string, RejectSample[]> } {
    const { total, byReason, samples } = this.counter.toJSON();
    return { total, byField: byReason, samples };
  }
}
