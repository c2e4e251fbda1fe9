import type { Change, DecisionStore } from '@edgeguard/decisions';
import { ACTIONS, type Action } from '@edgeguard/schema';
import type { Logger } from '@edgeguard/telemetry';
import type { Cluster, Redis } from 'ioredis';
import { Follower } from './follower.js';
import type { apiKeys } from './keys.js';

/**
 * Tombstones of deleted decisions, for the CrowdSec stream's full sets.
 *
 * Why: a bouncer pulling `/v1/decisions/stream` without `startup=true` whose cursor the change log
 * can no longer serve (trimmed, store rebuilt, too many changes) gets the full active set, which
 * cannot say what it should drop. CrowdSec itself never has this gap: a deleted decision is a row
 * whose `until` is set to now (crowdsecurity/crowdsec pkg/database/decisions.go,
 * SoftDeleteDecisionsWithFilter), and a pull's `deleted` are the rows whose `until` fell since the
 * bouncer's LastPull (QueryExpiredDecisionsSinceWithFilters, 2 s overlap) — all expired rows on
 * startup — until the database flush removes them. And a bouncer may never drop a decision by
 * itself: Debian's crowdsec-custom-bouncer keeps no decisions, it runs its script with `add <value>
 * <seconds>` and runs `del` only for a deletion it is sent (crowdsecurity/cs-custom-bouncer
 * cmd/root.go, pkg/custom/custom.go), so a script that does not expire entries by the duration it
 * was given blocks forever what it was never told to delete.
 *
 * What: every process follows the store's change log (from a cursor kept in Redis, so deletions
 * made while no API ran are recorded on start as long as the log still holds them) and records
 * each `del` as the decision key and the deleted action → the deletion's version, and each `add`
 * that replaced a decision of another action as the key and the replaced action (a CrowdSec
 * bouncer holds decisions by value and type: it must be told to drop the old type). Bounded in count (oldest first) and in
 * age. `floor` is the highest version whose deletion may be missing (trimmed by a bound, or never
 * recorded: the recorder's first start, a log trimmed past its cursor, a rebuilt store): a cursor
 * at or above it gets every deletion since, one below it may miss those up to `floor`.
 */

export interface TombstoneOptions {
  /** Tombstones kept at most (the oldest go first). */
  maxCount: number;
  /** Tombstones older than this (recorded time) are dropped. */
  maxAgeMs: number;
}

export const DEFAULT_TOMBSTONES: TombstoneOptions = {
  // ~100 bytes of Redis per tombstone (two sorted-set entries): some 20 MB at most.
  maxCount: 200_000,
  // The decider's longest automatic decision (decisions.maxDurationMs, 24 h by default): a bouncer
  // that honours the durations it is sent has dropped by then what was sent before the deletion.
  maxAgeMs: 86_400_000,
};

export interface TombstoneState {
  /** The change-log version through which deletions are recorded (0: never recorded). */
  cursor: number;
  /** Deletions with a version up to this may be missing. */
  floor: number;
}

/**
 * KEYS[1] tombstones (version-scored), [2] tombstone times, [3] state. ARGV[1] now (ms), [2] max
 * age (ms), [3] max count, [4] cursor reached, [5] a gap floor or '', then pairs of version, key.
 * Versions are below 2^53 (microsecond-seeded), exact as Lua numbers; written with %d.
 */
const RECORD = `
local tomb, at, state = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[1])
local floor = tonumber(redis.call('HGET', state, 'floor') or '0')
local function raise(v) if v > floor then floor = v end end
if ARGV[5] ~= '' then raise(tonumber(ARGV[5])) end
for i = 6, #ARGV, 2 do
  redis.call('ZADD', tomb, ARGV[i], ARGV[i + 1])
  redis.call('ZADD', at, ARGV[1], ARGV[i + 1])
end
local old = redis.call('ZRANGE', at, '-inf', string.format('%d', now - tonumber(ARGV[2])), 'BYSCORE', 'LIMIT', '0', '1000')
for _, key in ipairs(old) do
  local v = redis.call('ZSCORE', tomb, key)
  if v then raise(tonumber(v)) end
  redis.call('ZREM', tomb, key)
  redis.call('ZREM', at, key)
end
local excess = redis.call('ZCARD', tomb) - tonumber(ARGV[3])
if excess > 0 then
  local popped = redis.call('ZPOPMIN', tomb, excess)
  for i = 1, #popped, 2 do
    redis.call('ZREM', at, popped[i])
    raise(tonumber(popped[i + 1]))
  end
end
local cursor = tonumber(redis.call('HGET', state, 'cursor') or '0')
if tonumber(ARGV[4]) > cursor then redis.call('HSET', state, 'cursor', ARGV[4]) end
redis.call('HSET', state, 'floor', string.format('%d', floor))
return 1
`;

type Keys = ReturnType<typeof apiKeys>;
type RecordFn = (...args: Array<string | number>) => Promise<unknown>;

/** Deletions recorded per script call while catching up. */
const BATCH = 1000;
/** Deletions held while Redis does not take them; past this they are dropped (and counted as a gap). */
const MAX_HELD = 100_000;

/** A deleted decision, or the action of a replaced one: what a bouncer may still hold. */
export interface Tombstone {
  key: string;
  /** The change's version. */
  version: number;
  /** The action deleted or replaced; undefined for members recorded before tombstones kept it. */
  action?: Action;
}

/**
 * The sorted-set member of a tombstone: `<action>|<key>` (one per key and action: a key replaced
 * ban → captcha, then deleted, has two), or the bare key when the action is not known (a
 * change-log entry written before the log kept it; also how members were written before).
 * Decision keys start with ip:, range: or fp:, never with an action and `|`.
 */
function memberOf(key: string, action: Action | null | undefined): string {
  return action ? `${action}|${key}` : key;
}

function parseMember(member: string, version: number): Tombstone {
  const bar = member.indexOf('|');
  const action = bar > 0 ? member.slice(0, bar) : '';
  if ((ACTIONS as readonly string[]).includes(action)) {
    return { key: member.slice(bar + 1), version, action: action as Action };
  }
  return { key: member, version };
}

/** The read side: what a stream pull needs of the tombstones. */
export class Tombstones {
  constructor(
    readonly redis: Redis | Cluster,
    readonly keys: Keys,
  ) {}

  async state(): Promise<TombstoneState> {
    const [cursor, floor] = await this.redis.hmget(this.keys.tombstoneState, 'cursor', 'floor');
    return { cursor: Number(cursor ?? 0), floor: Number(floor ?? 0) };
  }

  /** Tombstones with a version above `since`, oldest first, a page at a time. */
  async *since(since: number, count = 1000): AsyncGenerator<Tombstone[]> {
    let after = since;
    for (;;) {
      const flat = await this.redis.zrangebyscore(
        this.keys.tombstones,
        `(${after}`,
        '+inf',
        'WITHSCORES',
        'LIMIT',
        0,
        count,
      );
      const page: Tombstone[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) page.push(parseMember(flat[i]!, Number(flat[i + 1])));
      if (page.length > 0) yield page;
      if (page.length < count) return;
      after = page.at(-1)!.version;
    }
  }
}

/**
 * The writer: a follower of the store's change log recording each deletion (see above). Subscribe
 * `onChanges` to the process's change feed, then `start()`.
 */
export class TombstoneRecorder extends Follower<Change> {
  private batch: Array<string | number> = [];
  private gap: number | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private scheduled = false;

  constructor(
    private readonly tombstones: Tombstones,
    store: DecisionStore,
    private readonly logger: Logger,
    private readonly options: TombstoneOptions = DEFAULT_TOMBSTONES,
    private readonly clock: () => number = Date.now,
  ) {
    super(0, (version, limit) => store.changesSince(version, limit));
    const redis = tombstones.redis as unknown as Record<string, RecordFn>;
    if (!('edgeguardTombstoneRecord' in redis))
      tombstones.redis.defineCommand('edgeguardTombstoneRecord', { numberOfKeys: 3, lua: RECORD });
  }

  /** Resumes from the cursor kept in Redis (0 when never recorded: the log answers resync). */
  async start(): Promise<void> {
    this.cursor = (await this.tombstones.state()).cursor;
    await this.catchUp();
  }

  protected apply(change: Change, live: boolean): undefined | Promise<void> {
    if (change.op === 'del') this.batch.push(change.version, memberOf(change.key, change.action));
    // A decision replaced by one of another action: the bouncer's entry of the old type must go.
    else if (change.op === 'add' && change.previous && change.previous !== change.decision.action)
      this.batch.push(change.version, memberOf(change.key, change.previous));
    if (this.batch.length > MAX_HELD * 2) {
      // Redis has not taken the recordings for long: drop them, and say deletions up to here may be missing.
      this.batch = [];
      this.gap = Math.max(change.version, this.gap ?? 0);
    }
    // The cursor moves after apply(): record it with the batch.
    if (!live && this.batch.length >= BATCH * 2) return this.flush(change.version);
    this.schedule();
    return undefined;
  }

  protected override caughtUp(): void {
    this.schedule();
  }

  /** Records the batch (and the cursor reached) once the current tick's changes are applied. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush(this.cursor).catch((error: Error) =>
        this.logger.warn({ err: error }, 'tombstones not recorded; the stream falls back to its cursor'),
      );
    });
  }

  private flush(cursor: number): Promise<void> {
    const fields = this.batch;
    const gap = this.gap;
    this.batch = [];
    this.gap = null;
    const run = async () => {
      try {
        await (this.tombstones.redis as unknown as Record<string, RecordFn>).edgeguardTombstoneRecord!(
          this.tombstones.keys.tombstones,
          this.tombstones.keys.tombstoneTimes,
          this.tombstones.keys.tombstoneState,
          this.clock(),
          this.options.maxAgeMs,
          this.options.maxCount,
          cursor,
          gap ?? '',
          ...fields,
        );
      } catch (error) {
        // Not recorded: kept for the next call (which also carries a cursor at least as far).
        this.batch = [...fields, ...this.batch];
        if (gap !== null) this.gap = Math.max(gap, this.gap ?? 0);
        throw error;
      }
    };
    this.flushing = this.flushing.then(run, run);
    return this.flushing;
  }

  /** The log cannot be followed from the cursor: deletions up to `version` may go unrecorded. */
  protected async resync(version: number): Promise<void> {
    if (this.cursor > 0) this.logger.warn({ from: this.cursor, to: version }, 'tombstones: change log gap');
    this.gap = version;
    this.cursor = version;
    await this.flush(version);
  }

  protected failed(error: Error): void {
    this.logger.warn({ err: error }, 'tombstone recorder catch-up failed; retrying in 1 s');
    setTimeout(() => void this.catchUp(), 1000).unref();
  }

  /** Waits for the recording in flight (tests, shutdown). */
  async settled(): Promise<void> {
    await this.flushing.catch(() => undefined);
  }
}
