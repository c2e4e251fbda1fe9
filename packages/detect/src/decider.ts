import {
  type Action,
  actionStrength,
  BadInput,
  type Decision,
  type DecisionScope,
  isPlainSignal,
  type Signal,
} from '@edgeguard/schema';
import { ipv4Number } from './address-index.js';
import type { Allowlist } from './allowlist.js';
import { ClockTable } from './clock-table.js';
import { type DetectConfig, rangeMaxAction } from './config.js';
import { DecayedCounters, decayFactor, pooledDecayAt, pooledRead, poolWithSlot } from './decay.js';
import { ExpiryQueue } from './expiry-queue.js';
import type {
  ClientSignal,
  DeciderInput,
  FingerprintPartial,
  GuardAlert,
  PrefixCount,
  TrafficTick,
} from './messages.js';
import { OffenceHistory } from './offence-history.js';

/**
 * Where the decider publishes: decisions (null = tombstone) keyed by `ip:`/`range:`/`fp:`, and
 * alerts. A tombstone names the version of the decision it removes (`version`).
 */
export interface DeciderSink {
  decision(key: string, decision: Decision | null, time: number, version?: number): void;
  alert(alert: GuardAlert): void;
}

// Fingerprint aggregate slots (decayed over windows.aggregateMs).
const F_REQUESTS = 0;
const F_PAGES = 1;
const F_ASSETS = 2;
const F_REPEATS = 3;
const F_BUSTS = 4;
const F_LOGIN_POSTS = 5;
const F_AUTH_FAILURES = 6;
const F_SENSITIVE = 7;
const F_ERRORS = 8;
const F_CLIENTS = 9;
const F_HUMANS = 10;
const F_ESTABLISHED = 11;
const F_FLAGGED = 12;
const F_PATH_REPEATS = 13;
const F_SIZE = 14;
/** Addresses flagged on their own a fingerprint remembers at most (the `flagged` rule's count). */
const MAX_FLAGGED_ADDRESSES = 64;

// Prefix aggregate slots.
const P_CLIENTS = 0;
const P_HUMANS = 1;
const P_ESTABLISHED = 2;
const P_PROTECTED = 3;
const P_SIZE = 4;

/**
 * A decayed count at or above this is "someone was counted within about three windows"
 * (e^-3 ≈ 0.05): the presence test for humans and protected clients.
 */
const PRESENT = 0.05;

const LADDER: readonly Action[] = ['throttle', 'challenge', 'block'];

/** Reasons that mean "hammering these paths": they mark the client's paths as attacked. */
const ATTACK_REASONS: ReadonlySet<string> = new Set(['repetition', 'cache-bust', 'flood']);

interface Suspect {
  reason: string;
  points: number;
  evidence: Signal[];
  at: number;
  /**
   * `evidence` as each address judged by this suspect carries it (names prefixed `fingerprint.`),
   * built once per suspect rather than once per address: a swarm's addresses share the objects.
   * Rebuilt when `evidence` grew since (the fingerprint rule appends to it after judging the
   * addresses that were pending).
   */
  addressEvidence?: Signal[];
}

/** The evidence entry of guilt by fingerprint (shared by every decision that carries it). */
const BOT_SHAPED_SIGNAL: Signal = Object.freeze({ name: 'botShaped', value: 1, threshold: undefined });

/**
 * A bot-shaped address's own evidence, then BOT_SHAPED_SIGNAL, then its fingerprint's, in an array
 * of exactly that size: spread into a literal, the array grew by push and kept the slack, for as
 * long as the decision it explains.
 */
function withFingerprintEvidence(own: Signal[], fingerprint: Signal[]): Signal[] {
  const out = new Array<Signal>(own.length + 1 + fingerprint.length);
  let k = 0;
  for (let i = 0; i < own.length; i++) out[k++] = own[i]!;
  out[k++] = BOT_SHAPED_SIGNAL;
  for (let i = 0; i < fingerprint.length; i++) out[k++] = fingerprint[i]!;
  return out;
}

/**
 * `fingerprint.<name>` per evidence name: one copy of each text rather than one concatenation per
 * decision. The names are a fixed vocabulary of the rules; bounded all the same.
 */
const FINGERPRINT_NAMES = new Map<string, string>();
function fingerprintSignalName(name: string): string {
  let prefixed = FINGERPRINT_NAMES.get(name);
  if (prefixed === undefined) {
    prefixed = `fingerprint.${name}`;
    if (FINGERPRINT_NAMES.size < 256) FINGERPRINT_NAMES.set(name, prefixed);
  }
  return prefixed;
}

/** What an ip decision for a client signal is made from (see `Decider.decideClient`). */
type JudgedClient = Pick<
  ClientSignal,
  'ip' | 'prefix' | 'time' | 'score' | 'reason' | 'signals' | 'established'
>;

/**
 * What a fingerprint remembers of a bot-shaped client signal until the fingerprint turns suspect:
 * what judging the client then needs, not the whole signal (its paths and numbers). A ring of up to
 * `fingerprint.pendingAddresses` per fingerprint keeps entries long enough for V8 to promote them
 * to its old space, where whole signals were the largest share of what a replay promoted. Its
 * evidence is packed for the same reason (see PackedSignals): most bot-shaped signals are never
 * decided, and their signal objects were the next largest share.
 */
class PendingClient implements JudgedClient {
  constructor(
    readonly ip: string,
    readonly prefix: string | null,
    readonly time: number,
    readonly score: number,
    readonly reason: string,
    private readonly evidence: PackedSignals | Signal[],
    readonly established: boolean,
  ) {}

  /** The signal's evidence as it carried it (new objects, the same values in the same order). */
  get signals(): Signal[] {
    return unpackSignals(this.evidence);
  }
}

/**
 * A list of `{ name, value[, threshold] }` signals as two arrays: the names, shared by every list
 * with the same names in the same order, and the numbers unboxed (value, then threshold or NaN when
 * the signal has none): ~16 B per signal instead of ~70 B (an object and its boxed numbers).
 */
class PackedSignals {
  constructor(
    /** Shared: never modified. */
    readonly names: readonly string[],
    readonly numbers: number[],
  ) {}
}

/** Distinct name lists shared; past it the table starts over (sharing lost, results unchanged). */
const MAX_NAME_LISTS = 1024;
const nameLists = new Map<string, readonly string[]>();

/**
 * The packed form of `signals`, or the list itself when a signal is not a plain `{ name, value }` or
 * `{ name, value, threshold }` with numbers, in that key order (unpacking must give back objects
 * that serialise the same).
 */
function packSignals(signals: Signal[]): PackedSignals | Signal[] {
  if (!signals.every(isPlainSignal)) return signals;
  const numbers = new Array<number>(signals.length * 2);
  let key = '';
  for (let k = 0; k < signals.length; k++) {
    const signal = signals[k]!;
    numbers[k * 2] = signal.value;
    numbers[k * 2 + 1] = signal.threshold ?? Number.NaN;
    key += k === 0 ? signal.name : `\n${signal.name}`;
  }
  let names = nameLists.get(key);
  if (names === undefined) {
    if (nameLists.size >= MAX_NAME_LISTS) nameLists.clear();
    names = signals.map((s) => s.name);
    nameLists.set(key, names);
  }
  return new PackedSignals(names, numbers);
}

function unpackSignals(evidence: PackedSignals | Signal[]): Signal[] {
  if (!(evidence instanceof PackedSignals)) return evidence;
  const { names, numbers } = evidence;
  const out = new Array<Signal>(names.length);
  for (let k = 0; k < names.length; k++) {
    const value = numbers[k * 2]!;
    const threshold = numbers[k * 2 + 1]!;
    out[k] = { name: names[k]!, value, threshold: Number.isNaN(threshold) ? undefined : threshold };
  }
  return out;
}

/**
 * A bounded list in arrival order on a circular array: dropping the oldest entry is a store,
 * where `shift` on a full array moved or trimmed its elements and the next `push` copied them into
 * a grown one (a million-line replay puts ~43 000 bot-shaped signals in two rings each, 85 % of
 * them full). The array grows by doubling up to `capacity`: most rings hold a few entries.
 * The entries' times are kept beside them, unboxed: the test for stale entries on every push reads
 * the oldest one's time without loading the entry (a cache miss per bot-shaped signal).
 */
class Ring<T extends { readonly time: number }> {
  private items: (T | undefined)[] = [];
  private times = NO_TIMES;
  private head = 0;
  size = 0;
  private readonly capacity: number;

  constructor(capacity: number) {
    // As many as an array that was shifted once it held `capacity` or more, before a push.
    this.capacity = Math.max(1, Math.ceil(capacity));
  }

  /** The oldest entry's time (the ring is not empty). */
  oldestTime(): number {
    return this.times[this.head]!;
  }

  dropOldest(): void {
    this.items[this.head] = undefined;
    this.head = this.head + 1 === this.items.length ? 0 : this.head + 1;
    this.size--;
  }

  /** Appends `item`, dropping the oldest entry when full. */
  push(item: T): void {
    if (this.size === this.capacity) this.dropOldest();
    if (this.size === this.items.length) this.grow();
    const at = this.at(this.size);
    this.items[at] = item;
    this.times[at] = item.time;
    this.size++;
  }

  /** Empties the ring; returns its entries, oldest first. */
  take(): T[] {
    const out = new Array<T>(this.size);
    for (let k = 0; k < this.size; k++) out[k] = this.items[this.at(k)]!;
    this.items = [];
    this.times = NO_TIMES;
    this.head = 0;
    this.size = 0;
    return out;
  }

  /** The array index of the k-th oldest entry. */
  private at(k: number): number {
    const i = this.head + k;
    return i < this.items.length ? i : i - this.items.length;
  }

  private grow(): void {
    const length = Math.min(this.capacity, Math.max(4, this.items.length * 2));
    const grown = new Array<T | undefined>(length);
    const times = new Float64Array(length);
    for (let k = 0; k < this.size; k++) {
      const at = this.at(k);
      grown[k] = this.items[at];
      times[k] = this.times[at]!;
    }
    this.items = grown;
    this.times = times;
    this.head = 0;
  }
}

/** The times of a ring that has held nothing yet (never written: no element). */
const NO_TIMES = new Float64Array(0);

class FingerprintAggregate {
  readonly counters: DecayedCounters;
  readonly paths: Uint32Array;
  readonly pathSeenAt: Float64Array;
  pathsOverflowAt = Number.NEGATIVE_INFINITY;
  userAgent: string | null = null;
  declaredCrawler = false;
  /** The rule that makes it suspect, as of its latest partial; null when it is not. */
  suspect: Suspect | null = null;
  /** Recent bot-shaped clients while it was not suspect (`fingerprint.pendingAddresses`). */
  private readonly pending: Ring<PendingClient>;

  /**
   * Remembers a bot-shaped client signal, dropping from the front the entries older than `since`:
   * `takePending` is only ever asked for later ones (the clock does not go back). Only from the
   * front, so the ring sheds the same entries when full as it did without the dropping.
   */
  rememberBotShaped(signal: ClientSignal, since: number): void {
    const pending = this.pending;
    while (pending.size > 0 && pending.oldestTime() < since) pending.dropOldest();
    pending.push(
      new PendingClient(
        signal.ip,
        signal.prefix,
        signal.time,
        signal.score,
        signal.reason,
        packSignals(signal.signals),
        signal.established,
      ),
    );
  }

  /** Takes the remembered clients not older than `since`. */
  takePending(since: number): PendingClient[] {
    return this.pending.take().filter((s) => s.time >= since);
  }

  constructor(tau: number, pathSlots: number, pendingAddresses: number) {
    this.pending = new Ring(pendingAddresses);
    this.counters = new DecayedCounters(F_SIZE, tau);
    this.paths = new Uint32Array(pathSlots);
    this.pathSeenAt = new Float64Array(pathSlots).fill(Number.NEGATIVE_INFINITY);
  }

  /** Remembers a path seen at `time`; when every slot is recent, the fingerprint has "many paths". */
  addPath(hash: number, time: number, window: number): void {
    let oldest = 0;
    for (let i = 0; i < this.paths.length; i++) {
      if (this.paths[i] === hash) {
        if (time > this.pathSeenAt[i]!) this.pathSeenAt[i] = time;
        return;
      }
      if (this.pathSeenAt[i]! < this.pathSeenAt[oldest]!) oldest = i;
    }
    if (this.pathSeenAt[oldest]! >= time - window)
      this.pathsOverflowAt = Math.max(this.pathsOverflowAt, time);
    this.paths[oldest] = hash;
    this.pathSeenAt[oldest] = time;
  }

  /**
   * Addresses of this fingerprint flagged on their own (from their signals), and when each was
   * last; at most `capacity`, the least recent replaced. Null until the first one.
   */
  private flaggedIps: string[] | null = null;
  private flaggedAt: number[] | null = null;

  /** Notes a signal of an address flagged on its own at `time`. */
  noteFlagged(ip: string, time: number, capacity: number): void {
    if (this.flaggedIps === null || this.flaggedAt === null) {
      this.flaggedIps = [ip];
      this.flaggedAt = [time];
      return;
    }
    const ips = this.flaggedIps;
    const at = this.flaggedAt;
    let oldest = 0;
    for (let i = 0; i < ips.length; i++) {
      if (ips[i] === ip) {
        if (time > at[i]!) at[i] = time;
        return;
      }
      if (at[i]! < at[oldest]!) oldest = i;
    }
    if (ips.length < capacity) {
      ips.push(ip);
      at.push(time);
    } else if (time > at[oldest]!) {
      ips[oldest] = ip;
      at[oldest] = time;
    }
  }

  /** Distinct addresses flagged on their own since `since` (each counts once, however long). */
  flaggedAddresses(since: number): number {
    const at = this.flaggedAt;
    if (at === null) return 0;
    let n = 0;
    for (let i = 0; i < at.length; i++) if (at[i]! >= since) n++;
    return n;
  }

  /** Distinct paths seen within the window, or +Infinity when they overflowed the slots. */
  distinctPaths(now: number, window: number): number {
    if (this.pathsOverflowAt >= now - window) return Number.POSITIVE_INFINITY;
    let n = 0;
    for (let i = 0; i < this.paths.length; i++) if (this.pathSeenAt[i]! >= now - window) n++;
    return n;
  }
}

/**
 * One prefix's state. Its decayed counters, their clock and the last-seen times live in the
 * decider's Float64Array pool at `slot` (the prefix table's slot): tens of thousands of prefixes,
 * so no per-prefix typed array (~250 B each) and no boxed time fields.
 */
class PrefixAggregate {
  /** Addresses of the prefix with an active ip decision. */
  badAddresses = 0;
  /**
   * Reason words of its addresses' decisions and their counts, for the range decision's reason:
   * the first word and its count in fields, which is all most prefixes ever see (no array to
   * allocate, load and search per decision), further words alternating with their counts in
   * `moreReasons` (`[word, n, word, n]`, first-seen order; created on the second word).
   */
  reason: string | null = null;
  reasonCount = 0;
  moreReasons: (string | number)[] | null = null;

  constructor(readonly slot: number) {}

  /** Counts one more decision for `word`. Bounded: a ninth word forgets them all. */
  countReason(word: string): void {
    if (word === this.reason) {
      this.reasonCount++;
      return;
    }
    if (this.reason === null) {
      this.reason = word;
      this.reasonCount = 1;
      return;
    }
    const more = this.moreReasons;
    const at = more === null ? -1 : more.indexOf(word);
    if (at >= 0) more![at + 1] = (more![at + 1] as number) + 1;
    else if (more !== null && more.length >= 14) {
      this.reason = null;
      this.reasonCount = 0;
      this.moreReasons = null;
    } else {
      // Exact-size copies, not push (which reserves 17 slots): a few thousand prefixes of a
      // million-line replay hold a second word.
      this.moreReasons = more === null ? [word, 1] : more.concat(word, 1);
    }
  }
}

// Prefix pool layout (per slot): the counters' clock, the P_SIZE counters, last human/protected times.
const PX_TIME = 0;
const PX_COUNTERS = 1;
const PX_LAST_HUMAN = PX_COUNTERS + P_SIZE;
const PX_LAST_PROTECTED = PX_LAST_HUMAN + 1;
const PX_STRIDE = PX_LAST_PROTECTED + 1;

/**
 * An active decision as the decider keeps it: the published decision's fields without its
 * signals (they were published with it; tens of thousands of decisions are active at once, and
 * their evidence was most of the decider's memory), plus what escalation and the guard need.
 */
class ActiveDecision {
  constructor(
    readonly key: string,
    readonly scope: DecisionScope,
    readonly value: string,
    readonly action: Action,
    /**
     * The action the rules asked for, before escalation stepped it up: what a later evaluation
     * compares with to tell whether the rules now ask for less (an escalated block made for a
     * throttle is not "weaker now" when the rules still ask for a throttle).
     */
    readonly ruleAction: Action,
    readonly reason: string,
    readonly score: number,
    readonly decidedAt: number,
    readonly expiresAt: number,
    readonly version: number,
    readonly durationMs: number,
    /** Established benign clients this decision covered when made (the guard's measure). */
    public coveredEstablished: number,
    /**
     * When its key became active (a count, kept when the decision is replaced, as a map keeps a
     * key's place when it is set again): walks over all active decisions go in this order, the
     * order tombstones go out in when many are lifted at once (see `Decider.activeInOrder`).
     */
    readonly since: number,
  ) {}

  /** The decision as published, with `signals: []`. */
  toDecision(): Decision {
    return {
      key: this.key,
      scope: this.scope,
      value: this.value,
      action: this.action,
      reason: this.reason,
      signals: [],
      score: this.score,
      decidedAt: this.decidedAt,
      expiresAt: this.expiresAt,
      origin: 'auto',
      version: this.version,
    };
  }
}

export interface DeciderStats {
  inputs: number;
  rejected: number;
  clientSignals: number;
  fingerprintPartials: number;
  prefixCounts: number;
  ticks: number;
  decisionsPublished: number;
  decisionsExpired: number;
  decisionsLifted: number;
  decisionsDropped: number;
  decisionsHeld: number;
  allowlistedSkipped: number;
  guardTrips: number;
  activeDecisions: number;
  fingerprints: number;
  prefixes: number;
}

/** Automatic versions per millisecond of event time: see autoVersion. */
const AUTO_VERSIONS_PER_MS = 100;

/**
 * The version of an automatic decision: its event time in milliseconds × 100, or one above the
 * key's active decision when that is higher (two decisions of a key in one millisecond, or
 * out-of-order input). The store, the API and the edge keep the highest version per key, so
 * versions must not go back when a decider restarts: numbered 1, 2, 3… per process (as until
 * 2026-11-29), a decider that replayed less input after a restart
 * (retention had dropped the oldest) numbered below what the store held, and its escalations of
 * those keys were ignored until the old decisions expired. Event time only moves on. Manual
 * decisions (packages/kafka nextManualVersion: wall-clock milliseconds × 1000) stay ten times
 * above any automatic one of the same time, so an automatic decision never replaces a manual one.
 * Exact in a double (< 2^53) for any event time before the year 30000.
 */
export function autoVersion(previous: number | undefined, decidedAt: number): number {
  const floor = Number.isFinite(decidedAt) ? Math.floor(decidedAt) * AUTO_VERSIONS_PER_MS : 0;
  return Math.max((previous ?? 0) + 1, floor);
}

/**
 * The decider core: merges client signals, fingerprint and prefix partials and traffic ticks (one
 * ordered input) into decisions. Applies allowlists, escalation, range aggregation, fingerprint
 * rules, expiry (tombstones in event time) and the blast-radius guard. Event time only: its clock
 * is the newest input time.
 */
export class Decider {
  private now = Number.NEGATIVE_INFINITY;
  /**
   * Event time of the input being handled: decisions are dated by the evidence that made them, not
   * by the newest time seen (inputs are out of order by up to the allowed lateness).
   */
  private inputTime = Number.NEGATIVE_INFINITY;
  /**
   * Active decisions by value, one map per scope: a fingerprint partial or a prefix count probes
   * a table of a few hundred fingerprint or range decisions rather than one also holding tens of
   * thousands of ip decisions (cache misses for keys that are mostly absent), and an ip decision
   * is found by the signal's address text, whose hash is kept, instead of an `ip:` key built and
   * hashed per signal. The key is built only when a decision is published.
   */
  private readonly activeIps = new Map<string, ActiveDecision>();
  private readonly activeRanges = new Map<string, ActiveDecision>();
  private readonly activeFingerprints = new Map<string, ActiveDecision>();
  /** Keys made active so far (see `ActiveDecision.since`). */
  private activations = 0;
  private readonly expiries = new ExpiryQueue<ActiveDecision>();
  /** Offences per decision within `decisions.historyMs` (escalation), by value in its scope's space. */
  private readonly history: OffenceHistory;
  private readonly fingerprints: ClockTable<string, FingerprintAggregate>;
  private readonly prefixes: ClockTable<string, PrefixAggregate>;
  /**
   * The prefix table's index (prefix → slot; the table keeps it): a traffic tick's prefix counts
   * only need the slot (their counters live in the pool), not the aggregate object.
   */
  private readonly prefixSlots = new Map<string, number>();
  /** The prefix `prefixAggregate` last answered for, and its aggregate (see there). */
  private lastPrefixText: string | null = null;
  private lastPrefix: PrefixAggregate | null = null;
  /** Prefix counters and times by prefix-table slot (PX_STRIDE per slot), grown by doubling. */
  private prefixPool: Float64Array;
  /** Established benign clients active (count-once-per-window sums from ticks). */
  private readonly establishedActive: DecayedCounters;
  /** Established benign clients covered by active decisions (sum of their coveredEstablished). */
  private coveringEstablished = 0;
  /** Paths hammered by clients flagged on their own: decayed count of flagged clients per path hash. */
  private readonly attacked: ClockTable<number, { flagged: number; at: number }>;
  /** Bot-shaped client signals not (yet) matching attacked paths (`attackedPaths.pendingAddresses`). */
  private readonly pendingBotShaped: Ring<ClientSignal>;
  private heldUntil = Number.NEGATIVE_INFINITY;
  private heldCount = 0;
  private heldSample: string[] = [];
  private readonly stats: DeciderStats = {
    inputs: 0,
    rejected: 0,
    clientSignals: 0,
    fingerprintPartials: 0,
    prefixCounts: 0,
    ticks: 0,
    decisionsPublished: 0,
    decisionsExpired: 0,
    decisionsLifted: 0,
    decisionsDropped: 0,
    decisionsHeld: 0,
    allowlistedSkipped: 0,
    guardTrips: 0,
    activeDecisions: 0,
    fingerprints: 0,
    prefixes: 0,
  };

  constructor(
    private readonly config: DetectConfig,
    private readonly allowlist: Allowlist,
    /** The range of an address, as the profiler computes it (ip decisions count in their range). */
    private readonly prefixOf: (ip: string) => string | null,
  ) {
    this.history = new OffenceHistory(config.bounds.maxHistory, config.decisions.historyMs, 3);
    this.fingerprints = new ClockTable(config.bounds.maxFingerprints);
    this.prefixes = new ClockTable(config.bounds.maxPrefixes, undefined, this.prefixSlots);
    this.prefixPool = new Float64Array(Math.min(1024, config.bounds.maxPrefixes) * PX_STRIDE);
    this.attacked = new ClockTable(config.bounds.maxAttackedPaths);
    this.pendingBotShaped = new Ring(config.attackedPaths.pendingAddresses);
    this.establishedActive = new DecayedCounters(1, config.windows.aggregateMs);
  }

  /**
   * Handles one input. A malformed input (another producer's, or a mangled record) is counted and
   * thrown as a `BadInput` ('bad-signal') before it changes anything: the Kafka stage runner
   * dead-letters and counts it by reason (dropping it silently hid it from both), and goes on.
   */
  process(input: DeciderInput, sink: DeciderSink): void {
    if (!isInput(input)) {
      this.stats.rejected++;
      throw new BadInput('bad-signal', `not a decider input: ${describeInput(input)}`);
    }
    this.stats.inputs++;
    this.advance(input.time, sink);
    this.inputTime = Math.min(input.time, this.now);
    switch (input.kind) {
      case 'client':
        this.onClient(input, sink);
        break;
      case 'fingerprint':
        this.onFingerprint(input, sink);
        break;
      case 'tick':
        this.onTick(input, sink);
        break;
    }
  }

  /** Moves the clock to `time` (if newer): expires decisions, ends a guard hold. */
  advance(time: number, sink: DeciderSink): void {
    if (!(time > this.now)) return;
    this.now = time;
    while (this.expiries.peekTime() <= time) {
      const entry = this.expiries.pop()!;
      const current = this.activeIn(entry.key.scope).get(entry.key.value);
      if (current === undefined || current.version !== entry.version) continue;
      this.remove(current, entry.time, sink);
      this.stats.decisionsExpired++;
    }
    if (this.heldUntil !== Number.NEGATIVE_INFINITY && time >= this.heldUntil) this.release(sink);
  }

  /** End of input: nothing is pending (decisions keep their expiry; the edge expires them too). */
  finish(_sink: DeciderSink): void {}

  /**
   * The blast-radius guard's hold, while it holds: until when (event time) and how many decisions
   * it has held so far; null otherwise. Read by the Kafka decider's metrics.
   */
  guardHold(): { until: number; held: number } | null {
    return this.heldUntil === Number.NEGATIVE_INFINITY
      ? null
      : { until: this.heldUntil, held: this.heldCount };
  }

  getStats(): DeciderStats {
    this.stats.activeDecisions = this.activeCount();
    this.stats.fingerprints = this.fingerprints.size;
    this.stats.prefixes = this.prefixes.size;
    return { ...this.stats };
  }

  /**
   * The allowlist changed (runtime entries): lifts every active decision it now covers — an
   * allowlisted address, a range holding one — with a tombstone. Fingerprint decisions stay:
   * enforcement checks the allowlist before any decision, so they never apply to an allowlisted
   * address.
   */
  liftAllowlisted(sink: DeciderSink): number {
    let lifted = 0;
    for (const current of this.activeInOrder()) {
      const { scope, value } = current;
      if (
        (scope === 'ip' && this.allowlist.has(value)) ||
        (scope === 'range' && this.allowlist.touchesRange(value))
      ) {
        this.remove(current, this.now === Number.NEGATIVE_INFINITY ? 0 : this.now, sink);
        this.stats.decisionsLifted++;
        lifted++;
      }
    }
    return lifted;
  }

  /**
   * Active decisions (for snapshots, explanations and tests), without their signals (`[]`): the
   * evidence travels with the published decision and is not kept.
   */
  activeDecisions(): Decision[] {
    return this.activeInOrder().map((a) => a.toDecision());
  }

  private activeIn(scope: DecisionScope): Map<string, ActiveDecision> {
    return scope === 'ip' ? this.activeIps : scope === 'range' ? this.activeRanges : this.activeFingerprints;
  }

  private activeCount(): number {
    return this.activeIps.size + this.activeRanges.size + this.activeFingerprints.size;
  }

  /** Every active decision, in the order their keys became active (for the rare walks over all). */
  private activeInOrder(): ActiveDecision[] {
    return [
      ...this.activeIps.values(),
      ...this.activeRanges.values(),
      ...this.activeFingerprints.values(),
    ].sort((a, b) => a.since - b.since);
  }

  private onClient(signal: ClientSignal, sink: DeciderSink): void {
    this.stats.clientSignals++;
    // By the address's number when it is a dotted quad: the further protection test (CDN ranges)
    // then parses no text, which was most of the check's cost.
    if (this.allowlist.hasIpv4(ipv4Number(signal.ip), signal.ip)) {
      this.stats.allowlistedSkipped++;
      return;
    }
    // A client flagged on its own counts once in its fingerprint's flagged addresses.
    if (signal.score >= this.config.decisions.scoreForChallenge) this.noteFlagged(signal);
    // A client flagged on its own for hammering paths marks those paths as attacked.
    // (What the test reads is read on every signal, see onPrefix.)
    const attackReason = ATTACK_REASONS.has(signal.reason);
    const paths = signal.paths;
    const markedNewPaths =
      signal.score >= this.config.decisions.scoreForChallenge && attackReason && this.markAttacked(paths);
    let suspect: Suspect | null = null;
    if (signal.botShaped && !signal.humanLooking) {
      const aggregate = this.fingerprints.get(signal.fingerprint);
      if (aggregate?.suspect && this.now - aggregate.suspect.at <= this.config.windows.aggregateMs) {
        suspect = aggregate.suspect;
      } else {
        suspect = this.attackedPathsSuspect(signal);
        // Not suspect (yet): remember it, so it is judged if its fingerprint or paths turn suspect soon.
        if (suspect === null) {
          aggregate?.rememberBotShaped(signal, this.now - this.config.windows.aggregateMs);
          this.pendingBotShaped.push(signal);
        }
      }
    }
    this.decideClient(signal, suspect, sink, true);
    if (markedNewPaths) this.recheckPendingForAttackedPaths(sink);
  }

  /**
   * Guilt by content: a bot-shaped client in a burst whose every recent path is being hammered by
   * clients flagged on their own (repetition, cache-busting) is doing exactly what they do. This
   * catches a swarm's first short-lived addresses before its fingerprints have enough addresses
   * to be suspect.
   */
  private attackedPathsSuspect(signal: ClientSignal): Suspect | null {
    const cfg = this.config.attackedPaths;
    if (!cfg.enabled || signal.paths.length === 0 || signal.burstRequests < cfg.minBurstRequests) return null;
    let weakest = Number.POSITIVE_INFINITY;
    for (const path of signal.paths) {
      const entry = this.attacked.get(path);
      const flagged =
        entry === undefined
          ? 0
          : entry.flagged * decayFactor(this.now - entry.at, this.config.windows.aggregateMs);
      if (flagged < cfg.minFlaggedClients) return null;
      if (flagged < weakest) weakest = flagged;
    }
    return {
      reason: 'swarm',
      points: cfg.points,
      evidence: [
        { name: 'attackedPaths', value: signal.paths.length, threshold: undefined },
        { name: 'flaggedClientsPerPath', value: r3(weakest), threshold: cfg.minFlaggedClients },
        { name: 'burstRequests', value: r3(signal.burstRequests), threshold: cfg.minBurstRequests },
      ],
      at: this.now,
    };
  }

  /** Adds one flagged client to each path; returns whether some path became attacked by it. */
  private markAttacked(paths: number[]): boolean {
    const tau = this.config.windows.aggregateMs;
    const min = this.config.attackedPaths.minFlaggedClients;
    let crossed = false;
    for (const path of paths) {
      const entry = this.attacked.get(path);
      if (entry === undefined) {
        this.attacked.insert(path, () => ({ flagged: 1, at: this.now }));
        if (1 >= min) crossed = true;
      } else {
        const before = entry.flagged * decayFactor(this.now - entry.at, tau);
        entry.flagged = before + 1;
        entry.at = Math.max(entry.at, this.now);
        if (before < min && entry.flagged >= min) crossed = true;
      }
    }
    return crossed;
  }

  /** Bot-shaped clients seen before their paths were attacked are judged once they are. */
  private recheckPendingForAttackedPaths(sink: DeciderSink): void {
    if (this.pendingBotShaped.size === 0) return;
    const since = this.now - this.config.attackedPaths.pendingMs;
    // The ones still not suspect go back, in their order (never more than were taken).
    for (const pending of this.pendingBotShaped.take()) {
      if (pending.time < since) continue;
      const suspect = this.attackedPathsSuspect(pending);
      if (suspect === null) this.pendingBotShaped.push(pending);
      else this.decideClient(pending, suspect, sink, false);
    }
  }

  /**
   * The ip decision for a client signal: its own score, or guilt by fingerprint — a bot-shaped
   * address (pages, no assets, no referers) using a fingerprint that is suspect right now is part
   * of that swarm, even if its own volume is tiny.
   */
  private decideClient(
    signal: JudgedClient,
    suspect: Suspect | null,
    sink: DeciderSink,
    /** The caller found the address not allowlisted while handling the same input. */
    allowlistChecked: boolean,
  ): void {
    let action = this.actionFor(signal.score);
    let reason = signal.reason;
    let score = signal.score;
    let evidence = signal.signals;
    if (suspect !== null) {
      const fingerprintAction = this.actionFor(suspect.points);
      if (
        fingerprintAction !== null &&
        (action === null || actionStrength(fingerprintAction) > actionStrength(action))
      ) {
        action = fingerprintAction;
        reason = suspect.reason;
        score = suspect.points;
        if (suspect.addressEvidence?.length !== suspect.evidence.length) {
          suspect.addressEvidence = suspect.evidence.map((e) => ({
            ...e,
            name: fingerprintSignalName(e.name),
          }));
        }
        evidence = withFingerprintEvidence(signal.signals, suspect.addressEvidence);
      }
    }
    if (action === null) return;
    // Allowlists always win, whichever path led here (pending signals judged later included).
    if (!allowlistChecked && this.allowlist.has(signal.ip)) {
      this.stats.allowlistedSkipped++;
      return;
    }
    const published = this.decide(
      'ip',
      signal.ip,
      action,
      reason,
      evidence,
      score,
      signal.established ? 1 : 0,
      sink,
      signal.prefix,
    );
    if (published && signal.prefix !== null) {
      const prefix = this.prefixAggregate(signal.prefix);
      prefix.countReason(reason);
      this.evaluateRange(signal.prefix, prefix, sink);
    }
  }

  private onTick(tick: TrafficTick, sink: DeciderSink): void {
    this.stats.ticks++;
    const w = this.establishedActive.at(tick.time);
    this.establishedActive.values[0]! += w * tick.establishedClients;
    if (Array.isArray(tick.prefixes))
      for (const count of tick.prefixes) this.onPrefix(count, tick.time, sink);
  }

  private onPrefix(partial: PrefixCount, time: number, sink: DeciderSink): void {
    this.stats.prefixCounts++;
    // A known prefix by its slot (marked used, as a lookup does): reading its aggregate too was
    // two more memory accesses far apart, per count, over tens of thousands of prefixes.
    let slot = this.prefixSlots.get(partial.prefix);
    if (slot === undefined) slot = this.prefixAggregate(partial.prefix).slot;
    else this.prefixes.touch(slot);
    const pool = this.prefixPool;
    const o = slot * PX_STRIDE;
    const w = pooledDecayAt(pool, o + PX_TIME, P_SIZE, this.config.windows.aggregateMs, time);
    const c = o + PX_COUNTERS;
    pool[c + P_CLIENTS]! += w * partial.clients;
    pool[c + P_HUMANS]! += w * partial.humanClients;
    pool[c + P_ESTABLISHED]! += w * partial.establishedClients;
    pool[c + P_PROTECTED]! += w * partial.protectedClients;
    // Written on every count (unchanged when it has none): a first protected client late in a run
    // would otherwise deoptimise this function.
    const lastHuman = pool[o + PX_LAST_HUMAN]!;
    const lastProtected = pool[o + PX_LAST_PROTECTED]!;
    const humanAt = Math.max(lastHuman, time);
    const protectedAt = Math.max(lastProtected, time);
    pool[o + PX_LAST_HUMAN] = partial.humanClients > 0 ? humanAt : lastHuman;
    pool[o + PX_LAST_PROTECTED] = partial.protectedClients > 0 ? protectedAt : lastProtected;
    // A human-looking or protected client showed up: the range is no longer all bad. (Tested in
    // this order: most counts have neither, and probing the active decisions for every count was
    // 60 % of this function's time.)
    if (!(partial.humanClients > 0 || partial.protectedClients > 0)) return;
    const current = this.activeRanges.get(partial.prefix);
    if (current !== undefined) {
      this.remove(current, this.now, sink);
      this.stats.decisionsLifted++;
    }
  }

  /**
   * An address flagged on its own counts once in its fingerprint's flagged addresses (see the
   * `flagged` rule). The partials' decayed count of flagged clients cannot say how many there are:
   * a client is counted again every window, and one flagged for minutes read ~1.58.
   */
  private noteFlagged(signal: ClientSignal): void {
    if (!this.config.fingerprint.enabled) return;
    const minFlagged = this.config.fingerprint.flagged.minFlagged;
    const capacity = Math.min(MAX_FLAGGED_ADDRESSES, Math.max(8, Math.ceil(minFlagged)));
    this.fingerprintAggregate(signal.fingerprint).noteFlagged(signal.ip, signal.time, capacity);
  }

  /** The aggregate of a fingerprint, inserted when new. */
  private fingerprintAggregate(fingerprint: string): FingerprintAggregate {
    let aggregate = this.fingerprints.get(fingerprint);
    if (aggregate === undefined) {
      aggregate = new FingerprintAggregate(
        this.config.windows.aggregateMs,
        this.config.bounds.pathsPerFingerprint,
        this.config.fingerprint.pendingAddresses,
      );
      this.fingerprints.insert(fingerprint, () => aggregate!);
    }
    return aggregate;
  }

  private onFingerprint(partial: FingerprintPartial, sink: DeciderSink): void {
    this.stats.fingerprintPartials++;
    if (!this.config.fingerprint.enabled) return;
    const aggregate = this.fingerprintAggregate(partial.fingerprint);
    if (aggregate.userAgent === null) aggregate.userAgent = partial.userAgent;
    if (partial.declaredCrawler === true) aggregate.declaredCrawler = true;
    const c = aggregate.counters;
    const w = c.at(partial.time);
    const v = c.values;
    v[F_REQUESTS]! += w * partial.requests;
    v[F_PAGES]! += w * partial.pages;
    v[F_ASSETS]! += w * partial.assets;
    v[F_REPEATS]! += w * partial.repeats;
    v[F_PATH_REPEATS]! +=
      w * (typeof partial.pathRepeats === 'number' ? partial.pathRepeats : partial.repeats);
    v[F_BUSTS]! += w * partial.busts;
    v[F_LOGIN_POSTS]! += w * partial.loginPosts;
    v[F_AUTH_FAILURES]! += w * partial.authFailures;
    v[F_SENSITIVE]! += w * partial.sensitiveHits;
    v[F_ERRORS]! += w * partial.errors;
    v[F_CLIENTS]! += w * partial.clients;
    v[F_HUMANS]! += w * partial.humanClients;
    v[F_ESTABLISHED]! += w * partial.establishedClients;
    v[F_FLAGGED]! += w * partial.flaggedClients;
    const window = this.config.windows.aggregateMs;
    for (const hash of partial.paths) aggregate.addPath(hash, partial.time, window);
    if (partial.pathsOverflow) aggregate.pathsOverflowAt = Math.max(aggregate.pathsOverflowAt, partial.time);
    this.evaluateFingerprint(partial.fingerprint, aggregate, sink);
  }

  /**
   * Cross-address rules on a fingerprint's aggregate. A swarm keeping each address under any
   * per-address limit still shows as one fingerprint with many clients, few paths, no assets,
   * busting or failing logins: the fingerprint becomes SUSPECT. What follows depends on who else
   * shares it:
   * - mostly bots (human-looking share ≤ `maxSuspectHumanShare`): each of its addresses that is
   *   itself bot-shaped (pages, no assets, no referers) gets an ip decision at once (see onClient);
   * - and when humans are a tiny share (≤ `maxHumanShare`, none established), a fingerprint
   *   decision covers new addresses from their first request: `block` when its clients send too
   *   few requests each for address decisions to work (credential stuffing from thousands of
   *   addresses, 1–3 requests each), otherwise `sharedAction` (throttle): browser fingerprints are
   *   shared by real people we have not seen yet, and address decisions do the rest.
   */
  private evaluateFingerprint(fingerprint: string, aggregate: FingerprintAggregate, sink: DeciderSink): void {
    const cfg = this.config.fingerprint;
    const v = aggregate.counters.values;
    const clients = v[F_CLIENTS]!;
    const humans = v[F_HUMANS]!;
    const established = v[F_ESTABLISHED]!;
    const requests = v[F_REQUESTS]!;
    aggregate.suspect = null;
    const humanShare = clients > 0 ? humans / clients : 1;
    const current = this.activeFingerprints.get(fingerprint);
    // Decayed (for the share of its clients, counted the same way) and distinct addresses (for
    // how many: one address is one).
    const flagged = v[F_FLAGGED]!;
    const flaggedAddresses = aggregate.flaggedAddresses(this.now - this.config.windows.aggregateMs);
    const enoughClients = clients >= cfg.minClients || flaggedAddresses >= cfg.flagged.minFlagged;
    if (!enoughClients || requests <= 0 || humanShare > cfg.maxSuspectHumanShare) {
      if (current !== undefined && humanShare > cfg.maxSuspectHumanShare) {
        // Real people share it after all: lift.
        this.remove(current, this.now, sink);
        this.stats.decisionsLifted++;
      }
      return;
    }
    const perClient = requests / clients;
    const assetShare = v[F_ASSETS]! / requests;
    // Path-level: a swarm hammers few paths, with or without busting query strings.
    const repetition = v[F_PATH_REPEATS]! / requests;
    const bustRatio = v[F_BUSTS]! / requests;
    const failures = v[F_AUTH_FAILURES]!;
    const sensitive = v[F_SENSITIVE]!;
    const distinctPaths = aggregate.distinctPaths(this.now, this.config.windows.aggregateMs);

    let reason = '';
    let points = 0;
    const evidence: Signal[] = [];
    if (clients < cfg.minClients) {
      // Few addresses yet: only the addresses' own verdicts can make it suspect (below).
    } else if (
      failures >= cfg.credentialStuffing.minFailures &&
      failures >= cfg.credentialStuffing.minFailureShare * requests
    ) {
      reason = 'credential-stuffing';
      points = cfg.credentialStuffing.points;
      evidence.push({
        name: 'authFailures',
        value: r3(failures),
        threshold: cfg.credentialStuffing.minFailures,
      });
    } else if (sensitive >= cfg.scanner.minHits && sensitive >= cfg.scanner.minShare * requests) {
      reason = 'scanner';
      points = cfg.scanner.points;
      evidence.push({ name: 'sensitiveHits', value: r3(sensitive), threshold: cfg.scanner.minHits });
    } else if (bustRatio >= cfg.cacheBust.minRatio && perClient >= cfg.cacheBust.minRequestsPerClient) {
      reason = 'cache-bust';
      points = cfg.cacheBust.points;
      evidence.push({ name: 'cacheBustRatio', value: r3(bustRatio), threshold: cfg.cacheBust.minRatio });
      evidence.push({
        name: 'requestsPerClient',
        value: r3(perClient),
        threshold: cfg.cacheBust.minRequestsPerClient,
      });
    } else if (
      perClient >= cfg.swarm.minRequestsPerClient &&
      assetShare <= cfg.swarm.maxAssetShare &&
      distinctPaths <= cfg.swarm.maxDistinctPaths &&
      repetition >= cfg.swarm.minRepetition
    ) {
      reason = 'swarm';
      points = cfg.swarm.points;
      evidence.push({ name: 'distinctPaths', value: distinctPaths, threshold: cfg.swarm.maxDistinctPaths });
      evidence.push({
        name: 'requestsPerClient',
        value: r3(perClient),
        threshold: cfg.swarm.minRequestsPerClient,
      });
      evidence.push({
        name: 'pathRepetitionRatio',
        value: r3(repetition),
        threshold: cfg.swarm.minRepetition,
      });
      evidence.push({ name: 'assetShare', value: r3(assetShare), threshold: cfg.swarm.maxAssetShare });
    }
    // Not for a UA that declares a crawler: impostors flagged for their own volume are decided on
    // their own, and say nothing of a slow claimant (a real crawler from a range not published
    // yet shares the UA by definition). What the claimants do together still counts (above).
    if (
      points === 0 &&
      !aggregate.declaredCrawler &&
      flaggedAddresses >= cfg.flagged.minFlagged &&
      flagged >= cfg.flagged.minShare * clients
    ) {
      reason = 'swarm';
      points = cfg.flagged.points;
      evidence.push({ name: 'flaggedClients', value: flaggedAddresses, threshold: cfg.flagged.minFlagged });
      evidence.push({
        name: 'flaggedShare',
        value: r3(Math.min(1, flagged / clients)),
        threshold: cfg.flagged.minShare,
      });
    }
    const ruleAction = points > 0 ? this.actionFor(points) : null;
    if (ruleAction === null) return;
    evidence.push({ name: 'clients', value: r3(clients), threshold: cfg.minClients });
    evidence.push({ name: 'humanShare', value: r3(humanShare), threshold: cfg.maxHumanShare });
    aggregate.suspect = { reason, points, evidence, at: this.now };
    // Addresses that showed the bot shape before the fingerprint turned suspect are judged now.
    for (const pending of aggregate.takePending(this.now - this.config.windows.aggregateMs)) {
      if (!this.allowlist.has(pending.ip)) this.decideClient(pending, aggregate.suspect, sink, true);
    }
    // A fingerprint whose UA declares a crawler is never decided as a whole: the genuine crawler
    // shares it (it is allowlisted, but an edge may enforce before knowing its ranges). Its
    // unverified claimants are judged per address (guilt by fingerprint above).
    if (aggregate.declaredCrawler) return;

    // Schmitt-trigger thresholds: an active decision is undone only once a value that made it is
    // past its threshold by `hysteresisShare` of it, so a value hovering at the threshold does not
    // lift and re-make it (or weaken and strengthen it) partial after partial.
    const band = cfg.hysteresisShare;
    const shared = this.sharedAction();
    if (humanShare > cfg.maxHumanShare || established >= PRESENT || clients < cfg.minClients) {
      if (
        current !== undefined &&
        actionStrength(current.action) > actionStrength(shared) &&
        (humanShare > cfg.maxHumanShare * (1 + band) ||
          established >= PRESENT ||
          clients < cfg.minClients * (1 - band))
      ) {
        this.remove(current, this.now, sink);
        this.stats.decisionsLifted++;
      }
      return;
    }
    // A decision made for few requests per client keeps the rule's action until clients send
    // clearly enough for address decisions; one made for enough keeps `sharedAction` until clearly
    // fewer.
    let minRequests = cfg.minRequestsForAddressDecisions;
    if (current !== undefined)
      minRequests *= actionStrength(current.ruleAction) > actionStrength(shared) ? 1 + band : 1 - band;
    const action = perClient < minRequests ? ruleAction : shared;
    if (current !== undefined && actionStrength(current.ruleAction) > actionStrength(action)) {
      // The rules ask for less than they made it for (clients send enough requests each for
      // address decisions): replace. An escalated decision is compared by what it was made for.
      this.remove(current, this.now, sink);
    }
    // Its own name: the rule's evidence may hold requestsPerClient already (cache-bust, swarm),
    // against the rule's threshold; this one says which action the decision took (sharedAction
    // at or above it, the rule's below).
    evidence.push({
      name: 'requestsPerClientForSharedAction',
      value: r3(perClient),
      threshold: cfg.minRequestsForAddressDecisions,
    });
    this.decide('fingerprint', fingerprint, action, reason, evidence, points, 0, sink);
  }

  private sharedAction(): Action {
    const value = this.config.fingerprint.sharedAction;
    return value === 'block' || value === 'challenge' ? value : 'throttle';
  }

  /**
   * Range aggregation: many addresses of one prefix with active decisions, a large share of the
   * prefix's active addresses, and no human-looking, protected or allowlisted address in it.
   */
  private evaluateRange(prefixText: string, prefix: PrefixAggregate, sink: DeciderSink): void {
    const cfg = this.config.range;
    if (!cfg.enabled || prefix.badAddresses < cfg.minBadAddresses) return;
    const pool = this.prefixPool;
    const o = prefix.slot * PX_STRIDE;
    const tau = this.config.windows.aggregateMs;
    const now = this.now;
    const clients = pooledRead(pool, o + PX_TIME, P_CLIENTS, tau, now);
    const memory = this.config.windows.longMs;
    if (
      pooledRead(pool, o + PX_TIME, P_HUMANS, tau, now) >= PRESENT ||
      pooledRead(pool, o + PX_TIME, P_PROTECTED, tau, now) >= PRESENT ||
      now - pool[o + PX_LAST_HUMAN]! < memory ||
      now - pool[o + PX_LAST_PROTECTED]! < memory ||
      this.allowlist.touchesRange(prefixText)
    ) {
      return;
    }
    const share = prefix.badAddresses / Math.max(clients, prefix.badAddresses);
    if (share < cfg.minBadShare) return;
    let reason = prefix.reason ?? 'range';
    let best = prefix.reasonCount;
    const more = prefix.moreReasons ?? [];
    for (let i = 0; i < more.length; i += 2) {
      const count = more[i + 1] as number;
      if (count > best) {
        best = count;
        reason = more[i] as string;
      }
    }
    const evidence: Signal[] = [
      { name: 'badAddresses', value: prefix.badAddresses, threshold: cfg.minBadAddresses },
      { name: 'badShare', value: r3(share), threshold: cfg.minBadShare },
      { name: 'activeAddresses', value: r3(clients), threshold: undefined },
    ];
    const cap = rangeMaxAction(this.config);
    this.decide(
      'range',
      prefixText,
      cap,
      reason,
      evidence,
      r3(share),
      Math.round(pooledRead(pool, o + PX_TIME, P_ESTABLISHED, tau, now)),
      sink,
    );
  }

  private actionFor(score: number): Action | null {
    const d = this.config.decisions;
    if (score >= d.scoreForBlock) return 'block';
    if (score >= d.scoreForChallenge) return 'challenge';
    if (score >= d.scoreForThrottle) return 'throttle';
    return null;
  }

  private baseDuration(action: Action): number {
    const d = this.config.decisions;
    return action === 'block' ? d.blockMs : action === 'challenge' ? d.challengeMs : d.throttleMs;
  }

  /**
   * Publishes (or upgrades, or extends) the decision on `scope:value`. Returns whether something
   * was published. New coverage passes the blast-radius guard first.
   */
  private decide(
    scope: DecisionScope,
    value: string,
    ruleAction: Action,
    reason: string,
    signals: Signal[],
    score: number,
    coveredEstablished: number,
    sink: DeciderSink,
    /**
     * An ip decision's range: the signal's prefix, which is `prefixOf(value)` (the profiler
     * computes it with the same function), so a new decision counts in it without computing the
     * range again (in `remove` it is).
     */
    prefix: string | null = null,
  ): boolean {
    // Allowlists always win (an ip decision's address was checked by `decideClient`, its only way here).
    if (scope === 'range' && this.allowlist.touchesRange(value)) {
      this.stats.allowlistedSkipped++;
      return false;
    }
    const now = this.now;
    const decisions = this.activeIn(scope);
    const current = decisions.get(value);
    if (current !== undefined && coveredEstablished > current.coveredEstablished) {
      // An active decision now covers more established benign clients than when it was made.
      const delta = coveredEstablished - current.coveredEstablished;
      if (!this.guardAllows(delta, current.key, sink)) {
        if (decisions.get(value) === current) {
          this.remove(current, now, sink);
          this.stats.decisionsLifted++;
        }
        return false;
      }
      current.coveredEstablished = coveredEstablished;
      this.coveringEstablished += delta;
    }
    let action: Action;
    let expiresAt: number;
    let durationMs: number;
    let isNew = false;
    let offences = 0;
    /** A new decision on a key whose last one was lifted before it expired (see below). */
    let resumed = false;
    let key: string;
    if (current !== undefined) {
      key = current.key;
      const old = current;
      if (actionStrength(ruleAction) > actionStrength(old.action)) {
        action = ruleAction;
        durationMs = Math.max(current.durationMs, this.baseDuration(action));
        expiresAt = Math.max(old.expiresAt, now + durationMs);
      } else if (old.expiresAt - now < this.config.decisions.extendWhenRemainingShare * current.durationMs) {
        action = old.action;
        durationMs = current.durationMs;
        expiresAt = now + durationMs;
      } else if (Math.min(this.inputTime, now) < old.decidedAt) {
        // Earlier evidence arrived late (inputs are out of order): date the decision by it.
        action = old.action;
        durationMs = current.durationMs;
        expiresAt = old.expiresAt;
      } else {
        return false;
      }
    } else {
      isNew = true;
      key = `${scope === 'fingerprint' ? 'fp' : scope}:${value}`;
      const space = historySpace(scope);
      offences = this.history.offences(value, now, space);
      // Lifted before it expired (real people seen, the rules asking for less, the guard) and made
      // again before it would have: the same offence going on, not a repeat. It takes the step it
      // had; counting it again escalated a decision every time a value crossed a threshold.
      resumed = offences > 0 && now < this.history.until(value, space);
      const repeats = resumed ? offences - 1 : offences;
      const step = Math.min(LADDER.length - 1, LADDER.indexOf(ruleAction) + repeats);
      action = LADDER[step]!;
      const d = this.config.decisions;
      durationMs = Math.min(d.maxDurationMs, this.baseDuration(action) * d.escalationFactor ** repeats);
      expiresAt = now + durationMs;
      if (this.activeCount() >= this.config.bounds.maxDecisions) {
        this.stats.decisionsDropped++;
        return false;
      }
    }

    if (isNew && !this.guardAllows(coveredEstablished, key, sink)) return false;

    const decidedAt = Math.min(this.inputTime, now);
    const decision: Decision = {
      key,
      scope,
      value,
      action,
      reason,
      signals,
      score,
      decidedAt,
      expiresAt,
      origin: 'auto',
      version: autoVersion(current?.version, decidedAt),
    };
    const covering = current !== undefined ? current.coveredEstablished : coveredEstablished;
    const active = new ActiveDecision(
      key,
      scope,
      value,
      action,
      current !== undefined && actionStrength(current.ruleAction) > actionStrength(ruleAction)
        ? current.ruleAction
        : ruleAction,
      reason,
      score,
      decision.decidedAt,
      expiresAt,
      decision.version,
      durationMs,
      covering,
      current !== undefined ? current.since : ++this.activations,
    );
    decisions.set(value, active);
    if (isNew) this.coveringEstablished += covering;
    this.expiries.push(expiresAt, active, decision.version);
    this.expiries.compactIfStale(
      this.activeCount(),
      (d, version) => this.activeIn(d.scope).get(d.value)?.version === version,
    );
    if (isNew && !resumed) this.history.add(value, now, offences, historySpace(scope), expiresAt);
    // Made again or extended: the offence goes on until the decision's new expiry, so a lift
    // before then and a remake are still this offence, not a repeat that escalates.
    else if (current === undefined || expiresAt !== current.expiresAt) {
      this.history.resume(value, now, expiresAt, historySpace(scope));
    }
    if (isNew) {
      if (scope === 'ip' && prefix !== null && this.config.range.enabled) {
        this.prefixAggregate(prefix).badAddresses++;
      }
    }
    this.stats.decisionsPublished++;
    sink.decision(key, decision, now);
    return true;
  }

  /**
   * The blast-radius guard. It trips when active decisions would cover more ESTABLISHED benign
   * clients (human-looking, active for ≥ `windows.establishedAfterMs`) than `maxEstablishedShare`
   * of those active, and at least `minEstablishedClients`. New bot addresses never count, however
   * many: a residential swarm may outnumber the humans and must still be blocked. Established
   * clients count even when a rule flagged them with evidence of their own: a mis-tuned rule that
   * suddenly flags many real people is exactly what the guard is for. Once tripped, decisions
   * covering established clients are retracted and no new decision covering one is published
   * until `holdMs` has passed; the others are (so whoever can trip the guard with a few
   * established-looking clients holds only decisions on such clients, never all blocking); an
   * alert says why.
   */
  private guardAllows(delta: number, key: string, sink: DeciderSink): boolean {
    const cfg = this.config.guard;
    if (!cfg.enabled) return true;
    const now = this.now;
    if (now < this.heldUntil) {
      // Held: what would cover established clients (for a new decision `delta` is all it covers).
      // The rest goes on: a hold that stopped every decision would let whoever can trip the guard
      // (a few established-looking clients) switch off blocking for everyone.
      if (delta > 0) this.hold(key);
      return delta <= 0;
    }
    if (delta <= 0) return true;
    const total = this.coveringEstablished + delta;
    const active = this.establishedActive.read(0, now);
    const threshold = Math.max(cfg.minEstablishedClients, cfg.maxEstablishedShare * active);
    if (total < threshold) return true;
    this.stats.guardTrips++;
    this.heldUntil = now + cfg.holdMs;
    this.heldCount = 0;
    this.heldSample = [];
    this.hold(key);
    for (const decision of this.activeInOrder()) {
      if (decision.coveredEstablished > 0) {
        this.remove(decision, now, sink);
        this.stats.decisionsLifted++;
      }
    }
    sink.alert({
      kind: 'blast-radius',
      time: now,
      state: 'tripped',
      message:
        `automatic decisions held until ${new Date(this.heldUntil).toISOString()}: decisions would cover ` +
        `${Math.round(total)} established benign clients (threshold ${Math.round(threshold)} of ` +
        `${Math.round(active)} active); those decisions were retracted; check the detection config`,
      coveredEstablished: Math.round(total),
      activeEstablished: Math.round(active),
      threshold: Math.round(threshold),
      heldUntil: this.heldUntil,
      held: this.heldCount,
      sampleKeys: [...this.heldSample],
    });
    return false;
  }

  private hold(key: string): void {
    this.heldCount++;
    this.stats.decisionsHeld++;
    if (this.heldSample.length < 10) this.heldSample.push(key);
  }

  private release(sink: DeciderSink): void {
    sink.alert({
      kind: 'blast-radius',
      time: this.now,
      state: 'released',
      message: `automatic decisions resumed; ${this.heldCount} were held`,
      coveredEstablished: 0,
      activeEstablished: Math.round(this.establishedActive.read(0, this.now)),
      threshold: 0,
      heldUntil: this.heldUntil,
      held: this.heldCount,
      sampleKeys: [...this.heldSample],
    });
    this.heldUntil = Number.NEGATIVE_INFINITY;
  }

  /**
   * Lifts or expires a decision with a tombstone dated `time`, never before the decision's
   * `decidedAt`, naming the decision's version: the decision store and edges keep a decision of a
   * higher version, and, for a tombstone of an older build without one, a decision decided after
   * the tombstone's time (`survivesTombstone`, packages/schema; packages/pipeline test
   * tombstone-times).
   */
  private remove(current: ActiveDecision, time: number, sink: DeciderSink): void {
    this.activeIn(current.scope).delete(current.value);
    this.coveringEstablished -= current.coveredEstablished;
    if (current.scope === 'ip') {
      const prefix = this.prefixOfIpDecision(current.value);
      if (prefix !== null && prefix.badAddresses > 0) prefix.badAddresses--;
    }
    sink.decision(current.key, null, time, current.version);
  }

  /**
   * The prefix aggregate of `prefix`, inserting it when new. A published ip decision asks twice for
   * the same prefix (its range count in `decide`, its reason in `decideClient`), so the last answer
   * is remembered: until the next insert it is still in the table with its referenced bit set (only
   * an insert's sweep clears bits or evicts), so answering from it is what the table would answer.
   */
  private prefixAggregate(prefix: string): PrefixAggregate {
    if (prefix === this.lastPrefixText) return this.lastPrefix!;
    let aggregate = this.prefixes.get(prefix);
    if (aggregate === undefined) {
      aggregate = this.prefixes.insert(prefix, (slot) => {
        this.prefixPool = poolWithSlot(this.prefixPool, slot, PX_STRIDE, this.prefixes.capacity);
        return new PrefixAggregate(slot);
      });
      const o = aggregate.slot * PX_STRIDE;
      this.prefixPool.fill(0, o, o + PX_STRIDE);
      this.prefixPool[o + PX_TIME] = Number.NEGATIVE_INFINITY;
      this.prefixPool[o + PX_LAST_HUMAN] = Number.NEGATIVE_INFINITY;
      this.prefixPool[o + PX_LAST_PROTECTED] = Number.NEGATIVE_INFINITY;
    }
    this.lastPrefixText = prefix;
    this.lastPrefix = aggregate;
    return aggregate;
  }

  /** The prefix aggregate an ip decision counts in. */
  private prefixOfIpDecision(ip: string): PrefixAggregate | null {
    const prefix = this.prefixOf(ip);
    return prefix === null ? null : this.prefixAggregate(prefix);
  }
}

/** The decision history's space of a scope's values. */
function historySpace(scope: DecisionScope): number {
  return scope === 'ip' ? 0 : scope === 'range' ? 1 : 2;
}

function r3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * Whether a value has the shape of a decider input: the fields each kind's handler reads, with
 * their types. Inputs arrive as JSON from other processes; one with a missing or mistyped field
 * would throw inside a handler after the clock had already moved.
 *
 * Every input passes here (a tick with hundreds of prefix counts), so each field is read by name
 * at its own site rather than by looping over a list of names: a load by a varying name is a
 * generic lookup, and those were most of this check's time.
 */
function isInput(value: unknown): value is DeciderInput {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  if (!isNumber(v.time)) return false;
  switch (v.kind) {
    case 'client':
      return (
        isText(v.ip) &&
        (v.prefix === null || isText(v.prefix)) &&
        isText(v.fingerprint) &&
        isText(v.reason) &&
        isNumber(v.score) &&
        isNumber(v.burstRequests) &&
        isNumber(v.firstSeen) &&
        isNumber(v.requests) &&
        typeof v.humanLooking === 'boolean' &&
        typeof v.botShaped === 'boolean' &&
        typeof v.established === 'boolean' &&
        isNumberList(v.paths) &&
        isSignalList(v.signals)
      );
    case 'fingerprint':
      // (`pathRepeats` may be absent: partials written before it existed count `repeats` instead.)
      return (
        isText(v.fingerprint) &&
        isNumber(v.requests) &&
        isNumber(v.pages) &&
        isNumber(v.assets) &&
        isNumber(v.repeats) &&
        isNumber(v.busts) &&
        isNumber(v.loginPosts) &&
        isNumber(v.authFailures) &&
        isNumber(v.sensitiveHits) &&
        isNumber(v.errors) &&
        isNumber(v.clients) &&
        isNumber(v.humanClients) &&
        isNumber(v.establishedClients) &&
        isNumber(v.flaggedClients) &&
        isNumberList(v.paths) &&
        typeof v.pathsOverflow === 'boolean' &&
        typeof v.declaredCrawler === 'boolean' &&
        (v.userAgent === null || isText(v.userAgent))
      );
    case 'tick':
      return (
        isNumber(v.partition) &&
        isNumber(v.requests) &&
        isNumber(v.late) &&
        isNumber(v.clients) &&
        isNumber(v.establishedClients) &&
        isPrefixCountList(v.prefixes)
      );
    default:
      return false;
  }
}

/** What a rejected input was, for its dead letter: its kind and time, or its type. */
function describeInput(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value).slice(0, 40);
  const { kind, time } = value as { kind?: unknown; time?: unknown };
  return `kind ${JSON.stringify(kind) ?? 'missing'}, time ${JSON.stringify(time) ?? 'missing'} (a field missing or of the wrong type)`;
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isText(value: unknown): value is string {
  return typeof value === 'string';
}

function isNumberList(value: unknown): value is number[] {
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) if (!isNumber(value[i])) return false;
  return true;
}

function isSignalList(value: unknown): value is Signal[] {
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) {
    const g: unknown = value[i];
    if (g === null || typeof g !== 'object' || !isText((g as Signal).name)) return false;
  }
  return true;
}

function isPrefixCountList(value: unknown): value is PrefixCount[] {
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) {
    const p: unknown = value[i];
    if (p === null || typeof p !== 'object') return false;
    const c = p as Record<string, unknown>;
    if (
      !isText(c.prefix) ||
      !isNumber(c.clients) ||
      !isNumber(c.humanClients) ||
      !isNumber(c.establishedClients) ||
      !isNumber(c.protectedClients)
    ) {
      return false;
    }
  }
  return true;
}
