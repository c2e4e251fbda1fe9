import { createHash, randomBytes } from 'node:crypto';
import { BadInput } from '@edgeguard/schema';
import type { Cluster, Redis } from 'ioredis';

export const SCOPES = ['bouncer', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** What is stored of a key: never the key itself, only its SHA-256. */
export interface ApiKeyRecord {
  name: string;
  scope: Scope;
  /** SHA-256 of the key, hex. */
  hash: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface ApiKeyInfo {
  name: string;
  scope: Scope;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** Redis keys of the API's own state, all under one hash tag (one cluster slot). */
export function apiKeys(prefix: string) {
  const tag = `{${prefix}api}`;
  return {
    /** hash: name → ApiKeyRecord JSON */
    records: `${tag}:keys`,
    /** hash: SHA-256 hex → name */
    byHash: `${tag}:keyhash`,
    /** hash: name → last use, epoch ms (written at most once a minute per key and process) */
    lastUsed: `${tag}:keyused`,
    /** hash: name → store version of the key's last successful /v1/decisions/stream pull */
    cursors: `${tag}:cursors`,
    /** sorted set: decision key → store version of its latest deletion (tombstones.ts) */
    tombstones: `${tag}:tomb`,
    /** sorted set: decision key → when its tombstone was recorded, epoch ms (for the age bound) */
    tombstoneTimes: `${tag}:tombat`,
    /** hash: `cursor` (change-log version recorded through), `floor` (deletions up to it may be missing) */
    tombstoneState: `${tag}:tombstate`,
  };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * API keys in Redis. A key is 256 random bits (`eg_` + base64url); only its SHA-256 is stored.
 * A fast hash is enough: slow hashes (bcrypt, scrypt, argon2) protect low-entropy passwords
 * against guessing from a stolen hash, and 2^256 possibilities cannot be guessed at any speed,
 * so the stored SHA-256 reveals nothing usable while keeping each request's check at ~1 µs.
 */
export class ApiKeyStore {
  readonly keys: ReturnType<typeof apiKeys>;

  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
  ) {
    this.keys = apiKeys(prefix);
  }

  /** Creates a key; returns it (the only time it is ever shown). BadInput on a bad or taken name. */
  async create(
    name: string,
    scope: string,
    now = Date.now(),
  ): Promise<{ key: string; record: ApiKeyRecord }> {
    if (!NAME.test(name)) {
      throw new BadInput(
        'bad-key-name',
        `name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit; got ${JSON.stringify(name)}`,
        'name',
      );
    }
    if (!SCOPES.includes(scope as Scope)) {
      throw new BadInput(
        'bad-scope',
        `scope: expected one of ${SCOPES.join(', ')}, got ${JSON.stringify(scope)}`,
        'scope',
      );
    }
    const key = `eg_${randomBytes(32).toString('base64url')}`;
    const record: ApiKeyRecord = {
      name,
      scope: scope as Scope,
      hash: hashKey(key),
      createdAt: now,
      revokedAt: null,
    };
    const created = await this.redis.hsetnx(this.keys.records, name, JSON.stringify(record));
    if (created === 0) {
      throw new BadInput(
        'key-exists',
        `a key named ${JSON.stringify(name)} exists (revoke it or pick another name)`,
        'name',
      );
    }
    await this.redis.hset(this.keys.byHash, record.hash, name);
    return { key, record };
  }

  /** The record of a presented key, or null when unknown. Revoked keys are returned (revokedAt set). */
  async verify(key: string): Promise<ApiKeyRecord | null> {
    const name = await this.redis.hget(this.keys.byHash, hashKey(key));
    if (name === null) return null;
    const json = await this.redis.hget(this.keys.records, name);
    if (json === null) return null;
    const record = JSON.parse(json) as ApiKeyRecord;
    return record.hash === hashKey(key) ? record : null;
  }

  async list(): Promise<ApiKeyInfo[]> {
    const [records, used] = await Promise.all([
      this.redis.hgetall(this.keys.records),
      this.redis.hgetall(this.keys.lastUsed),
    ]);
    return Object.values(records)
      .map((json) => JSON.parse(json) as ApiKeyRecord)
      .map((r) => ({
        name: r.name,
        scope: r.scope,
        createdAt: r.createdAt,
        lastUsedAt: used[r.name] ? Number(used[r.name]) : null,
        revokedAt: r.revokedAt,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Revokes a key: it keeps its record and hash (listed as revoked, answered 401 `revoked-key`)
   * but no longer authenticates; its name stays taken. False when no such key or already revoked.
   */
  async revoke(name: string, now = Date.now()): Promise<boolean> {
    const json = await this.redis.hget(this.keys.records, name);
    if (json === null) return false;
    const record = JSON.parse(json) as ApiKeyRecord;
    if (record.revokedAt !== null) return false;
    record.revokedAt = now;
    await this.redis
      .multi()
      .hset(this.keys.records, name, JSON.stringify(record))
      .hdel(this.keys.cursors, name)
      .exec();
    return true;
  }

  /** The names among `names` whose key is revoked (one round trip; an unknown name is not revoked). */
  async revoked(names: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    if (names.length === 0) return found;
    const records = await this.redis.hmget(this.keys.records, ...names);
    records.forEach((json, i) => {
      if (json !== null && (JSON.parse(json) as ApiKeyRecord).revokedAt !== null) found.add(names[i]!);
    });
    return found;
  }

  /** How many keys (revoked ones included) the store holds. */
  count(): Promise<number> {
    return this.redis.hlen(this.keys.records);
  }

  async touch(name: string, now = Date.now()): Promise<void> {
    await this.redis.hset(this.keys.lastUsed, name, String(now));
  }
}

/** Where the recovery from a lost key store is written down. */
const RECOVERY =
  're-create the keys with `edgeguard keys create --scope bouncer|admin --name NAME` and hand them to the edges (services/api/README.md, "Lost keys")';

/**
 * Watches that the key store still holds keys when keys are expected: this process has seen some
 * since it started, or `required` (`EDGEGUARD_API_REQUIRE_KEYS=1`, for a process started after
 * Redis lost them). Redis flushed or restarted without persistence leaves every key refused 401;
 * `problem` then says so (for /readyz) and the change is logged once, as is the recovery.
 */
export class KeyStoreWatch {
  /** Why the key store cannot serve clients, or null. */
  problem: string | null = null;
  private seen = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: ApiKeyStore,
    private readonly required: boolean,
    private readonly log: { error(obj: object, msg: string): void; info(obj: object, msg: string): void },
  ) {}

  async check(): Promise<void> {
    let problem: string | null;
    try {
      const count = await this.store.count();
      if (count > 0) this.seen = true;
      problem =
        count > 0 || !(this.seen || this.required)
          ? null
          : `API key store ${this.store.keys.records} is empty (Redis lost its data?): every key is refused; ${RECOVERY}`;
    } catch (error) {
      problem = `API key store ${this.store.keys.records} unreadable: ${(error as Error).message}`;
    }
    if (problem !== null && this.problem === null) this.log.error({ problem }, 'API keys lost: not ready');
    if (problem === null && this.problem !== null) this.log.info({}, 'API keys readable again: ready');
    this.problem = problem;
  }

  /** Checks now and every `intervalMs`. */
  async start(intervalMs = 5_000): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
