import { type DetectConfig, defaultDetectConfig } from '@edgeguard/detect';
import {
  clientCanShiftAddress,
  clientCanShiftFields,
  createParser,
  DEFAULT_MAX_CLOCK_JUMP_MS,
  logsClientBehindProxies,
} from '@edgeguard/logformat';
import { type Cidr, parseExactCidr } from '@edgeguard/netaddr';
import { ACTIONS, BadInput } from '@edgeguard/schema';
import { readConfigFile } from './load.js';
import { withDefaults } from './validate.js';

/**
 * The one configuration file format (JSON, `//` comments allowed). Every field is optional;
 * defaults are below and in packages/detect (`defaultDetectConfig`, documented field by field).
 * Command-line flags override the file.
 */
export interface EdgeguardConfig {
  input: {
    /** `auto` (sniff), `combined`, `nginx-main`, `apache`, `cloudflare`, `envoy`, `nginx:<log_format string>` or `envoy:<format string>`. */
    format: string;
    /** Proxies whose X-Forwarded-For is believed (CIDRs). Empty: the TCP peer is the client. */
    trustedProxies: string[];
    /**
     * Lines longer than this (characters) are rejected as `oversized-line`; readers keep at most 4×
     * this many bytes of a line. Default 64 KiB: a request line and several headers of nginx's 8 KiB.
     */
    maxLineLength: number;
    /**
     * Fields longer than this (characters) are cut to it and the line kept, the cut counted by field
     * (X-Forwarded-For keeps its rightmost hops). Default 4 KiB.
     */
    maxFieldLength: number;
    /**
     * Milliseconds one record may move its source's time ahead of the newest time seen so far. A
     * record further ahead is counted at that newest time (and reported as a clock jump) unless 8
     * in a row agree on the jump (a real gap): one forward-dated line cannot move event time alone
     * and make the rest of the input late. Default 10 minutes.
     */
    maxClockJumpMs: number;
  };
  /** Addresses and CIDRs that are never blocked, challenged or throttled. */
  allowlist: string[];
  detect: DetectConfig;
  pipeline: {
    /** Partitions of every in-process topic; more than 1 exercises the same partitioning as Kafka. */
    partitions: number;
  };
}

export const defaultConfig: EdgeguardConfig = {
  input: {
    format: 'auto',
    trustedProxies: [],
    maxLineLength: 64 * 1024,
    maxFieldLength: 4 * 1024,
    maxClockJumpMs: DEFAULT_MAX_CLOCK_JUMP_MS,
  },
  allowlist: [],
  detect: defaultDetectConfig,
  pipeline: { partitions: 1 },
};

/**
 * The addresses automatic decisions never cover: the allowlist, and the trusted proxies. A trusted
 * proxy is not a client; when one shows up as a client, the log does not tell the client behind it
 * (a format without X-Forwarded-For), and deciding on it would block everyone behind it. Replay
 * and the Kafka stages build their allowlist from this, so both decide alike.
 */
export function detectionAllowlist(config: EdgeguardConfig): string[] {
  return [...config.allowlist, ...config.input.trustedProxies];
}

/**
 * Why the client addresses read with `format` (the format the log is read with, `auto` resolved)
 * cannot be believed, or null when they can: an Envoy format logging a header before the address
 * (clientCanShiftAddress; with or without trusted proxies), an unquoted X-Forwarded-For a client
 * can shift fields with, or trusted proxies set with a format that logs no X-Forwarded-For
 * (`combined`, `apache`, an nginx log_format without `$http_x_forwarded_for`), which attributes
 * every request to the address that connected, behind a load balancer the balancer itself.
 */
export function trustedProxiesWarning(config: EdgeguardConfig, format: string): string | null {
  const name = format.length > 60 ? `${format.slice(0, 59)}…` : format;
  if (clientCanShiftAddress(format))
    return (
      `the log format '${name}' logs a value the client writes (a request header, the path, the SNI, or an ` +
      'operator edgeguard does not know) before the address, and Envoy escapes nothing: a `" "` in a ' +
      'User-Agent (e.g. `x" 66.249.66.1:1 r`) shifts the fields after it, so the client can pick the address ' +
      'it is blamed as (a verified crawler, a victim). Log the address operators before any request header, ' +
      'or use --format envoy-json'
    );
  if (config.input.trustedProxies.length === 0) return null;
  if (clientCanShiftFields(format))
    return (
      `the log format '${name}' logs $http_x_forwarded_for unquoted with other variables after it: a client ` +
      'can put a space in its X-Forwarded-For (e.g. "66.249.66.1 HIT") and shift the fields after it, so the ' +
      'address it names is read as the rightmost hop — the client picks the address it is blamed as (a ' +
      'verified crawler, a victim). Log it quoted ("$http_x_forwarded_for") or as the last variable'
    );
  if (logsClientBehindProxies(format) !== false) return null;
  const sniffed = config.input.format === 'auto' ? ' (as --format auto read it)' : '';
  return (
    `trusted proxies are set (${config.input.trustedProxies.join(', ')}) but the log format '${name}'${sniffed} ` +
    'logs no X-Forwarded-For: every request is attributed to the address that connected, behind a load ' +
    'balancer the balancer itself (never decided on: trusted proxies are allowlisted). Read the log with ' +
    `--format nginx-main (combined plus "$http_x_forwarded_for") or --format nginx:'<log_format>' with ` +
    '$http_x_forwarded_for (input.format in the config file)'
  );
}

/** Fields whose string value must be one of a few words. */
const ENUM_FIELDS: [string, (c: EdgeguardConfig) => string, readonly string[]][] = [
  ['detect.range.maxAction', (c) => c.detect.range.maxAction, ACTIONS],
  ['detect.fingerprint.sharedAction', (c) => c.detect.fingerprint.sharedAction, ACTIONS],
];

/** Loads and validates a config file (default: `EDGEGUARD_CONFIG`; only defaults when neither is given). */
export function loadConfig(
  path: string | undefined = process.env.EDGEGUARD_CONFIG || undefined,
): EdgeguardConfig {
  const source = path ?? 'defaults';
  const config = withDefaults(defaultConfig, path ? readConfigFile(path) : {}, source);
  validateConfig(config, source);
  return config;
}

/**
 * Checks what the shape of the defaults cannot: CIDRs parse, the format name is known, enums
 * are one of their words. Runs again after command-line flags are applied: `flags` then maps a
 * field to the flag that set it (`{ allowlist: '--allowlist' }`), and an error in it names the flag
 * the operator typed, not a config field and an index into a list merged from file and flag.
 */
export function validateConfig(
  config: EdgeguardConfig,
  source: string,
  flags: Partial<Record<'input.format' | 'input.trustedProxies' | 'allowlist', string>> = {},
): void {
  const cidrs = (field: keyof typeof flags, list: string[], shortest?: { 4: number; 6: number }) =>
    list.forEach((text, i) => {
      const flag = flags[field];
      const bad = (message: string) =>
        new BadInput('bad-config', `${flag ?? `field '${field}[${i}]'`}: ${message}`, flag ?? field, source);
      let cidr: Cidr;
      try {
        // `203.0.113.7/8` is refused, not read as 203.0.0.0/8: a typo that would trust or allow a whole /8.
        cidr = parseExactCidr(text);
      } catch (error) {
        throw bad((error as Error).message);
      }
      if (shortest && cidr.prefixLength < shortest[cidr.version])
        throw bad(
          `'${text}' is wider than /${shortest[cidr.version]}: X-Forwarded-For from every address in it would be believed, so any client there could pick the address it is blamed as`,
        );
    });
  cidrs('input.trustedProxies', config.input.trustedProxies, { 4: 8, 6: 7 }); // 10.0.0.0/8, fc00::/7 (ULA)
  cidrs('allowlist', config.allowlist);
  if (config.input.format !== 'auto') {
    try {
      createParser(config.input.format, {});
    } catch (error) {
      const flag = flags['input.format'];
      throw new BadInput(
        'bad-config',
        `${flag ?? "field 'input.format'"}: ${(error as Error).message}`,
        flag ?? 'input.format',
        source,
      );
    }
  }
  for (const [field, read, allowed] of ENUM_FIELDS) {
    if (!allowed.includes(read(config))) {
      throw new BadInput(
        'bad-config',
        `field '${field}': expected one of ${allowed.join(', ')}, got '${read(config)}'`,
        field,
        source,
      );
    }
  }
  checkNumbers(config, source);
}

/**
 * Ranges of numeric fields whose wrong value passes the type check but breaks something at run
 * time: `flushIntervalMs: 0` never flushes (detection silently off, per-flush maps unbounded),
 * `range.ipv4Bits: 4` makes range decisions cover /4, `maxLineLength: 1e9` lets one line without a
 * newline buffer gigabytes. `[min, max, whole]`; every other number must be ≥ 0, and every share or
 * ratio at most 1.
 */
const NUMBER_RANGES: Record<string, [number, number, boolean]> = {
  'input.maxLineLength': [256, 1 << 20, true],
  'input.maxFieldLength': [64, 1 << 20, true],
  // Below a minute, the pauses of a quiet site would count as jumps; past a week, it guards nothing.
  'input.maxClockJumpMs': [60_000, 7 * 86_400_000, true],
  'detect.flushIntervalMs': [100, 3_600_000, true],
  'detect.allowedLatenessMs': [0, 3_600_000, true],
  'detect.range.ipv4Bits': [8, 32, true],
  'detect.range.ipv6Bits': [16, 128, true],
  'detect.bounds.recentPathsPerClient': [1, 1024, true],
  'detect.bounds.recentUrlsPerClient': [1, 1024, true],
  'detect.bounds.pathsPerFingerprint': [1, 1024, true],
  'detect.bounds.queryHashesPerPartial': [1, 1024, true],
  // Characters, not a table size: below 16 hardly a page would be tracked; fields stop at 1 MiB.
  'detect.bounds.maxContentKeyLength': [16, 1 << 20, true],
  'pipeline.partitions': [1, 1024, true],
};
/** Table sizes (`detect.bounds.max*`): whole numbers, at least 1, at most this. */
const MAX_TABLE = 10_000_000;

function checkNumbers(config: EdgeguardConfig, source: string): void {
  const walk = (value: unknown, path: string): void => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, child] of Object.entries(value)) walk(child, path ? `${path}.${key}` : key);
      return;
    }
    if (typeof value !== 'number') return;
    const name = path.slice(path.lastIndexOf('.') + 1);
    const range: [number, number, boolean] | undefined =
      NUMBER_RANGES[path] ??
      (path.startsWith('detect.bounds.max') ? [1, MAX_TABLE, true] : undefined) ??
      (/(Share|Ratio)$/.test(name) ? [0, 1, false] : undefined);
    const [min, max, whole] = range ?? [0, Number.POSITIVE_INFINITY, false];
    if (value < min || value > max || (whole && !Number.isInteger(value))) {
      const expected = `${whole ? 'a whole number' : 'a number'} ${max === Number.POSITIVE_INFINITY ? `≥ ${min}` : `from ${min} to ${max}`}`;
      throw new BadInput('bad-config', `field '${path}': expected ${expected}, got ${value}`, path, source);
    }
  };
  walk(config, '');
}
