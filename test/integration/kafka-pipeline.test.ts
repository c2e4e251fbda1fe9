// The Kafka runtime end to end: the real `edgeguard` services over a real broker and Redis.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kafkaEnvironment } from '@edgeguard/kafka';
import { stageRecords } from '@edgeguard/schema';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { scenarioFiles } from './support/scenario.js';
import {
  edgeguard,
  eventually,
  type RunningService,
  startService,
  stopService,
  tail,
  uniquePrefix,
} from './support/services.js';

describe('the Kafka runtime', { timeout: 240_000 }, () => {
  const env = { EDGEGUARD_TOPIC_PREFIX: uniquePrefix('pipeline') };
  const services: RunningService[] = [];
  const { scenario, work, log, config } = scenarioFiles({ seed: 5, durationSec: 240, scale: 0.3 });
  const labels = new Map(scenario.labels().map((l) => [l.ip, l]));

  before(async () => {
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '3'], env);
    assert.equal(ensure.code, 0, ensure.stderr);
    for (const name of ['profiler', 'content-watch', 'decider'])
      services.push(await startService(name, { ...env, EDGEGUARD_CONFIG: config }));
  });

  after(async () => {
    for (const service of services) await stopService(service);
  });

  it('ships a labelled log and publishes decisions on bots only, with evidence', async () => {
    const shipped = edgeguard(['ship', log, '--config', config], env);
    assert.equal(shipped.code, 0, shipped.stderr);
    assert.match(shipped.stderr, /0 rejected/);

    const decisions = await eventually('decisions on the decisions topic', () => {
      const records = tail('decisions', env, 4);
      return records.length > 0 ? records : undefined;
    });
    const live = decisions
      .map((r) => r.value as { key: string; scope: string; value: string; signals: unknown[] } | null)
      .filter((d) => d !== null);
    assert.ok(live.length > 10, `expected decisions, got ${live.length}`);
    const onAddresses = live.filter((d) => d.scope === 'ip');
    for (const decision of onAddresses) {
      const label = labels.get(decision.value);
      assert.ok(label, `decision on an address the scenario does not have: ${decision.value}`);
      assert.equal(label.protected, false, `a protected client (${label.role}) was decided: ${decision.key}`);
      assert.ok(decision.signals.length > 0);
    }
    const bots = [...labels.values()].filter((l) => l.bot && l.role === 'swarm-buster');
    const decided = new Set(onAddresses.map((d) => d.value));
    assert.ok(
      bots.some((b) => decided.has(b.ip)),
      'the cache-busting swarm is decided over Kafka',
    );

    const lag = await eventually('consumer lag to drain', () => {
      const run = edgeguard(['lag', '--json'], env);
      const rows = run.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { group: string; lag: number });
      // The profiler's rows appear with its first checkpoint (every 5 s): on a loaded machine the
      // stages downstream can commit theirs first.
      const profiler = rows.some((r) => r.group.endsWith('profiler'));
      return profiler && rows.length >= 3 && rows.every((r) => r.lag === 0) ? rows : undefined;
    });
    assert.ok(lag.some((r) => r.group.endsWith('profiler')));
  });

  it('publishes a tombstone on the compacted topic when a decision expires (event time)', async () => {
    const stamp = (minute: number, second: number) =>
      `21/Jan/2024:${String(13 + Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}:${String(second).padStart(2, '0')} +0000`;
    const lines: string[] = [];
    for (let i = 0; i < 30; i++)
      lines.push(
        `203.0.113.66 - - [${stamp(0, i)}] "GET /.git/config?i=${i} HTTP/1.1" 404 10 "-" "zgrab/0.x"`,
      );
    // A quiet reader keeps event time moving for three hours: long past any first-offence duration.
    for (let m = 1; m <= 180; m++)
      lines.push(
        `203.0.113.10 - - [${stamp(m, 0)}] "GET /news/${m} HTTP/1.1" 200 900 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"`,
      );
    const expiring = join(work, 'expiring.log');
    writeFileSync(expiring, `${lines.join('\n')}\n`);
    assert.equal(edgeguard(['ship', expiring, '--format', 'combined'], env).code, 0);
    const records = await eventually('a decision and then its tombstone', () => {
      const mine = tail('decisions', env, 3).filter((r) => r.key === 'ip:203.0.113.66');
      return mine.some((r) => r.value === null) ? mine : undefined;
    });
    const first = records.findIndex((r) => r.value !== null);
    const tombstone = records.findIndex((r) => r.value === null);
    assert.ok(first >= 0 && first < tombstone, 'the decision comes first, its tombstone after it');
  });

  it('routes a poison message to the dead-letter topic and keeps the partition flowing', async () => {
    const kafka = new Kafka({
      brokers: kafkaEnvironment().brokers,
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const topic = `${env.EDGEGUARD_TOPIC_PREFIX}access-logs`;
    await producer.send({
      topic,
      messages: [
        { partition: 0, key: 'poison', value: Buffer.from('definitely not an Avro batch') },
        { partition: 0, key: 'truncated', value: Buffer.from([0x02, 0x10]) },
        // access-logs carries batches only: a tombstone there is bad input, not a crash
        { partition: 0, key: 'tombstone', value: null },
        // a sequence that is not a number would switch duplicate detection off for its source
        {
          partition: 0,
          key: 'bad-seq',
          value: Buffer.from('x'),
          headers: { 'eg-src': 'x/0', 'eg-seq': 'abc' },
        },
        // a record batch that decodes, holding something that is not an access log: dead-lettered
        // with its origin and counted by reason (the stage emitted it without either)
        {
          partition: 0,
          key: 'not-a-log',
          value: Buffer.from(JSON.stringify([['a', 1, 1, { kind: 'bogus' }]])),
          headers: { 'eg-format': 'records-v1' },
        },
      ],
    });
    // On `signals` (record batches): an Avro batch cut short is dead-lettered by the decider, and a
    // JSON batch as builds before records-avro-v1 wrote it (a rolling upgrade) is still read.
    const tick = {
      kind: 'tick',
      partition: 0,
      time: Date.UTC(2024, 0, 21, 11),
      requests: 0,
      late: 0,
      clients: 0,
      establishedClients: 0,
      prefixes: [],
    };
    const writer = stageRecords.writer();
    writer.add({ key: 'tick/0', time: tick.time, seq: 1, value: tick }, 1 << 20);
    const avro = writer.finish()!;
    await producer.send({
      topic: `${env.EDGEGUARD_TOPIC_PREFIX}signals`,
      messages: [
        {
          partition: 0,
          key: null,
          value: avro.subarray(0, avro.length - 3),
          headers: { 'eg-format': 'records-avro-v1', 'eg-schema': stageRecords.fingerprint },
        },
        {
          partition: 0,
          key: null,
          value: Buffer.from(JSON.stringify([['tick/0', tick.time, 2, tick]])),
          headers: { 'eg-format': 'records-v1' },
        },
      ],
    });
    await producer.disconnect();
    // A valid line shipped after the poison must still be processed on the same partition.
    const after = join(work, 'after.log');
    writeFileSync(
      after,
      '198.51.100.200 - - [21/Jan/2024:11:00:00 +0000] "GET /after-poison HTTP/1.1" 200 10 "-" "curl/8.5.0"\n',
    );
    assert.equal(edgeguard(['ship', after, '--format', 'combined'], env).code, 0);

    const dead = await eventually('six dead letters', () => {
      const records = tail('dead-letter', env, 3);
      return records.length >= 6 ? records : undefined;
    });
    assert.equal(dead.length, 6);
    // Each says why and where from (the eg-* headers), whatever tail made of its value.
    const bogus = dead.find((r) => r.key === 'not-a-log') as
      | {
          deadLetter: {
            error: string;
            stage: string;
            origin: { topic: string; partition: number; index: number };
          };
        }
      | undefined;
    assert.ok(bogus, JSON.stringify(dead));
    assert.match(bogus.deadLetter.error, /^not-an-access-log: /);
    assert.equal(bogus.deadLetter.stage, 'profiler');
    assert.deepEqual(
      {
        topic: bogus.deadLetter.origin.topic,
        partition: bogus.deadLetter.origin.partition,
        index: bogus.deadLetter.origin.index,
      },
      { topic: 'access-logs', partition: 0, index: 0 },
    );
    const poison = dead.find((r) => r.key === 'poison') as { deadLetter: { error: string } } | undefined;
    assert.match(poison?.deadLetter.error ?? '', /^undecodable: /);
    const cut = dead.find((r) => r.topic === 'dead-letter' && typeof r.error === 'string' && r.key === null);
    assert.ok(cut, 'the cut Avro batch is dead-lettered as it was (tail cannot decode it either)');
    const lag = await eventually('the profiler to move past the poison', () => {
      const run = edgeguard(['lag', '--json'], env);
      const rows = run.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { group: string; topic: string; lag: number });
      const moved = rows.filter((r) => r.group.endsWith('profiler') || r.group.endsWith('decider'));
      return moved.length > 1 && moved.every((r) => r.lag === 0) ? moved : undefined;
    });
    assert.ok(lag.length > 0);
    const profiler = services.find((s) => s.name === 'profiler')!;
    const metrics = await (await fetch(`http://127.0.0.1:${profiler.healthPort}/metrics`)).text();
    assert.match(
      metrics,
      /edgeguard_dead_letters_total\{stage="profiler",reason="undecodable",service="profiler"\} 3/,
    );
    assert.match(
      metrics,
      /edgeguard_dead_letters_total\{stage="profiler",reason="bad-header",service="profiler"\} 1/,
    );
    assert.match(
      metrics,
      /edgeguard_dead_letters_total\{stage="profiler",reason="not-an-access-log",service="profiler"\} 1/,
    );
    const decider = services.find((s) => s.name === 'decider')!;
    const deciderMetrics = await (await fetch(`http://127.0.0.1:${decider.healthPort}/metrics`)).text();
    assert.match(
      deciderMetrics,
      /edgeguard_dead_letters_total\{stage="decider",reason="undecodable",service="decider"\} 1/,
    );
  });

  it('a service that cannot start says why and exits 1 instead of hanging half-started', async () => {
    const missing = edgeguard(
      ['run', 'profiler'],
      { EDGEGUARD_TOPIC_PREFIX: uniquePrefix('no-topics'), EDGEGUARD_HEALTH_PORT: '0' },
      undefined,
      30_000,
    );
    assert.equal(missing.signal, null, 'exited on its own');
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /missing topics: .*access-logs.*edgeguard topics ensure' or set EDGEGUARD_ENSURE_TOPICS=1/,
    );
    // The shipper does not create topics: its hint names only 'edgeguard topics ensure'.
    const line = join(work, 'one.log');
    writeFileSync(
      line,
      '198.51.100.7 - - [21/Jan/2024:11:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8"\n',
    );
    const shipped = edgeguard(['ship', line, '--format', 'combined'], {
      EDGEGUARD_TOPIC_PREFIX: uniquePrefix('no-topics'),
    });
    assert.equal(shipped.code, 1, shipped.stderr);
    assert.match(shipped.stderr, /missing topics: .*access-logs \(run 'edgeguard topics ensure'\)/);
    assert.doesNotMatch(shipped.stderr, /EDGEGUARD_ENSURE_TOPICS/);
    // The API on a port that is taken (the profiler's health port).
    const profiler = services.find((s) => s.name === 'profiler')!;
    const taken = edgeguard(
      ['run', 'api'],
      { ...env, EDGEGUARD_API_PORT: String(profiler.healthPort), EDGEGUARD_API_HOST: '127.0.0.1' },
      undefined,
      30_000,
    );
    assert.equal(taken.signal, null, 'exited on its own');
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /EADDRINUSE/);
  });
});
