import { canonicalIpAt } from '@edgeguard/netaddr';
import { type AccessLog, BadInput, emptyAccessLog } from '@edgeguard/schema';
import { byteCount, fieldText, hasBackslash, optionalText, threeDigits } from './clf-parser.js';
import { envoyClientAddress, envoyPeerAddress, resolveClientAddress } from './client-address.js';
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
  applyRequestLineAt,
  applyRequestTarget,
  hostOfAuthority,
} from './request-line.js';
import {
  ClfTimeReader,
  integerMsAt,
  isTooFarAhead,
  parseEpochSeconds,
  parseRfc3339,
  plausibleDurationMs,
} from './time.js';

/** What a logged nginx variable feeds. Numbers index the per-line position arrays. */
export const SINK = {
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
  // Envoy's (envoy-format.ts): addresses with a port, and durations in integer milliseconds.
  remoteAddrPort: 28,
  directAddr: 29,
  directAddrPort: 30,
  durationMs: 31,
  originMs: 32,
} as const;
const SINK_COUNT = 33;
/** A variable that is read (to find where the next one starts) and not kept. */
export const SKIP = -1;

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
export interface Step {
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
  /**
   * `envoy` for an Envoy format string (envoy-format.ts): names shown as `%NAME%`, values never
   * escaped, the line must end where the format does, and the address rules of Envoy's operators
   * (see generateLineReader). Absent for nginx.
   */
  dialect?: 'envoy';
  /**
   * Text the value of the last step (one ending the line) must not hold, else the line is
   * rejected: set by compileEnvoyFormat when a client can shift fields into the address and the
   * format ends with an operator Envoy writes as one word, where a shift leaves the real rest.
   */
  lastValueWithout?: string;
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
  const missing = missingRequirements((sink) => steps.some((step) => step.sink === sink), undefined);
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
  // Envoy's lines must end where the format does: a shift leaves text over, and is rejected,
  // unless the format ends with a variable, which takes whatever is left.
  const lastStep = compiled.steps[compiled.steps.length - 1];
  if (compiled.dialect === 'envoy' && lastStep?.terminator !== null) return false;
  return compiled.steps.some(
    (step, k) => step.sink === SINK.forwardedFor && !step.quoted && k < compiled.steps.length - 1,
  );
}

/**
 * Parser for any nginx log_format, compiled once (see compileNginxLogFormat), and for Envoy format
 * strings (compileEnvoyFormat, which names the parser `envoy` or `envoy:'<format>'`).
 */
export class NginxFormatParser implements LineParser {
  readonly format: string;
  fieldCuts: readonly FieldCut[] = NO_FIELD_CUTS;
  /** The line reader generated for this format (see generateLineReader). */
  readonly parse: (line: string, location?: string, plain?: boolean) => AccessLog | BadInput;

  constructor(compiled: CompiledLogFormat, options?: ParserOptions, name = `nginx:'${compiled.format}'`) {
    this.format = name;
    this.parse = generateLineReader(compiled, this, resolveOptions(options));
  }
}

/** The only names a variable may have in generated source (and then only inside a string literal). */
const VARIABLE_NAME = /^[A-Za-z0-9_]+$/;
/** The same for an Envoy command operator: `REQ(USER-AGENT)`, `START_TIME(%s.%3f)`, `REQ(X?Y):64`. */
const OPERATOR_NAME = /^[A-Z0-9_]+(?:\([^()]*\))?(?::[0-9]+)?$/;

/** A literal longer than this is compared by literalAt rather than char by char in the source. */
const INLINE_LITERAL_MAX = 16;

/**
 * JavaScript source of a string literal holding `text`: the only way text of the format (literals,
 * variable names) enters generated source. JSON.stringify escapes quotes, backslashes and control
 * characters, and a JSON string is a JavaScript string literal (ES2019 made U+2028/U+2029 legal in
 * them; JSON.stringify escapes lone surrogates).
 */
function sourceString(text: string): string {
  return JSON.stringify(text);
}

/** Source of a test that `text` is at `at` (an expression of the generator's own) in `line`,
 *  its chars before `from` known to be there. */
function literalTest(at: string, text: string, from = 0): string {
  if (text.length > INLINE_LITERAL_MAX) return `literalAt(line, ${at}, ${sourceString(text)})`;
  const tests: string[] = [];
  // Past the end of the line charCodeAt is NaN, equal to no code: no length check needed.
  for (let i = from; i < text.length; i++) {
    tests.push(`line.charCodeAt(${i === 0 ? at : `${at} + ${i}`}) === ${text.charCodeAt(i)}`);
  }
  return tests.length === 0 ? 'true' : tests.join(' && ');
}

/** What a generated line reader is given: the helpers it calls and its parser's settings. */
interface ReaderEnvironment {
  parser: { fieldCuts: readonly FieldCut[] };
  clock: ClfTimeReader;
  maxLineLength: number;
  maxFieldLength: number;
  trustedProxies: ResolvedOptions['trustedProxies'];
  shape: (line: string, at: number, variable: string, location: string | undefined) => BadInput;
  overrun: (line: string, at: number, location: string | undefined) => BadInput;
  laterSeparator: (line: string, from: number, step: number) => boolean;
  [helper: string]: unknown;
}

/** Helpers a generated reader calls: the same ones the fixed parsers use. */
const READER_HELPERS = {
  applyNonHttpRequest,
  applyRequestLine,
  applyRequestLineAt,
  applyRequestTarget,
  byteCount,
  canonicalIpAt,
  checkLine,
  cutLongFields,
  durationMsAt,
  emptyAccessLog,
  fieldText,
  findClosingQuote,
  hasBackslash,
  hostOfAuthority,
  integerMsAt,
  isTooFarAhead,
  envoyClientAddress,
  envoyPeerAddress,
  keepRightmostHops,
  literalAt,
  NO_FIELD_CUTS,
  optionalText,
  parseEpochSeconds,
  parseRfc3339,
  quoteExcerpt,
  REJECT_REASONS,
  reject,
  resolveClientAddress,
  sameText,
  threeDigits,
  tooFarAhead,
  withFieldCut,
};

/**
 * Generates the line reader of one format: JavaScript source in which every literal check and
 * every variable's extraction is written out in format order, then compiled once with `new
 * Function`. An interpreted loop over the steps cost about as much as all the field reading it
 * drove (docs/BENCHMARKS.md, "Fourth session of 2026-11-29"). Same results as that loop, by
 * construction and checked line for line by bench/parser-equivalence.mjs: split first (shape
 * errors), then build the record (value errors) with the same helpers, in the same order.
 *
 * The format comes from config, so no text of it is ever source: literals and variable names are
 * embedded only as JSON.stringify'd string literals, names must match VARIABLE_NAME, sinks must be
 * known integers, and everything else in the source is the generator's own text and numbers.
 */
function generateLineReader(
  compiled: CompiledLogFormat,
  parser: { fieldCuts: readonly FieldCut[]; format: string },
  options: ResolvedOptions,
): (line: string, location?: string, plain?: boolean) => AccessLog | BadInput {
  const { steps, prefix } = compiled;
  const envoy = compiled.dialect === 'envoy';
  const last = new Array<number>(SINK_COUNT).fill(-1);
  steps.forEach((step, k) => {
    if (!(envoy ? OPERATOR_NAME : VARIABLE_NAME).test(step.name))
      throw badFormat(
        compiled.format,
        envoy
          ? 'an operator is not NAME, NAME(argument) or NAME(argument):N'
          : 'a variable name is not [A-Za-z0-9_]+',
      );
    if (step.sink !== SKIP) {
      if (!Number.isInteger(step.sink) || step.sink < 0 || step.sink >= SINK_COUNT) {
        throw badFormat(compiled.format, `$${step.name} feeds no known field`);
      }
      last[step.sink] = k;
    }
  });
  const has = (sink: number) => last[sink]! >= 0;
  const required = missingRequirements(has, compiled.dialect);
  if (steps.length === 0 || required.length > 0) {
    throw badFormat(compiled.format, `it must log ${required.join(', ') || 'a variable'}`);
  }
  /** How a message names what feeds `sink`: nginx's fixed name, or Envoy's operator as written. */
  const label = (sink: number, nginxName: string) => (envoy ? `%${steps[last[sink]!]!.name}%` : nginxName);
  /** The field a rejection names: nginx's variable, or Envoy's operator. */
  const fieldOf = (sink: number, nginxName: string) => (envoy ? steps[last[sink]!]!.name : nginxName);
  const start = (sink: number) => `s${last[sink]}`;
  const end = (sink: number) => `e${last[sink]}`;
  const mode = sourceString(compiled.escape);
  const text = (sink: number) => `fieldText(line, ${start(sink)}, ${end(sink)}, backslashAt, ${mode})`;
  const optional = (sink: number) =>
    has(sink) ? `optionalText(line, ${start(sink)}, ${end(sink)}, backslashAt, ${mode})` : 'null';
  const str = sourceString;

  const src: string[] = [];
  const emit = (...lines: string[]) => src.push(...lines);
  emit(
    '"use strict";',
    `const { ${Object.keys(READER_HELPERS).join(', ')} } = env;`,
    'const { parser, clock, maxLineLength, maxFieldLength, trustedProxies, shape, overrun, laterSeparator } = env;',
    // The last address read and its canonical form: consecutive lines often share the client.
    "let lastLine = '';",
    'let lastStart = 0;',
    'let lastLength = -1;',
    "let lastPeer = '';",
    'return function parse(line, location, plain = false) {',
    'const bad = checkLine(line, maxLineLength, location, plain);',
    'parser.fieldCuts = NO_FIELD_CUTS;',
    'if (bad) return bad;',
    'let e = 0;',
    // A $time_local read while splitting (see below), and where.
    'let checkedTime = Number.NaN;',
    'let checkedAt = -1;',
  );
  if (prefix !== '') {
    emit(`if (!(${literalTest('0', prefix)})) return shape(line, 0, ${str(steps[0]!.name)}, location);`);
  }
  emit(`let p = ${prefix.length};`);

  // Split: where each variable ends, from the literal that follows it.
  steps.forEach((step, k) => {
    const name = str(step.name);
    const terminator = step.terminator;
    if (step.sink !== SKIP) emit(`const s${k} = p;`);
    if (terminator === null) {
      emit('e = line.length;');
    } else if (step.quoted) {
      // findClosingQuote's answer, its search skipped when no backslash precedes the first quote.
      emit(
        `e = line.indexOf('"', p);`,
        'if (e > p && line.charCodeAt(e - 1) === 92) e = findClosingQuote(line, p);',
        `if (e < 0) return shape(line, line.length, ${name}, location);`,
        // (e is at a quote: a terminator's first char, always a quote from compileNginxLogFormat, is known.)
        `if (!(${literalTest('e', terminator, terminator.charCodeAt(0) === 34 ? 1 : 0)})) return shape(line, e, ${name}, location);`,
      );
    } else {
      emit(`e = line.indexOf(${str(terminator)}, p);`);
      if (step.list) {
        // A separator found right after `,` or around ` : ` belongs to a list value such as `0.010, 0.020`.
        if (terminator.charCodeAt(0) === 32) {
          emit(
            'while (e > p && (line.charCodeAt(e - 1) === 44 || line.charCodeAt(e - 1) === 58 ||',
            `  (line.charCodeAt(e + 1) === 58 && line.charCodeAt(e + 2) === 32))) e = line.indexOf(${str(terminator)}, e + 1);`,
          );
        }
      } else if (steps[k + 1]?.sink === SINK.timeLocal) {
        // `$remote_user [$time_local]`: the user comes from any client's Basic header and nginx
        // escapes neither `[` nor spaces in it: the value ends where a readable time follows.
        emit(
          '{',
          'const first = e;',
          'for (let tries = 0; e >= 0 && tries < 64; tries++) {',
          `const timeAt = e + ${terminator.length};`,
          `const time = clock.read(line, timeAt, timeAt + ${CLF_TIME_LENGTH});`,
          // Kept for the build, which reads the same time (when it is the one it takes).
          'if (!Number.isNaN(time)) { checkedTime = time; checkedAt = timeAt; break; }',
          `e = line.indexOf(${str(terminator)}, e + 1);`,
          '}',
          'if (e < 0) e = first;', // none: the first, whose time is then rejected
          '}',
        );
      }
      // Truncated if the line simply stops; a mismatch if a later separator shows up anyway.
      emit(
        `if (e < 0) return shape(line, laterSeparator(line, p, ${k}) ? p : line.length, ${name}, location);`,
      );
    }
    // Cut (in the build), not rejected: see FieldCut.
    emit(`if (e - p > maxFieldLength) parser.fieldCuts = withFieldCut(parser.fieldCuts, ${name}, e - p);`);
    if (step.sink !== SKIP) emit(`const e${k} = e;`);
    if (terminator !== null) emit(`p = e + ${terminator.length};`);
  });
  // Envoy writes values as they came, quotes too: a `" "` inside a User-Agent or X-Forwarded-For
  // ends that value early and shifts every later one, which shows as text left after the format's
  // last literal. Rejected: which value held the extra quotes cannot be told, and guessing would
  // let a client choose the X-Forwarded-For hop read as its address.
  if (envoy && steps[steps.length - 1]!.terminator !== null) {
    emit('if (p !== line.length) return overrun(line, p, location);');
  } else if (compiled.lastValueWithout !== undefined) {
    emit(
      `const extra = line.indexOf(${str(compiled.lastValueWithout)}, p);`,
      'if (extra >= 0) return overrun(line, extra, location);',
    );
  }

  // Build: the located values into a record, with the precedence rules of NGINX_VARIABLES.
  emit(
    `const backslashAt = ${compiled.escape === 'none' ? '-1' : "plain ? -1 : line.indexOf('\\\\')"};`,
    'const record = emptyAccessLog();',
  );
  // The peer: nginx's $remote_addr; Envoy's direct peer, else the address Envoy resolved, else
  // (the default format logs none) the rightmost X-Forwarded-For hop, read after the fields below.
  const peerSink = envoy
    ? [SINK.directAddr, SINK.directAddrPort, SINK.remoteAddr, SINK.remoteAddrPort].find(has)
    : SINK.remoteAddr;
  if (peerSink === SINK.remoteAddr || peerSink === SINK.directAddr) {
    const addressStart = start(peerSink);
    const addressEnd = end(peerSink);
    emit(
      'let peer;',
      `if (backslashAt >= 0 && hasBackslash(line, ${addressStart}, ${addressEnd}, backslashAt)) {`,
      `const address = ${text(peerSink)};`,
      'peer = canonicalIpAt(address, 0, address.length);',
      `} else if (${addressEnd} - ${addressStart} === lastLength && sameText(line, ${addressStart}, lastLine, lastStart, lastLength)) {`,
      'peer = lastPeer;',
      '} else {',
      `peer = canonicalIpAt(line, ${addressStart}, ${addressEnd});`,
      `if (peer !== null) { lastLine = line; lastStart = ${addressStart}; lastLength = ${addressEnd} - ${addressStart}; lastPeer = peer; }`,
      '}',
      'if (peer === null) {',
      `return reject(REJECT_REASONS.badAddress, ${str(`${label(peerSink, '$remote_addr')} `)} + quoteExcerpt(${text(peerSink)}) + ${str(' is not an IP address')}, ${str(fieldOf(peerSink, 'remote_addr'))}, location);`,
      '}',
    );
  } else if (peerSink !== undefined) {
    emit(
      `const peer = envoyPeerAddress(${text(peerSink)}, null);`,
      'if (peer === null) {',
      `return reject(REJECT_REASONS.badAddress, ${str(`${label(peerSink, '')} `)} + quoteExcerpt(${text(peerSink)}) + ${str(' is not an IP address (with or without a port)')}, ${str(fieldOf(peerSink, ''))}, location);`,
      '}',
    );
  }

  // $msec is the same instant as $time_local and $time_iso8601 (the log write), to the
  // millisecond: when a format logs it beside them, it orders requests within a second.
  const timeSink = has(SINK.msec) ? SINK.msec : has(SINK.timeLocal) ? SINK.timeLocal : SINK.timeIso8601;
  const timeReader =
    timeSink === SINK.msec
      ? 'parseEpochSeconds'
      : timeSink === SINK.timeLocal
        ? 'clock.read'
        : 'parseRfc3339';
  const timeField = str(
    fieldOf(
      timeSink,
      timeSink === SINK.timeLocal ? 'time_local' : timeSink === SINK.timeIso8601 ? 'time_iso8601' : 'msec',
    ),
  );
  const readTime = `${timeReader}(line, ${start(timeSink)}, ${end(timeSink)})`;
  emit(
    timeSink === SINK.timeLocal
      ? `const time = ${start(timeSink)} === checkedAt && ${end(timeSink)} - ${start(timeSink)} === ${CLF_TIME_LENGTH} ? checkedTime : ${readTime};`
      : `const time = ${readTime};`,
    'if (Number.isNaN(time) || isTooFarAhead(time)) {',
    `const shown = quoteExcerpt(${text(timeSink)});`,
    `if (!Number.isNaN(time)) return tooFarAhead(shown, ${timeField}, location);`,
    `return reject(REJECT_REASONS.badTimestamp, ${str('time ')} + shown + ${str(' cannot be read')}, ${timeField}, location);`,
    '}',
    'record.time = time;',
  );

  if (has(SINK.request)) {
    const s = start(SINK.request);
    const e = end(SINK.request);
    // Read in place in the line unless escapes are to be undone (as the combined parser does).
    emit(
      `if (backslashAt >= 0 && hasBackslash(line, ${s}, ${e}, backslashAt)) {`,
      `const request = ${text(SINK.request)};`,
      `if (!applyRequestLine(request, record, request.length !== ${e} - ${s})) applyNonHttpRequest(record, line.slice(${s}, ${e}));`,
      `} else if (!applyRequestLineAt(line, ${s}, ${e}, record, false)) applyNonHttpRequest(record, line.slice(${s}, ${e}));`,
    );
  } else {
    const target = has(SINK.requestUri) ? optional(SINK.requestUri) : optional(SINK.uri);
    emit(
      `const method = ${optional(SINK.requestMethod)};`,
      `const target = ${target};`,
      // `- -`: a request the server could not read (Envoy logs `"- - HTTP/1.1" 400` for garbage
      // sent to it), kept as nginx's `"-"` is (applyNonHttpRequest) so that its client is seen.
      'if (method === null || target === null) applyNonHttpRequest(record, target ?? "-");',
      'else { record.method = method; applyRequestTarget(target, method, record); }',
    );
    if (!has(SINK.requestUri)) emit(`record.query = ${optional(SINK.args)};`);
    emit(`record.protocol = ${optional(SINK.serverProtocol)};`);
  }

  emit(
    `let status = ${end(SINK.status)} - ${start(SINK.status)} === 3 ? threeDigits(line, ${start(SINK.status)}) : -1;`,
    // Envoy's 0: no response was sent, the downstream went away first (ENVOY_NO_RESPONSE_STATUS).
    ...(envoy
      ? [
          `if (${end(SINK.status)} - ${start(SINK.status)} === 1 && line.charCodeAt(${start(SINK.status)}) === 48) status = ${ENVOY_NO_RESPONSE_STATUS};`,
        ]
      : []),
    'if (status < 0) {',
    `return reject(REJECT_REASONS.badStatus, ${str(`${label(SINK.status, '$status')} `)} + quoteExcerpt(${text(SINK.status)}) + ${str(' is not a three-digit number')}, ${str(fieldOf(SINK.status, 'status'))}, location);`,
    '}',
    'record.status = status;',
  );

  const bytesSink = has(SINK.bytesSent) ? SINK.bytesSent : SINK.bodyBytesSent;
  if (has(bytesSink)) {
    const bytesField = str(
      fieldOf(bytesSink, bytesSink === SINK.bytesSent ? 'bytes_sent' : 'body_bytes_sent'),
    );
    emit(
      `const bytes = byteCount(line, ${start(bytesSink)}, ${end(bytesSink)});`,
      'if (bytes < 0) {',
      `return reject(REJECT_REASONS.badBytes, ${str('byte count ')} + quoteExcerpt(${text(bytesSink)}) + ${str(' is neither a number nor "-"')}, ${bytesField}, location);`,
      '}',
      'record.bytes = bytes;',
    );
  }

  const durationMs = (sink: number) =>
    `durationMsAt(line, ${start(sink)}, ${end(sink)}, backslashAt, ${mode})`;
  if (has(SINK.requestTime)) emit(`record.edgeDurationMs = ${durationMs(SINK.requestTime)};`);
  if (has(SINK.upstreamResponseTime))
    emit(`record.originDurationMs = ${durationMs(SINK.upstreamResponseTime)};`);
  // Envoy's %DURATION% and x-envoy-upstream-service-time: whole milliseconds.
  if (has(SINK.durationMs))
    emit(`record.edgeDurationMs = integerMsAt(line, ${start(SINK.durationMs)}, ${end(SINK.durationMs)});`);
  if (has(SINK.originMs))
    emit(`record.originDurationMs = integerMsAt(line, ${start(SINK.originMs)}, ${end(SINK.originMs)});`);
  if (has(SINK.upstreamCacheStatus)) {
    emit(
      `const cacheStatus = ${optional(SINK.upstreamCacheStatus)};`,
      'record.cacheStatus = cacheStatus === null ? null : cacheStatus.toUpperCase();',
    );
  }
  if (has(SINK.referer)) emit(`record.referer = ${optional(SINK.referer)};`);
  if (has(SINK.userAgent)) emit(`record.userAgent = ${optional(SINK.userAgent)};`);
  if (has(SINK.acceptLanguage)) emit(`record.acceptLanguage = ${optional(SINK.acceptLanguage)};`);

  // $host, else $http_host without its port, else $server_name; an absolute request URI's host
  // (set above) beats the latter two.
  const hostFallback = has(SINK.httpHost)
    ? `const httpHost = ${optional(SINK.httpHost)}; record.host = httpHost !== null ? hostOfAuthority(httpHost) : ${optional(SINK.serverName)};`
    : has(SINK.serverName)
      ? `record.host = ${optional(SINK.serverName)};`
      : '';
  if (has(SINK.host)) {
    emit(`const host = ${optional(SINK.host)};`, 'if (host !== null) record.host = host.toLowerCase();');
    if (hostFallback !== '') emit(`else if (record.host === null) { ${hostFallback} }`);
  } else if (hostFallback !== '') {
    emit(`if (record.host === null) { ${hostFallback} }`);
  }
  if (has(SINK.hostname)) emit(`record.edgeNode = ${optional(SINK.hostname)};`);
  if (has(SINK.requestId) && has(SINK.httpRequestId)) {
    emit(`record.requestId = ${optional(SINK.requestId)} ?? ${optional(SINK.httpRequestId)};`);
  } else if (has(SINK.requestId) || has(SINK.httpRequestId)) {
    emit(`record.requestId = ${optional(has(SINK.requestId) ? SINK.requestId : SINK.httpRequestId)};`);
  }
  if (has(SINK.ja3)) emit(`record.ja3 = ${optional(SINK.ja3)};`);
  if (has(SINK.ja4)) emit(`record.ja4 = ${optional(SINK.ja4)};`);

  const over = (sink: number) => `${end(sink)} - ${start(sink)} > maxFieldLength`;
  const targetCut = [SINK.request, SINK.requestUri, SINK.uri, SINK.args].filter(has).map(over).join(' || ');
  emit(`let forwardedFor = ${optional(SINK.forwardedFor)};`, 'if (parser.fieldCuts !== NO_FIELD_CUTS) {');
  if (has(SINK.forwardedFor)) {
    emit(
      `if (forwardedFor !== null && ${over(SINK.forwardedFor)}) forwardedFor = keepRightmostHops(forwardedFor, maxFieldLength);`,
    );
  }
  emit(`cutLongFields(record, maxFieldLength, ${targetCut || 'false'});`, '}');
  if (peerSink === undefined) {
    // Envoy's default format logs no address: with use_remote_address Envoy appends the peer to
    // X-Forwarded-For, so its rightmost hop is the peer. Never a hop left of it: those are the
    // client's to write.
    emit(
      'const peer = envoyPeerAddress(null, forwardedFor);',
      'if (peer === null) {',
      `return reject(REJECT_REASONS.badAddress, ${str('no client address: the format logs no %DOWNSTREAM_…_ADDRESS% and the rightmost hop of %REQ(X-FORWARDED-FOR)% ')} + quoteExcerpt(forwardedFor ?? '-') + ${str(' is not an IP address')}, ${str(fieldOf(SINK.forwardedFor, ''))}, location);`,
      '}',
    );
  }
  const envoyResolved = [SINK.remoteAddr, SINK.remoteAddrPort].find(has);
  emit('record.peerAddress = peer;');
  if (
    !has(SINK.forwardedFor) &&
    envoyResolved !== undefined &&
    (peerSink === SINK.directAddr || peerSink === SINK.directAddrPort)
  ) {
    // The direct peer and the address Envoy resolved from its headers, no X-Forwarded-For: the
    // resolved one is believed only from a peer that is a trusted proxy, as a hop would be.
    emit(`record.clientAddress = envoyClientAddress(peer, ${text(envoyResolved)}, null, trustedProxies);`);
  } else {
    emit('record.clientAddress = resolveClientAddress(peer, forwardedFor, trustedProxies);');
  }
  emit('return record;', '};');

  const laterTerminators = steps.map((_, k) =>
    steps.slice(k + 1).flatMap((next) => (next.terminator ? [next.terminator] : [])),
  );
  const env: ReaderEnvironment = {
    ...READER_HELPERS,
    parser,
    clock: new ClfTimeReader(),
    maxLineLength: options.maxLineLength,
    maxFieldLength: options.maxFieldLength,
    trustedProxies: options.trustedProxies,
    shape: (line, at, variable, location) => shapeError(parser.format, line, at, variable, location, envoy),
    overrun: (line, at, location) =>
      reject(
        REJECT_REASONS.formatMismatch,
        `line goes on after the end of ${parser.format} (column ${at + 1}: ${quoteExcerpt(line.slice(at, at + 20))}): ` +
          'a value holds an unescaped `" "` or a space, so its fields cannot be told apart',
        undefined,
        location,
      ),
    laterSeparator: (line, from, step) =>
      laterTerminators[step]!.some((literal) => line.includes(literal, from)),
  };
  return new Function('env', src.join('\n'))(env);
}

/**
 * Envoy logs %RESPONSE_CODE% 0 when no response was sent: the downstream closed the connection or
 * reset the stream first. That is the event nginx logs as 499 ("client closed request"), and both
 * Envoy formats read it as 499 so such requests still count (a scanner that hangs up on its probes
 * is still scanning); before, every such line was rejected as bad-status.
 */
export const ENVOY_NO_RESPONSE_STATUS = 499;

/** What a format lacks of what an AccessLog needs (empty when nothing), given which sinks it logs. */
export function missingRequirements(has: (sink: number) => boolean, dialect?: 'envoy'): string[] {
  if (dialect === 'envoy') return missingEnvoyRequirements(has);
  const missing: string[] = [];
  if (!has(SINK.remoteAddr)) missing.push('$remote_addr');
  if (!has(SINK.timeLocal) && !has(SINK.timeIso8601) && !has(SINK.msec)) {
    missing.push('a time ($time_local, $time_iso8601 or $msec)');
  }
  if (!has(SINK.status)) missing.push('$status');
  if (!has(SINK.request) && !(has(SINK.requestMethod) && (has(SINK.requestUri) || has(SINK.uri)))) {
    missing.push('the request ($request, or $request_method with $request_uri or $uri)');
  }
  return missing;
}

/** missingRequirements of an Envoy format string, in Envoy's operator names. */
function missingEnvoyRequirements(has: (sink: number) => boolean): string[] {
  const missing: string[] = [];
  const addresses = [
    SINK.directAddr,
    SINK.directAddrPort,
    SINK.remoteAddr,
    SINK.remoteAddrPort,
    SINK.forwardedFor,
  ];
  if (!addresses.some(has)) {
    missing.push(
      'an address (%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%, %DOWNSTREAM_REMOTE_ADDRESS% or %REQ(X-FORWARDED-FOR)%)',
    );
  }
  if (!has(SINK.timeIso8601) && !has(SINK.msec)) missing.push('%START_TIME%');
  if (!has(SINK.status)) missing.push('%RESPONSE_CODE%');
  if (!has(SINK.requestMethod) || !has(SINK.requestUri)) missing.push('%REQ(:METHOD)% and %REQ(:PATH)%');
  return missing;
}

function shapeError(
  format: string,
  line: string,
  at: number,
  variable: string,
  location: string | undefined,
  envoy: boolean,
): BadInput {
  const shown = envoy ? `%${variable}%` : `$${variable}`;
  if (at >= line.length) {
    return reject(
      REJECT_REASONS.truncated,
      `line ends before ${shown} is complete: not a whole line of ${format}`,
      variable,
      location,
    );
  }
  return reject(
    REJECT_REASONS.formatMismatch,
    `line does not match ${format} around ${shown} (column ${at + 1}: ${quoteExcerpt(line.slice(at, at + 20))})`,
    variable,
    location,
  );
}

/** Whether `literal` is at `at` in `line` (for a literal too long to write out char by char). */
function literalAt(line: string, at: number, literal: string): boolean {
  if (at + literal.length > line.length) return false;
  for (let i = 0; i < literal.length; i++) {
    if (line.charCodeAt(at + i) !== literal.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether `a[aStart, aStart + length)` and `b[bStart, bStart + length)` are the same text (by char
 *  codes: comparing substrings costs two copies). */
function sameText(a: string, aStart: number, b: string, bStart: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (a.charCodeAt(aStart + i) !== b.charCodeAt(bStart + i)) return false;
  return true;
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
  return found ? secondsToMs(total) : null;
}

function secondsToMs(seconds: number): number | null {
  return plausibleDurationMs(Math.round(seconds * 1e6) / 1e3);
}

/**
 * secondsListToMs of the value `line[start, end)` (optionalText's, so `-` and empty are null). A
 * plain decimal (`0.004`, `12`: the common case) is read in place, with no substring: at most 15
 * digits make an integer and a power of ten that are exact in a double, so their quotient is the
 * correctly rounded value of the decimal, the same double Number() reads from its text.
 */
export function durationMsAt(
  line: string,
  start: number,
  end: number,
  backslashAt: number,
  mode: EscapeMode,
): number | null {
  if (end > start && end - start <= 15) {
    let value = 0;
    let scale = 1;
    let dot = -1;
    let i = start;
    for (; i < end; i++) {
      const c = line.charCodeAt(i);
      if (c === 46 && dot < 0 && i > start && i < end - 1) {
        dot = i;
        continue;
      }
      const digit = c - 48;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
      if (dot >= 0) scale *= 10;
    }
    if (i === end) return secondsToMs(value / scale);
  }
  return secondsListToMs(optionalText(line, start, end, backslashAt, mode));
}
