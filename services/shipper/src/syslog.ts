/**
 * The access-log line inside a syslog message, or null when the message is not syslog-framed.
 *
 * nginx (`access_log syslog:server=…`) sends one message per UDP datagram, the line after an
 * RFC 3164 header it writes as `<PRI>TIMESTAMP HOSTNAME TAG: ` — `<PRI>TIMESTAMP TAG: ` with
 * `nohostname` — where TIMESTAMP is `Mmm dd hh:mm:ss` (day padded with a space) and TAG is
 * letters, digits and `_` (default `nginx`): `ngx_syslog_add_header` in nginx's
 * src/core/ngx_syslog.c, and https://nginx.org/en/docs/syslog.html for the parameters. Relays
 * that forward it (rsyslog, syslog-ng, Fluent Bit) may rewrite the header as RFC 3164 with an
 * RFC 3339 timestamp, or as RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`): both are
 * read too. A TAG may carry a pid (`nginx[1234]:`).
 *
 * Strict on purpose: a message that starts with `<PRI>` but lacks the timestamp or the `TAG: `
 * is not guessed at (its header would otherwise be read as the line's first fields); the caller
 * hands it to the parser whole, which rejects it, counted by reason with a sample.
 */
export function syslogLine(message: string): string | null {
  const at = afterPriority(message);
  if (at < 0) return null;
  if (message.charCodeAt(at) === 0x31 /* 1 */ && message.charCodeAt(at + 1) === 0x20)
    return rfc5424Message(message, at + 2);
  const time = afterTimestamp(message, at);
  if (time < 0) return null;
  // [HOSTNAME SP] TAG ":" SP. A hostname never ends with ':', a tag always does.
  let space = message.indexOf(' ', time);
  if (space <= time) return null;
  if (message.charCodeAt(space - 1) !== 0x3a /* : */) {
    const tag = space + 1;
    space = message.indexOf(' ', tag);
    if (space <= tag + 1 || message.charCodeAt(space - 1) !== 0x3a) return null;
  } else if (space === time + 1) return null; // a bare ':' is no tag
  return message.slice(space + 1);
}

/** The index after `<PRI>` (1–3 digits, at most 191 = facility 23 × 8 + severity 7), or -1. */
function afterPriority(message: string): number {
  if (message.charCodeAt(0) !== 0x3c /* < */) return -1;
  let value = 0;
  let i = 1;
  for (; i <= 4; i++) {
    const c = message.charCodeAt(i);
    if (c === 0x3e /* > */) break;
    if (c < 0x30 || c > 0x39 || i === 4) return -1;
    value = value * 10 + (c - 0x30);
  }
  return i > 1 && value <= 191 ? i + 1 : -1;
}

const MONTHS = new Set(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']);
/** RFC 3164's `Mmm dd hh:mm:ss` (day padded with a space), or an RFC 3339 date-time. */
const CLASSIC_TIME = /^[ \d]\d \d\d:\d\d:\d\d $/;
const RFC3339_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)$/;

/** The index after the timestamp and its space, or -1. */
function afterTimestamp(message: string, at: number): number {
  if (MONTHS.has(message.slice(at, at + 3)) && message.charCodeAt(at + 3) === 0x20) {
    // "Nov  9 10:00:00 " or "Nov 19 10:00:00 ": 12 characters after "Mmm ".
    return CLASSIC_TIME.test(message.slice(at + 4, at + 16)) ? at + 16 : -1;
  }
  const space = message.indexOf(' ', at);
  return space > at && space - at <= 35 && RFC3339_TIME.test(message.slice(at, space)) ? space + 1 : -1;
}

/**
 * RFC 5424 after `<PRI>1 `: TIMESTAMP HOSTNAME APP-NAME PROCID MSGID (each a token or `-`), then
 * STRUCTURED-DATA (`-` or `[…]` elements), then SP MSG (a UTF-8
 * BOM before it dropped). A message without MSG is empty.
 */
function rfc5424Message(message: string, start: number): string | null {
  let at = start;
  for (let field = 0; field < 5; field++) {
    const space = message.indexOf(' ', at);
    if (space <= at) return null;
    at = space + 1;
  }
  if (message.charCodeAt(at) === 0x2d /* - */) at++;
  else {
    if (message.charCodeAt(at) !== 0x5b /* [ */) return null;
    while (message.charCodeAt(at) === 0x5b) {
      at = afterStructuredElement(message, at);
      if (at < 0) return null;
    }
  }
  if (at === message.length) return '';
  if (message.charCodeAt(at) !== 0x20) return null;
  return message.charCodeAt(at + 1) === 0xfeff ? message.slice(at + 2) : message.slice(at + 1);
}

/**
 * The index after one SD-ELEMENT starting at `[`: `[SD-ID *(SP NAME="VALUE")]`, where a value may
 * hold `\"`, `\\` and `\]`; -1 when it is not one (a `]` elsewhere must not end it early).
 */
function afterStructuredElement(message: string, start: number): number {
  const special = (c: number) => c === 0x20 || c === 0x5d || c === 0x3d || c === 0x22 || Number.isNaN(c);
  let i = start + 1;
  while (!special(message.charCodeAt(i))) i++;
  if (i === start + 1) return -1;
  for (;;) {
    const c = message.charCodeAt(i);
    if (c === 0x5d /* ] */) return i + 1;
    if (c !== 0x20) return -1;
    const name = ++i;
    while (!special(message.charCodeAt(i))) i++;
    if (i === name || message.charCodeAt(i) !== 0x3d || message.charCodeAt(i + 1) !== 0x22) return -1;
    for (i += 2; message.charCodeAt(i) !== 0x22; i++) {
      if (i >= message.length) return -1;
      if (message.charCodeAt(i) === 0x5c /* \ */) i++;
    }
    i++;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Cuts a TCP byte stream into syslog messages, as RFC 6587 frames them: octet-counted
 * (`MSG-LEN SP <PRI>…`, what rsyslog's and syslog-ng's TCP outputs send with octet-counted
 * framing on) or newline-terminated (LF, CR LF too: the non-transparent framing most senders
 * default to, and plain access-log lines). Which one is decided per frame: digits, a space and
 * `<` start an octet-counted one; anything else (an access-log line starts with an address, never
 * with digits and ` <`) runs to the next LF.
 *
 * Memory is bounded by `maxBytes`: a message longer is cut to its first `maxBytes` (handed on, so
 * the parser counts it as `oversized-line`, as it does a file's over-long line) and the rest of it
 * is skipped as it arrives, never held. A message that spans reads is copied once into a buffer
 * grown by doubling (at most `maxBytes`), so a sender that dribbles it a byte at a time costs
 * linear time, not a copy of all it sent so far per read. `onMessage` must not keep the buffer it
 * is given (it may be the chunk read, or the framer's own).
 */
export class SyslogStreamFramer {
  /** The current message's bytes so far (it spans reads): `held[0, heldBytes)`. */
  private held: Buffer = EMPTY;
  private heldBytes = 0;
  /**
   * What is held: the start of a frame not yet told apart (a few digits), a newline-framed
   * message, or an octet-counted one still `need` bytes short.
   */
  private state: 'start' | 'line' | 'counted' = 'start';
  private need = 0;
  /** Bytes of the current octet-counted message past `maxBytes`: skipped once it is handed on. */
  private countedRest = 0;
  /** Bytes still to skip of an octet-counted message that was too long. */
  private skip = 0;
  /** A newline-framed message was too long: skip to its LF. */
  private skipLine = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onMessage: (message: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.state === 'start' && this.heldBytes > 0) {
      // A frame's first bytes (at most MAX_COUNT_DIGITS + 1) came alone: read on with them.
      buf = Buffer.concat([this.held.subarray(0, this.heldBytes), chunk]);
      this.held = EMPTY;
      this.heldBytes = 0;
    }
    while (buf.length > 0) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length);
        buf = buf.subarray(n);
        this.skip -= n;
        continue;
      }
      if (this.skipLine) {
        const lf = buf.indexOf(0x0a);
        if (lf < 0) return;
        buf = buf.subarray(lf + 1);
        this.skipLine = false;
        continue;
      }
      if (this.state === 'counted') {
        const n = Math.min(this.need, buf.length);
        this.need -= n;
        if (this.need > 0) {
          this.hold(buf);
          return;
        }
        this.state = 'start';
        this.onMessage(this.take(buf.subarray(0, n)));
        buf = buf.subarray(n);
        this.skip = this.countedRest;
        continue;
      }
      if (this.state === 'line') {
        const lf = buf.indexOf(0x0a);
        const end = lf < 0 ? buf.length : lf;
        if (this.heldBytes + end > this.maxBytes) {
          // Too long: its first maxBytes are handed on, the rest skipped to its LF.
          this.state = 'start';
          this.onMessage(this.take(buf.subarray(0, this.maxBytes - this.heldBytes)));
          this.skipLine = lf < 0;
          buf = lf < 0 ? EMPTY : buf.subarray(lf + 1);
          continue;
        }
        if (lf < 0) {
          this.hold(buf);
          return;
        }
        this.state = 'start';
        this.onMessage(this.take(buf.subarray(0, lf)));
        buf = buf.subarray(lf + 1);
        continue;
      }
      const counted = octetCount(buf);
      if (counted === WAIT) {
        this.hold(buf);
        return;
      }
      if (counted === NOT_COUNTED) {
        this.state = 'line';
        continue;
      }
      const kept = Math.min(counted.length, this.maxBytes);
      this.state = 'counted';
      this.need = kept;
      this.countedRest = counted.length - kept;
      buf = buf.subarray(counted.start);
    }
  }

  /** Copies `part` after what is held, growing the buffer by doubling (never past maxBytes). */
  private hold(part: Buffer): void {
    const bytes = this.heldBytes + part.length;
    if (bytes > this.held.length) {
      const size = Math.min(Math.max(bytes, 2 * this.held.length, 256), Math.max(bytes, this.maxBytes));
      const grown = Buffer.allocUnsafe(size);
      this.held.copy(grown, 0, 0, this.heldBytes);
      this.held = grown;
    }
    part.copy(this.held, this.heldBytes);
    this.heldBytes = bytes;
  }

  /** The message that ends with `last`: `last` itself when nothing is held (it came in one read). */
  private take(last: Buffer): Buffer {
    if (this.heldBytes === 0) return last;
    this.hold(last);
    const message = this.held.subarray(0, this.heldBytes);
    this.held = EMPTY;
    this.heldBytes = 0;
    return message;
  }

  /**
   * The stream ended (the peer closed, or the shipper stops): a message without its LF, or an
   * octet-counted one cut short, is handed on as it is (a cut line is then rejected by the parser
   * and counted, not lost without a word).
   */
  end(): void {
    const message = this.held.subarray(0, this.heldBytes);
    this.held = EMPTY;
    this.heldBytes = 0;
    this.state = 'start';
    this.skip = 0;
    this.skipLine = false;
    if (message.length > 0) this.onMessage(message);
  }
}

const WAIT = 'wait' as const;
const NOT_COUNTED = 'not-counted' as const;
/** Digits in MSG-LEN at most: 9 (a length up to 999,999,999 bytes; longer is not a count). */
const MAX_COUNT_DIGITS = 9;

/** Whether `buf` starts an octet-counted frame (`[1-9][0-9]* <`), or more bytes are needed to tell. */
function octetCount(buf: Buffer): { length: number; start: number } | typeof WAIT | typeof NOT_COUNTED {
  if (buf[0]! < 0x31 || buf[0]! > 0x39) return NOT_COUNTED;
  let length = buf[0]! - 0x30;
  let i = 1;
  for (; i < buf.length && buf[i]! >= 0x30 && buf[i]! <= 0x39; i++) {
    if (i >= MAX_COUNT_DIGITS) return NOT_COUNTED;
    length = length * 10 + (buf[i]! - 0x30);
  }
  if (i + 1 >= buf.length) return WAIT;
  return buf[i] === 0x20 && buf[i + 1] === 0x3c ? { length, start: i + 1 } : NOT_COUNTED;
}
