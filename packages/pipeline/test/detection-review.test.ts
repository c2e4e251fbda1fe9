import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Allowlist, withDefaults } from '@edgeguard/detect';
import { type AccessLog, type Decision, emptyAccessLog, isBadInput } from '@edgeguard/schema';
import { TOPICS } from '../src/bus.js';
import { createReplay } from '../src/replay.js';
import { type ContentWatchInstance, contentWatchStage } from '../src/stages/content-watch.js';
import { deciderStage } from '../src/stages/decider.js';

/**
 * End-to-end checks of detection behaviours found in review (the real user-agent classification,
 * crawler verification and fingerprints, over the in-process pipeline).
 */

const T0 = Date.UTC(2024, 0, 21, 9, 0, 0);
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';

interface Line {
  at: number;
  ip: string;
  path: string;
  ua: string;
  status?: number;
  referer?: string | null;
  cacheStatus?: string;
}

function log(l: Line): AccessLog {
  return {
    ...emptyAccessLog(),
    time: T0 + l.at,
    clientAddress: l.ip,
    method: 'GET',
    host: 'shop.example',
    path: l.path,
    protocol: 'HTTP/1.1',
    status: l.status ?? 200,
    bytes: 1000,
    cacheStatus: l.cacheStatus ?? 'MISS',
    userAgent: l.ua,
    referer: l.referer ?? null,
  };
}

/** A person: pages with their assets and referers, every 20 s. */
function human(ip: string, from: number, pages: number): Line[] {
  const out: Line[] = [];
  for (let p = 0; p < pages; p++) {
    const at = from + p * 20_000;
    const page = `/articles/${p}`;
    out.push({ at, ip, path: page, ua: FIREFOX, referer: p > 0 ? 'https://shop.example/' : null });
    for (let a = 0; a < 4; a++)
      out.push({
        at: at + 200,
        ip,
        path: `/static/app-${a}.js`,
        ua: FIREFOX,
        referer: `https://shop.example${page}`,
      });
  }
  return out;
}

function run(lines: Line[]): { decisions: Decision[]; verdicts: Map<string, string> } {
  const replay = createReplay({ detect: withDefaults(), allowlist: [] });
  const decisions: Decision[] = [];
  replay.bus.on('decisions', (m) => {
    if (m.value !== null) decisions.push(m.value as Decision);
  });
  for (const line of [...lines].sort((a, b) => a.at - b.at)) replay.push(log(line));
  replay.finish();
  return { decisions, verdicts: new Map([...replay.verdicts()].map((v) => [v.ip, v.verdict])) };
}

test('a swarm declaring Googlebot from addresses Google does not publish is judged like any swarm; the real Googlebot is not', () => {
  const lines: Line[] = [];
  // A few hosting bots hammer two pages for minutes (flagged on their own).
  for (let b = 0; b < 6; b++)
    for (let s = 0; s < 150; s++)
      lines.push({
        at: s * 1_000 + b * 300,
        ip: `192.0.2.${b + 100}`,
        path: ['/deals', '/products/18'][(s + b) % 2]!,
        ua: GOOGLEBOT,
      });
  // Eighty residential exits, five requests each within ten seconds, same UA, same pages.
  const exits: string[] = [];
  for (let r = 0; r < 80; r++) {
    const ip = `${71 + (r % 20)}.${(r * 53) % 250}.${(r * 29) % 250}.${((r * 17) % 250) + 1}`;
    exits.push(ip);
    const from = 20_000 + r * 1_500;
    for (let k = 0; k < 5; k++)
      lines.push({ at: from + k * 2_000, ip, path: ['/deals', '/products/18'][k % 2]!, ua: GOOGLEBOT });
  }
  // The real Googlebot (a published address) crawls politely with the same user agent.
  for (let i = 0; i < 30; i++)
    lines.push({ at: 1_000 + i * 5_000, ip: '66.249.66.1', path: `/category/${i}`, ua: GOOGLEBOT });
  lines.push(...human('198.51.100.25', 3_000, 8));

  const { decisions, verdicts } = run(lines);
  const caught = exits.filter((ip) => verdicts.get(ip) === 'block' || verdicts.get(ip) === 'challenge');
  assert.ok(caught.length >= 70, `exits caught ${caught.length} of ${exits.length}`);
  assert.equal(verdicts.get('66.249.66.1'), 'allow');
  assert.equal(verdicts.get('198.51.100.25'), 'allow');
  assert.deepEqual(
    decisions
      .filter(
        (d) => d.key === 'ip:66.249.66.1' || d.key.startsWith('fp:') || d.key.startsWith('range:66.249.'),
      )
      .map((d) => d.key),
    [],
  );
});

test("the real Googlebot's breadth does not hide a swarm faking its user agent (its requests are not in the fingerprint's aggregate)", () => {
  // No address is flagged on its own here: only the fingerprint's aggregate tells the swarm.
  const lines: Line[] = [];
  const exits: string[] = [];
  for (let r = 0; r < 80; r++) {
    const ip = `${71 + (r % 20)}.${(r * 53) % 250}.${(r * 29) % 250}.${((r * 17) % 250) + 1}`;
    exits.push(ip);
    const from = 5_000 + r * 1_500;
    for (let k = 0; k < 6; k++)
      lines.push({ at: from + k * 2_000, ip, path: ['/deals', '/products/18'][k % 2]!, ua: GOOGLEBOT });
  }
  // The real Googlebot walks a new page every two seconds with the same user agent.
  for (let i = 0; i < 90; i++)
    lines.push({ at: i * 2_000, ip: '66.249.66.1', path: `/category/${i}`, ua: GOOGLEBOT });

  const { decisions, verdicts } = run(lines);
  const caught = exits.filter((ip) => verdicts.get(ip) === 'block' || verdicts.get(ip) === 'challenge');
  assert.ok(caught.length >= 70, `exits caught ${caught.length} of ${exits.length}`);
  assert.equal(verdicts.get('66.249.66.1'), 'allow');
  assert.deepEqual(
    decisions.filter((d) => d.key === 'ip:66.249.66.1' || d.key.startsWith('fp:')).map((d) => d.key),
    [],
  );
});

test("one heavy client of an app does not make its fingerprint a swarm: the app's other users are not blocked", () => {
  const OKHTTP = 'okhttp/4.12.0';
  const endpoints = ['/api/v1/feed', '/api/v1/me', '/api/v1/cart'];
  const lines: Line[] = [];
  // One client (a misbehaving install, or a bot using the app's library) polls five times a second.
  for (let i = 0; i < 5 * 180; i++)
    lines.push({
      at: i * 200,
      ip: '198.18.0.10',
      path: endpoints[i % 3]!,
      ua: OKHTTP,
      cacheStatus: 'BYPASS',
    });
  // Forty app users poll every 30 s, as the app does.
  const users: string[] = [];
  for (let u = 0; u < 40; u++) {
    const ip = `100.${70 + (u % 10)}.${u * 3}.${u + 1}`;
    users.push(ip);
    for (let k = 0; k < 6; k++)
      lines.push({
        at: u * 700 + k * 30_000,
        ip,
        path: endpoints[k % 3]!,
        ua: OKHTTP,
        cacheStatus: 'BYPASS',
      });
  }
  const { decisions, verdicts } = run(lines);
  const hit = users.filter((ip) => verdicts.get(ip) === 'block' || verdicts.get(ip) === 'challenge');
  assert.deepEqual(hit, []);
  assert.deepEqual(
    decisions.filter((d) => d.key.startsWith('fp:')).map((d) => `${d.key} ${d.action}`),
    [],
  );
  // The heavy client itself is decided on its own behaviour.
  assert.ok(
    decisions.some((d) => d.key === 'ip:198.18.0.10'),
    'the heavy client is decided',
  );
});

test('a scanner returning after its decision expired with the same probes is decided again', () => {
  const probes = [
    '/.env',
    '/.git/config',
    '/wp-login.php',
    '/phpmyadmin/',
    '/backup.sql',
    '/.aws/credentials',
  ];
  const visit = (from: number): Line[] =>
    probes.map((path, i) => ({
      at: from + i * 1_000,
      ip: '192.0.2.66',
      path,
      ua: 'Mozilla/5.0 zgrab/0.x',
      status: 404,
    }));
  const lines = [...visit(0), ...visit(2 * 3_600_000)];
  // Someone else keeps the clock moving in between.
  for (let m = 0; m <= 130; m++)
    lines.push({ at: m * 60_000 + 500, ip: '198.51.100.25', path: '/', ua: FIREFOX });
  const { decisions } = run(lines);
  const onScanner = decisions.filter((d) => d.key === 'ip:192.0.2.66');
  assert.ok(onScanner.length > 0 && onScanner[0]!.decidedAt < T0 + 60_000, 'decided on its first visit');
  const again = onScanner.filter((d) => d.decidedAt >= T0 + 2 * 3_600_000);
  assert.ok(again.length > 0, `decided again on its return: ${onScanner.map((d) => d.decidedAt).join(', ')}`);
  assert.equal(again[0]!.reason, 'scanner');
});

test('one flagged address is one: it does not make its fingerprint a swarm that takes a monitor sharing its UA', () => {
  const CURL = 'curl/8.4.0';
  const lines: Line[] = [];
  // One curl client hammers one endpoint (flagged on its own) for ten minutes ...
  for (let i = 0; i < 600; i++)
    lines.push({ at: i * 1_000, ip: '203.0.113.9', path: '/api/price', ua: CURL });
  // ... while a curl health check from elsewhere asks for /health every 20 s.
  for (let i = 0; i < 30; i++)
    lines.push({ at: 5_000 + i * 20_000, ip: '198.51.100.77', path: '/health', ua: CURL });
  const { decisions, verdicts } = run(lines);
  assert.ok(
    decisions.some((d) => d.key === 'ip:203.0.113.9'),
    'the hammering client is decided',
  );
  assert.equal(
    verdicts.get('198.51.100.77'),
    'allow',
    JSON.stringify(decisions.filter((d) => d.key === 'ip:198.51.100.77')),
  );
});

test('malformed signals and content partials are thrown as BadInput for the stage runner to dead-letter; a batch keeps its good partials', () => {
  const config = withDefaults();
  const decider = deciderStage({ config, allowlist: new Allowlist([]), prefixOf: () => null }).create(0);
  const out = { emit: () => {} };
  const message = (topic: string, value: unknown) => ({
    topic,
    partition: 0,
    offset: 0,
    key: 'k',
    value,
    timestamp: T0,
  });
  assert.throws(
    () => decider.process(message(TOPICS.signals, { kind: 'client', time: T0 }), out),
    (error: unknown) => isBadInput(error) && error.reason === 'bad-signal',
  );
  const watch = contentWatchStage({ config, partitions: 1 }).create(0) as ContentWatchInstance;
  const good = {
    host: 'shop.example',
    path: '/deals',
    time: T0,
    requests: 3,
    withQuery: 0,
    newVisitors: 0,
    hits: 3,
    misses: 0,
    expired: 0,
    stale: 0,
    uncacheable: 0,
    plainRequests: 3,
    plainCached: 3,
    busts: 0,
    queryMisses: 0,
    serverErrors: 0,
    originMsSum: 0,
    originCount: 0,
    queryHashes: [],
    queryOverflow: 0,
  };
  assert.throws(
    () =>
      watch.process(
        message(TOPICS.contentPartials, {
          kind: 'content-batch',
          time: T0,
          partials: [good, { path: 7 }, { ...good, path: '/cart' }],
        }),
        out,
      ),
    (error: unknown) => isBadInput(error) && error.reason === 'bad-content-partial',
  );
  assert.equal(watch.core.getStats().partials, 2);
  assert.equal(watch.core.getStats().rejected, 1);
});

test('error responses do not make a path hot: no request-collapsing advice for a probed 404, still for a hot page missing the cache', () => {
  const replay = createReplay({ detect: withDefaults(), allowlist: [] });
  const policies: { key: string; reasons: string }[] = [];
  replay.bus.on('cache-policies', (m) => {
    const p = m.value as { reason: string } | null;
    if (p !== null) policies.push({ key: m.key, reasons: p.reason });
  });
  const lines: Line[] = [];
  for (let i = 0; i < 360; i++) {
    // Scanners from many addresses hammer a path the site does not have (404, not cached) ...
    lines.push({
      at: i * 333,
      ip: `192.0.2.${(i % 50) + 1}`,
      path: '/wp-login.php',
      ua: 'python-requests/2.31.0',
      status: 404,
    });
    // ... while a real hot page misses the cache (200): one the cache stores (a HIT now and then;
    // a page that is a MISS every time is not cached at all, and gets no collapsing).
    lines.push({
      at: i * 333 + 100,
      ip: `198.51.100.${(i % 90) + 1}`,
      path: '/deals',
      ua: FIREFOX,
      cacheStatus: i % 3 === 0 ? 'HIT' : 'MISS',
    });
  }
  for (const line of lines.sort((a, b) => a.at - b.at)) replay.push(log(line));
  replay.finish();
  assert.ok(
    policies.some((p) => p.key.endsWith('/deals') && p.reasons.includes('hot-miss')),
    JSON.stringify(policies),
  );
  assert.deepEqual(
    policies.filter((p) => p.key.includes('wp-login')),
    [],
  );
});
