// StartSearch: where explain starts reading a client's partition, by event time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type SearchStep, StartSearch } from '../src/explain-requests.js';

/**
 * Runs a search over a simulated partition: `times[i]` is the event time of offset `base + i`, or
 * null where no message is (a gap). Returns the start offset and the probes taken.
 */
function run(
  times: Array<number | null>,
  base: number,
  lowerBound: number,
  target: number,
  maxProbes?: number,
) {
  const end = BigInt(base + times.length);
  const search = new StartSearch(BigInt(lowerBound), end, target, maxProbes);
  let step: SearchStep = search.first();
  while ('probe' in step) {
    let at = Number(step.probe) - base;
    while (at < times.length && times[at] === null) at++;
    assert.ok(at < times.length, `probe ${step.probe} past the last message`);
    step = search.observe(BigInt(base + at), times[at]!);
  }
  return { start: Number(step.start), probes: search.probes };
}

/** The first offset whose message (or the next message after a gap) has event time ≥ target. */
function expected(times: Array<number | null>, base: number, target: number): number {
  const i = times.findIndex((t) => t !== null && t >= target);
  if (i < 0) return base + times.length;
  let start = i;
  while (start > 0 && times[start - 1] === null) start--;
  return base + start;
}

describe('StartSearch', () => {
  it('ends at the first probe when the timestamp index already points there (live traffic)', () => {
    const times = Array.from({ length: 1000 }, (_, i) => 1_000_000 + i * 10);
    const { start, probes } = run(times, 0, 500, 1_000_000 + 500 * 10);
    assert.equal(start, 500);
    assert.equal(probes, 1);
  });

  it('finds the window far past the lower bound of a back-filled log in logarithmic probes', () => {
    // Shipped after the fact: every Kafka timestamp is later than every event time, so the index
    // gives offset 0; the window starts 700k batch messages in.
    const n = 1_000_000;
    const times = Array.from({ length: n }, (_, i) => 5_000 + i * 3);
    for (const targetAt of [0, 1, 2, 777, 700_000, n - 1]) {
      const { start, probes } = run(times, 0, 0, 5_000 + targetAt * 3);
      assert.equal(start, targetAt, `target at ${targetAt}`);
      assert.ok(probes <= 2 * Math.ceil(Math.log2(n)) + 2, `${probes} probes for ${n} messages`);
    }
  });

  it('starts at the end when every message is before the window, and at once when the partition is empty', () => {
    const times = Array.from({ length: 100 }, (_, i) => i);
    assert.equal(run(times, 40, 40, 10_000).start, 140);
    const empty = new StartSearch(7n, 7n, 0);
    assert.deepEqual(empty.first(), { start: 7n });
  });

  it('steps over gaps in the offsets (compaction, transaction markers) and still lands on the window', () => {
    const times: Array<number | null> = Array.from({ length: 5000 }, (_, i) =>
      i % 7 === 3 || i % 11 === 0 ? null : i,
    );
    for (const target of [0, 5, 1234, 3000, 4999]) {
      const { start } = run(times, 10, 10, target);
      assert.equal(start, expected(times, 10, target), `target ${target}`);
    }
  });

  it('gives up after maxProbes and starts where it stands, never past the answer', () => {
    const times = Array.from({ length: 100_000 }, (_, i) => i);
    const { start, probes } = run(times, 0, 0, 90_000, 6);
    assert.equal(probes, 6);
    assert.ok(start <= 90_000);
  });
});
