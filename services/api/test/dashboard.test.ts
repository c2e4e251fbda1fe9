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
import { deferred } from './support/deferred.js';
import { startServer, type TestServer, trimLog } from './support/server.js';

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
    assert.deepEqual(Object.entries(body.byReason), expected.slice(0, SUMMARY_REASONS));
    assert.equal(body.byReasonRest, 5);
    assert.equal(
      body.byReasonRest,
      expected.slice(SUMMARY_REASONS).reduce((sum, [, n]) => sum + n, 0),
    );
    assert.deepEqual(Object.keys(body.byReason).slice(0, 3), ['reason-0001', 'reason-0000', 'reason-0002']);
    assert.equal(body.newest.length, SUMMARY_NEWEST);
    assert.deepEqual(
      body.newest.map((d: { key: string }) => d.key),
      decisions.slice(0, SUMMARY_NEWEST).map((d) => d.key),
      'the newest by decidedAt, newest first',
    );
  });

  it('counts at most so many distinct reasons, the rest in byReasonRest', async () => {
    const blocklist = new Blocklist(server.store, server.redis, storeKeys(server.prefix), null);
    const summary = await summarize(blocklist, Date.now, { reasons: 100, counted: 3 });
    assert.equal(summary.count, SUMMARY_NEWEST + 50);
    const reasons = Object.entries(summary.byReason);
    assert.equal(reasons.length, 3, JSON.stringify(reasons));
    assert.equal(reasons.reduce((sum, [, n]) => sum + n, 0) + summary.byReasonRest, SUMMARY_NEWEST + 50);
    assert.ok(summary.byReasonRest > 0);
  });

  it('keeps a reason literally named "(other)" apart from the reasons summed', async () => {
    const store = new DecisionStore({ redis: server.redis, prefix: `${server.prefix}other.` });
    try {
      // "(other)" is the most frequent reason, and past the reasons listed there are 7 more.
      const decisions = [];
      for (let i = 0; i < 10; i++) decisions.push(decision('ip', `203.0.113.${i}`, { reason: '(other)' }));
      for (let i = 0; i < SUMMARY_REASONS + 6; i++)
        decisions.push(decision('ip', `198.18.0.${i}`, { reason: `r${String(i).padStart(3, '0')}` }));
      decisions.push(decision('ip', '198.18.1.0', { reason: 'r000' }));
      await store.putMany(decisions);
      const summary = await summarize(new Blocklist(store, server.redis, store.keys, null));
      assert.equal(summary.byReason['(other)'], 10, 'the reason named "(other)" keeps its own count');
      assert.equal(Object.keys(summary.byReason).length, SUMMARY_REASONS);
      assert.deepEqual(Object.keys(summary.byReason).slice(0, 2), ['(other)', 'r000']);
      assert.equal(summary.byReasonRest, 7);
      const listed = Object.values(summary.byReason).reduce((sum, n) => sum + n, 0);
      assert.equal(listed + summary.byReasonRest, summary.count);
    } finally {
      await server.redis.del(...Object.values(store.keys));
    }
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

  it('answers a summary the event stream can follow after the store was rebuilt or its log trimmed', async () => {
    // A server of its own: the summary cached by one request is the point.
    const own = await startServer();
    try {
      const reader = (await own.keys.create('dash-resync', 'bouncer')).key;
      const get = async (path: string) => {
        const response = await fetch(`${own.url}${path}`, { headers: { 'x-api-key': reader } });
        assert.equal(response.status, 200, path);
        return response.json();
      };
      /** Whether the change log can be followed from `version` (what the event stream checks). */
      const followable = async (version: number) =>
        !(await get(`/api/blocklist/changes?since=${version}`)).resync;
      await own.store.put(decision('ip', '198.51.100.1'));
      const before = await get('/api/blocklist/summary');
      assert.ok(await followable(before.version));
      // Redis lost the store; the decider rebuilt it: versions start again past a new epoch.
      await own.redis.del(...Object.values(own.store.keys));
      await own.store.put(decision('ip', '198.51.100.2'));
      assert.equal(await followable(before.version), false, 'a stream from the old version resyncs');
      // Asked within the reuse period (2 s), as a dashboard does right after its stream's resync.
      const rebuilt = await get('/api/blocklist/summary');
      assert.ok(Date.now() - before.at < SUMMARY_REUSE_MS, 'within the reuse period');
      assert.ok(await followable(rebuilt.version), `version ${rebuilt.version} cannot be followed`);
      assert.ok(rebuilt.epoch > before.epoch);
      assert.deepEqual(
        rebuilt.newest.map((d: { key: string }) => d.key),
        ['ip:198.51.100.2'],
      );
      // The log trimmed past the summary's version: the same.
      await own.store.put(decision('ip', '198.51.100.3'));
      await trimLog(own);
      assert.equal(await followable(rebuilt.version), false);
      const trimmed = await get('/api/blocklist/summary');
      assert.ok(await followable(trimmed.version), `version ${trimmed.version} cannot be followed`);
      assert.equal(trimmed.count, 2);
      // Nothing moved: the same summary again, not a new scan.
      assert.deepEqual(await get('/api/blocklist/summary'), trimmed);
    } finally {
      await own.close();
    }
  });

  it('answers a caller that joined a scan begun before the store was rebuilt with a scan begun after', async () => {
    const prefix = `${server.prefix}joined.`;
    // A store whose first scan waits (after its version was read) until released.
    const [scanning, released] = [deferred(), deferred()];
    let scans = 0;
    class Gated extends DecisionStore {
      async *pages(options?: { count?: number }): AsyncGenerator<DecisionPage> {
        if (scans++ === 0) {
          scanning.resolve();
          await released.promise;
        }
        yield* super.pages(options);
      }
    }
    const store = new Gated({ redis: server.redis, prefix });
    try {
      await store.put(decision('ip', '198.51.100.10'));
      const cache = new SummaryCache(new Blocklist(store, server.redis, store.keys, null));
      const first = cache.get();
      await scanning.promise;
      await server.redis.del(...Object.values(store.keys));
      await store.put(decision('ip', '198.51.100.11'));
      // Asked while the first scan (of the store before the rebuild) still runs.
      const joined = cache.get();
      released.resolve();
      const [early, late] = await Promise.all([first, joined]);
      assert.ok((await store.changesSince(early.version, 1)).resync, 'the first scan read the old store');
      assert.equal((await store.changesSince(late.version, 1)).resync, false);
      assert.deepEqual(
        late.newest.map((d) => d.key),
        ['ip:198.51.100.11'],
      );
      assert.equal(scans, 2);
    } finally {
      await server.redis.del(...Object.values(store.keys));
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
