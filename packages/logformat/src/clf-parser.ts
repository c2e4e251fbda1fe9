import { canonicalIpAt } from '@edgeguard/netaddr';
import { type AccessLog, type BadInput, emptyAccessLog } from '@edgeguard/schema';
import { resolveClientAddress } from './client-address.js';
import { type EscapeMode, findClosingQuote, unescapeValue } from './escapes.js';
import { cutRequestTarget, cutText, keepRightmostHops } from './field-cut.js';
import {
  checkLine,
  type FieldCut,
  type LineParser,
  NO_FIELD_CUTS,
  type ParserOptions,
  type ResolvedOptions,
  resolveOptions,
  withFieldCut,
} from './parser.js';
import { quoteExcerpt, REJECT_REASONS, type RejectReason, reject, tooFarAhead } from './reasons.js';
import {
  applyNonHttpRequest,
  applyRequestLine,
  applyRequestLineAt,
  hostOfAuthority,
} from './request-line.js';
import { ClfTimeReader, isTooFarAhead } from './time.js';

/** The fixed formats built on the Common Log Format. */
export type ClfFormat = 'combined' | 'nginx-main' | 'apache';

/**
 * Hand-written parser for the CLF family, scanning with indexOf/charCodeAt (no regex, no split):
 *
 * - `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
 *   "$http_referer" "$http_user_agent"` (nginx's predefined format; Apache's `combined` is the same
 *   shape). Anything after the user agent is ignored, since sites often append fields.
 * - `nginx-main`: combined followed by ` "$http_x_forwarded_for"` (nginx's stock `main`).
 * - `apache`: Apache `common` (`%h %l %u %t "%r" %>s %b`) or `combined`; `%b` may be `-` (no body).
 *
 * Tolerated everywhere: a virtual-host prefix (`example.com:443 203.0.113.7 - - [...]`, Apache's
 * `vhost_combined`; its host goes to `host`), a syslog header (nginx logging to syslog), and any
 * text between the address and `[time]` (ident and user are not kept, and some servers log only
 * one of them).
 */
export class ClfParser implements LineParser {
  private readonly clock = new ClfTimeReader();
  /**
   * A one-entry memo of the address: the previous line, the length of the address text it starts
   * with (-1: none), and that text's canonical form.
   */
  private lastLine = '';
  private lastAddressLength = -1;
  private lastPeer = '';
  private readonly options: ResolvedOptions;
  private readonly agentRequired: boolean;
  private readonly forwardedForLogged: boolean;
  fieldCuts: readonly FieldCut[] = NO_FIELD_CUTS;

  constructor(
    readonly format: ClfFormat,
    options?: ParserOptions,
  ) {
    this.options = resolveOptions(options);
    this.agentRequired = format !== 'apache';
    this.forwardedForLogged = format === 'nginx-main';
  }

  parse(line: string, location?: string, plain = false): AccessLog | BadInput {
    this.fieldCuts = NO_FIELD_CUTS;
    return this.parseLine(line, location, true, plain);
  }

  /** `syslog`: whether a syslog header may still be stripped (once: a line of headers only must
   *  not recurse once per header). */
  private parseLine(
    line: string,
    location: string | undefined,
    syslog: boolean,
    plain: boolean,
  ): AccessLog | BadInput {
    const bad = checkLine(line, this.options.maxLineLength, location, plain);
    if (bad) return bad;
    const end = line.length;
    const maxField = this.options.maxFieldLength;
    // Most lines hold no backslash at all: then no field needs unescaping.
    const backslashAt = plain ? -1 : line.indexOf('\\');
    const record = emptyAccessLog();

    let space = line.indexOf(' ');
    if (space <= 0) return this.shape(line, 0, 'remote_addr', location);
    // Same client as the previous line (common: a session, a flood): skip the address parse.
    // Read in place: the address is cut out of the line only once it is known to be valid.
    let peer =
      space === this.lastAddressLength && sameStart(line, this.lastLine, space)
        ? this.lastPeer
        : canonicalIpAt(line, 0, space);
    if (peer === null) {
      const next = line.indexOf(' ', space + 1);
      const second = next > space + 1 ? canonicalIpAt(line, space + 1, next) : null;
      if (second === null) {
        // Shipped through syslog? Parse the message after the syslog header.
        const message = syslog ? SYSLOG_HEADER.exec(line) : null;
        if (message !== null) return this.parseLine(line.slice(message[0].length), location, false, plain);
        const first = line.slice(0, space);
        if (!first.includes('.') && !first.includes(':')) {
          // Not even an attempt at an address: another kind of line (an error log, a banner).
          return reject(
            REJECT_REASONS.formatMismatch,
            `line does not start with a client address (found ${quoteExcerpt(first)}): not a ${this.format} access log line`,
            'remote_addr',
            location,
          );
        }
        return reject(
          REJECT_REASONS.badAddress,
          `remote address ${quoteExcerpt(first)} is not an IP address`,
          'remote_addr',
          location,
        );
      }
      record.host = hostOfAuthority(line.slice(0, space));
      peer = second;
      space = next;
    } else {
      this.lastLine = line;
      this.lastAddressLength = space;
      this.lastPeer = peer;
    }

    // ` - - [` (no ident, no user: nearly every line) and a 26-character time are checked in
    // place. Otherwise the ident and user (not kept) may hold `[`, `]` and spaces — nginx fills
    // $remote_user from any client's `Authorization: Basic` header and escapes none of them — but
    // never a `"` (escaped as \x22): the time is the bracketed text that ends right before the
    // request's ` "`. Searching for the first `[` let one client with the user `[x` get every line
    // of its own rejected as a bad timestamp, its traffic invisible to detection.
    let open: number;
    let close: number;
    if (isNoIdentNoUser(line, space)) {
      open = space + 5;
      close = line.charCodeAt(open + 27) === 93 ? open + 27 : line.indexOf(']', open + 1);
    } else {
      const quote = line.indexOf('"', space + 1);
      close = quote > space + 2 && line.charCodeAt(quote - 1) === 32 ? quote - 2 : -1;
      open = close > 0 && line.charCodeAt(close) === 93 ? line.lastIndexOf('[', close) : -1;
      // No `] "` before the request: a mismatch where the request starts, truncated without one.
      if (open <= space) return this.shape(line, quote >= 0 ? quote : end, 'time_local', location);
    }
    if (open < 0) return this.shape(line, end, 'time_local', location);
    if (close < 0) return this.shape(line, end, 'time_local', location);
    const time = this.clock.read(line, open + 1, close);
    if (Number.isNaN(time)) {
      // Quoted up to the first `]` (the fast path above may have skipped one).
      return reject(
        REJECT_REASONS.badTimestamp,
        `time ${quoteExcerpt(line.slice(open + 1, line.indexOf(']', open + 1)))} is not like 21/Jan/2024:09:30:12 +0000`,
        'time_local',
        location,
      );
    }
    if (isTooFarAhead(time))
      return tooFarAhead(quoteExcerpt(line.slice(open + 1, close)), 'time_local', location);
    record.time = time;

    if (line.charCodeAt(close + 1) !== 32 || line.charCodeAt(close + 2) !== 34) {
      return this.shape(line, close + 1, 'request', location);
    }
    const requestStart = close + 3;
    const requestEnd = closingQuote(line, requestStart, backslashAt);
    if (requestEnd < 0) return this.shape(line, end, 'request', location);
    // Raw lines were checked for NUL/U+FFFD; control characters can only come out of unescaping.
    // Without a backslash the request is read in place in the line (no substring of it).
    let request: string | null = null;
    if (hasBackslash(line, requestStart, requestEnd, backslashAt)) {
      request = unescapeValue(line, requestStart, requestEnd, 'default');
    }
    const requestRead =
      request === null
        ? applyRequestLineAt(line, requestStart, requestEnd, record, false)
        : applyRequestLine(request, record, request.length !== requestEnd - requestStart);
    if (!requestRead) applyNonHttpRequest(record, line.slice(requestStart, requestEnd));
    if (requestEnd - requestStart > maxField) {
      this.fieldCuts = withFieldCut(this.fieldCuts, 'request', requestEnd - requestStart);
      cutRequestTarget(record, maxField);
    }

    let pos = requestEnd + 1;
    if (line.charCodeAt(pos) !== 32) return this.shape(line, pos, 'status', location);
    pos++;
    if (pos + 3 > end) return this.shape(line, end, 'status', location);
    const status = threeDigits(line, pos);
    if (status < 0 || (pos + 3 < end && line.charCodeAt(pos + 3) !== 32)) {
      return reject(
        REJECT_REASONS.badStatus,
        `status ${quoteExcerpt(line.slice(pos, nextSpace(line, pos)))} is not a three-digit number`,
        'status',
        location,
      );
    }
    record.status = status;
    pos += 3;
    if (pos >= end) return this.shape(line, pos, 'body_bytes_sent', location);
    pos++;
    const bytesEnd = nextSpace(line, pos);
    const bytes = byteCount(line, pos, bytesEnd);
    if (bytes < 0) {
      if (pos >= end) return this.shape(line, pos, 'body_bytes_sent', location);
      return reject(
        REJECT_REASONS.badBytes,
        `byte count ${quoteExcerpt(line.slice(pos, bytesEnd))} is neither a number nor "-"`,
        'body_bytes_sent',
        location,
      );
    }
    record.bytes = bytes;
    pos = bytesEnd;

    let forwardedFor: string | null = null;
    if (pos < end || this.agentRequired) {
      // Referer and user agent: required by combined and nginx-main, optional (both or none) for apache.
      if (line.charCodeAt(pos) !== 32 || line.charCodeAt(pos + 1) !== 34) {
        return this.shape(line, pos, 'http_referer', location);
      }
      // `"-"` (no referer, about half of all requests) needs no search for its closing quote.
      const refererEnd =
        line.charCodeAt(pos + 2) === 45 && line.charCodeAt(pos + 3) === 34
          ? pos + 3
          : closingQuote(line, pos + 2, backslashAt);
      if (refererEnd < 0) return this.shape(line, end, 'http_referer', location);
      record.referer = optionalText(line, pos + 2, refererEnd, backslashAt);
      if (refererEnd - pos - 2 > maxField)
        record.referer = this.cut('http_referer', record.referer!, refererEnd - pos - 2);
      pos = refererEnd + 1;
      if (line.charCodeAt(pos) !== 32 || line.charCodeAt(pos + 1) !== 34) {
        return this.shape(line, pos, 'http_user_agent', location);
      }
      const agentEnd = closingQuote(line, pos + 2, backslashAt);
      if (agentEnd < 0) return this.shape(line, end, 'http_user_agent', location);
      record.userAgent = optionalText(line, pos + 2, agentEnd, backslashAt);
      if (agentEnd - pos - 2 > maxField)
        record.userAgent = this.cut('http_user_agent', record.userAgent!, agentEnd - pos - 2);
      pos = agentEnd + 1;
      if (this.forwardedForLogged) {
        if (line.charCodeAt(pos) !== 32 || line.charCodeAt(pos + 1) !== 34) {
          return this.shape(line, pos, 'http_x_forwarded_for', location);
        }
        const forwardedEnd = closingQuote(line, pos + 2, backslashAt);
        if (forwardedEnd < 0) return this.shape(line, end, 'http_x_forwarded_for', location);
        forwardedFor = optionalText(line, pos + 2, forwardedEnd, backslashAt);
        if (forwardedEnd - pos - 2 > maxField) {
          this.fieldCuts = withFieldCut(this.fieldCuts, 'http_x_forwarded_for', forwardedEnd - pos - 2);
          forwardedFor = keepRightmostHops(forwardedFor!, maxField);
        }
      }
    }

    record.peerAddress = peer;
    record.clientAddress = resolveClientAddress(peer, forwardedFor, this.options.trustedProxies);
    return record;
  }

  /** `truncated` when the line ended where `field` should be, `format-mismatch` otherwise. */
  private shape(line: string, at: number, field: string, location: string | undefined): BadInput {
    const reason: RejectReason = at >= line.length ? REJECT_REASONS.truncated : REJECT_REASONS.formatMismatch;
    const message =
      reason === REJECT_REASONS.truncated
        ? `line ends before ${field} is complete: not a whole ${this.format} line`
        : `expected ${field} at column ${at + 1} of a ${this.format} line, found ${quoteExcerpt(line.slice(at, at + 20))}`;
    return reject(reason, message, field, location);
  }

  /** `text` (a field of `length` characters as logged) cut to maxFieldLength, the cut noted. */
  private cut(field: string, text: string, length: number): string {
    this.fieldCuts = withFieldCut(this.fieldCuts, field, length);
    return cutText(text, this.options.maxFieldLength);
  }
}

/**
 * A syslog header in front of the access log line, as rsyslog/syslog-ng write it when nginx logs to
 * syslog (`access_log syslog:...`): optional `<PRI>`, an RFC 3164 (`Sep 15 16:13:46`) or RFC 3339
 * timestamp, the host, and the tag (`nginx[2869]:`). Only tried on lines that fail otherwise.
 */
const SYSLOG_HEADER =
  /^(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) \S+ [^\s:]+: /;

/**
 * `line[start, end)`, unescaped when it holds a backslash. `backslashAt` is the line's first
 * backslash (-1: none, the common case, so no field needs a scan).
 */
export function fieldText(
  line: string,
  start: number,
  end: number,
  backslashAt: number,
  mode: EscapeMode = 'default',
): string {
  if (mode === 'none' || !hasBackslash(line, start, end, backslashAt)) return line.slice(start, end);
  return unescapeValue(line, start, end, mode);
}

/** The `"` that ends a quoted field starting at `from`: without a backslash in the line (`backslashAt`
 *  -1) the next one, else the next one not escaped. */
function closingQuote(line: string, from: number, backslashAt: number): number {
  return backslashAt < 0 ? line.indexOf('"', from) : findClosingQuote(line, from);
}

/** Whether `line[start, end)` holds a backslash, given the line's first one (-1: none). */
export function hasBackslash(line: string, start: number, end: number, backslashAt: number): boolean {
  if (backslashAt < 0 || backslashAt >= end) return false;
  if (backslashAt >= start) return true;
  const next = line.indexOf('\\', start);
  return next >= 0 && next < end;
}

/** Like fieldText, but `-` and the empty value (how servers log an absent header) are null. */
export function optionalText(
  line: string,
  start: number,
  end: number,
  backslashAt: number,
  mode: EscapeMode = 'default',
): string | null {
  if (end === start || (end === start + 1 && line.charCodeAt(start) === 45)) return null;
  return fieldText(line, start, end, backslashAt, mode);
}

/** Whether `a` and `b` have the same first `length` characters (both are at least that long):
 *  compared by char codes, since startsWith or === on slices are several times slower in V8. */
function sameStart(a: string, b: string, length: number): boolean {
  for (let i = 0; i < length; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return false;
  return true;
}

/** Whether `line` holds ` - - [` at `space`: the ident and the user both logged as `-`. Spelled
 *  out rather than nginx-format's `literalAt(line, space, ' - - [')`: the loop over a literal
 *  measured ~20 ns a line slower on this path (2 × 8–10 processes per build, 2026-11-27). */
function isNoIdentNoUser(line: string, space: number): boolean {
  return (
    line.charCodeAt(space + 1) === 45 &&
    line.charCodeAt(space + 2) === 32 &&
    line.charCodeAt(space + 3) === 45 &&
    line.charCodeAt(space + 4) === 32 &&
    line.charCodeAt(space + 5) === 91
  );
}

function nextSpace(line: string, from: number): number {
  const space = line.indexOf(' ', from);
  return space < 0 ? line.length : space;
}

export function threeDigits(line: string, at: number): number {
  const a = line.charCodeAt(at) - 48;
  const b = line.charCodeAt(at + 1) - 48;
  const c = line.charCodeAt(at + 2) - 48;
  // Written so that NaN (past the end of the line) fails too.
  if (!(a >= 0 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9)) return -1;
  return a * 100 + b * 10 + c;
}

/** Digits (at most 15, exact in a double) or `-` (0 bytes); -1 otherwise. */
export function byteCount(line: string, start: number, end: number): number {
  if (end === start + 1 && line.charCodeAt(start) === 45) return 0;
  if (end <= start || end - start > 15) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = line.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}
