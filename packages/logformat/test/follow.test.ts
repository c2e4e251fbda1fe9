import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FollowPosition, followLogFile } from '../src/index.js';

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

  /**
   * A new log holding `content`, followed from its end (polling every 10 ms, stopped at the test's
   * end), collecting `count` lines into `lines` (`done`); resolves once the follower has opened it.
   */
  async function followNewLog(content: string, count: number) {
    const dir = mkdtempSync(join(tmpdir(), 'eg-follow-'));
    const path = join(dir, 'access.log');
    writeFileSync(path, content);
    const abort = new AbortController();
    aborts.push(abort);
    const follower = followLogFile(path, { pollMs: 10, signal: abort.signal });
    const lines: string[] = [];
    const done = collect(follower.batches, count, lines);
    await until(() => follower.stats.filesOpened === 1);
    return { dir, path, abort, follower, lines, done };
  }

  it('hands out only whole lines: a line being written waits for its newline', async () => {
    const { path, abort, follower, lines, done } = await followNewLog('', 2);
    appendFileSync(path, 'one\ntw');
    await until(() => lines.length === 1);
    await sleep(100); // several polls see the unfinished "tw"
    assert.deepEqual(lines, ['one']);
    assert.deepEqual(follower.position()?.offset, 4, 'the position is the end of "one\\n"');
    appendFileSync(path, 'o\n');
    await done;
    assert.equal(follower.position()?.offset, 4, 'the batch of "two" is still held: not counted');
    assert.equal(follower.position(true)?.offset, 8, '…unless the holder says it is done with it');
    abort.abort();
    assert.deepEqual(lines, ['one', 'two']);
  });

  it('hands out an unfinished last line of a rotated file as a line of its own', async () => {
    const { dir, path, abort, lines, done } = await followNewLog('', 3);
    appendFileSync(path, 'a1\na2 cut');
    await until(() => lines.length === 1);
    renameSync(path, join(dir, 'access.log.1'));
    writeFileSync(path, 'b1\n');
    await done;
    abort.abort();
    assert.deepEqual(lines, ['a1', 'a2 cut', 'b1']);
  });

  /** Follows `path` from `resumeFrom` until `count` lines came; returns them and where it stopped. */
  async function followFrom(path: string, resumeFrom: FollowPosition | undefined, count: number) {
    const abort = new AbortController();
    aborts.push(abort);
    const follower = followLogFile(path, { pollMs: 10, signal: abort.signal, resumeFrom });
    const lines: string[] = [];
    const timeout = setTimeout(() => abort.abort(), 5000);
    await collect(follower.batches, count, lines);
    clearTimeout(timeout);
    abort.abort();
    return { lines, position: follower.position(true), stats: follower.stats };
  }

  it('resumes from a position: the same file, a rotated one found next to it, a truncated one', async () => {
    const { dir, path, abort, follower: first, lines: seen, done } = await followNewLog('before start\n', 1);
    appendFileSync(path, 'x1\n');
    await done;
    abort.abort();
    const stopped = first.position(true)!;
    assert.deepEqual(seen, ['x1']);

    // Down while lines were written: a restart from the position reads them.
    appendFileSync(path, 'x2 while down\nx3 while down\n');
    const same = await followFrom(path, stopped, 2);
    assert.deepEqual(same.lines, ['x2 while down', 'x3 while down']);
    assert.equal(same.stats.resumedFrom, null);

    // Down across a rotation: the old file's rest (under its new name), then the new file.
    appendFileSync(path, 'x4 before rotation\n');
    renameSync(path, join(dir, 'access.log.1'));
    writeFileSync(path, 'y1 in the new file\n');
    const rotated = await followFrom(path, same.position!, 2);
    assert.deepEqual(rotated.lines, ['x4 before rotation', 'y1 in the new file']);
    assert.equal(rotated.stats.resumedFrom, join(dir, 'access.log.1'));
    assert.equal(rotated.stats.rotations, 1);

    // Truncated while down (copytruncate): shorter than the position, so from its start.
    truncateSync(path, 0);
    writeFileSync(path, 'z1\n');
    const truncated = await followFrom(path, rotated.position!, 1);
    assert.deepEqual(truncated.lines, ['z1']);
    assert.equal(truncated.stats.truncations, 1);

    // The old file gone altogether (deleted): the new file from its start, and it says so.
    const gone = { ...truncated.position!, ino: truncated.position!.ino + 1_000_003 };
    const lost = await followFrom(path, gone, 1);
    assert.deepEqual(lost.lines, ['z1']);
    assert.equal(lost.stats.resumeLost, true);
  });

  it('starting at the end, reads a line the writer was in the middle of whole, not from its middle', async () => {
    const { path, abort, lines, done } = await followNewLog('old line\nhalf of a li', 2);
    appendFileSync(path, 'ne, finished\nnext\n');
    await done;
    abort.abort();
    assert.deepEqual(lines, ['half of a line, finished', 'next']);
  });
});
