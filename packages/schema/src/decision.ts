/**
 * Decisions and cache policies: what edgeguard publishes to the edge. Times are event time
 * (epoch ms) so that a replay yields exactly what the live system would have published.
 */

/** Strongest first: the order used when several decisions cover one request. */
export const ACTIONS = ['block', 'challenge', 'throttle'] as const;
export type Action = (typeof ACTIONS)[number];
/** A verdict is an action, or `allow` when nothing covers the client. */
export type Verdict = Action | 'allow';

/** Higher is stronger; `allow` is 0. */
export function actionStrength(verdict: Verdict): number {
  switch (verdict) {
    case 'block':
      return 3;
    case 'challenge':
      return 2;
    case 'throttle':
      return 1;
    default:
      return 0;
  }
}

/**
 * What a decision covers: one address, a prefix (IPv4 /24 or IPv6 /64 by default), or a client
 * fingerprint (see packages/fingerprint for what goes into one).
 */
export type DecisionScope = 'ip' | 'range' | 'fingerprint';
export type DecisionOrigin = 'auto' | 'manual';

/** One named piece of evidence: a signal and the value it had when the decision was made. */
export interface Signal {
  name: string;
  value: number;
  /** The threshold the value crossed, when the signal is a rule. */
  threshold?: number;
}

/**
 * Whether `signal` is `{ name, value }` or `{ name, value, threshold }`, in that key order, with a
 * text and numbers (not NaN, which JSON writes as null): its name, value and threshold then say all
 * its JSON and Avro hold, so a copy rebuilt from them, or another such signal with equal fields,
 * serialises the same. A `threshold` key holding undefined counts as absent (JSON drops it, the
 * Avro encoders write null): the detectors give every signal the key, for one object shape.
 */
export function isPlainSignal(signal: Signal): boolean {
  if (typeof signal.name !== 'string' || typeof signal.value !== 'number' || Number.isNaN(signal.value)) {
    return false;
  }
  const keys = Object.keys(signal);
  if (keys.length === 2) return keys[0] === 'name' && keys[1] === 'value';
  return (
    keys.length === 3 &&
    keys[0] === 'name' &&
    keys[1] === 'value' &&
    keys[2] === 'threshold' &&
    (signal.threshold === undefined ||
      (typeof signal.threshold === 'number' && !Number.isNaN(signal.threshold)))
  );
}

export interface Decision {
  /** `ip:<addr>`, `range:<cidr>` or `fp:<fingerprint>`; the key on the compacted topic. */
  key: string;
  scope: DecisionScope;
  /** The address, CIDR or fingerprint, without the scope prefix. */
  value: string;
  action: Action;
  /** Short machine-readable reason, e.g. `repetition`, `cache-bust`, `scanner`, `swarm`. */
  reason: string;
  signals: Signal[];
  score: number;
  /** Event time the decision was made, epoch ms. */
  decidedAt: number;
  /** Event time it stops applying, epoch ms. */
  expiresAt: number;
  origin: DecisionOrigin;
  /** Monotonic per key: a later version replaces an earlier one. */
  version: number;
}

/**
 * Why the decision held for a key outlives a decider's tombstone (an automatic deletion made at
 * event time `tombstoneTime`), or null when the tombstone removes it.
 *
 * A tombstone that names the version of the decision it deletes (`tombstoneVersion`: the
 * `eg-version` header, on the decider's tombstones and the store writer's copies of deletions)
 * removes a held decision of that version or below, and only those: a higher one was decided
 * after what the tombstone deletes (a new owner's decision beaten by an old owner's late
 * tombstone, an operator's decision), `manual` or `newer` by its origin.
 *
 * Without a version (tombstones of older builds):
 * - `manual`: an operator's unexpired decision holds the key (manual beats automatic);
 * - `newer`: the held decision was decided after the tombstone was made, so the tombstone is not
 *   about it. The decider only removes a decision at or after the time it made it (expiry, a lift,
 *   the blast-radius guard), so such a tombstone comes from the decider's past: a partition
 *   rewound to its checkpoint (a failed batch, a crash, a rebalance) produces its old records
 *   again after the newer ones were applied, and an instance that lost its partition may still be
 *   producing for a moment. Applied, it would drop a live block until the decision came again.
 * Equal times delete: the decider never makes and removes one key's decision at the same moment
 * out of order.
 *
 * `copy`: the tombstone is the store writer's deletion produced again after a copy it refused
 * (`eg-copy`). It removes the version it names only: it follows a copy of a decision deleted
 * before, so a lower version held now was decided after that deletion — the decider's decision
 * after an operator's delete (automatic versions are ten times below manual ones), or after a
 * lift (late evidence numbers it below the lifted one) — and stays.
 */
export function survivesTombstone(
  held: Pick<Decision, 'origin' | 'decidedAt' | 'expiresAt' | 'version'> | null | undefined,
  tombstoneTime: number,
  now: number,
  tombstoneVersion?: number,
  copy = false,
): 'manual' | 'newer' | null {
  if (held === null || held === undefined || held.expiresAt <= now) return null;
  if (tombstoneVersion !== undefined) {
    if (copy ? held.version === tombstoneVersion : !(held.version > tombstoneVersion)) return null;
    return held.origin === 'manual' ? 'manual' : 'newer';
  }
  if (held.origin === 'manual') return 'manual';
  return held.decidedAt > tombstoneTime ? 'newer' : null;
}

/**
 * The version a tombstone names (its `eg-version` header text), or undefined when it names none
 * or the text is not a positive whole number (then the tombstone follows the unversioned rule).
 */
export function tombstoneVersionOf(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,16}$/.test(text)) return undefined;
  const version = Number(text);
  return Number.isSafeInteger(version) && version > 0 ? version : undefined;
}

/** How a cache builds its key for a matched path's query string. */
export type CacheKeyRule =
  | { kind: 'keep' }
  | { kind: 'drop' }
  | { kind: 'sort' }
  | { kind: 'allow'; params: string[] };

export interface CachePolicy {
  /** Stable identity of the policy: `host + pathPattern`. */
  key: string;
  match: { host: string | null; pathPattern: string };
  ttlSeconds: number | null;
  staleWhileRevalidateSeconds: number | null;
  staleIfErrorSeconds: number | null;
  maxStaleSeconds: number | null;
  collapse: boolean | null;
  cacheKey: CacheKeyRule | null;
  reason: string;
  signals: Signal[];
  decidedAt: number;
  expiresAt: number;
  version: number;
}
