import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from '../src/backoff.js';
import { SseParser } from '../src/sse.js';

describe('SseParser', () => {
  it('reads events split anywhere across chunks, with LF, CRLF and CR line ends, skipping comments', () => {
    const text =
      ': ping\n\nevent: change\r\nid: 7\r\ndata: {"a":1}\r\n\r\nevent: resync\rdata: {"version":9}\r\rdata: x\ndata: y\n\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      assert.deepEqual(
        events,
        [
          { event: 'change', data: '{"a":1}', id: '7' },
          { event: 'resync', data: '{"version":9}', id: null },
          { event: 'message', data: 'x\ny', id: null },
        ],
        `cut at ${cut}`,
      );
    }
  });

  it('refuses a line or an event longer than its bound instead of buffering it', () => {
    const parser = new SseParser(64);
    assert.throws(() => parser.push(`data: ${'x'.repeat(100)}`), /longer than 64/);
    const events = new SseParser(64);
    assert.throws(() => {
      for (let i = 0; i < 10; i++) events.push(`data: ${'y'.repeat(20)}\n`);
    }, /longer than 64/);
  });
});

describe('Backoff', () => {
  it('doubles its window up to the maximum, never below half of it, and starts over after reset', () => {
    const low = new Backoff(100, 1000, () => 0);
    assert.deepEqual([low.next(), low.next(), low.next(), low.next(), low.next()], [50, 100, 200, 400, 500]);
    const high = new Backoff(100, 1000, () => 0.999999);
    const delays = [high.next(), high.next(), high.next(), high.next(), high.next()].map(Math.round);
    assert.deepEqual(delays, [100, 200, 400, 800, 1000]);
    high.reset();
    assert.equal(Math.round(high.next()), 100);
  });
});
