import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OffenceHistory } from '../src/offence-history.js';

test('offences count up per key and are forgotten once the ttl has passed since the last one', () => {
  const history = new OffenceHistory(10, 1000);
  assert.equal(history.offences('ip:a', 0), 0);
  history.add('ip:a', 100);
  history.add('ip:a', 600);
  assert.equal(history.offences('ip:a', 1600), 2); // 1000 ms after the last offence: still counted
  assert.equal(history.offences('ip:a', 1601), 0); // past the ttl: forgotten
  history.add('ip:a', 1700);
  assert.equal(history.offences('ip:a', 1700), 1); // starts over
  assert.equal(history.offences('ip:b', 1700), 0);
});

test('at most max keys, the least recently used one evicted; a read makes a key recent', () => {
  const history = new OffenceHistory(2, 1_000_000);
  history.add('a', 1);
  history.add('b', 2);
  assert.equal(history.offences('a', 3), 1); // 'a' used: 'b' is now the least recent
  history.add('c', 4);
  assert.equal(history.size, 2);
  assert.equal(history.offences('b', 5), 0);
  assert.equal(history.offences('a', 5), 1);
  assert.equal(history.offences('c', 5), 1);
  assert.throws(() => new OffenceHistory(0, 1), RangeError);
});

test('add with the offences just read counts and evicts as add alone does (new, stale and held keys)', () => {
  const alone = new OffenceHistory(2, 1000);
  const told = new OffenceHistory(2, 1000);
  const steps: [string, number][] = [
    ['a', 0],
    ['b', 10],
    ['a', 20], // held
    ['c', 30], // new, table full: evicts the least recent ('b')
    ['c', 2000], // stale: forgotten, then counted again
    ['b', 2010],
  ];
  for (const [key, now] of steps) {
    alone.add(key, now);
    told.add(key, now, told.offences(key, now));
    for (const k of ['a', 'b', 'c'])
      assert.equal(told.offences(k, now), alone.offences(k, now), `${k} at ${now}`);
  }
  assert.equal(told.size, alone.size);
});

test('keys of different spaces are apart, and the least recently used key of all is evicted', () => {
  const history = new OffenceHistory(3, 1_000_000, 3);
  history.add('a', 1, undefined, 0);
  history.add('a', 2, undefined, 1);
  history.add('b', 3, undefined, 2);
  assert.equal(history.offences('a', 4, 0), 1); // one offence each: apart
  assert.equal(history.offences('a', 4, 2), 0);
  // 'a' of space 0 was read last: 'a' of space 1 is the least recent of all.
  history.add('c', 5, undefined, 0);
  assert.equal(history.size, 3);
  assert.equal(history.offences('a', 6, 1), 0);
  assert.equal(history.offences('a', 6, 0), 1);
  assert.equal(history.offences('b', 6, 2), 1);
  assert.equal(history.offences('c', 6, 0), 1);
});

test('an offence remembers until when its decision runs; resuming it moves that later, never earlier', () => {
  const history = new OffenceHistory(10, 1_000_000, 2);
  assert.equal(history.until('a'), Number.NEGATIVE_INFINITY);
  history.add('a', 100, 0, 0, 3_700);
  assert.equal(history.until('a'), 3_700);
  history.resume('a', 200, 5_000);
  history.resume('a', 300, 4_000);
  assert.equal(history.until('a'), 5_000);
  assert.equal(history.offences('a', 4_500), 1, 'resuming is not another offence');
  assert.equal(history.until('a', 1), Number.NEGATIVE_INFINITY, 'per space');
  history.resume('b', 300, 9_000);
  assert.equal(history.until('b'), Number.NEGATIVE_INFINITY, 'resuming an unknown key holds nothing');
});

test('a resumed offence is remembered ttlMs from its resumption and becomes the most recent key', () => {
  const history = new OffenceHistory(2, 1_000);
  history.add('a', 0, 0, 0, 500);
  history.add('b', 10, 0, 0, 500);
  history.resume('a', 900, 1_900);
  assert.equal(history.offences('a', 1_800), 1, 'counted from 900, not 0');
  history.add('c', 1_850, 0, 0, 2_000);
  assert.equal(history.offences('b', 1_850), 0, 'b, not a, was the least recent');
  assert.equal(history.offences('a', 1_850), 1);
});
