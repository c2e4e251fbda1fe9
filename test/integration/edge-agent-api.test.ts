// The edge agent against the real API: decisions produced to the `decisions` topic reach Redis
// through the decider's store writer and the agent through `edgeguard run api` (snapshot + SSE).
// A TCP relay between agent and API stands in for the network, so a disconnect is real (sockets
// cut, connections refused) while the rest of the system keeps running.
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EdgeAgent, HttpSource } from '@edgeguard/edge-agent';
import type { Decision } from '@edgeguard/schema';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { createKey, decision, dropPrefix, openStore, type RunningApi, startApi } from './support/api.js';
import {
  edgeguard,
  type RunningService,
  startService,
  stopService,
  uniquePrefix,
} from './support/services.js';
import { waitUntil as until } from './support/wait.js';

/** Forwards TCP to the API; `cut()` drops every connection and refuses new ones until `restore()`. */
class Relay {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  open = true;
  port = 0;

  constructor(private readonly targetPort: number) {
    this.server = createServer((client) => {
      if (!this.open) {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return `http://127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.open = false;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.open = true;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('the edge agent following the real API', { timeout: 240_000 }, () => {
  const prefix = uniquePrefix('edge-agent-api');
  const env = { EDGEGUARD_TOPIC_PREFIX: prefix };
  const { redis } = openStore(prefix);
  const kafka = new Kafka({
    brokers: [process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'],
    logLevel: logLevel.NOTHING,
  });
  const producer: Producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  let decider: RunningService;
  let api: RunningApi;
  let relay: Relay;
  let key: string;
  const agents: EdgeAgent[] = [];

  const produce = (decisions: Decision[]) =>
    producer.send({
      topic: `${prefix}decisions`,
      acks: -1,
      messages: decisions.map((d) => ({ key: d.key, value: JSON.stringify(d) })),
    });
  const agentVia = (url: string, coldStart: 'open' | 'closed' = 'open') => {
    const agent = new EdgeAgent({
      source: new HttpSource({ url, apiKey: key, backoff: { baseMs: 50, maxMs: 500 } }),
      coldStart,
    });
    agents.push(agent);
    return agent;
  };

  before(async () => {
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], env);
    assert.equal(ensure.code, 0, ensure.stderr);
    await producer.connect();
    decider = await startService('decider', env);
    api = await startApi(env);
    key = createKey(env, 'edge-agent-test', 'bouncer');
    relay = new Relay(Number(new URL(api.url).port));
  });

  after(async () => {
    for (const agent of agents) await agent.stop();
    await relay?.close();
    await api?.stop();
    if (decider) await stopService(decider);
    await producer.disconnect();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('cold start: fail-open answers allow, fail-closed answers block, until the API is reachable', async () => {
    const url = await relay.listen();
    relay.cut();
    await produce([decision('ip', '203.0.113.1')]);
    const open = agentVia(url, 'open');
    const closed = agentVia(url, 'closed');
    await open.start();
    await closed.start();
    await sleep(500);
    assert.equal(open.ready, false);
    assert.equal(open.check({ ip: '203.0.113.1' }).verdict, 'allow', 'fail-open serves everyone');
    assert.deepEqual(
      closed.check({ ip: '192.0.2.1' }),
      { verdict: 'block', decision: null },
      'fail-closed refuses everyone',
    );
    relay.restore();
    await open.whenReady(20_000);
    await closed.whenReady(20_000);
    await until('the decision through the API', () => open.check({ ip: '203.0.113.1' }).verdict === 'block');
    assert.equal(closed.check({ ip: '192.0.2.1' }).verdict, 'allow');
    assert.equal(closed.check({ ip: '203.0.113.1' }).verdict, 'block');
  });

  it('sees decisions produced to the decisions topic within a fraction of a second (push)', async () => {
    const agent = agentVia(api.url);
    await agent.start();
    await agent.whenReady(20_000);
    const latencies: number[] = [];
    for (let i = 0; i < 40; i++) {
      const ip = `198.51.100.${i + 1}`;
      const sent = Date.now();
      await produce([decision('ip', ip, { action: 'challenge' })]);
      await until(ip, () => agent.check({ ip }).verdict === 'challenge', 10_000);
      latencies.push(Date.now() - sent);
    }
    latencies.sort((a, b) => a - b);
    const p50 = latencies[Math.floor(latencies.length * 0.5)]!;
    const max = latencies.at(-1)!;
    console.log(
      `topic → store writer → Redis → API → SSE → agent: p50 ${p50} ms, max ${max} ms over ${latencies.length}`,
    );
    assert.ok(p50 <= 250, `median push latency ${p50} ms`);
    assert.equal(agent.stats().counters.polls, 0, 'pushed, not polled');
  });

  it('keeps its state through a disconnect and resumes from its version: what changed meanwhile arrives, no new snapshot', async () => {
    const agent = agentVia(relay.port ? `http://127.0.0.1:${relay.port}` : await relay.listen());
    await agent.start();
    await agent.whenReady(20_000);
    await produce([
      decision('ip', '192.0.2.100'),
      decision('ip', '192.0.2.101', { expiresAt: Date.now() + 3000 }),
    ]);
    await until('both decisions', () => agent.check({ ip: '192.0.2.101' }).verdict === 'block');
    const snapshots = agent.stats().counters.snapshots;
    const disconnected = new Promise((resolve) => agent.once('disconnected', resolve));
    relay.cut();
    await disconnected;
    // Meanwhile: a new decision and a deletion upstream; locally, one decision expires.
    await produce([decision('ip', '192.0.2.102', { action: 'throttle' })]);
    await producer.send({
      topic: `${prefix}decisions`,
      acks: -1,
      messages: [{ key: 'ip:192.0.2.100', value: null }],
    });
    assert.equal(
      agent.check({ ip: '192.0.2.100' }).verdict,
      'block',
      'the last state is kept while disconnected',
    );
    await until(
      'the short decision to expire offline',
      () => agent.check({ ip: '192.0.2.101' }).verdict === 'allow',
      10_000,
    );
    assert.equal(agent.stats().connected.decisions, false);
    relay.restore();
    await until(
      'the change made while away',
      () => agent.check({ ip: '192.0.2.102' }).verdict === 'throttle',
      30_000,
    );
    await until(
      'the deletion made while away',
      () => agent.check({ ip: '192.0.2.100' }).verdict === 'allow',
      30_000,
    );
    assert.equal(agent.stats().counters.snapshots, snapshots, 'resumed from its version, no snapshot');
    assert.equal(agent.stats().counters.resyncs, 0);
  });
});
