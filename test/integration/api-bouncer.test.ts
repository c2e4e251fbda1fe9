// Proof that an unmodified CrowdSec bouncer works against edgeguard: Debian's
// crowdsec-custom-bouncer (installed by infra/ensure-packages.sh) pulls /v1/decisions/stream from
// the running API and calls its script with `add` and `del` as decisions come and go.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createKey, decision, dropPrefix, openStore, type RunningApi, startApi } from './support/api.js';
import { edgeguard, eventually, uniquePrefix } from './support/services.js';

const BOUNCER = '/usr/bin/crowdsec-custom-bouncer';
const present = existsSync(BOUNCER);
if (!present && process.env.CI) {
  throw new Error(`${BOUNCER} is missing in CI: infra/ensure-packages.sh installs crowdsec-custom-bouncer`);
}
const skip = present
  ? false
  : `${BOUNCER} not installed (bash infra/ensure-packages.sh installs it; in CI this test fails instead)`;

describe('a real CrowdSec bouncer against the API', { timeout: 120_000, skip }, () => {
  const prefix = uniquePrefix('bouncer');
  const env = { EDGEGUARD_TOPIC_PREFIX: prefix };
  const { store, redis } = openStore(prefix);
  const work = mkdtempSync(join(tmpdir(), 'eg-bouncer-'));
  const calls = join(work, 'calls.log');
  let api: RunningApi;
  let bouncer: ChildProcess;
  let bouncerLog = '';

  before(async () => {
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], env);
    assert.equal(ensure.code, 0, ensure.stderr);
    const key = createKey(env, 'custom-bouncer', 'bouncer');
    await store.put(decision('ip', '192.0.2.10', { reason: 'scanner' })); // present before the bouncer starts
    api = await startApi(env);
    const script = join(work, 'record.sh');
    writeFileSync(script, `#!/bin/sh\necho "$@" >> ${calls}\n`);
    chmodSync(script, 0o755);
    writeFileSync(calls, '');
    const config = join(work, 'bouncer.yaml');
    writeFileSync(
      config,
      [
        `bin_path: ${script}`,
        'feed_via_stdin: false',
        'total_retries: 0',
        'scenarios_containing: []',
        'scenarios_not_containing: []',
        'origins: []',
        `piddir: ${work}`,
        'update_frequency: 1s',
        'cache_retention_duration: 10s',
        'daemonize: false',
        'log_mode: stdout',
        'log_level: info',
        `api_url: ${api.url}/`,
        `api_key: ${key}`,
        'prometheus:',
        '  enabled: false',
        '',
      ].join('\n'),
    );
    bouncer = spawn(BOUNCER, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    bouncer.stdout?.on('data', (d) => {
      bouncerLog = (bouncerLog + d).slice(-20_000);
    });
    bouncer.stderr?.on('data', (d) => {
      bouncerLog = (bouncerLog + d).slice(-20_000);
    });
  });

  after(async () => {
    if (bouncer && bouncer.exitCode === null) {
      const exited = new Promise((resolve) => bouncer.once('exit', resolve));
      bouncer.kill('SIGTERM');
      await exited;
    }
    await api?.stop();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  const lines = () => readFileSync(calls, 'utf8').split('\n').filter(Boolean);
  const waitForCall = (what: string, match: (line: string) => boolean) =>
    eventually(
      what,
      () => {
        if (bouncer.exitCode !== null) throw new Error(`bouncer exited ${bouncer.exitCode}: ${bouncerLog}`);
        return lines().find(match);
      },
      20_000,
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}\ncalls:\n${lines().join('\n')}\nbouncer log:\n${bouncerLog}\napi log:\n${api.output()}`,
      );
    });

  it('receives the startup set, then adds and deletes as they happen', async () => {
    const first = await waitForCall('add of the startup decision', (l) => l.startsWith('add 192.0.2.10 '));
    // add <value> <duration in seconds> <scenario> <decision JSON>
    const [, , seconds, scenario] = first.split(' ');
    assert.ok(Number(seconds) > 3500 && Number(seconds) <= 3600, first);
    assert.equal(scenario, 'edgeguard/scanner');
    const json = JSON.parse(first.slice(first.indexOf('{')));
    assert.equal(json.type, 'ban');
    assert.equal(json.scope, 'Ip');

    await store.put(decision('range', '198.51.100.0/24', { reason: 'swarm' }));
    await waitForCall('add of a new range decision', (l) => l.startsWith('add 198.51.100.0/24 '));
    await store.delete('range:198.51.100.0/24');
    await waitForCall('del of the removed range decision', (l) => l.startsWith('del 198.51.100.0/24 '));
    await store.delete('ip:192.0.2.10');
    await waitForCall('del of the startup decision', (l) => l.startsWith('del 192.0.2.10 '));
  });
});
