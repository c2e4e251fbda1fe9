import type { DetectDeps, UaInfo } from '@edgeguard/detect';
import { prefixOf } from '@edgeguard/netaddr';
import type { AccessLog } from '@edgeguard/schema';

/**
 * INTERIM: minimal stand-ins until @edgeguard/fingerprint exports classifyUserAgent,
 * httpFingerprint and verifyCrawlerClaim; replaced by the real ones as soon as it lands.
 */
function interimClassify(ua: string | null): UaInfo {
  if (ua === null || ua === '' || ua === '-')
    return { kind: 'empty', family: 'none', major: null, os: null, crawler: null };
  const lower = ua.toLowerCase();
  const crawler = /googlebot|bingbot|bot\b|crawler|spider|uptimerobot|pingdom|feedly|newsblur/.exec(lower);
  if (crawler) {
    const name = lower.includes('googlebot') ? 'Googlebot' : lower.includes('bingbot') ? 'Bingbot' : null;
    return { kind: 'crawler', family: crawler[0], major: null, os: null, crawler: name };
  }
  if (/curl|wget|python|okhttp|go-http|java\/|libwww|axios|node-fetch|scrapy|headless/.test(lower)) {
    return { kind: 'tool', family: 'tool', major: null, os: null, crawler: null };
  }
  if (ua.startsWith('Mozilla/'))
    return { kind: 'browser', family: 'browser', major: null, os: null, crawler: null };
  return { kind: 'other', family: 'other', major: null, os: null, crawler: null };
}

function interimFingerprint(log: AccessLog): string {
  let h = 0x811c9dc5;
  for (const text of [log.userAgent ?? '', log.acceptLanguage ?? '', log.headerOrder ?? '']) {
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0x1f, 0x01000193);
  }
  return `h1:${(h >>> 0).toString(16).padStart(8, '0')}`;
}

/** The real implementations: addresses from netaddr, user agents and fingerprints from fingerprint. */
export function defaultDeps(ipv4Bits = 24, ipv6Bits = 64): DetectDeps {
  return {
    prefixOf: (ip) => prefixOf(ip, ipv4Bits, ipv6Bits),
    classifyUserAgent: interimClassify,
    httpFingerprint: interimFingerprint,
    verifyCrawlerClaim: () => 'unknown',
  };
}

/** Published ranges of verified crawlers (never covered by automatic decisions). */
export function verifiedCrawlerCidrs(): string[] {
  return [];
}
