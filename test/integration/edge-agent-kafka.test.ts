// The edge agent reading the compacted topics straight from the real broker (edges with Kafka access).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EdgeAgent, KafkaSource } from '@edgeguard/edge-agent';
import type { CachePolicy } from '@edgeguard/schema';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { decision } from './support/api.js';
import { edgeguard, uniquePrefix } from './support/services.js';
import { waitUntil as until } from './support/wait.js';

let sequence = 0;
function policy(path: string): CachePolicy {
  const now = Date.now();
  return {
    key: `shop.example${path}`,
    match: { host: 'shop.example', pathPattern: path },
    ttlSeconds: null,
    staleWhileRevalidateSeconds: 30,
    staleIfErrorSeconds: 300,
    maxStaleSeconds: null,
    collapse: true,
    cacheKey: { kind: 'drop' },
    reason: 'hot-miss+cache-bust',
    signals: [],
    decidedAt: now,
    expiresAt: now + 600_000,
    version: ++sequence,
  };
}

describe('the edge agent following the compacted topics', { timeout: 120_000 }, () => {
  const prefix = uniquePrefix('edge-agent-kafka');
  const kafka = new Kafka({
    brokers: [process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'],
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  let agent: EdgeAgent;
  const send = (
    topic: string,
    messages: Array<{ key: string; value: string | null; headers?: Record<string, string> }>,
  ) => producer.send({ topic: `${prefix}${topic}`, acks: -1, messages });

  before(async () => {
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], { EDGEGUARD_TOPIC_PREFIX: prefix });
    assert.equal(ensure.code, 0, ensure.stderr);
    await producer.connect();
    // History on the topics before the agent starts: it must end up with the current state.
    const removed = decision('ip', '203.0.113.5', { action: 'block' });
    await send('decisions', [
      { key: removed.key, value: JSON.stringify(removed) },
      {
        key: 'ip:203.0.113.6',
        value: JSON.stringify(decision('ip', '203.0.113.6', { action: 'challenge' })),
      },
      {
        key: 'range:198.51.100.0/24',
        value: JSON.stringify(decision('range', '198.51.100.0/24', { action: 'challenge' })),
      },
      {
        key: 'ip:203.0.113.7',
        value: JSON.stringify(
          decision('ip', '203.0.113.7', { action: 'block', expiresAt: Date.now() - 1000 }),
        ),
      },
      { key: 'ip:203.0.113.8', value: '{not json' },
      {
        key: 'ip:203.0.113.9',
        value: JSON.stringify({ ...decision('ip', '203.0.113.9', { action: 'block' }), action: 'nuke' }),
      },
      { key: removed.key, value: null },
      { key: 'end', value: null, headers: { 'eg-control': 'end' } },
    ]);
    await send('cache-policies', [{ key: 'shop.example/deals', value: JSON.stringify(policy('/deals')) }]);
    await send('decisions', [
      {
        key: 'fp:h1:feedfacecafe',
        value: JSON.stringify({
          ...decision('ip', '192.0.2.200', { action: 'block' }),
          key: 'fp:h1:feedfacecafe',
          scope: 'fingerprint',
          value: 'h1:feedfacecafe',
        }),
      },
    ]);
    const office = { cidr: '192.0.2.192/26', comment: 'office', createdAt: Date.now(), expiresAt: null };
    await send('allowlist', [{ key: office.cidr, value: JSON.stringify(office) }]);
    agent = new EdgeAgent({
      source: new KafkaSource({
        brokers: [process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'],
        topicPrefix: prefix,
      }),
    });
    await agent.start();
    await agent.whenReady(60_000);
  });

  after(async () => {
    await agent?.stop();
    await producer.disconnect();
  });

  it('loads the current state: tombstoned and expired decisions absent, bad records counted, policies in', () => {
    assert.equal(agent.check({ ip: '203.0.113.5' }).verdict, 'allow', 'tombstoned');
    assert.equal(agent.check({ ip: '203.0.113.6' }).verdict, 'challenge');
    assert.equal(agent.check({ ip: '198.51.100.77' }).decision?.key, 'range:198.51.100.0/24');
    assert.equal(agent.check({ ip: '203.0.113.7' }).verdict, 'allow', 'expired before it was read');
    assert.equal(agent.stats().counters.rejected, 2, 'the undecodable and the invalid record');
    assert.equal(agent.cachePolicy('shop.example', '/deals')?.cacheKey?.kind, 'drop');
    assert.equal(agent.stats().decisions.size, 3);
  });

  it('never applies a decision to an allowlisted address, not even a fingerprint decision; tombstones lift the entry', async () => {
    assert.equal(agent.check({ ip: '203.0.113.50', fingerprint: 'h1:feedfacecafe' }).verdict, 'block');
    assert.equal(
      agent.check({ ip: '192.0.2.200', fingerprint: 'h1:feedfacecafe' }).verdict,
      'allow',
      'allowlisted',
    );
    await send('allowlist', [{ key: '192.0.2.192/26', value: null }]);
    await until(
      'the allowlist tombstone',
      () => agent.check({ ip: '192.0.2.200', fingerprint: 'h1:feedfacecafe' }).verdict === 'block',
    );
  });

  it("keeps an operator's manual decision through the decider's tombstone for its key, and drops it on the operator's", async () => {
    const manual = decision('ip', '192.0.2.150', {
      action: 'block',
      origin: 'manual',
      version: Date.now() * 1000,
    });
    await send('decisions', [
      { key: manual.key, value: JSON.stringify(manual), headers: { 'eg-src': 'manual' } },
    ]);
    await until('the manual decision', () => agent.check({ ip: '192.0.2.150' }).verdict === 'block');
    // The decider's own lift of its (older) decision for the key: a tombstone from its stage.
    await send('decisions', [{ key: manual.key, value: null, headers: { 'eg-src': 'decider/0' } }]);
    await until('the automatic tombstone to be read', () => agent.stats().counters.manualKept === 1);
    assert.equal(agent.check({ ip: '192.0.2.150' }).verdict, 'block', 'the manual decision stays');
    await send('decisions', [{ key: manual.key, value: null, headers: { 'eg-src': 'manual' } }]);
    await until("the operator's removal", () => agent.check({ ip: '192.0.2.150' }).verdict === 'allow');
    // The store writer's copy of it, produced just before the operator's removal, lands after it:
    // refused (it would bring the removed block back); a manual decision made since is taken.
    const copy = { key: manual.key, value: JSON.stringify(manual), headers: { 'eg-src': 'manual' } };
    await send('decisions', [copy]);
    await until('the copy to be read', () => agent.stats().counters.deletedRefused === 1);
    assert.equal(agent.check({ ip: '192.0.2.150' }).verdict, 'allow', 'the removed decision stays removed');
    const again = { ...manual, action: 'challenge' as const, version: manual.version + 1 };
    await send('decisions', [
      { key: manual.key, value: JSON.stringify(again), headers: { 'eg-src': 'manual' } },
    ]);
    await until('the new manual decision', () => agent.check({ ip: '192.0.2.150' }).verdict === 'challenge');
  });

  it("keeps a decision through an older tombstone of the decider's (a rewound partition's past), and drops it on a current one", async () => {
    const decidedAt = Date.now();
    const escalated = decision('ip', '192.0.2.160', { action: 'block', decidedAt });
    await send('decisions', [{ key: escalated.key, value: JSON.stringify(escalated) }]);
    await until('the decision', () => agent.check({ ip: '192.0.2.160' }).verdict === 'block');
    // The decider re-processing input from before it decided: the tombstone of the previous
    // decision for the key, made (event time) a minute earlier, arrives after the newer one.
    const past = { 'eg-src': 'decider/0', 'eg-time': String(decidedAt - 60_000) };
    await send('decisions', [{ key: escalated.key, value: null, headers: past }]);
    await until('the old tombstone to be read', () => agent.stats().counters.newerKept === 1);
    assert.equal(agent.check({ ip: '192.0.2.160' }).verdict, 'block', 'the newer decision stays');
    // Its own expiry or lift: made at or after the decision.
    const current = { 'eg-src': 'decider/0', 'eg-time': String(decidedAt + 1000) };
    await send('decisions', [{ key: escalated.key, value: null, headers: current }]);
    await until('the current tombstone', () => agent.check({ ip: '192.0.2.160' }).verdict === 'allow');
    assert.equal(agent.stats().counters.newerKept, 1);
  });

  it('starts while the broker is unreachable: cold-start policy applies, nothing throws, stop() returns', async () => {
    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      error() {},
      warn: (_: object, message?: string) => warnings.push(message ?? ''),
    };
    const unreachable = new EdgeAgent({
      source: new KafkaSource({ brokers: ['127.0.0.1:1'], topicPrefix: prefix }),
      coldStart: 'closed',
      logger,
    });
    await unreachable.start();
    await until(
      'a failed attempt',
      () => warnings.some((w) => w.includes('cannot follow the topics yet')),
      30_000,
    );
    assert.equal(unreachable.ready, false);
    assert.deepEqual(unreachable.check({ ip: '192.0.2.1' }), { verdict: 'block', decision: null });
    await unreachable.stop();
  });

  it('follows live: new decisions, upgrades and tombstones arrive within a fraction of a second', async () => {
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const ip = `192.0.2.${i + 1}`;
      const sent = Date.now();
      await send('decisions', [
        { key: `ip:${ip}`, value: JSON.stringify(decision('ip', ip, { action: 'throttle' })) },
      ]);
      await until(ip, () => agent.check({ ip }).verdict === 'throttle');
      latencies.push(Date.now() - sent);
    }
    latencies.sort((a, b) => a - b);
    console.log(`topic → agent (Kafka source): p50 ${latencies[10]} ms, max ${latencies.at(-1)} ms`);
    assert.ok(latencies[10]! <= 250, `median ${latencies[10]} ms`);
    await send('decisions', [
      { key: 'ip:192.0.2.1', value: JSON.stringify(decision('ip', '192.0.2.1', { action: 'block' })) },
    ]);
    await until('the upgrade', () => agent.check({ ip: '192.0.2.1' }).verdict === 'block');
    await send('decisions', [{ key: 'ip:192.0.2.1', value: null }]);
    await until('the tombstone', () => agent.check({ ip: '192.0.2.1' }).verdict === 'allow');
    await send('cache-policies', [{ key: 'shop.example/deals', value: null }]);
    await until('the policy tombstone', () => agent.cachePolicy('shop.example', '/deals') === null);
  });
});
