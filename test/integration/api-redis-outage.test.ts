// Redis stops answering under a running `edgeguard run api` (its own redis-server, paused with
// CLIENT PAUSE ALL; the shared 6379 is never touched): every request that needs Redis must fail
// fast with the API's error shape (503 `redis-unavailable`) within EDGEGUARD_REDIS_TIMEOUT_MS and a
// little, what does not need Redis keeps answering, /readyz says why, and all recovers after.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { DecisionStore } from '@edgeguard/decisions';
import { apiKeys } from '@edgeguard/service-api';
import { Redis } from 'ioredis';
import { createKey, decision, type RunningApi, startApi } from './support/api.js';
import { startRedis } from './support/redis.js';
import { edgeguard, eventually, uniquePrefix } from './support/services.js';

const TIMEOUT_MS = 1000;
/** How long past the timeout an answer may take (event loop, a second Redis call after a slow first). */
const SLACK_MS = 1500;

describe('the API with Redis not answering', { timeout: 180_000 }, () => {
  let redisServer: ChildProcess;
  let port: number;
  let api: RunningApi;
  let bouncer: string;
  let admin: string;
  let unused: string;
  const prefix = uniquePrefix('apiredis');

  before(async () => {
    ({ port, server: redisServer } = await startRedis());
    const env = {
      EDGEGUARD_TOPIC_PREFIX: prefix,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      EDGEGUARD_REDIS_TIMEOUT_MS: String(TIMEOUT_MS),
    };
    assert.equal(edgeguard(['topics', 'ensure', '--partitions', '1'], env).code, 0);
    bouncer = createKey(env, 'edge', 'bouncer');
    admin = createKey(env, 'ops', 'admin');
    unused = createKey(env, 'edge-unused', 'bouncer'); // not in the API's key cache when Redis stops
    api = await startApi(env);
  });

  after(async () => {
    await api?.stop();
    redisServer?.kill('SIGKILL');
  });

  /** GET `path` with `key`; status, error code and how long it took (a hang is cut at 20 s). */
  const timed = async (path: string, key: string | null) => {
    const started = Date.now();
    try {
      const response = await fetch(`${api.url}${path}`, {
        headers: key ? { 'x-api-key': key } : {},
        signal: AbortSignal.timeout(20_000),
      });
      const text = await response.text();
      let code: string | undefined;
      try {
        code = (JSON.parse(text) as { error?: string }).error;
      } catch {
        code = undefined;
      }
      return { path, status: response.status, code, text, ms: Date.now() - started };
    } catch (error) {
      return { path, status: 0, code: (error as Error).name, text: '', ms: Date.now() - started };
    }
  };

  const pause = (ms: number) => {
    const run = spawnSync('redis-cli', ['-p', String(port), 'CLIENT', 'PAUSE', String(ms), 'ALL'], {
      encoding: 'utf8',
    });
    assert.equal(run.stdout.trim(), 'OK', run.stderr);
  };

  it('fails fast with 503 redis-unavailable, keeps answering from memory, and recovers', async (t) => {
    const redis = new Redis(port, '127.0.0.1');
    const store = new DecisionStore({ redis, prefix });
    await store.put(decision('ip', '192.0.2.10', { reason: 'scanner' }));
    await eventually(
      'the decision in the in-memory follower',
      async () =>
        (await timed('/v1/decisions?ip=192.0.2.10', bouncer)).text.includes('192.0.2.10') ? true : undefined,
      10_000,
    );
    redis.disconnect();

    const needRedis = [
      ['/v1/decisions?ip=192.0.2.10', bouncer], // a match: the allowlist is read from Redis
      ['/v1/decisions/stream?startup=true', bouncer],
      ['/v1/decisions/stream', bouncer],
      ['/v1/decisions', bouncer],
      ['/api/blocklist', bouncer],
      ['/api/blocklist/changes?since=1', bouncer],
      ['/api/explain?ip=192.0.2.10', admin],
      ['/api/decisions', admin],
      ['/api/allowlist', admin],
      ['/v1/decisions?ip=192.0.2.99', unused], // a key not cached: looked up in Redis
    ] as const;
    const fromMemory = [
      ['/v1/decisions?ip=192.0.2.99', bouncer], // no match: the follower answers alone
      ['/api/cache-policies', bouncer],
      ['/healthz', null],
    ] as const;
    for (const [path, key] of [...needRedis, ...fromMemory]) {
      if (key === unused) continue; // kept out of the API's key cache
      const before = await timed(path, key);
      assert.ok(
        before.status === 200 || before.status === 304,
        `${path} before: ${before.status} ${before.text}`,
      );
    }

    pause(12_000);
    const paused = Date.now();
    const during = await Promise.all(needRedis.map(([path, key]) => timed(path, key)));
    for (const r of during) t.diagnostic(`paused: ${r.path} → ${r.status} ${r.code ?? ''} in ${r.ms} ms`);
    for (const r of during) {
      assert.equal(r.status, 503, `${r.path}: ${r.status} ${r.text}`);
      assert.equal(r.code, 'redis-unavailable', `${r.path}: ${r.text}`);
      assert.ok(r.ms <= TIMEOUT_MS + SLACK_MS, `${r.path} answered in ${r.ms} ms`);
    }
    assert.match(during[0]!.text, /Redis .* did not answer within 1 s/);
    // Once Redis is known not to answer, the next requests are refused at once.
    const again = await timed('/api/decisions', admin);
    t.diagnostic(`paused, again: ${again.status} in ${again.ms} ms`);
    assert.equal(again.status, 503);
    assert.ok(again.ms < 500, `refused in ${again.ms} ms`);
    for (const [path, key] of fromMemory) {
      const r = await timed(path, key);
      assert.equal(r.status, 200, `${path} needs no Redis: ${r.status} ${r.text}`);
    }
    const ready = await timed('/readyz', null);
    assert.equal(ready.status, 503);
    assert.match(ready.text, /redis/i);
    // What an operator alerts on: /metrics answers without Redis and says it is not available.
    const metrics = await timed('/metrics', admin);
    assert.equal(metrics.status, 200, metrics.text);
    assert.match(metrics.text, /^edgeguard_api_redis_available\{service="api"\} 0$/m);
    assert.ok(Date.now() - paused < 12_000, 'all measured while Redis was paused');

    // Redis answers again: everything recovers, without restarting the API.
    await eventually(
      'every route answering again',
      async () => {
        const results = await Promise.all(needRedis.map(([path, key]) => timed(path, key)));
        return results.every((r) => r.status === 200) ? true : undefined;
      },
      30_000,
    );
    t.diagnostic(`recovered ${Date.now() - paused} ms after the 12 s pause started`);
    await eventually(
      'ready again',
      async () => ((await timed('/readyz', null)).status === 200 ? true : undefined),
      15_000,
    );
    assert.match(
      (await timed('/metrics', admin)).text,
      /^edgeguard_api_redis_available\{service="api"\} 1$/m,
    );
  });

  it('cuts a stream body whose Redis reads stop answering, and keeps the cursor where it was', async (t) => {
    const redis = new Redis(port, '127.0.0.1');
    const store = new DecisionStore({ redis, prefix });
    // More than the socket buffers hold, so the body is still being read from Redis when it pauses.
    const batch = [];
    for (let i = 0; i < 40_000; i++) {
      batch.push(decision('ip', `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, { reason: 'swarm' }));
      if (batch.length === 500) await store.putMany(batch.splice(0));
    }
    const { cursors } = apiKeys(prefix);
    const before = await redis.hget(cursors, 'edge');
    redis.disconnect();
    const response = await fetch(`${api.url}/v1/decisions/stream?startup=true`, {
      headers: { 'x-api-key': bouncer },
    });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    await reader.read();
    pause(8_000);
    const paused = Date.now();
    let bytes = 0;
    let failure: Error | null = null;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.length;
      }
    } catch (error) {
      failure = error as Error;
    }
    t.diagnostic(
      `stream cut ${Date.now() - paused} ms after the pause, ${bytes} bytes read after it: ${failure?.message}`,
    );
    assert.ok(failure, 'the body was cut, not ended as if whole');
    assert.ok(Date.now() - paused < 8_000, 'cut while Redis was paused');
    await eventually(
      'Redis back',
      async () => ((await timed('/api/decisions', admin)).status === 200 ? true : undefined),
      20_000,
    );
    const after = new Redis(port, '127.0.0.1');
    assert.equal(await after.hget(cursors, 'edge'), before, 'the cursor did not move');
    after.disconnect();
  });
});
