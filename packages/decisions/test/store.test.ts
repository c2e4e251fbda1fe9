import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Action, BadInput, type Decision, type DecisionScope } from '@edgeguard/schema';
import { Redis } from 'ioredis';
import { storeKeys } from '../src/keys.js';
import { DecisionStore, PUT_REFUSED_DELETED, type SweepResult } from '../src/store.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const T0 = Date.UTC(2024, 0, 21, 9, 0, 0);
const HOUR = 3_600_000;

let redis: Redis;
const prefixes: string[] = [];

before(async () => {
  redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis unreachable at ${REDIS_URL} (${String(error)}): start Redis: npm run infra:up`);
  }
});

after(async () => {
  for (const prefix of prefixes) await redis.del(...Object.values(storeKeys(prefix)));
  redis.disconnect();
});

/** A store under a prefix of its own, with a clock the test moves. */
function newStore(options: { changeLogMaxLength?: number } = {}) {
  const prefix = `test.decisions.${process.pid}.${prefixes.length}.`;
  prefixes.push(prefix);
  const clock = { now: T0 };
  const store = new DecisionStore({ redis, prefix, clock: () => clock.now, ...options });
  return { store, clock, prefix };
}

function decision(
  scope: DecisionScope,
  value: string,
  overrides: Partial<Omit<Decision, 'scope' | 'value'>> = {},
): Decision {
  const key = `${scope === 'fingerprint' ? 'fp' : scope}:${value}`;
  return {
    key,
    scope,
    value,
    action: 'block' as Action,
    reason: 'repetition',
    signals: [{ name: 'repetitionRatio', value: 0.93, threshold: 0.8 }],
    score: 0.9,
    decidedAt: T0,
    expiresAt: T0 + HOUR,
    origin: 'auto',
    version: 1,
    ...overrides,
  };
}

describe('decisions by key and by address', () => {
  test('an IPv4 decision is found by key and by address lookup', async () => {
    const { store } = newStore();
    assert.ok((await store.put(decision('ip', '203.0.113.7'))) > 0);
    assert.equal((await store.get('ip:203.0.113.7'))?.reason, 'repetition');
    assert.deepEqual(
      (await store.lookupIp('203.0.113.7')).map((d) => d.key),
      ['ip:203.0.113.7'],
    );
    assert.deepEqual(await store.lookupIp('203.0.113.8'), []);
  });

  test('an IPv6 decision is stored under its canonical text, whatever form it came in', async () => {
    const { store } = newStore();
    await store.put(decision('ip', '2001:DB8:0:0:0:0:0:1'));
    const stored = await store.get('ip:2001:db8::1');
    assert.equal(stored?.key, 'ip:2001:db8::1');
    assert.equal(stored?.value, '2001:db8::1');
    assert.equal((await store.lookupIp('2001:db8:0::1')).length, 1);
    assert.equal((await store.lookupIp('::ffff:203.0.113.7')).length, 0);
  });

  test('range decisions cover the addresses inside them, for IPv4 and IPv6 prefixes of any length', async () => {
    const { store } = newStore();
    for (const cidr of [
      '198.51.100.0/24',
      '10.20.0.0/16',
      '172.16.8.0/21',
      '2001:db8:1:2::/64',
      '2001:db8:abcd::/48',
    ]) {
      await store.put(decision('range', cidr));
    }
    // /45 is not a multiple of 4 bits: the index masks inside a hex digit.
    await store.put(decision('range', '2001:db8:ff08::/45'));
    const cases: Array<[string, string[]]> = [
      ['198.51.100.200', ['range:198.51.100.0/24']],
      ['198.51.101.1', []],
      ['10.20.255.255', ['range:10.20.0.0/16']],
      ['10.21.0.1', []],
      ['172.16.15.1', ['range:172.16.8.0/21']],
      ['172.16.16.1', []],
      ['2001:db8:1:2:aaaa::9', ['range:2001:db8:1:2::/64']],
      ['2001:db8:1:3::9', []],
      ['2001:db8:abcd:ffff::1', ['range:2001:db8:abcd::/48']],
      ['2001:db8:abce::1', []],
      ['2001:db8:ff0f:1::1', ['range:2001:db8:ff08::/45']],
      ['2001:db8:ff10::1', []],
      ['not an address', []],
    ];
    for (const [ip, expected] of cases) {
      assert.deepEqual(
        (await store.lookupIp(ip)).map((d) => d.key),
        expected,
        ip,
      );
    }
  });

  test('a range given with host bits set is stored as its network', async () => {
    const { store } = newStore();
    await store.put(decision('range', '198.51.100.77/24'));
    assert.equal((await store.get('range:198.51.100.0/24'))?.value, '198.51.100.0/24');
  });

  test('an address covered by a range and its own decision gets both, strongest first', async () => {
    const { store } = newStore();
    await store.put(decision('ip', '198.51.100.7', { action: 'throttle' }));
    await store.put(decision('range', '198.51.100.0/24', { action: 'challenge' }));
    await store.put(decision('range', '198.51.0.0/16', { action: 'block' }));
    await store.put(decision('range', '198.51.100.0/25', { action: 'challenge' }));
    assert.deepEqual(
      (await store.lookupIp('198.51.100.7')).map((d) => `${d.action} ${d.key}`),
      [
        'block range:198.51.0.0/16',
        'challenge range:198.51.100.0/25',
        'challenge range:198.51.100.0/24',
        'throttle ip:198.51.100.7',
      ],
    );
  });

  test('a decision whose value is not of its scope is refused as bad input', async () => {
    const { store } = newStore();
    await assert.rejects(store.put(decision('range', 'not-a-cidr')), BadInput);
    await assert.rejects(store.put(decision('ip', '999.1.1.1')), BadInput);
    await assert.rejects(store.get('user:42'), BadInput);
  });
});

describe('versions and expiry', () => {
  test('a redelivered older or equal version is ignored and leaves no change', async () => {
    const { store } = newStore();
    await store.put(decision('ip', '203.0.113.7', { version: 2, action: 'block' }));
    const before = await store.version();
    assert.equal(await store.put(decision('ip', '203.0.113.7', { version: 1, action: 'throttle' })), 0);
    assert.equal(await store.put(decision('ip', '203.0.113.7', { version: 2, action: 'throttle' })), 0);
    assert.equal((await store.get('ip:203.0.113.7'))?.action, 'block');
    assert.equal(await store.version(), before);
    assert.ok((await store.put(decision('ip', '203.0.113.7', { version: 3, action: 'challenge' }))) > before);
    assert.equal((await store.get('ip:203.0.113.7'))?.action, 'challenge');
  });

  test('expired decisions are never returned, even before the sweeper ran', async () => {
    const { store, clock } = newStore();
    await store.put(decision('ip', '203.0.113.7', { expiresAt: T0 + HOUR }));
    await store.put(decision('range', '2001:db8::/48', { expiresAt: T0 + HOUR }));
    await store.put(decision('fingerprint', 'ja4:t13d', { expiresAt: T0 + 2 * HOUR }));
    clock.now = T0 + HOUR;
    assert.equal(await store.get('ip:203.0.113.7'), null);
    assert.deepEqual(await store.lookupIp('203.0.113.7'), []);
    assert.deepEqual(await store.lookupIp('2001:db8::1'), []);
    const listed: string[] = [];
    for await (const d of store.list()) listed.push(d.key);
    assert.deepEqual(listed, ['fp:ja4:t13d']);
    assert.equal(await redis.hlen(store.keys.data), 3, 'still stored until swept');
  });

  test('a decision that arrives already expired is not stored', async () => {
    const { store } = newStore();
    assert.equal(await store.put(decision('ip', '203.0.113.7', { expiresAt: T0 - 1 })), 0);
    assert.equal(await redis.hlen(store.keys.data), 0);
  });

  test('the sweeper deletes expired entries and logs each deletion', async () => {
    const { store, clock } = newStore();
    await store.put(decision('ip', '203.0.113.7', { expiresAt: T0 + HOUR }));
    await store.put(decision('range', '198.51.100.0/24', { expiresAt: T0 + HOUR }));
    await store.put(decision('ip', '203.0.113.8', { expiresAt: T0 + 3 * HOUR }));
    await store.allow('192.0.2.0/24', 'partner monitoring', T0 + HOUR);
    const since = await store.version();
    clock.now = T0 + 2 * HOUR;
    assert.deepEqual(await store.sweepExpired(clock.now, 1), {
      decisions: 1,
      allowEntries: 1,
      deletedVersions: 0,
    });
    assert.deepEqual(await store.sweepExpired(), { decisions: 1, allowEntries: 0, deletedVersions: 0 });
    assert.deepEqual(await store.sweepExpired(), { decisions: 0, allowEntries: 0, deletedVersions: 0 });
    assert.equal(await redis.hlen(store.keys.data), 1);
    assert.equal(await redis.exists(store.keys.rangeIndex), 0, 'range index emptied');
    const { changes } = await store.changesSince(since);
    assert.deepEqual(changes.map((c) => `${c.op} ${c.key} ${'reason' in c ? c.reason : ''}`).sort(), [
      'del ip:203.0.113.7 expired',
      'del range:198.51.100.0/24 expired',
      'disallow 192.0.2.0/24 expired',
    ]);
  });

  test('startSweeper sweeps in the background until stopped', async () => {
    const { store, clock } = newStore();
    for (let i = 0; i < 30; i++) await store.put(decision('ip', `203.0.113.${i}`));
    clock.now = T0 + 2 * HOUR;
    const stop = store.startSweeper(5, 7);
    for (let attempt = 0; attempt < 400 && (await redis.hlen(store.keys.data)) > 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await stop();
    assert.equal(await redis.hlen(store.keys.data), 0);
  });
});

describe('change log', () => {
  test('changesSince replays puts, deletes and expiries in order, page by page', async () => {
    const { store, clock } = newStore();
    await store.put(decision('ip', '203.0.113.1'));
    const start = await store.version();
    await store.put(decision('ip', '203.0.113.2', { expiresAt: T0 + HOUR }));
    await store.put(decision('ip', '203.0.113.1', { version: 2, action: 'challenge' }));
    assert.ok((await store.delete('ip:203.0.113.1', 'manual')) > 0);
    assert.equal(await store.delete('ip:203.0.113.1'), 0, 'deleting an absent key logs nothing');
    clock.now = T0 + HOUR;
    await store.sweepExpired();

    const firstPage = await store.changesSince(start, 2);
    assert.equal(firstPage.resync, false);
    assert.deepEqual(
      firstPage.changes.map((c) => c.op),
      ['add', 'add'],
    );
    const secondPage = await store.changesSince(firstPage.version, 10);
    assert.deepEqual(
      secondPage.changes.map((c) => `${c.op} ${c.key}`),
      ['del ip:203.0.113.1', 'del ip:203.0.113.2'],
    );
    const all = [...firstPage.changes, ...secondPage.changes];
    assert.deepEqual(
      all.map((c) => c.version),
      all.map((_, i) => start + 1 + i),
      'versions are consecutive',
    );
    const update = all[1];
    assert.ok(
      update?.op === 'add' && update.decision.action === 'challenge' && update.decision.version === 2,
    );
    assert.equal(secondPage.version, await store.version());
    assert.deepEqual(await store.changesSince(secondPage.version), {
      changes: [],
      version: secondPage.version,
      resync: false,
    });
  });

  test('an add says the action it replaced, a del the action it deleted; old entries read without', async () => {
    const { store, clock } = newStore();
    await store.initialize();
    const start = await store.version();
    await store.put(decision('ip', '203.0.113.5'));
    await store.put(decision('ip', '203.0.113.5', { version: 2, action: 'challenge' }));
    await store.put(decision('ip', '203.0.113.5', { version: 3, action: 'challenge' }));
    await store.delete('ip:203.0.113.5');
    await store.put(decision('ip', '203.0.113.6', { action: 'throttle', expiresAt: T0 + HOUR }));
    clock.now = T0 + HOUR;
    await store.sweepExpired();
    const { changes } = await store.changesSince(start);
    assert.deepEqual(
      changes.map((c) =>
        c.op === 'add'
          ? `add ${c.decision.action} ${c.previous}`
          : `${c.op} ${'action' in c ? c.action : '?'}`,
      ),
      [
        'add block null',
        'add challenge block',
        'add challenge challenge',
        'del challenge',
        'add throttle null',
        'del throttle',
      ],
    );
    // Entries written before the log kept actions: read, with the action left out (unknown).
    const redis = (store as unknown as { redis: Redis }).redis;
    const next = (await store.version()) + 1;
    await redis.set(store.keys.sequence, String(next + 1));
    await redis.xadd(
      store.keys.changes,
      `${next}-0`,
      'op',
      'add',
      'key',
      'ip:203.0.113.7',
      'decision',
      JSON.stringify(decision('ip', '203.0.113.7')),
    );
    await redis.xadd(
      store.keys.changes,
      `${next + 1}-0`,
      'op',
      'del',
      'key',
      'ip:203.0.113.7',
      'reason',
      'removed',
    );
    const old = (await store.changesSince(next - 1)).changes;
    assert.equal(old.length, 2);
    assert.ok(old[0]?.op === 'add' && !('previous' in old[0]));
    assert.ok(old[1]?.op === 'del' && !('action' in old[1]) && old[1].reason === 'removed');
  });

  test('an entry it cannot read is skipped and counted; the version moves past it', async () => {
    const { store } = newStore();
    await store.put(decision('ip', '203.0.113.1'));
    const start = await store.version();
    // Written by something else (or damaged): a payload that is not JSON, then an unknown op.
    for (const fields of [
      ['op', 'add', 'key', 'ip:203.0.113.9', 'decision', '{"key": "ip:203.0'],
      ['op', 'explode', 'key', 'ip:203.0.113.9'],
    ]) {
      const version = await redis.incr(store.keys.sequence);
      await redis.xadd(store.keys.changes, `${version}-0`, ...fields);
    }
    await store.put(decision('ip', '203.0.113.2'));
    const page = await store.changesSince(start);
    assert.deepEqual(
      page.changes.map((c) => `${c.version} ${c.op} ${c.key}`),
      [`${start + 3} add ip:203.0.113.2`],
    );
    assert.equal(page.unreadable, 2);
    assert.equal(page.version, start + 3);
    // The bad entries as the last of a page: the next page starts after them.
    const cut = await store.changesSince(start, 2);
    assert.deepEqual(cut, { changes: [], version: start + 2, resync: false, unreadable: 2 });
  });

  test('a follower behind the trimmed log, before the store existed or ahead of it is told to resync', async () => {
    const { store } = newStore({ changeLogMaxLength: 10 });
    await store.put(decision('ip', '203.0.113.1'));
    const early = await store.version();
    const many = Array.from({ length: 500 }, (_, i) =>
      decision('ip', `10.0.${Math.floor(i / 256)}.${i % 256}`),
    );
    await store.putMany(many);
    const current = await store.version();
    assert.equal(current, early + 500);
    assert.ok((await redis.xlen(store.keys.changes)) < 500, 'the change log was trimmed');

    assert.deepEqual(await store.changesSince(early), { changes: [], version: current, resync: true });
    assert.equal((await store.changesSince(0)).resync, true);
    assert.equal((await store.changesSince(current + 5)).resync, true);
    const recent = await store.changesSince(current - 3);
    assert.equal(recent.resync, false);
    assert.equal(recent.changes.length, 3);
  });
});

describe('allowlist', () => {
  test('allowlisted ranges and addresses hold the addresses inside them until removed or expired', async () => {
    const { store, clock } = newStore();
    await store.allow('66.249.64.0/19', 'Googlebot');
    const since = await store.version();
    await store.allow('2001:4860:4801::/48', 'Googlebot IPv6');
    await store.allow('203.0.113.9', 'office', T0 + HOUR);
    assert.equal(await store.isAllowed('66.249.95.1'), true);
    assert.equal(await store.isAllowed('66.249.96.1'), false);
    assert.equal(await store.isAllowed('2001:4860:4801:10::1'), true);
    assert.equal(await store.isAllowed('203.0.113.9'), true);
    assert.equal(await store.isAllowed('203.0.113.10'), false);
    assert.deepEqual(
      (await store.listAllowlist()).map((e) => `${e.cidr} ${e.comment} ${e.expiresAt}`),
      [
        '2001:4860:4801::/48 Googlebot IPv6 null',
        `203.0.113.9/32 office ${T0 + HOUR}`,
        '66.249.64.0/19 Googlebot null',
      ],
    );

    assert.ok((await store.disallow('66.249.64.0/19')) > 0);
    assert.equal(await store.isAllowed('66.249.95.1'), false);
    clock.now = T0 + HOUR;
    assert.equal(await store.isAllowed('203.0.113.9'), false, 'expired entries no longer allow');
    assert.deepEqual(
      (await store.listAllowlist()).map((e) => e.cidr),
      ['2001:4860:4801::/48'],
    );
    const { changes } = await store.changesSince(since);
    assert.deepEqual(
      changes.map((c) => `${c.op} ${c.key}`),
      ['allow 2001:4860:4801::/48', 'allow 203.0.113.9/32', 'disallow 66.249.64.0/19'],
    );
  });
});

describe('snapshot', () => {
  test('100k decisions stream out in bounded pages, each decision once', async () => {
    const { store } = newStore();
    const total = 100_000;
    let applied = 0;
    for (let start = 0; start < total; start += 500) {
      const chunk: Decision[] = [];
      for (let i = start; i < Math.min(total, start + 500); i++)
        chunk.push(decision('ip', `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
      applied += (await store.putMany(chunk)).filter((v) => v > 0).length;
    }
    assert.equal(applied, total);

    const pageSize = 1000;
    const seen = new Set<string>();
    let pages = 0;
    let largestPage = 0;
    for await (const page of store.pages({ count: pageSize })) {
      pages++;
      largestPage = Math.max(largestPage, page.decisions.length);
      for (const d of page.decisions) seen.add(d.key);
    }
    assert.equal(seen.size, total);
    assert.ok(pages >= total / (2 * pageSize), `${pages} pages`);
    assert.ok(largestPage <= 2 * pageSize, `largest page ${largestPage}`);
  });

  test('list filters by scope', async () => {
    const { store } = newStore();
    await store.put(decision('ip', '203.0.113.1'));
    await store.put(decision('range', '198.51.100.0/24'));
    await store.put(decision('fingerprint', 'ja4:t13d1516h2'));
    const ranges: string[] = [];
    for await (const d of store.list({ scope: 'range' })) ranges.push(d.key);
    assert.deepEqual(ranges, ['range:198.51.100.0/24']);
  });

  test('a store wiped empty is known to be, and followers are told to resync after the next writes', async () => {
    // Rebuilding it from the compacted topic is the store writer's (packages/kafka, Rebuild).
    const { store, prefix } = newStore();
    await store.put(decision('ip', '203.0.113.1'));
    await store.allow('192.0.2.0/24', 'partner');
    const followerVersion = await store.version();
    assert.equal(await store.isEmpty(), false);
    await redis.del(...Object.values(storeKeys(prefix)));
    assert.equal(await store.isEmpty(), true);
    assert.ok(
      (await store.putMany([decision('ip', '203.0.113.1', { version: 2, action: 'block' })]))[0]! > 0,
    );
    assert.equal(await store.isEmpty(), false);
    assert.equal((await store.get('ip:203.0.113.1'))?.action, 'block');
    assert.ok((await store.version()) > followerVersion, 'versions keep growing across the wipe');
    assert.equal((await store.changesSince(followerVersion)).resync, true);
  });
});

describe('what the store writer needs', () => {
  test('initialize() seeds the epoch of an empty store once; a wipe gives a new one', async () => {
    const { store } = newStore();
    assert.equal(await store.epoch(), 0);
    assert.equal(await store.isEmpty(), true);
    const epoch = await store.initialize();
    assert.ok(epoch > 0);
    assert.equal(await store.epoch(), epoch);
    assert.equal(await store.isEmpty(), false, 'known to be current, not lost');
    assert.equal(await store.initialize(), epoch, 'idempotent');
    const version = await store.put(decision('ip', '192.0.2.1'));
    assert.equal(version, epoch + 1, 'the first change follows the seed');
    await redis.del(...Object.values(store.keys));
    await store.put(decision('ip', '192.0.2.2'));
    assert.notEqual(await store.epoch(), epoch, 'a write after a wipe re-seeds: the wipe is visible');
  });

  test('putAllowEntry() keeps the entry as the topic carries it', async () => {
    const { store, clock } = newStore();
    const entry = { cidr: '203.0.113.0/24', comment: 'office', createdAt: T0 - HOUR, expiresAt: T0 + HOUR };
    assert.ok((await store.putAllowEntry(entry)) > 0);
    assert.deepEqual(await store.listAllowlist(), [entry]);
    assert.equal(await store.isAllowed('203.0.113.9'), true);
    clock.now = T0 + 2 * HOUR;
    assert.equal(await store.isAllowed('203.0.113.9'), false, 'expired in the store clock');
  });

  test('the sweeper reports what it removed', async () => {
    const { store, clock } = newStore();
    await store.put(decision('ip', '192.0.2.3', { expiresAt: T0 + 1000 }));
    clock.now = T0 + 2000;
    const swept: SweepResult[] = [];
    const stop = store.startSweeper(20, 100, undefined, (s) => swept.push(s));
    for (let i = 0; i < 50 && swept.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await stop();
    assert.deepEqual(swept, [{ decisions: 1, allowEntries: 0, deletedVersions: 0 }]);
  });
});

describe('deleted versions', () => {
  const MANUAL_VERSION = T0 * 1000;

  test('a copy of a deleted manual decision read after the deletion is refused; one made since is stored', async () => {
    const { store } = newStore();
    const manual = decision('ip', '192.0.2.7', {
      origin: 'manual',
      version: MANUAL_VERSION,
      expiresAt: T0 + HOUR,
    });
    assert.ok((await store.put(manual)) > 0);
    assert.ok((await store.delete('ip:192.0.2.7', 'removed')) > 0);
    const since = await store.version();
    // The store writer's copy of it, produced before the operator's deletion and read after it.
    assert.equal(await store.put(manual), PUT_REFUSED_DELETED);
    assert.equal(
      await store.put({ ...manual, version: MANUAL_VERSION - 5 }),
      PUT_REFUSED_DELETED,
      'older too',
    );
    assert.equal(await store.get('ip:192.0.2.7'), null);
    assert.deepEqual((await store.changesSince(since)).changes, [], 'followers hear nothing');
    // A decision made after the deletion (a higher version) is stored.
    assert.ok((await store.put({ ...manual, version: MANUAL_VERSION + 1 })) > 0);
    assert.equal((await store.get('ip:192.0.2.7'))?.version, MANUAL_VERSION + 1);
  });

  test('only guarded puts are refused: the decider decides on a key an operator cleared, and after its own lifts', async () => {
    const { store } = newStore();
    const manual = decision('ip', '192.0.2.8', { origin: 'manual', version: MANUAL_VERSION });
    await store.put(manual);
    await store.delete('ip:192.0.2.8', 'removed');
    // The decider's versions (event time × 100) are far below manual ones.
    const auto = decision('ip', '192.0.2.8', { version: T0 * 100 });
    assert.ok((await store.put(auto)) > 0);
    // ...and the manual copy is still refused while the automatic decision is stored.
    await store.delete('ip:192.0.2.8', 'tombstone');
    assert.equal(await store.put(manual), PUT_REFUSED_DELETED);
    // A decision made after the decider's lift may be numbered a little below the lifted one
    // (its evidence came late): it is stored.
    assert.ok((await store.put({ ...auto, version: T0 * 100 - 500 })) > 0);
    assert.equal((await store.get('ip:192.0.2.8'))?.origin, 'auto');
    assert.equal(
      await redis.hget(store.keys.deleted, 'ip:192.0.2.8'),
      String(MANUAL_VERSION),
      'the highest kept',
    );
  });

  test("a copy of the decider's lifted decision read after the lift is refused; its new decisions are not", async () => {
    const { store } = newStore();
    const auto = decision('ip', '192.0.2.12', { version: T0 * 100 });
    await store.put(auto);
    await store.delete(auto.key, 'tombstone');
    // The store writer's copy (it kept the decision over an older owner's late tombstone), produced
    // before the decider's own lift and read after it.
    assert.equal(await store.put(auto, { copy: true }), PUT_REFUSED_DELETED);
    assert.equal(
      await store.put({ ...auto, version: auto.version - 1 }, { copy: true }),
      PUT_REFUSED_DELETED,
    );
    assert.equal(await store.get(auto.key), null);
    // The decider's own decision after the lift, even numbered below the lifted one, is stored.
    assert.ok((await store.put({ ...auto, version: auto.version - 1 })) > 0);
    assert.ok((await store.put({ ...auto, version: auto.version + 1 }, { copy: true })) > 0, 'a newer copy');
  });

  test('a deleted version is forgotten by the sweeper once the decision would have expired (bounded memory)', async () => {
    const { store, clock } = newStore();
    const lifted = decision('ip', '192.0.2.9', {
      origin: 'manual',
      version: MANUAL_VERSION,
      expiresAt: T0 + HOUR,
    });
    const longManual = decision('range', '198.51.100.0/24', {
      origin: 'manual',
      version: MANUAL_VERSION,
      expiresAt: T0 + 30 * 24 * HOUR,
    });
    await store.put(lifted);
    await store.put(longManual);
    await store.delete('ip:192.0.2.9', 'removed');
    await store.delete('range:198.51.100.0/24', 'removed');
    assert.equal(await redis.hlen(store.keys.deleted), 2);
    clock.now = T0 + HOUR - 1;
    assert.deepEqual(await store.sweepExpired(), { decisions: 0, allowEntries: 0, deletedVersions: 0 });
    assert.equal(await store.put(lifted), PUT_REFUSED_DELETED);
    clock.now = T0 + HOUR;
    assert.deepEqual(await store.sweepExpired(), { decisions: 0, allowEntries: 0, deletedVersions: 1 });
    // A manual decision of a month is remembered a day at most.
    clock.now = T0 + 24 * HOUR;
    assert.deepEqual(await store.sweepExpired(), { decisions: 0, allowEntries: 0, deletedVersions: 1 });
    assert.equal(await redis.hlen(store.keys.deleted), 0);
    assert.equal(await redis.zcard(store.keys.deletedExpiry), 0);
    assert.ok((await store.put(longManual)) > 0, 'a copy after that is stored again');
  });

  test('an expired decision swept is not remembered; a deleted one is, for guarded puts', async () => {
    const { store, clock } = newStore();
    await store.put(decision('ip', '192.0.2.10', { origin: 'manual', expiresAt: T0 + 1000 }));
    clock.now = T0 + 2000;
    await store.sweepExpired();
    assert.equal(await redis.hlen(store.keys.deleted), 0);
    const d = decision('ip', '192.0.2.11', { origin: 'manual', version: 3 });
    assert.ok((await store.putMany([d]))[0]! > 0);
    assert.ok((await store.delete(d.key, 'tombstone')) > 0);
    assert.deepEqual(await store.putMany([d]), [PUT_REFUSED_DELETED], 'the manual copy is refused');
    assert.equal(await store.get(d.key), null);
  });
});
