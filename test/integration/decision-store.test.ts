// The decision store fed through Kafka: the real `edgeguard run decider` (its store writer and
// allowlist follower) over a real broker and Redis, operator writes through control.ts and the
// real `edgeguard decisions` / `edgeguard allowlist` commands.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type AllowEntry, DecisionStore, storeKeys } from '@edgeguard/decisions';
import type { ClientSignal } from '@edgeguard/detect';
import {
  allowEntry,
  createProducer,
  HEADERS,
  kafkaEnvironment,
  manualDecision,
  publishAllowEntry,
  publishDecisionDeletes,
  publishDecisions,
} from '@edgeguard/kafka';
import type { Decision } from '@edgeguard/schema';
import { Redis } from 'ioredis';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import {
  edgeguard,
  eventually,
  type RunningService,
  startService,
  stopService,
  tail,
  uniquePrefix,
} from './support/services.js';
import { readTopic } from './support/topic.js';

const prefix = uniquePrefix('store');
const env = { EDGEGUARD_TOPIC_PREFIX: prefix };
const HOUR = 3_600_000;

function autoDecision(ip: string, fields: Partial<Decision> = {}): Decision {
  const now = Date.now();
  return {
    key: `ip:${ip}`,
    scope: 'ip',
    value: ip,
    action: 'block',
    reason: 'repetition',
    signals: [{ name: 'repetitionRatio', value: 0.9, threshold: 0.6 }],
    score: 3,
    decidedAt: now,
    expiresAt: now + HOUR,
    origin: 'auto',
    version: 1,
    ...fields,
  };
}

function clientSignal(ip: string, time: number): ClientSignal {
  return {
    kind: 'client',
    ip,
    prefix: `${ip.split('.').slice(0, 3).join('.')}.0/24`,
    fingerprint: 'h1:curl/8.4.0|-',
    time,
    score: 3,
    reason: 'repetition',
    signals: [{ name: 'repetitionRatio', value: 0.95, threshold: 0.6 }],
    humanLooking: false,
    botShaped: false,
    paths: [11, 12, 13],
    burstRequests: 5,
    established: false,
    firstSeen: time - 60_000,
    requests: 60,
  };
}

describe('the decision store fed through Kafka', { timeout: 240_000 }, () => {
  const kafka = new Kafka({
    clientId: 'eg-store-test',
    brokers: kafkaEnvironment().brokers,
    logLevel: logLevel.NOTHING,
  });
  let producer: Producer;
  let redis: Redis;
  let store: DecisionStore;
  let decider: RunningService;

  /** Produces as the decider's stage does (its source header), so the writer treats it as automatic. */
  async function produceAuto(key: string, decision: Decision | null, eventTime = Date.now()): Promise<void> {
    await producer.send({
      topic: `${prefix}decisions`,
      acks: -1,
      messages: [
        {
          key,
          value: decision === null ? null : JSON.stringify(decision),
          headers: { [HEADERS.source]: 'decider/0', [HEADERS.eventTime]: String(eventTime) },
        },
      ],
    });
  }

  async function produceSignal(signal: ClientSignal): Promise<void> {
    await producer.send({
      topic: `${prefix}signals`,
      acks: -1,
      messages: [
        {
          key: signal.ip,
          value: JSON.stringify(signal),
          headers: { [HEADERS.eventTime]: String(signal.time) },
        },
      ],
    });
  }

  before(async () => {
    const ensure = edgeguard(['topics', 'ensure', '--partitions', '1'], env);
    assert.equal(ensure.code, 0, ensure.stderr);
    producer = createProducer(kafka);
    await producer.connect();
    redis = new Redis('redis://127.0.0.1:6379');
    store = new DecisionStore({ redis, prefix });
    decider = await startService('decider', env);
  });

  after(async () => {
    if (decider) await stopService(decider);
    await producer?.disconnect();
    // Only this run's keys: the store's and the decider's checkpoints, all under the unique prefix.
    await redis.del(...Object.values(storeKeys(prefix)));
    for await (const keys of redis.scanStream({ match: `${prefix}checkpoint:*`, count: 1000 })) {
      if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
    }
    redis.disconnect();
  });

  it('puts a decision from the topic into Redis, deletes it on a tombstone, sweeps it at expiry', async () => {
    await produceAuto('ip:192.0.2.10', autoDecision('192.0.2.10'));
    const stored = await eventually(
      'the decision in Redis',
      async () => (await store.get('ip:192.0.2.10')) ?? undefined,
      30_000,
    );
    assert.equal(stored.action, 'block');
    assert.equal(stored.origin, 'auto');
    assert.equal((await store.lookupIp('192.0.2.10'))[0]?.key, 'ip:192.0.2.10');

    await produceAuto('ip:192.0.2.10', null);
    await eventually(
      'the tombstone applied',
      async () => ((await redis.hexists(store.keys.data, 'ip:192.0.2.10')) === 0 ? true : undefined),
      30_000,
    );

    const versionBefore = await store.version();
    await produceAuto('ip:192.0.2.11', autoDecision('192.0.2.11', { expiresAt: Date.now() + 1500 }));
    await eventually(
      'the short decision stored',
      async () => ((await redis.hexists(store.keys.data, 'ip:192.0.2.11')) === 1 ? true : undefined),
      30_000,
    );
    await eventually(
      'the sweeper to delete it',
      async () => ((await redis.hexists(store.keys.data, 'ip:192.0.2.11')) === 0 ? true : undefined),
      30_000,
    );
    const { changes } = await store.changesSince(versionBefore);
    assert.ok(
      changes.some((c) => c.op === 'del' && c.key === 'ip:192.0.2.11' && c.reason === 'expired'),
      'followers hear of the expiry',
    );
  });

  it('counts and skips records it cannot read, and goes on with the next ones', async () => {
    await producer.send({
      topic: `${prefix}decisions`,
      acks: -1,
      messages: [
        { key: 'ip:192.0.2.30', value: 'not json' },
        { key: 'ip:192.0.2.31', value: JSON.stringify({ ...autoDecision('192.0.2.31'), scope: 'planet' }) },
        { key: 'ip:192.0.2.99', value: JSON.stringify(autoDecision('192.0.2.32')) },
        { key: 'ip:not-an-address', value: null },
      ],
    });
    await produceAuto('ip:192.0.2.33', autoDecision('192.0.2.33'));
    await eventually(
      'the next valid decision applied',
      async () => (await store.get('ip:192.0.2.33')) ?? undefined,
      30_000,
    );
    for (const ip of ['192.0.2.30', '192.0.2.31', '192.0.2.32', '192.0.2.99']) {
      assert.equal(await store.get(`ip:${ip}`), null, `${ip} not stored`);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${decider.healthPort}/metrics`)).text();
    const rejected = [...metrics.matchAll(/edgeguard_store_rejected_total\{([^}]*)\} (\d+)/g)]
      .filter(([, labels]) => labels!.includes('topic="decisions"'))
      .reduce((sum, [, , n]) => sum + Number(n), 0);
    assert.equal(
      rejected,
      4,
      metrics
        .split('\n')
        .filter((l) => l.includes('store_rejected'))
        .join('\n'),
    );
  });

  it('keeps a manual decision over the decider’s records for its key, and keeps it the latest on the topic', async () => {
    await produceAuto('ip:192.0.2.20', autoDecision('192.0.2.20', { version: 7, action: 'throttle' }));
    const manual = manualDecision({
      ip: '192.0.2.20',
      action: 'challenge',
      duration: HOUR,
      reason: 'ticket 42',
    });
    await publishDecisions(producer, prefix, [manual]);
    await eventually(
      'the manual decision replaces the automatic one',
      async () => ((await store.get('ip:192.0.2.20'))?.origin === 'manual' ? true : undefined),
      30_000,
    );
    // The decider's own expiry of its automatic decision must not remove the operator's.
    await produceAuto('ip:192.0.2.20', autoDecision('192.0.2.20', { version: 8, action: 'block' }));
    await produceAuto('ip:192.0.2.20', null);
    await eventually(
      'the manual decision produced again after the automatic records',
      () => {
        const records = tail('decisions', env, 2).filter((r) => r.key === 'ip:192.0.2.20');
        const last = records.at(-1)?.value as Decision | null | undefined;
        return last?.origin === 'manual' ? true : undefined;
      },
      60_000,
    );
    const kept = await store.get('ip:192.0.2.20');
    assert.equal(kept?.action, 'challenge');
    assert.equal(kept?.version, manual.version);

    await publishDecisionDeletes(producer, prefix, ['ip:192.0.2.20']);
    await eventually(
      'the operator’s delete applied',
      async () => ((await redis.hexists(store.keys.data, 'ip:192.0.2.20')) === 0 ? true : undefined),
      30_000,
    );
    // A copy produced again by the writer just before the operator's delete lands after it: the
    // store remembers the deleted manual version and refuses the copy, which would bring it back.
    await publishDecisions(producer, prefix, [manual]);
    const marker = autoDecision('192.0.2.21');
    await produceAuto(marker.key, marker);
    await eventually(
      'the record after the copy applied',
      async () => ((await store.get(marker.key)) !== null ? true : undefined),
      30_000,
    );
    assert.equal(await store.get('ip:192.0.2.20'), null, 'the deleted manual decision stays deleted');
  });

  it('keeps a decision through a tombstone (of an older build: no version) made before deciding it, and produces it again', async () => {
    const decidedAt = Date.now();
    const escalated = autoDecision('192.0.2.40', { version: decidedAt * 100, decidedAt });
    await produceAuto(escalated.key, escalated, decidedAt);
    await eventually(
      'the decision stored',
      async () => ((await store.get(escalated.key))?.version === escalated.version ? true : undefined),
      30_000,
    );
    // A partition rewound to its checkpoint produces the previous decision's expiry again, after
    // the escalation: made a minute before it, it must not delete it.
    await produceAuto(escalated.key, null, decidedAt - 60_000);
    // Then a record for another key: once it is applied, so is the old tombstone before it.
    const marker = autoDecision('192.0.2.41');
    await produceAuto(marker.key, marker);
    await eventually(
      'the record after the old tombstone applied',
      async () => ((await store.get(marker.key)) !== null ? true : undefined),
      30_000,
    );
    assert.equal((await store.get(escalated.key))?.version, escalated.version, 'still stored');
    // Produced again by the writer, so that the old tombstone is not the key's last record (after
    // compaction a rebuild would lose the decision). A copy landing after the decider's own later
    // lift is refused (the store remembers the lifted version; decision-tombstones test).
    await eventually(
      'the decision produced again after the old tombstone',
      () => {
        const versions = tail('decisions', env, 2)
          .filter((r) => r.key === escalated.key)
          .map((r) => (r.value === null ? null : (r.value as Decision).version));
        const since = versions.slice(versions.indexOf(escalated.version));
        return JSON.stringify(since) === JSON.stringify([escalated.version, null, escalated.version])
          ? true
          : undefined;
      },
      30_000,
    );
    // Its own expiry (made at or after it) deletes it.
    await produceAuto(escalated.key, null, decidedAt + 1000);
    await eventually(
      'the current tombstone applied',
      async () => ((await redis.hexists(store.keys.data, escalated.key)) === 0 ? true : undefined),
      30_000,
    );
  });

  it('rebuilds the store with the same decisions and allowlist after its keys are deleted', async () => {
    await produceAuto('range:198.51.100.0/24', {
      ...autoDecision('198.51.100.0/24'),
      key: 'range:198.51.100.0/24',
      scope: 'range',
    });
    const manual = manualDecision({
      fingerprint: 'h1:bot|-',
      action: 'block',
      duration: HOUR,
      reason: 'swarm',
    });
    await publishDecisions(producer, prefix, [manual]);
    await publishAllowEntry(producer, prefix, allowEntry({ cidr: '203.0.113.0/24', comment: 'office' }));
    const snapshot = async () => ({
      decisions: (await collect(store.list())).map((d) => `${d.key} ${d.action} ${d.version}`).sort(),
      allowlist: (await store.listAllowlist()).map(
        (e: AllowEntry) => `${e.cidr} ${e.comment} ${e.createdAt}`,
      ),
    });
    // Earlier tests leave decisions of their own in the store (ip:192.0.2.33 for an hour), and the
    // two records above may land in either order (different partitions): wait for both by key, not
    // for a count, or `before` can be taken without the manual decision and never match again.
    const wanted = ['range:198.51.100.0/24', manual.key];
    const before = await eventually(
      'decisions and the allowlist in Redis',
      async () => {
        const s = await snapshot();
        const present = wanted.every((key) => s.decisions.some((d) => d.startsWith(`${key} `)));
        return present && s.allowlist.length === 1 ? s : undefined;
      },
      30_000,
    );
    const epoch = await store.epoch();

    await redis.del(...Object.values(storeKeys(prefix))); // Redis lost this store's data
    const after = await eventually(
      'the store rebuilt',
      async () => {
        const s = await snapshot();
        if (JSON.stringify(s) === JSON.stringify(before)) return s;
        throw new Error(`store now holds ${JSON.stringify(s)}, before the loss ${JSON.stringify(before)}`);
      },
      30_000,
    );
    assert.deepEqual(after, before);
    assert.notEqual(await store.epoch(), epoch, 'a new epoch: followers resync');
    const metrics = await (await fetch(`http://127.0.0.1:${decider.healthPort}/metrics`)).text();
    assert.match(metrics, /edgeguard_store_rebuilds_total\{?[^}]*\}? [1-9]/);
  });

  it('stops deciding on an address allowlisted through the topic, and lifts its decision', async () => {
    const ip = '198.18.7.7';
    await produceSignal(clientSignal(ip, Date.now()));
    const decided = await eventually(
      'the decider decides on the address',
      async () => (await store.get(`ip:${ip}`)) ?? undefined,
      60_000,
    );

    const added = edgeguard(['allowlist', 'add', ip, '--comment', 'false positive'], env);
    assert.equal(added.code, 0, added.stderr);
    // The entry is in effect for inputs dated after it was added (event time = wall time live).
    await new Promise((resolve) => setTimeout(resolve, 50));
    await produceSignal(clientSignal(ip, Date.now()));
    await eventually(
      'the automatic decision lifted',
      async () => ((await redis.hexists(store.keys.data, `ip:${ip}`)) === 0 ? true : undefined),
      60_000,
    );
    assert.equal(await store.isAllowed(ip), true);
    // The lift names the version it removes: a decision of a higher version for the key survives it.
    const lift = (await readTopic(kafka, `${prefix}decisions`)).filter((r) => r.key === `ip:${ip}`).at(-1);
    assert.equal(lift?.value, null);
    assert.equal(lift?.headers[HEADERS.version], String(decided.version));
    await produceSignal(clientSignal(ip, Date.now()));
    await produceSignal(clientSignal('198.18.7.8', Date.now()));
    await eventually(
      'a later signal decided (the decider is past the allowlisted one)',
      async () => (await store.get('ip:198.18.7.8')) ?? undefined,
      60_000,
    );
    assert.equal(await store.get(`ip:${ip}`), null, 'never decided on again');
  });

  it('adds, lists and deletes decisions and allowlist entries with the edgeguard command', async () => {
    // A range with bits set after its prefix length is a typo, refused before anything is produced.
    const typo = edgeguard(
      [
        'decisions',
        'add',
        '--range',
        '192.0.2.77/24',
        '--action',
        'challenge',
        '--duration',
        '2h',
        '--reason',
        'x',
      ],
      env,
    );
    assert.equal(typo.code, 2, typo.stderr);
    assert.match(typo.stderr, /has bits set after its prefix length: the network is 192\.0\.2\.0\/24/);
    const add = edgeguard(
      [
        'decisions',
        'add',
        '--range',
        '192.0.2.0/24',
        '--action',
        'challenge',
        '--duration',
        '2h',
        '--reason',
        'abuse report',
      ],
      env,
    );
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /added range:192\.0\.2\.0\/24: challenge for 2h0m0s/);
    const listed = await eventually(
      'the decision listed',
      () => {
        const list = edgeguard(['decisions', 'list', '--scope', 'range', '--json'], env);
        assert.equal(list.code, 0, list.stderr);
        const rows = list.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Decision);
        return rows.find((d) => d.key === 'range:192.0.2.0/24');
      },
      30_000,
    );
    assert.equal(listed.origin, 'manual');
    assert.equal(listed.reason, 'abuse report');
    const table = edgeguard(['decisions', 'list'], env);
    assert.match(table.stdout, /range:192\.0\.2\.0\/24 +challenge +manual +1h59m\d+s +abuse report/);

    const del = edgeguard(['decisions', 'delete', '--range', '192.0.2.0/24'], env);
    assert.equal(del.code, 0, del.stderr);
    await eventually(
      'the decision gone from the list',
      () => {
        const list = edgeguard(['decisions', 'list', '--json'], env);
        return list.stdout.includes('range:192.0.2.0/24') ? undefined : true;
      },
      30_000,
    );

    const allow = edgeguard(
      ['allowlist', 'add', '2001:db8:7::/48', '--comment', 'partner', '--duration', '30d'],
      env,
    );
    assert.equal(allow.code, 0, allow.stderr);
    await eventually(
      'the entry listed',
      () => {
        const list = edgeguard(['allowlist', 'list'], env);
        return /2001:db8:7::\/48 +\d{4}-\d\d-\d\dT\S+ +partner/.test(list.stdout) ? true : undefined;
      },
      30_000,
    );
    const remove = edgeguard(['allowlist', 'delete', '2001:db8:7::/48'], env);
    assert.equal(remove.code, 0, remove.stderr);
    await eventually(
      'the entry gone',
      () => {
        const list = edgeguard(['allowlist', 'list', '--json'], env);
        return list.stdout.includes('2001:db8:7::/48') ? undefined : true;
      },
      30_000,
    );
  });

  it('rejects bad operator input with exit code 2 and a clear message', () => {
    const noTarget = edgeguard(
      ['decisions', 'add', '--action', 'block', '--duration', '1h', '--reason', 'x'],
      env,
    );
    assert.equal(noTarget.code, 2);
    assert.match(noTarget.stderr, /one of ip, range or fingerprint/);
    const badIp = edgeguard(
      ['decisions', 'add', '--ip', '300.1.1.1', '--action', 'block', '--duration', '1h', '--reason', 'x'],
      env,
    );
    assert.equal(badIp.code, 2);
    assert.match(badIp.stderr, /ip: expected an IPv4 or IPv6 address/);
    const bareDuration = edgeguard(
      ['decisions', 'add', '--ip', '192.0.2.9', '--action', 'block', '--duration', '90', '--reason', 'x'],
      env,
    );
    assert.equal(bareDuration.code, 2);
    assert.match(bareDuration.stderr, /--duration: give a unit, e.g. 90h, 90m or 90d/);
    const badCidr = edgeguard(['allowlist', 'add', 'office'], env);
    assert.equal(badCidr.code, 2);
    assert.match(badCidr.stderr, /cidr: /);
  });

  it('leaves Redis alone with EDGEGUARD_DECISION_STORE=off', async () => {
    const offPrefix = uniquePrefix('storeoff');
    const offEnv = { EDGEGUARD_TOPIC_PREFIX: offPrefix, EDGEGUARD_DECISION_STORE: 'off' };
    assert.equal(edgeguard(['topics', 'ensure', '--partitions', '1'], offEnv).code, 0);
    const off = await startService('decider', offEnv);
    const offStore = new DecisionStore({ redis, prefix: offPrefix });
    try {
      await producer.send({
        topic: `${offPrefix}signals`,
        acks: -1,
        messages: [{ key: '198.18.9.9', value: JSON.stringify(clientSignal('198.18.9.9', Date.now())) }],
      });
      // The decider decides (its decision is on the topic), and nothing reaches the store.
      await eventually(
        'the decider’s decision on the topic',
        () => (tail('decisions', offEnv, 2).some((r) => r.key === 'ip:198.18.9.9') ? true : undefined),
        60_000,
      );
      assert.equal(await offStore.isEmpty(), true);
      const metrics = await (await fetch(`http://127.0.0.1:${off.healthPort}/metrics`)).text();
      assert.doesNotMatch(metrics, /edgeguard_store_/);
    } finally {
      await stopService(off);
      for await (const keys of redis.scanStream({ match: `${offPrefix}checkpoint:*`, count: 1000 })) {
        if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
      }
    }
  });

  it('fails with exit code 1 and a clear message when the topic is missing', () => {
    const run = edgeguard(['allowlist', 'add', '192.0.2.1'], {
      EDGEGUARD_TOPIC_PREFIX: uniquePrefix('none'),
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /missing topics: .*allowlist.*edgeguard topics ensure/);
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
