// A stage service stopped (SIGTERM, as Kubernetes does in a rollout) while it is still starting:
// it said nothing and died by the signal (exit 143), leaving a group it was joining with a member
// nobody heartbeats until its session times out. Now: one line saying it was stopped while
// starting, what it connected closed (a group it was joining joined, then left), exit 0.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKafka, kafkaEnvironment } from '@edgeguard/kafka';
import { TOPICS } from '@edgeguard/pipeline';
import { createLogger } from '@edgeguard/telemetry';
import type { Consumer } from 'kafkajs';
import { bin, edgeguard, eventually, freePort, uniquePrefix } from './support/services.js';

const STOPPED_WHILE_STARTING =
  /"signal":"SIGTERM","msg":"stopped while starting: closing what is connected, then exiting"/;

/** `edgeguard run profiler` (or `args`) with `env`, its log (info and up) kept, and its exit awaited. */
async function spawnService(env: NodeJS.ProcessEnv, args = ['run', 'profiler']) {
  const healthPort = await freePort();
  const child: ChildProcess = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env, EDGEGUARD_HEALTH_PORT: String(healthPort) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d) => {
    log += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const readyz = () =>
    fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
      (r) => r.status,
      () => null,
    );
  return { child, exited, log: () => log, readyz };
}

describe('a stage service stopped while it starts', { timeout: 120_000 }, () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('while waiting for Redis: says so in one line and exits 0 at once', async () => {
    const redisPort = await freePort(); // nothing listens there
    const service = await spawnService({
      EDGEGUARD_TOPIC_PREFIX: uniquePrefix('stop-start'),
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      EDGEGUARD_STARTUP_TIMEOUT_MS: '60000',
    });
    children.push(service.child);
    await eventually('the service waiting for Redis', () =>
      /redis connection error/.test(service.log()) ? true : undefined,
    );
    const signalled = Date.now();
    service.child.kill('SIGTERM');
    const { code, signal, at } = await service.exited;
    assert.equal(signal, null, service.log());
    assert.equal(code, 0, service.log());
    assert.ok(at - signalled < 5_000, `exited ${at - signalled} ms after SIGTERM`);
    assert.equal(service.log().match(new RegExp(STOPPED_WHILE_STARTING, 'g'))?.length, 1, service.log());
    assert.doesNotMatch(service.log(), /"level":(50|60)/);
  });

  it('while joining its consumer group: joins, leaves the group and exits 0', async () => {
    const prefix = uniquePrefix('stop-join');
    const env = { EDGEGUARD_TOPIC_PREFIX: prefix };
    assert.equal(edgeguard(['topics', 'ensure', '--partitions', '2'], env).code, 0);
    const kafka = createKafka({
      brokers: kafkaEnvironment().brokers,
      clientId: 'stop-join-test',
      logger: createLogger('stop-join-test', {}, 'silent'),
    });
    // A member of the profiler's group busy with a batch: the group's next rebalance (the
    // service's join) waits until it is done, which holds the service in its join.
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: prefix + TOPICS.accessLogs, messages: [{ value: 'x' }] });
    await producer.disconnect();
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let busy = false;
    const member: Consumer = kafka.consumer({ groupId: `${prefix}profiler`, sessionTimeout: 30_000 });
    await member.connect();
    await member.subscribe({ topic: prefix + TOPICS.accessLogs, fromBeginning: true });
    await member.run({
      autoCommit: false,
      eachBatch: async () => {
        busy = true;
        await released;
      },
    });
    try {
      await eventually('the other member busy with a batch', () => (busy ? true : undefined), 30_000);
      const service = await spawnService(env);
      children.push(service.child);
      await eventually('the service joining', () =>
        /"msg":"starting"/.test(service.log()) ? true : undefined,
      );
      await sleep(1_000);
      assert.equal(await service.readyz(), 503, 'still joining');
      const signalled = Date.now();
      service.child.kill('SIGTERM');
      await sleep(1_000);
      assert.equal(await service.readyz(), 503, 'not ready once stopping');
      release();
      const { code, signal, at } = await service.exited;
      assert.equal(signal, null, service.log());
      assert.equal(code, 0, service.log());
      assert.ok(at - signalled < 20_000, `exited ${at - signalled} ms after SIGTERM`);
      assert.match(service.log(), STOPPED_WHILE_STARTING);
      assert.doesNotMatch(service.log(), /unclean stop|stop timed out/);
      // It left the group: no member of it stays until its session times out.
      const admin = kafka.admin();
      await admin.connect();
      try {
        const { groups } = await admin.describeGroups([`${prefix}profiler`]);
        const clients = groups[0]?.members.map((m) => m.clientId) ?? [];
        assert.ok(!clients.includes('edgeguard-profiler'), `members: ${clients.join(', ')}`);
      } finally {
        await admin.disconnect();
      }
    } finally {
      release();
      await member.disconnect();
    }
  });
});
