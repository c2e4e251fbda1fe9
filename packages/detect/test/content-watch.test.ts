import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BadInput, type CachePolicy } from '@edgeguard/schema';
import { withDefaults } from '../src/config.js';
import { ContentWatch, type ContentWatchSink } from '../src/content-watch.js';
import type { ContentPartial } from '../src/messages.js';
import { T0 } from './helpers.js';

class Collect implements ContentWatchSink {
  published: { key: string; policy: CachePolicy | null; time: number }[] = [];
  cachePolicy(key: string, policy: CachePolicy | null, time: number): void {
    this.published.push({ key, policy, time });
  }
}

function partial(fields: Partial<ContentPartial> & { time: number }): ContentPartial {
  return {
    host: 'shop.example',
    path: '/deals',
    requests: 0,
    withQuery: 0,
    newVisitors: 0,
    hits: 0,
    misses: 0,
    expired: 0,
    stale: 0,
    uncacheable: 0,
    plainRequests: 0,
    plainCached: 0,
    busts: 0,
    queryMisses: 0,
    serverErrors: 0,
    originMsSum: 0,
    originCount: 0,
    queryHashes: [],
    queryOverflow: 0,
    queryCompared: 0,
    querySameAsPlain: 0,
    ...fields,
  };
}

/** A second of a path with as many plain requests (cached) as distinct queries (missing). */
function bustedPath(nextHash: () => number): Partial<ContentPartial> {
  return {
    requests: 20,
    plainRequests: 10,
    plainCached: 9,
    hits: 9,
    withQuery: 10,
    misses: 11,
    queryMisses: 10,
    queryHashes: Array.from({ length: 10 }, nextHash),
  };
}

/** 60 s of one partial per second. */
function feed(watch: ContentWatch, sink: Collect, make: (second: number) => Partial<ContentPartial>): void {
  for (let s = 0; s < 60; s++) watch.process(partial({ time: T0 + s * 1_000, ...make(s) }), sink);
}

test('a hot page missing the cache gets request collapsing and stale-while-revalidate, with evidence', () => {
  const watch = new ContentWatch(withDefaults());
  const sink = new Collect();
  feed(watch, sink, () => ({
    requests: 20,
    plainRequests: 20,
    misses: 8,
    expired: 4,
    hits: 8,
    plainCached: 8,
    originMsSum: 12 * 900,
    originCount: 12,
  }));
  const policy = sink.published.at(-1)!.policy!;
  assert.equal(policy.key, 'shop.example/deals');
  assert.deepEqual(policy.match, { host: 'shop.example', pathPattern: '/deals' });
  assert.equal(policy.collapse, true);
  assert.equal(policy.staleWhileRevalidateSeconds, 30);
  assert.equal(policy.cacheKey, null);
  assert.match(policy.reason, /hot-miss/);
  assert.ok(policy.signals.some((s) => s.name === 'missRatio' && s.value >= 0.3));
  assert.ok(policy.signals.some((s) => s.name === 'originMsMean' && s.value === 900));
});

test('a page busted with random query strings gets a cache-key rule dropping the query', () => {
  const watch = new ContentWatch(withDefaults());
  const sink = new Collect();
  let q = 1;
  feed(watch, sink, () => ({
    ...bustedPath(() => q++),
    busts: 10,
    queryCompared: 10,
    querySameAsPlain: 10,
  }));
  const policy = sink.published.at(-1)!.policy!;
  assert.deepEqual(policy.cacheKey, { kind: 'drop' });
  assert.ok(policy.signals.some((s) => s.name === 'samePageShare' && s.value === 1));
  assert.match(policy.reason, /cache-bust/);
  assert.ok(policy.signals.some((s) => s.name === 'distinctQueryShare' && s.value >= 0.8));
});

test('an API polled with a changing query and never cached gets no cache-key advice', () => {
  const watch = new ContentWatch(withDefaults());
  const sink = new Collect();
  let q = 1;
  feed(watch, sink, () => ({
    path: '/api/v1/feed',
    requests: 20,
    withQuery: 20,
    uncacheable: 20,
    queryHashes: Array.from({ length: 20 }, () => q++),
  }));
  assert.deepEqual(sink.published, []);
});

test('repeated query strings (pagination) are not busting', () => {
  const watch = new ContentWatch(withDefaults());
  const sink = new Collect();
  feed(watch, sink, () => ({
    path: '/category/shoes',
    requests: 20,
    plainRequests: 10,
    plainCached: 10,
    hits: 10,
    withQuery: 10,
    misses: 10,
    queryMisses: 10,
    queryHashes: [101, 102, 103],
  }));
  assert.ok(!sink.published.some((p) => p.policy?.cacheKey !== null && p.policy !== null));
});

test('too much stale serving gets a tighter max-stale', () => {
  const watch = new ContentWatch(withDefaults());
  const sink = new Collect();
  feed(watch, sink, () => ({ requests: 20, plainRequests: 20, stale: 10, hits: 10, plainCached: 20 }));
  const policy = sink.published.at(-1)!.policy!;
  assert.equal(policy.maxStaleSeconds, 60);
  assert.match(policy.reason, /stale-serving/);
});

test('advice is re-emitted only when it changes, and removed by a tombstone at its expiry', () => {
  const watch = new ContentWatch(withDefaults());
  const sink = new Collect();
  feed(watch, sink, () => ({ requests: 20, plainRequests: 20, stale: 10, hits: 10, plainCached: 20 }));
  assert.equal(sink.published.length, 1, 'steady evidence: one policy, not one per partial');
  const policy = sink.published[0]!.policy!;
  assert.equal(policy.expiresAt, policy.decidedAt + 600_000);
  watch.advance(policy.expiresAt + 1, sink);
  assert.deepEqual(sink.published.at(-1), { key: policy.key, policy: null, time: policy.expiresAt });
  assert.equal(watch.getStats().activePolicies, 0);
});

test('malformed partials are counted and thrown as BadInput (bad-content-partial), changing nothing', () => {
  const watch = new ContentWatch(withDefaults());
  const sink = new Collect();
  for (const bad of [null, {}, { time: 1, path: '/x' }]) {
    assert.throws(
      () => watch.process(bad as never, sink),
      (error: unknown) => error instanceof BadInput && error.reason === 'bad-content-partial',
    );
  }
  assert.equal(watch.getStats().rejected, 3);
  assert.equal(watch.getStats().partials, 0);
  assert.deepEqual(sink.published, []);
});

test('partials of one key meet on one aggregate however they arrive: a path on other hosts, no host, evictions', () => {
  const watch = new ContentWatch(withDefaults({ bounds: { maxContentKeys: 2 } }));
  const sink = new Collect();
  // Half the requests a policy needs, a third of them served stale: a policy once two halves meet.
  const half = (host: string | null, path: string) =>
    partial({ time: T0, host, path, requests: 60, plainRequests: 60, stale: 20, hits: 40, plainCached: 60 });
  const keys = () => sink.published.map((p) => p.key);
  watch.process(half('a.example', '/p'), sink);
  watch.process(half('b.example', '/p'), sink);
  assert.deepEqual(keys(), [], 'one path on two hosts is two keys');
  watch.process(half('a.example', '/p'), sink);
  watch.process(half('b.example', '/p'), sink);
  assert.deepEqual(keys(), ['a.example/p', 'b.example/p']);
  // An unknown host is `*` in the key: a partial naming the host `*` adds to the same key.
  watch.process(half(null, '/q'), sink);
  watch.process(half('*', '/q'), sink);
  assert.deepEqual(keys().at(-1), '*/q');
  // The table holds 2 keys (evicted by a clock hand: `a.example/p` went for `*/q`, `b.example/p`
  // goes for `c.example/r`). An evicted key starts over: a new aggregate, without the policy the
  // evicted one had, so it is published again once two more halves meet.
  watch.process(half('c.example', '/r'), sink);
  assert.equal(keys().length, 3);
  watch.process(half('b.example', '/p'), sink);
  watch.process(half('b.example', '/p'), sink);
  assert.deepEqual(keys().slice(3), ['b.example/p']);
  watch.process(half('a.example', '/p'), sink);
  watch.process(half('a.example', '/p'), sink);
  assert.deepEqual(keys().slice(3), ['b.example/p', 'a.example/p']);
  assert.equal(watch.getStats().contentKeys, 2);
});

test('a stale ratio wavering around its threshold does not republish the policy at every crossing', () => {
  const watch = new ContentWatch(withDefaults());
  const sink = new Collect();
  // 0.33 then 0.27 of the requests STALE, 20 s each, for 5 minutes: the decayed ratio crosses 0.3
  // again and again, but stays well above 0.8 × 0.3.
  for (let s = 0; s < 300; s++) {
    const stale = Math.floor(s / 20) % 2 === 0 ? 33 : 27;
    watch.process(
      partial({
        time: T0 + s * 1_000,
        requests: 100,
        plainRequests: 100,
        stale,
        hits: 100 - stale,
        plainCached: 100,
      }),
      sink,
    );
  }
  assert.deepEqual(
    sink.published.map((p) => p.policy?.reason),
    ['stale-serving'],
    'one policy, held while the ratio stays near its threshold',
  );
  // The condition ends (no stale answer for two minutes): the reason is released, and the
  // policy is neither republished nor extended (the extension due at 300 s came while stale
  // answers were still in the window); it runs to its expiry.
  for (let s = 300; s < 420; s++) {
    watch.process(
      partial({ time: T0 + s * 1_000, requests: 100, plainRequests: 100, hits: 100, plainCached: 100 }),
      sink,
    );
  }
  const extensions = sink.published.slice(1);
  assert.deepEqual(
    extensions.map((p) => [p.policy?.reason, p.policy!.decidedAt - T0]),
    [['stale-serving', 300_000]],
  );
  watch.advance(extensions[0]!.policy!.expiresAt, sink);
  assert.equal(sink.published.at(-1)!.policy, null, 'removed at its expiry');
});

test('a policy that caps stale serving keeps its stale-while-revalidate and stale-if-error within the cap', () => {
  const watch = new ContentWatch(withDefaults());
  const sink = new Collect();
  feed(watch, sink, () => ({
    requests: 20,
    plainRequests: 20,
    misses: 8,
    stale: 8,
    hits: 4,
    plainCached: 12,
  }));
  const policy = sink.published.at(-1)!.policy!;
  assert.equal(policy.reason, 'hot-miss+stale-serving');
  assert.equal(policy.maxStaleSeconds, 60);
  assert.equal(policy.collapse, true);
  assert.ok(policy.staleWhileRevalidateSeconds! <= 60);
  assert.equal(policy.staleIfErrorSeconds, 60, 'not 300 s of stale on error beside a 60 s max-stale');
});

test('a restarted content-watch advises a key at a version above the one edges hold from before', () => {
  // Edges keep the highest version of a key until it expires. Content-watch keeps no checkpoint:
  // restarted, it replays the retained partials, not its whole life, so a count of its policies
  // started over below what edges held and its next advice was ignored for up to 10 minutes.
  const busy = (watch: ContentWatch, sink: Collect, from: number) => {
    for (let s = from; s < from + 60; s++) {
      for (const path of ['/a', '/b', '/c', '/d', '/deals']) {
        watch.process(
          partial({
            time: T0 + s * 1_000,
            path,
            requests: 20,
            plainRequests: 20,
            stale: 10,
            hits: 10,
            plainCached: 20,
          }),
          sink,
        );
      }
    }
  };
  const before = new Collect();
  busy(new ContentWatch(withDefaults()), before, 0);
  const held = before.published.filter((p) => p.key === 'shop.example/deals').at(-1)!.policy!;
  const after = new Collect();
  busy(new ContentWatch(withDefaults()), after, 120); // the restarted one sees the later partials only
  const next = after.published.find((p) => p.key === 'shop.example/deals')!.policy!;
  assert.ok(next.version > held.version, `version ${next.version} after the restart > ${held.version} held`);
  assert.equal(next.version, next.decidedAt * 1000);
});

test('unique queries whose answers are not the plain page (they select content) get no cache-key rule', () => {
  for (const [compared, same] of [
    [10, 2], // answered with other pages: a search, an API's `since=`
    [0, 0], // no sizes to compare (a log without them, or a profiler from before them)
  ]) {
    const watch = new ContentWatch(withDefaults());
    const sink = new Collect();
    let q = 1;
    feed(watch, sink, () => ({
      ...bustedPath(() => q++),
      queryCompared: compared,
      querySameAsPlain: same,
    }));
    assert.ok(sink.published.length > 0, 'still hot-miss advice');
    assert.deepEqual(
      sink.published.map((p) => p.policy?.cacheKey ?? null),
      sink.published.map(() => null),
      `${same} of ${compared} answers the plain page`,
    );
  }
});

test('a busted path keeps in its cache key the parameters named by two partials lately, not one odd answer', () => {
  const watch = new ContentWatch(withDefaults());
  const sink = new Collect();
  let q = 1;
  feed(watch, sink, (s) => ({
    ...bustedPath(() => q++),
    queryCompared: 10,
    querySameAsPlain: 9,
    contentParams: s % 10 === 0 ? ['sort', 'page'] : s === 5 ? ['utm_x'] : [],
  }));
  assert.deepEqual(sink.published.at(-1)!.policy!.cacheKey, { kind: 'allow', params: ['page', 'sort'] });
  // Forgotten once no partial named them for a policy's lifetime: the whole query dropped again.
  for (let s = 60; s < 60 + 11 * 60; s++) {
    watch.process(
      partial({
        time: T0 + s * 1_000,
        ...bustedPath(() => q++),
        queryCompared: 10,
        querySameAsPlain: 10,
      }),
      sink,
    );
  }
  assert.deepEqual(sink.published.at(-1)!.policy!.cacheKey, { kind: 'drop' });
});

test('a flood of one-time keys (spoofed hosts, random paths) stays within the bound and does not evict a hot key', () => {
  const watch = new ContentWatch(withDefaults({ bounds: { maxContentKeys: 1_000 } }));
  const sink = new Collect();
  let q = 1;
  // 500 new keys a second in a 1,000-key table, beside a busted path seen every second: the
  // table started every key referenced, so the hand evicted in slot order and the busted path's
  // counters started over every few seconds (its policy republished again and again, or, with a
  // larger flood, never reaching minRequests at all).
  for (let s = 0; s < 120; s++) {
    const time = T0 + s * 1_000;
    watch.process(partial({ time, ...bustedPath(() => q++), queryCompared: 10, querySameAsPlain: 10 }), sink);
    for (let k = 0; k < 500; k++) {
      watch.process(
        partial({ time, host: `h${s}-${k}.spoofed.example`, path: '/x', requests: 1, misses: 1 }),
        sink,
      );
    }
  }
  assert.equal(watch.getStats().contentKeys, 1_000);
  assert.deepEqual(
    sink.published.map((p) => [p.key, p.policy?.reason]),
    [['shop.example/deals', 'hot-miss+cache-bust']],
  );
});

test('a partial whose host + path is longer than bounds.maxContentKeyLength is counted, not kept', () => {
  const watch = new ContentWatch(withDefaults({ bounds: { maxContentKeyLength: 64 } }));
  const sink = new Collect();
  let q = 1;
  // A busted path 65 characters long with its host: advised if it were tracked.
  const path = `/${'x'.repeat(64 - 'shop.example'.length)}`;
  feed(watch, sink, () => ({ ...bustedPath(() => q++), path, queryCompared: 10, querySameAsPlain: 10 }));
  watch.process(partial({ time: T0 + 60_000, host: null, path: `/${'y'.repeat(62)}`, requests: 1 }), sink);
  assert.deepEqual(sink.published, []);
  const stats = watch.getStats();
  assert.equal(stats.contentKeys, 1); // `*` + 63 characters: at the limit
  assert.equal(stats.untrackedPartials, 60);
});

test("a content key's path is the key's own text: policies name it as sent", () => {
  const watch = new ContentWatch(withDefaults());
  const sink = new Collect();
  let q = 1;
  feed(watch, sink, () => ({
    ...bustedPath(() => q++),
    host: null,
    path: '/deals/of-the-week',
    queryCompared: 10,
    querySameAsPlain: 10,
  }));
  const policy = sink.published.at(-1)!.policy!;
  assert.equal(policy.key, '*/deals/of-the-week');
  assert.deepEqual(policy.match, { host: null, pathPattern: '/deals/of-the-week' });
});
