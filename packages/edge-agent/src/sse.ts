/**
 * A Server-Sent Events parser (the `text/event-stream` format of the WHATWG HTML standard, section
 * 9.2 "Server-sent events"): lines end with LF, CRLF or CR; `field: value` lines build an event, an
 * empty line dispatches it; lines starting with `:` are comments (edgeguard's `: ping` keep-alive).
 *
 * Bounded: a line or an event longer than `maxEventBytes` is an error (the caller drops the
 * connection and reconnects) instead of an ever-growing buffer.
 */

export interface SseEvent {
  /** `message` when the event named none. */
  event: string;
  data: string;
  /** The `id` field of this event, or null when it had none. */
  id: string | null;
}

export class SseError extends Error {}

export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private dataLength = 0;
  private id: string | null = null;
  /** A CR ended the previous chunk: a LF starting the next one belongs to it. */
  private pendingCr = false;

  constructor(private readonly maxEventBytes = 1 << 20) {}

  /** Feeds decoded text; returns the events it completed (possibly none). */
  push(chunk: string): SseEvent[] {
    const events: SseEvent[] = [];
    let text = this.buffer + chunk;
    if (this.pendingCr && text.charCodeAt(0) === 10) text = text.slice(1);
    this.pendingCr = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(text.slice(start, i), events);
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCr = true;
        }
      }
      start = i + 1;
    }
    this.buffer = text.slice(start);
    if (this.buffer.length > this.maxEventBytes)
      throw new SseError(`event stream line longer than ${this.maxEventBytes} bytes`);
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0 || this.event !== '') {
        events.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      }
      this.event = '';
      this.data = [];
      this.dataLength = 0;
      this.id = null;
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.dataLength += value.length + 1;
        if (this.dataLength > this.maxEventBytes)
          throw new SseError(`event stream event longer than ${this.maxEventBytes} bytes`);
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      // `retry` and unknown fields are ignored: reconnection timing is the agent's own backoff.
    }
  }
}
