import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prefixOf } from '@edgeguard/netaddr';
import type { AccessLog } from '@edgeguard/schema';
import { withDefaults } from '../src/config.js';
import { hashContent } from '../src/hash.js';
import type { ClientSignal, ContentPartial, FingerprintPartial, TrafficTick } from '../src/messages.js';
import { Profiler, type ProfilerSink } from '../src/profiler.js';
import { CURL, GOOGLEBOT, humanSession, merge, request, T0, testDeps } from './helpers.js';

class Collect implements ProfilerSink {
  signals: ClientSignal[] = [];
  fingerprints: FingerprintPartial[] = [];
  content: ContentPartial[] = [];
  ticks: TrafficTick[] = [];
  clientSignal(s: ClientSignal): void {
    this.signals.push(s);
  }
  fingerprintPartial(p: FingerprintPartial): void {
    this.fingerprints.push(p);
  }
  contentPartial(p: ContentPartial): void {
    this.content.push(p);
  }
  tick(t: TrafficTick): void {
    this.ticks.push(t);
  }
  reasonsOf(ip: string): string[] {
    return [
      ...new Set(this.signals.filter((s) => s.ip === ip && s.reason !== 'bot-shaped').map((s) => s.reason)),
    ];
  }
}

function profile(
  logs: Iterable<AccessLog>,
  overrides = {},
  allowlisted: string[] = [],
): { sink: Collect; profiler: Profiler } {
  const profiler = new Profiler(withDefaults(overrides), testDeps, 0, 1, (ip) => allowlisted.includes(ip));
  const sink = new Collect();
  for (const log of logs) profiler.observe(log, sink);
  profiler.finish(sink);
  return { sink, profiler };
}

test('a client asking for the same few pages over and over, without assets, is flagged for repetition', () => {
  const logs = Array.from({ length: 40 }, (_, i) =>
    request({ time: T0 + i * 700, clientAddress: '203.0.113.9', path: `/deals/${i % 3}` }),
  );
  const { sink } = profile(logs);
  const signal = sink.signals.find((s) => s.reason === 'repetition');
  assert.ok(signal, JSON.stringify(sink.signals.map((s) => s.reason)));
  const ratio = signal.signals.find((s) => s.name === 'repetitionRatio')!;
  assert.ok(ratio.value >= ratio.threshold!, JSON.stringify(ratio));
  assert.ok(signal.score >= 2);
  assert.equal(signal.botShaped, true);
  assert.equal(signal.humanLooking, false);
});

test('a person browsing pages with their assets and referers sends no signal at all', () => {
  const { sink } = profile(humanSession('198.51.100.20', T0, 30));
  assert.deepEqual(sink.signals, []);
});

test('a NAT address carrying many browsing people is busy but not flagged', () => {
  const sessions = Array.from({ length: 60 }, (_, i) =>
    humanSession(
      '100.64.1.1',
      T0 + i * 3_000,
      12,
      `Mozilla/5.0 (X11; Linux x86_64; rv:${100 + i}.0) Firefox/${100 + i}.0`,
    ),
  );
  const { sink } = profile(merge(...sessions));
  assert.deepEqual(sink.reasonsOf('100.64.1.1'), []);
});

test('probing for secrets and admin panels is flagged as a scanner', () => {
  const probes = [
    '/.env',
    '/.git/config',
    '/wp-login.php',
    '/phpmyadmin/',
    '/backup.sql',
    '/.aws/credentials',
  ];
  const logs = probes.map((path, i) =>
    request({ time: T0 + i * 300, clientAddress: '192.0.2.66', path, status: 404, userAgent: CURL }),
  );
  const { sink } = profile(logs);
  assert.deepEqual(sink.reasonsOf('192.0.2.66'), ['scanner']);
  const last = sink.signals.at(-1)!;
  assert.equal(last.score, 3, 'four probes in quick succession score a block');
  const hits = last.signals.find((s) => s.name === 'sensitiveHits')!;
  assert.ok(hits.value >= hits.threshold!);
});

test('new random query strings on a page the client already asked for, missing the cache, are cache-busting', () => {
  const logs = Array.from({ length: 30 }, (_, i) =>
    request({
      time: T0 + i * 500,
      clientAddress: '203.0.113.50',
      path: '/products/18',
      query: `_=${1705827600000 + i * 517}`,
      cacheStatus: 'MISS',
    }),
  );
  const { sink } = profile(logs);
  assert.ok(
    sink.reasonsOf('203.0.113.50').includes('cache-bust'),
    JSON.stringify(sink.reasonsOf('203.0.113.50')),
  );
});

test('the same query string again, or one the cache answered, is not busting', () => {
  const logs = Array.from({ length: 30 }, (_, i) =>
    request({
      time: T0 + i * 2_000,
      clientAddress: '198.51.100.30',
      path: '/search',
      query: `q=shoes&page=${(i % 3) + 1}`,
      cacheStatus: i % 2 ? 'HIT' : 'MISS',
    }),
  );
  const { sink } = profile(logs);
  assert.ok(!sink.reasonsOf('198.51.100.30').includes('cache-bust'));
});

test('failed logins from one address are credential stuffing', () => {
  const logs = Array.from({ length: 8 }, (_, i) =>
    request({
      time: T0 + i * 2_000,
      clientAddress: '192.0.2.77',
      method: 'POST',
      path: '/login',
      status: 401,
    }),
  );
  const { sink } = profile(logs);
  assert.deepEqual(sink.reasonsOf('192.0.2.77'), ['credential-stuffing']);
});

test('a Googlebot from an address Google does not publish, scraping fast, is a fake crawler', () => {
  const logs = Array.from({ length: 60 }, (_, i) =>
    request({
      time: T0 + i * 400,
      clientAddress: '45.148.10.20',
      path: `/products/${i}`,
      userAgent: GOOGLEBOT,
    }),
  );
  const { sink } = profile(logs);
  assert.ok(sink.reasonsOf('45.148.10.20').includes('fake-crawler'));
});

test('allowlisted clients are profiled but never signalled', () => {
  const logs = Array.from({ length: 60 }, (_, i) =>
    request({
      time: T0 + i * 400,
      clientAddress: '66.249.66.1',
      path: `/products/${i}`,
      userAgent: GOOGLEBOT,
    }),
  );
  const { sink, profiler } = profile(logs, {}, ['66.249.66.1']);
  assert.deepEqual(sink.signals, []);
  assert.equal(profiler.getStats().observed, 60);
});

test('events older than the newest minus the allowed lateness are counted late and dropped', () => {
  const logs = [
    request({ time: T0 + 120_000, clientAddress: '198.51.100.1' }),
    request({ time: T0 + 100_000, clientAddress: '198.51.100.1' }), // 20 s late: kept
    request({ time: T0, clientAddress: '198.51.100.1' }), // 120 s late: dropped
  ];
  const { sink, profiler } = profile(logs);
  assert.equal(profiler.getStats().late, 1);
  assert.equal(profiler.getStats().observed, 2);
  assert.equal(
    sink.ticks.reduce((n, t) => n + t.late, 0),
    1,
  );
});

test('partials are pre-aggregated: one per key per flush interval, not one per request', () => {
  const logs = Array.from({ length: 1_000 }, (_, i) =>
    request({ time: T0 + i * 10, clientAddress: `198.51.100.${i % 50}`, path: `/p/${i % 5}` }),
  );
  // (A cap of requests per client in fingerprint partials past the 20 each sends here.)
  const { sink } = profile(logs, { fingerprint: { swarm: { minRequestsPerClient: 20 } } });
  // 10 s of traffic, 1 s flushes: ≤ 11 flushes × 5 content keys.
  assert.ok(sink.content.length <= 55, `${sink.content.length} content partials`);
  assert.equal(
    sink.content.reduce((n, p) => n + p.requests, 0),
    1_000,
  );
  assert.equal(
    sink.fingerprints.reduce((n, p) => n + p.requests, 0),
    1_000,
  );
  // Each client counted once per aggregate window in its fingerprint's partials.
  assert.equal(
    sink.fingerprints.reduce((n, p) => n + p.clients, 0),
    50,
  );
  assert.ok(sink.ticks.length >= 10 && sink.ticks.length <= 11);
});

test("a client's requests count in its fingerprint's partials up to twice the swarm's requests per client per window", () => {
  // One client polling five times a second for two minutes, three others once every 20 s.
  const logs = merge(
    Array.from({ length: 600 }, (_, i) =>
      request({ time: T0 + i * 200, clientAddress: '198.51.100.1', path: `/api/${i % 3}`, userAgent: CURL }),
    ),
    ...[2, 3, 4].map((c) =>
      Array.from({ length: 6 }, (_, k) =>
        request({
          time: T0 + c * 100 + k * 20_000,
          clientAddress: `198.51.100.${c}`,
          path: `/api/${k % 3}`,
          userAgent: CURL,
        }),
      ),
    ),
  );
  const { sink } = profile(logs);
  const sum = (field: 'requests' | 'pages' | 'pathRepeats') =>
    sink.fingerprints.reduce((n, p) => n + p[field], 0);
  // The busy client: 10 in each of its two 60 s windows; the others all of theirs.
  assert.equal(sum('requests'), 10 + 10 + 3 * 6);
  assert.equal(sum('pages'), sum('requests'));
  assert.ok(sum('pathRepeats') < sum('requests'));
  // Its own profile still counts every request (and flags it).
  assert.ok((sink.signals.filter((s) => s.ip === '198.51.100.1').at(-1)?.requests ?? 0) > 400);
});

test('a new session (30 min idle) starts with no recent keys, and reuses its block of paths', () => {
  const paths = Array.from({ length: 10 }, (_, i) => `/p/${i}`);
  const sessions = 50;
  // Each session: ten distinct paths, then the same ten again; 31 min apart.
  const logs = Array.from({ length: sessions }, (_, n) =>
    [...paths, ...paths].map((path, i) =>
      request({
        time: T0 + n * 31 * 60_000 + i * 1_000,
        clientAddress: '203.0.113.90',
        path,
        userAgent: CURL,
      }),
    ),
  ).flat();
  const { sink, profiler } = profile(logs, { fingerprint: { swarm: { minRequestsPerClient: 20 } } });
  // Only the second pass of each session repeats: the first is new to the session.
  assert.equal(
    sink.fingerprints.reduce((n, p) => n + p.pathRepeats, 0),
    sessions * paths.length,
  );
  // One block of paths, taken again each session (given back when the session ended).
  assert.equal((profiler as unknown as { store: { blocks: number } }).store.blocks, 1);
});

test("a client counts once per window in its fingerprint's flagged clients, however often its score crosses the bar", () => {
  // Two probes (flagged), a page 25 s later (the probes decayed: no longer flagged), a probe
  // (flagged again), a page: all within one aggregate window.
  const at = (s: number, path: string) =>
    request({ time: T0 + s * 1_000, clientAddress: '192.0.2.66', path, userAgent: CURL });
  const logs = [at(0, '/.env'), at(1, '/.git/config'), at(25, '/'), at(30, '/backup.sql'), at(31, '/about')];
  const { sink } = profile(logs);
  assert.equal(
    sink.fingerprints.reduce((n, p) => n + p.flaggedClients, 0),
    1,
  );
  assert.equal(
    sink.fingerprints.reduce((n, p) => n + p.clients, 0),
    1,
  );
});

test('a flood from many distinct addresses never holds more than maxClients profiles', () => {
  const logs = Array.from({ length: 20_000 }, (_, i) =>
    request({ time: T0 + i, clientAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }),
  );
  const { profiler } = profile(logs, { bounds: { maxClients: 1_000 } });
  const stats = profiler.getStats();
  assert.ok(stats.clients <= 1_000, `${stats.clients} clients held`);
  assert.equal(stats.clientsEvicted, 19_000);
});

test('a shared address switching between many browsers counts once per fingerprint per window', () => {
  const uas = Array.from({ length: 20 }, (_, i) => `Mozilla/5.0 Firefox/${100 + i}.0`);
  const logs = Array.from({ length: 2_000 }, (_, i) =>
    request({ time: T0 + i * 20, clientAddress: '100.64.9.9', userAgent: uas[i % 20]!, path: `/a/${i % 7}` }),
  );
  const { sink } = profile(logs);
  // 40 s of traffic (< one 60 s window): each of the 20 fingerprints counts the address once.
  assert.equal(
    sink.fingerprints.reduce((n, p) => n + p.clients, 0),
    20,
  );
});

test('a client repeating a path it asked for before its last recentPathsPerClient paths is not repeating', () => {
  const paths = ['/a', '/b', '/c', '/d', '/e', '/a', '/e', '/d'];
  const logs = paths.map((path, i) => request({ time: T0 + i * 10, clientAddress: '203.0.113.50', path }));
  const { sink } = profile(logs, { bounds: { recentPathsPerClient: 4 } });
  // '/a' had left the last four distinct paths; '/e' and '/d' had not.
  assert.equal(
    sink.fingerprints.reduce((n, p) => n + p.pathRepeats, 0),
    2,
  );
});

test("an address taking an evicted client's place starts with no recent paths of its own", () => {
  const logs = [
    request({ time: T0, clientAddress: '203.0.113.60', path: '/x' }),
    request({ time: T0 + 10, clientAddress: '203.0.113.61', path: '/x', query: 'q=1' }),
    request({ time: T0 + 20, clientAddress: '203.0.113.62', path: '/y', query: 'q=1' }),
  ];
  const { sink, profiler } = profile(logs, { bounds: { maxClients: 1 } });
  assert.equal(profiler.getStats().clientsEvicted, 2);
  assert.equal(
    sink.fingerprints.reduce((n, p) => n + p.pathRepeats + p.repeats, 0),
    0,
  );
  assert.equal(
    sink.content.reduce((n, p) => n + p.newVisitors, 0),
    3,
  );
});

test('each tick counts a prefix once, also after the prefix table started over', () => {
  // Five /24s in the first second (more than maxClients: the prefix table starts over at that
  // flush), then two clients of one of them a minute later: one entry with both.
  const first = [1, 2, 3, 4, 5].map((n) => request({ time: T0, clientAddress: `10.0.${n}.1` }));
  const later = [
    request({ time: T0 + 61_000, clientAddress: '10.0.5.1' }),
    request({ time: T0 + 61_000, clientAddress: '10.0.5.2' }),
  ];
  const { sink } = profile([...first, ...later], { bounds: { maxClients: 4 } });
  const counted = sink.ticks.filter((t) => t.prefixes.length > 0);
  assert.deepEqual(
    counted.map((t) => t.prefixes.map((p) => `${p.prefix}:${p.clients}`)),
    [
      ['10.0.1.0/24:1', '10.0.2.0/24:1', '10.0.3.0/24:1', '10.0.4.0/24:1', '10.0.5.0/24:1'],
      ['10.0.5.0/24:2'],
    ],
  );
});

test('prefixes looked up by number (DetectDeps.ipv4PrefixBits) count as those looked up by text', () => {
  // Several clients per /24 (and per /16), IPv6 and IPv4-mapped clients, a prefix table that
  // starts over (maxClients 4), with and without the hint, at two prefix lengths.
  const addresses = ['10.0.1.1', '10.0.1.2', '10.0.2.1', '2001:db8::1', '2001:db8::2', '::ffff:10.0.1.3'];
  const logs = [0, 1, 2].flatMap((round) =>
    [...addresses, `10.${round}.9.1`, `10.${round}.1.7`].map((ip, k) =>
      request({ time: T0 + round * 61_000 + k, clientAddress: ip }),
    ),
  );
  for (const bits of [24, 16]) {
    const run = (deps: typeof testDeps) => {
      const profiler = new Profiler(withDefaults({ bounds: { maxClients: 4 } }), deps, 0, 1);
      const sink = new Collect();
      for (const log of logs) profiler.observe(log, sink);
      profiler.finish(sink);
      return sink;
    };
    const byText = { ...testDeps, prefixOf: (ip: string) => prefixOf(ip, bits), ipv4PrefixBits: undefined };
    const expected = run(byText);
    assert.ok(expected.ticks.some((t) => t.prefixes.some((p) => p.clients > 1)));
    assert.deepEqual(run({ ...byText, ipv4PrefixBits: bits }), expected, `/${bits}`);
  }
});

test("each flush's partials hold only that flush's requests, paths and content keys", () => {
  const logs = [
    request({ time: T0, clientAddress: '203.0.113.70', path: '/a' }),
    request({ time: T0 + 1_500, clientAddress: '203.0.113.70', path: '/b' }),
    request({ time: T0 + 1_600, clientAddress: '203.0.113.71', path: '/b' }),
  ];
  const { sink } = profile(logs);
  assert.deepEqual(
    sink.fingerprints.map((p) => [p.requests, p.paths.length, p.clients]),
    [
      [1, 1, 1],
      [2, 1, 1],
    ],
  );
  assert.deepEqual(
    sink.content.map((p) => `${p.path}:${p.requests}`),
    ['/a:1', '/b:2'],
  );
});

test('after the path table starts over, a content key has one accumulator per flush again (its front cache too)', () => {
  // The slot of a path in the profiler's front cache of path entries: low 14 bits of its key.
  const cacheSlot = (path: string) => hashContent('shop.example', path) & 0x3fff;
  let other = 0;
  while (cacheSlot(`/q${other}`) !== cacheSlot('/p')) other++;
  const logs = [request({ time: T0, clientAddress: '203.0.113.90', path: '/p' })];
  // More distinct paths than the table keeps (PATH_ENTRIES), none in the cache slot of /p: the
  // table starts over at the next flush, with the entry of /p still in the cache.
  for (let i = 0; i < 70_000; i++) {
    const path = `/x${i}`;
    if (cacheSlot(path) !== cacheSlot('/p'))
      logs.push(request({ time: T0, clientAddress: '203.0.113.91', path }));
  }
  // Then /p twice, with a path taking its cache slot in between.
  logs.push(
    request({ time: T0 + 1_000, clientAddress: '203.0.113.92', path: '/p' }),
    request({ time: T0 + 1_000, clientAddress: '203.0.113.93', path: `/q${other}` }),
    request({ time: T0 + 1_000, clientAddress: '203.0.113.94', path: '/p' }),
  );
  const { sink } = profile(logs);
  assert.deepEqual(
    sink.content.filter((c) => c.path === '/p').map((c) => c.requests),
    [1, 2],
  );
});

test('clients sharing a user agent but not its language or header order get their own fingerprints', () => {
  const logs = [
    request({ time: T0, clientAddress: '203.0.113.80', acceptLanguage: 'en' }),
    request({ time: T0 + 10, clientAddress: '203.0.113.81', acceptLanguage: 'fr' }),
    request({
      time: T0 + 20,
      clientAddress: '203.0.113.82',
      acceptLanguage: 'en',
      headerOrder: 'host,accept',
    }),
    request({ time: T0 + 30, clientAddress: '203.0.113.83', acceptLanguage: 'en' }),
  ];
  const deps = {
    ...testDeps,
    httpFingerprint: (log: AccessLog) => `${log.acceptLanguage}|${log.headerOrder}`,
  };
  const profiler = new Profiler(withDefaults({}), deps);
  const sink = new Collect();
  for (const log of logs) profiler.observe(log, sink);
  profiler.finish(sink);
  assert.deepEqual(
    sink.fingerprints.map((p) => `${p.fingerprint}:${p.clients}`),
    ['en|null:2', 'fr|null:1', 'en|host,accept:1'],
  );
});

test('a client asking for many distinct paths remembers the last recentPathsPerClient of them', () => {
  const paths = [...Array.from({ length: 10 }, (_, i) => `/p/${i}`), '/p/0', '/p/5', '/p/9'];
  const repeats = (recentPathsPerClient: number, maxClients = 100) => {
    // Two clients in turn on one slot when maxClients is 1: the second starts afresh.
    const logs = ['203.0.113.90', '203.0.113.91'].flatMap((clientAddress, c) =>
      paths.map((path, i) => request({ time: T0 + c * 500 + i * 10, clientAddress, path })),
    );
    const { sink } = profile(logs, {
      bounds: { recentPathsPerClient, maxClients },
      fingerprint: { swarm: { minRequestsPerClient: 20 } },
    });
    return sink.fingerprints.reduce((n, p) => n + p.pathRepeats, 0);
  };
  assert.equal(repeats(32), 6);
  assert.equal(repeats(32, 1), 6);
  // '/p/0' had left the last six distinct paths.
  assert.equal(repeats(6), 4);
  assert.equal(repeats(3), 2);
});

test('clients whose requests wait for the flush are judged there in the order of their first request; an evicted one is not', () => {
  const probes = ['/.env', '/.git/config', '/backup.sql', '/.aws/credentials', '/phpinfo.php', '/.htpasswd'];
  // The first request is judged at once (nothing to see yet); the probes wait for the flush.
  const overrides = {
    client: { evaluateFirstRequests: 1, evaluateEveryRequests: 1_000, evaluateEveryMs: 60_000 },
  };
  const a = '203.0.113.1';
  const b = '203.0.113.2';
  const logs = [
    request({ time: T0, clientAddress: a, path: '/' }),
    request({ time: T0 + 1, clientAddress: b, path: '/' }),
    ...probes.map((path, k) => request({ time: T0 + 10 + k, clientAddress: b, path })),
    ...probes.map((path, k) => request({ time: T0 + 100 + k, clientAddress: a, path })),
  ];
  const scanners = (sink: Collect) => sink.signals.filter((s) => s.reason === 'scanner').map((s) => s.ip);
  assert.deepEqual(scanners(profile(logs, overrides).sink), [a, b]);

  // A third address in the same second takes a's slot: a is not judged at the flush, b still is.
  const crowded = [...logs, request({ time: T0 + 200, clientAddress: '203.0.113.3', path: '/' })];
  const { sink, profiler } = profile(crowded, { ...overrides, bounds: { maxClients: 2 } });
  assert.equal(profiler.getStats().clientsEvicted, 1);
  assert.deepEqual(scanners(sink), [b]);
});

test('slot attachments: a number per client slot, for the request observed last only, 0 for a new client in a reused slot', () => {
  // maxClients 4: the fifth address takes the least recently seen client's slot.
  const profiler = new Profiler(withDefaults({ bounds: { maxClients: 4 } }), testDeps, 0, 1);
  const sink = new Collect();
  const slotOf: Record<string, number> = {};
  for (let k = 0; k < 4; k++) {
    const log = request({ time: T0 + k, clientAddress: `203.0.113.${k}` });
    assert.equal(profiler.slotOf(log), -1, 'not observed yet');
    profiler.observe(log, sink);
    const slot = profiler.slotOf(log);
    assert.ok(slot >= 0);
    assert.equal(profiler.attachment(slot), 0, 'a new client has none');
    profiler.setAttachment(slot, 100 + k);
    slotOf[log.clientAddress] = slot;
  }
  // The same client again: same slot, its number kept; an equal but other request object: -1.
  const again = request({ time: T0 + 10, clientAddress: '203.0.113.1' });
  profiler.observe(again, sink);
  assert.equal(profiler.slotOf(again), slotOf['203.0.113.1']);
  assert.equal(profiler.attachment(slotOf['203.0.113.1']!), 101);
  assert.equal(profiler.slotOf({ ...again }), -1);
  // A new client evicts 203.0.113.0 (least recently seen): its slot starts at 0 again.
  const newcomer = request({ time: T0 + 20, clientAddress: '198.51.100.7' });
  profiler.observe(newcomer, sink);
  const reused = profiler.slotOf(newcomer);
  assert.equal(reused, slotOf['203.0.113.0']);
  assert.equal(profiler.attachment(reused), 0);
  // The other clients keep theirs.
  for (const k of [1, 2, 3]) assert.equal(profiler.attachment(slotOf[`203.0.113.${k}`]!), 100 + k);
  // A request dropped as late has no slot.
  const late = request({ time: T0 - 3_600_000, clientAddress: '203.0.113.2' });
  profiler.observe(late, sink);
  assert.equal(profiler.slotOf(late), -1);
});

/** A path of `length` characters (`/long/<n>/xxx…`), distinct per `n`. */
function longPath(n: number, length: number): string {
  const head = `/long/${n}/`;
  return head + 'x'.repeat(length - head.length);
}

test('over-long paths are no content keys, but their requests still count for the client', () => {
  // 600 + 12 characters of host: over the 512 of bounds.maxContentKeyLength.
  const repeater = Array.from({ length: 40 }, (_, i) =>
    request({ time: T0 + i * 700, clientAddress: '203.0.113.9', path: longPath(i % 3, 600) }),
  );
  const buster = Array.from({ length: 30 }, (_, i) =>
    request({
      time: T0 + i * 500,
      clientAddress: '203.0.113.50',
      path: longPath(7, 600),
      query: `_=${1705827600000 + i * 517}`,
      cacheStatus: 'MISS',
    }),
  );
  // A probe padded past the limit is still a probe (classified on its full path).
  const probes = Array.from({ length: 6 }, (_, i) =>
    request({
      time: T0 + i * 1_000,
      clientAddress: '192.0.2.66',
      path: `${longPath(100 + i, 600)}/.env`,
      status: 404,
      userAgent: CURL,
    }),
  );
  const short = request({ time: T0 + 30_000, clientAddress: '198.51.100.1', path: '/deals' });
  const { sink, profiler } = profile(merge(repeater, buster, probes, [short]));
  assert.ok(
    sink.reasonsOf('203.0.113.9').includes('repetition'),
    JSON.stringify(sink.reasonsOf('203.0.113.9')),
  );
  assert.ok(
    sink.reasonsOf('203.0.113.50').includes('cache-bust'),
    JSON.stringify(sink.reasonsOf('203.0.113.50')),
  );
  const scanner = sink.signals.find((s) => s.ip === '192.0.2.66' && s.reason === 'scanner');
  assert.ok(
    scanner?.signals.some((s) => s.name === 'sensitiveHits' && s.value >= 1),
    JSON.stringify(scanner),
  );
  // No content partial names an over-long key; the short path's does.
  assert.deepEqual([...new Set(sink.content.map((p) => `${p.host}${p.path}`))], ['shop.example/deals']);
  assert.equal(profiler.getStats().untrackedContentRequests, 40 + 30 + 6);
});

test('bounds.maxContentKeyLength counts host and path: a key at the limit is content, one character more is not', () => {
  const host = 'shop.example'; // 12 characters
  const logs = [
    request({ time: T0, clientAddress: '198.51.100.1', path: longPath(1, 64 - host.length) }),
    request({ time: T0 + 1, clientAddress: '198.51.100.1', path: longPath(2, 65 - host.length) }),
    request({ time: T0 + 2, clientAddress: '198.51.100.1', host: null, path: longPath(3, 63) }),
    request({ time: T0 + 3, clientAddress: '198.51.100.1', host: null, path: longPath(4, 64) }),
  ];
  const { sink, profiler } = profile(logs, { bounds: { maxContentKeyLength: 64 } });
  assert.deepEqual(
    sink.content.map((p) => (p.host ?? '*').length + p.path.length),
    [64, 64],
  );
  assert.equal(profiler.getStats().untrackedContentRequests, 2);
});

/** Variants of `/products/18` an origin serves as that page (see normalizePath). */
function variantOf(i: number): string {
  const n = Math.floor(i / 4) + 1;
  switch (i % 4) {
    case 0:
      return `${'/'.repeat(n + 1)}products/18`;
    case 1:
      return `/products/${'./'.repeat(n)}18`;
    case 2:
      return `/products/${'x/../'.repeat(n)}18`;
    default: {
      // One letter of `products` percent-encoded (n ≤ 8 for i < 32).
      const word = 'products';
      return `/${word.slice(0, n - 1)}%${word.charCodeAt(n - 1).toString(16)}${word.slice(n)}/18`;
    }
  }
}

test('new variants of a page the client already asked for (escapes, slashes, dot segments), missing the cache, are cache-busting', () => {
  const paths = new Set(Array.from({ length: 30 }, (_, i) => variantOf(i)));
  assert.equal(paths.size, 30);
  const logs = Array.from({ length: 31 }, (_, i) =>
    request({
      time: T0 + i * 500,
      clientAddress: '203.0.113.51',
      path: i === 0 ? '/products/18' : variantOf(i - 1),
      cacheStatus: 'MISS',
    }),
  );
  const { sink } = profile(logs);
  assert.ok(
    sink.reasonsOf('203.0.113.51').includes('cache-bust'),
    JSON.stringify(sink.reasonsOf('203.0.113.51')),
  );
  // One content key, the page's: the variants are its busts, not requests of other keys.
  assert.deepEqual([...new Set(sink.content.map((p) => p.path))], ['/products/18']);
  assert.equal(
    sink.content.reduce((n, p) => n + p.busts, 0),
    30,
  );
  assert.equal(
    sink.content.reduce((n, p) => n + p.requests, 0),
    1,
  );
});

test('the same variant again, or a variant the cache answered, is not busting', () => {
  const logs = Array.from({ length: 30 }, (_, i) =>
    request({
      time: T0 + i * 2_000,
      clientAddress: '198.51.100.31',
      // A site linking one page two ways (the second way new once: one bust), and new variants
      // its edge already normalises (HIT: never a bust).
      path: i === 0 ? '/about' : i % 2 ? '/a%62out' : `//about${'/.'.repeat(i)}`,
      cacheStatus: i % 2 ? 'MISS' : 'HIT',
    }),
  );
  const { sink } = profile(logs);
  assert.ok(!sink.reasonsOf('198.51.100.31').includes('cache-bust'), JSON.stringify(sink.signals));
  assert.equal(
    sink.content.reduce((n, p) => n + p.busts, 0),
    1,
  );
});

test('a probe written as a variant is classified on the path the server finds too', () => {
  // The server decodes and merges these before it finds the file: each one is the probe it names.
  const variants = [
    '/%2eenv',
    '//phpmyadmin/',
    '/./phpmyadmin/',
    '/%70hpmyadmin/',
    '/.git/confi%67',
    '/%2egit/config',
  ];
  const probes = variants.map((path, i) =>
    request({ time: T0 + i * 1_000, clientAddress: '192.0.2.68', path, status: 404, userAgent: CURL }),
  );
  const { sink } = profile(probes);
  // Signals go out as the score steps up: by the fourth probe the client is at a block's score.
  const hits = sink.signals
    .filter((s) => s.ip === '192.0.2.68' && s.reason === 'scanner')
    .flatMap((s) => s.signals.filter((x) => x.name === 'sensitiveHits').map((x) => x.value));
  assert.ok(Math.max(0, ...hits) >= 3.5, JSON.stringify(sink.signals));
});

test('a traversal probe is classified on the path as sent, not on its normalised form', () => {
  const probes = Array.from({ length: 6 }, (_, i) =>
    request({
      time: T0 + i * 1_000,
      clientAddress: '192.0.2.67',
      // Normalised, `/srv/notes.html`: no probe at all.
      path: `/static/${'../'.repeat(i + 2)}srv/notes.html`,
      status: 404,
      userAgent: CURL,
    }),
  );
  const { sink } = profile(probes);
  const scanner = sink.signals.find((s) => s.ip === '192.0.2.67' && s.reason === 'scanner');
  assert.ok(
    scanner?.signals.some((s) => s.name === 'sensitiveHits' && s.value >= 1.5),
    JSON.stringify(sink.signals),
  );
});
