import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withDefaults } from '@edgeguard/detect';
import { createTopology } from '../src/topology.js';

// The Kafka runner builds a stage instance per assignment and per rewind and closes the one it
// drops; the topology's lists (replay's statistics) must not keep those, or a long-running
// service holds one more instance's windows after every rebalance.
test('a closed stage instance is let go by its factory; open ones stay listed', () => {
  const wired = createTopology({ detect: withDefaults(), allowlist: [] });
  const lists = {
    profiler: wired.profilers,
    'content-watch': wired.contentWatchers,
    decider: wired.deciders,
  };
  for (const factory of wired.topology.stages) {
    const list = lists[factory.name as keyof typeof lists] as unknown[];
    const first = factory.create(0);
    for (let rebalance = 0; rebalance < 5; rebalance++) factory.create(0).close?.();
    assert.deepEqual(list, [first], `${factory.name}: only the open instance listed`);
    first.close?.();
    first.close?.(); // twice: harmless
    assert.equal(list.length, 0, `${factory.name}: none listed once closed`);
  }
});
