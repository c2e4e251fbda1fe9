import { detectionAllowlist, type EdgeguardConfig, trustedProxiesWarning } from '@edgeguard/config';
import {
  ClockJumpCounter,
  ClockJumpGuard,
  ClockJumpHold,
  createParser,
  damageRejection,
  FieldCutCounter,
  type LineBatch,
  type LineParser,
  openLogSource,
  settledFormat,
  sniffFormat,
  startClockGuard,
} from '@edgeguard/logformat';
import {
  type ClientVerdict,
  createReplay,
  type ReplayStats,
  TOPICS,
  type UnverifiedCrawler,
} from '@edgeguard/pipeline';
import {
  type AccessLog,
  actionStrength,
  BadInput,
  type CachePolicy,
  type Decision,
  RejectCounter,
  type Verdict,
} from '@edgeguard/schema';
import { HeapGuard } from './heap-guard.js';
import { type KeptDecision, KeptDecisions } from './kept-decisions.js';
import { NdjsonWriter, openOutputs } from './ndjson.js';
import { Progress } from './progress.js';

export interface ReplayOptions {
  /** A log file path (plain or gzip) or `-` for stdin. */
  input: string;
  config: EdgeguardConfig;
  decisionsPath?: string;
  verdictsPath?: string;
  policiesPath?: string;
  /**
   * The outputs' files already opened (`openOutputs`, all or none, with other outputs of the
   * caller's); where absent, a path given above is opened before the first line is read.
   */
  outputFds?: { decisions?: number | null; verdicts?: number | null; policies?: number | null };
  /** Show a progress bar on stderr (default: when stderr is a terminal). */
  progress?: boolean;
  /** Decision keys the report keeps in memory (default 100,000); --decisions is always complete. */
  maxReportKeys?: number;
  /**
   * Stops reading when aborted (the command's Ctrl-C): the lines read so far are replayed to the
   * end and every output written for them, `interrupted` says where reading stopped.
   */
  signal?: AbortSignal;
}

export type { UnverifiedCrawler };

export interface ReplayResult {
  input: string;
  format: string;
  /**
   * When a format was given and no line parsed: the format `--format auto` reads the first lines
   * as (one that parses at least one of them), for the hint; null otherwise.
   */
  formatSuggestion: string | null;
  lines: number;
  parsed: number;
  /** Empty lines: read and skipped, neither parsed nor rejected (lines = parsed + rejected + blank). */
  blank: number;
  rejects: RejectCounter;
  /** Fields longer than `input.maxFieldLength`, cut (their lines were kept and replayed), by field. */
  fieldCuts: FieldCutCounter;
  /**
   * How event time held: records dated more than `maxClockJumpMs` ahead of the lines before them
   * (counted at those lines' time), and records more than `allowedLatenessMs` behind the newest
   * (dropped as late by the profiler).
   */
  eventTime: {
    clockJumps: ClockJumpCounter;
    maxClockJumpMs: number;
    late: number;
    allowedLatenessMs: number;
  };
  /** Why the input ended early (damaged gzip: also counted as a `bad-gzip` rejection); null when read to its end. */
  cutShort: string | null;
  /** Reading was stopped (`signal`) after this many lines: the outputs cover those only; else null. */
  interruptedAfterLines: number | null;
  firstEventTime: number | null;
  lastEventTime: number | null;
  wallMs: number;
  peakRssBytes: number;
  /** Decisions published (tombstones not counted). */
  decisionsPublished: number;
  /** The latest decision per key, first-published order (at most `decisionsKeyLimit` keys). */
  decisions: Map<string, KeptDecision>;
  /** The most keys `decisions` keeps (the report's memory bound; --decisions has every one). */
  decisionsKeyLimit: number;
  /** Decisions published for keys past that bound: in --decisions, not in the report's counts. */
  decisionsNotKept: number;
  /** The latest version of each cache policy (removed ones dropped). */
  policies: CachePolicy[];
  policyUpdates: number;
  alerts: unknown[];
  verdicts: VerdictSummary;
  unverifiedCrawlers: UnverifiedCrawler[];
  /** Requests per minute of log time: all, and those from clients covered by a decision at that time. */
  timeline: { minute: number; requests: number; flagged: number }[];
  /** The pipeline's counters and state sizes at the end (see ReplayStats). */
  stats: Omit<ReplayStats, 'timeline'>;
  /** Configuration problems found while replaying, each also written once to stderr. */
  warnings: string[];
}

/** The clients by verdict, counted as the verdicts stream out (the report never holds them all). */
export interface VerdictSummary {
  clients: number;
  requests: number;
  /** Per verdict, strongest first; only verdicts that occur. */
  byVerdict: Record<string, { clients: number; requests: number }>;
  /** The strongest non-allow verdicts, most requests first (ties in first-seen order). */
  top: ClientVerdict[];
}

/** Bounds on what the report keeps in memory; the NDJSON outputs are streamed and complete. */
const MAX_KEPT_DECISION_KEYS = 100_000;
/** Top offenders the summary lists. */
const TOP_OFFENDERS = 15;
/**
 * Bytes read per batch of lines. A batch's lines are all alive until the batch is done, so any
 * young-generation collection during it promotes the rest of the batch to the old space: 1 MiB
 * batches promoted ~10 MB of line text per million lines, 128 KiB batches an eighth of that.
 */
const READ_CHUNK_BYTES = 128 * 1024;
/**
 * Batches between two samples of the peak RSS: one sample reads /proc (~60 µs, 1 % of a replay's
 * CPU when taken per 128 KiB batch); every 2 MiB of input still follows the heap's growth closely.
 */
const RSS_SAMPLE_BATCHES = 16;
/**
 * Lines (empty ones too) held while `auto` has not settled: past them the format is chosen from
 * what they hold. settledFormat settles within SNIFF_MAX_LINES non-empty lines, so only a log of
 * blank lines gets here; the bound keeps it from being held whole.
 */
const MAX_SNIFF_HELD_LINES = 65_536;
/**
 * First lines of a log in a given format kept, while none of the first batch parsed, to suggest
 * another format (at most 100 × maxLineLength characters: lines longer are dropped, since no
 * format reads them; 6.4 MiB by default, a few KiB usually).
 */
const SNIFF_SAMPLE_LINES = 100;

/**
 * Runs the whole pipeline in this process over one log, on the log's own timestamps, and writes the
 * requested outputs. Bad lines are counted and sampled, never thrown.
 */
export async function replayLog(options: ReplayOptions): Promise<ReplayResult> {
  const { config } = options;
  const started = Date.now();
  const source = openLogSource(options.input, {
    chunkBytes: READ_CHUNK_BYTES,
    maxLineLength: config.input.maxLineLength,
    signal: options.signal,
  });
  const replay = createReplay({
    detect: config.detect,
    allowlist: detectionAllowlist(config),
    partitions: config.pipeline.partitions,
  });

  // Every output is opened before the first line is read: a path that cannot be written fails now.
  const fds = options.outputFds ?? {};
  const [decisionsFd, policiesFd, verdictsFd] = openOutputs([
    ['--decisions', fds.decisions == null ? options.decisionsPath : undefined],
    ['--policies', fds.policies == null ? options.policiesPath : undefined],
    ['--verdicts', fds.verdicts == null ? options.verdictsPath : undefined],
  ]);
  const writer = (path: string | undefined, flag: string, fd: number | null | undefined) =>
    path ? new NdjsonWriter(path, flag, fd ?? undefined) : null;
  const decisionsOut = writer(options.decisionsPath, '--decisions', fds.decisions ?? decisionsFd);
  const policiesOut = writer(options.policiesPath, '--policies', fds.policies ?? policiesFd);
  const verdictsOut = writer(options.verdictsPath, '--verdicts', fds.verdicts ?? verdictsFd);
  const decisions = new KeptDecisions(options.maxReportKeys ?? MAX_KEPT_DECISION_KEYS);
  let decisionsPublished = 0;
  const policies = new Map<string, CachePolicy>();
  let policyUpdates = 0;
  const alerts: unknown[] = [];

  replay.bus.on(TOPICS.decisions, (message) => {
    const decision = message.value as Decision | null;
    if (!decision) return; // expiry tombstone: the decision's own expiresAt already says it
    decisionsOut?.write(decisionRecord(decision));
    decisionsPublished++;
    decisions.note(decision);
  });
  replay.bus.on(TOPICS.cachePolicies, (message) => {
    const policy = message.value as CachePolicy | null;
    if (!policy) {
      policies.delete(message.key);
      return;
    }
    policyUpdates++;
    policies.set(message.key, policy);
    policiesOut?.write(policyRecord(policy));
  });
  replay.bus.on(TOPICS.alerts, (message) => {
    if (message.value && alerts.length < 1000) alerts.push(message.value);
  });

  const rejects = new RejectCounter();
  const fieldCuts = new FieldCutCounter(config.input.maxFieldLength);
  // One input, one source: its lines come in the order one server's clock wrote them.
  const clockGuard = new ClockJumpGuard(config.input.maxClockJumpMs);
  const clockJumps = new ClockJumpCounter();
  const progress = new Progress(source.totalBytes, options.progress);
  let parser: LineParser | null = null;
  let format = config.input.format;
  let lines = 0;
  let parsed = 0;
  let blank = 0;
  let firstEventTime: number | null = null;
  let lastEventTime: number | null = null;
  // A genuine gap's first records keep their time: replay can wait for the jump to be decided.
  const clockHold = new ClockJumpHold<AccessLog>(clockGuard, clockJumps, options.input, (record) => {
    if (firstEventTime === null || record.time < firstEventTime) firstEventTime = record.time;
    if (lastEventTime === null || record.time > lastEventTime) lastEventTime = record.time;
    replay.push(record);
  });
  let peakRssBytes = process.memoryUsage.rss();
  let cutShort: BadInput | null = null;
  let interruptedAfterLines: number | null = null;
  const heapGuard = new HeapGuard();
  let batches = 0;
  const warnings: string[] = [];
  /** The first lines of a log read in a given format, kept for formatSuggestion. */
  let firstLines: string[] = [];

  try {
    /** Starts the parser for `format` (sniffed or given), with its warning. */
    const startParser = (): LineParser => {
      const started = createParser(format, {
        trustedProxies: config.input.trustedProxies,
        maxLineLength: config.input.maxLineLength,
        maxFieldLength: config.input.maxFieldLength,
      });
      const warning = trustedProxiesWarning(config, format);
      if (warning !== null) {
        warnings.push(warning);
        progress.message(`edgeguard replay: warning: ${warning}`);
      }
      return started;
    };
    const replayBatch = async (batch: LineBatch, parser: LineParser): Promise<void> => {
      // Started from the first lines, so that a first line dated hours ahead is held like any other.
      startClockGuard(clockGuard, parser, batch);
      const plain = batch.plain === true;
      for (const line of batch) {
        lines++;
        if (line.length === 0) {
          blank++;
          continue;
        }
        const result = parser.parse(line, undefined, plain);
        if (result instanceof BadInput) {
          rejects.record(result, line, `${options.input}:${lines}`);
          continue;
        }
        parsed++;
        if (parser.fieldCuts.length > 0)
          fieldCuts.record(parser.fieldCuts, line, `${options.input}:${lines}`);
        clockHold.pass(result, lines);
      }
      progress.update(source.bytesRead, lines);
      heapGuard.check();
      if (++batches % RSS_SAMPLE_BATCHES === 0) {
        const rss = process.memoryUsage.rss();
        if (rss > peakRssBytes) peakRssBytes = rss;
      }
      if (decisionsOut) await decisionsOut.drain();
      if (policiesOut) await policiesOut.drain();
    };
    // With --format auto, batches are held until their lines settle the format: a pipe's first
    // batch can be a single line (a slow producer, ssh), and a line no format reads must not decide.
    const held: LineBatch[] = [];
    let heldLines = 0;
    for await (const batch of source.batches()) {
      if (options.signal?.aborted) break;
      if (parser) {
        await replayBatch(batch, parser);
        continue;
      }
      held.push(batch);
      heldLines += batch.length;
      if (format === 'auto') {
        const settled =
          heldLines < MAX_SNIFF_HELD_LINES ? settledFormat(held.flat()) : sniffFormat(held.flat());
        if (settled === null) continue;
        format = settled;
      }
      if (format === config.input.format)
        firstLines = batch
          .slice(0, SNIFF_SAMPLE_LINES)
          .map((line) => (line.length > config.input.maxLineLength ? '' : line));
      parser = startParser();
      for (const first of held.splice(0)) await replayBatch(first, parser);
      if (parsed > 0) firstLines = [];
    }
    if (!parser && held.length > 0) {
      // The whole log was fewer lines than settle a format: the best of them.
      if (format === 'auto') format = sniffFormat(held.flat());
      parser = startParser();
      for (const first of held.splice(0)) await replayBatch(first, parser);
    }
    // Aborted: the source ended its lines there (or the batch in hand was the last taken).
    if (options.signal?.aborted) interruptedAfterLines = lines;
    clockHold.flush();
    if (source.damage) {
      cutShort = damageRejection(options.input, lines, source.damage);
      rejects.record(cutShort, source.damage.brokenLine);
      // The line the cut broke off (empty when it fell between lines) is a line read and rejected:
      // lines = parsed + rejected + blank, as for any other input.
      lines++;
    }
    if (parsed === 0 && rejects.total === 0) {
      // Exit 0 with an empty summary read as "no bots" in a script: `zcat gone.gz | replay -`.
      const warning = `the input ${options.input === '-' ? '(stdin)' : options.input} holds no log line${lines > 0 ? ` (${lines} blank)` : ''}: nothing was replayed`;
      warnings.push(warning);
      progress.message(`edgeguard replay: warning: ${warning}`);
    }
    replay.finish();
  } finally {
    progress.stop();
  }

  const verdicts = await summariseVerdicts(replay.verdicts(), verdictsOut);
  await decisionsOut?.close();
  await policiesOut?.close();

  const { timeline, ...stats } = replay.stats();
  return {
    input: options.input,
    format,
    formatSuggestion: parsed === 0 ? formatSuggestion(firstLines, format) : null,
    lines,
    parsed,
    blank,
    rejects,
    fieldCuts,
    eventTime: {
      clockJumps,
      maxClockJumpMs: config.input.maxClockJumpMs,
      late: stats.late,
      allowedLatenessMs: config.detect.allowedLatenessMs,
    },
    cutShort: cutShort?.message ?? null,
    interruptedAfterLines,
    firstEventTime,
    lastEventTime,
    wallMs: Date.now() - started,
    peakRssBytes: Math.max(peakRssBytes, process.memoryUsage.rss()),
    decisionsPublished,
    decisions: decisions.latest,
    decisionsKeyLimit: decisions.maxKeys,
    decisionsNotKept: decisions.notKept,
    policies: [...policies.values()],
    policyUpdates,
    alerts,
    verdicts,
    unverifiedCrawlers: replay.unverifiedCrawlers().sort((a, b) => b.requests - a.requests),
    timeline,
    stats,
    warnings,
  };
}

/**
 * What `auto` reads `lines` as, when that is another format than `format` and reads at least one of
 * them: a hint for an explicit --format that parsed nothing (a Logpush file read as combined).
 */
function formatSuggestion(lines: string[], format: string): string | null {
  if (lines.length === 0) return null;
  const sniffed = sniffFormat(lines);
  if (sniffed === format) return null;
  const parser = createParser(sniffed);
  return lines.some((line) => line.length > 0 && !(parser.parse(line) instanceof BadInput)) ? sniffed : null;
}

/** Most severe verdict first, then most requests; a stable order otherwise. */
function compareVerdicts(a: ClientVerdict, b: ClientVerdict): number {
  return actionStrength(b.verdict) - actionStrength(a.verdict) || b.requests - a.requests;
}

/**
 * Counts the verdicts by action, keeps the TOP_OFFENDERS strongest non-allow ones, and streams them
 * all to `out` (NDJSON) when given: one verdict object alive at a time, not one per client.
 */
async function summariseVerdicts(
  verdicts: Iterable<ClientVerdict>,
  out: NdjsonWriter | null,
): Promise<VerdictSummary> {
  const counts = new Map<string, { clients: number; requests: number }>();
  const top: ClientVerdict[] = [];
  let clients = 0;
  let requests = 0;
  for (const verdict of verdicts) {
    clients++;
    requests += verdict.requests;
    const slot = counts.get(verdict.verdict) ?? { clients: 0, requests: 0 };
    counts.set(verdict.verdict, slot);
    slot.clients++;
    slot.requests += verdict.requests;
    if (verdict.verdict !== 'allow') insertTop(top, verdict);
    if (out) {
      out.write({ ...verdict, decidedAt: isoTime(verdict.decidedAt), caughtAt: isoTime(verdict.caughtAt) });
      if (out.count % 10_000 === 0) await out.drain();
    }
  }
  await out?.close();
  const byVerdict: Record<string, { clients: number; requests: number }> = {};
  for (const verdict of STRONGEST_FIRST) {
    const slot = counts.get(verdict);
    if (slot) byVerdict[verdict] = slot;
  }
  return { clients, requests, byVerdict, top };
}

const STRONGEST_FIRST: readonly Verdict[] = ['block', 'challenge', 'throttle', 'allow'];

/** Inserts after every entry that sorts before or equal to it (a stable sort), keeping TOP_OFFENDERS. */
function insertTop(top: ClientVerdict[], verdict: ClientVerdict): void {
  if (top.length === TOP_OFFENDERS && compareVerdicts(top[top.length - 1]!, verdict) <= 0) return;
  let at = top.length;
  while (at > 0 && compareVerdicts(top[at - 1]!, verdict) > 0) at--;
  top.splice(at, 0, verdict);
  if (top.length > TOP_OFFENDERS) top.pop();
}

/** The `--decisions` NDJSON shape: times as ISO 8601 in log time (the decisions topic keeps epoch ms). */
export function decisionRecord(decision: Decision) {
  return {
    key: decision.key,
    scope: decision.scope,
    value: decision.value,
    action: decision.action,
    reason: decision.reason,
    signals: decision.signals,
    score: decision.score,
    decidedAt: isoTime(decision.decidedAt),
    expiresAt: isoTime(decision.expiresAt),
    origin: decision.origin,
    version: decision.version,
  };
}

/**
 * The `--policies` NDJSON and report shape: the CachePolicy with its times as ISO 8601 in log time,
 * as decisions have them (the cache-policies topic keeps epoch ms: only the CLI's files change).
 */
export function policyRecord(policy: CachePolicy) {
  return { ...policy, decidedAt: isoTime(policy.decidedAt), expiresAt: isoTime(policy.expiresAt) };
}

/** The day `isoDay` holds (days since the epoch), NaN for none yet. */
let isoDayNumber = Number.NaN;
/** `YYYY-MM-DDT` of isoDayNumber. */
let isoDay = '';
const MS_PER_DAY = 86_400_000;
/** 10000-01-01: from there on toISOString writes a six-digit year. */
const FOUR_DIGIT_YEARS_END = 253_402_300_800_000;

function twoDigits(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * A log time (epoch ms) as the CLI's outputs write it: ISO 8601, UTC (what toISOString writes);
 * null stays null. The date part is kept from the previous call of the same day and the time of
 * day written by hand: a replay writes two times per decision and per client (a 1M-line log,
 * ~330k of them), and toISOString cost ~4× as much.
 */
export function isoTime(ms: number): string;
export function isoTime(ms: number | null): string | null;
export function isoTime(ms: number | null): string | null {
  if (ms === null) return null;
  if (!Number.isInteger(ms) || ms < 0 || ms >= FOUR_DIGIT_YEARS_END) return new Date(ms).toISOString();
  const day = Math.floor(ms / MS_PER_DAY);
  if (day !== isoDayNumber) {
    isoDayNumber = day;
    isoDay = new Date(day * MS_PER_DAY).toISOString().slice(0, 11);
  }
  let rest = ms - day * MS_PER_DAY;
  const milli = rest % 1000;
  rest = (rest - milli) / 1000;
  const seconds = rest % 60;
  rest = (rest - seconds) / 60;
  const minutes = rest % 60;
  const hours = (rest - minutes) / 60;
  const millis = milli < 10 ? `00${milli}` : milli < 100 ? `0${milli}` : String(milli);
  return `${isoDay}${twoDigits(hours)}:${twoDigits(minutes)}:${twoDigits(seconds)}.${millis}Z`;
}
