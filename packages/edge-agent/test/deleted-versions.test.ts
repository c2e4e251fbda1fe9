import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeletedVersions } from '../src/deleted-versions.js';

const NOW = Date.UTC(2026, 10, 29, 12);
const DAY = 86_400_000;

test('refuses versions up to the deleted one until the decision would have expired, at most a day', () => {
  const deleted = new DeletedVersions();
  deleted.remember('ip:192.0.2.1', 500, NOW + 3_600_000, NOW);
  deleted.remember('range:198.51.100.0/24', 700, NOW + 30 * DAY, NOW);
  assert.equal(deleted.refuses('ip:192.0.2.1', 500, NOW), true);
  assert.equal(deleted.refuses('ip:192.0.2.1', 499, NOW), true);
  assert.equal(deleted.refuses('ip:192.0.2.1', 501, NOW), false, 'made after the deletion');
  assert.equal(deleted.refuses('ip:192.0.2.2', 1, NOW), false);
  assert.equal(deleted.refuses('ip:192.0.2.1', 500, NOW + 3_600_000), false, 'expired by then anyway');
  assert.equal(deleted.refuses('range:198.51.100.0/24', 700, NOW + DAY - 1), true);
  assert.equal(deleted.refuses('range:198.51.100.0/24', 700, NOW + DAY), false, 'a day at most');
  deleted.prune(NOW + 3_600_000);
  assert.equal(deleted.size, 1);
  deleted.prune(NOW + DAY);
  assert.equal(deleted.size, 0);
});

test('keeps the highest version per key, forgets nothing already expired, and holds at most max entries', () => {
  const deleted = new DeletedVersions(3);
  deleted.remember('ip:192.0.2.1', 5, NOW + DAY, NOW);
  deleted.remember('ip:192.0.2.1', 3, NOW + DAY, NOW);
  assert.equal(deleted.refuses('ip:192.0.2.1', 5, NOW), true);
  deleted.remember('ip:192.0.2.9', 5, NOW - 1, NOW);
  assert.equal(deleted.size, 1, 'an expired decision is not remembered');
  for (let i = 2; i <= 5; i++) deleted.remember(`ip:192.0.2.${i}`, 1, NOW + DAY, NOW);
  assert.equal(deleted.size, 3);
  assert.equal(deleted.refuses('ip:192.0.2.1', 5, NOW), false, 'the oldest deletion forgotten first');
  assert.equal(deleted.refuses('ip:192.0.2.5', 1, NOW), true);
});
