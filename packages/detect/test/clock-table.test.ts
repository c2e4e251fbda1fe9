import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClockTable } from '../src/clock-table.js';

test('the table never holds more than its capacity and evicts an entry not used since the last sweep', () => {
  const evicted: string[] = [];
  const table = new ClockTable<string, number>(3, (_value, key) => evicted.push(key));
  table.insert('a', (slot) => slot);
  table.insert('b', (slot) => slot);
  table.insert('c', (slot) => slot);
  table.insert('d', (slot) => slot); // the hand clears every bit, then takes 'a'
  assert.deepEqual(evicted, ['a']);
  table.get('b'); // 'b' is used again: spared by the next sweep
  table.insert('e', (slot) => slot);
  assert.deepEqual(evicted, ['a', 'c']);
  assert.equal(table.size, 3);
  assert.equal(table.get('a'), undefined);
  assert.equal(table.get('b'), 1);
  assert.equal(table.evicted, 2);
});

test('an evicted entry hands its slot to the new one', () => {
  const table = new ClockTable<string, { slot: number }>(2);
  const a = table.insert('a', (slot) => ({ slot }));
  table.insert('b', (slot) => ({ slot }));
  const c = table.insert('c', (slot) => ({ slot }));
  assert.equal(c.slot, a.slot);
  assert.deepEqual([...table.entries()].map(([k]) => k).sort(), ['b', 'c']);
});
