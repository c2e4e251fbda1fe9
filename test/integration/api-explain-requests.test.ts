import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { AccessLogProducer, createKafka, createProducer, kafkaEnvironment } from '@edgeguard/kafka';
import { TOPICS } from '@edgeguard/pipeline';
import type { AccessLog } from '@edgeguard/schema';
import { createLogger } from '@edgeguard/telemetry';
import type { Kafka } from 'kafkajs';
import { readClientRequests } from '../../services/api/src/explain-requests.js';

function log(time: number, clientAddress: string, path: string): AccessLog {
  return {
    time,
    clientAddress,
    peerAddress: null,
    method: 'GET',
    host: 'shop.example',
    path,
    query: null,
    protocol: 'HTTP/1.1',
    status: 200,
    bytes: 100,
    edgeDurationMs: null,
    originDurationMs: null,
    cacheStatus: 'MISS',
    userAgent: 'curl/8',
    referer: null,
    acceptLanguage: null,
    ja3: null,
    ja4: null,
    headerOrder: null,
    asn: null,
    country: null,
    edgeNode: null,
    requestId: null,
  };
}

/** A fresh access-logs topic of `partitions` on the local broker, a writer for it, removed afterwards. */
async function withAccessLogs(
  partitions: number,
  body: (context: { kafka: Kafka; prefix: string; writer: AccessLogProducer }) => Promise<void>,
): Promise<void> {
  const prefix = `egtest.${randomBytes(4).toString('hex')}.`;
  const kafka = createKafka({
    brokers: kafkaEnvironment().brokers,
    clientId: 'explain-test',
    logger: createLogger('explain-test'),
  });
  const admin = kafka.admin();
  await admin.connect();
  const topic = prefix + TOPICS.accessLogs;
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    await body({
      kafka,
      prefix,
      writer: new AccessLogProducer({ producer, prefix, partitions, batchRecords: 4 }),
    });
  } finally {
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
}

test('explain requests: the client’s own records from its access-logs partition, in order, up to decidedAt', async () => {
  await withAccessLogs(3, async ({ kafka, prefix, writer }) => {
    const now = Date.now();
    const target = '198.51.100.7';
    for (let i = 0; i < 30; i++) {
      await writer.add(log(now - 30_000 + i * 1000, target, `/t/${i}`));
      await writer.add(log(now - 30_000 + i * 1000, `198.51.100.${20 + (i % 5)}`, `/o/${i}`));
    }
    await writer.flush();
    const decidedAt = Date.now();
    const answer = await readClientRequests({ kafka, prefix, ip: target, decidedAt, limit: 10 });
    assert.equal(answer.requests.length, 10);
    assert.ok(answer.scannedMessages > 0);
    assert.deepEqual(
      answer.requests.map((r) => r.path),
      Array.from({ length: 10 }, (_, i) => `/t/${20 + i}`),
    );
    for (let i = 1; i < answer.requests.length; i++)
      assert.ok(answer.requests[i - 1]!.time <= answer.requests[i]!.time);
    assert.ok(answer.requests.every((r) => r.time <= decidedAt));
  });
});

test('explain requests: a log shipped days after it was written (Kafka timestamps later than every event time) still shows the client’s requests', async () => {
  await withAccessLogs(1, async ({ kafka, prefix, writer }) => {
    // Two days ago, one record per second: 2,400 records in 600 batch messages, the explained
    // client's requests 2,000 records (500 messages, far past the 64 read by default) in.
    const start = Date.now() - 2 * 86_400_000;
    const target = '203.0.113.9';
    for (let i = 0; i < 2400; i++) {
      const mine = i >= 2000 && i < 2040 && i % 2 === 0;
      await writer.add(log(start + i * 1000, mine ? target : `198.51.100.${i % 200}`, `/p/${i}`));
    }
    await writer.flush();
    const decidedAt = start + 2030 * 1000;
    const answer = await readClientRequests({ kafka, prefix, ip: target, decidedAt, limit: 5 });
    assert.deepEqual(
      answer.requests.map((r) => r.path),
      ['/p/2022', '/p/2024', '/p/2026', '/p/2028', '/p/2030'],
    );
    assert.ok((answer.probes ?? 0) > 1 && (answer.probes ?? 0) <= 24, `probes ${answer.probes}`);
    assert.ok(answer.scannedMessages <= 64);
  });
});
