/**
 * Automated clients that walk the site: verified `crawler`s (polite), and the abusive `scraper`,
 * `fake-crawler`, `scanner`, `xff-spoofer` and `credential-stuffer`. None of them loads assets or
 * sends a referer; what separates them is pace, targets and where they come from.
 */
import { Actor, type ClientRecord, type RequestEvent, type Simulation } from '../engine.js';
import type { Rng } from '../rng.js';
import {
  BLOG_POSTS,
  CATEGORIES,
  isWarm,
  PRODUCT_COUNT,
  ProductSweep,
  pageBytes,
  probeStatus,
  SENSITIVE_PATHS,
  SITE_HOST,
} from '../site.js';

/** The fixed request headers a tool sends on every request. */
export interface Tooling {
  userAgent: string;
  acceptLanguage: string | null;
  protocol: 'HTTP/1.1' | 'HTTP/2.0';
  /** X-Forwarded-For the client puts in its own request (a spoof), null when none. */
  forwardedFor: string | null;
}

abstract class ToolActor extends Actor {
  constructor(
    protected readonly rng: Rng,
    protected readonly record: ClientRecord,
    protected readonly tooling: Tooling,
  ) {
    super();
  }

  protected event(sim: Simulation): RequestEvent {
    const event = sim.request(this.record, SITE_HOST);
    event.userAgent = this.tooling.userAgent;
    event.acceptLanguage = this.tooling.acceptLanguage;
    event.protocol = this.tooling.protocol;
    event.clientForwardedFor = this.tooling.forwardedFor;
    event.balancer = this.rng.int(0, 5);
    return event;
  }

  /** GET of a site page (404 beyond the catalogue). */
  protected getPage(sim: Simulation, at: number, path: string): void {
    const event = this.event(sim);
    event.target = path;
    const productId = path.startsWith('/products/') ? Number(path.slice('/products/'.length)) : 0;
    if (productId > PRODUCT_COUNT) {
      event.serve(sim.edge.probe(this.rng, at, 404));
    } else {
      event.serve(sim.edge.page(this.rng, at, path, pageBytes(this.rng, path), false, isWarm(path)));
    }
    sim.emit(event, at);
  }

  protected getProbe(sim: Simulation, at: number, path: string): void {
    const event = this.event(sim);
    event.target = path;
    event.serve(sim.edge.probe(this.rng, at, probeStatus(this.rng, path)));
    sim.emit(event, at);
  }

  protected getStatic(sim: Simulation, at: number, path: string, bytes: number): void {
    const event = this.event(sim);
    event.target = path;
    event.serve(sim.edge.asset(this.rng, at, bytes, false));
    sim.emit(event, at);
  }
}

/**
 * A verified search-engine crawler: /robots.txt first, then distinct pages every 2–15 s from its
 * published address range, all through the scenario.
 */
export class PoliteCrawler extends ToolActor {
  private fetched = 0;
  private readonly products: ProductSweep;
  private readonly listings: string[];
  private listingIndex = 0;

  constructor(rng: Rng, record: ClientRecord, tooling: Tooling, startAt: number) {
    super(rng, record, tooling);
    this.products = new ProductSweep(rng, PRODUCT_COUNT);
    const listings: string[] = ['/', '/deals', '/about', '/faq.html', '/shipping.html'];
    for (const category of CATEGORIES) {
      listings.push(`/category/${category}`);
      for (let page = 2; page <= 4; page++) listings.push(`/category/${category}?page=${page}`);
    }
    for (const post of BLOG_POSTS) listings.push(`/blog/${post}.html`);
    this.listings = rng.shuffle(listings);
    this.nextAt = startAt;
  }

  step(sim: Simulation): void {
    const at = this.nextAt;
    const rng = this.rng;
    if (this.fetched === 0) this.getStatic(sim, at, '/robots.txt', 612);
    else if (this.fetched === 1 && rng.chance(0.6)) this.getStatic(sim, at, '/sitemap.xml', 184_220);
    else if (this.listingIndex < this.listings.length && rng.chance(0.3)) {
      this.getPage(sim, at, this.listings[this.listingIndex++] as string);
    } else this.getPage(sim, at, `/products/${this.products.next()}`);
    this.fetched++;
    this.nextAt = at + rng.between(2_000, 15_000);
  }
}

export interface RapidPlan {
  from: number;
  until: number;
  /** Mean requests per second while active. */
  ratePerSecond: number;
  /** Stop after this many requests (a scanner's burst), Infinity for the whole window. */
  maxRequests: number;
  /** Share of requests that probe sensitive paths instead of product pages (0 = pure scraper). */
  probeShare: number;
  /** Highest product id tried: above PRODUCT_COUNT the scraper walks into 404s. */
  productLimit: number;
}

/**
 * A fast fetcher: `scraper` (distinct product pages), `fake-crawler` (the same with a Googlebot
 * UA), `scanner` (a burst of sensitive paths, mostly 404) and `xff-spoofer` (a mix, behind a forged
 * X-Forwarded-For). Requests arrive at a steady pace with ±50% spacing noise.
 */
export class RapidFetcher extends ToolActor {
  private made = 0;
  private readonly products: ProductSweep;
  private readonly probes: string[];
  private probeIndex = 0;

  constructor(
    rng: Rng,
    record: ClientRecord,
    tooling: Tooling,
    private readonly plan: RapidPlan,
  ) {
    super(rng, record, tooling);
    this.products = new ProductSweep(rng, plan.productLimit);
    this.probes = rng.shuffle([...SENSITIVE_PATHS]);
    this.nextAt = plan.from;
  }

  step(sim: Simulation): void {
    const at = this.nextAt;
    const rng = this.rng;
    if (this.plan.probeShare > 0 && rng.chance(this.plan.probeShare)) {
      this.getProbe(sim, at, this.probes[this.probeIndex++ % this.probes.length] as string);
    } else {
      this.getPage(sim, at, `/products/${this.products.next()}`);
    }
    this.made++;
    const next = at + (1000 / this.plan.ratePerSecond) * rng.between(0.5, 1.5);
    this.nextAt =
      this.made >= this.plan.maxRequests || next >= this.plan.until ? Number.POSITIVE_INFINITY : next;
  }
}

/**
 * One address of a distributed credential-stuffing run: 1–3 POST /login spread out in time, each
 * rejected (401) except the rare hit; never a page view, asset or referer.
 */
export class CredentialStuffer extends ToolActor {
  private left: number;

  constructor(rng: Rng, record: ClientRecord, tooling: Tooling, firstAt: number) {
    super(rng, record, tooling);
    this.left = rng.int(1, 3);
    this.nextAt = firstAt;
  }

  step(sim: Simulation): void {
    const at = this.nextAt;
    const rng = this.rng;
    const event = this.event(sim);
    event.method = 'POST';
    event.target = '/login';
    const success = rng.chance(0.02);
    event.serve(sim.edge.post(rng, at, success ? 200 : 401, success ? 9_800 : rng.int(170, 240)));
    sim.emit(event, at);
    this.left--;
    this.nextAt = this.left > 0 ? at + rng.between(30_000, 240_000) : Number.POSITIVE_INFINITY;
  }
}
