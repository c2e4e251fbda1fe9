import type { AccessLog } from '@edgeguard/schema';
import type { DetectConfig } from './config.js';
import { isProbeAnswer, mayProbe, SensitivePathMatcher } from './path-lists.js';

/** Request facts as bit flags: one number per request, no allocation. */
export const ASSET = 1;
export const SENSITIVE = 2;
export const LOGIN_POST = 4;
export const AUTH_FAILURE = 8;
export const ERROR = 16;
export const NOT_FOUND = 32;
export const REFERER = 64;
/** MISS or EXPIRED: the origin was asked. */
export const MISS = 128;
export const HIT = 256;
export const STALE = 512;
export const EXPIRED = 1024;
export const HAS_QUERY = 2048;
/** BYPASS/DYNAMIC/PASS: not cacheable, so a new query string busts nothing. */
export const UNCACHEABLE = 4096;

/**
 * Classifies requests: asset or page (by extension), sensitive probe, login attempt, status and
 * cache outcome. Extensions are compared by a hash of their lower-cased characters, so no substring
 * is allocated per request.
 */
export class RequestClassifier {
  private readonly assetExtensionHashes = new Set<number>();
  private readonly loginFragments: string[];
  private readonly sensitive: SensitivePathMatcher;

  constructor(config: DetectConfig) {
    for (const ext of config.paths.assetExtensions) {
      const text = ext.startsWith('.') ? ext.slice(1) : ext;
      this.assetExtensionHashes.add(extensionHash(text, 0, text.length));
    }
    this.loginFragments = config.paths.loginPathFragments.map((f) => f.toLowerCase());
    this.sensitive = new SensitivePathMatcher(config.paths.extraSensitiveSuffixes);
  }

  isAsset(path: string): boolean {
    // The extension is after the last '.' of the last segment.
    for (let i = path.length - 1; i >= 0 && i >= path.length - 8; i--) {
      const c = path.charCodeAt(i);
      if (c === 46) return this.assetExtensionHashes.has(extensionHash(path, i + 1, path.length));
      if (c === 47) return false;
    }
    return false;
  }

  isLoginPath(path: string): boolean {
    const lowered = path.toLowerCase();
    for (const fragment of this.loginFragments) if (lowered.includes(fragment)) return true;
    return false;
  }

  /** {@link SensitivePathMatcher.pathProbe}: PROBE_ALWAYS, PROBE_IF_REFUSED or 0. */
  pathProbe(path: string): number {
    return this.sensitive.pathProbe(path);
  }

  /**
   * The flags of one request. The path facts (`pathIsAsset`, `pathProbe` = pathProbe(path)) are
   * passed in because the profiler caches them per client; the query is checked here.
   * `queryMayProbe`: whether the query holds a probe character (isProbeChar), for a caller that
   * read the query already (the profiler hashes it); by default the query is scanned for them.
   */
  classify(
    log: AccessLog,
    pathIsAsset: boolean,
    pathProbe: number,
    queryMayProbe: boolean = log.query !== null && mayProbe(log.query),
  ): number {
    const status = log.status;
    // 206 Partial Content: one piece of a download (a PDF viewer or a video player fetching by
    // Range). Counted like an asset, so a big file read in chunks is not "repetition".
    let flags = pathIsAsset || status === 206 ? ASSET : 0;
    if (status >= 400) {
      flags |= ERROR;
      if (status === 404) flags |= NOT_FOUND;
    }
    if (log.referer !== null) flags |= REFERER;
    if (log.query !== null) flags |= HAS_QUERY;
    if (
      isProbeAnswer(pathProbe, status) ||
      (!pathIsAsset && queryMayProbe && this.sensitive.probeMatches(log.query!))
    ) {
      flags |= SENSITIVE;
    }
    // Not an HTTP request (no method; the path holds what was sent: a TLS handshake or a RAT
    // probe on the HTTP port, a lone word): a probe. Not `-` or nothing, which a browser's unused
    // preconnection also leaves in some servers' logs.
    if (log.method === '' && log.path.length > 1) flags |= SENSITIVE;
    if (log.method === 'POST' && this.isLoginPath(log.path)) {
      flags |= LOGIN_POST;
      if (status === 401 || status === 403) flags |= AUTH_FAILURE;
    }
    flags |= cacheFlags(log.cacheStatus);
    return flags;
  }
}

export function cacheFlags(cacheStatus: string | null): number {
  switch (cacheStatus) {
    case null:
      return 0;
    case 'HIT':
    case 'REVALIDATED':
      return HIT;
    case 'MISS':
      return MISS;
    case 'EXPIRED':
      return MISS | EXPIRED;
    case 'STALE':
    case 'UPDATING':
      return STALE;
    case 'BYPASS':
    case 'DYNAMIC':
    case 'PASS':
    case 'NONE':
      return UNCACHEABLE;
    default:
      return 0;
  }
}

function extensionHash(text: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    let c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h >>> 0;
}
