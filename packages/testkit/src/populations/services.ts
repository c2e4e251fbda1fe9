/**
 * Legitimate automation with a schedule: uptime `monitor`s, `feed-reader`s and the shop's own
 * `mobile-app`. They repeat the same URL forever, which is exactly what makes them look like bots
 * to a naive repetition rule, and why they are protected in the labels.
 */
import { Actor, type ClientRecord, type RequestEvent, type Simulation } from '../engine.js';
import type { Rng } from '../rng.js';
import { API_HOST, pageBytes, popularProduct, SITE_HOST } from '../site.js';

/**
 * An uptime check: the same URL at a fixed interval (30–60 s, the monitor's setting), give or take
 * the probe's network latency (±150 ms).
 */
export class UptimeMonitor extends Actor {
  private readonly firstAt: number;
  private checks = 0;

  constructor(
    private readonly rng: Rng,
    private readonly record: ClientRecord,
    private readonly userAgent: string,
    private readonly path: '/' | '/health',
    readonly intervalMs: number,
    firstAt: number,
  ) {
    super();
    this.firstAt = firstAt;
    this.nextAt = firstAt;
  }

  step(sim: Simulation): void {
    const rng = this.rng;
    const at = this.nextAt;
    const event = sim.request(this.record, SITE_HOST);
    event.target = this.path;
    event.userAgent = this.userAgent;
    event.balancer = rng.int(0, 5);
    event.serve(
      this.path === '/health'
        ? sim.edge.dynamic(rng, at, 'api', 200, 15)
        : sim.edge.page(rng, at, '/', pageBytes(rng, '/'), false),
    );
    sim.emit(event, at);
    this.checks++;
    // Scheduled from the first check, not the previous one: monitors do not drift.
    this.nextAt = this.firstAt + this.checks * this.intervalMs + rng.between(-150, 150);
  }
}

/** A feed fetcher: conditional GET of /feed.xml every 10–30 min, so most answers are 304. */
export class FeedReader extends Actor {
  constructor(
    private readonly rng: Rng,
    private readonly record: ClientRecord,
    private readonly userAgent: string,
    private readonly intervalMs: number,
    firstAt: number,
  ) {
    super();
    this.nextAt = firstAt;
  }

  step(sim: Simulation): void {
    const rng = this.rng;
    const at = this.nextAt;
    const event = sim.request(this.record, SITE_HOST);
    event.target = '/feed.xml';
    event.userAgent = this.userAgent;
    event.balancer = rng.int(0, 5);
    // If-None-Match matches unless a post was published since the last fetch.
    event.serve(sim.edge.asset(rng, at, 61_440, rng.chance(0.85)));
    sim.emit(event, at);
    this.nextAt = at + this.intervalMs * rng.between(0.98, 1.02);
  }
}

export interface DeviceProfile {
  userAgent: string;
  acceptLanguage: string | null;
  /** Stable per-install id the app sends with every poll. */
  deviceId: string;
}

/**
 * The app while it is in the foreground: /api/v1/config at launch, then a feed poll every 30–60 s
 * (`since` = the previous poll, so the query string changes every time) and now and then a product
 * detail when the user taps one. Low rate per device, however repetitive.
 */
export class MobileDevice extends Actor {
  private launched: boolean;
  private lastPollSeconds: number;
  private readonly foregroundUntil: number;

  constructor(
    private readonly rng: Rng,
    private readonly record: ClientRecord,
    private readonly profile: DeviceProfile,
    private readonly pollMs: number,
    firstAt: number,
    foregroundMs: number,
    alreadyRunning: boolean,
  ) {
    super();
    this.launched = alreadyRunning;
    this.lastPollSeconds = Math.floor((firstAt - rng.between(pollMs, 6 * 3_600_000)) / 1000);
    this.foregroundUntil = firstAt + foregroundMs;
    this.nextAt = firstAt;
  }

  private event(sim: Simulation): RequestEvent {
    const event = sim.request(this.record, API_HOST);
    event.userAgent = this.profile.userAgent;
    event.acceptLanguage = this.profile.acceptLanguage;
    event.protocol = 'HTTP/2.0';
    event.balancer = this.rng.int(0, 5);
    return event;
  }

  step(sim: Simulation): void {
    const rng = this.rng;
    const at = this.nextAt;
    const event = this.event(sim);
    if (!this.launched) {
      this.launched = true;
      event.target = '/api/v1/config';
      event.serve(sim.edge.dynamic(rng, at, 'api', 200, rng.int(1_100, 1_400)));
      sim.emit(event, at);
      this.nextAt = at + rng.between(200, 900);
      return;
    }
    if (rng.chance(0.12)) {
      event.target = `/api/v1/products/${popularProduct(rng)}`;
      event.serve(sim.edge.dynamic(rng, at, 'api', 200, rng.int(2_000, 7_000)));
      sim.emit(event, at);
      this.nextAt = at + rng.between(3_000, 20_000);
    } else {
      event.target = `/api/v1/feed?since=${this.lastPollSeconds}&device=${this.profile.deviceId}`;
      const fresh = rng.chance(0.3);
      event.serve(sim.edge.dynamic(rng, at, 'api', 200, fresh ? rng.int(800, 8_000) : rng.int(2, 180)));
      sim.emit(event, at);
      this.lastPollSeconds = Math.floor(at / 1000);
      this.nextAt = at + this.pollMs + rng.between(-1_500, 1_500);
    }
    if (this.nextAt >= this.foregroundUntil) this.nextAt = Number.POSITIVE_INFINITY;
  }
}
