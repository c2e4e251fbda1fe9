// Tombstones on the compacted `decisions` topic after compaction: the store writer over a real
// broker and Redis keeps the topic's last record per key equal to what it stores, so that a
// rebuild, or an edge agent reading the topic from its beginning, after compaction restores the
// same state. Compaction is emulated: the live topic's last record per key is written, in offset
// order and with its headers, to a second deployment's topic, which a fresh store (empty Redis:
// rebuilt) and an edge agent then read.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DecisionStore, storeKeys } from '@edgeguard/decisions';
import { EdgeAgent, KafkaSource } from '@edgeguard/edge-agent';
import {
  createProducer,
  kafkaEnvironment,
  manualDecision,
  publishDecisionDeletes,
  publishDecisions,
  StoreWriter,
} from '@edgeguard/kafka';
import type { Decision } from '@edgeguard/schema';
import { createLogger, Metrics } from '@edgeguard/telemetry';
import { Redis } from 'ioredis';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { decision } from './support/api.js';
import { edgeguard, eventually, uniquePrefix } from './support/services.js';
import { readTopic, type TopicRecord } from './support/topic.js';

const HOUR = 3_600_000;
const live = uniquePrefix('tomb-live');
const compacted = uniquePrefix('tomb-compacted');

/** The decider's decision for an address, numbered as it numbers them (event time × 100). */
function autoDecision(ip: string, decidedAt: number): Decision {
  return decision('ip', ip, { decidedAt, expiresAt: decidedAt + HOUR, version: decidedAt * 100 });
}

/** What compaction keeps: each key's last record, in the order of those records. */
function compact(records: TopicRecord[]): TopicRecord[] {
  const last = new Map<string, TopicRecord>();
  for (const record of records) last.set(record.key, record);
  return [...last.values()].sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)));
}

describe('decision tombstones after compaction', { timeout: 240_000 }, () => {
  const kafka = new Kafka({
    clientId: 'eg-tombstone-test',
    brokers: kafkaEnvironment().brokers,
    logLevel: logLevel.NOTHING,
  });
  let producer: Producer;
  let redis: Redis;
  let store: DecisionStore;
  let writer: StoreWriter;
  let metrics: Metrics;
  const stops: Array<() => Promise<void>> = [];
  /** The version of the decision the first test keeps over a late tombstone. */
  let keptVersion = 0;
  /** The version of the decision a test keeps over an older one arriving late. */
  let keptOverOlder = 0;
  /** The decider's decision made after an operator's delete, over that delete produced again. */
  let keptAfterDelete = 0;
  /** An operator's decision over a late copy of the one it replaced. */
  let keptManual = 0;

  /** A record as a decider instance (`eg-src: decider/0`) or another producer sends it. */
  async function send(
    key: string,
    value: Decision | null,
    headers: Record<string, string>,
    prefix = live,
  ): Promise<void> {
    await producer.send({
      topic: `${prefix}decisions`,
      acks: -1,
      messages: [{ key, value: value === null ? null : JSON.stringify(value), headers }],
    });
  }

  /**
   * A new owner's decision for `ip`, then the key's previous decision's expiry from the instance
   * that lost the partition (an older version, made a minute before): it arrives after it.
   */
  async function decisionThenLateTombstone(ip: string): Promise<Decision> {
    const current = autoDecision(ip, Date.now());
    await send(current.key, current, { 'eg-src': 'decider/0', 'eg-time': String(current.decidedAt) });
    await lateTombstone(current);
    return current;
  }

  /** The key's previous decision's expiry from the instance that lost the partition. */
  async function lateTombstone(current: Decision, prefix = live): Promise<void> {
    await send(
      current.key,
      null,
      {
        'eg-src': 'decider/0',
        'eg-time': String(current.decidedAt - 60_000),
        'eg-version': String(current.version - 6_000_000),
      },
      prefix,
    );
  }

  /** The live topic's records for `key`, once its last one satisfies `done`. */
  async function lastRecord(
    key: string,
    done: (last: TopicRecord) => boolean,
    prefix = live,
  ): Promise<TopicRecord> {
    return eventually(
      `the last record of ${key}`,
      async () => {
        const last = (await readTopic(kafka, `${prefix}decisions`)).filter((r) => r.key === key).at(-1);
        return last !== undefined && done(last) ? last : undefined;
      },
      30_000,
    );
  }

  function startWriter(
    prefix: string,
    redisClient: Redis,
    meter: Metrics,
    checkIntervalMs = 500,
  ): StoreWriter {
    const w = new StoreWriter({
      kafka,
      redis: redisClient,
      prefix,
      logger: createLogger('tombstone-test', {}, 'silent'),
      metrics: meter,
      checkIntervalMs,
      maxWaitTimeInMs: 100,
    });
    return w;
  }

  before(async () => {
    for (const prefix of [live, compacted]) {
      const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], { EDGEGUARD_TOPIC_PREFIX: prefix });
      assert.equal(ensure.code, 0, ensure.stderr);
    }
    producer = createProducer(kafka);
    await producer.connect();
    redis = new Redis('redis://127.0.0.1:6379');
    store = new DecisionStore({ redis, prefix: live });
    metrics = new Metrics('tombstone-test');
    writer = startWriter(live, redis, metrics);
    await writer.start();
    stops.push(() => writer.stop());
    // Records read while the empty store is first rebuilt are applied without producing anything:
    // the tests' records come after that.
    const warm = autoDecision('192.0.2.59', Date.now());
    await send(warm.key, warm, { 'eg-src': 'decider/0', 'eg-time': String(warm.decidedAt) });
    await eventually('the writer live', async () =>
      (await store.get(warm.key)) !== null ? true : undefined,
    );
  });

  after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await producer?.disconnect();
    for (const prefix of [live, compacted]) await redis.del(...Object.values(storeKeys(prefix)));
    redis.disconnect();
  });

  it("keeps a new owner's decision over an old owner's late tombstone, and produces it again to stay last", async () => {
    const current = await decisionThenLateTombstone('192.0.2.60');
    const last = await lastRecord(current.key, (r) => r.value !== null && r.headers['eg-copy'] !== undefined);
    assert.equal((JSON.parse(last.value!.toString()) as Decision).version, current.version);
    assert.equal(last.headers['eg-src'], 'decision-store');
    assert.equal((await store.get(current.key))?.version, current.version, 'still stored');
    keptVersion = current.version;
  });

  it("refuses a copy of the decider's decision landing after its own lift, and produces the lift again", async () => {
    const decidedAt = Date.now();
    const lifted = autoDecision('192.0.2.61', decidedAt);
    await send(lifted.key, lifted, { 'eg-src': 'decider/0', 'eg-time': String(decidedAt) });
    await send(lifted.key, null, {
      'eg-src': 'decider/0',
      'eg-time': String(decidedAt + 1000),
      'eg-version': String(lifted.version),
    });
    // The writer's copy of it (kept over an old owner's tombstone), produced before the lift.
    await send(lifted.key, lifted, {
      'eg-src': 'decision-store',
      'eg-time': String(decidedAt),
      'eg-copy': 'decision-store',
    });
    const last = await lastRecord(lifted.key, (r) => r.value === null && r.headers['eg-copy'] !== undefined);
    assert.equal(last.headers['eg-version'], String(lifted.version));
    assert.equal(await store.get(lifted.key), null, 'the lifted decision stays lifted');
  });

  it("refuses a copy of an operator's decision landing after the operator's delete, and produces the delete again", async () => {
    const manual = manualDecision({ ip: '192.0.2.62', action: 'block', duration: HOUR, reason: 'ticket 7' });
    await publishDecisions(producer, live, [manual]);
    await publishDecisionDeletes(producer, live, [manual.key]);
    // The writer's copy of it (kept over the decider's records), produced before the delete.
    await publishDecisions(producer, live, [manual]);
    const last = await lastRecord(manual.key, (r) => r.value === null && r.headers['eg-src'] !== 'manual');
    assert.equal(last.headers['eg-version'], String(manual.version));
    assert.equal(await store.get(manual.key), null, 'the deleted decision stays deleted');
    await eventually(
      'the copies counted',
      async () => {
        const exposed = await metrics.text();
        return /edgeguard_store_republished_total\{[^}]*record="auto"[^}]*\} 1\n/.test(exposed) &&
          /edgeguard_store_republished_total\{[^}]*record="tombstone"[^}]*\} 2\n/.test(exposed)
          ? true
          : undefined;
      },
      10_000,
    );
  });

  it("keeps a new owner's decision over an old owner's late decision, and produces it again to stay last", async () => {
    const decidedAt = Date.now();
    const current = autoDecision('192.0.2.64', decidedAt);
    await send(current.key, current, { 'eg-src': 'decider/0', 'eg-time': String(decidedAt) });
    const older = { ...autoDecision('192.0.2.64', decidedAt - 60_000), action: 'throttle' as const };
    await send(older.key, older, { 'eg-src': 'decider/0', 'eg-time': String(older.decidedAt) });
    const last = await lastRecord(current.key, (r) => r.headers['eg-copy'] !== undefined);
    assert.equal((JSON.parse(last.value!.toString()) as Decision).version, current.version);
    assert.equal((await store.get(current.key))?.action, 'block');
    keptOverOlder = current.version;
  });

  /**
   * Waits until the writer has handled everything on the topic now: a decision for a key of its
   * own, sent last, is stored (the writer handles records in order, and produces what a record
   * calls for before it moves on).
   */
  async function settled(ip: string): Promise<void> {
    const marker = autoDecision(ip, Date.now());
    await send(marker.key, marker, { 'eg-src': 'decider/0', 'eg-time': String(marker.decidedAt) });
    await eventually('the writer caught up', async () =>
      (await store.get(marker.key)) !== null ? true : undefined,
    );
  }

  it("keeps the decider's decision made after an operator's delete over the delete produced again for a refused copy", async () => {
    const manual = manualDecision({ ip: '192.0.2.65', action: 'block', duration: HOUR, reason: 'ticket 8' });
    await publishDecisions(producer, live, [manual]);
    await publishDecisionDeletes(producer, live, [manual.key]);
    // The writer's copy of the operator's decision (kept over the decider's records), produced
    // before the delete, lands after it, and the decider decides on the address right after (its
    // version, event time × 100, is below the operator's): both on the topic before the writer
    // produces the delete again for the refused copy.
    const after = { ...autoDecision('192.0.2.65', Date.now()), action: 'challenge' as const };
    await producer.send({
      topic: `${live}decisions`,
      acks: -1,
      messages: [
        {
          key: manual.key,
          value: JSON.stringify(manual),
          headers: { 'eg-src': 'manual', 'eg-time': String(manual.decidedAt), 'eg-copy': 'decision-store' },
        },
        {
          key: after.key,
          value: JSON.stringify(after),
          headers: { 'eg-src': 'decider/0', 'eg-time': String(after.decidedAt) },
        },
      ],
    });
    await eventually('the delete produced again', async () =>
      (await readTopic(kafka, `${live}decisions`)).some(
        (r) => r.key === manual.key && r.value === null && r.headers['eg-copy'] !== undefined,
      )
        ? true
        : undefined,
    );
    await settled('192.0.2.66');
    assert.equal((await store.get(after.key))?.version, after.version, "the decider's decision stays");
    const last = await lastRecord(after.key, (r) => r.value !== null);
    assert.equal((JSON.parse(last.value!.toString()) as Decision).version, after.version, 'and is last');
    keptAfterDelete = after.version;
  });

  it("produces an operator's decision again after a copy of its previous one lands late", async () => {
    const first = manualDecision({
      ip: '192.0.2.67',
      action: 'throttle',
      duration: HOUR,
      reason: 'ticket 9',
    });
    const second = manualDecision({
      ip: '192.0.2.67',
      action: 'block',
      duration: 2 * HOUR,
      reason: 'ticket 9',
    });
    await publishDecisions(producer, live, [first, second]);
    // The writer's copy of the first one (kept over the decider's records), produced before the
    // operator replaced it, lands after the second.
    await send(first.key, first, {
      'eg-src': 'manual',
      'eg-time': String(first.decidedAt),
      'eg-copy': 'decision-store',
    });
    await settled('192.0.2.68');
    assert.equal((await store.get(second.key))?.version, second.version);
    const last = (await readTopic(kafka, `${live}decisions`)).filter((r) => r.key === second.key).at(-1)!;
    assert.equal(
      (JSON.parse(last.value!.toString()) as Decision).version,
      second.version,
      'the second is last',
    );
    keptManual = second.version;
  });

  it('a store rebuilt, and an edge agent reading from the beginning, after compaction hold the same', async () => {
    // A decision for a key of its own, last: once the rebuild has it, it has read everything.
    const marker = autoDecision('192.0.2.69', Date.now());
    await send(marker.key, marker, { 'eg-src': 'decider/0', 'eg-time': String(marker.decidedAt) });
    await lastRecord(marker.key, (r) => r.value !== null);
    const records = await readTopic(kafka, `${live}decisions`);
    await producer.send({
      topic: `${compacted}decisions`,
      acks: -1,
      messages: compact(records).map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
    });

    const rebuiltRedis = new Redis('redis://127.0.0.1:6379');
    stops.push(async () => rebuiltRedis.disconnect());
    const rebuilt = startWriter(compacted, rebuiltRedis, new Metrics('tombstone-test-rebuilt'));
    await rebuilt.start();
    stops.push(() => rebuilt.stop());
    const rebuiltStore = new DecisionStore({ redis: rebuiltRedis, prefix: compacted });
    await eventually(
      'the store rebuilt',
      async () => ((await rebuiltStore.get(marker.key)) !== null ? true : undefined),
      30_000,
    );
    const edge = new EdgeAgent({
      source: new KafkaSource({ brokers: kafkaEnvironment().brokers, topicPrefix: compacted }),
    });
    await edge.start();
    stops.push(() => edge.stop());
    await edge.whenReady(60_000);

    const held = async (ip: string) => (await rebuiltStore.get(`ip:${ip}`))?.version ?? null;
    assert.equal(
      await held('192.0.2.60'),
      keptVersion,
      "the new owner's decision, not the old owner's tombstone",
    );
    assert.equal(await held('192.0.2.64'), keptOverOlder, "the new owner's decision, not the old owner's");
    assert.equal(await held('192.0.2.61'), null, "the decider's lift, not the copy");
    assert.equal(await held('192.0.2.62'), null, "the operator's delete, not the copy");
    assert.equal(await held('192.0.2.65'), keptAfterDelete, "the decision after the operator's delete");
    assert.equal(
      await held('192.0.2.67'),
      keptManual,
      "the operator's second decision, not the first's copy",
    );
    assert.equal(edge.check({ ip: '192.0.2.60' }).verdict, 'block');
    assert.equal(edge.check({ ip: '192.0.2.61' }).verdict, 'allow');
    assert.equal(edge.check({ ip: '192.0.2.62' }).verdict, 'allow');
    assert.equal(edge.check({ ip: '192.0.2.64' }).verdict, 'block');
    assert.equal(edge.check({ ip: '192.0.2.65' }).verdict, 'challenge');
    assert.equal(edge.check({ ip: '192.0.2.67' }).verdict, 'block');
  });

  it('an edge agent reading the uncompacted topic from its beginning refuses the copies and keeps the newer decision', async () => {
    const edge = new EdgeAgent({
      source: new KafkaSource({ brokers: kafkaEnvironment().brokers, topicPrefix: live }),
    });
    await edge.start();
    stops.push(() => edge.stop());
    await edge.whenReady(60_000);
    assert.equal(edge.check({ ip: '192.0.2.60' }).verdict, 'block');
    assert.equal(edge.check({ ip: '192.0.2.61' }).verdict, 'allow', 'the copy after the lift refused');
    assert.equal(edge.check({ ip: '192.0.2.62' }).verdict, 'allow', 'the copy after the delete refused');
    assert.equal(edge.check({ ip: '192.0.2.65' }).verdict, 'challenge', 'the decision after the delete kept');
    assert.equal(edge.check({ ip: '192.0.2.67' }).verdict, 'block', "the operator's second decision");
    assert.ok(edge.stats().counters.deletedRefused >= 2);
  });

  it('a rebuild handles the records the writer had not handled before as live ones', async () => {
    await writer.stop();
    const current = await decisionThenLateTombstone('192.0.2.63');
    // Redis loses the store while the writer is down: the restarted writer rebuilds it, and the
    // two records above, read for the first time in that rebuild, are handled as live ones.
    await redis.del(...Object.values(storeKeys(live)));
    const restarted = startWriter(live, redis, new Metrics('tombstone-test-restarted'));
    await restarted.start();
    stops.push(() => restarted.stop());
    const last = await lastRecord(current.key, (r) => r.value !== null && r.headers['eg-copy'] !== undefined);
    assert.equal((JSON.parse(last.value!.toString()) as Decision).version, current.version);
    assert.equal((await store.get(current.key))?.version, current.version);
  });

  it('a rebuild handles as live the records handled after Redis lost its data and before the writer noticed', async () => {
    const wiped = uniquePrefix('tomb-wiped');
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], { EDGEGUARD_TOPIC_PREFIX: wiped });
    assert.equal(ensure.code, 0, ensure.stderr);
    const wipedRedis = new Redis('redis://127.0.0.1:6379');
    stops.push(async () => {
      await wipedRedis.del(...Object.values(storeKeys(wiped)));
      wipedRedis.disconnect();
    });
    // Checked every 10 s: the late tombstone below is handled against the emptied store before
    // the writer notices (unless a check falls in the moment between: then it passes either way).
    const w = startWriter(wiped, wipedRedis, new Metrics('tombstone-test-wiped'), 10_000);
    await w.start();
    stops.push(() => w.stop());
    const wipedStore = new DecisionStore({ redis: wipedRedis, prefix: wiped });
    const current = autoDecision('192.0.2.70', Date.now());
    await send(current.key, current, { 'eg-src': 'decider/0', 'eg-time': String(current.decidedAt) }, wiped);
    await eventually('the decision stored', async () =>
      (await wipedStore.get(current.key)) !== null ? true : undefined,
    );
    await wipedRedis.del(...Object.values(storeKeys(wiped)));
    await lateTombstone(current, wiped);
    const last = await lastRecord(
      current.key,
      (r) => r.value !== null && r.headers['eg-copy'] !== undefined,
      wiped,
    );
    assert.equal((JSON.parse(last.value!.toString()) as Decision).version, current.version);
    assert.equal((await wipedStore.get(current.key))?.version, current.version, 'rebuilt');
  });
});
