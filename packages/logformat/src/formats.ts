import { type AccessLog, BadInput, isBadInput, suggest } from '@edgeguard/schema';
import { ClfParser } from './clf-parser.js';
import { CloudflareParser } from './cloudflare.js';
import {
  compileEnvoyFormat,
  ENVOY_DEFAULT_FORMAT,
  envoyAddressShiftable,
  isKnownEnvoyOperator,
  readEnvoyFormatSpec,
} from './envoy-format.js';
import { EnvoyJsonParser } from './envoy-json.js';
import {
  type CompiledLogFormat,
  compileNginxLogFormat,
  forwardedForShiftable,
  logsForwardedFor,
  NGINX_VARIABLES,
  NginxFormatParser,
  readNginxFormatSpec,
  SINK,
} from './nginx-format.js';
import { type FieldCut, type LineParser, NO_FIELD_CUTS, type ParserOptions } from './parser.js';

/** Format names accepted on the command line and in config, besides `nginx:'<log_format>'` and `envoy:'<format>'`. */
export const FORMAT_NAMES = [
  'auto',
  'combined',
  'nginx-main',
  'apache',
  'cloudflare',
  'envoy',
  'envoy-json',
] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];

/** How many lines some candidate reads `auto` looks at before it settles on a format. */
export const SNIFF_LINES = 20;

/**
 * How many non-empty lines `auto` looks at in all before it settles without SNIFF_LINES read by
 * any candidate. Lines no format reads (an error log's, a banner, a few KiB of junk before the
 * log) do not count towards SNIFF_LINES: settling on them was settling on no evidence, and the
 * fallback `combined` ignores X-Forwarded-For, so a load-balanced nginx-main log whose first 20
 * lines were error-log lines had every request attributed to the balancer (never decided on).
 * The bound keeps a file of junk from being parsed four times over to its end.
 */
export const SNIFF_MAX_LINES = 1000;

/**
 * Formats `auto` chooses between, most specific first: on a tie the earlier wins (a combined line
 * with a trailing quoted field parses as both nginx-main and combined; nginx-main keeps more).
 */
// The two JSON formats never read each other's lines: each requires keys the other lacks.
const SNIFF_CANDIDATES = ['cloudflare', 'envoy-json', 'envoy', 'nginx-main', 'combined', 'apache'] as const;
/** Chosen when no candidate parsed anything: its rejections then tell the operator what is wrong. */
const FALLBACK_CANDIDATE = SNIFF_CANDIDATES.indexOf('combined');

/**
 * A parser for `format`: one of FORMAT_NAMES, or `nginx:` followed by an nginx log_format
 * string (see readNginxFormatSpec). Throws BadInput (`unknown-format`, or `bad-log-format` /
 * `bad-cidr` from the format string and the options) naming the text and what is valid.
 */
export function createParser(format: string, options?: ParserOptions): LineParser {
  switch (format) {
    case 'auto':
      return new AutoParser(options);
    case 'combined':
    case 'nginx-main':
    case 'apache':
      return new ClfParser(format, options);
    case 'cloudflare':
      return new CloudflareParser(options);
    case 'envoy-json':
      return new EnvoyJsonParser(options);
    case 'envoy':
      return new NginxFormatParser(compileEnvoyFormat(ENVOY_DEFAULT_FORMAT), options, 'envoy');
  }
  if (format.startsWith('nginx:')) return new NginxFormatParser(compileNginxFormatName(format), options);
  if (format.startsWith('envoy:')) {
    const compiled = compileEnvoyFormatName(format);
    return new NginxFormatParser(compiled, options, `envoy:'${compiled.format}'`);
  }
  // `Combined`, `NGINX-MAIN`; a log_format string given without its `nginx:`.
  const hint = format.includes('$')
    ? ` (a log_format string is given as nginx:'${format}')`
    : /%[A-Z_]+[%(]/.test(format)
      ? ` (an Envoy format string is given as envoy:'${format}')`
      : suggest(format.trim(), FORMAT_NAMES);
  throw new BadInput(
    'unknown-format',
    `unknown log format ${JSON.stringify(format)}${hint}: expected one of ${FORMAT_NAMES.join(', ')}, ` +
      `or nginx:'<log_format string>' (e.g. nginx:'$remote_addr [$time_local] "$request" $status'), ` +
      `or envoy:'<format string>' (e.g. envoy:'%DOWNSTREAM_DIRECT_REMOTE_ADDRESS% [%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)%" %RESPONSE_CODE%')`,
    'format',
  );
}

/**
 * The variables of an `nginx:` format that are not in NGINX_VARIABLES, each once, in order: the
 * parser reads past their values and keeps nothing of them, which is right for a variable with no
 * AccessLog field (`$connection`) and silently wrong for a typo (`$http_user_agnet`), so a caller
 * should say so. Empty for the other formats.
 */
export function unknownNginxVariables(format: string): string[] {
  if (format.startsWith('envoy:')) {
    const names = compileEnvoyFormatName(format).steps.map((step) => step.name);
    return [...new Set(names.filter((name) => !isKnownEnvoyOperator(name)))];
  }
  if (!format.startsWith('nginx:')) return [];
  const names = compileNginxFormatName(format).steps.map((step) => step.name);
  return [...new Set(names.filter((name) => !Object.hasOwn(NGINX_VARIABLES, name.toLowerCase())))];
}

/** The format string of an `envoy:'<format string>'` format name, compiled (throws as createParser does). */
function compileEnvoyFormatName(format: string): CompiledLogFormat {
  return compileEnvoyFormat(readEnvoyFormatSpec(format.slice('envoy:'.length)));
}

/** The log_format of an `nginx:'<log_format string>'` format name, compiled (throws as createParser does). */
function compileNginxFormatName(format: string): CompiledLogFormat {
  const spec = readNginxFormatSpec(format.slice('nginx:'.length));
  return compileNginxLogFormat(spec.format, spec.escape);
}

/**
 * Whether lines of `format` tell the client behind a proxy: `nginx-main` and an nginx log_format
 * with `$http_x_forwarded_for` log X-Forwarded-For, which `trustedProxies` resolves; `cloudflare`'s
 * ClientIP is the client already. `combined`, `apache` and other log_formats log only the address
 * that connected: behind a load balancer every request is the balancer's, whatever
 * `trustedProxies` says. Null for `auto` (ask of the format it settles on) and unknown names.
 */
export function logsClientBehindProxies(format: string): boolean | null {
  switch (format) {
    case 'nginx-main':
    case 'cloudflare':
    case 'envoy':
    case 'envoy-json':
      return true;
    case 'combined':
    case 'apache':
      return false;
  }
  if (format.startsWith('envoy:')) {
    // X-Forwarded-For, or the direct peer beside the address Envoy resolved (see generateLineReader).
    const compiled = compileEnvoyFormatName(format);
    const logs = (...sinks: number[]) => compiled.steps.some((step) => sinks.includes(step.sink));
    return (
      logsForwardedFor(compiled) ||
      (logs(SINK.directAddr, SINK.directAddrPort) && logs(SINK.remoteAddr, SINK.remoteAddrPort))
    );
  }
  return format.startsWith('nginx:') ? logsForwardedFor(compileNginxFormatName(format)) : null;
}

/**
 * Whether a client can shift the fields of `format`'s lines: an nginx: or envoy: format whose
 * unquoted X-Forwarded-For it can use (see forwardedForShiftable), or an envoy: format that logs
 * a value the client writes before the address (clientCanShiftAddress).
 */
export function clientCanShiftFields(format: string): boolean {
  if (format.startsWith('envoy:')) {
    const compiled = compileEnvoyFormatName(format);
    return forwardedForShiftable(compiled) || envoyAddressShiftable(compiled);
  }
  return format.startsWith('nginx:') && forwardedForShiftable(compileNginxFormatName(format));
}

/**
 * Whether `format` is an envoy: format where a client can choose the address its line is read
 * with, trusted proxies or not (see envoyAddressShiftable): Envoy escapes nothing, so a `" "` in a
 * header logged before the address moves text the client wrote into it.
 */
export function clientCanShiftAddress(format: string): boolean {
  return format.startsWith('envoy:') && envoyAddressShiftable(compileEnvoyFormatName(format));
}

function isBlank(line: string): boolean {
  return line.trim().length === 0;
}

/**
 * The format of a log from its first lines: each candidate parses the lines up to the
 * SNIFF_LINES-th that some candidate reads (at most SNIFF_MAX_LINES non-empty lines) and the one
 * with the most successes wins (ties: the more specific). Lines that look like JSON objects count
 * for cloudflare only when they parse as Logpush records. With no line parsed by any candidate
 * (or no lines), `combined`, whose rejections will then tell what is wrong.
 */
export function sniffFormat(lines: readonly string[]): string {
  return SNIFF_CANDIDATES[sniffLines(lines).chosen] as string;
}

/**
 * What sniffFormat would choose from `lines` when they are enough to settle on it (SNIFF_LINES
 * lines some format reads, or SNIFF_MAX_LINES non-empty lines), null when a caller reading a log
 * in batches should read on: a pipe's first batch can be one line, and one line no format reads
 * must not decide.
 */
export function settledFormat(lines: readonly string[]): string | null {
  const sniff = sniffLines(lines);
  return sniff.done ? (SNIFF_CANDIDATES[sniff.chosen] as string) : null;
}

function sniffLines(lines: readonly string[]): FormatSniff {
  const sniff = new FormatSniff(SNIFF_CANDIDATES.map((name) => createParser(name)));
  for (const line of lines) {
    if (isBlank(line)) continue;
    sniff.count(sniff.candidates.map((parser) => parser.parse(line)));
    if (sniff.done) break;
  }
  return sniff;
}

/** The candidates' scores while sniffing: what sniffFormat and AutoParser both keep. */
class FormatSniff {
  private readonly successes: number[];
  /** Non-empty lines counted, and those of them some candidate read. */
  private seen = 0;
  private shaped = 0;

  constructor(readonly candidates: LineParser[]) {
    this.successes = candidates.map(() => 0);
  }

  /** Counts one non-empty line from each candidate's result for it (in candidate order). */
  count(results: readonly (AccessLog | BadInput)[]): void {
    let read = false;
    results.forEach((result, k) => {
      if (!isBadInput(result)) {
        this.successes[k]!++;
        read = true;
      }
    });
    this.seen++;
    if (read) this.shaped++;
  }

  /** Whether the lines counted are enough to settle on `chosen`. */
  get done(): boolean {
    return this.shaped >= SNIFF_LINES || this.seen >= SNIFF_MAX_LINES;
  }

  /** The index of the leading candidate, or of the fallback when none has read a line. */
  get chosen(): number {
    const best = leader(this.successes);
    return best < 0 ? FALLBACK_CANDIDATE : best;
  }
}

/** Index of the highest count (the first on a tie), or -1 when every count is 0. */
function leader(successes: readonly number[]): number {
  let best = -1;
  let bestCount = 0;
  successes.forEach((count, k) => {
    if (count > bestCount) {
      best = k;
      bestCount = count;
    }
  });
  return best;
}

/**
 * `auto`: parses the first lines with every candidate (returning the leading candidate's result,
 * or any candidate's success) until sniffFormat would stop, then settles on the leader, exactly as
 * sniffFormat would choose from those lines, and parses the rest with it alone. `format` tells
 * the settled name (`auto` until then). Callers that already hold the first lines can call
 * sniffFormat and createParser themselves.
 */
export class AutoParser implements LineParser {
  private readonly sniff: FormatSniff;
  private settled: LineParser | null = null;
  /** The candidate whose record the last parse returned, while sniffing (null after: the settled one's). */
  private answered: LineParser | null = null;

  constructor(options?: ParserOptions) {
    this.sniff = new FormatSniff(SNIFF_CANDIDATES.map((name) => createParser(name, options)));
  }

  get format(): string {
    return this.settled?.format ?? 'auto';
  }

  get fieldCuts(): readonly FieldCut[] {
    return (this.answered ?? this.settled)?.fieldCuts ?? NO_FIELD_CUTS;
  }

  parse(line: string, location?: string, plain = false): AccessLog | BadInput {
    if (this.settled) {
      if (this.answered !== null) this.answered = null;
      return this.settled.parse(line, location, plain);
    }
    const sniff = this.sniff;
    const results = sniff.candidates.map((parser) => parser.parse(line, location, plain));
    if (!isBlank(line)) sniff.count(results);
    const chosen = sniff.chosen;
    if (sniff.done) this.settled = sniff.candidates[chosen]!;
    const preferred = results[chosen]!;
    // A rejection by the leader: keep the line if another format reads it.
    const k = isBadInput(preferred) ? results.findIndex((result) => !isBadInput(result)) : chosen;
    this.answered = k < 0 ? null : sniff.candidates[k]!;
    return k < 0 ? preferred : results[k]!;
  }
}
