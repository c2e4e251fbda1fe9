// Same decisions whatever happens to the consumers: the Kafka runtime against `edgeguard replay`,
// undisturbed, after a kill -9 and restart, and across a rebalance. One partition per topic, so
// that the in-process and Kafka runtimes see the signals in the same order (see docs/ARCHITECTURE.md).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { scenarioFiles } from './support/scenario.js';
import {
  bin,
  edgeguard,
  eventually,
  type RunningService,
  startService,
  stopService,
  tail,
  uniquePrefix,
} from './support/services.js';

const { work, log, config } = scenarioFiles({ seed: 9, durationSec: 180, scale: 0.25 });

type DecisionRecord = {
  key: string;
  action: string;
  version: number;
  decidedAt: string | number;
  expiresAt: string | number;
  score: number;
  reason: string;
};
/** What must be identical between runs: every published version of every decision. */
const signature = (d: DecisionRecord) =>
  `${d.key} ${d.action} v${d.version} ${new Date(d.decidedAt).toISOString()}→${new Date(d.expiresAt).toISOString()} ${d.score} ${d.reason}`;

function replayDecisions(): string[] {
  const out = join(work, 'replay-decisions.ndjson');
  const run = spawnSync(
    process.execPath,
    [bin, 'replay', log, '--config', config, '--decisions', out, '--quiet', '--no-progress'],
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 0, run.stderr);
  return readFileSync(out, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => signature(JSON.parse(l) as DecisionRecord))
    .sort();
}

/** Runs `edgeguard ship` in the background (slowed down by --rate so that disturbances land mid-stream). */
function shipInBackground(env: NodeJS.ProcessEnv, rate?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = [bin, 'ship', log, ...(rate ? ['--rate', String(rate)] : [])];
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let errors = '';
    child.stderr.on('data', (d) => {
      errors += d;
    });
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`ship exited ${code}: ${errors}`)),
    );
  });
}

async function kafkaRun(
  name: string,
  disturb?: (services: Map<string, RunningService>, env: NodeJS.ProcessEnv) => Promise<void>,
): Promise<string[]> {
  const env = { EDGEGUARD_TOPIC_PREFIX: uniquePrefix(name), EDGEGUARD_CONFIG: config };
  assert.equal(edgeguard(['topics', 'ensure', '--partitions', '1'], env).code, 0);
  const services = new Map<string, RunningService>();
  for (const stage of ['profiler', 'content-watch', 'decider'])
    services.set(stage, await startService(stage, env));
  try {
    const shipping = shipInBackground(env, disturb ? 4000 : undefined);
    if (disturb) {
      await sleep(3000);
      await disturb(services, env);
    }
    await shipping;
    await eventually(`${name}: consumers to drain`, () => {
      const rows = edgeguard(['lag', '--json'], env)
        .stdout.split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { lag: number });
      return rows.length >= 3 && rows.every((r) => r.lag === 0) ? true : undefined;
    });
    await sleep(1000);
    return tail('decisions', env, 3)
      .map((r) => r.value as DecisionRecord | null)
      .filter((d): d is DecisionRecord => d !== null)
      .map(signature)
      .sort();
  } finally {
    for (const service of services.values()) await stopService(service);
  }
}

describe('the Kafka runtime decides exactly as replay does', { timeout: 400_000 }, () => {
  const expected = replayDecisions();

  it('undisturbed: the same decisions, versions and times as edgeguard replay', async () => {
    assert.ok(expected.length > 20, `the scenario must produce decisions (got ${expected.length})`);
    assert.deepEqual(await kafkaRun('parity'), expected);
  });

  it('after kill -9 of every consumer mid-stream and a restart: still the same decisions', async () => {
    const decisions = await kafkaRun('kill9', async (services, env) => {
      for (const [stage, service] of services) {
        await stopService(service, 'SIGKILL');
        services.set(stage, await startService(stage, env));
      }
    });
    assert.deepEqual(decisions, expected);
  });

  it('across a rebalance (a second profiler joins, then leaves) mid-stream: still the same decisions', async () => {
    const decisions = await kafkaRun('rebalance', async (_services, env) => {
      const second = await startService('profiler', env);
      await sleep(2000);
      await stopService(second);
    });
    assert.deepEqual(decisions, expected);
  });
});
