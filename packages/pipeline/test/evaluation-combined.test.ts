import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluate } from './evaluation.js';

// The same incident as a plain nginx combined log (no host, no cache status, no language), another seed,
// over 4 partitions: per-client state lives on one partition, aggregates merge across them.
test('the incident as a combined log (seed 2, 4 partitions): same targets without cache status or language', (t) => {
  const e = evaluate({ seed: 2, format: 'combined', partitions: 4 });
  t.diagnostic(`lines ${e.lines}, clients ${e.labels.length}, decisions ${e.decisions.length}`);
  t.diagnostic(
    `precision ${e.precision.toFixed(4)}, recall ${e.recall.toFixed(4)} (tp ${e.truePositives}, fn ${e.falseNegatives})`,
  );
  t.diagnostic(`per role caught/clients: ${JSON.stringify(e.perRole)}`);
  t.diagnostic(
    `swarm addresses ${e.swarmAddresses}: not covered within 30 s ${e.swarmNotCoveredIn30s.length}, not blocked/challenged within 30 s ${e.swarmNotCaughtIn30s.length}`,
  );
  assert.deepEqual(e.protectedHit, [], 'protected clients blocked or challenged');
  assert.ok(e.precision >= 0.99, `precision ${e.precision}: ${e.falsePositives.join('; ')}`);
  assert.ok(e.recall >= 0.95, `recall ${e.recall}`);
  assert.deepEqual(e.swarmNotCoveredIn30s, [], 'swarm addresses not covered within 30 s');
  assert.ok(e.swarmNotCaughtIn30s.length <= 0.01 * e.swarmAddresses, e.swarmNotCaughtIn30s.join('; '));
  assert.deepEqual(e.alerts, []);
  // Each signal once per decision: evidence names what was measured against which threshold, so
  // a name listed twice with two thresholds (a fingerprint's requestsPerClient: the rule's and the
  // one choosing the shared action) reads as a contradiction.
  const repeated = e.decisions.flatMap((d) => {
    const names = d.signals.map((s) => s.name);
    return names.filter((n, i) => names.indexOf(n) !== i).map((n) => `${d.key}: ${n}`);
  });
  assert.ok(
    e.decisions.some((d) => d.scope === 'fingerprint'),
    'fingerprint decisions made',
  );
  assert.deepEqual(repeated.slice(0, 5), [], 'signals named twice in one decision');
});
