import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withDefaults } from '@edgeguard/detect';
import { type AccessLog, type CachePolicy, emptyAccessLog } from '@edgeguard/schema';
import { TOPICS } from '../src/bus.js';
import { createReplay } from '../src/replay.js';

/**
 * Cache-policy advice end to end (profiler partials → content-watch), from access logs as an
 * edge writes them: what an operator would apply to a fleet.
 */

const T0 = Date.UTC(2024, 0, 21, 9, 0, 0);
const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';

/** A deterministic stream in [0, 1). */
function stream(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff;
    return s / 0x80000000;
  };
}

/**
 * Five requests a second for `seconds` from a pool of 3,000 visitors, each shaped by `make`
 * (`i`: the request's number, `r`: a draw in [0, 1)); the policies published, tombstones included.
 */
function run(
  seconds: number,
  make: (i: number, r: number) => Partial<AccessLog>,
): { key: string; policy: CachePolicy | null }[] {
  const replay = createReplay({ detect: withDefaults(), allowlist: [] });
  const published: { key: string; policy: CachePolicy | null }[] = [];
  replay.bus.on(TOPICS.cachePolicies, (m) =>
    published.push({ key: m.key, policy: m.value as CachePolicy | null }),
  );
  const draw = stream(7);
  for (let i = 0; i < seconds * 5; i++) {
    const visitor = Math.floor(draw() * 3000);
    replay.push({
      ...emptyAccessLog(),
      time: T0 + i * 200,
      clientAddress: `198.51.${visitor >> 8}.${visitor & 255}`,
      method: 'GET',
      host: 'www.example.com',
      path: '/news',
      status: 200,
      userAgent: BROWSER,
      originDurationMs: 40,
      ...make(i, draw()),
    });
  }
  replay.finish();
  return published;
}

function signal(policy: CachePolicy, name: string): number | undefined {
  return policy.signals.find((s) => s.name === name)?.value;
}

test('a hot page answered from cache 83 % of the time and EXPIRED otherwise gets no hot-miss advice', () => {
  // An EXPIRED request counted as a miss and as an expiration: a miss ratio of 0.34 for 17 %.
  const published = run(600, (_i, r) => ({ cacheStatus: r < 0.17 ? 'EXPIRED' : 'HIT' }));
  assert.deepEqual(
    published.map((p) => `${p.key} ${p.policy?.reason}`),
    [],
  );
});

test('the miss ratio of a key that expires often counts each EXPIRED request once', () => {
  const published = run(300, (_i, r) => ({ cacheStatus: r < 0.4 ? 'EXPIRED' : 'HIT' }));
  const policy = published.at(-1)?.policy;
  assert.ok(policy, 'a hot key with 40 % expirations gets hot-miss advice');
  assert.equal(policy.reason, 'hot-miss');
  const missRatio = signal(policy, 'missRatio')!;
  assert.ok(
    missRatio > 0.3 && missRatio < 0.5,
    `missRatio ${missRatio} is the share of EXPIRED requests (0.4)`,
  );
});

test('a hot path the cache never stores (MISS every time) gets no request collapsing', () => {
  // nginx logs MISS for a response it does not store (Set-Cookie, private): collapsing such a
  // path (proxy_cache_lock) queues each request behind the one before.
  const published = run(600, () => ({ path: '/cart', cacheStatus: 'MISS' }));
  assert.deepEqual(
    published.map((p) => `${p.key} ${p.policy?.reason}`),
    [],
  );
});

test('a hot page the cache stores but keeps missing still gets collapsing, with the cached share as evidence', () => {
  const published = run(300, (_i, r) => ({ cacheStatus: r < 0.5 ? 'MISS' : 'HIT' }));
  const policy = published.at(-1)?.policy;
  assert.ok(policy);
  assert.equal(policy.collapse, true);
  assert.equal(policy.staleWhileRevalidateSeconds, 30);
  const cachedShare = signal(policy, 'cachedShare')!;
  assert.ok(cachedShare > 0.4 && cachedShare < 0.6, `cachedShare ${cachedShare}`);
});

/** A second draw for request `i` (independent enough of the stream's). */
const other = (i: number) => ((i * 7919) % 1000) / 1000;

test('a popular search (?q= with many distinct terms) gets no cache-key rule: its answers are other pages', () => {
  const published = run(600, (i, r) =>
    r < 0.35
      ? { path: '/search', cacheStatus: 'HIT', bytes: 15_000 + (i % 300) }
      : {
          path: '/search',
          query: `q=term${Math.floor(other(i) * 400)}${i}`,
          cacheStatus: 'MISS',
          bytes: 9_000 + Math.floor(other(i) * 5_000),
        },
  );
  assert.ok(published.length > 0, 'a hot path that misses: hot-miss advice');
  assert.deepEqual(
    published.filter((p) => p.policy?.cacheKey != null).map((p) => p.policy?.reason),
    [],
  );
});

test('an app API polled with a changing since= gets no cache-key rule, even where its plain answer is cached', () => {
  const published = run(600, (i, r) =>
    r < 0.4
      ? { path: '/api/v1/feed', cacheStatus: 'HIT', bytes: 20_000 + (i % 300) }
      : {
          path: '/api/v1/feed',
          query: `since=${T0 + i * 200 - Math.floor(other(i) * 60_000)}`,
          cacheStatus: 'MISS',
          bytes: 200 + Math.floor(other(i) * 3_000),
        },
  );
  assert.deepEqual(
    published.filter((p) => p.policy?.cacheKey != null).map((p) => p.policy?.reason),
    [],
  );
});

test('a page busted with ?_=<epoch ms> (answers the plain page) gets its query dropped from the cache key', () => {
  const published = run(300, (i, r) =>
    r < 0.5
      ? { path: '/deals', cacheStatus: 'HIT', bytes: 15_000 + (i % 400) }
      : { path: '/deals', query: `_=${T0 + i * 200}`, cacheStatus: 'MISS', bytes: 15_000 + ((i * 7) % 400) },
  );
  const policy = published.at(-1)?.policy;
  assert.ok(policy);
  assert.match(policy.reason, /cache-bust/);
  assert.deepEqual(policy.cacheKey, { kind: 'drop' });
  assert.equal(signal(policy, 'samePageShare'), 1);
});

test('a busted page that also has real parameters (page=) keeps them in the cache key and drops the rest', () => {
  // Dropping the whole query from /category/sale's cache key answered its page 2 with page 1.
  const published = run(300, (i, r) => {
    if (r < 0.4) return { path: '/category/sale', cacheStatus: 'HIT', bytes: 15_000 + (i % 400) };
    if (r < 0.9)
      return {
        path: '/category/sale',
        query: `_=${T0 + i * 200}`,
        cacheStatus: 'MISS',
        bytes: 15_000 + ((i * 7) % 400),
      };
    return {
      path: '/category/sale',
      query: `page=${2 + (i % 5)}`,
      cacheStatus: 'MISS',
      bytes: 11_000 + ((i * 13) % 400),
    };
  });
  const policy = published.at(-1)?.policy;
  assert.ok(policy);
  assert.match(policy.reason, /cache-bust/);
  assert.deepEqual(policy.cacheKey, { kind: 'allow', params: ['page'] });
});
