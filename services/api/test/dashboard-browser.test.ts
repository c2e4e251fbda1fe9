// The dashboard in a real browser (Debian's Chromium driven by playwright-core) against the API on
// the real Redis: a key typed into the page shows the decisions already stored, a decision written
// to the store afterwards appears without a reload (read from the blocklist event stream), an
// attacker's HTML in a reason is shown as text, "why?" answers from explain (without the
// requests, admin-only, for a bouncer key), and the key is never put in a URL.
// Skipped only where /usr/bin/chromium is absent (infra/ensure-packages.sh installs it; CI runs it).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { CachePolicy } from '@edgeguard/schema';
import { type Browser, chromium, type Page } from 'playwright-core';
import { decision } from './support/decision.js';
import { deferred } from './support/deferred.js';
import { startServer, type TestServer } from './support/server.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is absent: the browser test needs Debian's chromium (apt-get install --no-install-recommends chromium, or bash infra/ensure-packages.sh)`;

const HOSTILE = '<img src=x onerror="window.__pwned=1">';

const policy = (host: string, pathPattern: string): CachePolicy => ({
  key: `${host}${pathPattern}`,
  match: { host, pathPattern },
  ttlSeconds: 600,
  staleWhileRevalidateSeconds: 60,
  staleIfErrorSeconds: null,
  maxStaleSeconds: null,
  collapse: true,
  cacheKey: null,
  reason: 'hot-static',
  signals: [],
  decidedAt: Date.now(),
  expiresAt: Date.now() + 3_600_000,
  version: 1,
});

/** Opens the dashboard at `url` in `page` and connects with `key` typed in. */
async function openDashboard(page: Page, url: string, key: string): Promise<void> {
  await page.goto(`${url}/dashboard`);
  await page.fill('#key', key);
  await page.click('#key-form button[type=submit]');
}

/**
 * A server of its own (an empty store) with a bouncer key named `name`, and a new page of
 * `browser`; both closed after `use`.
 */
async function withOwnServer(
  browser: Browser,
  name: string,
  use: (own: TestServer, page: Page, key: string) => Promise<void>,
  options: Parameters<typeof startServer>[0] = {},
): Promise<void> {
  const own = await startServer(options);
  const page = await browser.newPage();
  try {
    await use(own, page, (await own.keys.create(name, 'bouncer')).key);
  } finally {
    await page.close();
    await own.close();
  }
}

describe('dashboard in a browser', { skip, timeout: 120_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let key: string;
  /** Every URL the page asked for, and what went wrong in it (script errors, CSP refusals). */
  const urls: string[] = [];
  const problems: string[] = [];

  before(async () => {
    server = await startServer();
    key = (await server.keys.create('dash-browser', 'bouncer')).key;
    await server.store.put(decision('ip', '192.0.2.10', { reason: 'scanner', action: 'challenge' }));
    server.policies.apply(0, 'shop.example/static/*', policy('shop.example', '/static/*'));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    page = await browser.newPage();
    page.on('request', (request) => urls.push(request.url()));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows the stored decisions and cache policies once a key is typed in', async () => {
    await openDashboard(page, server.url, key);
    const row = page.locator('#decisions tr[data-key="ip:192.0.2.10"]');
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert.deepEqual(cells.slice(0, 4), ['ip:192.0.2.10', 'challenge', 'scanner', 'auto']);
    assert.match(cells[5]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.equal(cells[6], 'why?');
    assert.equal(await page.textContent('#count'), '1');
    assert.match((await page.textContent('#by-action'))!, /challenge\s*1/);
    assert.match((await page.textContent('#by-reason'))!, /scanner\s*1/);
    await page.locator('#policies td', { hasText: 'shop.example/static/*' }).waitFor();
    // The key: in this tab's sessionStorage, out of the input, never in a URL.
    assert.equal(await page.evaluate(() => sessionStorage.getItem('edgeguard.apiKey')), key);
    assert.equal(await page.inputValue('#key'), '');
  });

  it('shows a decision written afterwards without a reload, its hostile reason as text', async () => {
    // Both event streams are open before the write (else the write is in the summary already).
    const streams = () => urls.filter((url) => url.includes('/events?since=')).length;
    const deadline = Date.now() + 10_000;
    while (streams() < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(streams(), 2, urls.join('\n'));
    const loads = urls.filter((url) => url.endsWith('/dashboard')).length;
    const summaries = () => urls.filter((url) => url.endsWith('/api/blocklist/summary')).length;
    const summariesBefore = summaries();
    await server.store.put(decision('ip', '192.0.2.11', { reason: HOSTILE, action: 'block' }));
    const row = page.locator('#decisions tr[data-key="ip:192.0.2.11"]');
    await row.waitFor();
    assert.equal(await row.locator('td').nth(2).textContent(), HOSTILE);
    assert.equal(await page.locator('img').count(), 0, 'the reason was not parsed as HTML');
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    // Newest first, and the change listed as it happened.
    assert.equal(
      await page.locator('#decisions tr[data-key]').first().getAttribute('data-key'),
      'ip:192.0.2.11',
    );
    await page.locator('#changes li', { hasText: `add ip:192.0.2.11 block (${HOSTILE}` }).waitFor();
    assert.equal(urls.filter((url) => url.endsWith('/dashboard')).length, loads, 'no reload');
    // The count and the actions follow the change itself (the summary is asked again only 5 s
    // after a change); the reasons follow from that next summary.
    await page.waitForFunction(() => document.getElementById('count')?.textContent === '2');
    assert.match((await page.textContent('#by-action'))!, /block\s*1\s*challenge\s*1/);
    assert.equal(summaries(), summariesBefore, 'counted from the stream, not a new summary');
    await page.waitForFunction(
      (hostile) => document.getElementById('by-reason')?.textContent?.includes(hostile),
      HOSTILE,
      { timeout: 20_000 },
    );
    assert.ok(summaries() > summariesBefore);
  });

  it('removes a deleted decision live', async () => {
    await server.store.delete('ip:192.0.2.11', 'removed');
    await page.locator('#decisions tr[data-key="ip:192.0.2.11"]').waitFor({ state: 'detached' });
    await page.locator('#changes li', { hasText: 'del ip:192.0.2.11 block (removed)' }).waitFor();
    await page.waitForFunction(() => document.getElementById('count')?.textContent === '1');
    assert.match((await page.textContent('#by-action'))!, /block\s*0\s*challenge\s*1/);
  });

  it('shows a cache policy put afterwards without a reload', async () => {
    server.policies.apply(5, 'shop.example/img/*', policy('shop.example', '/img/*'));
    await page.locator('#policies td', { hasText: 'shop.example/img/*' }).waitFor();
    await page.locator('#changes li', { hasText: 'policy v6 put shop.example/img/*' }).waitFor();
  });

  it('keeps a cache policy put while a snapshot is on its way (the older snapshot does not undo it)', async () => {
    const other = await browser.newPage();
    try {
      const streams: string[] = [];
      other.on('request', (request) => {
        if (request.url().includes('/api/cache-policies/events?since=')) streams.push(request.url());
      });
      // The snapshot the page reloads after a change is held until a later change was shown.
      let snapshots = 0;
      await other.route('**/api/cache-policies', async (route) => {
        if (snapshots++ === 0) return route.continue();
        const response = await route.fetch();
        server.policies.apply(21, 'race.example/late/*', policy('race.example', '/late/*'));
        await other.locator('#policies td', { hasText: 'race.example/late/*' }).waitFor();
        return route.fulfill({ response });
      });
      await openDashboard(other, server.url, key);
      await other.locator('#policies td', { hasText: 'shop.example/img/*' }).waitFor();
      while (streams.length === 0) await other.waitForEvent('request');
      server.policies.apply(20, 'race.example/first/*', policy('race.example', '/first/*'));
      await other.locator('#policies td', { hasText: 'race.example/first/*' }).waitFor();
      // The reload 5 s later answers the snapshot of version 21 after version 22 was shown.
      await other.waitForResponse('**/api/cache-policies', { timeout: 20_000 });
      server.policies.apply(22, 'race.example/last/*', policy('race.example', '/last/*'));
      await other.locator('#policies td', { hasText: 'race.example/last/*' }).waitFor();
      assert.equal(snapshots, 2);
      const shown = await other.locator('#policies tbody td:first-child').allTextContents();
      assert.ok(shown.includes('race.example/late/*'), shown.join(', '));
      assert.match((await other.textContent('#policy-count'))!, /\(5 shown of 5, version 23\)/);
    } finally {
      await other.close();
    }
  });

  it('holds no listener of a wait that is over while its streams keep reconnecting', async () => {
    const other = await browser.newPage();
    try {
      // Abort listeners added to and removed from AbortSignals, counted in the page.
      await other.addInitScript(() => {
        const counted = window as unknown as { abortListeners: number };
        counted.abortListeners = 0;
        const proto = AbortSignal.prototype;
        const add = proto.addEventListener;
        const remove = proto.removeEventListener;
        proto.addEventListener = function (this: AbortSignal, ...args: Parameters<typeof add>) {
          if (args[0] === 'abort') counted.abortListeners++;
          return add.apply(this, args);
        };
        proto.removeEventListener = function (this: AbortSignal, ...args: Parameters<typeof remove>) {
          if (args[0] === 'abort') counted.abortListeners--;
          return remove.apply(this, args);
        };
      });
      // Every stream ends at once (as one cut by a proxy): the page waits, then reconnects.
      let opened = 0;
      let sixth: () => void;
      const sixOpened = new Promise<void>((resolve) => {
        sixth = resolve;
      });
      await other.route(/\/events\?since=/, (route) => {
        if (++opened === 6) sixth();
        return route.fulfill({ status: 200, contentType: 'text/event-stream', body: ': cut\n\n' });
      });
      await openDashboard(other, server.url, key);
      // Three connections of each stream: two waits of each are over (1 s, 2 s), one is running.
      await sixOpened;
      const held = await other.evaluate(
        () => (window as unknown as { abortListeners: number }).abortListeners,
      );
      assert.ok(held <= 2, `${held} abort listeners held (one per running wait expected)`);
    } finally {
      await other.close();
    }
  });

  it('explains a decision, without the requests for a bouncer key', async () => {
    await page.click('#decisions tr[data-key="ip:192.0.2.10"] button');
    const panel = page.locator('#decisions tr[data-why="ip:192.0.2.10"]');
    await panel.locator('p', { hasText: 'verdict challenge' }).waitFor();
    assert.match((await panel.textContent())!, /admin keys only/);
  });

  it('forgets a key the API refuses', async () => {
    const other = await browser.newPage();
    try {
      await openDashboard(other, server.url, 'eg_not-a-key');
      await other.locator('#status.error', { hasText: 'The API refused the key' }).waitFor();
      assert.equal(await other.evaluate(() => sessionStorage.getItem('edgeguard.apiKey')), null);
    } finally {
      await other.close();
    }
  });

  it('retries while the API cannot answer, then connects', async () => {
    const other = await browser.newPage();
    try {
      // The first summary answered as the API does while Redis is away.
      let refused = 0;
      await other.route('**/api/blocklist/summary', (route) => {
        if (refused++ > 0) return route.continue();
        return route.fulfill({
          status: 503,
          contentType: 'application/json',
          headers: { 'retry-after': '1' },
          body: JSON.stringify({ error: 'redis-unavailable', message: 'Redis did not answer' }),
        });
      });
      await openDashboard(other, server.url, key);
      await other
        .locator('#status.error', { hasText: 'redis-unavailable: Redis did not answer; retrying' })
        .waitFor();
      await other.locator('#decisions tr[data-key="ip:192.0.2.10"]').waitFor();
      assert.equal(refused, 2);
    } finally {
      await other.close();
    }
  });

  it('stops and forgets a key revoked while its streams are open', async () => {
    // A server checking revocations every 200 ms (15 s by default).
    await withOwnServer(
      browser,
      'dash-revoked',
      async (quick, other, revocable) => {
        let streams = 0;
        other.on('request', (request) => {
          if (request.url().includes('/events?since=')) streams++;
        });
        await openDashboard(other, quick.url, revocable);
        await other.locator('#status', { hasText: 'Connected at' }).waitFor();
        while (streams < 2) await other.waitForEvent('request');
        await quick.keys.revoke('dash-revoked');
        await other
          .locator('#status.error', {
            hasText: "The API refused the key: revoked-key: the API key 'dash-revoked' was revoked",
          })
          .waitFor({ timeout: 10_000 })
          .catch(async (error) => assert.fail(`${error}; status: ${await other.textContent('#status')}`));
        assert.equal(await other.evaluate(() => sessionStorage.getItem('edgeguard.apiKey')), null);
        // Both streams closed, none reopened.
        const deadline = Date.now() + 5_000;
        while (quick.hub.size > 0 && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(quick.hub.size, 0);
        assert.equal(streams, 2);
      },
      { hub: { pingIntervalMs: 200 } },
    );
  });

  it('reloads once after a resync: the summary it gets can be followed', async () => {
    // An empty store: the page follows from version 0, and the first write (versions seeded past
    // a new epoch) makes its stream resync; the summary asked then must not be the one from before.
    await withOwnServer(browser, 'dash-resync', async (fresh, other, reader) => {
      const asked: string[] = [];
      other.on('request', (request) => {
        if (/\/api\/blocklist\/(summary|events)/.test(request.url())) asked.push(request.url());
      });
      other.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      await openDashboard(other, fresh.url, reader);
      await other.locator('#status', { hasText: 'Connected at' }).waitFor();
      while (!asked.some((url) => url.includes('/events?since=0'))) await other.waitForEvent('request');
      await fresh.store.put(decision('ip', '192.0.2.77', { reason: 'resync-probe' }));
      await other.locator('#decisions tr[data-key="ip:192.0.2.77"]').waitFor();
      // Past the summary's reuse period (2 s) and the page's 1 s wait before reconnecting.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const resyncs = await other.locator('#changes li', { hasText: 'decisions: resync' }).count();
      assert.equal(resyncs, 1, asked.join('\n'));
      assert.equal(asked.filter((url) => url.endsWith('/api/blocklist/summary')).length, 2, asked.join('\n'));
      assert.equal(await other.textContent('#count'), '1');
    });
  });

  it('shows the reasons by count, a reason named "(other)" as itself and the rest in a row of its own', async () => {
    await withOwnServer(browser, 'dash-reasons', async (fresh, other, reader) => {
      // "(other)" 3 times, "scanner" twice, then 56 reasons once each ("7" first by name: an
      // integer-like name, which a JSON object lists before every other key).
      const decisions = [];
      for (let i = 0; i < 3; i++) decisions.push(decision('ip', `198.18.0.${i}`, { reason: '(other)' }));
      for (let i = 0; i < 2; i++) decisions.push(decision('ip', `198.18.1.${i}`, { reason: 'scanner' }));
      decisions.push(decision('ip', '198.18.2.0', { reason: '7' }));
      for (let i = 0; i < 55; i++)
        decisions.push(decision('ip', `198.18.3.${i}`, { reason: `r${String(i).padStart(3, '0')}` }));
      await fresh.store.putMany(decisions);
      await openDashboard(other, fresh.url, reader);
      await other.waitForFunction(() => document.getElementById('count')?.textContent === '61');
      const rows = await other
        .locator('#by-reason tbody tr')
        .evaluateAll((trs) =>
          trs.map((tr) => [...tr.children].map((cell) => `${cell.tagName}:${cell.textContent}`)),
        );
      assert.equal(rows.length, 21, JSON.stringify(rows));
      assert.deepEqual(rows.slice(0, 3), [
        ['TD:(other)', 'TD:3'],
        ['TD:scanner', 'TD:2'],
        ['TD:7', 'TD:1'],
      ]);
      assert.deepEqual(rows[19], ['TD:r016', 'TD:1']);
      // 30 more of the 50 reasons the summary lists, and 8 it only counted (byReasonRest).
      assert.deepEqual(rows[20], ['TH:30 more and all others', 'TD:38']);
    });
  });

  it('backs off while its stream keeps answering resync', async () => {
    const other = await browser.newPage();
    try {
      // Every blocklist stream answers resync at once (as a store that cannot be followed would).
      const opened: number[] = [];
      await other.route(/\/api\/blocklist\/events\?since=/, (route) => {
        opened.push(Date.now());
        return route.fulfill({
          status: 200,
          contentType: 'text/event-stream',
          body: 'event: resync\ndata: {"version":0,"epoch":0}\n\n',
        });
      });
      await openDashboard(other, server.url, key);
      while (opened.length === 0) await other.waitForEvent('request');
      await new Promise((resolve) => setTimeout(resolve, 4_500));
      // Waits of 1 s, 2 s, 5 s: opened at about 0, 1 and 3 s (every second: 5 times).
      const within = opened.filter((at) => at - opened[0]! < 4_500).length;
      assert.ok(within <= 3, `${within} streams opened in 4.5 s`);
    } finally {
      await other.close();
    }
  });

  it('drops a summary asked before a resync that answers after it', async () => {
    await withOwnServer(browser, 'dash-stale', async (fresh, other, reader) => {
      await fresh.store.put(decision('ip', '192.0.2.80', { reason: 'before' }));
      // The second summary (the one asked 5 s after a change) is read, then held.
      let summaries = 0;
      const [fetched, released, delivered] = [deferred(), deferred(), deferred()];
      await other.route('**/api/blocklist/summary', async (route) => {
        if (++summaries !== 2) return route.continue();
        const response = await route.fetch();
        fetched.resolve();
        await released.promise;
        await route.fulfill({ response });
        delivered.resolve();
      });
      let streams = 0;
      other.on('request', (request) => {
        if (request.url().includes('/api/blocklist/events?since=')) streams++;
      });
      await openDashboard(other, fresh.url, reader);
      await other.locator('#decisions tr[data-key="ip:192.0.2.80"]').waitFor();
      while (streams === 0) await other.waitForEvent('request');
      await fresh.store.put(decision('ip', '192.0.2.81', { reason: 'stale' }));
      await fetched.promise;
      // The store is rebuilt while that summary is on its way: the stream resyncs, the page reloads.
      await fresh.redis.del(...Object.values(fresh.store.keys));
      await fresh.store.put(decision('ip', '192.0.2.82', { reason: 'after' }));
      await other.locator('#changes li', { hasText: 'decisions: resync' }).waitFor();
      await other.locator('#decisions tr[data-key="ip:192.0.2.82"]').waitFor();
      await other.waitForFunction(() => document.getElementById('count')?.textContent === '1');
      released.resolve();
      await delivered.promise;
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(await other.textContent('#count'), '1');
      assert.doesNotMatch((await other.textContent('#by-reason'))!, /stale|before/);
      assert.deepEqual(
        await other
          .locator('#decisions tr[data-key]')
          .evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.key)),
        ['ip:192.0.2.82'],
      );
    });
  });

  it('never put the key in a URL and met no script error or CSP refusal', () => {
    assert.ok(urls.length > 0);
    for (const url of urls) assert.ok(!url.includes(key), url);
    assert.deepEqual(problems, []);
  });
});
