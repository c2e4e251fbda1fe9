/**
 * The incident: a swarm of bots hammering the same few hot pages. `swarm` / `swarm-buster`
 * addresses sit in a few hosting /24s and keep going for minutes; `residential-swarm` is the same
 * tooling rented through residential proxies, each address a short burst and then gone. Busters add
 * a random query string so every request misses the cache.
 */
import { EdgeCacheModel, type Served } from '../edge-cache.js';
import { Actor, type ClientRecord, type Simulation } from '../engine.js';
import type { Rng } from '../rng.js';
import { pageBytes, SITE_HOST } from '../site.js';
import { SWARM_ACCEPT_LANGUAGE } from '../user-agents.js';

/** How a buster randomises its URLs (one style per address, as each bot runs one script). */
export type BustStyle = 'letters' | 'timestamp';

/**
 * A unique query string: `<6 random letters>=<random>`, or the jQuery-style `_=<13-digit epoch ms>`
 * taken from the request's own clock.
 */
export function bustingQuery(rng: Rng, style: BustStyle, at: number): string {
  if (style === 'timestamp') return `_=${Math.floor(at)}`;
  return `${rng.letters(6)}=${rng.alphanumeric(rng.int(4, 10))}`;
}

export interface SwarmTooling {
  userAgent: string;
  /** null for a non-busting bot. */
  bustStyle: BustStyle | null;
  /** The tool's own request timeout (it logs as 499 when hit); null waits for the edge. */
  clientTimeoutMs: number | null;
}

abstract class SwarmMember extends Actor {
  constructor(
    protected readonly rng: Rng,
    private readonly record: ClientRecord,
    private readonly hotPages: readonly string[],
    private readonly tooling: SwarmTooling,
  ) {
    super();
  }

  protected hit(sim: Simulation, at: number): void {
    const rng = this.rng;
    const path = rng.pick(this.hotPages);
    const event = sim.request(this.record, SITE_HOST);
    event.userAgent = this.tooling.userAgent;
    event.acceptLanguage = SWARM_ACCEPT_LANGUAGE;
    event.balancer = rng.int(0, 5);
    const { bustStyle, clientTimeoutMs } = this.tooling;
    let served: Served;
    if (bustStyle === null) {
      event.target = path;
      served = sim.edge.page(rng, at, path, pageBytes(rng, path), false);
    } else {
      const separator = path.includes('?') ? '&' : '?';
      event.target = `${path}${separator}${bustingQuery(rng, bustStyle, at)}`;
      served = sim.edge.page(rng, at, event.target, pageBytes(rng, path), true);
    }
    event.serve(
      clientTimeoutMs === null ? served : EdgeCacheModel.clientGaveUp(served, clientTimeoutMs, rng),
    );
    sim.emit(event, at);
  }
}

/** A datacenter swarm address: 0.5–3 req/s to the hot pages for its whole active window. */
export class SwarmBot extends SwarmMember {
  constructor(
    rng: Rng,
    record: ClientRecord,
    hotPages: readonly string[],
    tooling: SwarmTooling,
    readonly from: number,
    readonly until: number,
    readonly ratePerSecond: number,
  ) {
    super(rng, record, hotPages, tooling);
    this.nextAt = from;
  }

  step(sim: Simulation): void {
    const at = this.nextAt;
    this.hit(sim, at);
    // Bots pace with a fixed concurrency: spacing varies ±30% around 1/rate.
    const next = at + (1000 / this.ratePerSecond) * this.rng.between(0.7, 1.3);
    this.nextAt = next < this.until ? next : Number.POSITIVE_INFINITY;
  }
}

/**
 * A residential-proxy exit used once: 3–15 requests started within 12 s, each abandoned after the
 * tool's 8 s timeout, so all its lines fall within 20 s; then never seen again.
 */
export const RESIDENTIAL_BURST_START_SPAN_MS = 12_000;
export const RESIDENTIAL_CLIENT_TIMEOUT_MS = 8_000;

export class ResidentialBurst extends SwarmMember {
  private readonly times: number[];
  private index = 0;

  constructor(
    rng: Rng,
    record: ClientRecord,
    hotPages: readonly string[],
    tooling: SwarmTooling,
    startAt: number,
  ) {
    super(rng, record, hotPages, tooling);
    const count = rng.int(3, 15);
    const span = rng.between(1_500, RESIDENTIAL_BURST_START_SPAN_MS);
    const offsets = [0];
    for (let i = 1; i < count; i++) offsets.push(rng.float() * span);
    offsets.sort((a, b) => a - b);
    this.times = offsets.map((offset) => startAt + offset);
    this.nextAt = startAt;
  }

  step(sim: Simulation): void {
    this.hit(sim, this.nextAt);
    this.index++;
    this.nextAt = this.times[this.index] ?? Number.POSITIVE_INFINITY;
  }
}
