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
        : r % 10 === 2
          ? `2001:db8:${r % 3}:0:${(r >> 4).toString(16)}:${r % 5}:ffff:${(r & 15).toString(16)}`
          : r % 10 === 3
            ? `2001:DB8:${r % 3}:0:${(r >> 4).toString(16)}:${r % 5}:ffff:${(r & 15).toString(16)}`
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
    const key =
      i % 5 === 0
        ? `2001:db8::${i % 97}`
        : i % 5 === 1
          ? `2a01:599:${i % 7}:510:630c:52b7:fdb4:${(i % 89).toString(16)}`
          : `198.51.${i % 3}.${(i * 7) % 113}`;
    const a = onMap.get(key) ?? onMap.insert(key, (slot) => slot);
    const b = onIndex.get(key) ?? onIndex.insert(key, (slot) => slot);
    assert.equal(b, a);
  }
  assert.equal(onIndex.evicted, onMap.evicted);
  assert.deepEqual([...onIndex.entries()], [...onMap.entries()]);
});

test('AddressIndex keeps every spelling of an IPv6 address apart, as a Map by text does', () => {
  // Eight full groups are keyed by number; every other spelling by its text: the same address
  // in two spellings is two keys, as before, and no spelling is taken for another.
  const spellings = [
    '2001:db8:0:0:0:0:0:1',
    '2001:db8::1',
    '2001:0db8:0:0:0:0:0:1',
    '2001:DB8:0:0:0:0:0:1',
    '2001:db8:0:0:0:0:0:01',
    '2001:db8:0:0:0:0:0:1%eth0',
    '::ffff:192.0.2.1',
    '0:0:0:0:0:ffff:c000:201',
    '2001:db8:0:0:0:0:0:1:2',
    '2001:db8:0:0:0:0:1',
    '2001:db8:0:0:0:0:0:10000',
    '2001:db8:0:0:0:0:0:',
    ':2001:db8:0:0:0:0:0',
    'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    '8000:0:0:0:0:0:0:0',
    '0:0:0:0:0:0:0:0',
    'g:0:0:0:0:0:0:0',
  ];
  const index = new AddressIndex();
  for (const [slot, key] of spellings.entries()) index.set(key, slot);
  assert.equal(index.size, spellings.length);
  for (const [slot, key] of spellings.entries()) {
    // A copy: found by its text (or number), not by being the same string.
    assert.equal(index.get(JSON.parse(JSON.stringify(key)) as string), slot, key);
  }
  assert.equal(index.get('2001:db8:0:0:0:0:0:2'), undefined);
  assert.equal(index.get('2001:db8:0:0:0:0:1:0'), undefined);
  assert.equal(index.get('1:0:0:0:0:0:0:2001'), undefined);
  assert.equal(index.delete('2001:db8:0:0:0:0:0:1'), true);
  assert.equal(index.delete('2001:db8:0:0:0:0:0:1'), false);
  assert.equal(index.get('2001:db8::1'), 1);
  assert.equal(index.get('2001:db8:0:0:0:0:0:1'), undefined);
  assert.equal(index.size, spellings.length - 1);
});

test('AddressIndex finds many eight-group IPv6 addresses through growth and deletes', () => {
  const index = new AddressIndex();
  const model = new Map<string, number>();
  let seed = 7;
  const random = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  // Addresses of a few /64s (the words clients of one network share) with random interface ids.
  const keyOf = (r: number) =>
    `2a01:cb2b:${(r % 4).toString(16)}:610:${((r >> 2) & 0xffff).toString(16)}:e850:${(r % 3).toString(16)}:9be4`;
  for (let step = 0; step < 40_000; step++) {
    const key = keyOf(random(20_000));
    if (random(4) !== 0 && !model.has(key)) {
      index.set(key, step);
      model.set(key, step);
    } else if (random(3) === 0) {
      assert.equal(index.delete(key), model.delete(key), `delete ${key}`);
    }
    assert.equal(index.get(key), model.get(key), `get ${key} at step ${step}`);
  }
  assert.equal(index.size, model.size);
  for (const [key, slot] of model) assert.equal(index.get(key), slot);
});
