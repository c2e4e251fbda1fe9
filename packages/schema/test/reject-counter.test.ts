import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BadInput, RejectCounter } from '../src/bad-input.js';

test('counts by reason with a few samples each, and folds reasons past maxReasons into other', () => {
  const counter = new RejectCounter(2, 200, 2);
  for (const reason of ['a', 'a', 'a', 'b', 'c', 'c'])
    counter.record(new BadInput(reason, `bad ${reason}`), `line ${reason}`);
  assert.equal(counter.total, 6);
  assert.deepEqual(counter.byReason(), { a: 3, other: 2, b: 1 });
  assert.deepEqual(
    counter.samplesOf('a').map((s) => s.excerpt),
    ['line a', 'line a'],
  );
  assert.equal(counter.samplesOf('other').length, 2);
});

test('countOnly counts like record without a sample; samplesFull says when record would keep none', () => {
  const counter = new RejectCounter(1, 200, 2);
  assert.equal(counter.samplesFull('a'), false);
  counter.record(new BadInput('a', 'bad a'), 'line a');
  assert.equal(counter.samplesFull('a'), true);
  counter.countOnly('a');
  counter.countOnly('b');
  counter.countOnly('c'); // a third reason: folded into other
  assert.equal(counter.samplesFull('c'), false, 'other has no sample yet');
  assert.equal(counter.total, 4);
  assert.deepEqual(counter.byReason(), { a: 2, b: 1, other: 1 });
  assert.equal(counter.samplesOf('a').length, 1);
  assert.equal(counter.samplesOf('b').length, 0);
});
