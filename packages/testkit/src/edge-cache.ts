/**
 * How the edge answers: cache status, origin time and edge time for each request, as a function of
 * what was asked and how hard the swarm is hitting the origin at that moment (the incident
 * intensity). This is where the 21 January incident lives: hot pages are served STALE far too often
 * (a misconfigured cache), cache-busted requests always MISS, and every origin fetch slows down as
 * the swarm's load climbs.
 */
import type { Rng } from './rng.js';

/**
 * Incident intensity per second of the scenario, 0 (quiet) .. 1 (peak swarm load). Built from the
 * swarm's own activity windows, so the origin slows down exactly when and as much as the bots
 * arrive.
 */
export class IncidentProfile {
  private readonly perSecond: Float32Array;
  private readonly cumulative: Float64Array;

  constructor(
    readonly start: number,
    perSecond: Float32Array,
  ) {
    let peak = 0;
    for (const value of perSecond) peak = Math.max(peak, value);
    this.perSecond = peak > 0 ? perSecond.map((value) => value / peak) : perSecond;
    this.cumulative = new Float64Array(perSecond.length);
    let sum = 0;
    this.perSecond.forEach((value, second) => {
      sum += value;
      this.cumulative[second] = sum;
    });
  }

  get active(): boolean {
    return (this.cumulative[this.cumulative.length - 1] ?? 0) > 0;
  }

  at(time: number): number {
    return this.perSecond[Math.floor((time - this.start) / 1000)] ?? 0;
  }

  /**
   * The time at quantile `u` of the intensity curve: feeding sorted uniforms through it places
   * arrivals (the residential bursts) where the incident is strongest.
   */
  timeAtQuantile(u: number): number {
    const total = this.cumulative[this.cumulative.length - 1] ?? 0;
    const target = u * total;
    let low = 0;
    let high = this.cumulative.length - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.cumulative[mid] as number) >= target) high = mid;
      else low = mid + 1;
    }
    const before = low > 0 ? (this.cumulative[low - 1] as number) : 0;
    const width = (this.cumulative[low] as number) - before;
    const fraction = width > 0 ? (target - before) / width : 0;
    return this.start + (low + fraction) * 1000;
  }
}

/** The edge's verdict on one request. */
export interface Served {
  status: number;
  /** `$upstream_cache_status`, null when caching does not apply (POST). */
  cacheStatus: string | null;
  /** Origin time in ms, null when the origin was not contacted (HIT, STALE, UPDATING). */
  upstreamMs: number | null;
  /** `$request_time` in ms: origin time plus edge overhead plus transfer to the client. */
  requestMs: number;
  bytes: number;
}

/** proxy_read_timeout of our edge: origin fetches slower than this answer 504. */
export const ORIGIN_TIMEOUT_MS = 30_000;
const GATEWAY_TIMEOUT_BYTES = 167;

export type OriginWork = 'page' | 'busted-page' | 'static' | 'api' | 'login' | 'probe';
/** Median origin time per kind of work when the origin is healthy, ms. */
const ORIGIN_MEDIAN_MS: Record<OriginWork, number> = {
  page: 90,
  'busted-page': 140, // a never-cached variant renders from scratch
  static: 12,
  api: 35,
  login: 220, // password hashing
  probe: 6,
};
/** How much each kind of work suffers when the swarm saturates the origin (pages share its workers). */
const LOAD_SENSITIVITY: Record<OriginWork, number> = {
  page: 28,
  'busted-page': 34,
  static: 2,
  api: 6,
  login: 8,
  probe: 1,
};

export class EdgeCacheModel {
  constructor(
    private readonly incident: IncidentProfile,
    private readonly hotTargets: ReadonlySet<string>,
  ) {}

  intensity(time: number): number {
    return this.incident.at(time);
  }

  /** Edge overhead and transfer time for a body of `bytes` to a client with typical bandwidth. */
  private edgeMs(rng: Rng, bytes: number): number {
    return rng.lognormal(1.5, 0.6) + bytes / rng.lognormal(2_500, 0.8);
  }

  /** Origin fetch: its duration in ms, or null when it timed out. */
  private originMs(rng: Rng, time: number, work: OriginWork): number | null {
    const load = this.incident.at(time);
    const slowdown = 1 + LOAD_SENSITIVITY[work] * load ** 1.5;
    // At peak a few percent of page renders hit the proxy timeout: workers are all busy.
    if ((work === 'page' || work === 'busted-page') && rng.chance(0.04 * load * load)) return null;
    const duration = rng.lognormal(ORIGIN_MEDIAN_MS[work], 0.5) * slowdown;
    return duration >= ORIGIN_TIMEOUT_MS ? null : duration;
  }

  private fromOrigin(
    rng: Rng,
    time: number,
    work: OriginWork,
    cacheStatus: string | null,
    status: number,
    bytes: number,
  ): Served {
    const upstream = this.originMs(rng, time, work);
    if (upstream === null) {
      const upstreamMs = ORIGIN_TIMEOUT_MS + rng.int(0, 3);
      return {
        status: 504,
        cacheStatus,
        upstreamMs,
        requestMs: upstreamMs + rng.int(1, 5),
        bytes: GATEWAY_TIMEOUT_BYTES,
      };
    }
    return {
      status,
      cacheStatus,
      upstreamMs: upstream,
      requestMs: upstream + this.edgeMs(rng, bytes),
      bytes,
    };
  }

  private fromCache(rng: Rng, cacheStatus: string, status: number, bytes: number): Served {
    return { status, cacheStatus, upstreamMs: null, requestMs: this.edgeMs(rng, bytes), bytes };
  }

  /**
   * An HTML page. `busted` means the query string makes the cache key unique (random parameter), so
   * the edge can only MISS. Otherwise the usual mix, with STALE/UPDATING climbing on hot pages
   * while the incident lasts (the misconfiguration: stale served instead of one collapsed refresh).
   */
  page(rng: Rng, time: number, target: string, bytes: number, busted: boolean, warm = true): Served {
    if (busted) return this.fromOrigin(rng, time, 'busted-page', 'MISS', 200, bytes);
    if (!warm) {
      // Long-tail pages: rarely in cache, so a crawl through them is mostly origin work.
      const draw = rng.float();
      if (draw < 0.7) return this.fromOrigin(rng, time, 'page', 'MISS', 200, bytes);
      if (draw < 0.8) return this.fromOrigin(rng, time, 'page', 'EXPIRED', 200, bytes);
      return this.fromCache(rng, 'HIT', 200, bytes);
    }
    const load = this.incident.at(time);
    const hot = this.hotTargets.has(target);
    const stale = hot ? 0.03 + 0.6 * load : 0.02 + 0.12 * load;
    const updating = hot ? 0.02 + 0.1 * load : 0.02;
    const expired = 0.1;
    const miss = hot ? 0.04 : 0.12;
    const draw = rng.float();
    if (draw < stale) return this.fromCache(rng, 'STALE', 200, bytes);
    if (draw < stale + updating) return this.fromCache(rng, 'UPDATING', 200, bytes);
    if (draw < stale + updating + expired) return this.fromOrigin(rng, time, 'page', 'EXPIRED', 200, bytes);
    if (draw < stale + updating + expired + miss)
      return this.fromOrigin(rng, time, 'page', 'MISS', 200, bytes);
    return this.fromCache(rng, 'HIT', 200, bytes);
  }

  /** A static file. `revalidate` is a browser's conditional request for a file it has (304). */
  asset(rng: Rng, time: number, bytes: number, revalidate: boolean): Served {
    const status = revalidate ? 304 : 200;
    const body = revalidate ? 0 : bytes;
    const draw = rng.float();
    if (draw < 0.93) return this.fromCache(rng, 'HIT', status, body);
    if (draw < 0.97) return this.fromOrigin(rng, time, 'static', 'MISS', status, body);
    return this.fromOrigin(rng, time, 'static', 'EXPIRED', status, body);
  }

  /** Personalised or API responses: never cached (`proxy_cache_bypass` on cookies/auth). */
  dynamic(rng: Rng, time: number, work: 'page' | 'api', status: number, bytes: number): Served {
    return this.fromOrigin(rng, time, work, 'BYPASS', status, bytes);
  }

  /** A form POST: caching does not apply, so nginx logs `-` as cache status. */
  post(rng: Rng, time: number, status: number, bytes: number): Served {
    return this.fromOrigin(rng, time, 'login', null, status, bytes);
  }

  /**
   * The client hung up after `timeoutMs` (its own request timeout): nginx logs 499 with no body and
   * the time it had waited, on the origin too if it was fetching.
   */
  static clientGaveUp(served: Served, timeoutMs: number, rng: Rng): Served {
    if (served.requestMs <= timeoutMs) return served;
    const waited = timeoutMs + rng.between(0, 3);
    return {
      status: 499,
      cacheStatus: served.cacheStatus,
      upstreamMs: served.upstreamMs === null ? null : waited,
      requestMs: waited + rng.between(0, 1),
      bytes: 0,
    };
  }

  /** A probe for software we do not run: the origin's cheap 404/403 (error pages are not cached). */
  probe(rng: Rng, time: number, status: number): Served {
    const bytes = status === 200 ? 420 : 150 + rng.int(0, 400);
    return this.fromOrigin(rng, time, 'probe', 'MISS', status, bytes);
  }
}
