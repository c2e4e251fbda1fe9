// The local infrastructure works end to end: a real Kafka broker (infra/local.sh) and a real Redis,
// no mocks. This is the first test to read when any other integration test fails to connect.
//
// Knobs: KAFKA_BROKERS (default 127.0.0.1:$KAFKA_PORT, port 9092), REDIS_URL (default
// redis://127.0.0.1:6379), EDGEGUARD_TOPIC_PREFIX (default edgeguard-test; a random suffix is always added
// so that runs never share topics, groups or keys).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import type { Admin, LogEntry } from 'kafkajs';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const START_HINT = 'Start the local Kafka broker and Redis with `npm run infra:up` (see infra/README.md).';

const brokers = (process.env.KAFKA_BROKERS ?? `127.0.0.1:${process.env.KAFKA_PORT ?? '9092'}`)
  .split(',')
  .map((broker) => broker.trim())
  .filter((broker) => broker.length > 0);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const runId = `${process.env.EDGEGUARD_TOPIC_PREFIX ?? 'edgeguard-test'}.infra.${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

const PARTITIONS = 3;
const MESSAGES = 1_000;
/** Client addresses, as the shipper keys access logs: one client's history must live on one partition. */
const CLIENT_KEYS = [
  ...Array.from({ length: 48 }, (_, i) => `198.51.100.${i}`),
  '2001:db8::1',
  '2001:db8::7',
];
/**
 * Where a Java producer puts these keys on a 3-partition topic, computed on this repo's broker classpath with
 * `Utils.toPositive(Utils.murmur2(key.getBytes(UTF_8))) % 3` (org.apache.kafka.common.utils.Utils,
 * kafka-clients 3.9.1). kafkajs must agree, or Node and JVM producers would split one client's history.
 */
const JAVA_PARTITION_OF: Record<string, number> = {
  '198.51.100.0': 0,
  '198.51.100.1': 1,
  '198.51.100.4': 2,
  '2001:db8::1': 2,
};
/** Safety net so a broken broker fails the test instead of hanging it; not a speed assertion. */
const CONSUME_DEADLINE_MS = 60_000;

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** kafkajs logs into this ring instead of the terminal; its tail is attached to failure messages. */
const kafkaLogTail: string[] = [];
const KAFKA_LOG_TAIL_LINES = 30;
const captureKafkaLog = () => (entry: LogEntry) => {
  kafkaLogTail.push(`${entry.label} [${entry.namespace}] ${entry.log.message}`);
  if (kafkaLogTail.length > KAFKA_LOG_TAIL_LINES) kafkaLogTail.shift();
};

/** Connects an admin client, or fails with what to do: an unreachable broker is a setup error, not a skip. */
async function connectAdminOrExplain(): Promise<Admin> {
  // No retries: a refused connection should fail in milliseconds, not after kafkajs's backoff.
  const probe = new Kafka({
    clientId: 'edgeguard-infra-test-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2_000,
    retry: { retries: 0 },
  }).admin();
  try {
    await probe.connect();
    await probe.describeCluster();
  } catch (error) {
    assert.fail(`Kafka does not answer at ${brokers.join(',')}: ${describeError(error)}. ${START_HINT}`);
  } finally {
    await probe.disconnect().catch(() => {});
  }
  const admin = kafka.admin();
  await admin.connect();
  return admin;
}

const kafka = new Kafka({
  clientId: 'edgeguard-infra-test',
  brokers,
  logLevel: logLevel.WARN,
  logCreator: captureKafkaLog,
});

interface Received {
  key: string;
  seq: number;
  partition: number;
}

test('1,000 keyed messages come back from a real 3-partition topic, none lost, each client on one partition', async () => {
  const admin = await connectAdminOrExplain();
  const topic = `${runId}.access-logs`;
  const groupId = `${runId}.consumer`;
  // Idempotent, as the shipper's producer is: a produce request retried after a timeout whose first
  // attempt had in fact landed is then written once. A plain producer stores it twice (a CI run saw
  // 1,056 messages for 1,000 sent), which is Kafka's at-least-once, not a loss this test is after.
  const producers = [1, 2].map(() =>
    kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      maxInFlightRequests: 1,
    }),
  );
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
  let deadline: NodeJS.Timeout | undefined;
  try {
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    assert.equal(created, true, `topic ${topic} already existed: topic names must be unique per run`);

    // Two independent producers (as two shipper processes would be) each send half of the traffic,
    // cycling through the clients, in batches.
    const half = MESSAGES / 2;
    for (const [index, producer] of producers.entries()) {
      await producer.connect();
      for (let batchStart = index * half; batchStart < (index + 1) * half; batchStart += 100) {
        const messages = Array.from({ length: 100 }, (_, offset) => {
          const seq = batchStart + offset;
          const key = CLIENT_KEYS[seq % CLIENT_KEYS.length]!;
          return { key, value: JSON.stringify({ seq, producer: index }) };
        });
        await producer.send({ topic, messages, acks: -1 });
      }
    }

    const highWatermarks = await admin.fetchTopicOffsets(topic);
    assert.equal(highWatermarks.length, PARTITIONS);
    const stored = highWatermarks.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    assert.equal(
      stored,
      MESSAGES,
      `the broker stores every acknowledged message once; kafkajs log tail:\n${kafkaLogTail.join('\n')}`,
    );

    const received: Received[] = [];
    const allReceived = new Promise<void>((resolve, reject) => {
      deadline = setTimeout(
        () =>
          reject(
            new Error(
              `received ${received.length} of ${MESSAGES} messages within ${CONSUME_DEADLINE_MS} ms; ` +
                `kafkajs log tail:\n${kafkaLogTail.join('\n')}`,
            ),
          ),
        CONSUME_DEADLINE_MS,
      );
      consumer
        .connect()
        .then(() => consumer.subscribe({ topic, fromBeginning: true }))
        .then(() =>
          consumer.run({
            eachMessage: async ({ partition, message }) => {
              const { seq } = JSON.parse(message.value?.toString() ?? 'null') as { seq: number };
              received.push({ key: message.key?.toString() ?? '', seq, partition });
              if (received.length >= MESSAGES) resolve();
            },
          }),
        )
        .catch(reject);
    });
    await allReceived;

    assert.equal(new Set(received.map((r) => r.seq)).size, MESSAGES, 'every message arrives exactly once');

    const partitionsOfKey = new Map<string, Set<number>>();
    const lastSeqOfKey = new Map<string, number>();
    for (const { key, seq, partition } of received) {
      const partitions = partitionsOfKey.get(key) ?? new Set<number>();
      partitions.add(partition);
      partitionsOfKey.set(key, partitions);
      const previous = lastSeqOfKey.get(key) ?? -1;
      assert.ok(
        seq > previous,
        `client ${key}: message ${seq} arrived after ${previous} (per-client order lost)`,
      );
      lastSeqOfKey.set(key, seq);
    }
    assert.deepEqual([...partitionsOfKey.keys()].sort(), [...CLIENT_KEYS].sort());
    for (const [key, partitions] of partitionsOfKey) {
      assert.equal(
        partitions.size,
        1,
        `client ${key} is spread over partitions ${[...partitions].join(',')}`,
      );
    }
    for (const [key, javaPartition] of Object.entries(JAVA_PARTITION_OF)) {
      assert.deepEqual(
        [...partitionsOfKey.get(key)!],
        [javaPartition],
        `client ${key} partition vs Java client`,
      );
    }
    const usedPartitions = new Set(received.map((r) => r.partition));
    assert.equal(usedPartitions.size, PARTITIONS, 'keys spread over all partitions');

    // Stopping commits what was consumed: the group coordinator (internal offsets topic) works on one broker.
    await consumer.stop();
    await consumer.disconnect();
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committedTotal = committed!.partitions.reduce((sum, p) => sum + Number(p.offset), 0);
    assert.equal(committedTotal, MESSAGES, 'the consumer group committed every consumed offset');
  } finally {
    clearTimeout(deadline);
    await consumer.disconnect().catch(() => {});
    for (const producer of producers) await producer.disconnect().catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
});

test('Redis answers PING and keeps a value written with an expiry', async () => {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  // ioredis reports the cause of a failed connection as an 'error' event; keep it for the message.
  let connectionError: unknown;
  redis.on('error', (error) => {
    connectionError = error;
  });
  const key = `${runId}:probe`;
  try {
    try {
      await redis.connect();
    } catch (error) {
      assert.fail(
        `Redis does not answer at ${redisUrl}: ${describeError(connectionError ?? error)}. ${START_HINT}`,
      );
    }
    assert.equal(await redis.ping(), 'PONG');
    assert.equal(await redis.set(key, 'blocked:198.51.100.7', 'EX', 60), 'OK');
    assert.equal(await redis.get(key), 'blocked:198.51.100.7');
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 0 && ttl <= 60, `expiry kept (ttl ${ttl} s)`);
    assert.equal(await redis.del(key), 1);
    assert.equal(await redis.get(key), null);
  } finally {
    redis.disconnect();
  }
});
