// Which errors mean "Redis did not answer" (503 redis-unavailable) and which stay errors (500), and
// the probe over the real Redis. The outage itself is in test/integration/api-redis-outage.test.ts.
import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { createLogger, Metrics } from '@edgeguard/telemetry';
import { Redis, ReplyError } from 'ioredis';
import type { Gauge } from 'prom-client';
import { ApiError } from '../src/errors.js';
import { RedisHealth } from '../src/redis-health.js';

describe('RedisHealth', () => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  after(() => redis.disconnect());
  const health = (available?: Gauge<string>) =>
    new RedisHealth(redis, 1500, 'Redis at here:1 (REDIS_URL)', createLogger('api-test'), available);
  const availability = async (metrics: Metrics) =>
    (await metrics.registry.getSingleMetric('edgeguard_api_redis_available')?.get())?.values[0]?.value;

  it('answers a timed-out command 503 redis-unavailable, and refuses later requests until a PING answers', async () => {
    const metrics = new Metrics('api');
    const h = health(metrics.gauge('edgeguard_api_redis_available', 'Redis answers'));
    assert.equal(await availability(metrics), 0, 'not reported up before a PING answered');
    await h.probe();
    assert.equal(await availability(metrics), 1);
    h.check();
    const refused = h.unavailable(new Error('Command timed out'));
    assert.ok(refused instanceof ApiError);
    assert.equal(refused.status, 503);
    assert.equal(refused.code, 'redis-unavailable');
    assert.equal(refused.message, 'Redis at here:1 (REDIS_URL) did not answer within 1.5 s');
    assert.deepEqual(refused.headers, { 'retry-after': '1' });
    assert.throws(
      () => h.check(),
      (e: unknown) => e instanceof ApiError && e.code === 'redis-unavailable',
    );
    assert.equal(await availability(metrics), 0, 'an operator sees the outage in /metrics');
    await h.probe(); // the real Redis answers
    assert.equal(h.problem, null);
    assert.equal(await availability(metrics), 1);
    h.check();
  });

  it('says "did not answer within" when the probe\'s PING times out, in the words of a request\'s 503', async () => {
    // A server that accepts and never answers: the PING's commandTimeout (50 ms) fires first.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const mute = new Redis(port, '127.0.0.1', {
      commandTimeout: 50,
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
    });
    mute.on('error', () => undefined);
    try {
      const h = new RedisHealth(mute, 1500, 'Redis at here:1 (REDIS_URL)', createLogger('api-test'));
      await h.probe();
      assert.equal(h.problem, 'Redis at here:1 (REDIS_URL) did not answer within 1.5 s');
    } finally {
      mute.disconnect();
      silent.close();
    }
  });

  it('counts a closed or retried-out connection as unavailable, never a Redis error reply', () => {
    const h = health();
    for (const message of [
      'Connection is closed.',
      'Reached the max retries per request limit (which is 3).',
    ]) {
      const refused = h.unavailable(new Error(message));
      assert.equal(refused?.code, 'redis-unavailable', message);
      // docs/API.md's words, not ioredis' text (which is logged)
      assert.equal(refused?.message, 'Redis at here:1 (REDIS_URL) did not answer within 1.5 s', message);
    }
    const fresh = health();
    assert.equal(
      fresh.unavailable(new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')),
      null,
    );
    assert.equal(fresh.unavailable(new TypeError('x is not a function')), null);
    assert.equal(fresh.problem, null);
  });
});
