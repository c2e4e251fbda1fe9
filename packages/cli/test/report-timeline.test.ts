import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { timelineBuckets } from '../src/report.js';

const MINUTE = 60_000;
const t0 = Date.UTC(2024, 0, 21, 9, 0);

/** A per-minute timeline as the replay gives it: only minutes with requests, in order. */
function perMinute(minutes: number[], requests = 10, flagged = 2) {
  return minutes.map((m) => ({ minute: t0 + m * MINUTE, requests, flagged }));
}

describe('the summary timeline', () => {
  it('charts a 4-day log (09:00 to 18:59 four days later) in dated 6 h buckets by time, gaps as empty buckets', () => {
    // The first and the last of 5 days busy, the 3 between silent (grouping by position hid them).
    const minutes = [
      ...Array.from({ length: 600 }, (_, i) => i),
      ...Array.from({ length: 600 }, (_, i) => 4 * 1440 + i),
    ];
    const { bucketMinutes, buckets, label } = timelineBuckets(perMinute(minutes));
    assert.equal(bucketMinutes, 360);
    assert.ok(buckets.length <= 30, `${buckets.length} rows`);
    assert.equal(label(buckets[0]!.minute), '2024-01-21 06:00', 'aligned to 00/06/12/18 UTC, dated');
    assert.equal(label(buckets[buckets.length - 1]!.minute), '2024-01-25 18:00');
    for (let i = 1; i < buckets.length; i++)
      assert.equal(buckets[i]!.minute - buckets[i - 1]!.minute, 360 * MINUTE);
    const silent = buckets.filter(
      (b) => b.minute >= Date.UTC(2024, 0, 22) && b.minute < Date.UTC(2024, 0, 25),
    );
    assert.equal(silent.length, 12, '3 silent days of 4 buckets');
    assert.ok(silent.every((b) => b.requests === 0 && b.flagged === 0));
    assert.equal(
      buckets.reduce((sum, b) => sum + b.requests, 0),
      12_000,
      'every request in one bucket',
    );
    assert.equal(buckets[0]!.requests, 180 * 10, '09:00–11:59 in the 06:00 bucket');
  });

  it('keeps one-minute rows labelled HH:MM for a short log, gaps included', () => {
    const { bucketMinutes, buckets, label } = timelineBuckets(perMinute([0, 1, 5, 9]));
    assert.equal(bucketMinutes, 1);
    assert.deepEqual(
      buckets.map((b) => [label(b.minute), b.requests]),
      [
        ['09:00', 10],
        ['09:01', 10],
        ['09:02', 0],
        ['09:03', 0],
        ['09:04', 0],
        ['09:05', 10],
        ['09:06', 0],
        ['09:07', 0],
        ['09:08', 0],
        ['09:09', 10],
      ],
    );
  });

  it('picks the smallest round size that fits 30 rows', () => {
    const sizeFor = (spanMinutes: number) => timelineBuckets(perMinute([0, spanMinutes])).bucketMinutes;
    assert.equal(sizeFor(29), 1);
    assert.equal(sizeFor(100), 5);
    assert.equal(sizeFor(6 * 60), 15);
    assert.equal(sizeFor(24 * 60), 60);
    assert.equal(sizeFor(20 * 1440), 1440);
    const years = timelineBuckets(perMinute([0, 2 * 365 * 1440]));
    assert.equal(years.bucketMinutes % 10_080, 0, 'whole weeks beyond a month');
    assert.ok(years.buckets.length <= 30, `${years.buckets.length} rows for two years`);
    assert.equal(years.label(years.buckets[0]!.minute).length, 10, 'a date, no time of day');
  });
});
