import type { AccessLog } from '@edgeguard/schema';
import { LRUCache } from 'lru-cache';
import { Fnv1a64, fnv1a64Hex } from './fnv.js';
import { classifyUserAgent, type UaInfo } from './user-agent.js';

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
   * Distinct (UA, Accept-Language, header order) triples remembered (default 20,000). A miss
   * costs one UA classification (cached on its own) and one hash, so a flood of new triples
   * costs CPU, never memory.
   */
  cacheSize?: number;
}

export interface HttpFingerprinter {
  fingerprint(log: Pick<AccessLog, 'userAgent' | 'acceptLanguage' | 'headerOrder'>): string;
  /** The fingerprint and the normalised parts it was computed from (not cached: for explain). */
  parts(log: Pick<AccessLog, 'userAgent' | 'acceptLanguage' | 'headerOrder'>): HttpFingerprintParts;
}

/** Accept-Language tags kept: a browser sends a handful; beyond that is noise or an attack. */
const MAX_LANGUAGE_TAGS = 8;
/** Header-order text kept, in characters (about 40 header names). */
const MAX_HEADER_ORDER_LENGTH = 512;
/** Separates fields in the hashed text; a control byte no normalised field contains. */
const FIELD_SEPARATOR = 0x1f;

export function createHttpFingerprinter(options: HttpFingerprintOptions = {}): HttpFingerprinter {
  const exactUserAgent = options.exactUserAgent ?? true;
  const prefix = exactUserAgent ? 'h1:' : 'h1c:';
  const hasher = new Fnv1a64();
  // Key characters are bounded too, so 20,000 triples of maximal fields cannot pin more than ~40 MB.
  const cache = new LRUCache<string, string>({
    max: options.cacheSize ?? 20_000,
    maxSize: (options.cacheSize ?? 20_000) * 1_000,
    sizeCalculation: (_fingerprint, key) => Math.min(key.length, 4_000),
  });

  function parts(log: Pick<AccessLog, 'userAgent' | 'acceptLanguage' | 'headerOrder'>): HttpFingerprintParts {
    const ua = classifyUserAgent(log.userAgent);
    const userAgentHash = exactUserAgent && ua.kind !== 'empty' ? fnv1a64Hex(log.userAgent ?? '', 8) : '';
    const acceptLanguage = normaliseAcceptLanguage(log.acceptLanguage);
    const headerOrder = normaliseHeaderOrder(log.headerOrder);
    hasher.reset().update(ua.kind);
    hasher.byte(FIELD_SEPARATOR).update(ua.family);
    hasher.byte(FIELD_SEPARATOR).update(ua.major === null ? '' : String(ua.major));
    hasher.byte(FIELD_SEPARATOR).update(ua.os ?? '');
    hasher.byte(FIELD_SEPARATOR).update(userAgentHash);
    hasher.byte(FIELD_SEPARATOR).update(acceptLanguage);
    hasher.byte(FIELD_SEPARATOR).update(headerOrder);
    return {
      fingerprint: prefix + hasher.hex(12),
      kind: ua.kind,
      family: ua.family,
      major: ua.major,
      os: ua.os,
      userAgentHash,
      acceptLanguage,
      headerOrder,
    };
  }

  return {
    fingerprint(log) {
      const ua = log.userAgent ?? '';
      const language = log.acceptLanguage ?? '';
      // The lengths make the key unambiguous whatever characters the fields contain.
      const key = `${ua.length},${language.length}:${ua}${language}${log.headerOrder ?? ''}`;
      const cached = cache.get(key);
      if (cached !== undefined) return cached;
      const fingerprint = parts(log).fingerprint;
      cache.set(key, fingerprint);
      return fingerprint;
    },
    parts,
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
export function httpFingerprintParts(
  log: Pick<AccessLog, 'userAgent' | 'acceptLanguage' | 'headerOrder'>,
): HttpFingerprintParts {
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
