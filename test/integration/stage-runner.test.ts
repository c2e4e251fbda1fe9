// The stage runtime's own guarantees on the real broker and Redis, with a small counting stage:
// a batch whose outputs the broker did not take is processed again (nothing skipped, nothing
// checkpointed that was not sent), and an unreadable checkpoint is replayed over instead of
// stalling its partition.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  AccessLogProducer,
  createKafka,
  createProducer,
  kafkaEnvironment,
  StageRunner,
} from '@edgeguard/kafka';
import { createParser } from '@edgeguard/logformat';
import { type StageFactory, TOPICS } from '@edgeguard/pipeline';
import { type AccessLog, BadInput } from '@edgeguard/schema';
import { createLogger, Metrics } from '@edgeguard/telemetry';
import { Redis } from 'ioredis';
import type { Kafka, Producer } from 'kafkajs';
import { edgeguard, eventually, tail, uniquePrefix } from './support/services.js';

const RECORDS = 3000;
const logger = createLogger('stage-runner-test');
const newKafka = (): Kafka =>
  createKafka({ brokers: kafkaEnvironment().brokers, clientId: 'stage-runner-test', logger });

/** Emits one `alerts` value per access-log record: its client and its number on the partition. */
const counting: StageFactory = {
  name: 'counting',
  inputs: [TOPICS.accessLogs],
  create: () => {
    let n = 0;
    return {
      name: 'counting',
      process: (message, out) => {
        n++;
        const log = message.value as AccessLog;
        out.emit(TOPICS.alerts, `${log.path}`, { path: log.path, n }, log.time);
      },
    };
  },
};

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

async function shipRecords(prefix: string, count: number): Promise<void> {
  const kafka = newKafka();
  const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const parse = createParser('combined');
  const out = new AccessLogProducer({ producer, prefix, partitions: 1, batchRecords: 100 });
  for (let i = 0; i < count; i++) {
    const record = parse.parse(
      `192.0.2.${i % 200} - - [27/Nov/2026:10:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')} +0000] "GET /item/${i} HTTP/1.1" 200 10 "-" "curl/8.5.0"`,
    );
    assert.ok(!(record instanceof BadInput));
    await out.add(record);
  }
  await out.flush();
  await producer.disconnect();
}

describe('the stage runner', { timeout: 180_000 }, () => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const runners: StageRunner[] = [];
  after(async () => {
    for (const runner of runners) await runner.stop().catch(() => undefined);
    redis.disconnect();
  });

  let metrics = new Metrics('stage-runner-test');
  async function start(prefix: string, kafka: Kafka): Promise<StageRunner> {
    metrics = new Metrics('stage-runner-test');
    const runner = new StageRunner({
      kafka,
      redis,
      factory: counting,
      prefix,
      logger,
      metrics,
      partitions: { [TOPICS.accessLogs]: 1, [TOPICS.alerts]: 1 },
      checkpointIntervalMs: 200,
      maxWaitTimeInMs: 100,
    });
    runners.push(runner);
    await runner.start();
    return runner;
  }

  /** The `alerts` values on the topic: every record number 1..RECORDS must be there. */
  async function allOutputs(env: NodeJS.ProcessEnv): Promise<Set<number>> {
    return eventually(
      `all ${RECORDS} outputs`,
      () => {
        const seen = new Set(tail('alerts', env, 2).map((r) => (r.value as { n: number }).n));
        return seen.size >= RECORDS ? seen : undefined;
      },
      90_000,
    );
  }

  let prefix: string;
  before(() => {
    prefix = uniquePrefix('runner');
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], { EDGEGUARD_TOPIC_PREFIX: prefix });
    assert.equal(ensure.code, 0, ensure.stderr);
  });

  it('processes a batch again when the broker refused its outputs: every output arrives', async () => {
    await shipRecords(prefix, RECORDS);
    const kafka = failingSends(newKafka(), 2);
    const runner = await start(prefix, kafka);
    const seen = await allOutputs({ EDGEGUARD_TOPIC_PREFIX: prefix });
    for (let n = 1; n <= RECORDS; n++) assert.ok(seen.has(n), `output ${n} is on the topic`);
    // Every record processed is counted (once per batch, after its outputs were acknowledged).
    const events = /edgeguard_events_total\{stage="counting",topic="access-logs"[^}]*\} (\d+)/.exec(
      await metrics.text(),
    );
    assert.ok(events && Number(events[1]) >= RECORDS, `events counted: ${events?.[1]}`);
    await runner.stop();
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
    assert.ok(Number(saved.nextOffset) > RECORDS / 100, `checkpointed past the replay: ${saved.nextOffset}`);
    await runner.stop();
  });
});
