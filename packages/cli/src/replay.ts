import type { EdgeguardConfig } from '@edgeguard/config';
import { classifyUserAgent, verifyCrawlerClaim } from '@edgeguard/fingerprint';
import { createParser, openLogSource, sniffFormat } from '@edgeguard/logformat';
import { type ClientVerdict, createReplay, TOPICS } from '@edgeguard/pipeline';
import {
  type AccessLog,
  actionStrength,
  BadInput,
  type CachePolicy,
  type Decision,
  RejectCounter,
} from '@edgeguard/schema';
import { NdjsonWriter } from './ndjson.js';
import { Progress } from './progress.js';

export interface ReplayOptions {
  /** A log file path (plain or gzip) or `-` for stdin. */
  input: string;
  config: EdgeguardConfig;
  decisionsPath?: string;
  verdictsPath?: string;
  policiesPath?: string;
  /** Show a progress bar on stderr (default: when stderr is a terminal). */
  progress?: boolean;
}

/** A declared crawler whose address is not in that crawler's published ranges. */
export interface UnverifiedCrawler {
  ip: string;
  crawler: string;
  requests: number;
}

export interface ReplayResult {
  input: string;
  format: string;
  lines: number;
  parsed: number;
  rejects: RejectCounter;
  firstEventTime: number | null;
  lastEventTime: number | null;
  wallMs: number;
  peakRssBytes: number;
  decisions: Decision[];
  /** The latest version of each cache policy (removed ones dropped). */
  policies: CachePolicy[];
  policyUpdates: number;
  alerts: unknown[];
  verdicts: ClientVerdict[];
  unverifiedCrawlers: UnverifiedCrawler[];
  /** Requests per minute of log time: all, and those from clients covered by a decision at that time. */
  timeline: { minute: number; requests: number; flagged: number }[];
  stats: unknown;
}

/** Bounds on what the report keeps in memory; the NDJSON outputs are streamed and complete. */
const MAX_KEPT_DECISIONS = 100_000;
const MAX_UNVERIFIED_CRAWLERS = 10_000;

/**
 * Runs the whole pipeline in this process over one log, on the log's own timestamps, and writes the
 * requested outputs. Bad lines are counted and sampled, never thrown.
 */
export async function replayLog(options: ReplayOptions): Promise<ReplayResult> {
  const { config } = options;
  const started = Date.now();
  const source = openLogSource(options.input);
  const replay = createReplay({
    detect: config.detect,
    allowlist: config.allowlist,
    partitions: config.pipeline.partitions,
  });

  const decisionsOut = options.decisionsPath ? new NdjsonWriter(options.decisionsPath) : null;
  const policiesOut = options.policiesPath ? new NdjsonWriter(options.policiesPath) : null;
  const decisions: Decision[] = [];
  const policies = new Map<string, CachePolicy>();
  let policyUpdates = 0;
  const alerts: unknown[] = [];

  replay.bus.on(TOPICS.decisions, (message) => {
    const decision = message.value as Decision | null;
    if (!decision) return; // expiry tombstone: the decision's own expiresAt already says it
    decisionsOut?.write(decisionRecord(decision));
    if (decisions.length < MAX_KEPT_DECISIONS) decisions.push(decision);
  });
  replay.bus.on(TOPICS.cachePolicies, (message) => {
    const policy = message.value as CachePolicy | null;
    if (!policy) {
      policies.delete(message.key);
      return;
    }
    policyUpdates++;
    policies.set(message.key, policy);
    policiesOut?.write(policy);
  });
  replay.bus.on(TOPICS.alerts, (message) => {
    if (message.value && alerts.length < 1000) alerts.push(message.value);
  });

  const unverified = new Map<string, UnverifiedCrawler>();
  const noteCrawlerClaim = (log: AccessLog) => {
    const ua = classifyUserAgent(log.userAgent);
    if (ua.kind !== 'crawler' || !ua.crawler) return;
    const known = unverified.get(log.clientAddress);
    if (known) {
      known.requests++;
      return;
    }
    if (unverified.size >= MAX_UNVERIFIED_CRAWLERS) return;
    if (verifyCrawlerClaim(ua.crawler, log.clientAddress) === 'unverified') {
      unverified.set(log.clientAddress, { ip: log.clientAddress, crawler: ua.crawler, requests: 1 });
    }
  };

  const rejects = new RejectCounter();
  const progress = new Progress(source.totalBytes, options.progress);
  let parser: ReturnType<typeof createParser> | null = null;
  let format = config.input.format;
  let lines = 0;
  let parsed = 0;
  let firstEventTime: number | null = null;
  let lastEventTime: number | null = null;
  let peakRssBytes = process.memoryUsage.rss();

  try {
    for await (const batch of source.batches()) {
      if (!parser) {
        if (format === 'auto') format = sniffFormat(batch.slice(0, 50));
        parser = createParser(format, {
          trustedProxies: config.input.trustedProxies,
          maxLineLength: config.input.maxLineLength,
          maxFieldLength: config.input.maxFieldLength,
        });
      }
      for (const line of batch) {
        lines++;
        if (line.length === 0) continue;
        const result = parser.parse(line);
        if (result instanceof BadInput) {
          rejects.record(result, line, `${options.input}:${lines}`);
          continue;
        }
        parsed++;
        if (firstEventTime === null || result.time < firstEventTime) firstEventTime = result.time;
        if (lastEventTime === null || result.time > lastEventTime) lastEventTime = result.time;
        noteCrawlerClaim(result);
        replay.push(result);
      }
      progress.update(source.bytesRead, lines);
      const rss = process.memoryUsage.rss();
      if (rss > peakRssBytes) peakRssBytes = rss;
      if (decisionsOut) await decisionsOut.drain();
      if (policiesOut) await policiesOut.drain();
    }
    replay.finish();
  } finally {
    progress.stop();
  }

  const verdicts = [...replay.verdicts()];
  if (options.verdictsPath) {
    const out = new NdjsonWriter(options.verdictsPath);
    for (const verdict of verdicts) {
      out.write({
        ...verdict,
        decidedAt: verdict.decidedAt === null ? null : new Date(verdict.decidedAt).toISOString(),
      });
      if (out.count % 10_000 === 0) await out.drain();
    }
    await out.close();
  }
  await decisionsOut?.close();
  await policiesOut?.close();

  const { timeline, ...stats } = replay.stats();
  return {
    input: options.input,
    format,
    lines,
    parsed,
    rejects,
    firstEventTime,
    lastEventTime,
    wallMs: Date.now() - started,
    peakRssBytes: Math.max(peakRssBytes, process.memoryUsage.rss()),
    decisions,
    policies: [...policies.values()],
    policyUpdates,
    alerts,
    verdicts: verdicts.sort(
      (a, b) => actionStrength(b.verdict) - actionStrength(a.verdict) || b.requests - a.requests,
    ),
    unverifiedCrawlers: [...unverified.values()].sort((a, b) => b.requests - a.requests),
    timeline,
    stats,
  };
}

/** The `--decisions` NDJSON shape: times as ISO 8601 in log time. */
export function decisionRecord(decision: Decision) {
  return {
    key: decision.key,
    scope: decision.scope,
    value: decision.value,
    action: decision.action,
    reason: decision.reason,
    signals: decision.signals,
    score: decision.score,
    decidedAt: new Date(decision.decidedAt).toISOString(),
    expiresAt: new Date(decision.expiresAt).toISOString(),
    origin: decision.origin,
    version: decision.version,
  };
}
