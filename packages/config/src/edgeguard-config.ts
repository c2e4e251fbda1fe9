import { type DetectConfig, defaultDetectConfig } from '@edgeguard/detect';
import { createParser } from '@edgeguard/logformat';
import { parseCidr } from '@edgeguard/netaddr';
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
    /** `auto` (sniff), `combined`, `nginx-main`, `apache`, `cloudflare`, or `nginx:<log_format string>`. */
    format: string;
    /** Proxies whose X-Forwarded-For is believed (CIDRs). Empty: the TCP peer is the client. */
    trustedProxies: string[];
    /** Lines longer than this (bytes) are rejected as `oversized-line`. */
    maxLineLength: number;
    /** Fields longer than this are rejected as `oversized-field`. */
    maxFieldLength: number;
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
  input: { format: 'auto', trustedProxies: [], maxLineLength: 16 * 1024, maxFieldLength: 4 * 1024 },
  allowlist: [],
  detect: defaultDetectConfig,
  pipeline: { partitions: 1 },
};

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
 * are one of their words. Runs again after command-line flags are applied.
 */
export function validateConfig(config: EdgeguardConfig, source: string): void {
  const cidrs = (field: string, list: string[]) =>
    list.forEach((text, i) => {
      try {
        parseCidr(text);
      } catch (error) {
        throw new BadInput(
          'bad-config',
          `field '${field}[${i}]': ${(error as Error).message}`,
          field,
          source,
        );
      }
    });
  cidrs('input.trustedProxies', config.input.trustedProxies);
  cidrs('allowlist', config.allowlist);
  if (config.input.format !== 'auto') {
    try {
      createParser(config.input.format, {});
    } catch (error) {
      throw new BadInput(
        'bad-config',
        `field 'input.format': ${(error as Error).message}`,
        'input.format',
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
  if (!Number.isInteger(config.pipeline.partitions) || config.pipeline.partitions < 1) {
    throw new BadInput(
      'bad-config',
      `field 'pipeline.partitions': expected a whole number ≥ 1`,
      'pipeline.partitions',
      source,
    );
  }
}
