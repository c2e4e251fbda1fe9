import type { AccessLog } from '@edgeguard/schema';
import { LRUCache } from 'lru-cache';
import { Fnv1a64, fnv1a64Hex } from './fnv.js';
import { classifyUserAgent, MAX_SCANNED_UA_LENGTH, type UaInfo } from './user-agent.js';

/** What a behavioural HTTP fingerprint is made of (README.md, "httpFingerprint", says why). */
export interface HttpFingerprintParts {
  /** `h1:` + 12 hex digits (exact UA mode) or `h1c:` + 12 hex digits (coarse mode). */
  fingerprint: string;
  kind: UaInfo['kind'];
  family: string;
  major: number | null;
  os: string | null;
  /** First 8 hex digits of FNV-1a 64 of the exact UA string; '' in coarse mode or without a UA. */
  userAgentHash: string;
  /** Normalised Accept-Language (see normaliseAcceptLanguage); '' when not logged. */
  acceptLanguage: string;
  /** Normalised header-name order; '' when not logged. */
  headerOrder: string;
}

export interface HttpFingerprintOptions {
  /**
   * Include a hash of the exact UA string (default true). Bot swarms usually repeat one exact
   * UA, so this splits a swarm from humans on the same browser version; a swarm that randomises
   * its UA splits into many fingerprints, which the coarse mode (false) keeps together.
   */
  exactUserAgent?: boolean;
  /**
   * Distinct UA strings remembered with their hashed part (default 10,000, least recently used
   * evicted). A miss costs one UA classification and one hash: a flood of new UAs costs CPU,
   * never memory.
   */
  maxUserAgents?: number;
  /**
   * Fingerprints remembered across all UAs, one per (UA, Accept-Language, header order)
   * (default 50,000). Past it the least recently used UAs are dropped with their fingerprints.
   * Fields longer than 512 characters are never cached, so the bound holds in bytes too
   * (about 50,000 × 1 KB at worst).
   */
  maxFingerprints?: number;
}

type FingerprintInput = Pick<AccessLog, 'userAgent' | 'acceptLanguage' | 'headerOrder'>;

export interface HttpFingerprinter {
  fingerprint(log: FingerprintInput): string;
  /** The fingerprint and the normalised parts it was computed from (not cached: for explain). */
  parts(log: FingerprintInput): HttpFingerprintParts;
  /** What the cache holds now, for metrics. */
  cacheStats(): { userAgents: number; fingerprints: number };
}

/** Accept-Language tags kept: a browser sends a handful; beyond that is noise or an attack. */
const MAX_LANGUAGE_TAGS = 8;
/** Header-order text kept, in characters (about 40 header names). */
const MAX_HEADER_ORDER_LENGTH = 512;
/** Fields longer than this are fingerprinted but not cached (see maxFingerprints). */
const MAX_CACHED_FIELD_LENGTH = 512;

/**
 * The exact-UA hash: FNV-1a 64 of the UA, first 8 hex digits. Of a UA longer than
 * MAX_SCANNED_UA_LENGTH, of its first MAX_SCANNED_UA_LENGTH characters and its length: hashing
 * every character of a flood of 4 KB random UAs (a client writes them; nginx takes 8 KB) cost
 * ~100 µs a request. Two such UAs that differ only past that point and have one length share a
 * hash — a swarm would gain nothing by it (they already share the fingerprint's other parts).
 */
export function exactUserAgentHash(userAgent: string): string {
  if (userAgent.length <= MAX_SCANNED_UA_LENGTH) return fnv1a64Hex(userAgent, 8);
  return fnv1a64Hex(`${userAgent.slice(0, MAX_SCANNED_UA_LENGTH)}\u0000${userAgent.length}`, 8);
}
/** Separates fields in the hashed text; a control byte no normalised field contains. */
const FIELD_SEPARATOR = 0x1f;

/**
 * One UA's cached state: the hash after the UA fields, and the fingerprints seen with it,
 * by Accept-Language then header order. Nested maps look each field up by its own string, so a
 * hit concatenates and re-hashes nothing.
 */
interface UserAgentEntry {
  high: number;
  low: number;
  byLanguage: Map<string, Map<string, string>>;
  fingerprints: number;
}

export function createHttpFingerprinter(options: HttpFingerprintOptions = {}): HttpFingerprinter {
  const exactUserAgent = options.exactUserAgent ?? true;
  const maxFingerprints = options.maxFingerprints ?? 50_000;
  const prefix = exactUserAgent ? 'h1:' : 'h1c:';
  const hasher = new Fnv1a64();
  let cachedFingerprints = 0;
  const userAgents = new LRUCache<string, UserAgentEntry>({
    max: options.maxUserAgents ?? 10_000,
    dispose: (entry) => {
      cachedFingerprints -= entry.fingerprints;
    },
  });

  /** Hashes the UA fields; leaves the state in `hasher`. */
  function hashUserAgent(userAgent: string | null): { ua: UaInfo; userAgentHash: string } {
    const ua = classifyUserAgent(userAgent);
    const userAgentHash = exactUserAgent && ua.kind !== 'empty' ? exactUserAgentHash(userAgent ?? '') : '';
    hasher.reset().update(ua.kind);
    hasher.byte(FIELD_SEPARATOR).update(ua.family);
    hasher.byte(FIELD_SEPARATOR).update(ua.major === null ? '' : String(ua.major));
    hasher.byte(FIELD_SEPARATOR).update(ua.os ?? '');
    hasher.byte(FIELD_SEPARATOR).update(userAgentHash);
    return { ua, userAgentHash };
  }

  /** Hashes the request fields onto the UA state in `hasher`; returns the fingerprint. */
  function finish(acceptLanguage: string, headerOrder: string): string {
    hasher.byte(FIELD_SEPARATOR).update(acceptLanguage);
    hasher.byte(FIELD_SEPARATOR).update(headerOrder);
    return prefix + hasher.hex(12);
  }

  function parts(log: FingerprintInput): HttpFingerprintParts {
    const { ua, userAgentHash } = hashUserAgent(log.userAgent);
    const acceptLanguage = normaliseAcceptLanguage(log.acceptLanguage);
    const headerOrder = normaliseHeaderOrder(log.headerOrder);
    return {
      fingerprint: finish(acceptLanguage, headerOrder),
      kind: ua.kind,
      family: ua.family,
      major: ua.major,
      os: ua.os,
      userAgentHash,
      acceptLanguage,
      headerOrder,
    };
  }

  function fingerprint(log: FingerprintInput): string {
    const userAgent = log.userAgent ?? '';
    const language = log.acceptLanguage ?? '';
    const order = log.headerOrder ?? '';
    let entry = userAgents.get(userAgent);
    const byOrder = entry?.byLanguage.get(language);
    const cached = byOrder?.get(order);
    if (cached !== undefined) return cached;

    if (entry === undefined) {
      hashUserAgent(log.userAgent);
      if (userAgent.length <= MAX_CACHED_FIELD_LENGTH) {
        entry = { high: hasher.high, low: hasher.low, byLanguage: new Map(), fingerprints: 0 };
        userAgents.set(userAgent, entry);
      }
    } else {
      hasher.resume(entry.high, entry.low);
    }
    const result = finish(normaliseAcceptLanguage(log.acceptLanguage), normaliseHeaderOrder(log.headerOrder));
    if (entry && language.length <= MAX_CACHED_FIELD_LENGTH && order.length <= MAX_CACHED_FIELD_LENGTH) {
      let orders = byOrder;
      if (orders === undefined) {
        orders = new Map();
        entry.byLanguage.set(language, orders);
      }
      orders.set(order, result);
      entry.fingerprints++;
      cachedFingerprints++;
      // Evict whole UAs, least recently used first, until back under the bound (the current UA
      // is the most recent, so it goes last).
      while (cachedFingerprints > maxFingerprints && userAgents.size > 0) userAgents.pop();
    }
    return result;
  }

  return {
    fingerprint,
    parts,
    cacheStats: () => ({ userAgents: userAgents.size, fingerprints: cachedFingerprints }),
  };
}

const defaultFingerprinter = createHttpFingerprinter();

/**
 * Behavioural HTTP fingerprint of a request: `h1:` + 12 hex digits, stable across processes and
 * releases of the same scheme version. See README.md for exactly what goes in.
 */
export function httpFingerprint(
  log: Pick<AccessLog, 'userAgent' | 'acceptLanguage' | 'headerOrder'>,
): string {
  return defaultFingerprinter.fingerprint(log);
}

/** The parts behind {@link httpFingerprint}, for explanations. */
export function httpFingerprintParts(log: FingerprintInput): HttpFingerprintParts {
  return defaultFingerprinter.parts(log);
}

/**
 * `en-US,en;q=0.9` → `en-us,en`: tags lower-cased, spaces and q-values dropped, order kept, at
 * most 8 tags. Browsers derive q-values from the order, so dropping them loses nothing that
 * tells clients apart, and it absorbs formatting differences between proxies.
 */
export function normaliseAcceptLanguage(value: string | null): string {
  if (value === null || value === '' || value === '-') return '';
  const tags: string[] = [];
  for (const item of value.split(',')) {
    const semicolon = item.indexOf(';');
    const tag = (semicolon >= 0 ? item.slice(0, semicolon) : item).trim().toLowerCase();
    if (tag === '') continue;
    tags.push(tag);
    if (tags.length === MAX_LANGUAGE_TAGS) break;
  }
  return tags.join(',');
}

/** Header names lower-cased, spaces removed, cut to 512 characters. */
export function normaliseHeaderOrder(value: string | null): string {
  if (value === null || value === '' || value === '-') return '';
  const compact = value.replace(/\s+/g, '').toLowerCase();
  return compact.length > MAX_HEADER_ORDER_LENGTH ? compact.slice(0, MAX_HEADER_ORDER_LENGTH) : compact;
}

/**
 * A human-readable description for reports: `Chrome 120 / Windows / en-US`,
 * `Googlebot 2 (crawler) / Android`, `curl 8 (tool)`, `no user agent / de-DE`.
 */
export function fingerprintLabel(log: Pick<AccessLog, 'userAgent' | 'acceptLanguage'>): string {
  const ua = classifyUserAgent(log.userAgent);
  let label = ua.kind === 'empty' ? 'no user agent' : ua.family;
  if (ua.kind !== 'empty' && ua.major !== null) label += ` ${ua.major}`;
  if (ua.kind !== 'browser' && ua.kind !== 'empty') label += ` (${ua.kind})`;
  if (ua.os !== null) label += ` / ${ua.os}`;
  const language = primaryLanguage(log.acceptLanguage);
  if (language !== null) label += ` / ${language}`;
  return label;
}

/** First Accept-Language tag in its usual spelling: `en-us` → `en-US`. */
function primaryLanguage(value: string | null): string | null {
  const first = normaliseAcceptLanguage(value).split(',')[0];
  if (!first || first === '*') return null;
  const [language, ...rest] = first.split('-');
  // Region subtags are two letters; script and other subtags keep their case-folded form.
  return [language, ...rest.map((part) => (part.length === 2 ? part.toUpperCase() : part))].join('-');
}
