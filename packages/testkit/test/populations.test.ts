import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ClientLabel,
  generateScenario,
  ORIGIN_TIMEOUT_MS,
  ROLES,
  type Role,
  type ScenarioOptions,
  SENSITIVE_PATHS,
} from '../src/index.js';
import { byClient, type ParsedLine, parseAll } from './log-line.js';

/** One incident scenario shared by these tests: 5 minutes, half the default cast (~30k lines). */
const scenario = generateScenario({ seed: 11, durationSec: 300, scale: 0.5 });
const lines = parseAll(scenario.lines(), 'edge');
const labels = scenario.labels();
const clients = byClient(lines);
const hotPages = new Set(scenario.incident.hotPages);

/** Each client of `role` with its lines in time order. */
function clientsOf(role: Role): { label: ClientLabel; lines: ParsedLine[] }[] {
  return labels
    .filter((label) => label.role === role)
    .map((label) => ({ label, lines: [...(clients.get(label.ip) ?? [])].sort((a, b) => a.time - b.time) }));
}
function linesOf(role: Role): ParsedLine[] {
  return clientsOf(role).flatMap((client) => client.lines);
}
/** A small scenario with only the given roles (all others set to zero). */
function only(populations: Partial<Record<Role, number>>, options: ScenarioOptions = {}) {
  const zero = Object.fromEntries(ROLES.map((role) => [role, 0]));
  const run = generateScenario({ seed: 21, ...options, populations: { ...zero, ...populations } });
  return { lines: parseAll(run.lines(), options.format ?? 'edge'), labels: run.labels() };
}

const ASSET = /\.(css|js|png|webp|woff2|ico)$/;
const isAsset = (line: ParsedLine) => ASSET.test(line.path);
const SITE = 'https://www.example.com';
const gapsSeconds = (times: number[]) =>
  times.slice(1).map((time, i) => (time - (times[i] as number)) / 1000);
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const share = (part: number, whole: number) => (whole === 0 ? 0 : part / whole);
const inIPv4Range = (ip: string, cidr: string) => {
  const toNumber = (text: string) => text.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
  const [network, bits] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  return !ip.includes(':') && Math.floor(toNumber(ip) / size) === Math.floor(toNumber(network) / size);
};

describe('human', () => {
  const humans = clientsOf('human');

  test('a page is followed by its assets within about a second, with the page as referer (fonts: the stylesheet)', () => {
    let checked = 0;
    for (const { lines: own } of humans) {
      const pages = own.filter((line) => !isAsset(line));
      for (const asset of own.filter(isAsset)) {
        assert.ok(asset.referer?.startsWith(SITE), `asset without a site referer: ${asset.target}`);
        if (asset.path.endsWith('.woff2')) {
          assert.match(asset.referer ?? '', /\.css$/);
          continue;
        }
        const page = pages.find(
          (candidate) =>
            `${SITE}${candidate.target}` === asset.referer &&
            asset.time >= candidate.time - 1000 &&
            asset.time <= candidate.time + 3000,
        );
        assert.ok(page, `no page ${asset.referer} just before asset ${asset.target}`);
        checked++;
      }
    }
    assert.ok(checked > 1000, `only ${checked} assets checked`);
  });

  test('visits load assets, but shared assets come from the browser cache after the first page', () => {
    const assets = humans.flatMap((human) => human.lines.filter(isAsset));
    const pages = humans.flatMap((human) => human.lines.filter((line) => !isAsset(line)));
    const ratio = assets.length / pages.length;
    assert.ok(ratio > 3 && ratio < 20, `assets per page ${ratio.toFixed(1)}`);
    for (const { lines: own } of humans) {
      const pageCount = own.filter((line) => !isAsset(line)).length;
      const stylesheets = own.filter((line) => line.path.endsWith('.css')).length;
      if (pageCount >= 4)
        assert.ok(stylesheets < pageCount / 2, `stylesheet fetched ${stylesheets}× in ${pageCount} pages`);
    }
  });

  test('pages are separated by human think time (at least 3 s)', () => {
    for (const { lines: own } of humans) {
      const pageTimes = own
        .filter((line) => !isAsset(line) && line.method === 'GET' && line.path !== '/account')
        .map((line) => line.time);
      for (const gap of gapsSeconds(pageTimes)) assert.ok(gap >= 2, `pages ${gap} s apart`); // 1 s log resolution
    }
  });

  test('humans have a realistic mix of browsers, versions, languages and networks (~25% IPv6, many /24s)', () => {
    const agents = new Set(humans.map((human) => human.lines[0]?.userAgent));
    assert.ok(agents.size > humans.length * 0.4, `${agents.size} distinct UAs for ${humans.length} humans`);
    const joined = [...agents].join('\n');
    for (const marker of ['Chrome/', 'Firefox/', 'Version/', 'Edg/', 'iPhone', 'Android']) {
      assert.ok(joined.includes(marker), `no ${marker} browsers`);
    }
    const languages = new Set(humans.map((human) => human.lines[0]?.acceptLanguage));
    assert.ok(languages.size >= 10, `${languages.size} accept-language values`);
    const v6 = humans.filter((human) => human.label.ip.includes(':')).length;
    assert.ok(v6 / humans.length > 0.12 && v6 / humans.length < 0.4, `IPv6 share ${v6 / humans.length}`);
    const v4 = humans.filter((human) => !human.label.ip.includes(':'));
    const slash24s = new Set(v4.map((human) => human.label.ip.split('.').slice(0, 3).join('.')));
    assert.ok(slash24s.size > v4.length * 0.9, `${slash24s.size} /24s for ${v4.length} IPv4 humans`);
  });

  test('IPv6 clients are written in canonical RFC 5952 form', () => {
    const v6 = labels.filter((label) => label.ip.includes(':')).map((label) => label.ip);
    assert.ok(v6.length > 20);
    for (const ip of v6) {
      assert.match(ip, /^[0-9a-f:]+$/);
      for (const group of ip.split(':'))
        if (group !== '') assert.match(group, /^(0|[1-9a-f][0-9a-f]{0,3})$/, ip);
    }
  });
});

describe('nat', () => {
  test('the NAT address is the busiest of all, in total and per minute, and carries many browsers', () => {
    const [nat] = clientsOf('nat');
    assert.ok(nat);
    const busiest = [...labels].sort((a, b) => b.requests - a.requests)[0];
    assert.equal(busiest?.ip, nat.label.ip);
    const peakPerMinute = (own: ParsedLine[]) => {
      const perMinute = new Map<number, number>();
      for (const line of own)
        perMinute.set(
          Math.floor(line.time / 60_000),
          (perMinute.get(Math.floor(line.time / 60_000)) ?? 0) + 1,
        );
      return Math.max(...perMinute.values());
    };
    const natPeak = peakPerMinute(nat.lines);
    for (const [ip, own] of clients)
      if (ip !== nat.label.ip) assert.ok(peakPerMinute(own) < natPeak, `${ip} beats the NAT`);
    assert.ok(new Set(nat.lines.map((line) => line.userAgent)).size >= 50);
    assert.equal(nat.label.protected, true);
    assert.equal(nat.label.bot, false);
    // Popular pages and shared assets repeat naturally behind a NAT.
    const targets = new Map<string, number>();
    for (const line of nat.lines) targets.set(line.target, (targets.get(line.target) ?? 0) + 1);
    assert.ok(Math.max(...targets.values()) > 50);
  });
});

describe('crawler and fake-crawler', () => {
  test('verified crawlers come from published ranges, fetch robots.txt first, then distinct pages every 2-15 s', () => {
    const crawlers = clientsOf('crawler');
    assert.ok(crawlers.length >= 2);
    for (const { label, lines: own } of crawlers) {
      const google = own[0]?.userAgent?.includes('Googlebot');
      const ranges = google ? ['66.249.64.0/20'] : ['157.55.39.0/24', '207.46.13.0/24', '40.77.167.0/24'];
      assert.ok(
        ranges.some((range) => inIPv4Range(label.ip, range)),
        `${label.ip} outside ${ranges}`,
      );
      assert.match(own[0]?.userAgent ?? '', google ? /Googlebot\/2\.1/ : /bingbot\/2\.0/);
      assert.equal(own[0]?.target, '/robots.txt');
      const pages = own
        .map((line) => line.target)
        .filter((target) => target !== '/robots.txt' && target !== '/sitemap.xml');
      assert.equal(new Set(pages).size, pages.length, 'a crawler never refetches a page');
      for (const gap of gapsSeconds(own.map((line) => line.time)))
        assert.ok(gap >= 1 && gap <= 16, `gap ${gap} s`);
      assert.equal(label.protected, true);
    }
  });

  test('fake crawlers claim Googlebot from outside Google and scrape fast', () => {
    for (const { label, lines: own } of clientsOf('fake-crawler')) {
      assert.match(own[0]?.userAgent ?? '', /Googlebot/);
      assert.ok(!inIPv4Range(label.ip, '66.249.64.0/19'));
      const spanSeconds = ((own.at(-1)?.time ?? 0) - (own[0]?.time ?? 0)) / 1000;
      assert.ok(own.length / spanSeconds > 1.5, `rate ${own.length / spanSeconds}/s`);
      assert.equal(label.bot, true);
    }
  });
});

describe('scheduled legitimate automation', () => {
  test('uptime monitors check one URL at a fixed interval of 30-60 s', () => {
    const run = only({ monitor: 4 }, { durationSec: 900 });
    const groups = byClient(run.lines);
    assert.equal(groups.size, 4);
    for (const own of groups.values()) {
      assert.equal(new Set(own.map((line) => line.target)).size, 1);
      assert.match(own[0]?.target ?? '', /^\/(health)?$/);
      assert.match(own[0]?.userAgent ?? '', /UptimeRobot\/2\.0|Pingdom\.com_bot/);
      const gaps = gapsSeconds(own.map((line) => line.time).sort((a, b) => a - b));
      const interval = median(gaps);
      assert.ok(interval >= 30 && interval <= 60, `interval ${interval}`);
      for (const gap of gaps)
        assert.ok(Math.abs(gap - interval) <= 1, `gap ${gap} s vs interval ${interval} s`);
    }
    for (const label of run.labels) assert.equal(label.protected, true);
  });

  test('feed readers fetch /feed.xml every 10-30 minutes, mostly answered 304', () => {
    const run = only({ 'feed-reader': 30 }, { durationSec: 3600 });
    assert.ok(run.lines.every((line) => line.target === '/feed.xml' && line.method === 'GET'));
    const notModified = run.lines.filter((line) => line.status === 304).length;
    assert.ok(
      share(notModified, run.lines.length) > 0.6,
      `304 share ${share(notModified, run.lines.length)}`,
    );
    for (const own of byClient(run.lines).values()) {
      for (const gap of gapsSeconds(own.map((line) => line.time).sort((a, b) => a - b))) {
        assert.ok(gap >= 9.5 * 60 && gap <= 31 * 60, `feed fetched ${gap} s apart`);
      }
    }
    assert.match(run.lines.map((line) => line.userAgent).join('\n'), /Feedly|NewsBlur/);
  });

  test('app devices poll the feed API every 30-60 s with a changing since= and their own device id', () => {
    const devices = clientsOf('mobile-app');
    assert.ok(
      devices.some((device) => device.label.ip.includes(':')),
      'some devices on IPv6',
    );
    for (const { label, lines: own } of devices) {
      assert.ok(own.every((line) => line.host === 'api.example.com' && line.path.startsWith('/api/v1/')));
      assert.match(
        own[0]?.userAgent ?? '',
        /^(ShopApp\/5\.\d \((iPhone|iPad); iOS [\d.]+; Scale\/\d\.00\)|okhttp\/4\.\d+\.\d+)$/,
      );
      const polls = own.filter((line) => line.path === '/api/v1/feed');
      const ids = new Set(polls.map((line) => /device=([0-9a-f]{16})$/.exec(line.query ?? '')?.[1]));
      assert.equal(ids.size, Math.min(1, polls.length), `device ${label.ip} changed id`);
      const since = polls.map((line) => Number(/^since=(\d{10})&/.exec(line.query ?? '')?.[1]));
      for (let i = 1; i < since.length; i++) assert.ok((since[i] as number) > (since[i - 1] as number));
      const span = ((own.at(-1)?.time ?? 0) - (own[0]?.time ?? 0)) / 1000;
      if (own.length >= 4)
        assert.ok(
          span / (own.length - 1) >= 15,
          `device ${label.ip} polls every ${span / (own.length - 1)} s`,
        );
      assert.equal(label.protected, true);
    }
  });
});

describe('abusive bots', () => {
  test('scrapers fetch distinct product pages at 1-5 req/s with no assets and no referer', () => {
    for (const { label, lines: own } of clientsOf('scraper')) {
      assert.ok(own.every((line) => /^\/products\/\d+$/.test(line.target) && line.referer === null));
      assert.equal(new Set(own.map((line) => line.target)).size, own.length);
      const rate = own.length / (((own.at(-1)?.time ?? 0) - (own[0]?.time ?? 0)) / 1000);
      assert.ok(rate > 0.8 && rate < 6, `rate ${rate}`);
      assert.match(own[0]?.userAgent ?? '', /python-requests|Chrome/);
      assert.equal(label.bot, true);
    }
    assert.ok(
      linesOf('scraper').some((line) => line.status === 404),
      'scrapers walk past the catalogue into 404s',
    );
  });

  test('scanners probe sensitive paths in a short burst, mostly 404', () => {
    const sensitive = new Set<string>(SENSITIVE_PATHS);
    for (const { lines: own } of clientsOf('scanner')) {
      assert.ok(own.length >= 40 && own.length <= 120, `${own.length} probes`);
      assert.ok(share(own.filter((line) => sensitive.has(line.path)).length, own.length) > 0.85);
      assert.ok(share(own.filter((line) => line.status >= 400).length, own.length) > 0.7);
      assert.ok((own.at(-1)?.time ?? 0) - (own[0]?.time ?? 0) <= 60_000, 'a burst, then gone');
    }
  });

  test('credential stuffers only POST /login, 1-3 times each, mostly rejected, with one tool UA', () => {
    const stuffers = clientsOf('credential-stuffer');
    assert.ok(stuffers.length >= 50);
    const all = stuffers.flatMap((stuffer) => stuffer.lines);
    assert.ok(
      all.every((line) => line.method === 'POST' && line.target === '/login' && line.referer === null),
    );
    for (const { lines: own } of stuffers) assert.ok(own.length >= 1 && own.length <= 3);
    assert.ok(share(all.filter((line) => line.status === 401).length, all.length) > 0.9);
    assert.equal(new Set(all.map((line) => line.userAgent)).size, 1);
  });
});

describe('the swarm incident', () => {
  const swarmAgents = new Set(
    [...linesOf('swarm'), ...linesOf('swarm-buster')].map((line) => line.userAgent),
  );

  test('datacenter swarm addresses hammer the same few hot pages with a small shared UA set, for minutes', () => {
    assert.ok(hotPages.size >= 3 && hotPages.size <= 8);
    assert.ok(swarmAgents.size >= 2 && swarmAgents.size <= 4, `${swarmAgents.size} swarm UAs`);
    const slash24s = new Set<string>();
    for (const role of ['swarm', 'swarm-buster'] as const) {
      for (const { label, lines: own } of clientsOf(role)) {
        slash24s.add(label.ip.split('.').slice(0, 3).join('.'));
        assert.ok(own.every((line) => hotPages.has(line.path) && line.referer === null));
        assert.ok(own.every((line) => line.acceptLanguage === 'en-US,en;q=0.9'));
        const span = ((own.at(-1)?.time ?? 0) - (own[0]?.time ?? 0)) / 1000;
        const rate = own.length / span;
        // Each bot stays at least a quarter of the incident (minutes at the default 10-minute scale).
        assert.ok(
          span >= 0.2 * ((scenario.incident.until - scenario.incident.from) / 1000),
          `active only ${span} s`,
        );
        assert.ok(rate >= 0.4 && rate <= 3.5, `rate ${rate}`);
      }
    }
    assert.ok(slash24s.size <= 6, `swarm spread over ${slash24s.size} /24s`);
    assert.ok(linesOf('swarm').every((line) => line.query === null));
  });

  test('swarm-busters add a random query string to every request, so each one is a cache MISS', () => {
    const busters = linesOf('swarm-buster');
    assert.ok(busters.length > 500);
    for (const line of busters) {
      assert.match(line.query ?? '', /^([a-z]{6}=[a-z0-9]{4,10}|_=\d{13})$/);
      assert.equal(line.cacheStatus, 'MISS');
      assert.ok(line.upstreamTime !== null);
    }
    assert.ok(new Set(busters.map((line) => line.target)).size > busters.length * 0.99, 'every URL is new');
  });

  test('residential exits each send a short burst (3-15 requests, all logged within 20 s) to the hot pages, half of them busting', () => {
    const exits = clientsOf('residential-swarm');
    assert.ok(exits.length >= 300);
    let busting = 0;
    for (const { lines: own } of exits) {
      assert.ok(own.length <= 15);
      assert.ok((own.at(-1)?.time ?? 0) - (own[0]?.time ?? 0) <= 20_000);
      assert.ok(own.every((line) => hotPages.has(line.path) && swarmAgents.has(line.userAgent)));
      if (own.some((line) => line.query !== null)) busting++;
    }
    assert.ok(share(busting, exits.length) > 0.35 && share(busting, exits.length) < 0.65);
    assert.ok(exits.some((exit) => exit.label.ip.includes(':')));
    assert.ok(exits.filter((exit) => exit.lines.length >= 3).length > exits.length * 0.9);
  });

  test('while the swarm is on, hot pages are served STALE a lot and origin times climb', () => {
    const { from, until } = scenario.incident;
    const peak = (line: ParsedLine) =>
      line.time > from + (until - from) * 0.3 && line.time < until - (until - from) * 0.2;
    const hotServed = lines.filter((line) => peak(line) && hotPages.has(line.path) && line.query === null);
    const stale = hotServed.filter((line) => line.cacheStatus === 'STALE').length;
    assert.ok(
      share(stale, hotServed.length) > 0.3,
      `STALE share on hot pages ${share(stale, hotServed.length)}`,
    );
    const originPage = (line: ParsedLine) =>
      !isAsset(line) &&
      line.method === 'GET' &&
      (line.cacheStatus === 'MISS' || line.cacheStatus === 'EXPIRED');
    const before = lines
      .filter((line) => line.time < from && originPage(line))
      .map((line) => line.upstreamTime ?? 0);
    const during = lines
      .filter((line) => peak(line) && originPage(line))
      .map((line) => line.upstreamTime ?? 0);
    assert.ok(before.length > 20 && during.length > 100);
    assert.ok(median(during) > 5 * median(before), `origin median ${median(before)} s → ${median(during)} s`);
  });

  test('cache status and origin time agree: no origin time on HIT/STALE/UPDATING, 504 only at the origin timeout', () => {
    for (const line of lines) {
      if (line.cacheStatus === 'HIT' || line.cacheStatus === 'STALE' || line.cacheStatus === 'UPDATING') {
        assert.equal(line.upstreamTime, null);
      } else if (line.cacheStatus !== null) {
        assert.ok(line.upstreamTime !== null, `${line.cacheStatus} without origin time`);
      }
      if (line.status === 504) assert.ok((line.upstreamTime ?? 0) >= ORIGIN_TIMEOUT_MS / 1000);
      assert.ok((line.requestTime ?? 0) >= (line.upstreamTime ?? 0));
    }
  });
});

describe('X-Forwarded-For spoofing', () => {
  test('the spoofer forges the victim in X-Forwarded-For; the resolved client is the spoofer, the victim only owns its own lines', () => {
    const [victim] = clientsOf('xff-victim');
    const [spoofer] = clientsOf('xff-spoofer');
    assert.ok(victim && spoofer);
    for (const line of spoofer.lines)
      assert.equal(line.forwardedFor, `${victim.label.ip}, ${spoofer.label.ip}`);
    for (const line of victim.lines) assert.equal(line.forwardedFor, victim.label.ip);
    assert.ok(victim.lines.some(isAsset), 'the victim browses like a person');
    assert.equal(victim.label.protected, true);
    assert.equal(spoofer.label.bot, true);
    const sensitive = new Set<string>(SENSITIVE_PATHS);
    assert.ok(
      share(spoofer.lines.filter((line) => sensitive.has(line.path)).length, spoofer.lines.length) > 0.25,
    );
    // Its requests overlap the victim's browsing, so a naive leftmost-XFF resolver would blame the victim.
    assert.ok((spoofer.lines[0]?.time ?? 0) < (victim.lines.at(-1)?.time ?? 0));
  });

  test('a few legitimate clients arrive with a private hop already in X-Forwarded-For (corporate proxies)', () => {
    const proxied = linesOf('human').filter((line) => line.forwardedFor?.includes(','));
    assert.ok(proxied.length > 0);
    for (const line of proxied) assert.match(line.forwardedFor ?? '', /^192\.168\.\d+\.\d+, /);
  });
});
