// The checkpoint store (Redis) goes away under a running stage service: the service must say so
// (readiness), its checkpoint age must keep telling how long it has been, and SIGTERM must still
// stop it in bounded time. The test owns its Redis (a separate redis-server on a free port, paused
// with SIGSTOP), so the shared one on 6379 is never disturbed.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startRedis } from './support/redis.js';
import {
  edgeguard,
  eventually,
  type RunningService,
  startService,
  stopService,
  uniquePrefix,
} from './support/services.js';

const work = mkdtempSync(join(tmpdir(), 'eg-redis-outage-'));

/** A few access-log lines, one client, at second `from` onwards. */
function shipLines(env: NodeJS.ProcessEnv, name: string, from: number): void {
  const lines = Array.from(
    { length: 20 },
    (_, i) =>
      `198.51.100.9 - - [21/Jan/2024:10:00:${String((from + i) % 60).padStart(2, '0')} +0000] "GET /p/${from + i} HTTP/1.1" 200 10 "-" "curl/8.5.0"`,
  );
  const file = join(work, `${name}.log`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  const run = edgeguard(['ship', file, '--format', 'combined'], env);
  assert.equal(run.code, 0, run.stderr);
}

async function readiness(service: RunningService): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${service.healthPort}/readyz`);
  return { status: response.status, body: await response.text() };
}

async function checkpointAge(service: RunningService): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${service.healthPort}/metrics`)).text();
  const match = /edgeguard_checkpoint_age_seconds\{[^}]*partition="0"[^}]*\} ([0-9.e+-]+)/.exec(text);
  assert.ok(match, 'the checkpoint age of partition 0 is exported');
  return Number(match[1]);
}

describe('the checkpoint store (Redis) unreachable', { timeout: 180_000 }, () => {
  const servers: ChildProcess[] = [];
  const services: RunningService[] = [];
  after(async () => {
    for (const service of services) await stopService(service, 'SIGKILL');
    for (const server of servers) {
      server.kill('SIGCONT');
      server.kill('SIGKILL');
    }
  });

  it('readiness goes false, the checkpoint age keeps growing, SIGTERM still stops the service in bounded time', async (t) => {
    const { port, server } = await startRedis();
    servers.push(server);
    const prefix = uniquePrefix('redisdown');
    const env = {
      EDGEGUARD_TOPIC_PREFIX: prefix,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      EDGEGUARD_REDIS_TIMEOUT_MS: '1000',
    };
    assert.equal(edgeguard(['topics', 'ensure', '--partitions', '1'], env).code, 0);
    const service = await startService('profiler', env);
    services.push(service);
    shipLines(env, 'before', 0);
    const store = new Redis(port, '127.0.0.1');
    await eventually('a checkpoint in the private Redis', async () =>
      (await store.keys(`${prefix}checkpoint:*`)).length > 0 ? true : undefined,
    );
    store.disconnect();
    assert.equal((await readiness(service)).status, 200);

    server.kill('SIGSTOP'); // Redis stops answering; its connections stay open
    const paused = Date.now();
    shipLines(env, 'during', 20);
    const notReady = await eventually(
      'readiness to go false',
      async () => {
        const ready = await readiness(service);
        return ready.status === 503 ? ready.body : undefined;
      },
      15_000,
    );
    assert.match(notReady, /Redis/);
    t.diagnostic(`not ready ${Date.now() - paused} ms after Redis paused: ${notReady.trim()}`);
    const first = await checkpointAge(service);
    await sleep(3000);
    const second = await checkpointAge(service);
    assert.ok(second >= first + 2, `the checkpoint age grows while Redis is away: ${first} → ${second}`);
    t.diagnostic(`checkpoint age ${first} s, 3 s later ${second} s`);

    // Back: ready again.
    server.kill('SIGCONT');
    await eventually(
      'readiness back once Redis answers',
      async () => ((await readiness(service)).status === 200 ? true : undefined),
      15_000,
    );

    // Away again, and SIGTERM: the service gives up on its checkpoint writes and exits.
    server.kill('SIGSTOP');
    shipLines(env, 'last', 40);
    await sleep(1500);
    const started = Date.now();
    const code = await Promise.race([stopService(service), sleep(30_000, 'hung' as const, { ref: false })]);
    const took = Date.now() - started;
    assert.notEqual(code, 'hung', `SIGTERM did not stop the service within 30 s:\n${service.output()}`);
    assert.ok(took < 20_000, `stopped in ${took} ms`);
    assert.match(service.output(), /stopped without checkpointing partitions 0/);
    t.diagnostic(`SIGTERM with Redis paused: exit ${code} after ${took} ms`);
    server.kill('SIGCONT');
  });

  it('a Redis that is down (connections refused) is logged once, not once a second', async () => {
    const { port, server } = await startRedis();
    servers.push(server);
    const env = {
      EDGEGUARD_TOPIC_PREFIX: uniquePrefix('redisgone'),
      REDIS_URL: `redis://127.0.0.1:${port}`,
      EDGEGUARD_REDIS_TIMEOUT_MS: '1000',
    };
    assert.equal(edgeguard(['topics', 'ensure', '--partitions', '1'], env).code, 0);
    const service = await startService('profiler', env);
    services.push(service);
    server.kill('SIGKILL'); // every reconnect is refused from now on
    await eventually(
      'readiness to go false',
      async () => ((await readiness(service)).status === 503 ? true : undefined),
      15_000,
    );
    await sleep(6000); // ioredis retries about once a second meanwhile
    const errors = service.output().match(/redis connection error/g) ?? [];
    // One per distinct error (the connection lost, then refused), not one per reconnect.
    assert.ok(errors.length <= 2, `logged ${errors.length} times:\n${service.output()}`);
    assert.ok(errors.length >= 1, 'the outage is logged');
  });
});
