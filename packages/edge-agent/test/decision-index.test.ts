import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Action, Decision, DecisionScope } from '@edgeguard/schema';
import { Uint32Table, Words128Table } from '../src/address-table.js';
import { DecisionIndex } from '../src/decision-index.js';
import { parseDecision } from '../src/records.js';

const NOW = 1_700_000_000_000;

function decision(
  scope: DecisionScope,
  value: string,
  action: Action,
  overrides: Partial<Decision> = {},
): Decision {
  const prefix = scope === 'fingerprint' ? 'fp' : scope;
  return {
    key: `${prefix}:${value}`,
    scope,
    value,
    action,
    reason: 'test',
    signals: [],
    score: 3,
    decidedAt: NOW - 1000,
    expiresAt: NOW + 3_600_000,
    origin: 'auto',
    version: 1,
    ...overrides,
  };
}

function put(index: DecisionIndex, d: Decision, now = NOW): boolean {
  const parsed = parseDecision(d);
  return index.put(parsed.decision, parsed.target, now);
}

describe('DecisionIndex.check', () => {
  it('answers allow for an address nothing covers, and for text that is not an address', () => {
    const index = new DecisionIndex();
    put(index, decision('ip', '203.0.113.7', 'block'));
    assert.equal(index.check({ ip: '203.0.113.8' }, NOW).verdict, 'allow');
    assert.equal(index.check({ ip: 'not-an-ip' }, NOW).verdict, 'allow');
    assert.equal(index.check({ ip: '' }, NOW).decision, null);
  });

  it('finds an exact IPv4 address, also written as IPv4-mapped IPv6 (what dual-stack sockets report)', () => {
    const index = new DecisionIndex();
    put(index, decision('ip', '203.0.113.7', 'block'));
    const result = index.check({ ip: '203.0.113.7' }, NOW);
    assert.equal(result.verdict, 'block');
    assert.equal(result.decision?.key, 'ip:203.0.113.7');
    assert.equal(index.check({ ip: '::ffff:203.0.113.7' }, NOW).verdict, 'block');
  });

  it('finds high IPv4 addresses (above 2^31) and the address 0.0.0.0', () => {
    const index = new DecisionIndex();
    put(index, decision('ip', '255.255.255.254', 'challenge'));
    put(index, decision('ip', '0.0.0.0', 'throttle'));
    put(index, decision('range', '224.0.0.0/4', 'block'));
    assert.equal(index.check({ ip: '255.255.255.254' }, NOW).verdict, 'challenge');
    assert.equal(index.check({ ip: '0.0.0.0' }, NOW).verdict, 'throttle');
    assert.equal(index.check({ ip: '239.1.2.3' }, NOW).verdict, 'block');
    assert.equal(index.check({ ip: '240.0.0.1' }, NOW).verdict, 'allow');
  });

  it('finds covering IPv4 ranges of several prefix lengths', () => {
    const index = new DecisionIndex();
    put(index, decision('range', '198.51.100.0/24', 'challenge'));
    put(index, decision('range', '10.0.0.0/8', 'throttle'));
    assert.equal(index.check({ ip: '198.51.100.200' }, NOW).verdict, 'challenge');
    assert.equal(index.check({ ip: '198.51.101.1' }, NOW).verdict, 'allow');
    assert.equal(index.check({ ip: '10.200.3.4' }, NOW).decision?.key, 'range:10.0.0.0/8');
  });

  it('answers the strongest action among the address, its ranges and the fingerprint', () => {
    const index = new DecisionIndex();
    put(index, decision('ip', '198.51.100.7', 'throttle'));
    put(index, decision('range', '198.51.100.0/24', 'challenge'));
    put(index, decision('range', '198.51.0.0/16', 'throttle'));
    put(index, decision('fingerprint', 'h1:abcdef012345', 'block'));
    assert.equal(index.check({ ip: '198.51.100.7' }, NOW).verdict, 'challenge');
    assert.equal(index.check({ ip: '198.51.100.7', fingerprint: 'h1:abcdef012345' }, NOW).verdict, 'block');
    assert.equal(index.check({ ip: '192.0.2.1', fingerprint: 'h1:abcdef012345' }, NOW).verdict, 'block');
    assert.equal(index.check({ ip: '192.0.2.1', fingerprint: 'h1:other' }, NOW).verdict, 'allow');
    assert.equal(index.check({ ip: '192.0.2.1', fingerprint: null }, NOW).verdict, 'allow');
  });

  it('finds IPv6 addresses in any text form and covering IPv6 ranges', () => {
    const index = new DecisionIndex();
    put(index, decision('ip', '2001:db8::1', 'block'));
    put(index, decision('range', '2001:db8:1:2::/64', 'challenge'));
    put(index, decision('range', '2001:db8:ff00::/40', 'throttle'));
    assert.equal(index.check({ ip: '2001:0DB8:0:0:0:0:0:1' }, NOW).verdict, 'block');
    assert.equal(index.check({ ip: '2001:db8:1:2:aaaa:bbbb:cccc:dddd' }, NOW).verdict, 'challenge');
    assert.equal(index.check({ ip: '2001:db8:ff12::9' }, NOW).verdict, 'throttle');
    assert.equal(index.check({ ip: '2001:db8:1:3::1' }, NOW).verdict, 'allow');
    assert.equal(index.check({ ip: 'fe80::1%eth0' }, NOW).verdict, 'allow');
  });

  it('never answers with an expired decision, even before it is pruned (offline expiry)', () => {
    const index = new DecisionIndex();
    put(index, decision('ip', '203.0.113.7', 'block', { expiresAt: NOW + 1000 }));
    put(index, decision('range', '203.0.113.0/24', 'throttle', { expiresAt: NOW + 5000 }));
    assert.equal(index.check({ ip: '203.0.113.7' }, NOW + 999).verdict, 'block');
    assert.equal(index.check({ ip: '203.0.113.7' }, NOW + 1000).verdict, 'throttle');
    assert.equal(index.check({ ip: '203.0.113.7' }, NOW + 5000).verdict, 'allow');
    assert.equal(index.size, 2, 'still stored until pruned');
    assert.equal(index.prune(NOW + 5000), 2);
    assert.equal(index.size, 0);
    assert.equal(index.stats().expired, 2);
  });

  it('ignores an older version of a key, applies a newer one in place', () => {
    const index = new DecisionIndex();
    put(index, decision('ip', '203.0.113.7', 'throttle', { version: 5 }));
    assert.equal(put(index, decision('ip', '203.0.113.7', 'block', { version: 4 })), false);
    assert.equal(index.check({ ip: '203.0.113.7' }, NOW).verdict, 'throttle');
    assert.equal(
      put(index, decision('ip', '203.0.113.7', 'block', { version: 6, expiresAt: NOW + 10 })),
      true,
    );
    assert.equal(index.check({ ip: '203.0.113.7' }, NOW).verdict, 'block');
    assert.equal(index.stats().stale, 1);
    // The replacement's own expiry applies at once, before any prune.
    assert.equal(index.check({ ip: '203.0.113.7' }, NOW + 9).verdict, 'block');
    assert.equal(index.check({ ip: '203.0.113.7' }, NOW + 10).verdict, 'allow');
    // The replaced entry's old expiry must not remove the new one early, nor keep it past its own.
    assert.equal(index.prune(NOW + 10), 1);
    assert.equal(index.size, 0);
  });

  it('deletes by key (tombstones), also given in a non-canonical form', () => {
    const index = new DecisionIndex();
    put(index, decision('ip', '2001:db8::1', 'block'));
    put(index, decision('range', '10.0.0.0/8', 'block'));
    assert.equal(index.delete('ip:2001:DB8:0::1'), true);
    assert.equal(index.delete('range:10.0.0.0/8'), true);
    assert.equal(index.delete('range:10.0.0.0/8'), false);
    assert.equal(index.delete('garbage'), false);
    assert.equal(index.check({ ip: '10.1.1.1' }, NOW).verdict, 'allow');
    assert.equal(index.check({ ip: '2001:db8::1' }, NOW).verdict, 'allow');
    assert.deepEqual(index.stats().ranges, 0);
  });

  it('stays within maxEntries by dropping the decision that expires soonest', () => {
    const index = new DecisionIndex({ maxEntries: 3 });
    put(index, decision('ip', '192.0.2.1', 'block', { expiresAt: NOW + 3000 }));
    put(index, decision('ip', '192.0.2.2', 'block', { expiresAt: NOW + 1000 }));
    put(index, decision('ip', '192.0.2.3', 'block', { expiresAt: NOW + 2000 }));
    put(index, decision('ip', '192.0.2.4', 'block', { expiresAt: NOW + 4000 }));
    assert.equal(index.size, 3);
    assert.equal(index.check({ ip: '192.0.2.2' }, NOW).verdict, 'allow');
    assert.equal(index.check({ ip: '192.0.2.4' }, NOW).verdict, 'block');
    assert.equal(index.stats().evicted, 1);
  });

  it('does not store a decision already expired, and removes the key it would replace', () => {
    const index = new DecisionIndex();
    put(index, decision('ip', '192.0.2.1', 'block', { version: 1 }));
    put(index, decision('ip', '192.0.2.1', 'block', { version: 2, expiresAt: NOW - 1 }));
    assert.equal(index.size, 0);
  });

  it('keeps answering right through heavy churn (slot reuse, table deletions, heap rebuilds)', () => {
    const index = new DecisionIndex({ maxEntries: 5000 });
    const live = new Map<string, number>();
    let seed = 7;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let i = 0; i < 20_000; i++) {
      const ip = `10.${Math.floor(random() * 4)}.${Math.floor(random() * 8)}.${Math.floor(random() * 64)}`;
      if (random() < 0.3) {
        index.delete(`ip:${ip}`);
        live.delete(ip);
      } else {
        put(index, decision('ip', ip, 'block', { version: i }));
        live.set(ip, i);
      }
    }
    assert.equal(index.size, live.size);
    for (let a = 0; a < 4; a++)
      for (let b = 0; b < 8; b++)
        for (let c = 0; c < 64; c++) {
          const ip = `10.${a}.${b}.${c}`;
          assert.equal(index.check({ ip }, NOW).verdict, live.has(ip) ? 'block' : 'allow', ip);
        }
  });
});

describe('typed-array address tables', () => {
  it('Uint32Table keeps every key through growth and backward-shift deletions', () => {
    const table = new Uint32Table<number>();
    const keys = Array.from({ length: 5000 }, (_, i) => (Math.imul(i, 2654435761) >>> 0) ^ 0x80000000);
    keys.forEach((k, i) => {
      table.set(k, i, 1 + (i % 3), 1e12 + i);
    });
    for (let i = 0; i < keys.length; i += 2) assert.equal(table.delete(keys[i]!), true);
    keys.forEach((k, i) => {
      assert.equal(table.get(k), i % 2 === 0 ? undefined : i);
      const cell = table.indexOf(k);
      if (i % 2 === 0) assert.equal(cell, -1);
      else {
        // Strength and expiry moved with their key through growth and backward shifts.
        assert.deepEqual(
          [table.valueAt(cell), table.strengthAt(cell), table.expiresAt(cell)],
          [i, 1 + (i % 3), 1e12 + i],
        );
      }
    });
    assert.equal(table.size, 2500);
  });

  it('Words128Table keys on all four words', () => {
    const table = new Words128Table<number>();
    for (let i = 0; i < 3000; i++) table.set(0x20010db8, i, 0xffffffff, i * 7, i, 1 + (i % 3), i * 1000);
    for (let i = 0; i < 3000; i += 3) table.delete(0x20010db8, i, 0xffffffff, i * 7);
    for (let i = 0; i < 3000; i++) {
      assert.equal(table.get(0x20010db8, i, 0xffffffff, i * 7), i % 3 === 0 ? undefined : i);
      const cell = table.indexOf(0x20010db8, i, 0xffffffff, i * 7);
      if (i % 3 !== 0)
        assert.deepEqual([table.strengthAt(cell), table.expiresAt(cell)], [1 + (i % 3), i * 1000]);
    }
    assert.equal(table.get(0x20010db8, 1, 0xffffffff, 8), undefined);
  });
});
