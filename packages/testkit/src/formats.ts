/**
 * Rendering request events as access-log lines: nginx `combined`, and the `edge` format our load
 * balanced edge writes (the nginx `log_format` below, parseable with `--format nginx:'<format>'`).
 */
import { loadBalancerAddress } from './addresses.js';
import type { RequestEvent } from './engine.js';

export type OutputFormat = 'combined' | 'edge';

/** nginx's predefined `combined` format, for reference. */
export const COMBINED_LOG_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

/** The edge fleet's nginx log_format: combined plus proxy chain, host, timings, cache status, language. */
export const EDGE_LOG_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" $host $request_time $upstream_response_time $upstream_cache_status "$http_accept_language"';

/** In `edge` format every TCP peer is one of our load balancers (10.0.0.x). */
export const EDGE_TRUSTED_PROXIES: readonly string[] = ['10.0.0.0/8'];

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TWO_DIGITS = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, '0'));

/**
 * `$time_local` in UTC (`21/Jan/2024:09:30:12 +0000`). The date part is cached per day, so the hot
 * path only concatenates the clock digits.
 */
export class TimeLocalFormatter {
  private day = -1;
  private dayPrefix = '';

  format(epochMs: number): string {
    const seconds = Math.floor(epochMs / 1000);
    const day = Math.floor(seconds / 86400);
    if (day !== this.day) {
      const date = new Date(day * 86_400_000);
      this.day = day;
      this.dayPrefix = `${TWO_DIGITS[date.getUTCDate()]}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:`;
    }
    const inDay = seconds - day * 86400;
    const hours = Math.floor(inDay / 3600);
    const minutes = Math.floor(inDay / 60) % 60;
    return `${this.dayPrefix}${TWO_DIGITS[hours]}:${TWO_DIGITS[minutes]}:${TWO_DIGITS[inDay % 60]} +0000`;
  }
}

/** nginx prints times in seconds with millisecond resolution (`0.123`). */
function seconds(ms: number): string {
  const whole = Math.round(ms);
  const fraction = whole % 1000;
  return `${Math.floor(whole / 1000)}.${fraction < 10 ? '00' : fraction < 100 ? '0' : ''}${fraction}`;
}

export class LineFormatter {
  private readonly time = new TimeLocalFormatter();

  constructor(readonly format: OutputFormat) {}

  line(event: RequestEvent): string {
    const head = `"${event.method} ${event.target} ${event.protocol}" ${event.status} ${event.bytes} "${event.referer ?? '-'}" "${event.userAgent ?? '-'}"`;
    const timeLocal = this.time.format(event.time);
    if (this.format === 'combined') return `${event.client} - - [${timeLocal}] ${head}`;
    // The load balancer appends the connecting address to whatever X-Forwarded-For the client sent.
    const forwardedFor =
      event.clientForwardedFor === null ? event.client : `${event.clientForwardedFor}, ${event.client}`;
    const upstream = event.upstreamMs === null ? '-' : seconds(event.upstreamMs);
    return `${loadBalancerAddress(event.balancer)} - - [${timeLocal}] ${head} "${forwardedFor}" ${event.host} ${seconds(event.requestMs)} ${upstream} ${event.cacheStatus ?? '-'} "${event.acceptLanguage ?? '-'}"`;
  }
}
