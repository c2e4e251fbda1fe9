import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClientSignal, GuardAlert } from '@edgeguard/detect';
import { withDefaults } from '@edgeguard/detect';
import { createParser } from '@edgeguard/logformat';
import type { AccessLog, Decision } from '@edgeguard/schema';
import { generateScenario } from '@edgeguard/testkit';
import { createReplay } from '../src/replay.js';

test('a broken config that flags everyone trips the blast-radius guard: decisions held, an alert raised', () => {
  // Every client scores ≥ 0, so every client would be blocked: the next outage, caused by the detector.
  const broken = withDefaults({ decisions: { scoreForThrottle: 0, scoreForChallenge: 0, scoreForBlock: 0 } });
  const scenario = generateScenario({ seed: 3, format: 'edge', scale: 0.3 });
  const parser = createParser(scenario.format, { trustedProxies: scenario.trustedProxies });
  const replay = createReplay({ detect: broken, allowlist: [] });
  const alerts: GuardAlert[] = [];
  const published: Decision[] = [];
  /** Per address, the times of its signals as an established client. */
  const bystanderAt = new Map<string, number[]>();
  replay.bus.on('alerts', (m) => alerts.push(m.value as GuardAlert));
  replay.bus.on('decisions', (m) => {
    if (m.value !== null) published.push(m.value as Decision);
  });
  replay.bus.on('signals', (m) => {
    const s = m.value as ClientSignal;
    if (s.kind !== 'client' || !s.established) return;
    bystanderAt.set(s.ip, [...(bystanderAt.get(s.ip) ?? []), s.time]);
  });
  for (const line of scenario.lines()) {
    const log = parser.parse(line);
    if ('time' in log) replay.push(log as AccessLog);
  }
  replay.finish();

  const tripped = alerts.filter((a) => a.state === 'tripped');
  assert.ok(tripped.length >= 1, 'the guard trips');
  const first = tripped[0]!;
  assert.equal(first.kind, 'blast-radius');
  assert.ok(first.coveredEstablished >= first.threshold, JSON.stringify(first));
  assert.match(first.message, /held until/);
  assert.ok(replay.stats().decisionsHeld > 0, 'decisions were held');
  // While held, no new automatic decision covers an established bystander (made on its signal) ...
  const during = published.filter((d) => d.decidedAt > first.time && d.decidedAt < first.heldUntil);
  const newKeys = during.filter((d) => !published.some((e) => e.key === d.key && e.decidedAt <= first.time));
  assert.deepEqual(
    newKeys
      .filter((d) => d.scope === 'ip' && bystanderAt.get(d.value)?.includes(d.decidedAt))
      .map((d) => d.key),
    [],
  );
  // ... while the others go on: a hold does not switch off blocking for everyone.
  assert.ok(newKeys.length > 0, 'decisions covering no established client are published during the hold');
});

test('an attack that brings many new bot addresses does not trip the guard', () => {
  // The residential swarm outnumbers the humans here; it is new addresses, not established ones.
  const scenario = generateScenario({ seed: 4, format: 'edge', scale: 0.3 });
  const parser = createParser(scenario.format, { trustedProxies: scenario.trustedProxies });
  const replay = createReplay({ detect: withDefaults(), allowlist: [] });
  const alerts: unknown[] = [];
  let blocked = 0;
  replay.bus.on('alerts', (m) => alerts.push(m.value));
  replay.bus.on('decisions', (m) => {
    if ((m.value as Decision | null)?.action === 'block') blocked++;
  });
  for (const line of scenario.lines()) {
    const log = parser.parse(line);
    if ('time' in log) replay.push(log as AccessLog);
  }
  replay.finish();
  const bots = scenario.labels().filter((l) => l.bot).length;
  const humans = scenario.labels().filter((l) => l.role === 'human').length;
  assert.ok(bots > humans, `bots ${bots} outnumber humans ${humans}`);
  assert.ok(blocked > 0.5 * bots, `blocked ${blocked} of ${bots} bots`);
  assert.deepEqual(alerts, []);
});
