import { prefixOf } from '@edgeguard/netaddr';
import { type AccessLog, emptyAccessLog } from '@edgeguard/schema';
import type { DetectDeps, UaInfo } from '../src/deps.js';

export const T0 = Date.UTC(2024, 0, 21, 9, 0, 0);

export const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
export const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
export const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
export const CURL = 'curl/8.4.0';

/** A request with sensible defaults: a cached page fetched by Chrome. */
export function request(fields: Partial<AccessLog> & { time: number; clientAddress: string }): AccessLog {
  return {
    ...emptyAccessLog(),
    method: 'GET',
    host: 'shop.example',
    path: '/',
    protocol: 'HTTP/1.1',
    status: 200,
    bytes: 1000,
    cacheStatus: 'HIT',
    userAgent: CHROME,
    acceptLanguage: 'en-US,en;q=0.9',
    ...fields,
  };
}

/** Test stand-ins for the fingerprint package: enough to classify the UAs above. */
export const testDeps: DetectDeps = {
  prefixOf: (ip) => prefixOf(ip),
  ipv4PrefixBits: 24,
  classifyUserAgent(ua): UaInfo {
    if (ua === null) return { kind: 'empty', family: 'none', major: null, os: null, crawler: null };
    if (ua.includes('Googlebot'))
      return { kind: 'crawler', family: 'Googlebot', major: 2, os: null, crawler: 'Googlebot' };
    if (ua.startsWith('curl')) return { kind: 'tool', family: 'curl', major: 8, os: null, crawler: null };
    if (ua.startsWith('Mozilla/'))
      return { kind: 'browser', family: 'Chrome', major: 120, os: null, crawler: null };
    return { kind: 'other', family: 'other', major: null, os: null, crawler: null };
  },
  httpFingerprint: (log) => `h1:${log.userAgent ?? '-'}|${log.acceptLanguage ?? '-'}`,
  // Googlebot is verified only from 66.249.64.0/19.
  verifyCrawlerClaim: (crawler, ip) =>
    crawler === 'Googlebot'
      ? /^66\.249\.(6[4-9]|[7-8]\d|9[0-5])\./.test(ip)
        ? 'verified'
        : 'unverified'
      : 'unknown',
};

/** A human browsing session: a page with assets (referer = page), then think time. */
export function* humanSession(ip: string, start: number, pages: number, ua = FIREFOX): Generator<AccessLog> {
  let t = start;
  for (let p = 0; p < pages; p++) {
    const page = `/articles/${(p * 7 + ip.length) % 50}`;
    yield request({
      time: t,
      clientAddress: ip,
      path: page,
      userAgent: ua,
      referer: p > 0 ? 'https://shop.example/' : null,
    });
    const assets = p === 0 ? 8 : 2;
    for (let a = 0; a < assets; a++) {
      yield request({
        time: t + 100 + a * 20,
        clientAddress: ip,
        path: a === 0 ? `/img/${p}-${ip}.webp` : `/static/app-${a}.${a % 2 ? 'js' : 'css'}`,
        userAgent: ua,
        referer: `https://shop.example${page}`,
      });
    }
    t += 20_000 + ((p * 7919) % 30_000);
  }
}

/** Merges request streams in time order. */
export function merge(...streams: Iterable<AccessLog>[]): AccessLog[] {
  return streams.flatMap((s) => [...s]).sort((a, b) => a.time - b.time);
}
