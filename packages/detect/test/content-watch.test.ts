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
    ...fields,
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
    requests: 20,
    plainRequests: 10,
    plainCached: 9,
    hits: 9,
    withQuery: 10,
    misses: 11,
    queryMisses: 10,
    busts: 10,
    queryHashes: Array.from({ length: 10 }, () => q++),
  }));
  const policy = sink.published.at(-1)!.policy!;
  assert.deepEqual(policy.cacheKey, { kind: 'drop' });
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
