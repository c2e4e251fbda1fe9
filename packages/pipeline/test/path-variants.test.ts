import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withDefaults } from '@edgeguard/detect';
import { type AccessLog, type CachePolicy, type Decision, emptyAccessLog } from '@edgeguard/schema';
import { TOPICS } from '../src/bus.js';
import { createReplay } from '../src/replay.js';

/**
 * Cache-busting with path variants instead of query strings: `/products/18` asked as
 * `//products/18`, `/products/./18`, `/%70roducts/18` … is one page to the origin and a new key
 * to a cache keyed on the raw path, as `?_=<epoch ms>` is.
 */

const T0 = Date.UTC(2024, 0, 21, 9, 0, 0);
const SWARM =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
const BOTS = Array.from({ length: 30 }, (_, b) => `203.0.113.${b + 10}`);
const PEOPLE = ['198.51.100.23', '198.51.100.24'];

/** The k-th variant of /products/18 (k ≥ 1): extra slashes, `./` segments, an escaped `p`. */
function variant(k: number): string {
  const slashes = '/'.repeat(k % 5);
  const dots = './'.repeat(Math.floor(k / 10));
  const word = Math.floor(k / 5) % 2 === 0 ? 'products' : '%70roducts';
  return `/${slashes}${word}/${dots}18`;
}

function request(
  at: number,
  ip: string,
  path: string,
  query: string | null,
  ua: string,
  cacheStatus: string,
): AccessLog {
  return {
    ...emptyAccessLog(),
    time: T0 + at,
    clientAddress: ip,
    method: 'GET',
    host: 'shop.example',
    path,
    query,
    protocol: 'HTTP/1.1',
    status: 200,
    bytes: 5120,
    cacheStatus,
    userAgent: ua,
  };
}

/**
 * 30 hosting addresses with one Chrome UA ask /products/18 once, then bust it every 3 s for
 * 4 minutes (`bust(at, k)`: the path and query of the k-th bust, at `at`), each missing the cache; readers ask
 * it once a second and two people browse with their assets (HIT). What was decided and advised.
 */
function run(bust: (at: number, k: number) => { path: string; query: string | null }) {
  const logs: AccessLog[] = [];
  for (const [b, ip] of BOTS.entries()) {
    logs.push(request(b * 100, ip, '/products/18', null, SWARM, 'HIT'));
    for (let k = 1; k <= 80; k++) {
      const at = b * 100 + k * 3_000;
      const { path, query } = bust(at, k);
      logs.push(request(at, ip, path, query, SWARM, 'MISS'));
    }
  }
  for (const [h, ip] of PEOPLE.entries()) {
    for (let p = 0; p < 12; p++) {
      const at = 5_000 + h * 7_000 + p * 20_000;
      logs.push(request(at, ip, p % 3 === 0 ? '/products/18' : `/articles/${p}`, null, FIREFOX, 'HIT'));
      for (let a = 0; a < 3; a++)
        logs.push({
          ...request(at + 150, ip, `/static/app-${a}.js`, null, FIREFOX, 'HIT'),
          referer: 'https://shop.example/',
        });
    }
  }
  // The page's own readers: one a second, answered from the cache.
  for (let s = 0; s < 240; s++)
    logs.push(request(s * 1_000 + 500, `192.0.2.${s % 200}`, '/products/18', null, FIREFOX, 'HIT'));
  logs.sort((a, b) => a.time - b.time);
  const replay = createReplay({ detect: withDefaults(), allowlist: [] });
  const decisions = new Map<string, Decision>();
  const policies: CachePolicy[] = [];
  replay.bus.on(TOPICS.decisions, (m) => {
    if (m.value !== null) decisions.set(m.key, m.value as Decision);
  });
  replay.bus.on(TOPICS.cachePolicies, (m) => {
    if (m.value !== null) policies.push(m.value as CachePolicy);
  });
  for (const log of logs) replay.push(log);
  replay.finish();
  const verdicts = new Map([...replay.verdicts()].map((v) => [v.ip, v.verdict]));
  return { decisions, policies, verdicts, stats: replay.stats() };
}

test('a swarm busting one page with path variants only is caught as the same swarm with random query strings is', () => {
  assert.equal(new Set(Array.from({ length: 80 }, (_, k) => variant(k + 1))).size, 80);
  const byQuery = run((at) => ({ path: '/products/18', query: `_=${T0 + at}` }));
  const byPath = run((_at, k) => ({ path: variant(k), query: null }));

  for (const ip of BOTS) {
    assert.match(byPath.verdicts.get(ip) ?? '', /block|challenge/, `${ip}: ${byPath.verdicts.get(ip)}`);
    assert.equal(byPath.decisions.get(`ip:${ip}`)?.reason, byQuery.decisions.get(`ip:${ip}`)?.reason, ip);
  }
  assert.ok(
    [...byPath.decisions.values()].some((d) => /cache-bust/.test(d.reason)),
    JSON.stringify([...byPath.decisions.values()].map((d) => [d.key, d.reason])),
  );
  const summary = (r: ReturnType<typeof run>) =>
    [...r.decisions.values()].map((d) => `${d.key} ${d.action} ${d.reason}`).sort();
  assert.deepEqual(summary(byPath), summary(byQuery));
  for (const ip of PEOPLE) assert.equal(byPath.verdicts.get(ip), 'allow', ip);

  // Content: the variants count for /products/18 (one key), and a query rule could not help them.
  assert.ok(
    byQuery.policies.some((p) => p.key === 'shop.example/products/18' && p.cacheKey?.kind === 'drop'),
    'the query busting is advised a cache-key rule',
  );
  assert.deepEqual(
    byPath.policies.filter((p) => p.cacheKey !== null).map((p) => p.key),
    [],
  );
  assert.ok(byPath.stats.state.contentKeys < 20, `${byPath.stats.state.contentKeys} content keys`);
});
