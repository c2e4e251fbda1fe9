// The dashboard's page and the summary it reads, over the real Redis: the page is public and
// served with a strict CSP, its script renders no store data as HTML, and the summary needs a key,
// counts every active decision and lists the newest (bounded). The page in a browser:
// dashboard-browser.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type DecisionPage, DecisionStore, storeKeys } from '@edgeguard/decisions';
import { Redis } from 'ioredis';
import { Blocklist } from '../src/blocklist.js';
import {
  DASHBOARD_CSP,
  SUMMARY_NEWEST,
  SUMMARY_REASONS,
  SUMMARY_REUSE_FACTOR,
  SUMMARY_REUSE_MS,
  SummaryCache,
  summarize,
} from '../src/dashboard.js';
import { decision } from './support/decision.js';
import { startServer, type TestServer } from './support/server.js';

describe('dashboard', { timeout: 60_000 }, () => {
  let server: TestServer;
  let bouncer: string;
  before(async () => {
    server = await startServer();
    bouncer = (await server.keys.create('dash-reader', 'bouncer')).key;
  });
  after(() => server.close());

  it('serves the page, its script and style without a key, with a strict CSP and nosniff', async () => {
    for (const [path, type] of [
      ['/dashboard', 'text/html; charset=utf-8'],
      ['/dashboard/dashboard.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/dashboard.css', 'text/css; charset=utf-8'],
    ] as const) {
      const response = await fetch(`${server.url}${path}`);
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get('content-type'), type, path);
      assert.equal(response.headers.get('content-security-policy'), DASHBOARD_CSP, path);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(response.headers.get('x-frame-options'), 'DENY', path);
      assert.ok((await response.text()).length > 0, path);
    }
    assert.match(DASHBOARD_CSP, /script-src 'self';/);
    assert.doesNotMatch(DASHBOARD_CSP, /unsafe/);
  });

  it('answers errors under /dashboard with the same CSP and nosniff, and serves no other file', async () => {
    for (const [method, path, status] of [
      ['GET', '/dashboard/%3Cscript%3Ealert(1)%3C%2Fscript%3E', 404],
      ['GET', '/dashboard/', 404],
      ['GET', '/dashboard/..%2f..%2fpackage.json', 404],
      ['GET', '/dashboard/%252e%252e%252fpackage.json', 404],
      ['GET', '/dashboard/%ZZ', 400],
      ['GET', '/dashboard?%3Cb%3E=1', 400],
      ['POST', '/dashboard', 405],
    ] as const) {
      const response = await fetch(`${server.url}${path}`, { method });
      assert.equal(response.status, status, path);
      assert.equal(response.headers.get('content-security-policy'), DASHBOARD_CSP, path);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
      assert.match(response.headers.get('content-type')!, /^application\/json/, path);
    }
  });

  it('has no inline script in the page, and no HTML sink in its script', async () => {
    const html = await (await fetch(`${server.url}/dashboard`)).text();
    const scripts = html.match(/<script\b[^>]*>/g) ?? [];
    assert.deepEqual(scripts, ['<script src="dashboard/dashboard.js" defer>']);
    assert.doesNotMatch(html, /<script[^>]*>[^<]+<\/script>/);
    assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handler attributes');
    const script = readFileSync(new URL('../dashboard/dashboard.js', import.meta.url), 'utf8');
    for (const sink of [
      'innerHTML',
      'outerHTML',
      'insertAdjacentHTML',
      'document.write',
      'eval(',
      'new Function',
    ])
      assert.ok(!script.includes(sink), `dashboard.js uses ${sink}`);
    // The key never goes into a URL: only into the X-Api-Key header.
    assert.doesNotMatch(script, /[?&](key|api_?key)=/i);
  });

  it('refuses the summary without a key and answers it with a bouncer key', async () => {
    const refused = await fetch(`${server.url}/api/blocklist/summary`);
    assert.equal(refused.status, 401);
    assert.equal((await refused.json()).error, 'missing-key');
    const empty = await fetch(`${server.url}/api/blocklist/summary`, { headers: { 'x-api-key': bouncer } });
    assert.equal(empty.status, 200);
    assert.equal(empty.headers.get('cache-control'), 'no-store');
    const body = await empty.json();
    assert.equal(body.count, 0);
    assert.deepEqual(body.newest, []);
    assert.deepEqual(body.byAction, {});
  });

  it('counts every active decision by action and reason and lists the newest, bounded', async () => {
    const now = Date.now();
    const decisions = [];
    // SUMMARY_REASONS + 5 reasons; reason-0000 three times, reason-0001 twice: the most frequent.
    const total = SUMMARY_NEWEST + 50;
    for (let i = 0; i < total; i++) {
      const reason = i < SUMMARY_REASONS + 5 ? i : i % 2;
      decisions.push(
        decision('ip', `10.0.${i & 255}.${i >> 8}`, {
          action: i % 3 === 0 ? 'block' : i % 3 === 1 ? 'challenge' : 'throttle',
          reason: `reason-${String(reason).padStart(4, '0')}`,
          decidedAt: now - 10 * i,
        }),
      );
    }
    // Expired: stored, not counted.
    decisions.push(decision('ip', '192.0.2.99', { decidedAt: now + 1, expiresAt: now - 1 }));
    await server.store.putMany(decisions);
    const version = await server.store.version();
    // Past the reuse period of the summary the previous test made.
    await new Promise((resolve) => setTimeout(resolve, SUMMARY_REUSE_MS + 100));
    const body = await (
      await fetch(`${server.url}/api/blocklist/summary`, { headers: { authorization: `Bearer ${bouncer}` } })
    ).json();
    assert.equal(body.count, total);
    assert.equal(body.version, version);
    assert.deepEqual(body.byAction, {
      block: Math.ceil(total / 3),
      challenge: Math.ceil((total - 1) / 3),
      throttle: Math.ceil((total - 2) / 3),
    });
    const counts = new Map<string, number>();
    for (const d of decisions.slice(0, total)) counts.set(d.reason, (counts.get(d.reason) ?? 0) + 1);
    const expected = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    assert.deepEqual(Object.entries(body.byReason), [
      ...expected.slice(0, SUMMARY_REASONS),
      ['(other)', expected.slice(SUMMARY_REASONS).reduce((sum, [, n]) => sum + n, 0)],
    ]);
    assert.deepEqual(Object.keys(body.byReason).slice(0, 3), ['reason-0001', 'reason-0000', 'reason-0002']);
    assert.deepEqual(Object.entries(body.byReason).at(-1), ['(other)', 5]);
    assert.equal(body.newest.length, SUMMARY_NEWEST);
    assert.deepEqual(
      body.newest.map((d: { key: string }) => d.key),
      decisions.slice(0, SUMMARY_NEWEST).map((d) => d.key),
      'the newest by decidedAt, newest first',
    );
  });

  it('counts at most so many distinct reasons, the rest as "(other)"', async () => {
    const blocklist = new Blocklist(server.store, server.redis, storeKeys(server.prefix), null);
    const summary = await summarize(blocklist, Date.now, { reasons: 100, counted: 3 });
    assert.equal(summary.count, SUMMARY_NEWEST + 50);
    const reasons = Object.entries(summary.byReason);
    assert.equal(reasons.length, 4, JSON.stringify(reasons));
    assert.equal(reasons.at(-1)![0], '(other)');
    assert.equal(
      reasons.reduce((sum, [, n]) => sum + n, 0),
      SUMMARY_NEWEST + 50,
    );
  });

  it('scans once for callers meanwhile, and reuses a summary for ten times its scan', async () => {
    const blocklist = new Blocklist(server.store, server.redis, storeKeys(server.prefix), null);
    // Each reading of the clock moves it 500 ms: a scan (read at its start and end) takes 500 ms.
    let now = 0;
    const cache = new SummaryCache(blocklist, () => {
      now += 500;
      return now;
    });
    const [first, shared] = await Promise.all([cache.get(), cache.get()]);
    assert.equal(first, shared, 'one scan for both');
    assert.equal(first.tookMs, 500);
    assert.equal(await cache.get(), first, 'reused: younger than 10 × 500 ms');
    now = first.at + SUMMARY_REUSE_FACTOR * first.tookMs - 1_000;
    assert.equal(await cache.get(), first, 'still younger than 10 × its scan');
    now = first.at + SUMMARY_REUSE_FACTOR * first.tookMs;
    const next = await cache.get();
    assert.notEqual(next, first, 'scanned again');
    assert.equal(next.count, first.count);
  });

  it('lists each decision once when the scan meets one twice (the hash resized meanwhile)', async () => {
    // HSCAN may return an entry twice when the hash shrinks between its pages, as when the sweeper
    // removes many decisions during a scan: here, after the first page, every decision but that
    // page's and a few others is swept. Whether an entry comes twice depends on Redis' hash seed,
    // so rounds are repeated (new store each) until one did.
    class SweptDuringScan extends DecisionStore {
      seen: string[] = [];
      async *pages(): AsyncGenerator<DecisionPage> {
        let first = true;
        for await (const page of super.pages({ count: 100 })) {
          this.seen.push(...page.decisions.map((d) => d.key));
          yield page;
          if (!first) continue;
          first = false;
          const kept = page.decisions.map((d) => ({
            ...d,
            expiresAt: d.expiresAt + 86_400_000,
            version: d.version + 1_000_000,
          }));
          await this.putMany(kept);
          await this.sweepExpired(Date.now() + 7_200_000, 10_000);
        }
      }
    }
    const now = Date.now();
    for (let round = 0; round < 40; round++) {
      const store = new SweptDuringScan({ redis: server.redis, prefix: `${server.prefix}swept${round}.` });
      const decisions = [];
      for (let i = 0; i < 4096; i++) {
        decisions.push(
          decision('ip', `10.${round}.${i >> 8}.${i & 255}`, {
            decidedAt: now - i,
            // A few outlive the sweep besides the first page's.
            expiresAt: now + (i % 64 === 0 ? 86_400_000 : 3_600_000),
          }),
        );
      }
      await store.putMany(decisions);
      const blocklist = new Blocklist(store, server.redis, store.keys, null);
      const summary = await summarize(blocklist);
      await server.redis.del(...Object.values(store.keys));
      if (new Set(store.seen).size === store.seen.length) continue;
      const keys = summary.newest.map((d) => d.key);
      assert.ok(keys.length < SUMMARY_NEWEST, 'every decision left is in newest');
      assert.equal(new Set(keys).size, keys.length, `a key listed twice (round ${round})`);
      const seen = new Set(store.seen);
      assert.deepEqual(
        keys,
        decisions.filter((d) => seen.has(d.key)).map((d) => d.key),
      );
      return;
    }
    assert.fail('no round met a decision twice');
  });

  it('answers a failed scan again for as long as a summary, rather than scanning again at once', async () => {
    // A Redis that cannot answer (nothing listens on port 1): every scan fails at its first read.
    const redis = new Redis({
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    class Counted extends Blocklist {
      scans = 0;
      override state() {
        this.scans++;
        return super.state();
      }
    }
    const prefix = `${server.prefix}unreachable.`;
    const blocklist = new Counted(new DecisionStore({ redis, prefix }), redis, storeKeys(prefix), null);
    let now = 0;
    const cache = new SummaryCache(blocklist, () => now);
    try {
      const first = await cache.get().catch((error: unknown) => error);
      assert.ok(first instanceof Error);
      assert.equal(await cache.get().catch((error: unknown) => error), first, 'the same failure');
      now = SUMMARY_REUSE_MS - 1;
      await assert.rejects(cache.get());
      assert.equal(blocklist.scans, 1, 'one scan');
      now = SUMMARY_REUSE_MS;
      await assert.rejects(cache.get());
      assert.equal(blocklist.scans, 2, 'scanned again once as old as a summary is reused');
    } finally {
      redis.disconnect();
    }
  });

  it('answers HEAD on the summary with its headers only', async () => {
    const response = await fetch(`${server.url}/api/blocklist/summary`, {
      method: 'HEAD',
      headers: { 'x-api-key': bouncer },
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '');
  });
});
