// `edgeguard run api` on a port already taken, or a host that does not resolve: one error naming
// the API's address and its variables (it was node's "listen EADDRINUSE: address already in use
// 127.0.0.1:8080"), and nothing left running (Redis, Kafka, timers): this file's process ends
// (a Kafka producer or cache-policy consumer connected after the close kept it alive ~25 s).
import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { connectAdmin, createKafka, edgeguardTopics, ensureTopics } from '@edgeguard/kafka';
import { TOPICS } from '@edgeguard/pipeline';
import { createLogger } from '@edgeguard/telemetry';
import { Redis } from 'ioredis';
import { apiOptions } from '../src/options.js';
import { runApi } from '../src/run.js';

const prefix = `test.apilisten.${process.pid}.${Date.now().toString(36)}.`;
const env = () => ({ ...process.env, EDGEGUARD_TOPIC_PREFIX: prefix, EDGEGUARD_API_HOST: '127.0.0.1' });

// The cache-policies topic exists, as in a deployment (without it kafkajs' admin retries its
// metadata request for about a minute whatever the API does).
before(async () => {
  const { brokers } = apiOptions(env());
  const admin = createKafka({
    brokers,
    clientId: 'api-listen-test',
    logger: createLogger('api-test'),
  }).admin();
  await connectAdmin(admin, brokers, 30_000);
  try {
    await ensureTopics(
      admin,
      prefix,
      edgeguardTopics(1).filter((spec) => spec.name === TOPICS.cachePolicies),
    );
  } finally {
    await admin.disconnect();
  }
});

// What the stopped API wrote to Redis before it closed (the tombstone recorder's state).
after(async () => {
  const redis = new Redis(apiOptions(env()).redisUrl);
  const keys = await redis.keys(`{${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

test('a taken port is refused naming EDGEGUARD_API_HOST and EDGEGUARD_API_PORT', {
  timeout: 60_000,
}, async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as AddressInfo;
  try {
    await assert.rejects(
      runApi(apiOptions({ ...env(), EDGEGUARD_API_PORT: String(port) }), false),
      (error: Error) => {
        assert.equal(
          error.message,
          `cannot listen on 127.0.0.1:${port} (EDGEGUARD_API_HOST, EDGEGUARD_API_PORT): address already in use (EADDRINUSE)`,
        );
        return true;
      },
    );
  } finally {
    taken.close();
  }
});

test('a host that does not resolve is refused naming the variables', { timeout: 60_000 }, async () => {
  await assert.rejects(
    runApi(
      apiOptions({ ...env(), EDGEGUARD_API_HOST: 'no-such-host.invalid', EDGEGUARD_API_PORT: '0' }),
      false,
    ),
    /^Error: cannot listen on no-such-host\.invalid:0 \(EDGEGUARD_API_HOST, EDGEGUARD_API_PORT\): .+ \((ENOTFOUND|EAI_AGAIN)\)$/,
  );
});
