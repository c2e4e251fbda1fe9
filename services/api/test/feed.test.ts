// The API's change-log reader on the real Redis: changes reach listeners in order, and an entry it
// cannot read is skipped and counted instead of being read again forever (which stalled every SSE
// client and the in-memory follower).
import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { after, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Change } from '@edgeguard/decisions';
import { DecisionStore } from '@edgeguard/decisions';
import type { Decision } from '@edgeguard/schema';
import { createLogger } from '@edgeguard/telemetry';
import { Redis } from 'ioredis';
import { ChangeFeed } from '../src/feed.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = new Redis(url);
const prefix = `test.feed.${process.pid}.${Date.now().toString(36)}.`;
const store = new DecisionStore({ redis, prefix });
after(async () => {
  await redis.del(...Object.values(store.keys));
  redis.disconnect();
});

const decision = (ip: string): Decision => ({
  key: `ip:${ip}`,
  scope: 'ip',
  value: ip,
  action: 'block',
  reason: 'test',
  signals: [],
  score: 1,
  decidedAt: Date.now(),
  expiresAt: Date.now() + 3_600_000,
  origin: 'auto',
  version: 1,
});

test('the change feed skips an unreadable entry and goes on', { timeout: 20_000 }, async () => {
  const feed = new ChangeFeed(new Redis(url), store.keys, createLogger('feed-test'), 200);
  const seen: Change[] = [];
  feed.subscribe((changes) => seen.push(...changes));
  feed.start(await store.version());
  try {
    await store.put(decision('203.0.113.1'));
    const version = await redis.incr(store.keys.sequence);
    await redis.xadd(store.keys.changes, `${version}-0`, 'op', 'add', 'key', 'ip:x', 'decision', '{cut');
    await store.put(decision('203.0.113.2'));
    for (let i = 0; i < 200 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 25));
    assert.deepEqual(
      seen.map((c) => c.key),
      ['ip:203.0.113.1', 'ip:203.0.113.2'],
    );
    assert.equal(feed.unreadable, 1);
    assert.equal(feed.last, await store.version());
  } finally {
    await feed.stop();
  }
});

test('the change feed stops at once while Redis is unreachable', { timeout: 20_000 }, async () => {
  // A port nothing listens on: the feed's client keeps reconnecting, its XREAD queued offline.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  const down = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: null });
  down.on('error', () => undefined);
  const feed = new ChangeFeed(down, store.keys, createLogger('feed-test'), 200);
  feed.start(0);
  for (let i = 0; i < 100 && down.status !== 'reconnecting'; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(down.status, 'reconnecting');
  const started = Date.now();
  const stopped = await Promise.race([
    feed.stop().then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), 3_000)),
  ]);
  assert.ok(stopped, 'stop() returned (it waited for good: the queued XREAD never settles)');
  assert.ok(Date.now() - started < 1_000, `stopped in ${Date.now() - started} ms`);
});

test('the change feed keeps nothing of the replies it has handled', { timeout: 60_000 }, async () => {
  // The reviewer's reproduction: racing every read against one promise that lives as long as the
  // feed kept every race, and so every XREAD reply, reachable: ~18 MB more after 40k entries.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const heapAfterGc = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const feed = new ChangeFeed(new Redis(url), store.keys, createLogger('feed-test'), 200);
  let seen = 0;
  feed.subscribe((changes) => {
    seen += changes.length;
  });
  const padding = 'x'.repeat(400);
  const fill = async (n: number) => {
    const target = seen + n;
    for (let i = 0; i < n; i += 500) {
      const batch = redis.pipeline();
      for (let j = 0; j < 500; j++) {
        const version = await redis.incr(store.keys.sequence);
        batch.xadd(
          store.keys.changes,
          `${version}-0`,
          'op',
          'del',
          'key',
          `ip:192.0.2.${j % 250}`,
          'reason',
          padding,
        );
      }
      await batch.exec();
    }
    for (let i = 0; i < 1200 && seen < target; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(seen, target);
  };
  feed.start(await store.version());
  try {
    await fill(5_000); // warm-up: the heap's steady state
    const before = heapAfterGc();
    await fill(30_000); // 30k entries of ~450 bytes: ~15 MB of replies if they were kept
    const grown = heapAfterGc() - before;
    assert.ok(
      grown < 6 * 1024 * 1024,
      `the heap grew by ${(grown / 1048576).toFixed(1)} MB over 30k entries`,
    );
  } finally {
    await feed.stop();
  }
});
