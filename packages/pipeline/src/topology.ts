import { Allowlist, type AllowlistTimeline, type DetectConfig, type DetectDeps } from '@edgeguard/detect';
import { isCdnAddress, isCdnIpv4 } from '@edgeguard/fingerprint';
import { TOPICS, type Topology } from './bus.js';
import { defaultDeps, verifiedCrawlerCidrs } from './default-deps.js';
import { type ContentWatchInstance, contentWatchStage } from './stages/content-watch.js';
import { type DeciderInstance, deciderStage } from './stages/decider.js';
import { type ProfilerInstance, profilerStage } from './stages/profiler.js';

export interface TopologyOptions {
  detect: DetectConfig;
  /** Addresses and CIDRs never covered by automatic decisions. */
  allowlist: string[];
  /** Partitions of `access-logs` and `content-partials` (default 1); `signals` always has 1. */
  partitions?: number;
  /** Override the fingerprint/address functions (tests); defaults to the real packages. */
  deps?: DetectDeps;
  /** Ranges protected like the allowlist; defaults to the verified crawler ranges. */
  protectedRanges?: string[];
  /**
   * Never decide on CDN egress addresses (default true): one showing up as a client means a
   * trusted proxy is missing from the config, and a decision would cover everyone behind it.
   */
  protectCdnAddresses?: boolean;
  /** Runtime allowlist entries for the decider (the Kafka decider follows the `allowlist` topic). */
  allowlistTimeline?: AllowlistTimeline;
}

export interface EdgeguardTopology {
  topology: Topology;
  deps: DetectDeps;
  allowlist: Allowlist;
  profilers: ProfilerInstance[];
  contentWatchers: ContentWatchInstance[];
  deciders: DeciderInstance[];
}

/** The three stages wired over their topics: profiler → content-watch and decider. */
export function createTopology(options: TopologyOptions): EdgeguardTopology {
  const config = options.detect;
  const partitions = Math.max(1, options.partitions ?? 1);
  const deps = options.deps ?? defaultDeps(config.range.ipv4Bits, config.range.ipv6Bits);
  const allowlist = new Allowlist(
    options.allowlist,
    options.protectedRanges ?? verifiedCrawlerCidrs(),
    config.range.ipv4Bits,
    config.range.ipv6Bits,
    options.protectCdnAddresses === false ? null : isCdnAddress,
    options.protectCdnAddresses === false ? null : isCdnIpv4,
  );
  const profiler = profilerStage({ config, deps, allowlist, partitions, contentPartitions: partitions });
  const contentWatch = contentWatchStage({ config, partitions });
  const decider = deciderStage({
    config,
    allowlist,
    prefixOf: deps.prefixOf,
    allowlistTimeline: options.allowlistTimeline,
  });
  return {
    topology: {
      stages: [profiler, contentWatch, decider],
      partitions: {
        [TOPICS.accessLogs]: partitions,
        [TOPICS.contentPartials]: partitions,
        [TOPICS.signals]: 1,
        [TOPICS.decisions]: 1,
        [TOPICS.cachePolicies]: 1,
        [TOPICS.alerts]: 1,
        [TOPICS.deadLetter]: 1,
      },
    },
    deps,
    allowlist,
    profilers: profiler.instances,
    contentWatchers: contentWatch.instances,
    deciders: decider.instances,
  };
}
