// Proof that an unmodified CrowdSec bouncer works against edgeguard: Debian's
// crowdsec-custom-bouncer (installed by infra/ensure-packages.sh) pulls /v1/decisions/stream from
// the running API and calls its script with `add` and `del` as decisions come and go.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apiKeys } from '@edgeguard/service-api';
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
  let key: string;
  let bouncer: ChildProcess;
  let bouncerLog = '';

  /**
   * Writes a bouncer config calling `script` (filters as YAML lines) and starts the bouncer. Each
   * bouncer needs its own key: the API keeps one stream cursor per key.
   */
  const startBouncer = (name: string, script: string, filters: string[], apiKey = key): ChildProcess => {
    const config = join(work, `${name}.yaml`);
    mkdirSync(join(work, name), { recursive: true });
    writeFileSync(
      config,
      [
        `bin_path: ${script}`,
        'feed_via_stdin: false',
        'total_retries: 0',
        ...filters,
        `piddir: ${join(work, name)}`,
        'update_frequency: 1s',
        // The bouncer skips an add (a delete) of a value and type it added (deleted) within this
        // duration (default 10s): with it longer than a pull, ban → captcha → ban left the script's
        // value unblocked (the second add of the ban was skipped). Shorter than update_frequency,
        // it only merges what one pull repeats (docs/API.md).
        'cache_retention_duration: 500ms',
        'daemonize: false',
        'log_mode: stdout',
        'log_level: info',
        `api_url: ${api.url}/`,
        `api_key: ${apiKey}`,
        'prometheus:',
        '  enabled: false',
        '',
      ].join('\n'),
    );
    const child = spawn(BOUNCER, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d) => {
      bouncerLog = (bouncerLog + d).slice(-20_000);
    });
    child.stderr?.on('data', (d) => {
      bouncerLog = (bouncerLog + d).slice(-20_000);
    });
    return child;
  };
  const stopBouncer = async (child: ChildProcess) => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };

  before(async () => {
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], env);
    assert.equal(ensure.code, 0, ensure.stderr);
    key = createKey(env, 'custom-bouncer', 'bouncer');
    await store.put(decision('ip', '192.0.2.10', { reason: 'scanner' })); // present before the bouncer starts
    api = await startApi(env);
    const script = join(work, 'record.sh');
    writeFileSync(script, `#!/bin/sh\necho "$@" >> ${calls}\n`);
    chmodSync(script, 0o755);
    writeFileSync(calls, '');
    bouncer = startBouncer('bouncer', script, [
      'scenarios_containing: []',
      'scenarios_not_containing: []',
      'origins: []',
    ]);
  });

  after(async () => {
    if (bouncer) await stopBouncer(bouncer);
    await api?.stop();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  const lines = (file = calls) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const waitForCall = (
    what: string,
    match: (line: string) => boolean,
    file = calls,
    child: () => ChildProcess = () => bouncer,
  ) =>
    eventually(
      what,
      () => {
        if (child().exitCode !== null) throw new Error(`bouncer exited ${child().exitCode}: ${bouncerLog}`);
        return lines(file).find(match);
      },
      20_000,
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}\ncalls:\n${lines(file).join('\n')}\nbouncer log:\n${bouncerLog}\napi log:\n${api.output()}`,
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

  it('stops blocking an address once it is allowlisted', async () => {
    await store.put(decision('ip', '192.0.2.20', { reason: 'scanner' }));
    await waitForCall('add of the decision', (l) => l.startsWith('add 192.0.2.20 '));
    await store.allow('192.0.2.20', 'partner');
    await waitForCall('del of the allowlisted address', (l) => l.startsWith('del 192.0.2.20 '));
  });

  it('a bouncer filtering on scenarios still receives the deletion of what it holds', async () => {
    const filteredCalls = join(work, 'filtered.log');
    writeFileSync(filteredCalls, '');
    const script = join(work, 'record-filtered.sh');
    writeFileSync(script, `#!/bin/sh\necho "$@" >> ${filteredCalls}\n`);
    chmodSync(script, 0o755);
    await store.put(decision('ip', '192.0.2.30', { reason: 'scanner' }));
    const filtered = startBouncer(
      'filtered',
      script,
      ['scenarios_containing: [scanner]', 'scenarios_not_containing: []', 'origins: []'],
      createKey(env, 'filtered-bouncer', 'bouncer'),
    );
    try {
      await waitForCall(
        'add',
        (l) => l.startsWith('add 192.0.2.30 '),
        filteredCalls,
        () => filtered,
      );
      await store.delete('ip:192.0.2.30');
      await waitForCall(
        'del',
        (l) => l.startsWith('del 192.0.2.30 '),
        filteredCalls,
        () => filtered,
      );
    } finally {
      await stopBouncer(filtered);
    }
  });

  /**
   * Freezes the bouncer between two pulls while `change` runs, then trims the change log past its
   * cursor once the tombstones have recorded it (as XADD MAXLEN does to a bouncer away long): its
   * next pull is a full set.
   */
  const whileFrozen = async (change: () => Promise<unknown>) => {
    bouncer.kill('SIGSTOP');
    try {
      await change();
      const target = await store.version();
      const state = apiKeys(prefix).tombstoneState;
      await eventually(
        'the changes recorded',
        async () => Number(await redis.hget(state, 'cursor')) >= target || undefined,
        10_000,
      );
      await redis.xtrim(store.keys.changes, 'MAXLEN', 0);
    } finally {
      bouncer.kill('SIGCONT');
    }
  };

  /** The `type` of a script call's decision JSON (the call's last argument). */
  const typeOf = (line: string) => JSON.parse(line.slice(line.indexOf('{'))).type as string;
  const call = (op: 'add' | 'del', value: string, type: string) => (l: string) =>
    l.startsWith(`${op} ${value} `) && typeOf(l) === type;

  it('drops the old type when a decision changes action, and deletes a captcha as a captcha', async () => {
    // The bouncer keeps decisions by value and type: a ban replaced by a captcha must be deleted
    // as a ban, or its script's ban stays.
    await store.put(decision('ip', '192.0.2.50', { reason: 'scanner' }));
    await waitForCall('add of the ban', call('add', '192.0.2.50', 'ban'));
    await store.put(decision('ip', '192.0.2.50', { reason: 'scanner', action: 'challenge' }));
    await waitForCall('add of the captcha', call('add', '192.0.2.50', 'captcha'));
    await waitForCall('del of the replaced ban', call('del', '192.0.2.50', 'ban'));
    // Escalated back: the captcha goes, the ban comes.
    await store.put(decision('ip', '192.0.2.50', { reason: 'scanner' }));
    await waitForCall('del of the replaced captcha', call('del', '192.0.2.50', 'captcha'));
    await waitForCall(
      'add of the ban again',
      () => lines().filter(call('add', '192.0.2.50', 'ban')).length === 2,
    );

    await store.put(decision('ip', '192.0.2.51', { reason: 'scanner', action: 'challenge' }));
    await waitForCall('add of a captcha', call('add', '192.0.2.51', 'captcha'));
    await store.delete('ip:192.0.2.51');
    await waitForCall('del of the captcha as a captcha', call('del', '192.0.2.51', 'captcha'));
    // The bouncer runs a pull's deletions before its additions (seen here), so a script that
    // ignores the type still ends with the value blocked: del (ban), then add (captcha).
    const order = lines().filter((l) => l.startsWith('add 192.0.2.50 ') || l.startsWith('del 192.0.2.50 '));
    assert.deepEqual(
      order.map((l) => `${l.split(' ')[0]} ${typeOf(l)}`),
      ['add ban', 'del ban', 'add captcha', 'del captcha', 'add ban'],
    );
  });

  it('drops the old type in a full set too (change log trimmed past its cursor)', async () => {
    await store.put(decision('ip', '192.0.2.60', { reason: 'scanner' }));
    await store.put(decision('ip', '192.0.2.61', { reason: 'scanner', action: 'challenge' }));
    await waitForCall('add of the ban', call('add', '192.0.2.60', 'ban'));
    await waitForCall('add of the captcha', call('add', '192.0.2.61', 'captcha'));
    await whileFrozen(async () => {
      await store.put(decision('ip', '192.0.2.60', { reason: 'scanner', action: 'challenge' }));
      await store.delete('ip:192.0.2.61');
    });
    await waitForCall('add of the new captcha', call('add', '192.0.2.60', 'captcha'));
    await waitForCall('del of the replaced ban', call('del', '192.0.2.60', 'ban'));
    await waitForCall('del of the deleted captcha', call('del', '192.0.2.61', 'captcha'));
  });

  it('is told of a deletion its pull missed when the change log no longer holds its cursor', async () => {
    await store.put(decision('ip', '192.0.2.40', { reason: 'scanner' }));
    await waitForCall('add of the decision', (l) => l.startsWith('add 192.0.2.40 '));
    await whileFrozen(() => store.delete('ip:192.0.2.40'));
    await waitForCall('del of the lifted decision', (l) => l.startsWith('del 192.0.2.40 '));
  });
});
