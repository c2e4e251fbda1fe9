import { LRUCache } from 'lru-cache';
import { ApiError } from './errors.js';
import type { ApiKeyRecord, ApiKeyStore, Scope } from './keys.js';

/** How long a key lookup is cached: a revoke or a new key takes effect within this time. */
export const KEY_CACHE_TTL_MS = 5_000;
const KEY_CACHE_MAX = 10_000;
/** Last-use times are written at most this often per key and process. */
const TOUCH_INTERVAL_MS = 60_000;
/** Longest key accepted before hashing (ours are 46 characters). */
const MAX_KEY_LENGTH = 256;
/**
 * Keys not in the cache looked up in Redis per second, process-wide. A flood of made-up keys costs
 * at most this many Redis round trips a second; past it such requests get 429 (a known key is
 * cached and never waits for this budget).
 */
export const KEY_LOOKUPS_PER_SECOND = 500;

export interface AuthOptions {
  /** Requests per second per key; 0 disables. */
  rate: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
  touchedAt: number;
}

/**
 * Authenticates `X-Api-Key` / `Authorization: Bearer` keys against the key store, with a bounded
 * cache (hits and misses, KEY_CACHE_TTL_MS) so a request costs no Redis round trip, and a
 * per-key token bucket (bounded: one entry per key seen recently).
 */
export class Authenticator {
  /** Keyed by the presented key itself: a hit costs no hashing either. */
  private readonly cache = new LRUCache<string, { record: ApiKeyRecord }>({
    max: KEY_CACHE_MAX,
    ttl: KEY_CACHE_TTL_MS,
  });
  /** Keys found unknown, apart: a flood of made-up keys must not push the real ones out. */
  private readonly unknown = new LRUCache<string, true>({ max: KEY_CACHE_MAX, ttl: KEY_CACHE_TTL_MS });
  /** Keys once verified real: looked up again every KEY_CACHE_TTL_MS (revocation), never budgeted,
   *  so a flood of made-up keys cannot lock real clients out when their cache entry expires. */
  private readonly known = new LRUCache<string, true>({ max: KEY_CACHE_MAX });
  private lookups = { second: 0, count: 0 };
  private readonly buckets = new LRUCache<string, Bucket>({ max: KEY_CACHE_MAX });

  constructor(
    private readonly store: ApiKeyStore,
    private readonly options: AuthOptions,
    private readonly onTouchError: (error: Error) => void = () => undefined,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * The key's record; throws (or rejects with) ApiError 401 / 403 / 429. Synchronous when the key
   * is cached (no promise on the hot path); a promise when Redis must be asked.
   */
  authenticate(
    headers: Record<string, string | string[] | undefined>,
    need: Scope,
  ): ApiKeyRecord | Promise<ApiKeyRecord> {
    const key = presentedKey(headers);
    if (!key)
      throw new ApiError(
        401,
        'missing-key',
        'send an API key as X-Api-Key: <key> or Authorization: Bearer <key>',
      );
    if (key.length > MAX_KEY_LENGTH) throw new ApiError(401, 'unknown-key', 'the API key is not known');
    const cached = this.cache.get(key);
    if (cached) return this.check(cached.record, need);
    if (this.unknown.has(key)) return this.check(null, need);
    const second = Math.floor(this.clock() / 1000);
    if (this.lookups.second !== second) this.lookups = { second, count: 0 };
    if (!this.known.has(key) && ++this.lookups.count > KEY_LOOKUPS_PER_SECOND)
      throw new ApiError(429, 'too-many-key-lookups', 'too many unknown API keys presented; retry shortly', {
        'retry-after': '1',
      });
    return this.store.verify(key).then((record) => {
      if (record) {
        this.cache.set(key, { record });
        this.known.set(key, true);
      } else this.unknown.set(key, true);
      return this.check(record, need);
    });
  }

  private check(record: ApiKeyRecord | null, need: Scope): ApiKeyRecord {
    if (!record) throw new ApiError(401, 'unknown-key', 'the API key is not known');
    if (record.revokedAt !== null)
      throw new ApiError(401, 'revoked-key', `the API key '${record.name}' was revoked`);
    if (need === 'admin' && record.scope !== 'admin') {
      throw new ApiError(
        403,
        'forbidden',
        `the API key '${record.name}' has scope ${record.scope}; this needs admin`,
      );
    }
    this.charge(record.name);
    return record;
  }

  /** Token bucket per key; also records the last use (throttled). */
  private charge(name: string): void {
    const now = this.clock();
    let bucket = this.buckets.get(name);
    if (!bucket) {
      bucket = { tokens: this.options.burst, at: now, touchedAt: 0 };
      this.buckets.set(name, bucket);
    }
    if (now - bucket.touchedAt >= TOUCH_INTERVAL_MS) {
      bucket.touchedAt = now;
      this.store.touch(name, now).catch(this.onTouchError);
    }
    if (this.options.rate <= 0) return;
    bucket.tokens = Math.min(
      this.options.burst,
      bucket.tokens + ((now - bucket.at) / 1000) * this.options.rate,
    );
    bucket.at = now;
    if (bucket.tokens < 1) {
      const wait = Math.max(1, Math.ceil((1 - bucket.tokens) / this.options.rate));
      throw new ApiError(
        429,
        'rate-limited',
        `more than ${this.options.rate} requests/s with key '${name}'`,
        {
          'retry-after': String(wait),
        },
      );
    }
    bucket.tokens -= 1;
  }
}

function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey.length > 0) return apiKey.trim();
  const authorization = headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  return undefined;
}
