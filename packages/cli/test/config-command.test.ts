import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const bin = new URL('../bin/edgeguard.js', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'eg-config-cmd-'));
const edgeguard = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('edgeguard config', () => {
  it('prints the effective configuration, the file overriding the defaults', () => {
    const file = join(work, 'edgeguard.json');
    writeFileSync(
      file,
      '{\n  // behind our load balancers\n  "input": { "trustedProxies": ["10.0.0.0/8"] }\n}\n',
    );
    const run = edgeguard(['config', 'print', '--config', file]);
    assert.equal(run.status, 0, run.stderr);
    const config = JSON.parse(run.stdout);
    assert.deepEqual(config.input.trustedProxies, ['10.0.0.0/8']);
    assert.equal(config.input.format, 'auto');
    assert.equal(typeof config.detect.allowedLatenessMs, 'number');
  });

  it('round-trips: a printed configuration is itself a valid config file', () => {
    const file = join(work, 'printed.json');
    writeFileSync(file, edgeguard(['config', 'print']).stdout);
    const run = edgeguard(['config', 'check', '--config', file]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /printed\.json: ok/);
  });

  it('check names the bad field and exits 2', () => {
    const file = join(work, 'bad.json');
    writeFileSync(file, JSON.stringify({ detect: { allowedLatenessMs: '60s' } }));
    const run = edgeguard(['config', 'check', '--config', file]);
    assert.equal(run.status, 2);
    assert.match(
      run.stderr,
      /bad\.json: field 'detect\.allowedLatenessMs': expected a number, got the string "60s"/,
    );
  });
});
