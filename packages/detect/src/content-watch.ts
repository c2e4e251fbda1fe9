import { BadInput, type CacheKeyRule, type CachePolicy, type Signal } from '@edgeguard/schema';
import { ClockTable } from './clock-table.js';
import type { DetectConfig } from './config.js';
import { pooledDecayAt, poolWithSlot } from './decay.js';
import { detachOptional, detachString } from './detach-string.js';
import { ExpiryQueue } from './expiry-queue.js';
import { CONTENT_PARAMS_MAX, type ContentPartial } from './messages.js';

/** Where content-watch publishes cache policies (null = tombstone), keyed by `host + path`. */
export interface ContentWatchSink {
  cachePolicy(key: string, policy: CachePolicy | null, time: number): void;
}

// Content aggregate slots (decayed over windows.aggregateMs).
const C_REQUESTS = 0;
const C_WITH_QUERY = 1;
const C_NEW_VISITORS = 2;
const C_HITS = 3;
const C_MISSES = 4;
const C_EXPIRED = 5;
const C_STALE = 6;
const C_UNCACHEABLE = 7;
const C_PLAIN = 8;
const C_PLAIN_CACHED = 9;
const C_QUERY_MISSES = 10;
const C_DISTINCT_QUERIES = 11;
const C_SERVER_ERRORS = 12;
const C_ORIGIN_MS = 13;
const C_ORIGIN_COUNT = 14;
const C_QUERY_COMPARED = 15;
const C_QUERY_SAME_AS_PLAIN = 16;
const C_SIZE = 17;

// Counter pool layout (per table slot): the counters' clock, then the C_SIZE counters.
const CX_TIME = 0;
const CX_COUNTERS = 1;
const CX_STRIDE = CX_COUNTERS + C_SIZE;

/** Query hashes remembered per content key to tell a repeated query from a new one. */
const QUERY_SLOTS = 64;
/** Content-selecting parameter names remembered per content key (the least recent replaced). */
const PARAM_SLOTS = CONTENT_PARAMS_MAX;
/** Partials that must name a parameter before the cache key keeps it (one odd answer is noise). */
const PARAM_MIN_PARTIALS = 2;

/**
 * One content key's state. Its decayed counters and their clock live in the watch's Float64Array
 * pool at its slot: reading a partial's key then touches the pool, not a counters object, its
 * typed array and that array's separate buffer (each a cache miss, over tens of thousands of keys).
 */
class ContentAggregate {
  /** Allocated on the first query string: most content keys (assets) never see one. */
  private queries: Uint32Array | null = null;
  private querySeenAt: Float64Array | null = null;
  policy: CachePolicy | null = null;
  /**
   * Parameter names whose answers were not the plain page (they select content), how many
   * partials named each, and when one last did. Allocated on the first such name.
   */
  private params: string[] | null = null;
  private paramPartials: number[] | null = null;
  private paramSeenAt: number[] | null = null;

  constructor(
    /** Its content key (`contentKey(host, path)`), as the table holds it. */
    readonly key: string,
    /** Its slot in the table. */
    readonly slot: number,
    readonly host: string | null,
    readonly path: string,
  ) {}

  /** Whether the query hash is new for this key (remembering it, evicting the least recent). */
  newQuery(hash: number, time: number): boolean {
    if (this.queries === null || this.querySeenAt === null) {
      this.queries = new Uint32Array(QUERY_SLOTS);
      this.querySeenAt = new Float64Array(QUERY_SLOTS).fill(Number.NEGATIVE_INFINITY);
    }
    const queries = this.queries;
    const seenAt = this.querySeenAt;
    let oldest = 0;
    for (let i = 0; i < QUERY_SLOTS; i++) {
      if (queries[i] === hash) {
        if (time > seenAt[i]!) seenAt[i] = time;
        return false;
      }
      if (seenAt[i]! < seenAt[oldest]!) oldest = i;
    }
    queries[oldest] = hash;
    seenAt[oldest] = time;
    return true;
  }

  /** Remembers content-selecting parameter names (at most PARAM_SLOTS, the least recent replaced). */
  addParams(names: readonly string[], time: number): void {
    if (this.params === null || this.paramPartials === null || this.paramSeenAt === null) {
      this.params = [];
      this.paramPartials = [];
      this.paramSeenAt = [];
    }
    const params = this.params;
    for (let n = 0; n < names.length && n < PARAM_SLOTS; n++) {
      const name = names[n]!;
      if (typeof name !== 'string') continue;
      let i = params.indexOf(name);
      if (i < 0) {
        if (params.length < PARAM_SLOTS) {
          i = params.length;
        } else {
          i = 0;
          for (let j = 1; j < params.length; j++) if (this.paramSeenAt[j]! < this.paramSeenAt[i]!) i = j;
        }
        params[i] = detachString(name);
        this.paramPartials[i] = 0;
      }
      this.paramPartials[i]! += 1;
      this.paramSeenAt[i] = time;
    }
  }

  /** The parameter names to keep in the cache key: named by PARAM_MIN_PARTIALS partials since `since`, sorted. */
  keptParams(since: number): string[] {
    const kept: string[] = [];
    if (this.params === null) return kept;
    for (let i = 0; i < this.params.length; i++) {
      if (this.paramPartials![i]! >= PARAM_MIN_PARTIALS && this.paramSeenAt![i]! >= since)
        kept.push(this.params[i]!);
    }
    return kept.sort();
  }
}

export interface ContentWatchStats {
  partials: number;
  rejected: number;
  /**
   * Partials whose content key was longer than `bounds.maxContentKeyLength`, not merged (a
   * profiler with the same config never sends one; one with a longer limit may).
   */
  untrackedPartials: number;
  contentKeys: number;
  policiesPublished: number;
  policiesExpired: number;
  activePolicies: number;
}

/**
 * Content-watch core: merges per-content partials from every profiler partition into decayed
 * per-key aggregates and turns them into cache-policy advice, each with evidence, a version and
 * an expiry. Re-emitted only when the advice changes (or must be extended); removed as a tombstone
 * at expiry. Event time only.
 */
export class ContentWatch {
  private now = Number.NEGATIVE_INFINITY;
  private readonly keys: ClockTable<string, ContentAggregate>;
  /**
   * The aggregate last added under each path, to find a partial's aggregate by its own host and
   * path: building the `host + path` key for every partial (a new string, flattened and hashed by
   * each lookup) was most of this stage's time, while the profiler hands over the same path
   * strings flush after flush. An aggregate found here with the partial's host is the one the
   * table holds under their key; anything else is looked up by the key. An entry leaves with its
   * aggregate (eviction), so this holds at most as many entries as the table.
   */
  private readonly byPath = new Map<string, ContentAggregate>();
  /** Counters and their clock by table slot (CX_STRIDE per slot), grown by doubling. */
  private pool: Float64Array;
  private readonly policies = new Map<string, CachePolicy>();
  private readonly expiries = new ExpiryQueue();
  private readonly stats: ContentWatchStats = {
    partials: 0,
    rejected: 0,
    untrackedPartials: 0,
    contentKeys: 0,
    policiesPublished: 0,
    policiesExpired: 0,
    activePolicies: 0,
  };

  constructor(
    private readonly config: DetectConfig,
    partitions = 1,
  ) {
    this.keys = new ClockTable(
      Math.max(1, Math.ceil(config.bounds.maxContentKeys / Math.max(1, partitions))),
      (evicted) => {
        if (this.byPath.get(evicted.path) === evicted) this.byPath.delete(evicted.path);
      },
      new Map(),
      // A key starts unreferenced: a flood of one-time keys (random Host headers or paths) evicts
      // itself, not the hot keys. Started referenced, 2,000 new keys a second in a 10k table
      // evicted a busted path fed every second before it reached minRequests: no advice at all.
      false,
    );
    this.pool = new Float64Array(Math.min(1024, this.keys.capacity) * CX_STRIDE);
  }

  /**
   * Merges one content partial. A malformed one is counted and thrown as a `BadInput`
   * ('bad-content-partial') before it changes anything, for the Kafka stage runner to dead-letter
   * and count (dropping it silently hid it).
   */
  process(partial: ContentPartial, sink: ContentWatchSink): void {
    if (!isContentPartial(partial)) {
      this.stats.rejected++;
      throw new BadInput(
        'bad-content-partial',
        'not a content partial (time, path, requests or queryHashes missing or of the wrong type)',
      );
    }
    this.stats.partials++;
    this.advance(partial.time, sink);
    if (contentKeyLength(partial.host, partial.path) > this.config.bounds.maxContentKeyLength) {
      this.stats.untrackedPartials++;
      return;
    }
    let aggregate = this.byPath.get(partial.path);
    if (aggregate !== undefined && aggregate.host === partial.host) {
      this.keys.touch(aggregate.slot);
    } else {
      const key = contentKey(partial.host, partial.path);
      aggregate = this.keys.get(key);
      if (aggregate === undefined) {
        // Kept for long: a copy, not a slice of some log line; the path is a slice of that copy
        // (V8 keeps it as a pointer into the key), so the key's text is held once, not twice.
        const kept = detachString(key);
        const added = this.keys.insert(
          kept,
          (slot) =>
            new ContentAggregate(
              kept,
              slot,
              detachOptional(partial.host),
              kept.slice(key.length - partial.path.length),
            ),
        );
        this.byPath.set(added.path, added);
        this.clearCounters(added.slot);
        aggregate = added;
      }
    }
    const pool = this.pool;
    const o = aggregate.slot * CX_STRIDE;
    const w = pooledDecayAt(pool, o + CX_TIME, C_SIZE, this.config.windows.aggregateMs, partial.time);
    const c = o + CX_COUNTERS;
    pool[c + C_REQUESTS]! += w * partial.requests;
    pool[c + C_WITH_QUERY]! += w * partial.withQuery;
    pool[c + C_NEW_VISITORS]! += w * partial.newVisitors;
    pool[c + C_HITS]! += w * partial.hits;
    pool[c + C_MISSES]! += w * partial.misses;
    pool[c + C_EXPIRED]! += w * partial.expired;
    pool[c + C_STALE]! += w * partial.stale;
    pool[c + C_UNCACHEABLE]! += w * partial.uncacheable;
    pool[c + C_PLAIN]! += w * partial.plainRequests;
    pool[c + C_PLAIN_CACHED]! += w * partial.plainCached;
    pool[c + C_QUERY_MISSES]! += w * partial.queryMisses;
    pool[c + C_SERVER_ERRORS]! += w * partial.serverErrors;
    pool[c + C_ORIGIN_MS]! += w * partial.originMsSum;
    pool[c + C_ORIGIN_COUNT]! += w * partial.originCount;
    // Absent from a profiler older than the fields: no evidence, so no cache-key advice.
    pool[c + C_QUERY_COMPARED]! += w * (partial.queryCompared ?? 0);
    pool[c + C_QUERY_SAME_AS_PLAIN]! += w * (partial.querySameAsPlain ?? 0);
    let distinct = partial.queryOverflow;
    for (const hash of partial.queryHashes) if (aggregate.newQuery(hash, partial.time)) distinct++;
    const params = partial.contentParams;
    if (Array.isArray(params) && params.length > 0) aggregate.addParams(params, partial.time);
    pool[c + C_DISTINCT_QUERIES]! += w * distinct;
    this.evaluate(aggregate.key, aggregate, sink);
  }

  /** Moves the clock: expires policies whose time has come (tombstones). */
  advance(time: number, sink: ContentWatchSink): void {
    if (!(time > this.now)) return;
    this.now = time;
    while (this.expiries.peekTime() <= time) {
      const entry = this.expiries.pop()!;
      const current = this.policies.get(entry.key);
      if (current === undefined || current.version !== entry.version) continue;
      this.policies.delete(entry.key);
      const aggregate = this.keys.get(entry.key);
      if (aggregate !== undefined) aggregate.policy = null;
      this.stats.policiesExpired++;
      sink.cachePolicy(entry.key, null, entry.time);
    }
  }

  /** Zero counters and no clock for a key new in `slot` (growing the pool to hold the slot). */
  private clearCounters(slot: number): void {
    this.pool = poolWithSlot(this.pool, slot, CX_STRIDE, this.keys.capacity);
    const o = slot * CX_STRIDE;
    this.pool.fill(0, o, o + CX_STRIDE);
    this.pool[o + CX_TIME] = Number.NEGATIVE_INFINITY;
  }

  getStats(): ContentWatchStats {
    this.stats.contentKeys = this.keys.size;
    this.stats.activePolicies = this.policies.size;
    return { ...this.stats };
  }

  activePolicies(): CachePolicy[] {
    return [...this.policies.values()];
  }

  private evaluate(key: string, aggregate: ContentAggregate, sink: ContentWatchSink): void {
    const cfg = this.config.cache;
    const pool = this.pool;
    const c = aggregate.slot * CX_STRIDE + CX_COUNTERS;
    const requests = pool[c + C_REQUESTS]!;
    if (requests < cfg.minRequests) return;
    const signals: Signal[] = [];
    const reasons: string[] = [];
    let collapse: boolean | null = null;
    let swr: number | null = null;
    let sie: number | null = null;
    let maxStale: number | null = null;
    let cacheKey: CacheKeyRule | null = null;

    // A reason the key's policy already gives holds until its measure falls below `releaseShare`
    // of its threshold (hysteresis), so a ratio wavering around a threshold does not republish
    // the policy at every crossing.
    const current = aggregate.policy;
    const given = current === null ? '' : current.reason;
    const release = cfg.releaseShare;
    const hold = (reason: string): number => (given.includes(reason) ? release : 1);

    // Hot key missing the cache: collapse concurrent misses, serve stale while one revalidates.
    // Only on a key the cache stores (some requests answered from it or found expired): a key
    // that misses every time is not cached, and collapsing it would only queue its requests.
    const missRatio = (pool[c + C_MISSES]! + pool[c + C_EXPIRED]!) / requests;
    const cacheable = requests - pool[c + C_UNCACHEABLE]!;
    const cachedShare = (pool[c + C_HITS]! + pool[c + C_STALE]! + pool[c + C_EXPIRED]!) / cacheable;
    const hotHold = hold('hot-miss');
    if (
      cacheable >= cfg.minRequests * hotHold &&
      missRatio >= cfg.hotMissRatio * hotHold &&
      cachedShare >= cfg.hotMinCachedShare
    ) {
      reasons.push('hot-miss');
      collapse = true;
      swr = cfg.collapseStaleWhileRevalidateSeconds;
      sie = cfg.collapseStaleIfErrorSeconds;
      signals.push({ name: 'missRatio', value: r3(missRatio), threshold: cfg.hotMissRatio });
      signals.push({ name: 'cachedShare', value: r3(cachedShare), threshold: cfg.hotMinCachedShare });
    }

    // Busted path: unique query strings missing the cache on a path the cache serves fine without them.
    const withQuery = pool[c + C_WITH_QUERY]!;
    const plain = pool[c + C_PLAIN]!;
    // The shares and their tests are computed on every evaluation (not a number when a count is
    // 0, and then not used): computed only for a path with both kinds of requests, the first such
    // path late in a run deoptimised this function.
    const queryShare = withQuery / requests;
    const distinctShare = Math.min(1, pool[c + C_DISTINCT_QUERIES]! / withQuery);
    const queryMissShare = pool[c + C_QUERY_MISSES]! / withQuery;
    const plainCachedShare = pool[c + C_PLAIN_CACHED]! / plain;
    // The query changes nothing: its answers are the plain page's size. A search (`?q=`), an API
    // polled with `since=`, a filter: their queries select content (other sizes), and dropping
    // the query from the cache key would answer every one of them with the plain page.
    const compared = pool[c + C_QUERY_COMPARED]!;
    const comparedShare = compared / withQuery;
    const samePageShare = pool[c + C_QUERY_SAME_AS_PLAIN]! / compared;
    const bustHold = hold('cache-bust');
    const manyQueries = queryShare >= cfg.bustQueryShare * bustHold;
    const distinctQueries = distinctShare >= cfg.bustDistinctShare * bustHold;
    const queriesMiss = queryMissShare >= cfg.bustMissShare * bustHold;
    const plainCached = plainCachedShare >= cfg.bustMinPlainHitShare * bustHold;
    const queryIgnored =
      comparedShare >= cfg.bustMinComparedShare * bustHold &&
      samePageShare >= cfg.bustSamePageShare * bustHold;
    if (withQuery > 0 && plain > 0) {
      if (manyQueries && distinctQueries && queriesMiss && plainCached && queryIgnored) {
        reasons.push('cache-bust');
        // Drop the query, but keep the parameters seen selecting content on this path lately
        // (`page`, `sort` beside a buster's `_=`): dropping them would answer page 2 with page 1.
        const kept = aggregate.keptParams(this.now - cfg.policyTtlMs);
        cacheKey = kept.length === 0 ? { kind: 'drop' } : { kind: 'allow', params: kept };
        signals.push({ name: 'queryShare', value: r3(queryShare), threshold: cfg.bustQueryShare });
        signals.push({
          name: 'distinctQueryShare',
          value: r3(distinctShare),
          threshold: cfg.bustDistinctShare,
        });
        signals.push({ name: 'queryMissShare', value: r3(queryMissShare), threshold: cfg.bustMissShare });
        signals.push({
          name: 'plainCachedShare',
          value: r3(plainCachedShare),
          threshold: cfg.bustMinPlainHitShare,
        });
        signals.push({ name: 'samePageShare', value: r3(samePageShare), threshold: cfg.bustSamePageShare });
      }
    }

    // Too much stale serving: cap how stale a response may be. The stale windows the same policy
    // gives stay within that cap (stale-if-error 300 s beside max-stale 60 s contradicted it).
    const staleRatio = pool[c + C_STALE]! / requests;
    if (staleRatio >= cfg.staleRatio * hold('stale-serving')) {
      reasons.push('stale-serving');
      maxStale = cfg.maxStaleSeconds;
      if (swr !== null) swr = Math.min(swr, maxStale);
      if (sie !== null) sie = Math.min(sie, maxStale);
      signals.push({ name: 'staleRatio', value: r3(staleRatio), threshold: cfg.staleRatio });
    }

    if (reasons.length === 0) return;
    signals.push({ name: 'requestsPerMinute', value: r3(requests), threshold: cfg.minRequests });
    if (pool[c + C_ORIGIN_COUNT]! > 0) {
      signals.push({
        name: 'originMsMean',
        value: r3(pool[c + C_ORIGIN_MS]! / pool[c + C_ORIGIN_COUNT]!),
        threshold: undefined,
      });
    }
    signals.push({
      name: 'newVisitorsPerMinute',
      value: r3(pool[c + C_NEW_VISITORS]!),
      threshold: undefined,
    });

    const now = this.now;
    const reason = reasons.join('+');
    const unchanged =
      current !== null &&
      current.reason === reason &&
      current.collapse === collapse &&
      current.staleWhileRevalidateSeconds === swr &&
      current.staleIfErrorSeconds === sie &&
      current.maxStaleSeconds === maxStale &&
      sameCacheKey(current.cacheKey, cacheKey);
    if (unchanged && current.expiresAt - now > cfg.policyTtlMs / 2) return;
    const policy: CachePolicy = {
      key,
      match: { host: aggregate.host, pathPattern: aggregate.path },
      ttlSeconds: null,
      staleWhileRevalidateSeconds: swr,
      staleIfErrorSeconds: sie,
      maxStaleSeconds: maxStale,
      collapse,
      cacheKey,
      reason,
      signals,
      decidedAt: now,
      expiresAt: now + cfg.policyTtlMs,
      version: policyVersion(current ?? this.policies.get(key) ?? null, now),
    };
    aggregate.policy = policy;
    this.policies.set(key, policy);
    this.expiries.push(policy.expiresAt, key, policy.version);
    this.expiries.compactIfStale(this.policies.size, (k, v) => this.policies.get(k)?.version === v);
    this.stats.policiesPublished++;
    sink.cachePolicy(key, policy, now);
  }
}

/**
 * A policy's version: its event time in microseconds (above every earlier one of the key). Edges
 * keep the highest version of a key until it expires. A count of this process's policies
 * (1, 2, 3 …) started over when content-watch restarted (it keeps no checkpoint: it replays the
 * retained partials, a day, not its whole life), so edges ignored its next advice for a key they
 * held at a higher number until that expired (10 min). Event-time milliseconds × 1000 are exact in
 * a double until the year 2255 and the same in every replay of the same input.
 */
function policyVersion(previous: CachePolicy | null, now: number): number {
  return Math.max(previous === null ? 0 : previous.version + 1, Math.floor(now) * 1000);
}

/** The content key: host + path (`*` for an unknown host). */
export function contentKey(host: string | null, path: string): string {
  return `${host ?? '*'}${path}`;
}

/** The length of {@link contentKey}`(host, path)`, without building it. */
export function contentKeyLength(host: string | null, path: string): number {
  return (host === null ? 1 : host.length) + path.length;
}

function sameCacheKey(a: CacheKeyRule | null, b: CacheKeyRule | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.kind !== b.kind) return false;
  if (a.kind === 'allow' && b.kind === 'allow') return a.params.join('&') === b.params.join('&');
  return true;
}

function r3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function isContentPartial(value: unknown): value is ContentPartial {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Partial<ContentPartial>;
  return (
    typeof v.time === 'number' &&
    typeof v.path === 'string' &&
    typeof v.requests === 'number' &&
    Array.isArray(v.queryHashes)
  );
}
