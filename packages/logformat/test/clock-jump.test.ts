import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ClockJumpCounter,
  ClockJumpGuard,
  ClockJumpHold,
  correctRecordTime,
  createParser,
  DEFAULT_CLOCK_JUMP_CONFIRMATIONS,
  DEFAULT_MAX_CLOCK_JUMP_MS,
  startClockGuard,
} from '../src/index.js';

const T0 = Date.UTC(2024, 0, 21, 9, 0, 0);
const SECOND = 1000;
const HOUR = 3_600_000;

/** T0, then bursts of 2 or 3 requests a second apart every 40 minutes, for 8 hours. */
function sparseBursts(): number[] {
  const logged = [T0];
  for (let burst = 1; burst <= 12; burst++) {
    for (let k = 0; k < 2 + (burst % 2); k++) logged.push(T0 + burst * 40 * 60_000 + k * SECOND);
  }
  return logged;
}

/** The times a fresh guard counts `logged` at, in order. */
function corrected(logged: number[], guard = new ClockJumpGuard()): number[] {
  return logged.map((ms) => guard.correct(ms));
}

describe('ClockJumpGuard', () => {
  it('started from the first records, holds a first record dated hours ahead of the rest', () => {
    const logged = [T0 + 3 * HOUR, T0, T0 + SECOND, T0 + 2 * SECOND];
    const guard = new ClockJumpGuard();
    guard.start(logged);
    assert.equal(guard.newest, T0 + SECOND, 'the lower median of the first records');
    assert.deepEqual(corrected(logged, guard), [T0 + SECOND, T0, T0 + SECOND, T0 + 2 * SECOND]);
    guard.start([T0 + 9 * HOUR]);
    assert.equal(guard.newest, T0 + 2 * SECOND, 'a started guard is not started again');
    const empty = new ClockJumpGuard();
    empty.start([Number.NaN]);
    assert.equal(empty.newest, null, 'no time, no start');
  });

  it('startClockGuard starts from the first lines that parse, only while the guard has no time', () => {
    const parser = createParser('combined');
    const line = (time: string, path: string) =>
      `192.0.2.1 - - [21/Jan/2024:${time} +0000] "GET ${path} HTTP/1.1" 200 5 "-" "curl/8.0"`;
    const guard = new ClockJumpGuard();
    startClockGuard(guard, parser, ['', 'not a log line']);
    assert.equal(guard.newest, null, 'nothing parsed yet');
    startClockGuard(guard, parser, [
      line('12:00:00', '/a'),
      '',
      line('09:00:00', '/b'),
      line('09:00:01', '/c'),
    ]);
    assert.equal(guard.newest, T0 + SECOND, 'the median of 09:00:00, 09:00:01 and 12:00:00');
    startClockGuard(guard, parser, [line('15:00:00', '/d')]);
    assert.equal(guard.newest, T0 + SECOND);
  });

  it('accepts the first record of an unstarted guard, however far it is from anything', () => {
    const guard = new ClockJumpGuard();
    assert.equal(guard.newest, null);
    assert.equal(guard.correct(T0 + 5 * 365 * 24 * HOUR), T0 + 5 * 365 * 24 * HOUR);
    assert.equal(guard.newest, T0 + 5 * 365 * 24 * HOUR);
  });

  it('counts one forward-dated line at the newest time before it, and the lines after it as logged', () => {
    const logged = [T0, T0 + SECOND, T0 + 3 * HOUR + 2 * SECOND, T0 + 2 * SECOND, T0 + 3 * SECOND];
    assert.deepEqual(corrected(logged), [T0, T0 + SECOND, T0 + SECOND, T0 + 2 * SECOND, T0 + 3 * SECOND]);
  });

  it('leaves in-order and slightly out-of-order lines alone', () => {
    const logged = [T0, T0 + 5 * SECOND, T0 + 2 * SECOND, T0 + 9 * 60 * SECOND, T0 - 30 * SECOND];
    assert.deepEqual(corrected(logged), logged);
  });

  it('accepts a jump of exactly maxJumpMs, and holds back one a millisecond longer', () => {
    assert.deepEqual(corrected([T0, T0 + DEFAULT_MAX_CLOCK_JUMP_MS]), [T0, T0 + DEFAULT_MAX_CLOCK_JUMP_MS]);
    assert.deepEqual(corrected([T0, T0 + DEFAULT_MAX_CLOCK_JUMP_MS + 1]), [T0, T0]);
  });

  it('takes a genuine gap (a quiet night) once the confirmations in a row agree, and moves on from there', () => {
    const morning = T0 + 8 * HOUR;
    const after = Array.from({ length: 12 }, (_, i) => morning + i * SECOND);
    const times = corrected([T0, ...after]);
    const held = DEFAULT_CLOCK_JUMP_CONFIRMATIONS - 1;
    assert.deepEqual(times.slice(1, 1 + held), Array(held).fill(T0), 'the first ones are held at the night');
    assert.deepEqual(times.slice(1 + held), after.slice(held), 'from the confirming record on, as logged');
  });

  it('keeps an interleaved source with a skewed clock held back: its lines never come 8 in a row', () => {
    const guard = new ClockJumpGuard();
    const logged: number[] = [];
    for (let i = 0; i < 1000; i++) {
      // The good server every line; a server 2 h ahead in runs of up to 7 lines between them.
      logged.push(T0 + i * SECOND);
      for (let k = 0; k < i % 8; k++) logged.push(T0 + 2 * HOUR + i * SECOND);
    }
    for (const ms of logged) assert.ok(guard.correct(ms) <= T0 + 999 * SECOND, `${ms} moved time`);
    assert.equal(guard.newest, T0 + 999 * SECOND);
  });

  it('needs the far-ahead records to go forward together, not only to be far ahead', () => {
    // Far-ahead lines jumping back and forth by hours: garbage, not a clock that moved.
    const logged = [
      T0,
      ...Array.from({ length: 20 }, (_, i) => T0 + (i % 2 === 0 ? 9 : 2) * HOUR + i * SECOND),
    ];
    assert.deepEqual(corrected(logged), Array(21).fill(T0));
  });

  it("follows a sparse site's short bursts between quiet gaps: 8 far-ahead lines in a row going forward move time on", () => {
    // Two or three requests, then 40 quiet minutes, again and again (a small site at night): each
    // burst is shorter than the confirmations, and each counted as a jump of its own refuted the
    // one before, so time stayed at the first line for good (419 of almhuette-raith-10k's lines).
    const logged = sparseBursts();
    const times = corrected(logged);
    const held = DEFAULT_CLOCK_JUMP_CONFIRMATIONS - 1;
    assert.deepEqual(times.slice(1, 1 + held), Array(held).fill(T0), 'held until 8 in a row went forward');
    assert.equal(times[1 + held], logged[1 + held], 'the eighth confirms the move');
    for (let i = DEFAULT_CLOCK_JUMP_CONFIRMATIONS; i < logged.length; i++) {
      assert.ok(
        times[i]! >= logged[i - DEFAULT_CLOCK_JUMP_CONFIRMATIONS]!,
        `line ${i} counted at ${times[i]}`,
      );
    }
  });

  it('never lets a far-future line coming last in a run move time alone', () => {
    // A quiet hour, 7 lines, then one corrupt line dated 2099, then the log goes on.
    const after = Array.from({ length: 7 }, (_, i) => T0 + HOUR + i * SECOND);
    const future = Date.UTC(2099, 0, 1);
    const on = Array.from({ length: 5 }, (_, i) => T0 + HOUR + 60 * SECOND + i * SECOND);
    const guard = new ClockJumpGuard();
    const times = corrected([T0, ...after, future, ...on], guard);
    assert.equal(times[8], after.at(-1), 'the 2099 line counted at the time before it');
    assert.deepEqual(times.slice(9), on, 'the log goes on at its own time');
    assert.equal(guard.newest, on.at(-1));
  });

  it('restores a snapshot exactly (a shipper chunk parsed again, a checkpoint)', () => {
    const guard = new ClockJumpGuard(60_000, 3);
    corrected([T0, T0 + HOUR, T0 + HOUR + SECOND], guard);
    const copy = new ClockJumpGuard(60_000, 3);
    copy.restore(guard.snapshot());
    const next = [T0 + HOUR + 2 * SECOND, T0 + HOUR + 3 * SECOND];
    assert.deepEqual(corrected(next, copy), corrected(next, guard));
  });

  it('follows a live clock: after a quiet spell the next lines pass, a line ahead of now is held at now', () => {
    const guard = new ClockJumpGuard();
    assert.equal(guard.correct(T0), T0);
    const now = T0 + 2 * HOUR; // two hours without a line, then traffic again
    guard.advanceTo(now);
    assert.equal(guard.correct(now - SECOND), now - SECOND, 'not held at the time before the quiet spell');
    assert.equal(guard.correct(now + 3 * HOUR), now, 'a line three hours ahead of the machine clock');
    guard.advanceTo(T0); // an older reference never moves time back
    assert.equal(guard.newest, now);
  });

  it('refuses a confirmations count below 1', () => {
    assert.throws(() => new ClockJumpGuard(60_000, 0), RangeError);
  });
});

describe('correctRecordTime', () => {
  it('moves a held-back record to the newest time and keeps a sample of where it was and what it said', () => {
    const guard = new ClockJumpGuard();
    const jumps = new ClockJumpCounter(2);
    const records = [T0, T0 + 3 * HOUR, T0 + 4 * HOUR + HOUR, T0 + 12 * HOUR, T0 + SECOND].map((time) => ({
      time,
    }));
    for (const [i, record] of records.entries()) correctRecordTime(guard, jumps, record, 'access.log', i + 1);
    assert.deepEqual(
      records.map((r) => r.time),
      [T0, T0, T0, T0, T0 + SECOND],
    );
    assert.equal(jumps.total, 3);
    assert.deepEqual(jumps.toJSON().samples, [
      {
        location: 'access.log:2',
        loggedTime: '2024-01-21T12:00:00.000Z',
        countedAt: '2024-01-21T09:00:00.000Z',
      },
      {
        location: 'access.log:3',
        loggedTime: '2024-01-21T14:00:00.000Z',
        countedAt: '2024-01-21T09:00:00.000Z',
      },
    ]);
  });
});

describe('ClockJumpHold', () => {
  /** Passes `logged` through a hold over a fresh guard: what was emitted, in order, and the jumps counted. */
  function hold(logged: number[]) {
    const emitted: { time: number; line: number }[] = [];
    const jumps = new ClockJumpCounter();
    const held = new ClockJumpHold<{ time: number; line: number }>(
      new ClockJumpGuard(),
      jumps,
      'access.log',
      (r) => emitted.push(r),
    );
    for (const [i, time] of logged.entries()) held.pass({ time, line: i + 1 }, i + 1);
    held.flush();
    return { emitted, jumps };
  }

  it("gives a real gap's first records their own time, in input order, and counts no jump", () => {
    const morning = T0 + 8 * HOUR;
    const after = Array.from({ length: 12 }, (_, i) => morning + i * SECOND);
    const { emitted, jumps } = hold([T0, T0 + SECOND, ...after]);
    assert.deepEqual(
      emitted.map((r) => r.time),
      [T0, T0 + SECOND, ...after],
    );
    assert.deepEqual(
      emitted.map((r) => r.line),
      Array.from({ length: 14 }, (_, i) => i + 1),
    );
    assert.equal(jumps.total, 0);
  });

  it('counts a lone forward-dated line at the time before it, as correctRecordTime does, and keeps the order', () => {
    const logged = [T0, T0 + SECOND, T0 + 3 * HOUR, T0 + 2 * SECOND, T0 + 3 * SECOND];
    const { emitted, jumps } = hold(logged);
    assert.deepEqual(
      emitted.map((r) => [r.line, r.time]),
      [
        [1, T0],
        [2, T0 + SECOND],
        [3, T0 + SECOND],
        [4, T0 + 2 * SECOND],
        [5, T0 + 3 * SECOND],
      ],
    );
    assert.equal(jumps.total, 1);
    assert.equal(jumps.samples[0]!.location, 'access.log:3');
  });

  it('refutes a pending run when a far-ahead line disagrees with it, and holds an unconfirmed run to the end', () => {
    const run = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i * SECOND);
    // 3 lines 9 h ahead, then 3 lines 2 h ahead (back before them: another jump), then the input ends.
    const logged = [T0, ...run(T0 + 9 * HOUR, 3), ...run(T0 + 2 * HOUR, 3)];
    const { emitted, jumps } = hold(logged);
    assert.deepEqual(
      emitted.map((r) => r.time),
      Array(7).fill(T0),
    );
    assert.deepEqual(
      emitted.map((r) => r.line),
      [1, 2, 3, 4, 5, 6, 7],
    );
    assert.equal(jumps.total, 6);
  });

  it("gives a sparse site's bursts between quiet gaps their own time once they confirm each other", () => {
    // Ending with a busy spell, so that no run is left unconfirmed at the end of the input.
    const busy = Array.from({ length: 10 }, (_, i) => T0 + 10 * HOUR + i * SECOND);
    const logged = [...sparseBursts(), ...busy];
    const { emitted, jumps } = hold(logged);
    assert.deepEqual(
      emitted.map((r) => r.time),
      logged,
    );
    assert.equal(jumps.total, 0);
  });

  it('gives a sparse run its own time when a far-future line comes last in it, and counts that line as the jump', () => {
    const after = Array.from({ length: 7 }, (_, i) => T0 + HOUR + i * SECOND);
    const future = Date.UTC(2099, 0, 1);
    const on = Array.from({ length: 5 }, (_, i) => T0 + HOUR + 60 * SECOND + i * SECOND);
    const { emitted, jumps } = hold([T0, ...after, future, ...on]);
    assert.deepEqual(
      emitted.map((r) => r.time),
      [T0, ...after, after.at(-1), ...on],
    );
    assert.equal(jumps.total, 1);
    assert.equal(jumps.samples[0]!.location, 'access.log:9');
  });

  it('never holds more than confirmations − 1 records', () => {
    let most = 0;
    const guard = new ClockJumpGuard();
    const out: number[] = [];
    const held = new ClockJumpHold<{ time: number }>(guard, new ClockJumpCounter(), 'x', (r) =>
      out.push(r.time),
    );
    for (let i = 0; i < 1000; i++) {
      held.pass({ time: T0 + i * 3 * HOUR + (i % 9) * SECOND }, i + 1);
      most = Math.max(most, i + 1 - out.length);
    }
    assert.ok(most <= DEFAULT_CLOCK_JUMP_CONFIRMATIONS - 1, `${most} held`);
  });
});
