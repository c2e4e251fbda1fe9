import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecayedCounters } from '../src/decay.js';

test('a steady rate reads as rate × window once the window has filled', () => {
  const c = new DecayedCounters(1, 60_000);
  for (let t = 0; t <= 600_000; t += 1000) {
    const weight = c.at(t); // before reading the value: `at` decays it in place
    c.values[0]! += weight;
  }
  // 1 event/s over a 60 s window ≈ 60 (exactly 1/(1 - e^(-1/60)) ≈ 60.5 at steady state).
  assert.ok(Math.abs(c.values[0]! - 60.5) < 0.5, `${c.values[0]}`);
});

test('old events fade: after three windows of silence a burst is nearly gone', () => {
  const c = new DecayedCounters(1, 10_000);
  for (let i = 0; i < 100; i++) {
    const weight = c.at(0);
    c.values[0]! += weight;
  }
  assert.equal(c.read(0, 0), 100);
  assert.ok(c.read(0, 30_000) < 5 && c.read(0, 30_000) > 4.9);
});

test('a late event counts with the weight of its age, without moving the clock back', () => {
  const c = new DecayedCounters(1, 10_000);
  c.at(20_000);
  c.values[0] = 1;
  const w = c.at(10_000);
  assert.ok(Math.abs(w - Math.exp(-1)) < 1e-12);
  assert.equal(c.time, 20_000);
});
