// A stage service started while Redis or the broker is missing: it must say which one, and where,
// and exit 1 within its startup timeout (kafkajs alone retried for about two minutes); one that
// comes up within the timeout is waited for.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  edgeguard,
  freePort,
  type RunningService,
  startService,
  stopService,
  uniquePrefix,
} from './support/services.js';

describe('a stage service starting without Redis or Kafka', { timeout: 120_000 }, () => {
  const children: ChildProcess[] = [];
  const services: RunningService[] = [];
  after(async () => {
    for (const service of services) await stopService(service, 'SIGKILL');
    for (const child of children) child.kill('SIGKILL');
  });

  /** `edgeguard run profiler` with `env`, to its exit: its code, stderr and how long it took. */
  function runProfiler(env: NodeJS.ProcessEnv) {
    const started = Date.now();
    const run = edgeguard(
      ['run', 'profiler'],
      { EDGEGUARD_HEALTH_PORT: '0', LOG_LEVEL: 'fatal', ...env },
      '',
      60_000,
    );
    return { ...run, ms: Date.now() - started };
  }

  it('exits 1 within the startup timeout, naming Redis and its address', async (t) => {
    const port = await freePort();
    const run = runProfiler({ REDIS_URL: `redis://127.0.0.1:${port}`, EDGEGUARD_STARTUP_TIMEOUT_MS: '3000' });
    t.diagnostic(`${run.ms} ms: ${run.stderr.trim()}`);
    assert.equal(run.code, 1);
    assert.ok(run.ms < 15_000, `exited after ${run.ms} ms`);
    assert.match(
      run.stderr,
      new RegExp(`Redis at 127\\.0\\.0\\.1:${port} \\(REDIS_URL\\) did not answer within 3 s`),
    );
  });

  it('exits 1 within the startup timeout, naming the brokers', async (t) => {
    const port = await freePort();
    const run = runProfiler({ KAFKA_BROKERS: `127.0.0.1:${port}`, EDGEGUARD_STARTUP_TIMEOUT_MS: '3000' });
    t.diagnostic(`${run.ms} ms: ${run.stderr.trim()}`);
    assert.equal(run.code, 1, `code ${run.code}, signal ${run.signal}`);
    assert.ok(run.ms < 15_000, `exited after ${run.ms} ms`);
    assert.match(
      run.stderr,
      new RegExp(`Kafka at 127\\.0\\.0\\.1:${port} \\(KAFKA_BROKERS\\) did not answer within 3 s`),
    );
  });

  it('logs kafkajs connection errors without stack traces (kept for EDGEGUARD_DEBUG=1)', async () => {
    const port = await freePort();
    const env = {
      KAFKA_BROKERS: `127.0.0.1:${port}`,
      EDGEGUARD_STARTUP_TIMEOUT_MS: '2000',
      LOG_LEVEL: 'error',
    };
    const run = runProfiler(env);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /Connection error: connect ECONNREFUSED/);
    assert.doesNotMatch(run.stderr, /"stack"|TCPConnectWrap/);
    const debug = runProfiler({ ...env, EDGEGUARD_DEBUG: '1' });
    assert.match(debug.stderr, /"stack":"Error: connect ECONNREFUSED/);
  });

  it('refuses a health port in use before connecting to anything', async () => {
    // Found only once connected (the decider's companions had joined their groups by then): with
    // the broker missing, after the whole startup timeout.
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
    const healthPort = (taken.address() as { port: number }).port;
    try {
      const run = runProfiler({
        EDGEGUARD_HEALTH_PORT: String(healthPort),
        KAFKA_BROKERS: `127.0.0.1:${await freePort()}`,
        EDGEGUARD_STARTUP_TIMEOUT_MS: '20000',
      });
      assert.equal(run.code, 1, run.stderr);
      assert.ok(run.ms < 10_000, `exited after ${run.ms} ms`);
      assert.match(
        run.stderr,
        new RegExp(`0\\.0\\.0\\.0:${healthPort} \\(EDGEGUARD_HEALTH_PORT\\): address already in use`),
      );
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  it('refuses a REDIS_URL database the server does not have (it ran, ready, in database 0)', () => {
    const run = runProfiler({
      EDGEGUARD_TOPIC_PREFIX: uniquePrefix('startup-db'),
      REDIS_URL: 'redis://127.0.0.1:6379/99', // Redis' default `databases` is 16 (redis.conf)
      EDGEGUARD_STARTUP_TIMEOUT_MS: '5000',
    });
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /Redis at 127\.0\.0\.1:6379 \(REDIS_URL\): database 99: ERR DB index is out of range/,
    );
  });

  it('waits for a Redis that comes up within the startup timeout', async () => {
    const port = await freePort();
    const env = {
      EDGEGUARD_TOPIC_PREFIX: uniquePrefix('startup'),
      REDIS_URL: `redis://127.0.0.1:${port}`,
      EDGEGUARD_STARTUP_TIMEOUT_MS: '20000',
    };
    assert.equal(edgeguard(['topics', 'ensure', '--partitions', '1'], env).code, 0);
    const starting = startService('profiler', env);
    await sleep(2000);
    const work = mkdtempSync(join(tmpdir(), 'eg-startup-'));
    children.push(
      spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work],
        {
          stdio: 'ignore',
        },
      ),
    );
    const service = await starting;
    services.push(service);
    assert.equal(service.child.exitCode, null);
  });
});
