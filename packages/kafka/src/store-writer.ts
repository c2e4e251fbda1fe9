import {
  canonicalDecisionKey,
  DecisionStore,
  PUT_REFUSED_DELETED,
  parseDecisionKey,
} from '@edgeguard/decisions';
import { TOPICS } from '@edgeguard/pipeline';
import {
  ACTIONS,
  type Action,
  BadInput,
  type Decision,
  survivesTombstone,
  tombstoneVersionOf,
} from '@edgeguard/schema';
import type { Logger, Metrics } from '@edgeguard/telemetry';
import type { Redis } from 'ioredis';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { parseAllowRecord } from './allowlist-follower.js';
import { createProducer } from './client.js';
import { decodeTopicValue, eventTimeOf, HEADERS, headerText } from './codec.js';
import { MANUAL_SOURCE, publishCopies } from './control.js';
import { partitionCount } from './topics.js';

const SCOPES = new Set(['ip', 'range', 'fingerprint']);
/** Puts per script call: a script blocks Redis while it runs, so a few hundred at most. */
const PUT_BATCH = 200;

/**
 * Reads one `decisions` record into a Decision whose canonical key is the record's key. Throws
 * BadInput (`bad-decision`, `bad-decision-key`, `bad-cidr`) naming what is wrong.
 */
export function parseDecisionRecord(key: string | null, value: unknown): Decision {
  const fail = (message: string) => new BadInput('bad-decision', `${key ?? '(no key)'}: ${message}`);
  if (key === null) throw fail('decision without a key');
  if (typeof value !== 'object' || value === null) throw fail('expected a Decision object');
  const d = value as Partial<Decision>;
  if (!SCOPES.has(d.scope as string))
    throw fail(`scope must be ip, range or fingerprint, got ${String(d.scope)}`);
  if (typeof d.value !== 'string') throw fail('value must be text');
  if (!ACTIONS.includes(d.action as Action)) throw fail(`action must be one of ${ACTIONS.join(', ')}`);
  for (const field of ['decidedAt', 'expiresAt', 'version', 'score'] as const) {
    if (typeof d[field] !== 'number' || !Number.isFinite(d[field])) throw fail(`${field} must be a number`);
  }
  if (d.origin !== 'auto' && d.origin !== 'manual') throw fail('origin must be auto or manual');
  const canonical = canonicalDecisionKey(d.scope!, d.value);
  if (canonical.key !== parseDecisionKey(key).key)
    throw fail(`the decision is for ${canonical.key}, not its key`);
  return {
    ...(d as Decision),
    key: canonical.key,
    value: canonical.value,
    reason: typeof d.reason === 'string' ? d.reason : '',
    signals: Array.isArray(d.signals) ? d.signals : [],
  };
}

export interface StoreWriterOptions {
  kafka: Kafka;
  redis: Redis;
  /** `EDGEGUARD_TOPIC_PREFIX`: topics, the consumer group `<prefix>decision-store` and the store's keys. */
  prefix: string;
  logger: Logger;
  metrics: Metrics;
  /** How often Redis is checked for lost data (ms). Default 3 s. */
  checkIntervalMs?: number;
  /** Sweeper period (ms). Default 1 s. */
  sweepIntervalMs?: number;
  maxWaitTimeInMs?: number;
  /** Called when the consumer crashed for good (the service should exit non-zero and be restarted). */
  onFatal?: (error: Error) => void;
}

type Op =
  /** `copy`: produced again by a store writer (`eg-copy`). */
  | { kind: 'put'; decision: Decision; manual: boolean; copy: boolean }
  /**
   * `time`: the tombstone's event time (when the decider removed the decision); `version`: the
   * version it deletes (`eg-version`), when it names one; `copy`: a store writer's deletion
   * produced again after a copy it refused (`eg-copy`), which deletes that version only.
   */
  | {
      kind: 'delete';
      key: string;
      manual: boolean;
      time: number;
      version: number | undefined;
      copy: boolean;
    }
  | { kind: 'allow'; entry: ReturnType<typeof parseAllowRecord> }
  | { kind: 'disallow'; cidr: string };

/**
 * Keeps the Redis decision store (packages/decisions) equal to the compacted `decisions` and
 * `allowlist` topics. Runs inside the decider service as its own consumer group: decisions are
 * put in batches (one script call per 200), tombstones delete, allowlist records allow/disallow,
 * and offsets are committed only after Redis acknowledged. It runs the store's expiry sweeper,
 * and when Redis lost its data (empty, or re-seeded with a new epoch since this writer last saw
 * it) it rebuilds the store by reading both topics again from their beginning.
 *
 * Manual decisions win over the decider's: an automatic decision never replaces one (versions,
 * see control.ts), and an automatic tombstone (the decider's own expiry or lift) does not delete
 * one. A tombstone naming a version (`eg-version`) deletes that version and below only; one
 * without (older builds) does not delete a decision decided after it was made (`survivesTombstone`
 * in packages/schema). A decision kept over a tombstone or an older decision is produced again
 * (keepStored), so it stays the latest value of its key on the compacted topic and a rebuild
 * restores it. If it is deleted meanwhile, that copy lands after the deletion: the store remembers
 * a deleted decision's version and refuses the copy (`refused-deleted`; packages/decisions,
 * Deleted decisions), and the deletion is produced again so that it, not the copy, is the key's
 * last record.
 *
 * The store's clock is the wall clock: decisions' `expiresAt` is event time, which live is wall
 * time (a replayed old log's decisions are expired on arrival and not stored).
 */
export class StoreWriter {
  readonly store: DecisionStore;
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly group: string;
  private readonly log: Logger;
  private readonly metrics;
  private assignment: Record<string, number[]> = {};
  private assigned = false;
  /** The store's epoch as this writer last saw it: a different one means Redis lost its data. */
  private knownEpoch = 0;
  /** Why the store must be rebuilt once partitions are assigned (it was empty at start). */
  private rebuildPending: string | null = null;
  /** Per owned partition, the end offset a rebuild reads to; cleared when reached. */
  private rebuildUntil = new Map<string, bigint>();
  /**
   * Per owned partition being rebuilt, the group's committed offset when the rebuild began: the
   * records below it were handled live before, those from it on were not (they came in meanwhile).
   */
  private handledUntil = new Map<string, bigint>();
  /**
   * Per partition, the first offset handled since the store was last seen intact (its epoch
   * unchanged): Redis may have lost its data any time after that check, so the records from that
   * offset on may have been handled against an empty store (a late tombstone finding nothing to
   * keep, a copy finding no deletion to refuse it by), and a rebuild handles them as live again.
   */
  private handledSinceCheck = new Map<string, bigint>();
  private rebuildStartedAt = 0;
  private work: Promise<unknown> = Promise.resolve();
  private checkTimer: NodeJS.Timeout | null = null;
  private stopSweeper: (() => Promise<void>) | null = null;
  private stopping = false;
  private rejectedLogged = 0;
  private decisionPartitions = 1;

  constructor(private readonly options: StoreWriterOptions) {
    this.store = new DecisionStore({ redis: options.redis, prefix: options.prefix, clock: Date.now });
    this.group = `${options.prefix}decision-store`;
    this.log = options.logger.child({ component: 'decision-store' });
    this.consumer = options.kafka.consumer({
      groupId: this.group,
      maxWaitTimeInMs: options.maxWaitTimeInMs ?? 500,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 2 * 1024 * 1024,
    });
    this.producer = createProducer(options.kafka);
    const m = options.metrics;
    this.metrics = {
      writes: m.counter('edgeguard_store_writes_total', 'topic records applied to the Redis decision store', [
        'topic',
        'result',
      ]),
      rejected: m.counter('edgeguard_store_rejected_total', 'topic records the store writer could not read', [
        'topic',
        'reason',
      ]),
      rebuilds: m.counter('edgeguard_store_rebuilds_total', 'rebuilds of the decision store from the topics'),
      rebuildSeconds: m.gauge('edgeguard_store_rebuild_seconds', 'duration of the last rebuild'),
      swept: m.counter('edgeguard_store_swept_total', 'expired entries deleted by the sweeper', ['kind']),
      version: m.gauge('edgeguard_store_version', 'latest change-log version of the decision store'),
      republished: m.counter(
        'edgeguard_store_manual_republished_total',
        'manual decisions produced again after an automatic record for their key',
      ),
      copies: m.counter(
        'edgeguard_store_republished_total',
        'automatic decisions kept over an older record, and deletions after a refused copy, produced again',
        ['record'],
      ),
    };
    // The known outcomes (apply, keepStored and the sweeper) on /metrics at 0 from the start;
    // rejection reasons come as they occur.
    m.countFromZero('edgeguard_store_writes_total', {
      topic: [TOPICS.decisions],
      result: ['applied', 'ignored', 'refused-deleted', 'deleted', 'absent', 'kept-manual', 'kept-newer'],
    });
    m.countFromZero('edgeguard_store_writes_total', {
      topic: [TOPICS.allowlist],
      result: ['allowed', 'disallowed', 'absent'],
    });
    m.countFromZero('edgeguard_store_swept_total', { kind: ['decision', 'allow', 'deleted-version'] });
    m.countFromZero('edgeguard_store_republished_total', { record: ['auto', 'tombstone'] });
  }

  /** `true`, or why the writer is not ready yet. */
  ready(): true | string {
    if (this.stopping) return 'stopping';
    return this.assigned ? true : 'decision store: waiting for partition assignment';
  }

  async start(): Promise<void> {
    const { prefix } = this.options;
    // Manual decisions produced again go to the partition the decider uses for their key.
    this.decisionPartitions = await partitionCount(this.options.kafka, prefix, TOPICS.decisions);
    await this.producer.connect();
    await this.consumer.connect();
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      this.assigned = true;
      this.assignment = event.payload.memberAssignment;
      for (const key of [...this.rebuildUntil.keys()]) {
        const [topic, partition] = splitKey(key);
        if (this.assignment[topic]?.includes(partition)) continue;
        this.rebuildUntil.delete(key);
        this.handledUntil.delete(key);
      }
      for (const key of [...this.handledSinceCheck.keys()]) {
        const [topic, partition] = splitKey(key);
        if (!this.assignment[topic]?.includes(partition)) this.handledSinceCheck.delete(key);
      }
      // Queued before any batch of the new assignment: an empty store is rebuilt before it is written.
      const why = this.rebuildPending;
      this.rebuildPending = null;
      if (why !== null) {
        void this.exclusive(() => this.rebuild(why)).catch((error: Error) =>
          this.log.error({ error: error.message }, 'rebuild failed'),
        );
      }
    });
    if (await this.store.isEmpty()) {
      this.knownEpoch = await this.store.initialize();
      this.rebuildPending = 'redis is empty';
    } else {
      this.knownEpoch = await this.store.epoch();
    }
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      this.log.error(
        { error: event.payload.error?.message, restart: event.payload.restart },
        'consumer crashed',
      );
      // kafkajs restarts the consumer after retriable errors; otherwise this process cannot go on.
      if (!event.payload.restart) this.options.onFatal?.(event.payload.error);
    });
    for (const topic of [TOPICS.decisions, TOPICS.allowlist])
      await this.consumer.subscribe({ topic: prefix + topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachBatchAutoResolve: false,
      eachBatch: (payload) =>
        this.stopping ? Promise.resolve() : this.exclusive(() => this.handleBatch(payload)),
    });
    this.stopSweeper = this.store.startSweeper(
      this.options.sweepIntervalMs ?? 1000,
      1000,
      (error) => this.log.warn({ error: (error as Error).message }, 'sweep failed'),
      (swept) => {
        this.metrics.swept.inc({ kind: 'decision' }, swept.decisions);
        this.metrics.swept.inc({ kind: 'allow' }, swept.allowEntries);
        this.metrics.swept.inc({ kind: 'deleted-version' }, swept.deletedVersions);
      },
    );
    this.checkTimer = setInterval(() => {
      void this.exclusive(() => this.checkStore()).catch((error: Error) =>
        this.log.warn({ error: error.message }, 'store check failed'),
      );
    }, this.options.checkIntervalMs ?? 3_000);
    this.checkTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.checkTimer) clearInterval(this.checkTimer);
    await this.work;
    await this.stopSweeper?.();
    await this.consumer.disconnect();
    await this.producer.disconnect();
  }

  /** Batches, checks and rebuild seeks never overlap. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.work.then(task, task);
    this.work = run.catch(() => undefined);
    return run;
  }

  /**
   * Redis lost this store's data when it is empty, or when its epoch is not the one this writer
   * saw last (the counter was re-seeded: a wipe, then new writes before this check).
   */
  private async checkStore(): Promise<void> {
    if (this.stopping || !this.assigned) return;
    const epoch = await this.store.epoch();
    this.metrics.version.set(await this.store.version());
    if (epoch === this.knownEpoch) {
      // Intact: what was handled until now was handled against it.
      this.handledSinceCheck.clear();
      return;
    }
    this.knownEpoch = await this.store.initialize();
    await this.rebuild(epoch === 0 ? 'redis is empty' : 'redis lost its data (new epoch)');
  }

  /** Reads every owned partition of both topics again from its beginning to its current end. */
  private async rebuild(why: string): Promise<void> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    try {
      this.rebuildUntil.clear();
      this.handledUntil.clear();
      this.rebuildStartedAt = Date.now();
      for (const [topic, partitions] of Object.entries(this.assignment)) {
        const offsets = await admin.fetchTopicOffsets(topic);
        const [committed] = await admin.fetchOffsets({ groupId: this.group, topics: [topic] });
        for (const partition of partitions) {
          const o = offsets.find((x) => x.partition === partition);
          if (!o) continue;
          const key = partitionKey(topic, partition);
          if (BigInt(o.high) > BigInt(o.low)) this.rebuildUntil.set(key, BigInt(o.high));
          const handled = committed?.partitions.find((x) => x.partition === partition)?.offset ?? '-1';
          const since = this.handledSinceCheck.get(key);
          let until = BigInt(handled) > 0n ? BigInt(handled) : 0n;
          if (since !== undefined && since < until) until = since;
          this.handledUntil.set(key, until);
          this.consumer.seek({ topic, partition, offset: o.low });
        }
      }
    } finally {
      await admin.disconnect();
    }
    this.handledSinceCheck.clear();
    this.metrics.rebuilds.inc();
    this.log.warn(
      { why, partitions: this.rebuildUntil.size },
      'rebuilding the decision store from the topics',
    );
    this.rebuildProgress();
  }

  private rebuildProgress(): void {
    if (this.rebuildStartedAt === 0 || this.rebuildUntil.size > 0) return;
    const seconds = (Date.now() - this.rebuildStartedAt) / 1000;
    this.rebuildStartedAt = 0;
    this.metrics.rebuildSeconds.set(seconds);
    this.log.info({ seconds }, 'decision store rebuilt');
  }

  private async handleBatch({
    batch,
    resolveOffset,
    isRunning,
    isStale,
    heartbeat,
  }: EachBatchPayload): Promise<void> {
    const topic = batch.topic.slice(this.options.prefix.length);
    const key = partitionKey(batch.topic, batch.partition);
    const until = this.rebuildUntil.get(key);
    const ops: Op[] = [];
    const first = batch.messages[0]?.offset;
    if (first !== undefined && !this.handledSinceCheck.has(key))
      this.handledSinceCheck.set(key, BigInt(first));
    let last: string | null = null;
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break;
      last = message.offset;
      const op = this.read(topic, message);
      if (op) ops.push(op);
    }
    if (last === null) return;
    // Records read again during a rebuild that were already handled live against the intact store
    // (below the offset the group had committed, and before the store was last seen intact: see
    // handledSinceCheck) produce nothing; the others are handled as live (a decision kept over a
    // late tombstone is produced again, as a copy it refuses is followed by its deletion). A
    // batch across that offset counts as live: a copy too many changes nothing.
    const replaying =
      until !== undefined && BigInt(last) < until && BigInt(last) < (this.handledUntil.get(key) ?? until);
    await this.apply(topic, ops, replaying);
    resolveOffset(last);
    await this.consumer.commitOffsets([
      { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
    ]);
    if (until !== undefined && BigInt(last) + 1n >= until) {
      this.rebuildUntil.delete(key);
      this.handledUntil.delete(key);
      this.rebuildProgress();
    }
    await heartbeat();
  }

  private read(topic: string, message: KafkaMessage): Op | null {
    if (headerText(message.headers, HEADERS.control)) return null;
    const key = message.key?.toString() ?? null;
    const manual = headerText(message.headers, HEADERS.source) === MANUAL_SOURCE;
    try {
      const [value] = decodeTopicValue(topic, message.value, message.headers);
      if (topic === TOPICS.allowlist) {
        if (value === null) return { kind: 'disallow', cidr: parseAllowRecordKey(key) };
        return { kind: 'allow', entry: parseAllowRecord(key, value) };
      }
      const copy = headerText(message.headers, HEADERS.copy) !== undefined;
      if (value === null) {
        if (key === null) throw new BadInput('bad-decision', 'tombstone without a key');
        return {
          kind: 'delete',
          key: parseDecisionKey(key).key,
          manual,
          time: eventTimeOf(message.headers, message.timestamp),
          version: tombstoneVersionOf(headerText(message.headers, HEADERS.version)),
          copy,
        };
      }
      return { kind: 'put', decision: parseDecisionRecord(key, value), manual, copy };
    } catch (error) {
      const reason = error instanceof BadInput ? error.reason : 'unreadable';
      this.metrics.rejected.inc({ topic, reason });
      // Logged for the first few and then every thousandth: a flood must not flood the log.
      if (this.rejectedLogged++ < 10 || this.rejectedLogged % 1000 === 0) {
        this.log.warn(
          { topic, key, offset: message.offset, reason, error: (error as Error).message },
          'record not applied to the decision store',
        );
      }
      return null;
    }
  }

  /** Applies a batch's records in order: consecutive puts go together, up to PUT_BATCH per script call. */
  private async apply(topic: string, ops: Op[], replaying: boolean): Promise<void> {
    type Put = Extract<Op, { kind: 'put' }>;
    let puts: Put[] = [];
    const flush = async () => {
      // All chunks in flight at once: one connection, so Redis runs them in order.
      const chunks: Put[][] = [];
      for (let i = 0; i < puts.length; i += PUT_BATCH) chunks.push(puts.slice(i, i + PUT_BATCH));
      puts = [];
      const results = await Promise.all(
        chunks.map((chunk) =>
          this.store.putMany(
            chunk.map((p) => p.decision),
            chunk.map((p) => p.copy),
          ),
        ),
      );
      let applied = 0;
      let ignored = 0;
      let refused = 0;
      for (const [c, chunk] of chunks.entries()) {
        for (const [j, put] of chunk.entries()) {
          const result = results[c]![j]!;
          if (result > 0) {
            applied++;
          } else if (result === PUT_REFUSED_DELETED) {
            // A copy of a decision deleted since (keepStored produced it before the deletion): the
            // copy is now the key's last record, and compaction would keep it over the deletion.
            // The deletion goes again (live only), naming the copy's version; marked a copy, it
            // removes that version only, not a decision stored since (see keepStored).
            refused++;
            if (!replaying) {
              await this.republish({ key: put.decision.key, deleted: put.decision });
              this.metrics.copies.inc({ record: 'tombstone' });
            }
          } else {
            ignored++;
            // A decision met a higher version (a manual one, or the decider's newer one: a late
            // record of an instance that lost its partition; or a copy of an operator's decision
            // that the operator replaced since): produce that one again, so that it, not the older
            // record, is the key's last (live only; an equal version is a redelivery, the same
            // record).
            if (!replaying)
              await this.keepStored(put.decision.key, Number.NaN, put.decision.version, false, replaying);
          }
        }
      }
      this.metrics.writes.inc({ topic, result: 'applied' }, applied);
      this.metrics.writes.inc({ topic, result: 'ignored' }, ignored);
      this.metrics.writes.inc({ topic, result: 'refused-deleted' }, refused);
    };
    for (const op of ops) {
      switch (op.kind) {
        case 'put':
          puts.push(op);
          if (puts.length >= PUT_BATCH) await flush();
          break;
        case 'delete':
          await flush();
          // The operator's tombstone (no version) deletes whatever is there.
          if (
            (!op.manual || op.version !== undefined) &&
            (await this.keepStored(op.key, op.time, op.version, op.copy, replaying))
          )
            break;
          this.metrics.writes.inc({
            topic,
            result:
              (await this.store.delete(op.key, op.manual ? 'removed' : 'tombstone')) > 0
                ? 'deleted'
                : 'absent',
          });
          break;
        case 'allow':
          await this.store.putAllowEntry(op.entry);
          this.metrics.writes.inc({ topic, result: 'allowed' });
          break;
        case 'disallow':
          this.metrics.writes.inc({
            topic,
            result: (await this.store.disallow(op.cidr, 'removed')) > 0 ? 'disallowed' : 'absent',
          });
          break;
      }
    }
    await flush();
  }

  /**
   * An automatic record met a stored decision it must not replace (`survivesTombstone`): with
   * `version`, a record for that version (a tombstone naming it, an older decision) while a
   * higher one is stored; without, a tombstone of an older build made at event time
   * `tombstoneTime`, while an operator's decision or one decided after it is stored. The stored
   * one stays and is, live, produced again (same version, so applying it again changes nothing)
   * to stay the key's latest value on the compacted topic: compaction would otherwise keep the
   * older record, and a rebuild, or an edge reading the topic from its beginning, would lose it.
   * The copy may land after the decision's own later deletion (the operator's delete, the
   * decider's lift): the store and edges remember the deleted version and refuse the copy, and
   * the deletion is produced again (apply); that deletion (`copy`) removes the refused version
   * only, not a decision stored since (one of a lower version: the decider's after an operator's
   * delete or a lift), which is then produced again in turn. Returns whether the stored decision
   * stays.
   */
  private async keepStored(
    key: string,
    tombstoneTime: number,
    version: number | undefined,
    copy: boolean,
    replaying: boolean,
  ): Promise<boolean> {
    const stored = await this.store.get(key);
    const kept = survivesTombstone(stored, tombstoneTime, Date.now(), version, copy);
    if (kept === null || stored === null) return false;
    this.metrics.writes.inc({ topic: TOPICS.decisions, result: `kept-${kept}` });
    if (replaying) return true;
    await this.republish(stored);
    if (kept === 'manual') this.metrics.republished.inc();
    else this.metrics.copies.inc({ record: 'auto' });
    return true;
  }

  /** Produces a decision, or a deletion, again to the partition the decider uses for its key. */
  private republish(record: Parameters<typeof publishCopies>[2][number]): Promise<void> {
    return publishCopies(this.producer, this.options.prefix, [record], {
      partitions: this.decisionPartitions,
    });
  }
}

function parseAllowRecordKey(key: string | null): string {
  if (key === null) throw new BadInput('bad-allow-entry', 'allowlist tombstone without a key');
  return parseAllowRecord(key, { cidr: key, createdAt: 0, expiresAt: null }).cidr;
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}#${partition}`;
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf('#');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}
