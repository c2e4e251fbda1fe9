// `edgeguard run`'s usage errors, checked before any service starts (no Kafka or Redis needed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

const bin = new URL('../bin/edgeguard.js', import.meta.url).pathname;
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, 'run', ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, LOG_LEVEL: 'silent' },
  });

describe('edgeguard run: usage', () => {
  it('refuses --position-file for a service other than the shipper, naming the flag', () => {
    const result = run('profiler', '--position-file', '/tmp/x.position');
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /--position-file is for the shipper/);
  });

  it('documents --position-file in --help', () => {
    const result = run('--help');
    assert.equal(result.status, 0);
    assert.match(result.stdout, /--position-file FILE/);
    assert.match(result.stdout, /EDGEGUARD_SHIP_POSITION_FILE/);
  });
});
