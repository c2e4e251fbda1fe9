// Pure pieces of the API service: CrowdSec conversion, the cache-policy log, followers' catch-up.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Change, compareStrength, type DecisionStore } from '@edgeguard/decisions';
import { cidrOf, type IpAddress, parseCidr, parseIp } from '@edgeguard/netaddr';
import type { CachePolicy, Decision } from '@edgeguard/schema';
import { createLogger, Metrics } from '@edgeguard/telemetry';
import { crowdsecJson, decisionId, toCrowdsec } from '../src/crowdsec.js';
import { Follower, type Page } from '../src/follower.js';
import { DecisionMirror } from '../src/mirror.js';
import { CachePolicyState, MAX_POLICY_CHANGES } from '../src/policies.js';
import { RequestMetrics } from '../src/request-metrics.js';

const decision: Decision = {
  key: 'range:198.51.100.0/24',
  scope: 'range',
  value: '198.51.100.0/24',
  action: 'challenge',
  reason: 'swarm',
  signals: [],
  score: 1,
  decidedAt: 0,
  expiresAt: 14_398_500,
  origin: 'manual',
  version: 3,
};

describe('CrowdSec conversion', () => {
  it('maps actions, scopes, origins and the remaining time in Go duration syntax', () => {
    assert.deepEqual(toCrowdsec(decision, 0), {
      id: decisionId(decision.key, 3),
      origin: 'manual',
      type: 'captcha',
      scope: 'Range',
      value: '198.51.100.0/24',
      duration: '3h59m58.5s',
      scenario: 'edgeguard/swarm',
      until: new Date(14_398_500).toISOString(),
    });
    assert.equal(toCrowdsec(decision, 20_000_000).duration, '0ms', 'never negative while served');
  });

  it('builds the same JSON on the cached hot path, with the duration of each call', () => {
    assert.deepEqual(JSON.parse(crowdsecJson(decision, 0).json), toCrowdsec(decision, 0));
    assert.deepEqual(JSON.parse(crowdsecJson(decision, 60_000).json), toCrowdsec(decision, 60_000));
  });

  it('gives stable positive integer ids below 2^53, different per key and version', () => {
    const ids = new Set<number>();
    for (let v = 1; v <= 1000; v++) ids.add(decisionId(`ip:192.0.2.${v % 250}`, v));
    assert.equal(ids.size, 1000);
    for (const id of ids) assert.ok(Number.isSafeInteger(id) && id > 0);
    assert.equal(decisionId('ip:192.0.2.1', 7), decisionId('ip:192.0.2.1', 7));
  });
});

const policy = (key: string): CachePolicy => ({
  key,
  match: { host: 'example.com', pathPattern: '/x' },
  ttlSeconds: 60,
  staleWhileRevalidateSeconds: null,
  staleIfErrorSeconds: null,
  maxStaleSeconds: null,
  collapse: null,
  cacheKey: null,
  reason: 'test',
  signals: [],
  decidedAt: 0,
  expiresAt: 1,
  version: 1,
});

describe('CachePolicyState', () => {
  it('versions records by offset + 1 and serves changes since a version', () => {
    const state = new CachePolicyState();
    state.firstOffsetSeen = 4; // a compacted topic starts past offset 0
    state.apply(4, 'a', policy('a'));
    state.apply(7, 'b', policy('b'));
    state.apply(9, 'a', null);
    assert.equal(state.version, 10);
    assert.deepEqual([...state.policies.keys()], ['b']);
    const all = state.changesSince(0);
    assert.equal(all.resync, false, 'nothing trimmed: replaying from the start rebuilds the state');
    assert.deepEqual(
      all.changes.map((c) => [c.version, c.op, c.key]),
      [
        [5, 'put', 'a'],
        [8, 'put', 'b'],
        [10, 'del', 'a'],
      ],
    );
    assert.deepEqual(
      state.changesSince(8).changes.map((c) => c.version),
      [10],
    );
    assert.deepEqual(state.changesSince(10), { changes: [], version: 10, resync: false });
    assert.equal(state.changesSince(11).resync, true, 'ahead of the topic');
  });

  it('asks followers older than the changes kept to resync', () => {
    const state = new CachePolicyState();
    state.firstOffsetSeen = 0;
    for (let offset = 0; offset < MAX_POLICY_CHANGES + 10; offset++)
      state.apply(offset, `k${offset % 50}`, policy('p'));
    assert.equal(state.changesSince(0).resync, true);
    assert.equal(state.changesSince(5).resync, true);
    const recent = state.changesSince(state.version - 3);
    assert.equal(recent.resync, false);
    assert.equal(recent.changes.length, 3);
  });
});

class Collector extends Follower<{ version: number }> {
  applied: number[] = [];
  resyncs = 0;
  protected apply(change: { version: number }): undefined {
    this.applied.push(change.version);
    return undefined;
  }
  protected async resync(): Promise<void> {
    this.resyncs++;
    this.cursor = 100;
  }
  protected failed(error: Error): void {
    throw error;
  }
}

describe('Follower', () => {
  const logOf =
    (versions: number[]) =>
    async (since: number, limit: number): Promise<Page<{ version: number }>> => {
      const changes = versions
        .filter((v) => v > since)
        .slice(0, limit)
        .map((version) => ({ version }));
      return { changes, version: changes.at(-1)?.version ?? since, resync: false };
    };

  it('catches up from the log, then applies live batches; a gap makes it read the log again', async () => {
    const log = [1, 2, 3, 4, 5];
    const follower = new Collector(2, logOf(log));
    await follower.catchUp();
    assert.deepEqual(follower.applied, [3, 4, 5]);
    log.push(6, 7, 8);
    follower.onChanges([{ version: 6 }]);
    follower.onChanges([{ version: 5 }, { version: 6 }]); // repeats are ignored
    follower.onChanges([{ version: 8 }]); // 7 was missed: catch up from the log
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(follower.applied, [3, 4, 5, 6, 7, 8]);
  });

  it('holds live batches that arrive during a catch-up and applies them once, in order', async () => {
    const log = Array.from({ length: 2500 }, (_, i) => i + 1);
    let follower!: Collector;
    const slow = logOf(log);
    follower = new Collector(0, async (since, limit) => {
      const page = await slow(since, limit);
      if (since === 0) {
        log.push(2501, 2502);
        follower.onChanges([{ version: 2501 }, { version: 2502 }]); // live while catching up
      }
      return page;
    });
    await follower.catchUp();
    assert.equal(follower.applied.length, 2502);
    assert.deepEqual(follower.applied.slice(-3), [2500, 2501, 2502]);
    assert.ok(follower.applied.every((v, i) => v === i + 1));
  });

  it('resyncs when the log cannot serve its cursor', async () => {
    let first = true;
    const follower = new Collector(5, async (since) => {
      if (first) {
        first = false;
        return { changes: [], version: 100, resync: true };
      }
      return { changes: since < 101 ? [{ version: 101 }] : [], version: 101, resync: false };
    });
    await follower.catchUp();
    assert.equal(follower.resyncs, 1);
    assert.deepEqual(follower.applied, [101]);
  });
});

describe('DecisionMirror lookups', () => {
  const at = 1_000_000;
  let version = 0;
  const made = (scope: 'ip' | 'range', value: string, extra: Partial<Decision> = {}): Decision => ({
    key: `${scope}:${value}`,
    scope,
    value,
    action: 'block',
    reason: 'test',
    signals: [],
    score: 1,
    decidedAt: 0,
    expiresAt: at + 60_000,
    origin: 'auto',
    version: ++version,
    ...extra,
  });
  // What covers an address, by brute force: its own decision and every range containing it.
  const reference = (decisions: Iterable<Decision>, address: IpAddress, now: number) =>
    [...decisions]
      .filter((d) => d.expiresAt > now)
      .filter((d) => {
        if (d.scope === 'ip') return d.value === address.text;
        const cidr = parseCidr(d.value);
        return cidr.version === address.version && cidrOf(address, cidr.prefixLength).text === cidr.text;
      })
      .sort(compareStrength);

  it('finds every address and range decision covering an address (both halves of IPv4, IPv6), as a scan would', () => {
    const mirror = new DecisionMirror({} as DecisionStore, createLogger('test'), () => at);
    const live = new Map<string, Decision>();
    const apply = (change: Change) => {
      change.version = mirror.cursor + 1;
      mirror.onChanges([change]);
      if (change.op === 'add') live.set(change.key, change.decision);
      else live.delete(change.key);
    };
    const add = (d: Decision) => apply({ op: 'add', key: d.key, version: 0, decision: d });
    // Addresses below and above 2^31 (negative as signed 32-bit integers), ranges of many lengths.
    for (const ip of [
      '10.1.2.3',
      '127.255.255.255',
      '128.0.0.0',
      '203.0.113.7',
      '255.255.255.255',
      '0.0.0.0',
    ])
      add(made('ip', ip, { action: ip.startsWith('2') ? 'challenge' : 'block' }));
    for (const range of [
      '10.0.0.0/8',
      '10.1.0.0/16',
      '203.0.113.0/24',
      '203.0.112.0/20',
      '128.0.0.0/1',
      '0.0.0.0/0',
    ])
      add(made('range', range, { action: range.endsWith('/24') ? 'throttle' : 'block' }));
    add(made('range', '255.255.255.255/32'));
    add(made('ip', '2001:db8::7'));
    add(made('range', '2001:db8::/48', { action: 'challenge' }));
    add(made('range', '2001:db8:0:1::/64'));
    add(made('ip', '198.51.100.9', { expiresAt: at })); // expired: never answered
    const queries = [
      '10.1.2.3',
      '10.1.2.4',
      '10.200.0.1',
      '127.255.255.255',
      '128.0.0.0',
      '203.0.113.7',
      '203.0.113.200',
      '203.0.127.1',
      '255.255.255.255',
      '0.0.0.0',
      '198.51.100.9',
      '2001:db8::7',
      '2001:db8:0:1::5',
      '2001:db9::1',
    ];
    const check = (when: string) => {
      for (const text of queries) {
        const address = parseIp(text)!;
        const expected = reference(live.values(), address, at).map((d) => d.key);
        assert.deepEqual(
          mirror.lookupAddress(address).map((d) => d.key),
          expected,
          `${text} ${when}`,
        );
        assert.deepEqual(
          mirror.lookupIp(text).map((d) => d.key),
          expected,
          `${text} by text ${when}`,
        );
      }
    };
    check('after adds');
    assert.ok(mirror.lookupIp('203.0.113.7').length >= 4, 'an address under several ranges finds them all');
    // Replaced (same key, new decision), deleted, and re-added decisions.
    add(made('ip', '203.0.113.7', { action: 'throttle' }));
    add(made('range', '128.0.0.0/1', { expiresAt: at - 1 }));
    for (const key of ['ip:128.0.0.0', 'range:10.1.0.0/16', 'ip:2001:db8::7', 'range:2001:db8::/48'])
      apply({ op: 'del', key, version: 0, reason: 'test' });
    check('after replacements and deletes');
    add(made('ip', '128.0.0.0'));
    add(made('range', '10.1.0.0/16'));
    check('after re-adds');
    assert.equal(mirror.size, live.size);
  });
});

describe('RequestMetrics', () => {
  it('writes /metrics exactly as prom-client’s Counter and Histogram fed the same responses', async () => {
    const bounds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1];
    const names = {
      requests: 'edgeguard_api_requests_total',
      requestsHelp: 'HTTP requests by route and status',
      latency: 'edgeguard_api_request_duration_seconds',
      latencyHelp: 'Time to the response head, by route',
    };
    const reference = new Metrics('api');
    const counter = reference.counter(names.requests, names.requestsHelp, ['route', 'method', 'status']);
    const histogram = reference.histogram(names.latency, names.latencyHelp, ['route'], bounds);
    const ours = new Metrics('api');
    const metrics = new RequestMetrics(ours.registry, names, bounds);
    const lookup = metrics.route('/v1/decisions');
    const unmatched = metrics.route('unmatched');
    metrics.route('/healthz'); // registered, never answered: absent from both
    const responses: Array<[string, string, number, number]> = [
      ['unmatched', 'GET', 404, 0.0002],
      ['/v1/decisions', 'GET', 200, 0.0005], // on a bound: that bucket
      ['/v1/decisions', 'GET', 200, 0.00051],
      ['/v1/decisions', 'HEAD', 200, 0.003],
      ['/v1/decisions', 'GET', 401, 0.0001],
      ['/v1/decisions', 'GET', 200, 2.5], // past the last bound: +Inf only
      ['unmatched', 'GET', 414, 0.07],
      ['/v1/decisions', 'GET', 200, 1 / 3],
    ];
    for (const [route, method, status, seconds] of responses) {
      counter.inc({ route, method, status: String(status) });
      histogram.observe({ route }, seconds);
      (route === 'unmatched' ? unmatched : lookup).record(method, status, seconds);
    }
    for (const name of [names.requests, names.latency]) {
      const expected = await reference.registry.getSingleMetricAsString(name);
      assert.equal(await ours.registry.getSingleMetricAsString(name), expected);
      assert.match(expected, /route="\/v1\/decisions"/);
    }
    const full = await ours.text();
    assert.match(
      full,
      /^edgeguard_api_requests_total\{route="unmatched",method="GET",status="414",service="api"\} 1$/m,
    );
    assert.match(
      full,
      /^edgeguard_api_request_duration_seconds_count\{service="api",route="\/v1\/decisions"\} 6$/m,
    );
    ours.registry.resetMetrics();
    reference.registry.resetMetrics();
    lookup.record('GET', 200, 0.002);
    counter.inc({ route: '/v1/decisions', method: 'GET', status: '200' });
    histogram.observe({ route: '/v1/decisions' }, 0.002);
    for (const name of [names.requests, names.latency])
      assert.equal(
        await ours.registry.getSingleMetricAsString(name),
        await reference.registry.getSingleMetricAsString(name),
        `${name} after a reset`,
      );
  });
});
