import type { CacheKeyRule, CachePolicy } from '@edgeguard/schema';
import { normaliseHost } from './records.js';

export interface PolicyIndexOptions {
  /**
   * Cache policies held at most (default 10,000; content-watch publishes one per hot or busted
   * path, a few hundred on a busy site). Past it the policy expiring soonest is dropped.
   */
  maxPolicies?: number;
}

/** Host key of policies whose `match.host` is null: they apply to every host. */
const ANY_HOST = '*';
export const DEFAULT_MAX_POLICIES = 10_000;

interface HostPolicies {
  /** Exact paths: content-watch's `pathPattern` is the path itself (host + path is its content key). */
  exact: Map<string, CachePolicy>;
  /** Patterns ending in `*` (operator-written prefixes), longest first. */
  prefixes: CachePolicy[];
}

/**
 * Cache policies by host and path, answering `cachePolicy(host, path)` synchronously.
 *
 * `match.pathPattern` is an exact path (what content-watch emits: the path of a content key, no
 * query) or, as an extension for hand-written policies, a prefix ending in `*` (`/api/*`). A
 * policy for a host wins over one for any host (`match.host` null); an exact path wins over a
 * prefix; among prefixes the longest wins. Expired policies never answer.
 */
export class PolicyIndex {
  private readonly maxPolicies: number;
  private readonly byKey = new Map<string, CachePolicy>();
  private readonly byHost = new Map<string, HostPolicies>();
  private evicted = 0;

  constructor(options: PolicyIndexOptions = {}) {
    this.maxPolicies = options.maxPolicies ?? DEFAULT_MAX_POLICIES;
    if (!(this.maxPolicies >= 1)) throw new RangeError('maxPolicies must be at least 1');
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The policy for a request's host (any case, with or without a port) and path (no query). */
  lookup(host: string | null | undefined, path: string, now: number = Date.now()): CachePolicy | null {
    if (this.byKey.size === 0) return null;
    if (host) {
      let forHost = this.byHost.get(host);
      if (forHost === undefined) {
        const normalised = normaliseHost(host);
        if (normalised !== host) forHost = this.byHost.get(normalised);
      }
      const found = forHost === undefined ? null : match(forHost, path, now);
      if (found !== null) return found;
    }
    const any = this.byHost.get(ANY_HOST);
    return any === undefined ? null : match(any, path, now);
  }

  get(key: string): CachePolicy | undefined {
    return this.byKey.get(key);
  }

  *active(now: number = Date.now()): IterableIterator<CachePolicy> {
    for (const policy of this.byKey.values()) if (policy.expiresAt > now) yield policy;
  }

  /** Stores a parsed policy (see parseCachePolicy); an older version of a key is ignored. */
  put(policy: CachePolicy, now: number = Date.now()): boolean {
    const current = this.byKey.get(policy.key);
    if (current !== undefined) {
      if (current.version > policy.version && current.expiresAt > now) return false;
      this.delete(policy.key);
    }
    if (policy.expiresAt <= now) return true;
    if (this.byKey.size >= this.maxPolicies) {
      this.prune(now);
      if (this.byKey.size >= this.maxPolicies) {
        // Rare (a bound of thousands of policies reached): a scan is cheaper than keeping a heap.
        let soonest: CachePolicy | undefined;
        for (const p of this.byKey.values())
          if (soonest === undefined || p.expiresAt < soonest.expiresAt) soonest = p;
        this.delete(soonest!.key);
        this.evicted++;
      }
    }
    this.byKey.set(policy.key, policy);
    const hostKey = policy.match.host ?? ANY_HOST;
    let forHost = this.byHost.get(hostKey);
    if (forHost === undefined) {
      forHost = { exact: new Map(), prefixes: [] };
      this.byHost.set(hostKey, forHost);
    }
    const pattern = policy.match.pathPattern;
    if (pattern.endsWith('*')) {
      forHost.prefixes = [...forHost.prefixes, policy].sort(
        (a, b) => b.match.pathPattern.length - a.match.pathPattern.length,
      );
    } else {
      forHost.exact.set(pattern, policy);
    }
    return true;
  }

  delete(key: string): boolean {
    const policy = this.byKey.get(key);
    if (policy === undefined) return false;
    this.byKey.delete(key);
    const hostKey = policy.match.host ?? ANY_HOST;
    const forHost = this.byHost.get(hostKey)!;
    if (forHost.exact.get(policy.match.pathPattern) === policy)
      forHost.exact.delete(policy.match.pathPattern);
    forHost.prefixes = forHost.prefixes.filter((p) => p !== policy);
    if (forHost.exact.size === 0 && forHost.prefixes.length === 0) this.byHost.delete(hostKey);
    return true;
  }

  clear(): void {
    this.byKey.clear();
    this.byHost.clear();
  }

  /** Removes expired policies; returns how many. */
  prune(now: number = Date.now()): number {
    let removed = 0;
    for (const policy of [...this.byKey.values()]) {
      if (policy.expiresAt <= now) {
        this.delete(policy.key);
        removed++;
      }
    }
    return removed;
  }

  stats(): { size: number; evicted: number } {
    return { size: this.byKey.size, evicted: this.evicted };
  }
}

function match(forHost: HostPolicies, path: string, now: number): CachePolicy | null {
  const exact = forHost.exact.get(path);
  if (exact !== undefined && exact.expiresAt > now) return exact;
  for (const policy of forHost.prefixes) {
    const pattern = policy.match.pathPattern;
    if (policy.expiresAt > now && path.startsWith(pattern.slice(0, -1))) return policy;
  }
  return null;
}

/** Query parameters kept in a cache key at most (a flood of parameters must not cost unbounded work). */
const MAX_KEY_PARAMS = 64;

/**
 * The query string a cache should key a request on, under a policy's cache-key rule: `keep` the
 * query as sent, `drop` it (''), `sort` its parameters by name, or keep only the `allow`ed ones
 * (sorted). `query` is without the `?`; so is the result. No rule means `keep`.
 */
export function cacheKeyQuery(rule: CacheKeyRule | null | undefined, query: string): string {
  if (query === '' || rule === null || rule === undefined || rule.kind === 'keep') return query;
  if (rule.kind === 'drop') return '';
  let params = query.split('&', MAX_KEY_PARAMS + 1).filter((param) => param !== '');
  if (params.length > MAX_KEY_PARAMS) return query;
  if (rule.kind === 'allow') {
    params = params.filter((param) => {
      const eq = param.indexOf('=');
      return rule.params.includes(eq < 0 ? param : param.slice(0, eq));
    });
  }
  // Sort by name, keeping the order of repeated names (a stable sort on the name only).
  return params
    .map((param, index) => ({ param, index, name: param.split('=', 1)[0]! }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.index - b.index))
    .map((item) => item.param)
    .join('&');
}
