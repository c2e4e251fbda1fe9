// A broker outage: the services keep running, reconnect by themselves and catch up. The test owns
// its broker (a second one on other ports, via infra/local.sh), so stopping it disturbs no other test.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  edgeguard,
  eventually,
  freePort,
  type RunningService,
  startService,
  stopService,
  tail,
  uniquePrefix,
} from './support/services.js';

const root = new URL('../../', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'eg-broker-'));

describe('a broker restart', { timeout: 300_000 }, async () => {
  const port = await freePort();
  const controllerPort = await freePort();
  const infraEnv = {
    ...process.env,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(controllerPort),
    KAFKA_BROKERS: `127.0.0.1:${port}`,
    EDGEGUARD_INFRA_DIR: join(work, 'infra'),
  };
  const infra = (action: string) => {
    const run = spawnSync('bash', [join(root, 'infra/local.sh'), action], {
      env: infraEnv,
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, `infra ${action}: ${run.stdout}${run.stderr}`);
  };
  const env = { KAFKA_BROKERS: `127.0.0.1:${port}`, EDGEGUARD_TOPIC_PREFIX: uniquePrefix('restart') };
  const services: RunningService[] = [];

  after(async () => {
    for (const service of services) await stopService(service, 'SIGKILL');
    spawnSync('bash', [join(root, 'infra/local.sh'), 'stop'], { env: infraEnv });
  });

  it('services reconnect and catch up without manual action', async () => {
    infra('start');
    assert.equal(edgeguard(['topics', 'ensure', '--partitions', '2'], env).code, 0);
    for (const name of ['profiler', 'decider']) services.push(await startService(name, env));
    const stamp = (s: number) =>
      `21/Jan/2024:10:${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')} +0000`;
    const probe = (ip: string, from: number) =>
      Array.from(
        { length: 30 },
        (_, i) => `${ip} - - [${stamp(from + i)}] "GET /.env?i=${i} HTTP/1.1" 404 10 "-" "zgrab/0.x"`,
      ).join('\n');
    const before = join(work, 'before.log');
    writeFileSync(before, `${probe('198.51.100.7', 0)}\n`);
    assert.equal(edgeguard(['ship', before, '--format', 'combined'], env).code, 0);
    await eventually('a decision before the outage', () =>
      tail('decisions', env, 2).some((r) => r.key === 'ip:198.51.100.7') ? true : undefined,
    );

    infra('stop');
    await sleep(3000);
    infra('start');
    for (const service of services)
      assert.equal(
        service.child.exitCode,
        null,
        `${service.name} died during the outage:\n${service.output()}`,
      );

    const afterLog = join(work, 'after.log');
    writeFileSync(afterLog, `${probe('198.51.100.8', 120)}\n`);
    assert.equal(edgeguard(['ship', afterLog, '--format', 'combined'], env).code, 0);
    await eventually(
      'a decision after the outage',
      () => (tail('decisions', env, 2).some((r) => r.key === 'ip:198.51.100.8') ? true : undefined),
      120_000,
    );
  });
});
