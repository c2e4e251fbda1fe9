import { LRUCache } from 'lru-cache';

/** A cached origin response. Times are epoch ms (wall clock). */
export interface CachedResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  storedAt: number;
  /** Fresh until then: served as HIT. */
  freshUntil: number;
  /** After freshUntil and until then it may be served stale while one request revalidates. */
  staleWhileRevalidateUntil: number;
  /** After freshUntil and until then it may be served when the origin fails. */
  staleIfErrorUntil: number;
  /** The request headers the response varies by (its `Vary`), as the request that fetched it sent them. */
  vary: VaryValues;
}

/** Request header values by name (lower case, `''` when absent), for the names a response's `Vary` lists. */
export type VaryValues = Record<string, string> | null;

export interface ResponseCacheOptions {
  /** Total body bytes held (default 64 MiB), every variant counted; least recently used responses go first. */
  maxBytes?: number;
  /** Responses held at most, every variant counted (default 10,000). */
  maxEntries?: number;
  /** Largest body cached (default 1 MiB). */
  maxObjectBytes?: number;
  /** Variants (responses with `Vary`, by the request values they answer) kept per key (default 4); past it the oldest goes. */
  maxVariants?: number;
}

/** Request headers as Node gives them (lower-case names). */
type RequestHeaders = Record<string, string | string[] | undefined>;

interface Stored {
  key: string;
  response: CachedResponse;
}

/**
 * The proxy's cache: an lru-cache bounded by entries and by body bytes. Entries are not removed at
 * freshUntil: an expired entry may still be served stale (stale-while-revalidate, stale-if-error)
 * until it is replaced or evicted.
 *
 * A key holds up to maxVariants responses, newest first, each answering only requests sending the
 * values it was fetched with for the headers its `Vary` lists (RFC 9111 §4.1: the most recent
 * matching response is used). Every variant is one LRU entry, so the byte and entry bounds count
 * them all; the per-key lists only name live LRU entries (emptied as they are evicted).
 */
export class ResponseCache {
  private readonly lru: LRUCache<string, Stored>;
  /** LRU entry ids of each key's variants, newest first. */
  private readonly variants = new Map<string, string[]>();
  private nextId = 0;
  readonly maxObjectBytes: number;
  readonly maxVariants: number;

  constructor(options: ResponseCacheOptions = {}) {
    this.maxObjectBytes = options.maxObjectBytes ?? 1 << 20;
    this.maxVariants = Math.max(1, options.maxVariants ?? 4);
    this.lru = new LRUCache<string, Stored>({
      max: options.maxEntries ?? 10_000,
      maxSize: options.maxBytes ?? 64 << 20,
      sizeCalculation: (stored) => stored.response.body.length + stored.key.length + 512,
      // Deleted, evicted or replaced: the key's list forgets it (lru-cache calls this synchronously).
      dispose: (stored, id) => this.forget(stored.key, id),
    });
  }

  /** The newest response stored under key that answers a request with these headers. */
  get(key: string, request: RequestHeaders): CachedResponse | undefined {
    for (const id of this.variants.get(key) ?? []) {
      const stored = this.lru.peek(id);
      if (stored !== undefined && varyMatches(stored.response.vary, request))
        return this.lru.get(id)?.response;
    }
    return undefined;
  }

  /**
   * Stores a response fetched for a request with these headers: it replaces the key's variants
   * answering that request, and the key's oldest variant when maxVariants are held.
   */
  set(key: string, entry: CachedResponse, request: RequestHeaders): void {
    if (entry.body.length > this.maxObjectBytes) return;
    for (const id of [...(this.variants.get(key) ?? [])]) {
      const stored = this.lru.peek(id);
      if (stored === undefined || varyMatches(stored.response.vary, request)) this.lru.delete(id);
    }
    let ids = this.variants.get(key) ?? [];
    while (ids.length >= this.maxVariants) {
      this.lru.delete(ids[ids.length - 1]!);
      ids = this.variants.get(key) ?? [];
    }
    // Ids are unique (a counter), whatever characters keys hold.
    const id = String(this.nextId++);
    this.lru.set(id, { key, response: entry });
    if (!this.lru.has(id)) return;
    const current = this.variants.get(key) ?? [];
    current.unshift(id);
    this.variants.set(key, current);
  }

  /** Responses held, every variant counted. */
  get size(): number {
    return this.lru.size;
  }

  /** Keys with at least one response held. */
  get keys(): number {
    return this.variants.size;
  }

  private forget(key: string, id: string): void {
    const ids = this.variants.get(key);
    if (ids === undefined) return;
    const at = ids.indexOf(id);
    if (at >= 0) ids.splice(at, 1);
    if (ids.length === 0) this.variants.delete(key);
  }
}

/** `no-store`, `private` or `no-cache`: a shared cache must not keep (or, for no-cache, reuse
 *  without revalidating) the response, whatever a cache policy says (RFC 9111 §5.2.2). */
export function forbidsSharedCache(cacheControl: string | undefined): boolean {
  return (
    cacheControl !== undefined && /(?:^|[\s,])(?:no-store|private|no-cache)(?:$|[\s,=])/i.test(cacheControl)
  );
}

/**
 * A response may be given to a client other than the one whose request fetched it (stored, or
 * shared by concurrent misses) only when it sets no cookie and its Cache-Control does not forbid a
 * shared cache (RFC 9111 §3: `private`, `no-store`; `no-cache` needs revalidation the proxy does not
 * do) and it does not say `Vary: *`.
 */
export function isShareable(headers: Record<string, string | string[]>): boolean {
  if (headers['set-cookie'] !== undefined) return false;
  if (forbidsSharedCache(headerList(headers['cache-control']))) return false;
  return !varyNames(headers).includes('*');
}

/** The request header names a response's `Vary` lists, lower case. */
export function varyNames(headers: Record<string, string | string[]>): string[] {
  const vary = headerList(headers.vary);
  if (vary === undefined) return [];
  return vary
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
}

/** What a request sent for the headers a response varies by (null: the response varies by nothing). */
export function varyValues(
  headers: Record<string, string | string[]>,
  request: Record<string, string | string[] | undefined>,
): VaryValues {
  const names = varyNames(headers);
  if (names.length === 0) return null;
  const values: Record<string, string> = {};
  for (const name of names) values[name] = headerList(request[name]) ?? '';
  return values;
}

/** RFC 9111 §4.1: a response with `Vary` answers only a request sending the same values for those headers. */
export function varyMatches(
  stored: VaryValues,
  request: Record<string, string | string[] | undefined>,
): boolean {
  if (stored === null) return true;
  for (const [name, value] of Object.entries(stored)) {
    if ((headerList(request[name]) ?? '') !== value) return false;
  }
  return true;
}

function headerList(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

export function sharedCacheLifetime(
  cacheControl: string | undefined,
): { maxAgeSeconds: number; swrSeconds: number; sieSeconds: number } | null {
  if (cacheControl === undefined) return null;
  const directives = new Map<string, string>();
  for (const part of cacheControl.toLowerCase().split(',')) {
    const [name, value] = part.trim().split('=', 2) as [string, string | undefined];
    if (name) directives.set(name, value?.replace(/"/g, '') ?? '');
  }
  if (forbidsSharedCache(cacheControl)) return null;
  const seconds = (name: string) => {
    const value = Number(directives.get(name));
    return Number.isFinite(value) && value >= 0 ? value : null;
  };
  // RFC 9111 section 5.2.2.10: s-maxage overrides max-age for shared caches.
  const maxAge = seconds('s-maxage') ?? seconds('max-age');
  if (maxAge === null) return null;
  // RFC 5861: stale-while-revalidate and stale-if-error.
  return {
    maxAgeSeconds: maxAge,
    swrSeconds: seconds('stale-while-revalidate') ?? 0,
    sieSeconds: seconds('stale-if-error') ?? 0,
  };
}
