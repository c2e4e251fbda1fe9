import { type Allowlist, detachString, SharedStrings } from '@edgeguard/detect';
import { type AccessLog, actionStrength, type Decision, type Verdict } from '@edgeguard/schema';

/** What the decisions did to one client address over the replay. */
export interface ClientVerdict {
  ip: string;
  requests: number;
  /** The strongest action that covered any of its requests; `allow` if none did. */
  verdict: Verdict;
  /** Event time (epoch ms) of its first request a decision covered; null if never. */
  decidedAt: number | null;
  /** Event time of its first request covered by a block or challenge; null if never. */
  caughtAt: number | null;
  /** The decision keys that covered it (at most `maxKeysPerClient`). */
  by: string[];
}

export interface BacktestOptions {
  allowlist: Allowlist;
  prefixOf: (ip: string) => string | null;
  /** The same fingerprint the decider's inputs used. */
  httpFingerprint: (log: AccessLog) => string;
  /** Client addresses tracked; further addresses are counted in `overflow`, not tracked. */
  maxClients?: number;
}

const STRENGTH_VERDICTS: readonly Verdict[] = ['allow', 'throttle', 'challenge', 'block'];
const MAX_KEYS_PER_CLIENT = 8;
const MAX_TIMELINE_MINUTES = 100_000;
/** Distinct prefixes and header values shared between entries (memory only; see SharedStrings). */
const SHARED_STRINGS = 100_000;

/**
 * What the backtest keeps of a decision: the published Decision carries its evidence (signals),
 * which tens of thousands of active decisions would keep alive for nothing.
 */
class Cover {
  constructor(
    readonly key: string,
    readonly strength: number,
    readonly decidedAt: number,
    readonly expiresAt: number,
  ) {}
}

class Entry {
  requests = 0;
  strength = 0;
  decidedAt: number | null = null;
  caughtAt: number | null = null;
  by: string[] = [];
  prefix: string | null | undefined = undefined;
  userAgent: string | null | undefined = undefined;
  acceptLanguage: string | null = null;
  headerOrder: string | null = null;
  fingerprint = '';
  /** Whether a decision covered the request being judged (reset per request). */
  coveredNow = false;

  constructor(
    readonly ip: string,
    readonly allowlisted: boolean,
  ) {}
}

/**
 * The verdict backtest: for every request, which decisions active at its event time cover it (its
 * address, its prefix's range, its fingerprint) — after the allowlist, which always wins, as at
 * the edge. Decisions are applied as they are published, so a request is judged only by what was
 * decided before it was processed, as in production.
 */
export class VerdictBacktest {
  private readonly ipDecisions = new Map<string, Cover>();
  private readonly rangeDecisions = new Map<string, Cover>();
  private readonly fingerprintDecisions = new Map<string, Cover>();
  private readonly clients = new Map<string, Entry>();
  private readonly maxClients: number;
  private readonly sharedStrings = new SharedStrings(SHARED_STRINGS);
  /** Requests from addresses beyond `maxClients` (not tracked). */
  overflow = 0;
  /**
   * Requests per minute of log time, and how many of them a decision covered at that moment: the
   * report's "human vs bot traffic over time". Bounded: one entry per minute of log time, at most
   * `MAX_TIMELINE_MINUTES` (about 70 days); later minutes are not charted.
   */
  private readonly timeline = new Map<number, { requests: number; flagged: number }>();
  /** The minute of the last request and its bucket (undefined when past the timeline's bound). */
  private minuteStart = Number.NaN;
  private minuteBucket: { requests: number; flagged: number } | undefined = undefined;

  constructor(private readonly options: BacktestOptions) {
    this.maxClients = options.maxClients ?? 5_000_000;
  }

  get trackedClients(): number {
    return this.clients.size;
  }

  /** A decision (or its tombstone) as published on the decisions topic. */
  onDecision(key: string, decision: Decision | null): void {
    const colon = key.indexOf(':');
    const scope = key.slice(0, colon);
    const value = key.slice(colon + 1);
    const map =
      scope === 'ip' ? this.ipDecisions : scope === 'range' ? this.rangeDecisions : this.fingerprintDecisions;
    if (decision === null) map.delete(value);
    else
      map.set(
        value,
        new Cover(decision.key, actionStrength(decision.action), decision.decidedAt, decision.expiresAt),
      );
  }

  /** One request as published on access-logs (a malformed message is ignored; the profiler counts it). */
  onRequest(log: AccessLog | null): void {
    if (log === null || typeof log !== 'object' || typeof log.clientAddress !== 'string') return;
    let entry = this.clients.get(log.clientAddress);
    if (entry === undefined) {
      if (this.clients.size >= this.maxClients) {
        this.overflow++;
        return;
      }
      // A copy: the address is a slice of the log line, which the entry must not keep alive.
      const ip = detachString(log.clientAddress);
      entry = new Entry(ip, this.options.allowlist.has(ip));
      this.clients.set(ip, entry);
    }
    entry.requests++;
    const t = log.time;
    // Requests arrive roughly in time order: most fall in the minute of the previous one, which
    // spares a map probe on a heap-number key per request.
    let bucket: { requests: number; flagged: number } | undefined;
    if (t >= this.minuteStart && t < this.minuteStart + 60_000) {
      bucket = this.minuteBucket;
    } else {
      const minute = t - (t % 60_000);
      bucket = this.timeline.get(minute);
      if (bucket === undefined && this.timeline.size < MAX_TIMELINE_MINUTES) {
        bucket = { requests: 0, flagged: 0 };
        this.timeline.set(minute, bucket);
      }
      this.minuteStart = minute;
      this.minuteBucket = bucket;
    }
    if (bucket !== undefined) bucket.requests++;
    if (entry.allowlisted) return;
    entry.coveredNow = false;
    if (this.ipDecisions.size > 0) {
      const d = this.ipDecisions.get(entry.ip);
      if (d !== undefined) cover(entry, d, t);
    }
    if (this.rangeDecisions.size > 0) {
      if (entry.prefix === undefined)
        entry.prefix = this.sharedStrings.getOptional(this.options.prefixOf(entry.ip));
      if (entry.prefix !== null) {
        const d = this.rangeDecisions.get(entry.prefix);
        if (d !== undefined) cover(entry, d, t);
      }
    }
    if (this.fingerprintDecisions.size > 0) {
      if (
        log.userAgent !== entry.userAgent ||
        log.acceptLanguage !== entry.acceptLanguage ||
        log.headerOrder !== entry.headerOrder
      ) {
        entry.userAgent = this.sharedStrings.getOptional(log.userAgent);
        entry.acceptLanguage = this.sharedStrings.getOptional(log.acceptLanguage);
        entry.headerOrder = this.sharedStrings.getOptional(log.headerOrder);
        entry.fingerprint = this.options.httpFingerprint(log);
      }
      const d = this.fingerprintDecisions.get(entry.fingerprint);
      if (d !== undefined) cover(entry, d, t);
    }
    if (entry.coveredNow && bucket !== undefined) bucket.flagged++;
  }

  /** Requests per minute (epoch ms of the minute), oldest first. */
  timelineByMinute(): { minute: number; requests: number; flagged: number }[] {
    return [...this.timeline.entries()].sort((a, b) => a[0] - b[0]).map(([minute, b]) => ({ minute, ...b }));
  }

  *verdicts(): Iterable<ClientVerdict> {
    for (const entry of this.clients.values()) {
      yield {
        ip: entry.ip,
        requests: entry.requests,
        verdict: STRENGTH_VERDICTS[entry.strength]!,
        decidedAt: entry.decidedAt,
        caughtAt: entry.caughtAt,
        by: [...entry.by],
      };
    }
  }
}

function cover(entry: Entry, decision: Cover, t: number): void {
  if (t < decision.decidedAt || t >= decision.expiresAt) return;
  entry.coveredNow = true;
  const strength = decision.strength;
  if (entry.decidedAt === null) entry.decidedAt = t;
  if (strength >= 2 && entry.caughtAt === null) entry.caughtAt = t;
  if (strength > entry.strength) entry.strength = strength;
  // Most covered clients are covered by one key: a one-element array, not a default-sized one.
  if (entry.by.length === 0) entry.by = [decision.key];
  else if (entry.by.length < MAX_KEYS_PER_CLIENT && !entry.by.includes(decision.key))
    entry.by.push(decision.key);
}
