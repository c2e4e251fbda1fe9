import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * The nginx `log_format` the proxy writes: nginx's `main` (combined + X-Forwarded-For) followed by
 * the host, timings, the cache status and Accept-Language. Combined readers read it (they ignore
 * what follows the user agent); the shipper reads every field with
 * `--format "nginx:$ACCESS_LOG_FORMAT"`. `$remote_addr` is the client the proxy resolved (nginx's
 * realip module does the same), so the shipper needs no trusted proxies for it.
 */
export const ACCESS_LOG_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" $host $request_time $upstream_response_time $upstream_cache_status "$http_accept_language"';

/** nginx `$upstream_cache_status` values the proxy logs (`-` when the cache was not involved). */
export type CacheStatus = 'HIT' | 'MISS' | 'EXPIRED' | 'STALE' | 'UPDATING' | 'BYPASS' | '-';

export interface AccessLogRecord {
  time: number;
  client: string;
  method: string;
  url: string;
  protocol: string;
  status: number;
  bytes: number;
  referer: string | undefined;
  userAgent: string | undefined;
  forwardedFor: string | undefined;
  host: string | undefined;
  /** Seconds, as nginx logs them. */
  requestTime: number;
  /** Seconds, or null when no origin request was made. */
  upstreamTime: number | null;
  cacheStatus: CacheStatus;
  acceptLanguage: string | undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => (n < 10 ? `0${n}` : `${n}`);

/** nginx `$time_local` in UTC (`21/Jan/2024:13:05:09 +0000`); the text is reused within a second. */
export class TimeLocal {
  private second = -1;
  private text = '';

  format(time: number): string {
    const second = Math.floor(time / 1000);
    if (second !== this.second) {
      const d = new Date(second * 1000);
      this.second = second;
      this.text = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
    }
    return this.text;
  }
}

/** nginx's `escape=default`: `"`, `\` and bytes outside printable ASCII become `\xHH`. */
export function escapeField(value: string | undefined): string {
  if (value === undefined || value === '') return '-';
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte === 0x22 || byte === 0x5c || byte < 0x20 || byte > 0x7e)
      out += `\\x${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return out;
}

/** A request target for the log: no spaces (an attacker's space would shift every later field). */
function escapeTarget(value: string): string {
  return escapeField(value).replace(/ /g, '%20');
}

export function formatAccessLogLine(record: AccessLogRecord, clock: TimeLocal): string {
  const upstream = record.upstreamTime === null ? '-' : record.upstreamTime.toFixed(3);
  return (
    `${record.client} - - [${clock.format(record.time)}] "${escapeField(record.method)} ${escapeTarget(record.url)} ${escapeField(record.protocol)}" ` +
    `${record.status} ${record.bytes} "${escapeField(record.referer)}" "${escapeField(record.userAgent)}" ` +
    `"${escapeField(record.forwardedFor)}" ${escapeTarget(record.host ?? '-') || '-'} ${record.requestTime.toFixed(3)} ${upstream} ` +
    `${record.cacheStatus} "${escapeField(record.acceptLanguage)}"\n`
  );
}

/**
 * Appends access-log lines to a file. Bounded: when the disk falls behind by more than
 * `maxBufferedBytes`, lines are dropped and counted (a proxy must not run out of memory because
 * its log is slow; nginx blocks instead, which is no better for an edge).
 */
export class AccessLogWriter {
  private stream: WriteStream;
  private readonly clock = new TimeLocal();
  dropped = 0;
  written = 0;

  constructor(
    readonly path: string,
    private readonly maxBufferedBytes = 8 << 20,
  ) {
    this.stream = this.open();
  }

  private open(): WriteStream {
    const stream = createWriteStream(this.path, { flags: 'a' });
    stream.on('error', () => {
      this.dropped++;
    });
    return stream;
  }

  /**
   * Reopens the file by its path (after logrotate renamed it; nginx does this on USR1): lines
   * written from now go to the new file, the old stream is flushed and closed.
   */
  reopen(): Promise<void> {
    const old = this.stream;
    this.stream = this.open();
    return new Promise((resolve) => old.end(resolve));
  }

  write(record: AccessLogRecord): void {
    if (this.stream.writableLength > this.maxBufferedBytes) {
      this.dropped++;
      return;
    }
    this.stream.write(formatAccessLogLine(record, this.clock));
    this.written++;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}
