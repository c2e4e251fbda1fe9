import { BadInput } from '@edgeguard/schema';
import { type CompiledLogFormat, missingRequirements, SINK, SKIP, type Step } from './nginx-format.js';
import { quoteExcerpt } from './reasons.js';

/**
 * Envoy's default text access-log format (what Envoy writes when an access log has no format),
 * unchanged since Envoy 1.7: https://www.envoyproxy.io/docs/envoy/v1.7.0/configuration/access_log
 * and https://www.envoyproxy.io/docs/envoy/v1.30.0/configuration/observability/access_log/usage
 * (section "Default Format String"). The latest docs
 * (https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage) spell
 * it with the newer aliases `%REQUEST_HEADER(…)%` / `%RESPONSE_HEADER(…)%` for `%REQ(…)%` /
 * `%RESP(…)%`: the same line. Envoy appends a newline; the trailing `\n` is not part of a line here.
 */
export const ENVOY_DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"';

/**
 * The Envoy command operators this parser understands (names from the "Command Operators" section
 * of the access-log usage page above), and the AccessLog field each feeds. `REQ(…)` is looked up by
 * header in ENVOY_REQUEST_HEADERS. Any other operator (`%RESPONSE_FLAGS%`, `%UPSTREAM_HOST%`,
 * `%REQ(X-CUSTOM)%`, …) is accepted and skipped, as nginx variables edgeguard has no field for are.
 */
export const ENVOY_OPERATORS: Readonly<Record<string, { sink: number; field: string }>> = {
  START_TIME: { sink: SINK.timeIso8601, field: 'time (default rendering, or an RFC 3339 / %s format)' },
  PROTOCOL: { sink: SINK.serverProtocol, field: 'protocol' },
  RESPONSE_CODE: { sink: SINK.status, field: 'status' },
  BYTES_SENT: { sink: SINK.bodyBytesSent, field: 'bytes (body bytes sent)' },
  DURATION: { sink: SINK.durationMs, field: 'edgeDurationMs' },
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: { sink: SINK.directAddrPort, field: 'peerAddress (the connection)' },
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: {
    sink: SINK.directAddr,
    field: 'peerAddress (the connection)',
  },
  DOWNSTREAM_REMOTE_ADDRESS: {
    sink: SINK.remoteAddrPort,
    field: 'peerAddress when no DIRECT address is logged; else clientAddress from a trusted peer',
  },
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: {
    sink: SINK.remoteAddr,
    field: 'peerAddress when no DIRECT address is logged; else clientAddress from a trusted peer',
  },
  REQUESTED_SERVER_NAME: { sink: SINK.serverName, field: 'host (when :authority is not logged)' },
  HOSTNAME: { sink: SINK.hostname, field: 'edgeNode' },
  // Read so the next field can be found; the AccessLog contract has no field for them.
  RESPONSE_FLAGS: { sink: SKIP, field: '(read, not kept)' },
  BYTES_RECEIVED: { sink: SKIP, field: '(read, not kept)' },
  UPSTREAM_HOST: { sink: SKIP, field: '(read, not kept)' },
  DOWNSTREAM_TLS_VERSION: { sink: SKIP, field: '(read, not kept: no AccessLog field)' },
};

/** Request headers of `%REQ(…)%` (lower case) and what they feed; other headers are read, not kept. */
export const ENVOY_REQUEST_HEADERS: Readonly<Record<string, { sink: number; field: string }>> = {
  ':method': { sink: SINK.requestMethod, field: 'method' },
  ':path': { sink: SINK.requestUri, field: 'path, query' },
  'x-envoy-original-path': { sink: SINK.requestUri, field: 'path, query (before a rewrite)' },
  ':authority': { sink: SINK.httpHost, field: 'host (port removed)' },
  host: { sink: SINK.httpHost, field: 'host (port removed)' },
  'user-agent': { sink: SINK.userAgent, field: 'userAgent' },
  referer: { sink: SINK.referer, field: 'referer' },
  'accept-language': { sink: SINK.acceptLanguage, field: 'acceptLanguage' },
  'x-forwarded-for': { sink: SINK.forwardedFor, field: 'peerAddress (default format) / clientAddress' },
  'x-request-id': { sink: SINK.httpRequestId, field: 'requestId' },
};

/** `%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%`: the origin's time in milliseconds, as Envoy measured it. */
const UPSTREAM_SERVICE_TIME = 'x-envoy-upstream-service-time';

/** `%NAME%`, `%NAME(argument)%`, `%NAME(argument):maximum length%` at the search position. */
const OPERATOR = /%([A-Z][A-Z0-9_]*)(?:\(([^()]*)\))?(?::([0-9]+))?%/y;

/** START_TIME renderings read as epoch seconds (`%s`, `%s.%3f`, `%s.%f`: parseEpochSeconds). */
const EPOCH_TIME = /^%s(?:\.%[1-9]?f)?$/;
/** START_TIME renderings read as RFC 3339 (parseRfc3339): `%Y-%m-%dT%H:%M:%S.%3fZ`, `…%S%z`. */
const RFC3339_TIME = /^%Y-%m-%d[T ]%H:%M:%S(?:\.%[1-9]?f)?(?:Z|%z)$/;

function badFormat(spec: string, message: string): BadInput {
  return new BadInput('bad-log-format', `envoy format ${quoteExcerpt(spec, 120)}: ${message}`, 'format');
}

/**
 * The format string of what follows `envoy:`. Taken as written, except that one pair of quotes
 * around all of it is removed (a double-quoted one as YAML and JSON write it: `\"`, `\\`, `\n`
 * undone), and a final newline (Envoy's format strings end with one) is dropped.
 */
export function readEnvoyFormatSpec(spec: string): string {
  let text = spec.trim();
  const quote = text.charAt(0);
  if (text.length >= 2 && (quote === '"' || quote === "'") && text.endsWith(quote)) {
    text = text.slice(1, -1);
    if (quote === '"') text = text.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  if (text.endsWith('\\n')) text = text.slice(0, -2);
  return text.replace(/\r?\n$/, '');
}

/**
 * Compiles an Envoy format string into the steps the nginx line reader generator runs (see
 * generateLineReader, `dialect: 'envoy'`). Throws BadInput (`bad-log-format`) naming what is wrong:
 * a `%` that starts no operator, two operators with nothing between them, a START_TIME rendering
 * edgeguard does not read, or a format lacking an address, a time, a status or the request.
 */
export function compileEnvoyFormat(format: string): CompiledLogFormat {
  const literals: string[] = [''];
  const steps: Omit<Step, 'terminator'>[] = [];
  let i = 0;
  while (i < format.length) {
    const c = format.charAt(i);
    if (c !== '%') {
      literals[literals.length - 1] += c;
      i++;
      continue;
    }
    OPERATOR.lastIndex = i;
    const match = OPERATOR.exec(format);
    if (match === null) {
      throw badFormat(
        format,
        `the % at character ${i + 1} (${quoteExcerpt(format.slice(i, i + 24))}) starts no command operator ` +
          '(%NAME%, %NAME(argument)% or %NAME(argument):length%)',
      );
    }
    const [written, command, argument, maxLength] = match as unknown as [
      string,
      string,
      string | undefined,
      string | undefined,
    ];
    if (literals[literals.length - 1] === '' && steps.length > 0) {
      throw badFormat(
        format,
        `%${steps[steps.length - 1]!.name}% and ${written} touch with no separator, so a line cannot be split between them`,
      );
    }
    const name = written.slice(1, -1);
    const sink = operatorSink(format, command, argument);
    if (sink === SINK.forwardedFor && maxLength !== undefined) {
      // Envoy truncates to the leftmost N characters (the "Command Operators" section of the
      // access-log usage page): the hops proxies append on the right go first, and what is left
      // are the hops the client wrote, read as its address.
      throw badFormat(
        format,
        `${written} keeps the leftmost ${maxLength} characters of X-Forwarded-For, cutting the hops proxies append ` +
          `and leaving the ones the client wrote: log %${written.slice(1, written.lastIndexOf(':'))}% without :${maxLength}`,
      );
    }
    steps.push({ name, sink, quoted: false, list: sink === SINK.forwardedFor });
    literals.push('');
    i += written.length;
  }
  const compiled: CompiledLogFormat = {
    format,
    // Envoy writes values as they are: nothing to unescape.
    escape: 'none',
    prefix: literals[0] as string,
    steps: steps.map((step, k) => {
      const after = literals[k + 1] as string;
      return { ...step, terminator: after === '' ? null : after };
    }),
    dialect: 'envoy',
  };
  const missing = missingRequirements((sink) => compiled.steps.some((step) => step.sink === sink), 'envoy');
  if (missing.length > 0) throw badFormat(format, `it must log ${missing.join(', ')}`);
  for (const step of compiled.steps) refuseTimeHoldingSeparator(format, step);
  // A shift (see envoyAddressShiftable) moves the real rest of the line into the fields after the
  // address: a format ending with a one-word operator (Istio's `%ROUTE_NAME%`) catches it there.
  const last = compiled.steps[compiled.steps.length - 1]!;
  const beforeLast = compiled.steps.length > 1 ? compiled.steps[compiled.steps.length - 2]!.terminator : null;
  if (envoyAddressShiftable(compiled) && last.terminator === null && isOneWord(last) && beforeLast !== null) {
    compiled.lastValueWithout = beforeLast;
  }
  return compiled;
}

/**
 * Throws when a `%START_TIME(…)%` rendering can hold the separator that follows it
 * (`%START_TIME(%Y-%m-%d %H:%M:%S)% %DOWNSTREAM_REMOTE_ADDRESS%`): the time would end at its first
 * space and every line be rejected. Judged on a sample rendering of the specifiers read here.
 */
function refuseTimeHoldingSeparator(format: string, step: Step): void {
  const argument = /^START_TIME\(([^()]*)\)/.exec(step.name)?.[1];
  if (argument === undefined || step.terminator === null) return;
  const sample = argument
    .replace(/%[1-9]?f/g, '123')
    .replace(/%[YmdHMSsz]/g, (specifier) => SAMPLE_TIME[specifier] ?? '');
  if ((sample + step.terminator).indexOf(step.terminator) < sample.length) {
    throw badFormat(
      format,
      `%${step.name}% renders times like ${quoteExcerpt(sample)}, which hold the ${quoteExcerpt(step.terminator)} ` +
        'that follows it, so the time cannot be told from the next field: put another separator after it ' +
        '(e.g. [%START_TIME(…)%]) or use %START_TIME%',
    );
  }
}

/** What each START_TIME specifier edgeguard reads renders as, for refuseTimeHoldingSeparator. */
const SAMPLE_TIME: Readonly<Record<string, string>> = {
  '%Y': '2024',
  '%m': '01',
  '%d': '21',
  '%H': '10',
  '%M': '00',
  '%S': '00',
  '%s': '1705831200',
  '%z': '+0000',
};

/**
 * Operators whose values Envoy writes itself as one word (no space, no quote): numbers, times,
 * addresses, names from its configuration, flags (names from the "Command Operators" section of
 * the access-log usage page). Everything else (request headers, the path, %REQUESTED_SERVER_NAME%,
 * response headers, free-text details, operators not listed) may hold a client's `" "`: Envoy
 * escapes nothing in text formats (https://github.com/envoyproxy/envoy/issues/4191).
 */
const ENVOY_ONE_WORD = new Set([
  'START_TIME',
  'PROTOCOL',
  'RESPONSE_CODE',
  'RESPONSE_FLAGS',
  'RESPONSE_CODE_DETAILS',
  'BYTES_SENT',
  'BYTES_RECEIVED',
  'DURATION',
  'REQUEST_DURATION',
  'RESPONSE_DURATION',
  'RESPONSE_TX_DURATION',
  'DOWNSTREAM_DIRECT_REMOTE_ADDRESS',
  'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_REMOTE_ADDRESS',
  'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_LOCAL_ADDRESS',
  'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_TLS_VERSION',
  'UPSTREAM_HOST',
  'UPSTREAM_CLUSTER',
  'UPSTREAM_LOCAL_ADDRESS',
  'ROUTE_NAME',
  'HOSTNAME',
  'CONNECTION_ID',
]);

/** Sinks of the operators that name the client's address (%DOWNSTREAM_…REMOTE_ADDRESS…%). */
const ADDRESS_SINKS: readonly number[] = [
  SINK.directAddr,
  SINK.directAddrPort,
  SINK.remoteAddr,
  SINK.remoteAddrPort,
];

/** Whether Envoy writes a step's value itself, as one word (ENVOY_ONE_WORD, or x-envoy-upstream-service-time). */
function isOneWord(step: Step): boolean {
  if (step.sink === SINK.originMs) return true;
  const match = /^([A-Z][A-Z0-9_]*)(\()?/.exec(step.name);
  return (
    match !== null && ENVOY_ONE_WORD.has(match[1]!) && (match[2] === undefined || match[1] === 'START_TIME')
  );
}

/**
 * Whether a client can choose the address an Envoy format's line is read with: a value that may
 * hold its `" "` (a request header, the path, the SNI, an unknown operator) is logged before an
 * address operator, so a User-Agent like `x" 66.249.66.1:1 r` ends its field early and moves
 * text it wrote into the address. Kept simple and conservative: any such order counts, whatever
 * the separators (a trailing literal, a last one-word operator, catch only some shifts).
 */
export function envoyAddressShiftable(compiled: CompiledLogFormat): boolean {
  if (compiled.dialect !== 'envoy') return false;
  const firstFree = compiled.steps.findIndex((step) => !isOneWord(step));
  return (
    firstFree >= 0 && compiled.steps.some((step, k) => k > firstFree && ADDRESS_SINKS.includes(step.sink))
  );
}

/** What an operator feeds (SKIP for one without an AccessLog field, or unknown). */
function operatorSink(format: string, command: string, argument: string | undefined): number {
  if (command === 'START_TIME') {
    if (argument === undefined || RFC3339_TIME.test(argument)) return SINK.timeIso8601;
    if (EPOCH_TIME.test(argument)) return SINK.msec;
    throw badFormat(
      format,
      `%START_TIME(${argument})% is not a time edgeguard reads: use %START_TIME%, %START_TIME(%s)%, ` +
        '%START_TIME(%s.%3f)% or %START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%',
    );
  }
  if ((command === 'REQ' || command === 'REQUEST_HEADER') && argument !== undefined) {
    // `REQ(A?B)`: header A, else B. Both name the same thing in practice (the path before and
    // after a rewrite): the first known one decides.
    for (const header of argument.split('?')) {
      const known = ENVOY_REQUEST_HEADERS[header.trim().toLowerCase()];
      if (known) return known.sink;
    }
    return SKIP;
  }
  if (
    (command === 'RESP' || command === 'RESPONSE_HEADER') &&
    argument?.trim().toLowerCase() === UPSTREAM_SERVICE_TIME
  ) {
    return SINK.originMs;
  }
  if (argument !== undefined) return SKIP;
  return Object.hasOwn(ENVOY_OPERATORS, command) ? ENVOY_OPERATORS[command]!.sink : SKIP;
}

/** Whether an operator written in a format (`REQ(USER-AGENT):64`) is one ENVOY_OPERATORS or ENVOY_REQUEST_HEADERS knows. */
export function isKnownEnvoyOperator(name: string): boolean {
  const match = /^([A-Z][A-Z0-9_]*)(?:\(([^()]*)\))?/.exec(name);
  if (match === null) return false;
  const [, command, argument] = match as unknown as [string, string, string | undefined];
  if (command === 'START_TIME') return true;
  if ((command === 'REQ' || command === 'REQUEST_HEADER') && argument !== undefined) {
    return argument
      .split('?')
      .some((header) => Object.hasOwn(ENVOY_REQUEST_HEADERS, header.trim().toLowerCase()));
  }
  if (command === 'RESP' || command === 'RESPONSE_HEADER')
    return argument?.trim().toLowerCase() === UPSTREAM_SERVICE_TIME;
  return argument === undefined && Object.hasOwn(ENVOY_OPERATORS, command);
}
