// The blast-radius guard's gauges follow the decider instance a partition's task runs (the real
// DeciderInstance behind the real InlineTasks), and go when the runner drops the task.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Allowlist, type ClientSignal, type TrafficTick, withDefaults } from '@edgeguard/detect';
import { prefixOf } from '@edgeguard/netaddr';
import { deciderStage } from '@edgeguard/pipeline';
import { createLogger, Metrics } from '@edgeguard/telemetry';
import { HEADERS } from '../src/codec.js';
import { GuardMonitor } from '../src/guard-alerts.js';
import { InlineTasks, type InputMessage } from '../src/stage-task.js';

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);

function input(offset: number, value: ClientSignal | TrafficTick): InputMessage {
  return {
    offset: String(offset),
    timestamp: String(value.time),
    key: Buffer.from(value.kind === 'client' ? value.ip : 'tick'),
    value: Buffer.from(JSON.stringify(value)),
    headers: { [HEADERS.eventTime]: String(value.time) },
  };
}

function bystander(ip: string, time: number): ClientSignal {
  return {
    kind: 'client',
    ip,
    prefix: prefixOf(ip)!,
    fingerprint: 'h1:browser',
    time,
    score: 0,
    reason: 'none',
    signals: [],
    humanLooking: true,
    botShaped: false,
    paths: [1],
    burstRequests: 1,
    established: true,
    firstSeen: time - 600_000,
    requests: 40,
  };
}

async function series(metrics: Metrics, name: string): Promise<Record<string, number>> {
  const { values } = await metrics.registry.getSingleMetric(name)!.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.partition), v.value]));
}

describe('GuardMonitor', () => {
  it("exports the hold of each owned partition's decider and drops its series with the task", async () => {
    const metrics = new Metrics('decider');
    const monitor = new GuardMonitor({ metrics, logger: createLogger('t', {}, 'silent') });
    const factory = deciderStage({
      // Score 0 reaches every action: every client would be blocked.
      config: withDefaults({ decisions: { scoreForThrottle: 0, scoreForChallenge: 0, scoreForBlock: 0 } }),
      allowlist: new Allowlist([]),
      prefixOf,
    });
    const tasks = new InlineTasks(monitor.watch(factory), {
      stageName: 'decider',
      prefix: 't.',
      partitions: { signals: 2, decisions: 1, alerts: 1 },
      outputs: [],
      sources: 2,
    });
    tasks.openNow(1, 0, null);
    tasks.openNow(2, 1, null);
    assert.deepEqual(await series(metrics, 'edgeguard_guard_holding'), { 0: 0, 1: 0 });
    const tick: TrafficTick = {
      kind: 'tick',
      partition: 0,
      time: T0,
      requests: 100,
      late: 0,
      clients: 50,
      establishedClients: 40,
      prefixes: [],
    };
    const inputs = [input(0, tick)];
    for (let i = 1; i <= 7; i++) inputs.push(input(i, bystander(`198.51.100.${i}`, T0 + i)));
    const outcome = tasks.processNow(1, 'signals', inputs);
    assert.ok(
      outcome.outputs.some((o) => o.topic === 't.alerts'),
      'the guard tripped',
    );
    assert.deepEqual(await series(metrics, 'edgeguard_guard_holding'), { 0: 1, 1: 0 });
    assert.ok((await series(metrics, 'edgeguard_guard_held_decisions'))[0]! >= 2);
    // The partition is revoked: its instance no longer runs here, nor does its series.
    tasks.drop(1);
    assert.deepEqual(await series(metrics, 'edgeguard_guard_holding'), { 1: 0 });
    assert.deepEqual(Object.keys(await series(metrics, 'edgeguard_guard_held_decisions')), ['1']);
  });

  it('keeps whether the stage snapshots its state (restored) or not (replayed)', () => {
    const metrics = new Metrics('decider');
    const monitor = new GuardMonitor({ metrics, logger: createLogger('t', {}, 'silent') });
    const factory = deciderStage({ config: withDefaults(), allowlist: new Allowlist([]), prefixOf });
    const watched = monitor.watch(factory).create(0);
    const bare = factory.create(0);
    assert.equal(typeof watched.snapshot, typeof bare.snapshot);
    assert.equal(typeof watched.restore, typeof bare.restore);
    assert.equal(typeof watched.advance, typeof bare.advance);
  });
});
