// The rule edges and the decision store apply to the decider's tombstones (`survivesTombstone`,
// packages/schema): a tombstone made (event time) before the decision it meets was decided is the
// decider's past, and is not applied. That is only sound while the decider never removes a
// decision at an event time before the one it decided it at — checked here over whole scenarios
// that expire, escalate, re-decide and (with a config that flags everyone) lift by the guard.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DetectConfig, withDefaults } from '@edgeguard/detect';
import { createParser } from '@edgeguard/logformat';
import { type AccessLog, type Decision, survivesTombstone } from '@edgeguard/schema';
import { generateScenario } from '@edgeguard/testkit';
import { createReplay } from '../src/replay.js';

/** Replays a scenario; per tombstone, its time and the last decision published for its key. */
function tombstones(detect: DetectConfig, seed: number) {
  const scenario = generateScenario({ seed, format: 'edge', scale: 0.3 });
  const parser = createParser(scenario.format, { trustedProxies: scenario.trustedProxies });
  const replay = createReplay({ detect, allowlist: [] });
  const last = new Map<string, Decision>();
  const found: { key: string; time: number; held: Decision }[] = [];
  let puts = 0;
  replay.bus.on('decisions', (m) => {
    if (m.value === null) {
      const held = last.get(m.key);
      assert.ok(held, `a tombstone for ${m.key}, which was never decided`);
      found.push({ key: m.key, time: m.timestamp, held });
      last.delete(m.key);
    } else {
      puts++;
      last.set(m.key, m.value as Decision);
    }
  });
  for (const line of scenario.lines()) {
    const log = parser.parse(line);
    if ('time' in log) replay.push(log as AccessLog);
  }
  replay.finish();
  return { found, puts };
}

function assertNeverBefore(found: { key: string; time: number; held: Decision }[]): void {
  for (const { key, time, held } of found) {
    assert.ok(
      time >= held.decidedAt,
      `${key}: removed at ${new Date(time).toISOString()}, before it was decided (${new Date(held.decidedAt).toISOString()})`,
    );
    // So the store and edges apply it (the decision is not kept as "newer" than its own removal).
    assert.equal(survivesTombstone(held, time, Number.NEGATIVE_INFINITY), null, key);
  }
}

describe("the decider's tombstones", () => {
  it('come at or after the decision they remove: expiries and re-decisions with short durations', () => {
    const short = withDefaults({ decisions: { throttleMs: 20_000, challengeMs: 30_000, blockMs: 40_000 } });
    const { found, puts } = tombstones(short, 5);
    assert.ok(found.length >= 100, `${found.length} tombstones of ${puts} decisions`);
    assertNeverBefore(found);
  });

  it('come at or after the decision they remove: blast-radius guard lifts', () => {
    const broken = withDefaults({
      decisions: { scoreForThrottle: 0, scoreForChallenge: 0, scoreForBlock: 0 },
    });
    const { found } = tombstones(broken, 3);
    assert.ok(found.length >= 10, `${found.length} tombstones`);
    assertNeverBefore(found);
  });
});
