import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatIpv4, parseCidr, parseIpv4Value } from '@edgeguard/netaddr';
import { buildCdnRanges, buildCrawlers } from '../scripts/build-verified-crawlers.js';
import { CDN_RANGES, VERIFIED_CRAWLERS } from '../src/generated/verified-crawlers.data.js';
import { parseUserAgent } from '../src/user-agent.js';
import {
  cdnProviderOf,
  cdnProviderOfIpv4,
  isCdnAddress,
  isCdnIpv4,
  isVerifiedCrawlerAddress,
  verifiedCrawlerRanges,
  verifyCrawlerClaim,
  verifyCrawlerHostname,
} from '../src/verified-crawlers.js';
import { missing, readShared } from './shared-data.js';

describe('bundled data', () => {
  test('the generated module matches the range files in data/ (rerun `npm run generate` when it does not)', () => {
    const built = buildCrawlers();
    assert.deepEqual(
      VERIFIED_CRAWLERS.map((entry) => ({ ...entry, userAgentTokens: [...entry.userAgentTokens] })),
      built.map((crawler) => ({
        name: crawler.name,
        userAgentTokens: crawler.userAgentTokens,
        ranges: crawler.ranges.join(' '),
        hostnamePatterns: crawler.hostnamePatterns,
        source: crawler.source,
      })),
    );
    const cdn = buildCdnRanges();
    assert.deepEqual(
      CDN_RANGES,
      Object.fromEntries(Object.entries(cdn).map(([name, list]) => [name, list.join(' ')])),
    );
  });

  test('the build refuses a range file it cannot name or a malformed range, saying which file', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'fingerprint-data-'));
    try {
      cpSync(fileURLToPath(new URL('../data/', import.meta.url)), dataDir, { recursive: true });
      const newBot = join(dataDir, 'verified-crawlers', 'newbot.json');
      writeFileSync(newBot, '# New bot\n{"name":"newbot","user_agent":"newbot","ranges":["192.0.2.0/24"]}\n');
      assert.throws(() => buildCrawlers(dataDir), /newbot\.json: no crawler name for "newbot"/);
      rmSync(newBot);
      writeFileSync(
        join(dataDir, 'verified-crawlers', 'gptbot.json'),
        '# GPTBot\n{"name":"gptbot","user_agent":"gptbot","ranges":["20.171.206.0/24","not a range"]}\n',
      );
      assert.throws(() => buildCrawlers(dataDir), /gptbot\.json: "not a range" is not an address or CIDR/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('every bundled range is a valid CIDR', () => {
    for (const [name, ranges] of Object.entries(verifiedCrawlerRanges())) {
      for (const range of ranges) assert.doesNotThrow(() => parseCidr(range), `${name}: ${range}`);
    }
  });

  test('each verified crawler name is what the UA classifier reports for that crawler', () => {
    for (const name of Object.keys(verifiedCrawlerRanges())) {
      const ua = `Mozilla/5.0 (compatible; ${name}/1.0; +https://example.com/bot)`;
      assert.equal(parseUserAgent(ua).crawler, name, ua);
      assert.notEqual(verifyCrawlerClaim(name, '192.0.2.1'), 'unknown', name);
    }
  });
});

describe('verifyCrawlerClaim', () => {
  test('a Googlebot claim from a published Google range is verified, from elsewhere unverified', () => {
    assert.equal(verifyCrawlerClaim('Googlebot', '66.249.66.1'), 'verified');
    assert.equal(verifyCrawlerClaim('Googlebot', '2001:4860:4801:10::1'), 'verified');
    assert.equal(verifyCrawlerClaim('Googlebot', '203.0.113.50'), 'unverified');
  });

  test('Google product tokens are judged by Google ranges (common and special-case crawlers)', () => {
    assert.equal(verifyCrawlerClaim('Googlebot-Image', '66.249.66.1'), 'verified');
    assert.equal(verifyCrawlerClaim('AdsBot-Google', '66.249.90.10'), 'verified');
    assert.equal(verifyCrawlerClaim('Mediapartners-Google', '198.51.100.1'), 'unverified');
  });

  test('bingbot and OpenAI crawlers are checked against their own lists', () => {
    assert.equal(verifyCrawlerClaim('bingbot', '157.55.39.12'), 'verified');
    assert.equal(verifyCrawlerClaim('bingbot', '66.249.66.1'), 'unverified');
    assert.equal(verifyCrawlerClaim('GPTBot', '20.171.207.2'), 'verified');
    assert.equal(verifyCrawlerClaim('ChatGPT-User', '20.171.207.2'), 'unverified');
  });

  test('crawlers without published ranges, and unknown names, are unknown', () => {
    assert.equal(verifyCrawlerClaim('YandexBot', '5.255.253.1'), 'unknown');
    assert.equal(verifyCrawlerClaim('AhrefsBot', '54.36.148.1'), 'unknown');
  });

  test('a claim with an address that is not one is unverified, not an error', () => {
    assert.equal(verifyCrawlerClaim('Googlebot', 'not-an-ip'), 'unverified');
  });
});

describe('isVerifiedCrawlerAddress and verifiedCrawlerRanges', () => {
  test('names the crawler whose ranges hold the address', () => {
    assert.equal(isVerifiedCrawlerAddress('66.249.66.1'), 'Googlebot');
    assert.equal(isVerifiedCrawlerAddress('157.55.39.12'), 'bingbot');
    assert.equal(isVerifiedCrawlerAddress('203.0.113.50'), null);
  });

  test('every range handed to the testkit verifies its own crawler', () => {
    const ranges = verifiedCrawlerRanges();
    assert.ok(ranges.Googlebot && ranges.bingbot && ranges.GPTBot, Object.keys(ranges).join(', '));
    for (const [name, cidrs] of Object.entries(ranges)) {
      for (const cidr of cidrs.slice(0, 5)) {
        const network = parseCidr(cidr).text.split('/')[0]!;
        assert.equal(verifyCrawlerClaim(name, network), 'verified', `${name} ${cidr}`);
        assert.notEqual(isVerifiedCrawlerAddress(network), null, `${name} ${cidr}`);
      }
    }
  });

  test('returns a copy: callers cannot change the bundled ranges', () => {
    verifiedCrawlerRanges().Googlebot!.length = 0;
    assert.ok(verifiedCrawlerRanges().Googlebot!.length > 0);
  });
});

describe('verifyCrawlerHostname (reverse DNS, checked by the caller)', () => {
  test('accepts the operator domains and rejects look-alikes', () => {
    assert.equal(verifyCrawlerHostname('Googlebot', 'crawl-66-249-66-1.googlebot.com.'), 'verified');
    assert.equal(verifyCrawlerHostname('Googlebot', 'rate-limited-proxy-66-249-90-1.google.com'), 'verified');
    assert.equal(verifyCrawlerHostname('Googlebot', 'googlebot.com.evil.example'), 'unverified');
    assert.equal(verifyCrawlerHostname('YandexBot', 'spider-5-255-253-1.yandex.com'), 'verified');
    assert.equal(verifyCrawlerHostname('GPTBot', 'anything.example'), 'unknown');
  });
});

describe('CDN addresses', () => {
  test('Cloudflare and CloudFront egress addresses are recognised, others are not', () => {
    assert.equal(cdnProviderOf('104.16.0.1'), 'Cloudflare');
    assert.equal(cdnProviderOf('2606:4700::1'), 'Cloudflare');
    assert.equal(cdnProviderOf('13.224.0.1'), 'CloudFront');
    assert.equal(isCdnAddress('203.0.113.50'), false);
  });

  test('by number (cdnProviderOfIpv4, isCdnIpv4) answers as by text, at every IPv4 range edge and between', () => {
    const values: number[] = [0, 0x7fffffff, 0x80000000, 0xffffffff];
    for (const ranges of Object.values(CDN_RANGES)) {
      for (const cidr of ranges.split(' ').map(parseCidr)) {
        if (cidr.version !== 4) continue;
        const last = cidr.network + 2 ** (32 - cidr.prefixLength) - 1;
        values.push(cidr.network, last, cidr.network - 1, last + 1, (cidr.network + last) / 2);
      }
    }
    let seed = 11;
    for (let k = 0; k < 5000; k++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      values.push(seed);
    }
    const providers = new Set<string | null>();
    for (const value of values.filter((v) => v >= 0 && v <= 0xffffffff)) {
      const text = formatIpv4(Math.floor(value));
      const number = parseIpv4Value(text);
      const provider = cdnProviderOf(text);
      assert.equal(cdnProviderOfIpv4(number), provider, text);
      assert.equal(isCdnIpv4(number), isCdnAddress(text), text);
      providers.add(provider);
    }
    // Every provider with IPv4 ranges was met, and addresses of none.
    assert.deepEqual(
      [...providers].sort(),
      [...Object.keys(CDN_RANGES).filter((name) => CDN_RANGES[name]!.includes('.')), null].sort(),
    );
    assert.equal(cdnProviderOfIpv4(-1), null, 'negative: not an IPv4 address');
    assert.equal(isCdnIpv4(parseIpv4Value('2606:4700::1')), false);
  });
});

test('elastic apache log: Googlebot claims from Google addresses verify, the spoofed ones do not', {
  skip: missing('elastic-apache-logs/apache_logs'),
}, (t) => {
  const lines = readShared('elastic-apache-logs/apache_logs').split('\n');
  const claims = new Map<string, string>();
  for (const line of lines) {
    if (!line.includes('Googlebot')) continue;
    const ip = line.slice(0, line.indexOf(' '));
    claims.set(ip, verifyCrawlerClaim('Googlebot', ip));
  }
  const verified = [...claims.values()].filter((v) => v === 'verified').length;
  t.diagnostic(`distinct Googlebot-claiming addresses: ${claims.size}, verified ${verified}`);
  // SOURCE.md: line 8899 claims Googlebot from 46.118.127.106, not a Google address.
  assert.ok(lines[8898]!.startsWith('46.118.127.106 ') && lines[8898]!.includes('Googlebot'));
  assert.equal(claims.get('46.118.127.106'), 'unverified');
  for (const [ip, claim] of claims)
    assert.equal(claim, ip.startsWith('66.249.') ? 'verified' : 'unverified', ip);
});
