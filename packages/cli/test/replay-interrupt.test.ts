// Ctrl-C during `edgeguard replay`: reading stops, what was read is replayed to the end and every
// output written for it (it used to exit 130 with an empty report and a partial --decisions).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';

const bin = new URL('../bin/edgeguard.js', import.meta.url).pathname;
const fixtures = new URL('../../testkit/fixtures/', import.meta.url).pathname;

describe('edgeguard replay interrupted (SIGINT)', { timeout: 60_000 }, () => {
  it('finishes with the lines read so far, says so, writes every output and exits 130 — also while stdin sends nothing', async () => {
    const work = mkdtempSync(join(tmpdir(), 'eg-interrupt-'));
    const lines = gunzipSync(readFileSync(join(fixtures, 'demo.log.gz')))
      .toString('utf8')
      .split('\n');
    const written = 20_000;
    const child = spawn(
      process.execPath,
      [
        bin,
        'replay',
        '-',
        '--config',
        join(fixtures, 'demo.config.json'),
        '--decisions',
        join(work, 'decisions.ndjson'),
        '--report',
        join(work, 'report.json'),
        '--no-progress',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Some lines, and half of the next one, then nothing (stdin stays open: a `tail -f` pipe).
    // The write's callback comes once the pipe took the last of it: the replay has read all but a
    // pipe's buffer (64 KB of ~4 MB), so it is running with its handler installed — 3 s after the
    // spawn alone was not always enough on a loaded machine. Then time to read the rest.
    await new Promise((resolve) =>
      child.stdin.write(`${lines.slice(0, written).join('\n')}\n${lines[written]!.slice(0, 40)}`, resolve),
    );
    await new Promise((resolve) => setTimeout(resolve, 2000));
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted: finishing with the lines read so far/);
    const report = JSON.parse(readFileSync(join(work, 'report.json'), 'utf8'));
    assert.equal(report.input.interruptedAfterLines, written, 'every whole line written, not the cut one');
    assert.equal(report.input.lines, written);
    assert.equal(report.input.rejected, 0, 'the line the interrupt cut is not rejected');
    assert.match(stdout, /INTERRUPTED: reading stopped after 20,000 lines/);
    const decisions = readFileSync(join(work, 'decisions.ndjson'), 'utf8').trim().split('\n');
    assert.ok(decisions.length > 10, `${decisions.length} decisions`);
    for (const line of decisions) JSON.parse(line);
  });
});
