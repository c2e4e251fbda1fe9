import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CachePolicy } from '@edgeguard/schema';
import { cacheKeyQuery, PolicyIndex } from '../src/policy-index.js';
import { parseCachePolicy } from '../src/records.js';

const NOW = 1_700_000_000_000;

function policy(host: string | null, pathPattern: string, overrides: Partial<CachePolicy> = {}): CachePolicy {
  return parseCachePolicy({
    key: `${host ?? '*'}${pathPattern}`,
    match: { host, pathPattern },
    ttlSeconds: null,
    staleWhileRevalidateSeconds: null,
    staleIfErrorSeconds: null,
    maxStaleSeconds: null,
    collapse: null,
    cacheKey: { kind: 'drop' },
    reason: 'cache-bust',
    signals: [],
    decidedAt: NOW,
    expiresAt: NOW + 600_000,
    version: 1,
    ...overrides,
  });
}

describe('PolicyIndex.lookup', () => {
  it('matches the content key content-watch emits: host + exact path, host in any case and with a port', () => {
    const index = new PolicyIndex();
    index.put(policy('shop.example', '/products/42'), NOW);
    assert.equal(index.lookup('shop.example', '/products/42', NOW)?.reason, 'cache-bust');
    assert.equal(index.lookup('Shop.Example:8443', '/products/42', NOW)?.key, 'shop.example/products/42');
    assert.equal(index.lookup('shop.example', '/products/43', NOW), null);
    assert.equal(index.lookup('other.example', '/products/42', NOW), null);
  });

  it('applies a policy without host to every host, after the host-specific one', () => {
    const index = new PolicyIndex();
    index.put(policy(null, '/feed'), NOW);
    index.put(policy('a.example', '/feed', { reason: 'hot-miss', cacheKey: null }), NOW);
    assert.equal(index.lookup('b.example', '/feed', NOW)?.reason, 'cache-bust');
    assert.equal(index.lookup(null, '/feed', NOW)?.reason, 'cache-bust');
    assert.equal(index.lookup('a.example', '/feed', NOW)?.reason, 'hot-miss');
  });

  it('matches prefix patterns ending in *, longest first, after exact paths', () => {
    const index = new PolicyIndex();
    index.put(policy('a.example', '/api/*', { reason: 'short' }), NOW);
    index.put(policy('a.example', '/api/v2/*', { reason: 'long' }), NOW);
    index.put(policy('a.example', '/api/v2/items', { reason: 'exact' }), NOW);
    assert.equal(index.lookup('a.example', '/api/v1/x', NOW)?.reason, 'short');
    assert.equal(index.lookup('a.example', '/api/v2/x', NOW)?.reason, 'long');
    assert.equal(index.lookup('a.example', '/api/v2/items', NOW)?.reason, 'exact');
  });

  it('never answers with an expired policy; newer versions replace, older are ignored; bounded', () => {
    const index = new PolicyIndex({ maxPolicies: 2 });
    index.put(policy('a.example', '/x', { expiresAt: NOW + 10, version: 3 }), NOW);
    assert.equal(index.put(policy('a.example', '/x', { version: 2 }), NOW), false);
    assert.equal(index.lookup('a.example', '/x', NOW + 10), null);
    index.put(policy('a.example', '/y'), NOW);
    index.put(policy('a.example', '/z'), NOW);
    assert.equal(index.size, 2);
    assert.equal(index.stats().evicted, 1);
    assert.equal(index.get('a.example/x'), undefined, 'the one expiring soonest went');
    assert.equal(index.delete('a.example/y'), true);
    assert.equal(index.lookup('a.example', '/y', NOW), null);
  });

  it('rejects malformed policies with a reason', () => {
    assert.throws(
      () => parseCachePolicy({ key: 'x', match: { host: null, pathPattern: 'nope' } }),
      /pathPattern/,
    );
    assert.throws(() => parseCachePolicy(null), /expected a CachePolicy/);
    assert.throws(
      () => parseCachePolicy({ ...policy(null, '/a'), cacheKey: { kind: 'shuffle' } }),
      /cacheKey.kind must be/,
    );
  });
});

describe('cacheKeyQuery', () => {
  it('keeps, drops, sorts or filters query parameters', () => {
    assert.equal(cacheKeyQuery(null, 'b=2&a=1'), 'b=2&a=1');
    assert.equal(cacheKeyQuery({ kind: 'keep' }, 'b=2&a=1'), 'b=2&a=1');
    assert.equal(cacheKeyQuery({ kind: 'drop' }, 'cb=9f8e7d'), '');
    assert.equal(cacheKeyQuery({ kind: 'sort' }, 'b=2&a=1&b=1'), 'a=1&b=2&b=1');
    assert.equal(
      cacheKeyQuery({ kind: 'allow', params: ['page', 'q'] }, 'utm=x&q=shoes&cb=1&page=2'),
      'page=2&q=shoes',
    );
    assert.equal(cacheKeyQuery({ kind: 'drop' }, ''), '');
  });
});

describe('parseCachePolicy bounds', () => {
  it('keeps a bounded reason and signal list, and rejects oversized keys, paths and parameter names', () => {
    const huge = {
      ...policy('shop.example', '/deals'),
      reason: `cache-bust ${'x'.repeat(500_000)}`,
      signals: Array.from({ length: 10_000 }, (_, i) => ({ name: `s${i}`, value: i })),
    };
    const parsed = parseCachePolicy(huge);
    assert.equal(parsed.reason.length, 512);
    assert.equal(parsed.signals.length, 16);
    const longPath = `/${'a'.repeat(10_000)}`;
    assert.throws(
      () => parseCachePolicy({ ...policy('shop.example', longPath), key: `shop.example${longPath}` }),
      /match\.pathPattern is longer than 8192|key is longer than 8192/,
    );
    assert.throws(
      () =>
        parseCachePolicy({
          ...policy('shop.example', '/deals'),
          cacheKey: { kind: 'allow', params: ['p'.repeat(300)] },
        }),
      /at most 256 characters/,
    );
  });
});
