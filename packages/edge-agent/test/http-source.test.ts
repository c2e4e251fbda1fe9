import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Action, CachePolicy, Decision } from '@edgeguard/schema';
import { EdgeAgent } from '../src/agent.js';
import { HttpSource, type HttpSourceOptions } from '../src/http-source.js';
import { ContractServer } from './support/contract-server.js';

function decision(ip: string, action: Action = 'block', expiresInMs = 3_600_000): Decision {
  const now = Date.now();
  return {
    key: `ip:${ip}`,
    scope: 'ip',
    value: ip,
    action,
    reason: 'repetition',
    signals: [{ name: 'repetitionRatio', value: 0.95, threshold: 0.6 }],
    score: 3.2,
    decidedAt: now,
    expiresAt: now + expiresInMs,
    origin: 'auto',
    version: 1,
  };
}

function policy(path: string): CachePolicy {
  const now = Date.now();
  return {
    key: `shop.example${path}`,
    match: { host: 'shop.example', pathPattern: path },
    ttlSeconds: null,
    staleWhileRevalidateSeconds: null,
    staleIfErrorSeconds: null,
    maxStaleSeconds: null,
    collapse: null,
    cacheKey: { kind: 'drop' },
    reason: 'cache-bust',
    signals: [],
    decidedAt: now,
    expiresAt: now + 600_000,
    version: 1,
  };
}

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = check();
    if (value !== undefined) return value;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const running: Array<{ stop(): Promise<void> } | { close(): Promise<void> }> = [];
afterEach(async () => {
  for (const thing of running.splice(0).reverse()) await ('stop' in thing ? thing.stop() : thing.close());
});

async function setup(options: Partial<HttpSourceOptions> = {}, coldStart: 'open' | 'closed' = 'open') {
  const api = new ContractServer();
  const url = await api.listen();
  running.push(api);
  const agent = new EdgeAgent({
    source: new HttpSource({ url, apiKey: api.apiKey, backoff: { baseMs: 20, maxMs: 200 }, ...options }),
    coldStart,
  });
  running.push(agent);
  return { api, agent, url };
}

describe('HttpSource (native API contract)', () => {
  it('loads the snapshot, then sees a pushed decision, a deletion and a cache policy', async () => {
    const { api, agent } = await setup();
    api.addDecision(decision('203.0.113.7'));
    api.putPolicy(policy('/products/42'));
    await agent.start();
    await agent.whenReady(5000);
    assert.equal(agent.check({ ip: '203.0.113.7' }).verdict, 'block');
    assert.equal(agent.cachePolicy('shop.example', '/products/42')?.reason, 'cache-bust');

    const changes: unknown[] = [];
    agent.on('change', (change) => changes.push(change));
    api.addDecision(decision('198.51.100.9', 'challenge'));
    await until('the pushed decision', () =>
      agent.check({ ip: '198.51.100.9' }).verdict === 'challenge' ? true : undefined,
    );
    api.deleteDecision('ip:203.0.113.7');
    await until('the deletion', () =>
      agent.check({ ip: '203.0.113.7' }).verdict === 'allow' ? true : undefined,
    );
    assert.deepEqual(changes, [
      { feed: 'decisions', op: 'put', key: 'ip:198.51.100.9' },
      { feed: 'decisions', op: 'delete', key: 'ip:203.0.113.7' },
    ]);
    const stats = agent.stats();
    assert.equal(stats.counters.sseConnects >= 2, true);
    assert.equal(stats.counters.polls, 0, 'SSE works: no polling');
  });

  it('resumes from its version after the event stream drops (Last-Event-ID), missing nothing', async () => {
    const { api, agent } = await setup();
    api.addDecision(decision('192.0.2.1'));
    await agent.start();
    await agent.whenReady(5000);
    api.addDecision(decision('192.0.2.2'));
    await until('192.0.2.2', () => (agent.check({ ip: '192.0.2.2' }).verdict === 'block' ? true : undefined));
    const disconnected = new Promise((resolve) => agent.once('disconnected', resolve));
    api.dropStreams();
    // Changes made while the agent is away arrive after it reconnects.
    api.addDecision(decision('192.0.2.3'));
    api.addDecision(decision('192.0.2.4'));
    await until('192.0.2.4', () => (agent.check({ ip: '192.0.2.4' }).verdict === 'block' ? true : undefined));
    assert.equal(agent.check({ ip: '192.0.2.3' }).verdict, 'block');
    // It catches up by polling /changes while the stream is down, then opens the stream again.
    await until('the event stream reopened', () =>
      api.requests.filter((r) => r.path.startsWith('/api/blocklist/events')).length >= 2 ? true : undefined,
    );
    const reopened = api.requests.filter((r) => r.path.startsWith('/api/blocklist/events')).at(-1)!;
    assert.ok(Number(reopened.lastEventId) >= 2, 'resumed from the version it had, not from 0');
    for (const poll of api.requests.filter((r) => r.path.startsWith('/api/blocklist/changes')))
      assert.match(poll.path, /since=[2-9]/, 'polls resume from the version too');
    assert.equal(api.requests.filter((r) => r.path === '/api/blocklist').length, 1, 'no second snapshot');
    await Promise.race([disconnected, sleep(10)]);
  });

  it('takes a new snapshot on resync (store rebuilt), conditional on its ETag', async () => {
    const { api, agent } = await setup();
    api.addDecision(decision('192.0.2.10'));
    await agent.start();
    await agent.whenReady(5000);
    api.decisions.clear();
    api.decisions.set('ip:192.0.2.11', decision('192.0.2.11'));
    api.rebuild();
    await until('the rebuilt store', () =>
      agent.check({ ip: '192.0.2.11' }).verdict === 'block' ? true : undefined,
    );
    assert.equal(agent.check({ ip: '192.0.2.10' }).verdict, 'allow');
    const snapshots = api.requests.filter((r) => r.path === '/api/blocklist');
    assert.equal(snapshots.length, 2);
    assert.match(snapshots[1]!.ifNoneMatch ?? '', /^"1-\d+"$/);
    assert.ok(agent.stats().counters.resyncs >= 1);
  });

  it('falls back to polling /changes when the API has no event stream', async () => {
    const { api, agent } = await setup({ pollIntervalMs: 20 });
    api.sse = false;
    await agent.start();
    await agent.whenReady(5000);
    api.addDecision(decision('192.0.2.20', 'throttle'));
    await until('the polled decision', () =>
      agent.check({ ip: '192.0.2.20' }).verdict === 'throttle' ? true : undefined,
    );
    assert.ok(agent.stats().counters.polls > 0);
  });

  it('waits as long as Retry-After says when the API rate-limits it', async () => {
    const { api, agent } = await setup({ pollIntervalMs: 20, sse: false });
    await agent.start();
    await agent.whenReady(5000);
    api.rateLimitChanges = 1;
    const limitedAt = api.requests.length;
    api.addDecision(decision('192.0.2.25'));
    await until('the decision after the wait', () =>
      agent.check({ ip: '192.0.2.25' }).verdict === 'block' ? true : undefined,
    );
    const polls = api.requests.slice(limitedAt).filter((r) => r.path.startsWith('/api/blocklist/changes'));
    assert.ok(polls.length >= 2);
    const stamps = api.requestTimes.slice(limitedAt);
    const refusedAt =
      stamps[api.requests.slice(limitedAt).findIndex((r) => r.path.startsWith('/api/blocklist/changes'))]!;
    const retriedAt =
      stamps[
        api.requests
          .slice(limitedAt)
          .findIndex((r, i) => i > 0 && r.path.startsWith('/api/blocklist/changes'))
      ]!;
    assert.ok(retriedAt - refusedAt >= 950, `retried after ${retriedAt - refusedAt} ms`);
  });

  it('never swaps in a snapshot cut short, and retries', async () => {
    const { api, agent } = await setup();
    api.addDecision(decision('192.0.2.30'));
    api.addDecision(decision('192.0.2.31'));
    api.truncateSnapshot = true;
    await agent.start();
    await sleep(300);
    assert.equal(agent.ready, false);
    api.truncateSnapshot = false;
    await agent.whenReady(5000);
    assert.equal(agent.check({ ip: '192.0.2.31' }).verdict, 'block');
  });

  it('takes a snapshot whose lines differ from the announced count under churn, checked by its end line', async () => {
    const { api, agent } = await setup();
    api.addDecision(decision('192.0.2.40'));
    api.addDecision(decision('192.0.2.41'));
    // A decision removed while the API scanned its pages: announced, never sent.
    api.snapshotCountSkew = 1;
    await agent.start();
    await agent.whenReady(3000);
    assert.equal(agent.check({ ip: '192.0.2.41' }).verdict, 'block');
    assert.equal(api.requests.filter((r) => r.path === '/api/blocklist').length, 1, 'taken at once');
  });

  it('never swaps in a snapshot cut before its end line, even with every announced line', async () => {
    const { api, agent } = await setup();
    api.addDecision(decision('192.0.2.42'));
    api.cutBeforeTrailer = true;
    await agent.start();
    await sleep(300);
    assert.equal(agent.ready, false);
    assert.equal(agent.check({ ip: '192.0.2.42' }).verdict, 'allow', 'cold start, fail-open');
    api.cutBeforeTrailer = false;
    await agent.whenReady(5000);
    assert.equal(agent.check({ ip: '192.0.2.42' }).verdict, 'block');
  });

  it('checks the header count against an API without end lines, as before', async () => {
    const { api, agent } = await setup();
    api.endLines = false;
    api.addDecision(decision('192.0.2.43'));
    api.snapshotCountSkew = 1;
    await agent.start();
    await sleep(300);
    assert.equal(agent.ready, false, 'one line short of the count: refused');
    api.snapshotCountSkew = 0;
    await agent.whenReady(5000);
    assert.equal(agent.check({ ip: '192.0.2.43' }).verdict, 'block');
  });

  it('keeps its last state while the API is down, and still expires decisions offline', async () => {
    const { api, agent } = await setup();
    api.addDecision(decision('192.0.2.40', 'block', 400));
    api.addDecision(decision('192.0.2.41', 'block'));
    await agent.start();
    await agent.whenReady(5000);
    const disconnected = new Promise((resolve) => agent.once('disconnected', resolve));
    await api.close();
    running.splice(running.indexOf(api), 1);
    await disconnected;
    assert.equal(agent.check({ ip: '192.0.2.41' }).verdict, 'block', 'last state kept');
    await sleep(450);
    assert.equal(agent.check({ ip: '192.0.2.40' }).verdict, 'allow', 'expired while offline');
    assert.equal(agent.check({ ip: '192.0.2.41' }).verdict, 'block');
    assert.ok(agent.stats().counters.disconnects >= 1);
  });

  it('reports a stream ended for a revoked key as an auth error and keeps its state', async () => {
    const { api, agent } = await setup();
    api.addDecision(decision('192.0.2.44'));
    const errors: Error[] = [];
    agent.on('error', (error) => errors.push(error));
    await agent.start();
    await agent.whenReady(3000);
    await until('the event stream', () =>
      api.requests.some((r) => r.path.startsWith('/api/blocklist/events')) ? true : undefined,
    );
    api.apiKey = 'revoked';
    api.revokeStreams();
    await until('an auth error', () => (errors.length > 0 ? true : undefined));
    assert.match(errors[0]!.message, /revoked the key/);
    assert.equal(agent.check({ ip: '192.0.2.44' }).verdict, 'block', 'the last state is kept');
  });

  it('cold start: fail-open answers allow, fail-closed answers block until the first load', async () => {
    const open = await setup({ apiKey: 'wrong' }, 'open');
    const errors: Error[] = [];
    open.agent.on('error', (error) => errors.push(error));
    await open.agent.start();
    await until('an auth error', () => (errors.length > 0 ? true : undefined));
    assert.match(errors[0]!.message, /refused the key \(HTTP 401\)/);
    assert.equal(open.agent.check({ ip: '192.0.2.50' }).verdict, 'allow');
    assert.equal(open.agent.ready, false);

    const closed = await setup({}, 'closed');
    closed.api.addDecision(decision('192.0.2.51'));
    assert.deepEqual(closed.agent.check({ ip: '192.0.2.52' }), { verdict: 'block', decision: null });
    await closed.agent.start();
    await closed.agent.whenReady(5000);
    assert.equal(closed.agent.check({ ip: '192.0.2.52' }).verdict, 'allow');
    assert.equal(closed.agent.check({ ip: '192.0.2.51' }).verdict, 'block');
  });

  it('says once per feed that the API is unreachable at start, however often it retries', async () => {
    const api = new ContractServer();
    const url = await api.listen();
    await api.close(); // nothing listens there now
    const lines: Array<{ level: string; fields: { feed?: string }; message?: string }> = [];
    const log = (level: string) => (fields: object, message?: string) =>
      lines.push({ level, fields, message });
    const agent = new EdgeAgent({
      source: new HttpSource({ url, apiKey: 'k', backoff: { baseMs: 5, maxMs: 20 } }),
      coldStart: 'closed',
      logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    });
    running.push(agent);
    await agent.start();
    await until('several retries', () =>
      lines.filter((l) => l.level === 'debug').length >= 20 ? true : undefined,
    );
    const warnings = lines.filter((l) => l.level !== 'debug');
    assert.deepEqual(
      warnings.map((l) => `${l.level} ${l.fields.feed}`).sort(),
      ['warn allowlist', 'warn decisions', 'warn policies'],
      'one warning per feed, the retries at debug',
    );
    assert.match(warnings[0]!.message ?? '', /cannot load its feed yet; answering by its cold-start policy/);
    assert.equal(agent.check({ ip: '192.0.2.60' }).verdict, 'block', 'closed until loaded');
  });

  it('lets the allowlist win over any decision, including a fingerprint decision, and follows its changes', async () => {
    const { api, agent } = await setup({ allowlistIntervalMs: 50 });
    api.addDecision({
      ...decision('192.0.2.70'),
      key: 'fp:h1:0123456789ab',
      scope: 'fingerprint',
      value: 'h1:0123456789ab',
    });
    api.addDecision(decision('192.0.2.71'));
    api.allowlist = [{ cidr: '192.0.2.64/27', comment: 'office', createdAt: Date.now(), expiresAt: null }];
    await agent.start();
    await agent.whenReady(5000);
    assert.equal(
      agent.check({ ip: '192.0.2.71' }).verdict,
      'allow',
      'an address decision inside an allowed range',
    );
    assert.equal(agent.check({ ip: '192.0.2.65', fingerprint: 'h1:0123456789ab' }).verdict, 'allow');
    assert.equal(agent.check({ ip: '198.51.100.1', fingerprint: 'h1:0123456789ab' }).verdict, 'block');
    api.allowlist = [];
    await until('the entry removed', () =>
      agent.check({ ip: '192.0.2.71' }).verdict === 'block' ? true : undefined,
    );
    assert.ok(agent.stats().counters.allowlisted >= 2);
  });

  it('fail-closed opens once the blocklist and allowlist are loaded, even while the cache-policy feed fails', async () => {
    const { api, agent } = await setup({}, 'closed');
    api.addDecision(decision('192.0.2.80'));
    api.policiesBroken = true;
    await agent.start();
    await until('answers from the blocklist', () =>
      agent.check({ ip: '192.0.2.81' }).verdict === 'allow' ? true : undefined,
    );
    assert.equal(agent.check({ ip: '192.0.2.80' }).verdict, 'block');
    assert.equal(agent.ready, false, 'not ready: the cache policies are not loaded');
    api.policiesBroken = false;
    await agent.whenReady(5000);
  });

  it('keeps a bounded reason and signal list of a huge decision from the feed, and still enforces it', async () => {
    const { api, agent } = await setup();
    const huge = decision('192.0.2.90');
    huge.reason = `abuse ${'x'.repeat(500_000)}`;
    huge.signals = Array.from({ length: 10_000 }, (_, i) => ({ name: `s${i}`, value: i }));
    (huge.signals as unknown[]).unshift({ name: 'n'.repeat(1000), value: 1 }, 'junk', null);
    api.addDecision(huge);
    await agent.start();
    await agent.whenReady(5000);
    const { verdict, decision: stored } = agent.check({ ip: '192.0.2.90' });
    assert.equal(verdict, 'block');
    assert.equal(stored!.reason.length, 512);
    assert.ok(stored!.reason.startsWith('abuse xxx'));
    assert.equal(stored!.signals.length, 16, 'the first 16 well-formed signals');
    assert.deepEqual(stored!.signals[0], { name: 's0', value: 0 });
  });

  it('counts and skips malformed decisions instead of failing the feed', async () => {
    const { api, agent } = await setup();
    api.addDecision(decision('192.0.2.60'));
    api.decisions.set('ip:bogus', { ...decision('192.0.2.61'), value: 'not-an-address' });
    await agent.start();
    await agent.whenReady(5000);
    assert.equal(agent.check({ ip: '192.0.2.60' }).verdict, 'block');
    assert.equal(agent.stats().counters.rejected, 1);
  });
});
