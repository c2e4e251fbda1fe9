import { canonicalIp } from '@edgeguard/netaddr';
import { type AccessLog, BadInput, emptyAccessLog } from '@edgeguard/schema';
import { byteCount, fieldText, optionalText, threeDigits } from './clf-parser.js';
import { resolveClientAddress } from './client-address.js';
import { type EscapeMode, findClosingQuote } from './escapes.js';
import { cutLongFields, keepRightmostHops } from './field-cut.js';
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
import { quoteExcerpt, REJECT_REASONS, reject, tooFarAhead } from './reasons.js';
import {
  applyNonHttpRequest,
  applyRequestLine,
  applyRequestTarget,
  hostOfAuthority,
} from './request-line.js';
import {
  ClfTimeReader,
  isTooFarAhead,
  parseEpochSeconds,
  parseRfc3339,
  plausibleDurationMs,
} from './time.js';

/** What a logged nginx variable feeds. Numbers index the per-line position arrays. */
const SINK = {
  remoteAddr: 0,
  timeLocal: 1,
  timeIso8601: 2,
  msec: 3,
  request: 4,
  requestMethod: 5,
  requestUri: 6,
  uri: 7,
  args: 8,
  serverProtocol: 9,
  status: 10,
  bytesSent: 11,
  bodyBytesSent: 12,
  requestTime: 13,
  upstreamResponseTime: 14,
  upstreamCacheStatus: 15,
  referer: 16,
  userAgent: 17,
  acceptLanguage: 18,
  forwardedFor: 19,
  host: 20,
  httpHost: 21,
  serverName: 22,
  hostname: 23,
  requestId: 24,
  httpRequestId: 25,
  ja3: 26,
  ja4: 27,
} as const;
const SINK_COUNT = 28;
/** A variable that is read (to find where the next one starts) and not kept. */
const SKIP = -1;

/**
 * The nginx variables this parser understands, and the AccessLog field each one feeds. Any other
 * variable (`$remote_user`, `$ssl_protocol`, `$connection`, `$http_foo`...) is accepted and skipped.
 * Names from the ngx_http_core_module, ngx_http_log_module, ngx_http_upstream_module and
 * ngx_http_ssl_module documentation (nginx.org); `$http_ssl_ja3_hash` from the nginx-ssl-ja3
 * module and `$http_ssl_ja4` from FoxIO's ja4-nginx-module.
 */
export const NGINX_VARIABLES: Readonly<Record<string, { sink: number; field: string }>> = {
  remote_addr: { sink: SINK.remoteAddr, field: 'peerAddress (and clientAddress, see trusted proxies)' },
  time_local: { sink: SINK.timeLocal, field: 'time' },
  time_iso8601: { sink: SINK.timeIso8601, field: 'time' },
  msec: { sink: SINK.msec, field: 'time (millisecond precision)' },
  request: { sink: SINK.request, field: 'method, path, query, protocol (host for an absolute URI)' },
  request_method: { sink: SINK.requestMethod, field: 'method (when $request is not logged)' },
  request_uri: { sink: SINK.requestUri, field: 'path, query (when $request is not logged)' },
  uri: { sink: SINK.uri, field: 'path (when neither $request nor $request_uri is logged)' },
  args: { sink: SINK.args, field: 'query (when neither $request nor $request_uri is logged)' },
  query_string: { sink: SINK.args, field: 'query (same as $args)' },
  server_protocol: { sink: SINK.serverProtocol, field: 'protocol (when $request is not logged)' },
  status: { sink: SINK.status, field: 'status' },
  bytes_sent: { sink: SINK.bytesSent, field: 'bytes (preferred: all bytes sent)' },
  body_bytes_sent: { sink: SINK.bodyBytesSent, field: 'bytes (when $bytes_sent is not logged)' },
  request_time: { sink: SINK.requestTime, field: 'edgeDurationMs' },
  upstream_response_time: { sink: SINK.upstreamResponseTime, field: 'originDurationMs (sum of the list)' },
  upstream_cache_status: { sink: SINK.upstreamCacheStatus, field: 'cacheStatus (upper-cased)' },
  http_referer: { sink: SINK.referer, field: 'referer' },
  http_user_agent: { sink: SINK.userAgent, field: 'userAgent' },
  http_accept_language: { sink: SINK.acceptLanguage, field: 'acceptLanguage' },
  http_x_forwarded_for: { sink: SINK.forwardedFor, field: 'clientAddress (with trusted proxies)' },
  host: { sink: SINK.host, field: 'host' },
  http_host: { sink: SINK.httpHost, field: 'host (when $host is not logged; port removed)' },
  server_name: { sink: SINK.serverName, field: 'host (when neither $host nor $http_host is logged)' },
  hostname: { sink: SINK.hostname, field: 'edgeNode' },
  request_id: { sink: SINK.requestId, field: 'requestId' },
  http_x_request_id: { sink: SINK.httpRequestId, field: 'requestId (when $request_id is not logged)' },
  http_ssl_ja3_hash: { sink: SINK.ja3, field: 'ja3' },
  http_ssl_ja4: { sink: SINK.ja4, field: 'ja4' },
  // Read so the next field can be found; the AccessLog contract has no field for them.
  remote_user: { sink: SKIP, field: '(read, not kept)' },
  ssl_protocol: { sink: SKIP, field: '(read, not kept: no AccessLog field)' },
  ssl_cipher: { sink: SKIP, field: '(read, not kept: no AccessLog field)' },
};

/** Characters of a `$time_local` value: `21/Jan/2024:09:30:12 +0000`. */
const CLF_TIME_LENGTH = 26;

/** One variable of a compiled format, and the literal text that must follow it. */
interface Step {
  name: string;
  sink: number;
  /** Literal after the variable; null when the variable ends the line. */
  terminator: string | null;
  /** The value sits between quotes: find the closing quote, skipping escaped ones. */
  quoted: boolean;
  /** The value may be a list (`0.010, 0.020`, `a, b : c`): a terminator right after `,` or `:` is inside it. */
  list: boolean;
}

export interface CompiledLogFormat {
  /** The log_format string as given. */
  format: string;
  escape: EscapeMode;
  /** Literal text before the first variable. */
  prefix: string;
  steps: Step[];
}

function badFormat(spec: string, message: string): BadInput {
  return new BadInput('bad-log-format', `nginx log_format ${quoteExcerpt(spec, 120)}: ${message}`, 'format');
}

/**
 * Splits what follows `nginx:` into the escape mode and the log_format string. Accepts the text as
 * it appears in nginx.conf: `[escape=default|json|none] 'piece' 'piece' ...` (pieces in single or
 * double quotes are concatenated, as nginx does; a trailing `;` is ignored), or one bare string.
 */
export function readNginxFormatSpec(spec: string): { escape: EscapeMode; format: string } {
  let text = spec.trim();
  let escapeMode: EscapeMode = 'default';
  const escapeMatch = /^escape=(\w+)\s+/.exec(text);
  if (escapeMatch) {
    const mode = escapeMatch[1];
    if (mode !== 'default' && mode !== 'json' && mode !== 'none') {
      throw badFormat(spec, `escape=${mode} is not one of escape=default, escape=json, escape=none`);
    }
    escapeMode = mode;
    text = text.slice(escapeMatch[0].length);
  }
  if (text.endsWith(';')) text = text.slice(0, -1).trimEnd();
  const first = text.charAt(0);
  if (first !== "'" && first !== '"') return { escape: escapeMode, format: text };
  let format = '';
  let i = 0;
  while (i < text.length) {
    const quote = text.charAt(i);
    if (quote !== "'" && quote !== '"') {
      throw badFormat(
        spec,
        `expected a quoted piece at character ${i + 1}, found ${quoteExcerpt(text.slice(i, i + 10))}`,
      );
    }
    i++;
    let closed = false;
    while (i < text.length) {
      const c = text.charAt(i);
      if (c === '\\' && i + 1 < text.length) {
        format += text.charAt(i + 1);
        i += 2;
        continue;
      }
      i++;
      if (c === quote) {
        closed = true;
        break;
      }
      format += c;
    }
    if (!closed) throw badFormat(spec, `a ${quote} quote is never closed`);
    while (i < text.length && /\s/.test(text.charAt(i))) i++;
  }
  return { escape: escapeMode, format };
}

function isNameChar(c: string): boolean {
  return /^[A-Za-z0-9_]$/.test(c);
}

/**
 * Compiles a log_format string once: a prefix literal, then per variable the literal that ends it.
 * Throws BadInput (`bad-log-format`) when two variables touch (nothing tells where one ends) or
 * when the format lacks what an AccessLog needs: an address, a time, a status and a request.
 */
export function compileNginxLogFormat(format: string, escapeMode: EscapeMode = 'default'): CompiledLogFormat {
  const literals: string[] = [''];
  const names: string[] = [];
  let i = 0;
  while (i < format.length) {
    const c = format.charAt(i);
    if (c !== '$') {
      literals[literals.length - 1] += c;
      i++;
      continue;
    }
    let name = '';
    let next = i + 1;
    if (format.charAt(next) === '{') {
      const close = format.indexOf('}', next);
      if (close < 0) throw badFormat(format, `\${ at character ${i + 1} is never closed`);
      name = format.slice(next + 1, close);
      next = close + 1;
    } else {
      while (next < format.length && isNameChar(format.charAt(next))) name += format.charAt(next++);
    }
    if (name === '' || !/^[A-Za-z0-9_]+$/.test(name)) {
      // A `$` not starting a variable name is literal text, as in nginx.
      literals[literals.length - 1] += c;
      i++;
      continue;
    }
    if (literals[literals.length - 1] === '' && names.length > 0) {
      throw badFormat(
        format,
        `$${names[names.length - 1]} and $${name} touch with no separator, so a line cannot be split between them`,
      );
    }
    names.push(name);
    literals.push('');
    i = next;
  }
  const steps: Step[] = names.map((name, k) => {
    const before = literals[k] as string;
    const after = literals[k + 1] as string;
    const known = NGINX_VARIABLES[name.toLowerCase()];
    return {
      name,
      sink: known ? known.sink : SKIP,
      terminator: after === '' ? null : after,
      quoted: before.endsWith('"') && after.startsWith('"') && escapeMode !== 'none',
      list: name.startsWith('upstream_') || name === 'http_x_forwarded_for',
    };
  });
  const has = (sink: number) => steps.some((step) => step.sink === sink);
  const missing: string[] = [];
  if (!has(SINK.remoteAddr)) missing.push('$remote_addr');
  if (!has(SINK.timeLocal) && !has(SINK.timeIso8601) && !has(SINK.msec)) {
    missing.push('a time ($time_local, $time_iso8601 or $msec)');
  }
  if (!has(SINK.status)) missing.push('$status');
  if (!has(SINK.request) && !(has(SINK.requestMethod) && (has(SINK.requestUri) || has(SINK.uri)))) {
    missing.push('the request ($request, or $request_method with $request_uri or $uri)');
  }
  if (missing.length > 0) throw badFormat(format, `it must log ${missing.join(', ')}`);
  return { format, escape: escapeMode, prefix: literals[0] as string, steps };
}

/** Whether a compiled format logs `$http_x_forwarded_for`, the client behind trusted proxies. */
export function logsForwardedFor(compiled: CompiledLogFormat): boolean {
  return compiled.steps.some((step) => step.sink === SINK.forwardedFor);
}

/**
 * Whether a compiled format logs `$http_x_forwarded_for` unquoted with other variables after it.
 * The client writes X-Forwarded-For: a space in it ends the value early and shifts every field
 * after it, so a value like `66.249.66.1 HIT` makes 66.249.66.1 (a verified crawler, a victim)
 * the rightmost hop. Quoted, or last on the line, it cannot shift anything.
 */
export function forwardedForShiftable(compiled: CompiledLogFormat): boolean {
  return compiled.steps.some(
    (step, k) => step.sink === SINK.forwardedFor && !step.quoted && k < compiled.steps.length - 1,
  );
}

/** Parser for any nginx log_format, compiled once (see compileNginxLogFormat). */
export class NginxFormatParser implements LineParser {
  readonly format: string;
  private readonly compiled: CompiledLogFormat;
  private readonly options: ResolvedOptions;
  private readonly clock = new ClfTimeReader();
  /** Where each sink's value starts and ends in the current line; -1 when not logged. */
  private readonly starts = new Int32Array(SINK_COUNT);
  private readonly ends = new Int32Array(SINK_COUNT);
  fieldCuts: readonly FieldCut[] = NO_FIELD_CUTS;

  constructor(compiled: CompiledLogFormat, options?: ParserOptions) {
    this.compiled = compiled;
    this.format = `nginx:'${compiled.format}'`;
    this.options = resolveOptions(options);
  }

  parse(line: string, location?: string, plain = false): AccessLog | BadInput {
    const bad = checkLine(line, this.options.maxLineLength, location, plain);
    this.fieldCuts = NO_FIELD_CUTS;
    if (bad) return bad;
    const { prefix, steps } = this.compiled;
    const starts = this.starts;
    const ends = this.ends;
    starts.fill(-1);
    if (!literalAt(line, 0, prefix)) return this.shape(line, 0, steps[0]?.name ?? 'prefix', location);
    let pos = prefix.length;
    for (let k = 0; k < steps.length; k++) {
      const step = steps[k] as Step;
      const terminator = step.terminator;
      let end: number;
      if (terminator === null) {
        end = line.length;
      } else if (step.quoted) {
        end = findClosingQuote(line, pos);
        if (end < 0) return this.shape(line, line.length, step.name, location);
        if (!literalAt(line, end, terminator)) return this.shape(line, end, step.name, location);
      } else {
        end = line.indexOf(terminator, pos);
        if (step.list) {
          while (end > pos && isInsideList(line, end, terminator)) end = line.indexOf(terminator, end + 1);
        } else if (steps[k + 1]?.sink === SINK.timeLocal) {
          // `$remote_user [$time_local]`: the user comes from any client's Basic header and nginx
          // escapes neither `[` nor spaces in it: the value ends where a readable time follows.
          const first = end;
          for (let tries = 0; end >= 0 && tries < 64; tries++) {
            const timeAt = end + terminator.length;
            if (!Number.isNaN(this.clock.read(line, timeAt, timeAt + CLF_TIME_LENGTH))) break;
            end = line.indexOf(terminator, end + 1);
          }
          if (end < 0) end = first; // none: the first, whose time is then rejected
        }
        if (end < 0) {
          // Truncated if the line simply stops; a mismatch if a later separator shows up anyway.
          const later = steps
            .slice(k + 1)
            .some((next) => next.terminator && line.includes(next.terminator, pos));
          return this.shape(line, later ? pos : line.length, step.name, location);
        }
      }
      // Cut (in build), not rejected: see FieldCut.
      if (end - pos > this.options.maxFieldLength)
        this.fieldCuts = withFieldCut(this.fieldCuts, step.name, end - pos);
      if (step.sink !== SKIP) {
        starts[step.sink] = pos;
        ends[step.sink] = end;
      }
      pos = end + (terminator === null ? 0 : terminator.length);
    }
    return this.build(line, location, plain);
  }

  /** Turns the located values into a record, applying the precedence rules of NGINX_VARIABLES. */
  private build(line: string, location: string | undefined, plain: boolean): AccessLog | BadInput {
    const starts = this.starts;
    const ends = this.ends;
    const backslashAt = this.compiled.escape === 'none' || plain ? -1 : line.indexOf('\\');
    const record = emptyAccessLog();

    const addressText = this.text(line, SINK.remoteAddr, backslashAt);
    const peer = canonicalIp(addressText);
    if (peer === null) {
      return reject(
        REJECT_REASONS.badAddress,
        `$remote_addr ${quoteExcerpt(addressText)} is not an IP address`,
        'remote_addr',
        location,
      );
    }

    let time: number;
    let timeSink: number;
    // $msec is the same instant as $time_local and $time_iso8601 (the log write), to the
    // millisecond: when a format logs it beside them, it orders requests within a second.
    if (starts[SINK.msec]! >= 0) {
      timeSink = SINK.msec;
      time = parseEpochSeconds(line, starts[timeSink]!, ends[timeSink]!);
    } else if (starts[SINK.timeLocal]! >= 0) {
      timeSink = SINK.timeLocal;
      time = this.clock.read(line, starts[timeSink]!, ends[timeSink]!);
    } else {
      timeSink = SINK.timeIso8601;
      time = parseRfc3339(line, starts[timeSink]!, ends[timeSink]!);
    }
    if (Number.isNaN(time) || isTooFarAhead(time)) {
      const shown = quoteExcerpt(this.text(line, timeSink, backslashAt));
      const field =
        timeSink === SINK.timeLocal ? 'time_local' : timeSink === SINK.timeIso8601 ? 'time_iso8601' : 'msec';
      if (!Number.isNaN(time)) return tooFarAhead(shown, field, location);
      return reject(REJECT_REASONS.badTimestamp, `time ${shown} cannot be read`, field, location);
    }
    record.time = time;

    if (starts[SINK.request]! >= 0) {
      const request = this.text(line, SINK.request, backslashAt);
      const unescaped = request.length !== ends[SINK.request]! - starts[SINK.request]!;
      if (!applyRequestLine(request, record, unescaped)) {
        applyNonHttpRequest(record, line.slice(starts[SINK.request]!, ends[SINK.request]!));
      }
    } else {
      const method = this.optional(line, SINK.requestMethod, backslashAt);
      const target =
        starts[SINK.requestUri]! >= 0
          ? this.optional(line, SINK.requestUri, backslashAt)
          : this.optional(line, SINK.uri, backslashAt);
      if (method === null || target === null) {
        return reject(REJECT_REASONS.badRequest, 'request method or URI is empty', 'request_uri', location);
      }
      record.method = method;
      applyRequestTarget(target, method, record);
      if (starts[SINK.requestUri]! < 0) record.query = this.optional(line, SINK.args, backslashAt);
      record.protocol = this.optional(line, SINK.serverProtocol, backslashAt);
    }

    const status =
      ends[SINK.status]! - starts[SINK.status]! === 3 ? threeDigits(line, starts[SINK.status]!) : -1;
    if (status < 0) {
      return reject(
        REJECT_REASONS.badStatus,
        `$status ${quoteExcerpt(this.text(line, SINK.status, backslashAt))} is not a three-digit number`,
        'status',
        location,
      );
    }
    record.status = status;

    const bytesSink = starts[SINK.bytesSent]! >= 0 ? SINK.bytesSent : SINK.bodyBytesSent;
    if (starts[bytesSink]! >= 0) {
      const bytes = byteCount(line, starts[bytesSink]!, ends[bytesSink]!);
      if (bytes < 0) {
        return reject(
          REJECT_REASONS.badBytes,
          `byte count ${quoteExcerpt(this.text(line, bytesSink, backslashAt))} is neither a number nor "-"`,
          bytesSink === SINK.bytesSent ? 'bytes_sent' : 'body_bytes_sent',
          location,
        );
      }
      record.bytes = bytes;
    }

    if (starts[SINK.requestTime]! >= 0)
      record.edgeDurationMs = secondsListToMs(this.optional(line, SINK.requestTime, backslashAt));
    if (starts[SINK.upstreamResponseTime]! >= 0) {
      record.originDurationMs = secondsListToMs(this.optional(line, SINK.upstreamResponseTime, backslashAt));
    }
    const cacheStatus = this.optional(line, SINK.upstreamCacheStatus, backslashAt);
    record.cacheStatus = cacheStatus === null ? null : cacheStatus.toUpperCase();
    record.referer = this.optional(line, SINK.referer, backslashAt);
    record.userAgent = this.optional(line, SINK.userAgent, backslashAt);
    record.acceptLanguage = this.optional(line, SINK.acceptLanguage, backslashAt);

    const host = this.optional(line, SINK.host, backslashAt);
    if (host !== null) record.host = host.toLowerCase();
    else if (record.host === null) {
      const httpHost = this.optional(line, SINK.httpHost, backslashAt);
      record.host =
        httpHost !== null ? hostOfAuthority(httpHost) : this.optional(line, SINK.serverName, backslashAt);
    }
    record.edgeNode = this.optional(line, SINK.hostname, backslashAt);
    record.requestId =
      this.optional(line, SINK.requestId, backslashAt) ??
      this.optional(line, SINK.httpRequestId, backslashAt);
    record.ja3 = this.optional(line, SINK.ja3, backslashAt);
    record.ja4 = this.optional(line, SINK.ja4, backslashAt);

    let forwardedFor = this.optional(line, SINK.forwardedFor, backslashAt);
    if (this.fieldCuts !== NO_FIELD_CUTS) {
      const max = this.options.maxFieldLength;
      const over = (sink: number) => starts[sink]! >= 0 && ends[sink]! - starts[sink]! > max;
      if (forwardedFor !== null && over(SINK.forwardedFor))
        forwardedFor = keepRightmostHops(forwardedFor, max);
      const targetCut = over(SINK.request) || over(SINK.requestUri) || over(SINK.uri) || over(SINK.args);
      cutLongFields(record, max, targetCut);
    }
    record.peerAddress = peer;
    record.clientAddress = resolveClientAddress(peer, forwardedFor, this.options.trustedProxies);
    return record;
  }

  /** The value of `sink` in `line`, unescaped. */
  private text(line: string, sink: number, backslashAt: number): string {
    return fieldText(line, this.starts[sink]!, this.ends[sink]!, backslashAt, this.compiled.escape);
  }

  /** The value of `sink`, or null when the format does not log it or it is `-` or empty. */
  private optional(line: string, sink: number, backslashAt: number): string | null {
    const start = this.starts[sink]!;
    if (start < 0) return null;
    return optionalText(line, start, this.ends[sink]!, backslashAt, this.compiled.escape);
  }

  private shape(line: string, at: number, variable: string, location: string | undefined): BadInput {
    if (at >= line.length) {
      return reject(
        REJECT_REASONS.truncated,
        `line ends before $${variable} is complete: not a whole line of ${this.format}`,
        variable,
        location,
      );
    }
    return reject(
      REJECT_REASONS.formatMismatch,
      `line does not match ${this.format} around $${variable} (column ${at + 1}: ${quoteExcerpt(line.slice(at, at + 20))})`,
      variable,
      location,
    );
  }
}

/** Whether `literal` is at `at` in `line`; literals are short (`" "`, `] "`), and startsWith is slow in V8. */
function literalAt(line: string, at: number, literal: string): boolean {
  if (at + literal.length > line.length) return false;
  for (let i = 0; i < literal.length; i++) {
    if (line.charCodeAt(at + i) !== literal.charCodeAt(i)) return false;
  }
  return true;
}

/** A separator found right after `,` or around ` : ` belongs to a list value such as `0.010, 0.020`. */
function isInsideList(line: string, at: number, terminator: string): boolean {
  if (terminator.charCodeAt(0) !== 32) return false;
  const before = line.charCodeAt(at - 1);
  if (before === 44 || before === 58) return true; // `, ` or `: `
  return line.charCodeAt(at + 1) === 58 && line.charCodeAt(at + 2) === 32; // ` : `
}

/**
 * Seconds (`0.123`), or nginx's list for retries and internal redirects (`0.010, 0.020 : 0.005`),
 * to milliseconds. A list is summed: the request's total time spent waiting on origins, which is
 * what matters when the origin is what drowns. `-` entries (no response) are skipped; null when
 * nothing is left.
 */
export function secondsListToMs(text: string | null): number | null {
  if (text === null) return null;
  let total = 0;
  let found = false;
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 44;
    if (c !== 44 && c !== 58) continue;
    const part = text.slice(start, i).trim();
    start = i + 1;
    if (part === '' || part === '-') continue;
    const seconds = Number(part);
    if (!Number.isFinite(seconds) || seconds < 0) continue;
    total += seconds;
    found = true;
  }
  return found ? plausibleDurationMs(Math.round(total * 1e6) / 1e3) : null;
}
