import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { followLogFile } from '../src/index.js';

/** Collects followed lines until `count` arrived (or the 5 s safety limit of the test passes). */
async function collect(batches: AsyncGenerator<string[]>, count: number, into: string[]): Promise<void> {
  for await (const batch of batches) {
    into.push(...batch);
    if (into.length >= count) return;
  }
}

/** Polls `condition` every 5 ms; fails the test after 10 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${condition.toString()}`);
    await sleep(5);
  }
}

describe('following a log file (tail -F)', () => {
  // A failed step must end the follower too, or its polling keeps the test process alive.
  const aborts: AbortController[] = [];
  afterEach(() => {
    for (const abort of aborts.splice(0)) abort.abort();
  });

  it('starts at the end, then reads appended lines, across rotation and truncation, losing none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eg-follow-'));
    const path = join(dir, 'access.log');
    writeFileSync(path, 'old line before start\n');
    const abort = new AbortController();
    aborts.push(abort);
    const { stats, batches } = followLogFile(path, { pollMs: 20, signal: abort.signal });
    const lines: string[] = [];
    const done = collect(batches, 6, lines);
    // Each step waits for the follower to have seen the previous one (not for a fixed time: on a
    // loaded machine a poll can come late, and a truncation it never saw is not one it can handle).
    await until(() => stats.filesOpened === 1); // positioned at the end of the old line
    appendFileSync(path, 'a1\na2\n');
    await until(() => lines.length >= 2);
    appendFileSync(path, 'a3 written just before rotation\n');
    renameSync(path, join(dir, 'access.log.1')); // logrotate "create"
    writeFileSync(path, 'b1 in the new file\n');
    await until(() => lines.length >= 4);
    truncateSync(path, 0); // logrotate "copytruncate"
    await until(() => stats.truncations === 1);
    appendFileSync(path, 'c1 after truncation\nc2\n');
    const timeout = setTimeout(() => abort.abort(), 5000);
    await done;
    clearTimeout(timeout);
    abort.abort();
    assert.deepEqual(lines, [
      'a1',
      'a2',
      'a3 written just before rotation',
      'b1 in the new file',
      'c1 after truncation',
      'c2',
    ]);
    assert.equal(stats.rotations, 1);
    assert.equal(stats.truncations, 1);
  });

  it('waits for a file that does not exist yet and reads it from its start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eg-follow-'));
    const path = join(dir, 'later.log');
    const abort = new AbortController();
    aborts.push(abort);
    const { stats, batches } = followLogFile(path, { pollMs: 20, signal: abort.signal });
    const lines: string[] = [];
    const done = collect(batches, 2, lines);
    await until(() => stats.absentPolls >= 1); // it looked and found nothing
    writeFileSync(path, 'first\nsecond\n');
    const timeout = setTimeout(() => abort.abort(), 5000);
    await done;
    clearTimeout(timeout);
    abort.abort();
    assert.deepEqual(lines, ['first', 'second']);
  });
});
