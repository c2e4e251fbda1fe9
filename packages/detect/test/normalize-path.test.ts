import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizePath } from '../src/normalize-path.js';

test('variants of one path an origin serves alike come back as that path', () => {
  const cases: [string, string][] = [
    // Unreserved characters percent-encoded (RFC 3986 §2.3, §6.2.2.2).
    ['/a%62c', '/abc'],
    ['/%61%62%63', '/abc'],
    ['/a%2Db%5Fc%7Ed%2Ee', '/a-b_c~d.e'],
    ['/A%42C', '/ABC'],
    // Escapes of other characters kept as written, lower-case hex too, beside a decoded one.
    ['/caf%c3%a9/%61', '/caf%c3%a9/a'],
    // Runs of slashes.
    ['//abc', '/abc'],
    ['/a//b///c', '/a/b/c'],
    ['/abc//', '/abc/'],
    // Dot segments (§5.2.4).
    ['/./abc', '/abc'],
    ['/x/../abc', '/abc'],
    ['/a/b/..', '/a/'],
    ['/a/.', '/a/'],
    ['/..', '/'],
    ['/../../abc', '/abc'],
    ['/a/./b/../c', '/a/c'],
    // Decoded first, then dot segments and slashes.
    ['/%2e%2e/abc', '/abc'],
    ['/x/%2E/abc', '/x/abc'],
    // Slashes merged before dot segments, as nginx does (RFC 3986 alone would give /a/b).
    ['/a/.//../b', '/b'],
  ];
  for (const [variant, page] of cases) assert.equal(normalizePath(variant), page, variant);
});

test('paths that name another resource, or are already normal, come back unchanged and as the same string', () => {
  const unchanged = [
    '',
    '/',
    '/abc',
    '/abc/',
    '/Products/18', // case-sensitive: never folded
    '/a%2Fb', // an encoded slash is not a separator (§2.2): decoding it changes the resource
    '/a%3Fb%23c%3D', // ? # = encoded: reserved, kept
    '/hello%20world',
    '/caf%C3%A9',
    // Lower-case hex alone is not a variant (§6.2.2.1 calls the cases equal, but WordPress writes
    // its non-Latin slugs' links in lower case: each such page would be all variants, its content
    // untracked).
    '/caf%c3%a9/',
    '/a%2fb',
    '/100%',
    '/a%zz',
    '/a%4',
    '/.env',
    '/.well-known/security.txt',
    '/a/...',
    '/a..b/c.',
    '*',
    'http://example.com//a/../b',
  ];
  for (const path of unchanged) {
    // A copy, so that "the same string" means the instance, not equal text.
    const copy = JSON.parse(JSON.stringify(path)) as string;
    const result = normalizePath(copy);
    assert.equal(result, path, path);
    assert.ok(Object.is(result, copy));
  }
});

test('normalising is idempotent', () => {
  for (const variant of ['/a%62c', '//x/./y/../z%2f', '/%2e%2e/%2E/a', '/a/b/..']) {
    const once = normalizePath(variant);
    assert.equal(normalizePath(once), once, variant);
  }
});
