import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluate } from './evaluation.js';

// The incident scenario behind load balancers (client in X-Forwarded-For, cache status logged).
test('the 21 January incident (edge log, seed 1): bots caught, nobody protected blocked, swarm covered within 30 s', (t) => {
  const e = evaluate({ seed: 1, format: 'edge' });
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
  assert.ok(
    e.swarmNotCaughtIn30s.length <= 0.01 * e.swarmAddresses,
    `swarm addresses not blocked/challenged within 30 s: ${e.swarmNotCaughtIn30s.join('; ')}`,
  );
  assert.deepEqual(e.alerts, [], 'the attack must not trip the blast-radius guard');
  // Scanners, scrapers and fake crawlers are caught by their own behaviour.
  for (const role of ['scanner', 'scraper', 'fake-crawler', 'xff-spoofer', 'swarm', 'swarm-buster']) {
    const r = e.perRole[role]!;
    assert.equal(r.caught, r.clients, `${role}: ${r.caught}/${r.clients}`);
  }
});
