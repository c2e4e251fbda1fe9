import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { AccessLogProducer, createKafka, createProducer } from '@edgeguard/kafka';
import { TOPICS } from '@edgeguard/pipeline';
import type { AccessLog } from '@edgeguard/schema';
import { createLogger } from '@edgeguard/telemetry';
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

test('explain requests: the client’s own records from its access-logs partition, in order, up to decidedAt', async () => {
  const prefix = `egtest.${randomBytes(4).toString('hex')}.`;
  const kafka = createKafka({
    brokers: ['127.0.0.1:9092'],
    clientId: 'explain-test',
    logger: createLogger('explain-test'),
  });
  const admin = kafka.admin();
  await admin.connect();
  const topic = prefix + TOPICS.accessLogs;
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    const writer = new AccessLogProducer({ producer, prefix, partitions: 3, batchRecords: 4 });
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
  } finally {
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
});
