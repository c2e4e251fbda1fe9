import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import { HeapGuard } from '../src/heap-guard.js';

const used = () => v8.getHeapStatistics().used_heap_size;

test('the heap guard leaves V8 alone below its limit and collects once past it, then at growth × what is left', () => {
  let collected = 0;
  const quiet = new HeapGuard(used() + 512 * 1024 * 1024, 2, () => collected++);
  quiet.check();
  assert.equal(collected, 0);

  const guard = new HeapGuard(1, 2, () => collected++);
  guard.check(); // past a 1-byte limit: collects
  assert.equal(collected, 1);
  guard.check(); // the heap has not doubled since: nothing
  assert.equal(collected, 1);
  assert.equal(guard.collections, 1);
});

test('the heap guard forces a real full collection by default', () => {
  const guard = new HeapGuard(1);
  let garbage: number[][] | null = Array.from({ length: 2000 }, () => new Array<number>(1000).fill(1.5));
  const before = used();
  garbage = null;
  guard.check();
  assert.equal(garbage, null);
  assert.equal(guard.collections, 1);
  assert.ok(used() < before - 8 * 1024 * 1024, `heap in use ${before} → ${used()}`);
});
