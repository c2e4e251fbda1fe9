import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExpiryQueue } from '../src/expiry-queue.js';

describe('ExpiryQueue', () => {
  it('pops in time order', () => {
    const queue = new ExpiryQueue();
    const times = Array.from({ length: 2000 }, (_, i) => (i * 7919) % 1000);
    for (const [i, t] of times.entries()) queue.push(t, `k${i}`, 1);
    const popped: number[] = [];
    while (queue.size > 0) popped.push(queue.pop()!.time);
    assert.deepEqual(
      popped,
      [...times].sort((a, b) => a - b),
    );
  });

  it('stays bounded by what is live when keys are re-dated again and again, and keeps its order', () => {
    const queue = new ExpiryQueue();
    const current = new Map<string, { version: number; time: number }>();
    let largest = 0;
    let dropped = 0;
    for (let i = 0; i < 100_000; i++) {
      const key = `ip:192.0.2.${i % 50}`;
      const version = (current.get(key)?.version ?? 0) + 1;
      const time = 1_000_000 + ((i * 104_729) % 500_000);
      current.set(key, { version, time });
      queue.push(time, key, version);
      dropped += queue.compactIfStale(current.size, (k, v) => current.get(k)?.version === v);
      largest = Math.max(largest, queue.size);
    }
    assert.ok(largest <= 2 * 50 + 1024 + 1, `at most twice the live entries plus the margin, saw ${largest}`);
    assert.ok(dropped > 90_000, `stale entries dropped: ${dropped}`);
    // What remains pops in order, and holds the current version of every key.
    const live: string[] = [];
    let last = Number.NEGATIVE_INFINITY;
    while (queue.size > 0) {
      const entry = queue.pop()!;
      assert.ok(entry.time >= last, 'heap order kept through compaction');
      last = entry.time;
      if (current.get(entry.key)?.version === entry.version) live.push(entry.key);
    }
    assert.equal(new Set(live).size, 50);
  });
});
