import { readConfigFile, withDefaults } from '@edgeguard/config';
import { type DetectConfig, defaultDetectConfig } from '@edgeguard/detect';

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

/** Loads and validates a config file (or only defaults when none is given). */
export function loadConfig(path: string | undefined): EdgeguardConfig {
  if (!path) return withDefaults(defaultConfig, {}, 'defaults');
  return withDefaults(defaultConfig, readConfigFile(path), path);
}
