import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Decision, Signal } from '@edgeguard/schema';
import { KeptDecisions } from '../src/kept-decisions.js';

function decision(key: string, signals: Signal[], fields: Partial<Decision> = {}): Decision {
  return {
    key,
    scope: 'ip',
    value: key.slice(3),
    action: 'block',
    reason: 'swarm',
    signals,
    score: 3,
    decidedAt: 1,
    expiresAt: 2,
    origin: 'auto',
    version: 1,
    ...fields,
  };
}

const shared: Signal[] = [
  { name: 'fingerprint.clients', value: 345.081, threshold: 4.5 },
  { name: 'fingerprint.humanShare', value: 0, threshold: 0.01 },
];

test('a swarm of addresses with the same evidence keeps one record, and each key still reads it', () => {
  const kept = new KeptDecisions(100);
  for (let i = 0; i < 50; i++)
    kept.note(decision(`ip:192.0.2.${i}`, [{ name: 'requestsPerMinute', value: 1.983 }, ...shared]));
  assert.equal(kept.latest.size, 50);
  const first = kept.latest.get('ip:192.0.2.0')!;
  for (const record of kept.latest.values()) assert.equal(record, first);
  assert.deepEqual(JSON.parse(JSON.stringify(first)), {
    scope: 'ip',
    action: 'block',
    reason: 'swarm',
    score: 3,
    signals: [{ name: 'requestsPerMinute', value: 1.983 }, ...shared],
  });
});

test('records that would serialise differently are never shared', () => {
  const kept = new KeptDecisions(100);
  const base = [{ name: 'requestsPerMinute', value: 2 }];
  kept.note(decision('ip:192.0.2.1', base));
  kept.note(decision('ip:192.0.2.2', [{ name: 'requestsPerMinute', value: 2.001 }]));
  kept.note(decision('ip:192.0.2.3', [{ name: 'requestsPerMinute', value: 2, threshold: 1 }]));
  kept.note(decision('ip:192.0.2.4', base, { score: 4 }));
  kept.note(decision('ip:192.0.2.5', base, { action: 'challenge' }));
  kept.note(decision('ip:192.0.2.6', base, { reason: 'scraper' }));
  // Keys in another order serialise differently: kept as they are.
  kept.note(decision('ip:192.0.2.7', [{ value: 2, name: 'requestsPerMinute' } as Signal]));
  const json = [...kept.latest.values()].map((d) => JSON.stringify(d));
  assert.equal(new Set(json).size, 7);
  assert.equal(
    json[6],
    JSON.stringify({
      scope: 'ip',
      action: 'block',
      reason: 'swarm',
      score: 3,
      signals: [{ value: 2, name: 'requestsPerMinute' }],
    }),
  );
});

test('the latest decision of a key replaces the earlier one, in first-published order, within maxKeys', () => {
  const kept = new KeptDecisions(2);
  kept.note(decision('ip:192.0.2.1', [], { action: 'challenge' }));
  kept.note(decision('ip:192.0.2.2', []));
  kept.note(decision('ip:192.0.2.3', [])); // past maxKeys: not kept
  kept.note(decision('ip:192.0.2.1', [], { action: 'block', reason: 'scanner' }));
  assert.deepEqual([...kept.latest.keys()], ['ip:192.0.2.1', 'ip:192.0.2.2']);
  assert.equal(kept.latest.get('ip:192.0.2.1')!.reason, 'scanner');
});

test('past maxShared distinct records the table starts over and every record stays correct', () => {
  const kept = new KeptDecisions(1000, 8);
  for (let i = 0; i < 40; i++) kept.note(decision(`ip:192.0.2.${i}`, [{ name: 'n', value: i % 20 }]));
  for (let i = 0; i < 40; i++) assert.equal(kept.latest.get(`ip:192.0.2.${i}`)!.signals[0]!.value, i % 20);
});

test('past its bound it counts the decisions of keys it did not keep, and still updates the kept ones', () => {
  const kept = new KeptDecisions(3);
  for (let i = 0; i < 5; i++) kept.note(decision(`ip:192.0.2.${i}`, shared));
  kept.note(decision('ip:192.0.2.0', [{ name: 'requestsPerMinute', value: 9 }]));
  kept.note(decision('ip:192.0.2.4', shared));
  assert.deepEqual([...kept.latest.keys()], ['ip:192.0.2.0', 'ip:192.0.2.1', 'ip:192.0.2.2']);
  assert.equal(kept.notKept, 3, '.3 and .4 (twice)');
  assert.deepEqual(kept.latest.get('ip:192.0.2.0')!.signals, [{ name: 'requestsPerMinute', value: 9 }]);
});
