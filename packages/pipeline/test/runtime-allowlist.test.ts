// The decider stage following runtime allowlist entries (the Kafka decider feeds them from the
// `allowlist` topic): entries apply in event time, lift covered decisions, and replay identically.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Allowlist, AllowlistTimeline, type ClientSignal, withDefaults } from '@edgeguard/detect';
import { prefixOf } from '@edgeguard/netaddr';
import type { Decision } from '@edgeguard/schema';
import { TOPICS } from '../src/bus.js';
import { deciderStage } from '../src/stages/decider.js';

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);

function signal(ip: string, time: number): ClientSignal {
  return {
    kind: 'client',
    ip,
    time,
    prefix: prefixOf(ip),
    fingerprint: 'h1:tool',
    score: 3,
    reason: 'repetition',
    signals: [{ name: 'repetitionRatio', value: 0.9, threshold: 0.6 }],
    humanLooking: false,
    botShaped: false,
    paths: [1, 2, 3],
    burstRequests: 3,
    established: false,
    firstSeen: time,
    requests: 30,
  };
}

/** Runs the decider stage over signals; returns what it emitted on `decisions`, in order. */
function run(timeline: AllowlistTimeline, signals: ClientSignal[], config = withDefaults({})) {
  const factory = deciderStage({
    config,
    allowlist: new Allowlist(['192.0.2.0/24']),
    prefixOf: (ip) => prefixOf(ip),
    allowlistTimeline: timeline,
  });
  const stage = factory.create(0);
  const out: { key: string; value: Decision | null; time: number }[] = [];
  const emitter = {
    emit<V>(topic: string, key: string, value: V | null, time: number) {
      if (topic === TOPICS.decisions) out.push({ key, value: value as Decision | null, time });
    },
  };
  for (const [offset, value] of signals.entries()) {
    stage.process(
      { topic: TOPICS.signals, partition: 0, offset, key: value.ip, value, timestamp: value.time },
      emitter,
    );
  }
  return out;
}

describe('runtime allowlist entries in the decider', () => {
  const bot = '203.0.113.7';
  const signals = [
    signal(bot, T0),
    signal('203.0.113.8', T0 + 1_000),
    signal(bot, T0 + 60_000),
    signal(bot, T0 + 120_000),
    signal('192.0.2.9', T0 + 130_000),
  ];

  it('decides as before when no entry is in effect', () => {
    const out = run(new AllowlistTimeline(), signals);
    assert.ok(out.some((o) => o.key === `ip:${bot}` && o.value !== null));
    assert.ok(!out.some((o) => o.key === 'ip:192.0.2.9'), 'configured allowlist still applies');
  });

  it('lifts the active decision once the entry is in effect and decides nothing on it after', () => {
    const timeline = new AllowlistTimeline();
    timeline.set([{ cidr: `${bot}/32`, from: T0 + 30_000, until: Number.POSITIVE_INFINITY }]);
    const out = run(timeline, signals);
    const forBot = out.filter((o) => o.key === `ip:${bot}`);
    assert.equal(forBot[0]?.value?.action !== undefined, true, 'decided before the entry was added');
    assert.equal(forBot.at(-1)?.value, null, 'lifted with a tombstone');
    assert.ok(forBot.at(-1)!.time >= T0 + 30_000);
    assert.equal(forBot.filter((o) => o.value !== null).length, 1, 'never decided again');
    assert.ok(
      out.some((o) => o.key === 'ip:203.0.113.8' && o.value !== null),
      'other addresses unaffected',
    );
    assert.ok(!out.some((o) => o.key === 'ip:192.0.2.9'), 'configured entries kept');
  });

  it('an entry that expired no longer protects, and replays give the same output', () => {
    const timeline = new AllowlistTimeline();
    timeline.set([{ cidr: '203.0.113.0/24', from: T0 - 1, until: T0 + 90_000 }]);
    const first = run(timeline, signals);
    assert.ok(!first.some((o) => o.key === 'ip:203.0.113.8'), 'covered while in effect');
    const forBot = first.filter((o) => o.key === `ip:${bot}` && o.value !== null);
    assert.equal(forBot.length, 1);
    assert.ok(forBot[0]!.value!.decidedAt >= T0 + 90_000, 'decided only after the entry expired');
    assert.deepEqual(run(timeline, signals), first, 'deterministic: a restarted decider replays the same');
  });

  it('picks up an update between inputs (the topic follower sets entries while running)', () => {
    const timeline = new AllowlistTimeline();
    const factory = deciderStage({
      config: withDefaults({}),
      allowlist: new Allowlist(),
      prefixOf: (ip) => prefixOf(ip),
      allowlistTimeline: timeline,
    });
    const stage = factory.create(0);
    const out: { key: string; value: unknown }[] = [];
    const emitter = {
      emit<V>(_topic: string, key: string, value: V | null) {
        out.push({ key, value });
      },
    };
    const feed = (s: ClientSignal, offset: number) =>
      stage.process(
        { topic: TOPICS.signals, partition: 0, offset, key: s.ip, value: s, timestamp: s.time },
        emitter,
      );
    feed(signal(bot, T0), 0);
    assert.equal(out.length, 1);
    timeline.set([{ cidr: `${bot}/32`, from: T0 + 500, until: Number.POSITIVE_INFINITY }]);
    feed(signal('198.51.100.1', T0 + 1_000), 1);
    assert.deepEqual(
      out.filter((o) => o.key === `ip:${bot}`).map((o) => o.value === null),
      [false, true],
    );
  });
});
