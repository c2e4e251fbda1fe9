import type { DetectConfig, DetectDeps } from '@edgeguard/detect';
import type { AccessLog, Decision } from '@edgeguard/schema';
import { type ClientVerdict, type UnverifiedCrawler, VerdictBacktest } from './backtest.js';
import { TOPICS } from './bus.js';
import { MemoryBus } from './memory-bus.js';
import { createTopology } from './topology.js';

export interface PipelineConfig {
  detect: DetectConfig;
  /** Addresses and CIDRs automatic decisions never cover. */
  allowlist: string[];
  /** Partitions of `access-logs` and `content-partials` (default 1). */
  partitions?: number;
  /** Client addresses the verdict backtest tracks (default 5,000,000); more are counted as overflow. */
  maxTrackedClients?: number;
  /** Override the fingerprint/address functions (tests). */
  deps?: DetectDeps;
  /** Ranges protected like the allowlist (default: verified crawler ranges). */
  protectedRanges?: string[];
  /** Never decide on CDN egress addresses (default true; see TopologyOptions). */
  protectCdnAddresses?: boolean;
}

export interface ReplayStats {
  /** Access logs pushed. */
  pushed: number;
  /** Messages published per topic. */
  messages: Record<string, number>;
  /** Per stage: messages processed and rejected (undecodable). */
  stages: Record<string, { processed: number; rejected: number }>;
  /** Bounded state sizes at the time of the call. */
  state: {
    clients: number;
    contentKeys: number;
    fingerprints: number;
    prefixes: number;
    activeDecisions: number;
    activePolicies: number;
    trackedClients: number;
  };
  /** Events older than the watermark minus the allowed lateness (dropped). */
  late: number;
  /** Clients evicted from the profiler's bounded state. */
  clientsEvicted: number;
  /**
   * Requests whose content key (host + path) was longer than `bounds.maxContentKeyLength`:
   * judged for their client, but no content key or cache policy tracks their path.
   */
  untrackedContentRequests: number;
  /** Messages rejected by any stage. */
  rejected: number;
  /** Requests from addresses beyond the backtest's table. */
  backtestOverflow: number;
  /** Requests per minute of log time, and those a decision covered at that moment. */
  timeline: { minute: number; requests: number; flagged: number }[];
  /** Decisions held by the blast-radius guard. */
  decisionsHeld: number;
}

export interface Replay {
  bus: MemoryBus;
  push(log: AccessLog): void;
  finish(): void;
  verdicts(): Iterable<ClientVerdict>;
  /** Declared crawlers on addresses their ranges do not verify (see VerdictBacktest.unverifiedCrawlers). */
  unverifiedCrawlers(): UnverifiedCrawler[];
  stats(): ReplayStats;
}

/**
 * The in-process pipeline over a MemoryBus, with the verdict backtest attached. `push` publishes
 * to `access-logs` keyed by client address; sinks attach with `replay.bus.on(topic, fn)`.
 * Deterministic: the same input gives the same decisions, every run.
 */
export function createReplay(config: PipelineConfig): Replay {
  const wired = createTopology({
    detect: config.detect,
    allowlist: config.allowlist,
    partitions: config.partitions,
    deps: config.deps,
    protectedRanges: config.protectedRanges,
    protectCdnAddresses: config.protectCdnAddresses,
  });
  const bus = new MemoryBus(wired.topology);
  const backtest = new VerdictBacktest({
    allowlist: wired.allowlist,
    prefixOf: wired.deps.prefixOf,
    ipv4PrefixBits: wired.deps.ipv4PrefixBits,
    httpFingerprint: wired.deps.httpFingerprint,
    maxClients: config.maxTrackedClients,
    classifyUserAgent: wired.deps.classifyUserAgent,
    verifyCrawlerClaim: wired.deps.verifyCrawlerClaim,
  });
  // The backtest keeps its entry numbers in the partition's profiler (SlotAttachments): the
  // profiler has just found the request's client, so the backtest need not look it up again.
  const slots = wired.profilers.map((p) => p.slots);
  bus.on(TOPICS.accessLogs, (message) =>
    backtest.onRequest(message.value as AccessLog | null, slots[message.partition] ?? null),
  );
  bus.on(TOPICS.decisions, (message) => backtest.onDecision(message.key, message.value as Decision | null));

  const publishAccessLog = bus.publisher<AccessLog>(TOPICS.accessLogs);
  const lateness = config.detect.allowedLatenessMs;
  const advanceEvery = config.detect.flushIntervalMs;
  let pushed = 0;
  let maxTime = Number.NEGATIVE_INFINITY;
  let nextAdvanceAt = Number.NEGATIVE_INFINITY;

  return {
    bus,
    push(log: AccessLog): void {
      pushed++;
      publishAccessLog(log.clientAddress, log, log.time);
      if (log.time > maxTime) {
        maxTime = log.time;
        // Idle partitions still flush and expire on time: advance the watermark every interval.
        if (maxTime >= nextAdvanceAt) {
          bus.advance(maxTime - lateness);
          nextAdvanceAt = maxTime + advanceEvery;
        }
      }
    },
    finish(): void {
      bus.finish();
    },
    verdicts(): Iterable<ClientVerdict> {
      return backtest.verdicts();
    },
    unverifiedCrawlers(): UnverifiedCrawler[] {
      return backtest.unverifiedCrawlers();
    },
    stats(): ReplayStats {
      const profilerStats = wired.profilers.map((p) => p.stats());
      const deciderStats = wired.deciders.map((d) => d.stats());
      const contentStats = wired.contentWatchers.map((c) => c.stats());
      const sum = <T>(list: T[], pick: (item: T) => number): number => list.reduce((s, x) => s + pick(x), 0);
      const stages = {
        profiler: {
          processed: sum(wired.profilers, (p) => p.processed),
          rejected: sum(wired.profilers, (p) => p.rejected),
        },
        'content-watch': {
          processed: sum(wired.contentWatchers, (c) => c.processed),
          rejected: sum(contentStats, (c) => c.rejected),
        },
        decider: {
          processed: sum(wired.deciders, (d) => d.processed),
          rejected: sum(deciderStats, (d) => d.rejected),
        },
      };
      const messages: Record<string, number> = {};
      for (const topic of Object.values(TOPICS)) messages[topic] = bus.delivered(topic);
      return {
        pushed,
        messages,
        stages,
        state: {
          clients: sum(profilerStats, (p) => p.clients),
          contentKeys: sum(contentStats, (c) => c.contentKeys),
          fingerprints: sum(deciderStats, (d) => d.fingerprints),
          prefixes: sum(deciderStats, (d) => d.prefixes),
          activeDecisions: sum(deciderStats, (d) => d.activeDecisions),
          activePolicies: sum(contentStats, (c) => c.activePolicies),
          trackedClients: backtest.trackedClients,
        },
        late: sum(profilerStats, (p) => p.late),
        clientsEvicted: sum(profilerStats, (p) => p.clientsEvicted),
        untrackedContentRequests: sum(profilerStats, (p) => p.untrackedContentRequests),
        rejected: stages.profiler.rejected + stages['content-watch'].rejected + stages.decider.rejected,
        backtestOverflow: backtest.overflow,
        timeline: backtest.timelineByMinute(),
        decisionsHeld: sum(deciderStats, (d) => d.decisionsHeld),
      };
    },
  };
}
