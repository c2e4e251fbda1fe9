import { EventEmitter } from 'node:events';
import { BadInput, type CachePolicy, survivesTombstone } from '@edgeguard/schema';
import { AllowIndex, parseAllowEntry } from './allowlist.js';
import {
  ALLOW,
  type CheckRequest,
  type CheckResult,
  DecisionIndex,
  type DecisionIndexStats,
} from './decision-index.js';
import { DeletedVersions } from './deleted-versions.js';
import { PolicyIndex } from './policy-index.js';
import { parseCachePolicy, parseDecision } from './records.js';

/** What an agent follows; each is loaded (snapshot / listing / topic read to its end) on its own. */
export type Feed = 'decisions' | 'policies' | 'allowlist';
const FEEDS = 3;

/** pino-compatible: `logger.warn({ ...fields }, 'message')`. A pino logger (or a child) fits as is. */
export interface AgentLogger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

const silentLogger: AgentLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** What a source (HTTP, Kafka) does with the agent's state; see http-source.ts and kafka-source.ts. */
export interface FeedSink {
  readonly logger: AgentLogger;
  /**
   * A decision or policy as received (untrusted); parsed here, rejected and counted when bad.
   * `copy`: the store writer produced it again (a Kafka record with `eg-copy`); refused, as a
   * manual decision is, when its version was deleted since.
   */
  putDecision(value: unknown, key?: string, copy?: boolean): void;
  /**
   * A deletion. `tombstoneTime` (event time, epoch ms) when it is not the operator's (a Kafka
   * tombstone without the operator's `eg-src: manual` header), and `tombstoneVersion` when it
   * names the version it deletes (`eg-version`): it removes that version and below only; one
   * without a version never removes an operator's active manual decision, nor a decision decided
   * after it was made (a rewound decider's past) — the decision store's rule (`survivesTombstone`,
   * packages/schema); the API applies it before the agent sees changes. Without either (the
   * operator's, the API's changes) the key is removed. `copy`: the store writer's deletion
   * produced again after a copy it refused (`eg-copy`): it removes the version it names only.
   */
  deleteDecision(key: string, tombstoneTime?: number, tombstoneVersion?: number, copy?: boolean): void;
  putPolicy(value: unknown, key?: string): void;
  deletePolicy(key: string): void;
  putAllow(value: unknown, key?: string): void;
  deleteAllow(key: string): void;
  /** The whole allowlist (the API's listing), untrusted entries. */
  replaceAllowlist(values: readonly unknown[]): void;
  /** An empty index with the agent's bounds, to load a snapshot into before swapping it in. */
  newDecisionIndex(): DecisionIndex;
  newPolicyIndex(): PolicyIndex;
  /** Replaces the whole state of a feed (a snapshot was read completely). */
  replaceDecisions(index: DecisionIndex): void;
  replacePolicies(index: PolicyIndex): void;
  /** Parses one snapshot record into `index` (counted as rejected when bad). */
  loadDecision(index: DecisionIndex, value: unknown): void;
  loadPolicy(index: PolicyIndex, value: unknown): void;
  /** The feed's initial state is in memory (the agent is ready once every feed is). */
  loaded(feed: Feed): void;
  /** The source reached, or lost, its upstream for this feed. */
  connection(feed: Feed, connected: boolean, error?: Error): void;
  count(counter: CounterName, n?: number): void;
  /** An error worth an operator's attention (auth refused, bad responses); counted and logged. */
  error(error: Error): void;
}

export interface Source {
  readonly kind: string;
  start(sink: FeedSink): Promise<void>;
  stop(): Promise<void>;
}

export type CounterName =
  | 'checks'
  | 'allowlisted'
  | 'manualKept'
  | 'newerKept'
  | 'deletedRefused'
  | 'changesApplied'
  | 'rejected'
  | 'snapshots'
  | 'snapshotsNotModified'
  | 'resyncs'
  | 'sseConnects'
  | 'sseEvents'
  | 'polls'
  | 'disconnects'
  | 'errors';

export type AgentCounters = Record<CounterName, number>;

export interface EdgeAgentOptions {
  source: Source;
  /**
   * Before the first complete load (cold start): `open` answers `allow` to everything (the edge
   * keeps serving while edgeguard is unreachable), `closed` answers `block` (with decision null)
   * until the blocklist and the allowlist are loaded (the cache policies are not waited for).
   * After that the last known state is always used, also while disconnected. Default `open`.
   */
  coldStart?: 'open' | 'closed';
  /** Bound of the decision index (default 1,000,000; see DecisionIndex). */
  maxDecisions?: number;
  /** Bound of the policy index (default 10,000). */
  maxPolicies?: number;
  /** Period of the expiry sweep (ms, default 1000). Expired entries never answer in between. */
  pruneIntervalMs?: number;
  logger?: AgentLogger;
}

export interface AgentStats {
  ready: boolean;
  /** Feeds currently connected to their upstream. */
  connected: Record<Feed, boolean>;
  decisions: DecisionIndexStats;
  policies: { size: number; evicted: number };
  allowlist: { size: number };
  counters: AgentCounters;
}

const COLD_CLOSED: CheckResult = Object.freeze({ verdict: 'block', decision: null });

/**
 * What an edge node embeds: follows edgeguard's decisions and cache policies through a source
 * (HttpSource: snapshot + Server-Sent Events with polling fallback; KafkaSource: the compacted
 * topics) and answers `check()` and `cachePolicy()` synchronously from memory.
 *
 * Events: `ready` (every feed loaded once), `change` ({ feed, op, key }), `connected` / `disconnected`
 * ({ feed, error? }), `error` (Error; only emitted when someone listens, so an agent never
 * crashes its process). Counters: stats().
 */
export class EdgeAgent extends EventEmitter {
  private decisions: DecisionIndex;
  private policies: PolicyIndex;
  private readonly loadedFeeds = new Set<Feed>();
  private readonly allowlist = new AllowIndex();
  private readonly deleted = new DeletedVersions();
  private readonly connectedFeeds: Record<Feed, boolean> = {
    decisions: false,
    policies: false,
    allowlist: false,
  };
  /** Feeds whose source answered once, or whose first failure was logged (once, as a warning). */
  private readonly reportedFeeds = new Set<Feed>();
  private readyFlag = false;
  /**
   * check() answers from the state once the decisions and the allowlist are loaded, without
   * waiting for the cache policies: a broken policy feed must not keep a fail-closed edge closed.
   */
  private checkReady = false;
  private readonly coldResult: CheckResult;
  private readonly counters: AgentCounters = {
    checks: 0,
    allowlisted: 0,
    manualKept: 0,
    newerKept: 0,
    deletedRefused: 0,
    changesApplied: 0,
    rejected: 0,
    snapshots: 0,
    snapshotsNotModified: 0,
    resyncs: 0,
    sseConnects: 0,
    sseEvents: 0,
    polls: 0,
    disconnects: 0,
    errors: 0,
  };
  private readonly logger: AgentLogger;
  private pruneTimer: NodeJS.Timeout | undefined;
  private started = false;
  private readonly sink: FeedSink;

  constructor(private readonly options: EdgeAgentOptions) {
    super();
    this.logger = options.logger ?? silentLogger;
    this.decisions = this.newDecisionIndex();
    this.policies = this.newPolicyIndex();
    this.coldResult = (options.coldStart ?? 'open') === 'closed' ? COLD_CLOSED : ALLOW;
    this.sink = this.createSink();
  }

  /** Starts following. Resolves once the source started (not when ready: see whenReady()). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const every = this.options.pruneIntervalMs ?? 1000;
    this.pruneTimer = setInterval(() => this.prune(), every);
    this.pruneTimer.unref();
    await this.options.source.start(this.sink);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearInterval(this.pruneTimer);
    await this.options.source.stop();
  }

  get ready(): boolean {
    return this.readyFlag;
  }

  /** Resolves when ready; rejects after `timeoutMs` (the agent keeps trying in the background). */
  whenReady(timeoutMs = 30_000): Promise<void> {
    if (this.readyFlag) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('ready', onReady);
        reject(new Error(`edge agent not ready within ${timeoutMs} ms (${this.options.source.kind} source)`));
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('ready', onReady);
    });
  }

  /**
   * The verdict for a request, synchronously from memory: the strongest active decision covering
   * the address (exact or range) or the fingerprint, unless an allowlist entry covers the address
   * (the allowlist always wins; it is read only when a decision matched). Before the first load:
   * see `coldStart`.
   */
  check(request: CheckRequest, now?: number): CheckResult {
    this.counters.checks++;
    if (!this.checkReady) return this.coldResult;
    const result = this.decisions.check(request, now);
    if (result !== ALLOW && this.allowlist.size > 0 && this.allowlist.covers(request.ip, now ?? Date.now())) {
      this.counters.allowlisted++;
      return ALLOW;
    }
    return result;
  }

  /** The cache policy for a request's host and path (no query), or null. */
  cachePolicy(host: string | null | undefined, path: string, now: number = Date.now()): CachePolicy | null {
    return this.policies.lookup(host, path, now);
  }

  /** Removes expired decisions and policies now (also done every pruneIntervalMs). */
  prune(now: number = Date.now()): void {
    this.decisions.prune(now);
    this.policies.prune(now);
    this.allowlist.prune(now);
    this.deleted.prune(now);
  }

  stats(): AgentStats {
    return {
      ready: this.readyFlag,
      connected: { ...this.connectedFeeds },
      decisions: this.decisions.stats(),
      policies: this.policies.stats(),
      allowlist: { size: this.allowlist.size },
      counters: { ...this.counters },
    };
  }

  private newDecisionIndex(): DecisionIndex {
    return new DecisionIndex(
      this.options.maxDecisions === undefined ? {} : { maxEntries: this.options.maxDecisions },
    );
  }

  private newPolicyIndex(): PolicyIndex {
    return new PolicyIndex(
      this.options.maxPolicies === undefined ? {} : { maxPolicies: this.options.maxPolicies },
    );
  }

  private reject(error: unknown, what: string): void {
    this.counters.rejected++;
    if (error instanceof BadInput) {
      this.logger.warn({ reason: error.reason, error: error.message }, `${what} ignored`);
      return;
    }
    throw error;
  }

  private changed(feed: Feed, op: 'put' | 'delete' | 'snapshot', key: string | null): void {
    if (op !== 'snapshot') this.counters.changesApplied++;
    if (this.listenerCount('change') > 0) this.emit('change', { feed, op, key });
  }

  private createSink(): FeedSink {
    const agent = this;
    return {
      logger: agent.logger,
      putDecision(value, key, copy) {
        try {
          const { decision, target } = parseDecision(value, key);
          if (
            (decision.origin === 'manual' || copy === true) &&
            agent.deleted.refuses(decision.key, decision.version, Date.now())
          ) {
            agent.counters.deletedRefused++;
            return;
          }
          if (agent.decisions.put(decision, target)) agent.changed('decisions', 'put', decision.key);
        } catch (error) {
          agent.reject(error, 'decision');
        }
      },
      deleteDecision(key, tombstoneTime, tombstoneVersion, copy) {
        const held = agent.decisions.get(key);
        const now = Date.now();
        if (tombstoneTime !== undefined || tombstoneVersion !== undefined) {
          const kept = survivesTombstone(held, tombstoneTime ?? Number.NaN, now, tombstoneVersion, copy);
          if (kept !== null) {
            agent.counters[kept === 'manual' ? 'manualKept' : 'newerKept']++;
            return;
          }
        }
        if (held) agent.deleted.remember(held.key, held.version, held.expiresAt, now);
        agent.decisions.delete(key);
        agent.changed('decisions', 'delete', key);
      },
      putPolicy(value, key) {
        try {
          const policy = parseCachePolicy(value, key);
          if (agent.policies.put(policy)) agent.changed('policies', 'put', policy.key);
        } catch (error) {
          agent.reject(error, 'cache policy');
        }
      },
      deletePolicy(key) {
        agent.policies.delete(key);
        agent.changed('policies', 'delete', key);
      },
      putAllow(value, key) {
        try {
          agent.allowlist.put(parseAllowEntry(value, key));
          agent.changed('allowlist', 'put', key ?? null);
        } catch (error) {
          agent.reject(error, 'allowlist entry');
        }
      },
      deleteAllow(key) {
        agent.allowlist.delete(key);
        agent.changed('allowlist', 'delete', key);
      },
      replaceAllowlist(values) {
        const entries = [];
        for (const value of values) {
          try {
            entries.push(parseAllowEntry(value));
          } catch (error) {
            agent.reject(error, 'allowlist entry');
          }
        }
        agent.allowlist.replace(entries);
        agent.changed('allowlist', 'snapshot', null);
      },
      newDecisionIndex: () => agent.newDecisionIndex(),
      newPolicyIndex: () => agent.newPolicyIndex(),
      replaceDecisions(index) {
        agent.decisions = index;
        agent.counters.snapshots++;
        agent.changed('decisions', 'snapshot', null);
      },
      replacePolicies(index) {
        agent.policies = index;
        agent.counters.snapshots++;
        agent.changed('policies', 'snapshot', null);
      },
      loadDecision(index, value) {
        try {
          const { decision, target } = parseDecision(value);
          index.put(decision, target);
        } catch (error) {
          agent.reject(error, 'snapshot decision');
        }
      },
      loadPolicy(index, value) {
        try {
          index.put(parseCachePolicy(value));
        } catch (error) {
          agent.reject(error, 'snapshot cache policy');
        }
      },
      loaded(feed) {
        if (agent.loadedFeeds.has(feed)) return;
        agent.loadedFeeds.add(feed);
        agent.logger.info({ feed, source: agent.options.source.kind }, 'edge agent feed loaded');
        if (agent.loadedFeeds.has('decisions') && agent.loadedFeeds.has('allowlist')) agent.checkReady = true;
        if (!agent.readyFlag && agent.loadedFeeds.size === FEEDS) {
          agent.readyFlag = true;
          agent.emit('ready');
        }
      },
      connection(feed, connected, error) {
        if (agent.connectedFeeds[feed] === connected) {
          if (!connected && !agent.reportedFeeds.has(feed)) {
            // Never connected yet (API or broker down at start, a bad URL): say so once, or an
            // edge answers by its cold-start policy without a word in its log.
            agent.reportedFeeds.add(feed);
            agent.logger.warn(
              { feed, error: error?.message, coldStart: agent.options.coldStart ?? 'open' },
              'edge agent cannot load its feed yet; answering by its cold-start policy, retrying',
            );
          } else if (error)
            agent.logger.debug({ feed, error: error.message }, 'edge agent still disconnected');
          return;
        }
        agent.connectedFeeds[feed] = connected;
        agent.reportedFeeds.add(feed);
        if (connected) {
          agent.logger.info({ feed }, 'edge agent connected');
          agent.emit('connected', { feed });
        } else {
          agent.counters.disconnects++;
          agent.logger.warn(
            { feed, error: error?.message },
            'edge agent disconnected; keeping the last state',
          );
          agent.emit('disconnected', { feed, error });
        }
      },
      count(counter, n = 1) {
        agent.counters[counter] += n;
      },
      error(error) {
        agent.reportError(error);
      },
    };
  }

  /** Reports an error to `error` listeners, if any (never throws from a source's background loop). */
  reportError(error: Error): void {
    this.counters.errors++;
    this.logger.error({ error: error.message }, 'edge agent error');
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}
