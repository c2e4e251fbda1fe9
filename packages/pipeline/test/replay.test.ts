import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Allowlist, withDefaults } from '@edgeguard/detect';
import { prefixOf } from '@edgeguard/netaddr';
import { type AccessLog, type Decision, emptyAccessLog } from '@edgeguard/schema';
import { VerdictBacktest } from '../src/backtest.js';
import { TOPICS } from '../src/bus.js';
import { defaultDeps } from '../src/default-deps.js';
import { createReplay } from '../src/replay.js';

const T0 = Date.UTC(2024, 0, 21, 9, 0, 0);
const TOOL = 'python-requests/2.31.0';

function get(time: number, ip: string, path: string, fields: Partial<AccessLog> = {}): AccessLog {
  return {
    ...emptyAccessLog(),
    time,
    clientAddress: ip,
    method: 'GET',
    host: 'shop.example',
    path,
    status: 200,
    userAgent: TOOL,
    ...fields,
  };
}

test('malformed messages on access-logs are counted and routed to the dead-letter topic, never crash', () => {
  const replay = createReplay({ detect: withDefaults(), allowlist: [] });
  const dead: unknown[] = [];
  replay.bus.on(TOPICS.deadLetter, (m) => dead.push(m.value));
  replay.bus.emit(TOPICS.accessLogs, 'x', { nonsense: true }, T0);
  replay.bus.emit(TOPICS.accessLogs, 'y', null, T0);
  replay.push(get(T0, '198.51.100.1', '/'));
  replay.finish();
  const stats = replay.stats();
  assert.equal(stats.stages.profiler.rejected, 2);
  assert.equal(stats.rejected, 2);
  assert.equal(dead.length, 2);
  assert.equal(stats.stages.profiler.processed, 1);
});

test('stats report messages per topic, per-stage counts, state sizes and late events', () => {
  const replay = createReplay({ detect: withDefaults(), allowlist: [], partitions: 2 });
  for (let i = 0; i < 200; i++)
    replay.push(get(T0 + 120_000 + i * 100, `198.51.100.${i % 20}`, `/p/${i % 7}`));
  replay.push(get(T0, '198.51.100.1', '/late')); // 2 min older than the newest: late
  replay.finish();
  const stats = replay.stats();
  assert.equal(stats.pushed, 201);
  assert.equal(stats.messages[TOPICS.accessLogs], 201);
  assert.ok(stats.messages[TOPICS.signals]! > 0);
  assert.ok(stats.messages[TOPICS.contentPartials]! > 0);
  assert.equal(stats.late, 1);
  assert.equal(stats.state.clients, 20);
  assert.equal(stats.state.trackedClients, 20);
  assert.ok(stats.state.fingerprints >= 1);
  assert.equal(stats.stages.profiler.processed, 201);
  assert.equal(stats.stages.decider.processed, stats.messages[TOPICS.signals]);
  assert.equal(stats.stages['content-watch'].processed, stats.messages[TOPICS.contentPartials]);
});

test('the verdict backtest is bounded: addresses beyond its table are counted, not tracked', () => {
  const replay = createReplay({ detect: withDefaults(), allowlist: [], maxTrackedClients: 10 });
  for (let i = 0; i < 50; i++) replay.push(get(T0 + i, `203.0.113.${i}`, '/'));
  replay.finish();
  assert.equal([...replay.verdicts()].length, 10);
  assert.equal(replay.stats().backtestOverflow, 40);
});

test('the verdict backtest counts each address once, IPv4 (by number) and IPv6 (by text) alike', () => {
  const replay = createReplay({ detect: withDefaults(), allowlist: [] });
  // Enough IPv4 addresses to regrow the address index several times, interleaved with IPv6 ones,
  // and each one asked again later: every address keeps its one entry and its count.
  const ips: string[] = [];
  for (let i = 0; i < 5_000; i++) {
    ips.push(`10.${(i >> 8) & 255}.${i & 255}.${i % 7}`);
    if (i % 50 === 0) ips.push(`2001:db8::${i.toString(16)}`);
  }
  ips.push('0.0.0.0', '255.255.255.255');
  for (const [i, ip] of ips.entries()) replay.push(get(T0 + i, ip, '/'));
  for (const [i, ip] of ips.entries()) replay.push(get(T0 + 60_000 + i, ip, '/'));
  replay.finish();
  const verdicts = [...replay.verdicts()];
  assert.deepEqual(
    verdicts.map((v) => v.ip),
    ips,
  );
  assert.ok(verdicts.every((v) => v.requests === 2));
  assert.equal(replay.stats().state.trackedClients, ips.length);
});

test('verdicts: an allowlisted address is never covered, even by a fingerprint decision on its tool', () => {
  const replay = createReplay({ detect: withDefaults(), allowlist: ['192.0.2.50'] });
  // Sixty addresses fail logins with one tool (a fingerprint decision); one of them is allowlisted.
  for (let i = 0; i < 60; i++) {
    const ip = i === 30 ? '192.0.2.50' : `198.18.${i}.7`;
    replay.push(get(T0 + i * 3_000, ip, '/login', { method: 'POST', status: 401 }));
    replay.push(get(T0 + i * 3_000 + 500, ip, '/login', { method: 'POST', status: 401 }));
  }
  replay.finish();
  const verdicts = new Map([...replay.verdicts()].map((v) => [v.ip, v]));
  assert.equal(verdicts.get('198.18.59.7')!.verdict, 'block');
  assert.ok(verdicts.get('198.18.59.7')!.by.some((key) => key.startsWith('fp:')));
  assert.deepEqual(verdicts.get('192.0.2.50'), {
    ip: '192.0.2.50',
    requests: 2,
    verdict: 'allow',
    decidedAt: null,
    caughtAt: null,
    by: [],
  });
});

test('a verdict records when the client was first covered and by which decisions', () => {
  const replay = createReplay({ detect: withDefaults(), allowlist: [] });
  const probes = [
    '/.env',
    '/.git/config',
    '/wp-login.php',
    '/phpmyadmin/',
    '/backup.sql',
    '/.aws/credentials',
    '/x',
  ];
  for (const [i, path] of probes.entries())
    replay.push(get(T0 + i * 1_000, '192.0.2.66', path, { status: 404 }));
  replay.finish();
  const verdict = [...replay.verdicts()].find((v) => v.ip === '192.0.2.66')!;
  assert.equal(verdict.verdict, 'block');
  assert.deepEqual(verdict.by, ['ip:192.0.2.66']);
  assert.ok(verdict.decidedAt !== null && verdict.decidedAt > T0 && verdict.decidedAt <= T0 + 6_000);
  assert.equal(verdict.requests, 7);
});

/** Each verdict's requests, verdict, first covered and caught times, and the keys that covered it. */
function timedVerdicts(backtest: VerdictBacktest) {
  return [...backtest.verdicts()].map((v) => [v.requests, v.verdict, v.decidedAt, v.caughtAt, v.by]);
}

/** A one-minute decision on `key` (`ip:…`, `range:…` or `fp:…`). */
function decisionOn(key: string, action: Decision['action'], decidedAt: number): Decision {
  const colon = key.indexOf(':');
  const scope = key.slice(0, colon);
  return {
    key,
    scope: scope === 'fp' ? 'fingerprint' : (scope as Decision['scope']),
    value: key.slice(colon + 1),
    action,
    reason: 'test',
    signals: [],
    score: 1,
    decidedAt,
    expiresAt: decidedAt + 60_000,
    origin: 'auto',
    version: 1,
  };
}

test('a verdict lists each decision key that covered the client once, in the order they did, at most eight', () => {
  const backtest = new VerdictBacktest({
    allowlist: new Allowlist([]),
    prefixOf: () => '192.0.2.0/24',
    httpFingerprint: (log) => `h1:${log.userAgent}`,
  });
  const decide = (key: string, action: Decision['action'], decidedAt: number) =>
    backtest.onDecision(key, decisionOn(key, action, decidedAt));
  const request = (time: number, userAgent = 'tool') =>
    backtest.onRequest(get(time, '192.0.2.7', '/', { userAgent }));
  request(T0);
  decide('ip:192.0.2.7', 'throttle', T0 + 1);
  request(T0 + 2);
  request(T0 + 3);
  decide('range:192.0.2.0/24', 'block', T0 + 4);
  request(T0 + 5);
  request(T0 + 6);
  for (let i = 0; i < 10; i++) {
    decide(`fp:h1:tool${i}`, 'challenge', T0 + 7);
    request(T0 + 8 + i, `tool${i}`);
    request(T0 + 8 + i, `tool${i}`);
  }
  const [verdict] = [...backtest.verdicts()];
  assert.deepEqual(verdict, {
    ip: '192.0.2.7',
    requests: 25,
    verdict: 'block',
    // The address decision's own time: it covers its address from then on (not from the next request).
    decidedAt: T0 + 1,
    caughtAt: T0 + 5,
    by: ['ip:192.0.2.7', 'range:192.0.2.0/24', ...[0, 1, 2, 3, 4, 5].map((i) => `fp:h1:tool${i}`)],
  });
});

test('verdicts give back each address as it was logged: IPv4 kept as a number, IPv6 and other spellings as text', () => {
  const backtest = new VerdictBacktest({
    allowlist: new Allowlist([]),
    prefixOf: () => null,
    httpFingerprint: () => 'h1:x',
  });
  const addresses = [
    '0.0.0.0',
    '255.255.255.255',
    '203.0.113.7',
    '2001:db8::1',
    '010.0.0.1',
    '::ffff:192.0.2.1',
  ];
  for (const ip of addresses) backtest.onRequest(get(T0, ip, '/'));
  backtest.onRequest(get(T0 + 1, '203.0.113.7', '/'));
  backtest.onDecision('ip:2001:db8::1', {
    key: 'ip:2001:db8::1',
    scope: 'ip',
    value: '2001:db8::1',
    action: 'block',
    reason: 'test',
    signals: [],
    score: 1,
    decidedAt: T0,
    expiresAt: T0 + 60_000,
    origin: 'auto',
    version: 1,
  });
  backtest.onRequest(get(T0 + 2, '2001:db8::1', '/'));
  const verdicts = [...backtest.verdicts()];
  assert.deepEqual(
    verdicts.map((v) => [v.ip, v.requests, v.verdict]),
    [
      ['0.0.0.0', 1, 'allow'],
      ['255.255.255.255', 1, 'allow'],
      ['203.0.113.7', 2, 'allow'],
      ['2001:db8::1', 2, 'block'],
      ['010.0.0.1', 1, 'allow'],
      ['::ffff:192.0.2.1', 1, 'allow'],
    ],
  );
});

test('the backtest applies decisions published before an address is seen, upgrades, and tombstones', () => {
  const backtest = new VerdictBacktest({
    allowlist: new Allowlist([]),
    prefixOf: (ip) => (ip.startsWith('198.51.100.') ? '198.51.100.0/24' : null),
    httpFingerprint: () => 'h1:x',
  });
  // null: the decision's tombstone.
  const decide = (key: string, action: Decision['action'] | null, decidedAt: number) =>
    backtest.onDecision(key, action === null ? null : decisionOn(key, action, decidedAt));
  const request = (time: number, ip: string) => backtest.onRequest(get(time, ip, '/'));
  // Decided before their first request: an IPv4 address (found by number) and an IPv6 one (by text).
  decide('ip:203.0.113.9', 'throttle', T0);
  decide('ip:2001:db8::9', 'challenge', T0);
  request(T0 + 1, '203.0.113.9');
  request(T0 + 1, '2001:db8::9');
  // An upgrade of an applied decision is applied again: the block catches the client.
  decide('ip:203.0.113.9', 'block', T0 + 2);
  request(T0 + 3, '203.0.113.9');
  // A tombstone lifts it: the next request is not covered (flagged stays as it was).
  decide('ip:203.0.113.9', null, T0 + 4);
  request(T0 + 5, '203.0.113.9');
  // A range decision, its upgrade, and its tombstone, for an address seen before the range was decided.
  request(T0 + 6, '198.51.100.1');
  decide('range:198.51.100.0/24', 'throttle', T0 + 7);
  request(T0 + 8, '198.51.100.1');
  decide('range:198.51.100.0/24', 'challenge', T0 + 9);
  request(T0 + 10, '198.51.100.1');
  decide('range:198.51.100.0/24', null, T0 + 11);
  request(T0 + 12, '198.51.100.1');
  // A request outside its window is not covered (nor flagged, nor caught), but the address was
  // decided on: its verdict says so.
  decide('ip:203.0.113.10', 'block', T0 + 13);
  request(T0 + 70_000, '203.0.113.10');

  const verdicts = new Map([...backtest.verdicts()].map((v) => [v.ip, v]));
  assert.deepEqual(verdicts.get('203.0.113.9'), {
    ip: '203.0.113.9',
    requests: 3,
    verdict: 'block',
    // Decided at T0, before its first request: covered from the decision on.
    decidedAt: T0,
    caughtAt: T0 + 3,
    by: ['ip:203.0.113.9'],
  });
  assert.equal(verdicts.get('2001:db8::9')?.verdict, 'challenge');
  assert.deepEqual(verdicts.get('198.51.100.1'), {
    ip: '198.51.100.1',
    requests: 4,
    verdict: 'challenge',
    decidedAt: T0 + 8,
    caughtAt: T0 + 10,
    by: ['range:198.51.100.0/24'],
  });
  assert.deepEqual(verdicts.get('203.0.113.10'), {
    ip: '203.0.113.10',
    requests: 1,
    verdict: 'block',
    decidedAt: T0 + 13,
    caughtAt: null,
    by: ['ip:203.0.113.10'],
  });
  const flagged = backtest.timelineByMinute().reduce((sum, m) => sum + m.flagged, 0);
  assert.equal(flagged, 5);
});

test('an address decision covers its address from its decidedAt, whether or not it sends again; range and fingerprint decisions only the requests they match', () => {
  const backtest = new VerdictBacktest({
    allowlist: new Allowlist(['192.0.2.99/32']),
    prefixOf: (ip) => (ip.startsWith('198.51.100.') ? '198.51.100.0/24' : null),
    httpFingerprint: (log) => `h1:${log.userAgent}`,
  });
  const decide = (key: string, action: Decision['action'] | null, decidedAt: number) =>
    backtest.onDecision(key, action === null ? null : decisionOn(key, action, decidedAt));
  const request = (time: number, ip: string, userAgent = 'tool') =>
    backtest.onRequest(get(time, ip, '/', { userAgent }));
  // Each seen once, then decided on, and silent afterwards.
  request(T0, '192.0.2.1');
  request(T0, '192.0.2.2');
  request(T0, '198.51.100.1', 'other');
  request(T0, '192.0.2.3', 'swarm');
  request(T0, '192.0.2.99');
  decide('ip:192.0.2.1', 'block', T0 + 5);
  decide('ip:192.0.2.2', 'throttle', T0 + 5);
  decide('range:198.51.100.0/24', 'block', T0 + 5);
  decide('fp:h1:swarm', 'block', T0 + 5);
  decide('ip:192.0.2.99', 'block', T0 + 5);
  // Covered through a request first, then by an address decision dated earlier (published later):
  // the earlier time is when it was first covered.
  request(T0 + 10, '198.51.100.2', 'other');
  decide('ip:198.51.100.2', 'challenge', T0 + 8);
  // Decided on before its first request, the decision lifted before it came: covered all the same.
  decide('ip:203.0.113.1', 'challenge', T0 + 20);
  decide('ip:203.0.113.1', null, T0 + 30);
  request(T0 + 40, '203.0.113.1');

  const verdicts = new Map(
    [...backtest.verdicts()].map((v) => [v.ip, [v.verdict, v.decidedAt, v.caughtAt, v.by.join()]]),
  );
  assert.deepEqual(Object.fromEntries(verdicts), {
    '192.0.2.1': ['block', T0 + 5, null, 'ip:192.0.2.1'],
    '192.0.2.2': ['throttle', T0 + 5, null, 'ip:192.0.2.2'],
    // A range or fingerprint decision covers only the requests it matched: none came.
    '198.51.100.1': ['allow', null, null, ''],
    '192.0.2.3': ['allow', null, null, ''],
    // The allowlist always wins.
    '192.0.2.99': ['allow', null, null, ''],
    '198.51.100.2': ['block', T0 + 8, T0 + 10, 'range:198.51.100.0/24,ip:198.51.100.2'],
    '203.0.113.1': ['challenge', T0 + 20, null, 'ip:203.0.113.1'],
  });
  // Requests stay what the timeline counts: only the one a decision covered is flagged.
  assert.equal(
    backtest.timelineByMinute().reduce((sum, m) => sum + m.flagged, 0),
    1,
  );
});

test('an address decision on an address the full table cannot take leaves it untracked, counted as overflow', () => {
  const backtest = new VerdictBacktest({
    allowlist: new Allowlist([]),
    prefixOf: () => null,
    httpFingerprint: () => 'h1:x',
    maxClients: 1,
  });
  backtest.onRequest(get(T0, '192.0.2.1', '/'));
  backtest.onDecision('ip:192.0.2.2', decisionOn('ip:192.0.2.2', 'block', T0 + 1));
  backtest.onRequest(get(T0 + 2, '192.0.2.2', '/'));
  assert.deepEqual(
    [...backtest.verdicts()].map((v) => [v.ip, v.verdict]),
    [['192.0.2.1', 'allow']],
  );
  assert.equal(backtest.overflow, 1);
});

test('unverified crawlers: a client is classified again when its UA changes, counted from its first claim, allowlisted and untracked addresses too', () => {
  const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
  const BINGBOT = 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)';
  const BROWSER =
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
  const backtest = new VerdictBacktest({
    allowlist: new Allowlist(['203.0.113.5']),
    prefixOf: () => null,
    httpFingerprint: (log) => `h1:${log.userAgent}`,
    maxClients: 3,
  });
  const request = (ip: string, userAgent: string | null) =>
    backtest.onRequest(get(T0, ip, '/', { userAgent }));
  request('192.0.2.1', BROWSER);
  request('192.0.2.1', GOOGLEBOT); // its UA changed to a claim: listed from here on
  request('192.0.2.1', GOOGLEBOT);
  request('192.0.2.1', BROWSER); // not a claim: not counted
  request('192.0.2.1', BINGBOT); // another crawler's claim: counted on the same line
  request('203.0.113.5', GOOGLEBOT); // allowlisted: still reported
  request('192.0.2.2', null);
  request('198.51.100.9', GOOGLEBOT); // beyond maxClients: not tracked, still reported
  request('198.51.100.9', GOOGLEBOT);
  assert.equal(backtest.overflow, 2);
  assert.deepEqual(backtest.unverifiedCrawlers(), [
    { ip: '192.0.2.1', crawler: 'Googlebot', requests: 3 },
    { ip: '203.0.113.5', crawler: 'Googlebot', requests: 1 },
    { ip: '198.51.100.9', crawler: 'Googlebot', requests: 2 },
  ]);
});

test('range decisions reach IPv4 clients by prefix number (no prefix text per client), others and IPv4 clients while an unnumbered range is active by text', () => {
  const asked: string[] = [];
  const backtest = new VerdictBacktest({
    allowlist: new Allowlist([]),
    prefixOf: (ip) => {
      asked.push(ip);
      return prefixOf(ip, 24, 64);
    },
    ipv4PrefixBits: 24,
    httpFingerprint: () => 'h1:x',
  });
  const decide = (key: string, action: Decision['action'] | null, decidedAt: number) =>
    backtest.onDecision(key, action === null ? null : decisionOn(key, action, decidedAt));
  const request = (ip: string, time = T0 + 1) => backtest.onRequest(get(time, ip, '/'));
  for (let i = 0; i < 300; i++) decide(`range:10.${i >> 8}.${i & 255}.0/24`, 'throttle', T0);
  decide('range:198.51.100.0/24', 'block', T0);
  asked.length = 0;
  for (const ip of ['198.51.100.1', '198.51.100.2', '10.1.7.9', '203.0.113.1', '198.51.100.1']) request(ip);
  assert.deepEqual(asked, []);
  // An IPv6 range decision has no number: IPv4 clients are then found by text too (once each;
  // a new prefix's number is checked on its network address).
  decide('range:2001:db8::/64', 'challenge', T0);
  for (const ip of ['2001:db8::1', '198.51.100.3', '203.0.113.2', '198.51.100.3']) request(ip);
  assert.deepEqual(asked, ['2001:db8::1', '198.51.100.3', '203.0.113.2', '203.0.113.0']);
  // Its tombstone: back to numbers (a new client's prefix is not built).
  decide('range:2001:db8::/64', null, T0 + 2);
  request('198.51.100.4', T0 + 3);
  assert.equal(asked.length, 4);
  const verdicts = [...backtest.verdicts()].map((v) => [v.ip, v.requests, v.verdict, v.by.join()]);
  assert.deepEqual(verdicts, [
    ['198.51.100.1', 2, 'block', 'range:198.51.100.0/24'],
    ['198.51.100.2', 1, 'block', 'range:198.51.100.0/24'],
    ['10.1.7.9', 1, 'throttle', 'range:10.1.7.0/24'],
    ['203.0.113.1', 1, 'allow', ''],
    ['2001:db8::1', 1, 'challenge', 'range:2001:db8::/64'],
    ['198.51.100.3', 2, 'block', 'range:198.51.100.0/24'],
    ['203.0.113.2', 1, 'allow', ''],
    ['198.51.100.4', 1, 'block', 'range:198.51.100.0/24'],
  ]);
});

test('a range or fingerprint decision made after a client was seen covers its next requests, until its tombstone', () => {
  const backtest = new VerdictBacktest({
    allowlist: new Allowlist([]),
    prefixOf: (ip) => prefixOf(ip, 24, 64),
    ipv4PrefixBits: 24,
    httpFingerprint: (log) => `h1:${log.userAgent}`,
  });
  const decide = (key: string, action: Decision['action'] | null, decidedAt: number) =>
    backtest.onDecision(key, action === null ? null : decisionOn(key, action, decidedAt));
  const request = (time: number) => backtest.onRequest(get(time, '198.51.100.1', '/', { userAgent: 'a' }));
  // Decisions on other prefixes and fingerprints: the client's own are looked for, and not found.
  decide('range:10.0.0.0/24', 'throttle', T0);
  decide('fp:h1:z', 'throttle', T0);
  request(T0 + 1);
  decide('range:198.51.100.0/24', 'challenge', T0 + 2);
  request(T0 + 3);
  decide('fp:h1:a', 'block', T0 + 4);
  request(T0 + 5);
  decide('range:198.51.100.0/24', null, T0 + 6);
  decide('fp:h1:a', null, T0 + 6);
  request(T0 + 7);
  const verdicts = timedVerdicts(backtest);
  assert.deepEqual(verdicts, [[4, 'block', T0 + 3, T0 + 3, ['range:198.51.100.0/24', 'fp:h1:a']]]);
  assert.deepEqual(
    backtest.timelineByMinute().map((m) => [m.requests, m.flagged]),
    [[4, 2]],
  );
});

test('range decisions reach clients of any of thousands of prefixes found by text, set, replaced and tombstoned', () => {
  const backtest = new VerdictBacktest({
    allowlist: new Allowlist([]),
    prefixOf: (ip) => prefixOf(ip, 24, 64),
    ipv4PrefixBits: 24,
    httpFingerprint: () => 'h1:x',
  });
  const decide = (key: string, action: Decision['action'] | null, decidedAt: number) =>
    backtest.onDecision(key, action === null ? null : decisionOn(key, action, decidedAt));
  // An active range without a number: every client finds its prefix by text, one PrefixRange each.
  decide('range:2001:db8:ffff::/64', 'throttle', T0);
  const ip = (i: number) => `2001:db8:${i.toString(16)}::1`;
  const round = (time: number) => {
    for (let i = 0; i < 3000; i++) backtest.onRequest(get(time, ip(i), '/'));
  };
  round(T0 + 1);
  decide(`range:${prefixOf(ip(2500), 24, 64)}`, 'challenge', T0 + 2);
  decide(`range:${prefixOf(ip(7), 24, 64)}`, 'throttle', T0 + 2);
  round(T0 + 3);
  decide(`range:${prefixOf(ip(2500), 24, 64)}`, 'block', T0 + 4);
  decide(`range:${prefixOf(ip(7), 24, 64)}`, null, T0 + 4);
  round(T0 + 5);
  const verdicts = [...backtest.verdicts()].filter((v) => v.verdict !== 'allow');
  assert.deepEqual(
    verdicts.map((v) => [v.ip, v.verdict, v.decidedAt, v.by.length]),
    [
      [ip(7), 'throttle', T0 + 3, 1],
      [ip(2500), 'block', T0 + 3, 1],
    ],
  );
  assert.deepEqual(
    backtest.timelineByMinute().map((m) => [m.requests, m.flagged]),
    [[9000, 3]],
  );
});

test('a prefix text prefixOf does not give for its own address has no number: IPv4 clients find it by text', () => {
  const backtest = new VerdictBacktest({
    allowlist: new Allowlist([]),
    prefixOf: (ip) => `net-${ip.slice(0, ip.lastIndexOf('.'))}`,
    ipv4PrefixBits: 24,
    httpFingerprint: () => 'h1:x',
  });
  backtest.onDecision('range:net-198.51.100', decisionOn('range:net-198.51.100', 'block', T0));
  backtest.onRequest(get(T0 + 1, '198.51.100.1', '/'));
  assert.deepEqual(
    [...backtest.verdicts()].map((v) => v.verdict),
    ['block'],
  );
});

test('a fingerprint decision is applied once per client, and again when it is upgraded or the client switches fingerprints', () => {
  const backtest = new VerdictBacktest({
    allowlist: new Allowlist([]),
    prefixOf: () => null,
    httpFingerprint: (log) => `h1:${log.userAgent}`,
  });
  const decide = (key: string, action: Decision['action'], decidedAt: number) =>
    backtest.onDecision(key, decisionOn(key, action, decidedAt));
  const request = (time: number, userAgent: string) =>
    backtest.onRequest(get(time, '192.0.2.7', '/', { userAgent }));
  decide('fp:h1:a', 'throttle', T0);
  decide('fp:h1:b', 'throttle', T0);
  request(T0 + 1, 'a');
  request(T0 + 2, 'a');
  request(T0 + 3, 'b');
  decide('fp:h1:a', 'block', T0 + 4); // an upgrade: a new decision on the same key
  request(T0 + 5, 'b');
  request(T0 + 6, 'a');
  request(T0 + 70_000, 'a'); // past its window: not covered
  // Caught by the upgrade on its first request after it; 5 of its 6 requests covered.
  const verdicts = timedVerdicts(backtest);
  assert.deepEqual(verdicts, [[6, 'block', T0 + 1, T0 + 6, ['fp:h1:a', 'fp:h1:b']]]);
  assert.deepEqual(
    backtest.timelineByMinute().map((m) => m.flagged),
    [5, 0],
  );
});

test('clients with one UA and different other inputs get the fingerprint of their own inputs', () => {
  const backtest = new VerdictBacktest({
    allowlist: new Allowlist([]),
    prefixOf: () => null,
    httpFingerprint: (log) => `h1:${log.userAgent}|${log.acceptLanguage}`,
  });
  backtest.onDecision('fp:h1:x|en', decisionOn('fp:h1:x|en', 'block', T0));
  const languages = ['en', 'fr', 'en', 'fr', null, 'en'];
  for (const [i, acceptLanguage] of languages.entries()) {
    backtest.onRequest(get(T0 + 1, `192.0.2.${i}`, '/', { userAgent: 'x', acceptLanguage }));
  }
  assert.deepEqual(
    [...backtest.verdicts()].map((v) => v.verdict),
    ['block', 'allow', 'block', 'allow', 'allow', 'block'],
  );
});

test("the replay's backtest finds its entries through the profilers' slots, also while they give slots to new clients", () => {
  // Profilers keep 8 clients each: background addresses keep taking the slots of others, so an
  // entry number kept in a slot (SlotAttachments) would name the wrong entry if it outlived its
  // client. Three scrapers make most requests and get decisions.
  const deps = defaultDeps();
  const replay = createReplay({
    detect: withDefaults({ bounds: { maxClients: 8 } }),
    allowlist: [],
    partitions: 2,
    deps,
  });
  const sent = new Map<string, number>();
  const events: ([AccessLog] | [string, Decision | null])[] = [];
  replay.bus.on(TOPICS.accessLogs, (m) => events.push([m.value as AccessLog]));
  replay.bus.on(TOPICS.decisions, (m) => events.push([m.key, m.value as Decision | null]));
  for (let i = 0; i < 6000; i++) {
    const scraper = i % 5 !== 4;
    const ip = scraper ? `203.0.113.${i % 3}` : `198.51.${(i >> 8) & 7}.${i & 255}`;
    const path = scraper ? `/deals/${i % 2}` : `/page/${i % 7}`;
    replay.push(get(T0 + i * 20, ip, path, scraper ? {} : { userAgent: 'Mozilla/5.0 (X11; Linux x86_64)' }));
    sent.set(ip, (sent.get(ip) ?? 0) + 1);
  }
  replay.finish();
  const verdicts = [...replay.verdicts()];
  // Every address's requests counted on its own entry, and address decisions only on their address.
  assert.deepEqual(new Map(verdicts.map((v) => [v.ip, v.requests])), sent);
  const blocked = verdicts.filter((v) => v.by.some((key) => key.startsWith('ip:')));
  assert.ok(blocked.length >= 3, `address decisions: ${blocked.map((v) => v.ip)}`);
  for (const v of blocked) assert.ok(v.by.includes(`ip:${v.ip}`), JSON.stringify(v));
  // The same requests and decisions, in the same order, given to a backtest that looks every
  // address up itself: the same verdicts.
  const alone = new VerdictBacktest({
    allowlist: new Allowlist([]),
    prefixOf: deps.prefixOf,
    ipv4PrefixBits: deps.ipv4PrefixBits,
    httpFingerprint: deps.httpFingerprint,
  });
  for (const e of events) {
    if (e.length === 1) alone.onRequest(e[0]);
    else alone.onDecision(e[0], e[1]);
  }
  assert.deepEqual(verdicts, [...alone.verdicts()]);
});
