// The outputs' times: isoTime writes what Date.prototype.toISOString writes, faster.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isoTime } from '../src/replay.js';

describe('isoTime', () => {
  it('writes exactly what toISOString writes, across days, hours and every millisecond width', () => {
    const times = [
      0,
      1,
      59_999,
      86_399_999,
      86_400_000,
      Date.UTC(2024, 0, 21, 9, 0, 0, 5),
      Date.UTC(2024, 0, 21, 9, 59, 59, 99),
      Date.UTC(2024, 1, 29, 23, 59, 59, 999),
      Date.UTC(2024, 2, 1, 0, 0, 0, 0),
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
      // toISOString's own forms: a six-digit year, before 1970, a fraction of a millisecond.
      Date.UTC(10000, 0, 1),
      -1,
      Date.UTC(1969, 6, 20, 20, 17, 40),
      Date.UTC(2024, 0, 21) + 0.75,
    ];
    // A deterministic walk over a year, back and forth in time (the day part is remembered).
    let t = Date.UTC(2024, 0, 1);
    for (let i = 0; i < 5000; i++) {
      t += ((i * 7919) % 200_003_000) * (i % 3 === 0 ? -1 : 1);
      times.push(t);
    }
    for (const ms of times) assert.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
  });

  it('keeps null as null', () => {
    assert.equal(isoTime(null), null);
  });
});
