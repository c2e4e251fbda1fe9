// The stage runtime's own guarantees on the real broker and Redis, with a small counting stage:
// a batch whose outputs the broker did not take is processed again (nothing skipped, nothing
// checkpointed that was not sent), and an unreadable checkpoint is replayed over instead of
// stalling its partition. Each holds with the stage on the runner's thread and in worker threads.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AccessLogProducer,
  createKafka,
  createProducer,
  kafkaEnvironment,
  StageRunner,
} from '@edgeguard/kafka';
import { createParser } from '@edgeguard/logformat';
import { TOPICS } from '@edgeguard/pipeline';
import { BadInput } from '@edgeguard/schema';
import { createLogger, Metrics } from '@edgeguard/telemetry';
import { Redis } from 'ioredis';
import type { Consumer, ConsumerConfig, Kafka, Message, Producer, RecordMetadata } from 'kafkajs';
import { edgeguard, eventually, tail, uniquePrefix } from './support/services.js';
import { type CountingOptions, countingStage } from './support/stages.js';

const RECORDS = 3000;
const logger = createLogger('stage-runner-test');
const newKafka = (): Kafka =>
  createKafka({ brokers: kafkaEnvironment().brokers, clientId: 'stage-runner-test', logger });

/** The same Kafka client, but the first `failures` sendBatch calls of its producers are refused. */
function failingSends(kafka: Kafka, failures: number): Kafka {
  let left = failures;
  return new Proxy(kafka, {
    get(target, property, receiver) {
      if (property !== 'producer') return Reflect.get(target, property, receiver);
      return (...args: Parameters<Kafka['producer']>): Producer => {
        const producer = target.producer(...args);
        const sendBatch = producer.sendBatch.bind(producer);
        producer.sendBatch = async (batch) => {
          if (left > 0) {
            left--;
            throw new Error('injected: the broker did not take this batch');
          }
          return sendBatch(batch);
        };
        return producer;
      };
    },
  });
}

/**
 * Hooks into a Kafka client: around every sendBatch of its producers, after every eachBatch of its
 * consumers, and settings its consumers are made with instead of the caller's.
 */
interface Hooks {
  send?: (send: () => Promise<RecordMetadata[]>) => Promise<RecordMetadata[]>;
  /** With the batch's last offset, once `eachBatch` returned (kafkajs waits for a promise returned). */
  handled?: (lastOffset: number) => void | Promise<void>;
  consumer?: Partial<ConsumerConfig>;
}

function instrumented(kafka: Kafka, hooks: Hooks): Kafka {
  return new Proxy(kafka, {
    get(target, property, receiver) {
      if (property === 'producer' && hooks.send)
        return (...args: Parameters<Kafka['producer']>): Producer => {
          const producer = target.producer(...args);
          const sendBatch = producer.sendBatch.bind(producer);
          const around = hooks.send!;
          producer.sendBatch = (batch) => around(() => sendBatch(batch));
          return producer;
        };
      if (property === 'consumer' && (hooks.handled || hooks.consumer))
        return (config: ConsumerConfig): Consumer => {
          const consumer = target.consumer({ ...config, ...hooks.consumer });
          const run = consumer.run.bind(consumer);
          const handled = hooks.handled ?? (() => undefined);
          consumer.run = (config) =>
            run({
              ...config,
              eachBatch: async (payload) => {
                await config?.eachBatch?.(payload);
                await handled(Number(payload.batch.lastOffset()));
              },
            });
          return consumer;
        };
      return Reflect.get(target, property, receiver);
    },
  });
}

/**
 * The same Kafka client, but the first sendBatch of its producers waits for `release` and is then
 * refused, and every batch its consumers handle is reported to `handled`: a send that fails after
 * the runner went on with later batches.
 */
function deferredFailure(kafka: Kafka, release: Promise<void>, handled: (lastOffset: number) => void): Kafka {
  let first = true;
  return instrumented(kafka, {
    send: async (send) => {
      if (!first) return send();
      first = false;
      await release;
      throw new Error('injected: the broker did not take this batch, later');
    },
    handled,
  });
}

/**
 * The `alerts` numbers a consumer takes, in topic order, when it drops every number not above the
 * highest it has seen (as edgeguard's consumers drop sequence numbers they have seen).
 */
function takenInOrder(env: NodeJS.ProcessEnv): Set<number> {
  const taken = new Set<number>();
  let highest = 0;
  for (const record of tail('alerts', env, 2)) {
    const n = (record.value as { n: number }).n;
    if (n <= highest) continue;
    taken.add(n);
    highest = n;
  }
  return taken;
}

/** `count` records on partition 0, 100 per message; record i asks for `path(i)`. */
async function shipRecords(
  prefix: string,
  count: number,
  path: (i: number) => string = (i) => `/item/${i}`,
): Promise<void> {
  const kafka = newKafka();
  const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const parse = createParser('combined');
  const out = new AccessLogProducer({ producer, prefix, partitions: 1, batchRecords: 100 });
  for (let i = 0; i < count; i++) {
    const record = parse.parse(
      `192.0.2.${i % 200} - - [27/Nov/2026:10:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')} +0000] "GET ${path(i)} HTTP/1.1" 200 10 "-" "curl/8.5.0"`,
    );
    assert.ok(!(record instanceof BadInput));
    await out.add(record);
  }
  await out.flush();
  await producer.disconnect();
}

/** An `alerts` output as a consumer downstream sees it: its value and its (source, sequence) headers. */
interface SequencedOutput {
  path: string;
  n: number;
  source: string;
  seq: number;
}

/** Every `alerts` output on partition 0, in topic order, with its provenance headers. */
async function sequencedOutputs(prefix: string): Promise<SequencedOutput[]> {
  const kafka = newKafka();
  const topic = `${prefix}${TOPICS.alerts}`;
  const admin = kafka.admin();
  await admin.connect();
  const high = Number(
    (await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect())).find((o) => o.partition === 0)
      ?.high ?? '0',
  );
  const outputs: SequencedOutput[] = [];
  if (high === 0) return outputs;
  const consumer = kafka.consumer({ groupId: `${prefix}read-${Date.now()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          const header = (name: string) => message.headers?.[name]?.toString() ?? '';
          if (message.value !== null && header('eg-control') !== 'end') {
            const value = JSON.parse(message.value.toString()) as { path: string; n: number };
            outputs.push({ ...value, source: header('eg-src'), seq: Number(header('eg-seq')) });
          }
          if (Number(message.offset) >= high - 1) resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return outputs;
}

/** What a consumer downstream keeps: per source, only sequence numbers above the highest seen. */
function keptDownstream(outputs: SequencedOutput[]): SequencedOutput[] {
  const highest = new Map<string, number>();
  return outputs.filter((o) => {
    if (o.seq <= (highest.get(o.source) ?? 0)) return false;
    highest.set(o.source, o.seq);
    return true;
  });
}

/** The counting stage as a stage worker builds it. */
const countingRecipe = (args: CountingOptions) => ({
  module: new URL('./support/stages-in-worker.mjs', import.meta.url).href,
  export: 'countingStage',
  args,
});

/** A fresh prefix with its topics (one partition each). */
function topics(name: string): string {
  const prefix = uniquePrefix(name);
  const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], { EDGEGUARD_TOPIC_PREFIX: prefix });
  assert.equal(ensure.code, 0, ensure.stderr);
  return prefix;
}

/** The `alerts` values on the topic once every record number 1..count is there. */
async function outputsUpTo(count: number, env: NodeJS.ProcessEnv): Promise<Set<number>> {
  return eventually(
    `all ${count} outputs`,
    () => {
      const seen = new Set(tail('alerts', env, 2).map((r) => (r.value as { n: number }).n));
      return seen.size >= count ? seen : undefined;
    },
    90_000,
  );
}

for (const workers of [0, 2])
  describe(`the stage runner (${workers === 0 ? 'inline' : `${workers} workers`})`, {
    timeout: 180_000,
  }, () => {
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const runners: StageRunner[] = [];
    after(async () => {
      for (const runner of runners) await runner.stop().catch(() => undefined);
      redis.disconnect();
    });

    let metrics = new Metrics('stage-runner-test');
    async function start(
      prefix: string,
      kafka: Kafka,
      stage: CountingOptions = {},
      {
        checkpointIntervalMs = 200,
        maxInFlightBytes,
      }: { checkpointIntervalMs?: number; maxInFlightBytes?: number } = {},
    ): Promise<StageRunner> {
      metrics = new Metrics('stage-runner-test');
      const runner = new StageRunner({
        kafka,
        redis,
        factory: countingStage(stage),
        workers,
        recipe: countingRecipe(stage),
        prefix,
        logger,
        metrics,
        partitions: { [TOPICS.accessLogs]: 1, [TOPICS.alerts]: 1 },
        checkpointIntervalMs,
        maxInFlightBytes,
        maxWaitTimeInMs: 100,
      });
      runners.push(runner);
      await runner.start();
      return runner;
    }

    let prefix: string;
    before(() => {
      prefix = topics(`runner${workers}`);
    });

    it('processes a batch again when the broker refused its outputs: every output arrives', async () => {
      await shipRecords(prefix, RECORDS);
      const kafka = failingSends(newKafka(), 2);
      const runner = await start(prefix, kafka);
      const seen = await outputsUpTo(RECORDS, { EDGEGUARD_TOPIC_PREFIX: prefix });
      for (let n = 1; n <= RECORDS; n++) assert.ok(seen.has(n), `output ${n} is on the topic`);
      // Every record processed is counted (once per batch, after its outputs were acknowledged:
      // the acknowledgement may reach the runner after a reader already sees the outputs).
      const counted = async () =>
        Number(
          /edgeguard_events_total\{stage="counting",topic="access-logs"[^}]*\} (\d+)/.exec(
            await metrics.text(),
          )?.[1] ?? 0,
        );
      await eventually(
        `${RECORDS} events counted`,
        async () => ((await counted()) >= RECORDS ? true : undefined),
        20_000,
      ).catch(async (error: Error) => assert.fail(`${error.message}: ${await counted()}`));
      await runner.stop();
    });

    it('rewinds when a send fails after later batches were processed: no output lost, none overtaken', async () => {
      const deferPrefix = topics(`defer${workers}`);
      const env = { EDGEGUARD_TOPIC_PREFIX: deferPrefix };
      const half = RECORDS / 2;
      // Offsets 0..14, then (once the runner handled them and their send hangs) 15..29.
      await shipRecords(deferPrefix, half);
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let firstHandled = () => {};
      const firstBatch = new Promise<void>((resolve) => {
        firstHandled = resolve;
      });
      const kafka = deferredFailure(newKafka(), released, (lastOffset) => {
        firstHandled();
        // The second half was processed while the first half's outputs were still in flight.
        if (lastOffset >= 2 * (half / 100) - 1) release();
      });
      // No checkpoint meanwhile: it would wait for the hanging send (and rightly hold the partition).
      const runner = await start(deferPrefix, kafka, {}, { checkpointIntervalMs: 60_000 });
      await firstBatch;
      await shipRecords(deferPrefix, half);
      // The second half's outputs, queued behind the refused send, must not reach the topic before
      // the first half's: a consumer would then drop the first half as already seen.
      const taken = await eventually(
        `all ${RECORDS} outputs, in order`,
        () => {
          const seen = takenInOrder(env);
          return seen.size >= RECORDS ? seen : undefined;
        },
        90_000,
      );
      for (let n = 1; n <= RECORDS; n++) assert.ok(taken.has(n), `output ${n} is taken`);
      await runner.stop();
      const saved = JSON.parse(
        (await redis.get(
          `${deferPrefix}checkpoint:${deferPrefix}counting:${deferPrefix}${TOPICS.accessLogs}#0`,
        ))!,
      ) as {
        nextOffset: string;
        outSeq: number;
      };
      assert.deepEqual([saved.nextOffset, saved.outSeq], [String(2 * (half / 100)), RECORDS]);
    });

    it('waits for acknowledgements once maxInFlightBytes of outputs are in flight (backpressure)', async () => {
      const slowPrefix = topics(`slow${workers}`);
      let started = 0;
      let acknowledged = 0;
      // Per handled batch: produce requests sent but not acknowledged when it returned to kafkajs.
      const behind: number[] = [];
      const kafka = instrumented(newKafka(), {
        send: async (send) => {
          started++;
          await sleep(150); // a slow broker
          const result = await send();
          acknowledged++;
          return result;
        },
        handled: () => behind.push(started - acknowledged),
      });
      const runner = await start(slowPrefix, kafka, {}, { maxInFlightBytes: 1 });
      for (let round = 0; round < 3; round++) await shipRecords(slowPrefix, RECORDS / 3);
      await outputsUpTo(RECORDS, { EDGEGUARD_TOPIC_PREFIX: slowPrefix });
      await runner.stop();
      assert.ok(started >= 2, `several produce requests: ${started}`);
      assert.deepEqual(
        behind.filter((n) => n > 0),
        [],
        `no batch returned with its outputs unacknowledged: ${behind.join(' ')}`,
      );
    });

    /**
     * The counting stage keeps no snapshot, so a restart replays its partition. Runs it over 1000
     * records, stops it (checkpoint: offset 10), disturbs the replay with `between`, restarts it
     * with `second`, ships 100 new records: every new record's outputs must reach a consumer that
     * drops the sequence numbers it has seen, and none of the old ones be sent again.
     */
    async function restartWithReplay(
      name: string,
      first: CountingOptions,
      second: CountingOptions,
      between: (prefix: string) => Promise<void>,
    ): Promise<void> {
      const replayPrefix = topics(`${name}${workers}`);
      await shipRecords(replayPrefix, 1000);
      const key = `${replayPrefix}checkpoint:${replayPrefix}counting:${replayPrefix}${TOPICS.accessLogs}#0`;
      let runner = await start(replayPrefix, newKafka(), first);
      await eventually('the first run checkpointed all 10 messages', async () =>
        (JSON.parse((await redis.get(key)) ?? '{}') as { nextOffset?: string }).nextOffset === '10'
          ? true
          : undefined,
      );
      await runner.stop();
      const before = (await sequencedOutputs(replayPrefix)).length;
      assert.equal(before, 1000 * (first.emits ?? 1));
      await between(replayPrefix);
      runner = await start(replayPrefix, newKafka(), second);
      await shipRecords(replayPrefix, 100, (i) => `/new/${i}`);
      const wanted = 100 * (second.emits ?? 1);
      const outputs = await eventually(
        `the ${wanted} outputs of the new records`,
        async () => {
          const all = await sequencedOutputs(replayPrefix);
          return all.filter((o) => o.path.startsWith('/new/')).length >= wanted ? all : undefined;
        },
        30_000,
      );
      await runner.stop();
      // Nothing of the first run was sent again, and every new output is kept downstream.
      assert.equal(outputs.length, before + wanted);
      const kept = keptDownstream(outputs).filter((o) => o.path.startsWith('/new/'));
      assert.equal(kept.length, wanted, 'a consumer downstream takes every new output');
      assert.deepEqual(
        [...new Set(kept.map((o) => o.path))].sort(),
        Array.from({ length: 100 }, (_, i) => `/new/${i}`).sort(),
      );
    }

    it('after retention deleted the oldest input, a replay-restore still sends every new output', async () => {
      await restartWithReplay('retention', {}, {}, async (replayPrefix) => {
        // What retention does: the partition now starts at offset 5 (records 500..999).
        const admin = newKafka().admin();
        await admin.connect();
        const topic = `${replayPrefix}${TOPICS.accessLogs}`;
        await admin.fetchTopicMetadata({ topics: [topic] });
        await admin
          .deleteTopicRecords({
            topic,
            partitions: [{ partition: 0, offset: '5' }],
          })
          .finally(() => admin.disconnect());
      });
    });

    it('after a configuration change that yields fewer outputs per input, a replay-restore still sends every new output', async () => {
      await restartWithReplay('config', { emits: 2 }, { emits: 1 }, async () => undefined);
    });

    it('after a configuration change that yields more outputs per input, a replay-restore sends none of the old inputs again', async () => {
      await restartWithReplay('more', { emits: 1 }, { emits: 2 }, async () => undefined);
    });

    it('stops cleanly while a replay-restore is short of its checkpoint, and keeps that checkpoint', async () => {
      const shortPrefix = topics(`short${workers}`);
      // 5 messages, each in a produce request (a record batch) of its own.
      for (let i = 0; i < 5; i++) await shipRecords(shortPrefix, 100);
      const key = `${shortPrefix}checkpoint:${shortPrefix}counting:${shortPrefix}${TOPICS.accessLogs}#0`;
      // A checkpoint at the log end (offset 5).
      const saved = JSON.stringify({
        nextOffset: '5',
        outSeq: 900,
        lastSeq: {},
        ended: [],
        state: null,
        savedAt: 1,
      });
      await redis.set(key, saved);
      // One record batch per fetch; the replay is held once it processed offsets 0 and 1 (the first
      // batch, offset 0, only restores), and stopped there, short of its checkpoint.
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let held = () => {};
      const holding = new Promise<void>((resolve) => {
        held = resolve;
      });
      const kafka = instrumented(newKafka(), {
        consumer: { maxBytes: 1, maxBytesPerPartition: 1 },
        handled: async (lastOffset) => {
          if (lastOffset < 1) return;
          held();
          await released;
        },
      });
      const runner = await start(shortPrefix, kafka);
      await holding;
      const events = /edgeguard_events_total\{stage="counting"[^}]*\} (\d+)/.exec(await metrics.text());
      assert.equal(events?.[1], '200', 'the replay processed offsets 0 and 1 before the stop');
      const stopped = runner.stop();
      release();
      await stopped; // resolves: nothing to checkpoint, Redis answers
      assert.equal(await redis.get(key), saved, 'the checkpoint restored from is kept');
    });

    it('after the input topic was deleted and created again, a replay-restore sends every new output, numbered above the old ones', async () => {
      const recreatePrefix = topics(`recreate${workers}`);
      const env = { EDGEGUARD_TOPIC_PREFIX: recreatePrefix };
      const input = `${recreatePrefix}${TOPICS.accessLogs}`;
      const key = `${recreatePrefix}checkpoint:${recreatePrefix}counting:${input}#0`;
      await shipRecords(recreatePrefix, 1000);
      let runner = await start(recreatePrefix, newKafka());
      await eventually('the first run checkpointed all 10 messages', async () =>
        (JSON.parse((await redis.get(key)) ?? '{}') as { nextOffset?: string }).nextOffset === '10'
          ? true
          : undefined,
      );
      await runner.stop();
      const old = JSON.parse((await redis.get(key))!) as { nextOffset: string; outSeq: number };
      assert.deepEqual([old.nextOffset, old.outSeq], ['10', 1000]);
      assert.equal((await sequencedOutputs(recreatePrefix)).length, 1000);
      // The input topic deleted and created again, its checkpoint left in Redis: 3 new messages
      // (offsets 0..2, the checkpoint is at 10).
      const admin = newKafka().admin();
      await admin.connect();
      try {
        await admin.deleteTopics({ topics: [input] });
        await eventually('the input topic created again', async () => {
          if ((await admin.listTopics()).includes(input)) return undefined;
          const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], env);
          return ensure.code === 0 && (await admin.listTopics()).includes(input) ? true : undefined;
        });
      } finally {
        await admin.disconnect();
      }
      await shipRecords(recreatePrefix, 300, (i) => `/new/${i}`);
      runner = await start(recreatePrefix, newKafka());
      const outputs = await eventually(
        'the 300 outputs of the new records',
        async () => {
          const all = await sequencedOutputs(recreatePrefix);
          return all.filter((o) => o.path.startsWith('/new/')).length >= 300 ? all : undefined;
        },
        30_000,
      );
      await runner.stop();
      assert.equal(outputs.length, 1300, 'each new record has one output, none was sent twice');
      const fresh = outputs.filter((o) => o.path.startsWith('/new/'));
      assert.ok(
        fresh.every((o) => o.seq > old.outSeq),
        `numbered above the old checkpoint's ${old.outSeq}: ${fresh[0]?.seq}..${fresh.at(-1)?.seq}`,
      );
      const kept = keptDownstream(outputs).filter((o) => o.path.startsWith('/new/'));
      assert.deepEqual(
        kept.map((o) => o.path).sort(),
        Array.from({ length: 300 }, (_, i) => `/new/${i}`).sort(),
        'a consumer downstream takes every new output',
      );
      // The checkpoint of the old topic was replaced by one of the new one.
      const now = JSON.parse((await redis.get(key))!) as { nextOffset: string; outSeq: number };
      assert.deepEqual([now.nextOffset, now.outSeq], ['3', 1300]);
    });

    it('replays over an unreadable checkpoint instead of stalling the partition', async () => {
      const env = { EDGEGUARD_TOPIC_PREFIX: prefix };
      const keys = await redis.keys(`${prefix}checkpoint:*`);
      assert.equal(keys.length, 1, 'the first run checkpointed its partition');
      await redis.set(keys[0]!, '{"nextOffset": "12", "outSeq"');
      const runner = await start(prefix, newKafka());
      await shipRecords(prefix, 10);
      // The new records are numbered after the replayed ones: the state was rebuilt, not started empty.
      await eventually('the 10 new records counted after the replay', () => {
        const seen = new Set(tail('alerts', env, 2).map((r) => (r.value as { n: number }).n));
        return seen.has(RECORDS + 10) ? true : undefined;
      });
      // The next checkpoint (every 200 ms here) replaces the cut one.
      const saved = await eventually('a readable checkpoint written again', async () => {
        try {
          return JSON.parse((await redis.get(keys[0]!))!) as { nextOffset: string };
        } catch {
          return undefined;
        }
      });
      // 30 messages of 100 records, then one of 10: the checkpoint covers them all.
      assert.ok(
        Number(saved.nextOffset) > RECORDS / 100,
        `checkpointed past the replay: ${saved.nextOffset}`,
      );
      await runner.stop();
    });

    it('routes undecodable messages, bad headers and records the stage throws on to the dead-letter topic', async () => {
      const deadPrefix = topics(`dead${workers}`);
      const env = { EDGEGUARD_TOPIC_PREFIX: deadPrefix };
      // Not Avro, a tombstone (access-logs carries batches only), a sequence that is not a number.
      const poison: Message[] = [
        { key: 'poison', value: Buffer.from('definitely not an Avro batch') },
        { key: 'tombstone', value: null },
        { key: 'bad-seq', value: Buffer.from('x'), headers: { 'eg-src': 'x/0', 'eg-seq': 'abc' } },
      ];
      const producer = createProducer(newKafka());
      await producer.connect();
      await producer.send({
        topic: `${deadPrefix}${TOPICS.accessLogs}`,
        messages: poison.map((m) => ({ ...m, partition: 0 })),
      });
      await producer.disconnect();
      await shipRecords(deadPrefix, 50, (i) => (i === 20 ? '/throw' : `/item/${i}`));
      const runner = await start(deadPrefix, newKafka());
      // The partition flows on: the 49 records the stage took are counted 1..49.
      await outputsUpTo(49, env);
      const dead = await eventually('four dead letters', () => {
        const records = tail('dead-letter', env, 2);
        return records.length >= 4 ? records : undefined;
      });
      assert.equal(dead.length, 4);
      // The record the stage threw on is dead-lettered alone, as JSON, the rest of its message went on.
      assert.ok(dead.some((r) => (r.value as { path?: string } | null)?.path === '/throw'));
      const text = await metrics.text();
      for (const [reason, count] of [
        ['undecodable', 2],
        ['bad-header', 1],
        ['processing-error', 1],
      ] as const)
        assert.match(
          text,
          new RegExp(
            `edgeguard_dead_letters_total\\{stage="counting",reason="${reason}"[^}]*\\} ${count}\\b`,
          ),
        );
      await runner.stop();
    });

    it('never blocks a partition on a dead letter too large for the broker: its value is cut, or dropped', async () => {
      const bigPrefix = topics(`bigdead${workers}`);
      const env = { EDGEGUARD_TOPIC_PREFIX: bigPrefix };
      const kafka = newKafka();
      // The dead-letter topic takes at most 300 000 bytes per batch (the broker: ~1 MiB).
      const admin = kafka.admin();
      await admin.connect();
      await admin
        .alterConfigs({
          validateOnly: false,
          resources: [
            {
              type: 2, // TOPIC
              name: `${bigPrefix}${TOPICS.deadLetter}`,
              configEntries: [{ name: 'max.message.bytes', value: '300000' }],
            },
          ],
        })
        .finally(() => admin.disconnect());
      const producer = createProducer(kafka);
      await producer.connect();
      const topic = `${bigPrefix}${TOPICS.accessLogs}`;
      // Undecodable and as large as the broker takes: with its dead-letter headers it was too large.
      await producer.send({
        topic,
        messages: [{ key: 'big', value: Buffer.alloc(1_048_400, 'x'), partition: 0 }],
      });
      // Below the cut, but its own headers make its dead letter too large for the topic.
      await producer.send({
        topic,
        messages: [
          {
            key: 'padded',
            value: Buffer.alloc(200_000, 'y'),
            headers: { 'x-pad': 'p'.repeat(150_000) },
            partition: 0,
          },
        ],
      });
      await producer.disconnect();
      await shipRecords(bigPrefix, 50);
      const runner = await start(bigPrefix, newKafka());
      // The partition flows on past both.
      await outputsUpTo(50, env);
      const consumer = kafka.consumer({ groupId: `${bigPrefix}read-dead`, maxWaitTimeInMs: 100 });
      const dead: { key: string; size: number | null; truncated: string; error: string; pad: boolean }[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic: `${bigPrefix}${TOPICS.deadLetter}`, fromBeginning: true });
      await new Promise<void>((resolve) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            dead.push({
              key: message.key?.toString() ?? '',
              size: message.value?.length ?? null,
              truncated: message.headers?.['eg-truncated']?.toString() ?? '',
              error: message.headers?.['eg-error']?.toString() ?? '',
              pad: message.headers?.['x-pad'] !== undefined,
            });
            if (dead.length >= 2) resolve();
          },
        });
      });
      await consumer.disconnect();
      await runner.stop();
      assert.deepEqual(
        dead.map(({ key, size, truncated, pad }) => ({ key, size, truncated, pad })),
        [
          { key: 'big', size: 256 * 1024, truncated: '1048400', pad: false },
          { key: 'padded', size: null, truncated: '200000', pad: false },
        ],
      );
      for (const d of dead) assert.match(d.error, /^undecodable: /);
      const text = await metrics.text();
      for (const how of ['cut', 'dropped'])
        assert.match(
          text,
          new RegExp(`edgeguard_dead_letters_truncated_total\\{stage="counting",how="${how}"[^}]*\\} 1\\b`),
        );
    });

    if (workers > 0)
      it('replaces a stage worker that dies mid-batch: the batch is processed again, every output arrives', async () => {
        const crashPrefix = topics('crash');
        const crashFlag = join(mkdtempSync(join(tmpdir(), 'eg-crash-')), 'crashed');
        await shipRecords(crashPrefix, RECORDS, (i) => (i === RECORDS / 2 ? '/crash' : `/item/${i}`));
        const runner = await start(crashPrefix, newKafka(), { crashFlag });
        const seen = await outputsUpTo(RECORDS, { EDGEGUARD_TOPIC_PREFIX: crashPrefix });
        assert.ok(existsSync(crashFlag), 'a worker exited on the /crash record');
        for (let n = 1; n <= RECORDS; n++) assert.ok(seen.has(n), `output ${n} is on the topic`);
        await runner.stop();
      });
  });
