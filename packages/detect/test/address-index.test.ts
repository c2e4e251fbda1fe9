import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressIndex, ipv4Number } from '../src/address-index.js';
import { ClockTable } from '../src/clock-table.js';

test('ipv4Number reads only the one canonical spelling of an IPv4 address', () => {
  assert.equal(ipv4Number('0.0.0.0'), 0);
  assert.equal(ipv4Number('192.0.2.1'), 0xc0000201);
  assert.equal(ipv4Number('255.255.255.255'), 0xffffffff);
  assert.equal(ipv4Number('10.20.30.40'), 0x0a141e28);
  for (const text of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.00',
    '256.1.1.1',
    '1.2.3.999',
    '1..2.3',
    '.1.2.3',
    '1.2.3.',
    '1.2.3.4 ',
    '::1',
    '::ffff:1.2.3.4',
    '2001:db8::1',
    '1.2.3.a',
    '1000.1.1.1',
  ]) {
    assert.equal(ipv4Number(text), -1, text);
  }
});

test('ipv4Number answers the same for a text read again (the last text is remembered)', () => {
  const text = '198.51.100.17';
  const copy = JSON.parse(JSON.stringify(text)) as string;
  assert.equal(ipv4Number(text), 0xc6336411);
  assert.equal(ipv4Number(text), 0xc6336411);
  assert.equal(ipv4Number(copy), 0xc6336411);
  assert.equal(ipv4Number('198.51.100.1'), 0xc6336401);
  assert.equal(ipv4Number('2001:db8::1'), -1);
  assert.equal(ipv4Number('2001:db8::1'), -1);
  assert.equal(ipv4Number(text), 0xc6336411);
});

test('AddressIndex answers like a Map through inserts and deletes (growth, probe runs, wrap-around)', () => {
  const index = new AddressIndex();
  const model = new Map<string, number>();
  let seed = 12345;
  const random = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  // A small address space makes long probe runs and reuses keys; IPv6 and odd spellings go aside.
  const keyOf = (r: number) =>
    r % 10 === 0
      ? `2001:db8::${r.toString(16)}`
      : r % 10 === 1
        ? `010.0.${r & 255}.1`
        : `${r % 7 === 0 ? 255 : 10}.${(r >> 8) & 255}.${r & 255}.${r % 3}`;
  for (let step = 0; step < 60_000; step++) {
    const key = keyOf(random(6000));
    const op = random(3);
    if (op === 0 && !model.has(key)) {
      index.set(key, step);
      model.set(key, step);
    } else if (op === 1) {
      assert.equal(index.delete(key), model.delete(key), `delete ${key}`);
    }
    assert.equal(index.get(key), model.get(key), `get ${key} at step ${step}`);
    assert.equal(index.size, model.size);
  }
  for (const [key, slot] of model) assert.equal(index.get(key), slot);
  for (let r = 0; r < 6000; r++) assert.equal(index.get(keyOf(r)), model.get(keyOf(r)));
});

test('a ClockTable on an AddressIndex evicts and reuses slots as on a Map', () => {
  const onMap = new ClockTable<string, number>(50);
  const onIndex = new ClockTable<string, number>(50, undefined, new AddressIndex());
  for (let i = 0; i < 2000; i++) {
    const key = i % 5 === 0 ? `2001:db8::${i % 97}` : `198.51.${i % 3}.${(i * 7) % 113}`;
    const a = onMap.get(key) ?? onMap.insert(key, (slot) => slot);
    const b = onIndex.get(key) ?? onIndex.insert(key, (slot) => slot);
    assert.equal(b, a);
  }
  assert.equal(onIndex.evicted, onMap.evicted);
  assert.deepEqual([...onIndex.entries()], [...onMap.entries()]);
});
