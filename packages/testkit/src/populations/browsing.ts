/**
 * People browsing the shop: `human` clients, the sessions behind a `nat` address, and the
 * `xff-victim`. A visit is a landing page, then for each page its assets within about a second
 * (referer = the page; fonts referer = the stylesheet), then think time before the next page.
 */
import { Actor, type ClientRecord, type RequestEvent, type Simulation } from '../engine.js';
import type { Rng } from '../rng.js';
import {
  assetBytes,
  isWarm,
  landingPage,
  nextPage,
  type Page,
  pageBytes,
  pageImages,
  SHARED_ASSETS,
  SITE_HOST,
  SITE_ORIGIN,
  STYLESHEET_URL,
  targetOf,
} from '../site.js';
import type { BrowserIdentity } from '../user-agents.js';

/** Who is at the keyboard: the browser and, for a corporate proxy, the X-Forwarded-For it adds. */
export interface Visitor {
  identity: BrowserIdentity;
  /** X-Forwarded-For the visitor's own network adds (a corporate proxy's inside address). */
  forwardedFor: string | null;
}

export interface SessionPlan {
  /** Pages in this visit (3..40 for a typical visit). */
  pages: number;
  /**
   * The visit began before the scenario window: the browser already has the shared assets and the
   * first page we see is an inner page reached by a link.
   */
  inProgress: boolean;
}

/** Where search engines, social networks and other sites send visitors from. */
const EXTERNAL_REFERERS = [
  'https://www.google.com/',
  'https://www.google.com/',
  'https://www.google.de/',
  'https://www.google.co.uk/',
  'https://www.bing.com/',
  'https://duckduckgo.com/',
  'https://t.co/',
  'https://www.facebook.com/',
  'https://l.instagram.com/',
  'https://www.reddit.com/',
  'https://news.ycombinator.com/',
];

/** Think time between pages, ms: 3–90 s, log-normal so most are short and a few are long reads. */
function thinkTimeMs(rng: Rng): number {
  return Math.min(90_000, Math.max(3_000, rng.lognormal(18_000, 0.9)));
}

/** Pages in one visit: 3..40, most visits short. */
export function visitLength(rng: Rng): number {
  return Math.min(40, 3 + Math.floor(rng.exponential(6)));
}

interface PlannedAsset {
  at: number;
  path: string;
  referer: string;
  revalidate: boolean;
}

/**
 * One browser's visit(s). With `nextVisitor` set it starts a new visit after the last page (an
 * always-busy seat behind a NAT, or the victim who keeps coming back), otherwise it ends.
 */
export class BrowsingSession extends Actor {
  private visitor: Visitor;
  private pagesLeft: number;
  private current: Page | null = null;
  private currentUrl: string | null = null;
  private sharedAssetsCached: boolean;
  private loginFormShown = false;
  /** A successful login redirects to /account: the next page is not a free choice. */
  private pendingAccount = false;
  private readonly assets: PlannedAsset[] = [];
  private assetIndex = 0;
  private nextPageAt: number;

  constructor(
    private readonly rng: Rng,
    private readonly record: ClientRecord,
    visitor: Visitor,
    startAt: number,
    plan: SessionPlan,
    private readonly nextVisit?: (rng: Rng) => { visitor: Visitor; plan: SessionPlan; idleMs: number },
  ) {
    super();
    this.visitor = visitor;
    this.pagesLeft = plan.pages;
    this.sharedAssetsCached = plan.inProgress;
    if (plan.inProgress) {
      this.current = nextPage(rng, 'home');
      this.currentUrl = `${SITE_ORIGIN}${targetOf(this.current)}`;
    }
    this.nextPageAt = startAt;
    this.nextAt = startAt;
  }

  private event(sim: Simulation): RequestEvent {
    const event = sim.request(this.record, SITE_HOST);
    const { identity, forwardedFor } = this.visitor;
    event.clientForwardedFor = forwardedFor;
    event.protocol = identity.protocol;
    event.userAgent = identity.userAgent;
    event.acceptLanguage = identity.acceptLanguage;
    event.balancer = this.rng.int(0, 5);
    return event;
  }

  step(sim: Simulation): void {
    if (this.assetIndex < this.assets.length)
      this.fetchAsset(sim, this.assets[this.assetIndex++] as PlannedAsset);
    else this.viewPage(sim);
    this.scheduleNext();
  }

  private fetchAsset(sim: Simulation, asset: PlannedAsset): void {
    const event = this.event(sim);
    event.target = asset.path;
    event.referer = asset.referer;
    const served = sim.edge.asset(this.rng, asset.at, assetBytes(asset.path), asset.revalidate);
    event.serve(served);
    sim.emit(event, asset.at);
  }

  private viewPage(sim: Simulation): void {
    const rng = this.rng;
    const at = this.nextPageAt;
    const event = this.event(sim);
    this.pagesLeft--;
    if (this.loginFormShown) {
      // The login form was shown last: the visitor submits it; on success the browser follows the
      // redirect to /account right away.
      this.loginFormShown = false;
      const success = rng.chance(0.85);
      event.method = 'POST';
      event.target = '/login';
      event.referer = `${SITE_ORIGIN}/login`;
      event.serve(sim.edge.post(rng, at, success ? 302 : 200, success ? 0 : 9_800));
      sim.emit(event, at);
      this.assets.length = 0;
      this.assetIndex = 0;
      if (success) {
        this.current = { kind: 'login', path: '/login', query: null };
        this.currentUrl = `${SITE_ORIGIN}/login`;
        this.pagesLeft = Math.max(this.pagesLeft, 1);
        this.pendingAccount = true;
        this.nextPageAt = at + event.requestMs + rng.between(40, 200);
      } else {
        this.loginFormShown = true;
        this.nextPageAt = at + event.requestMs + thinkTimeMs(rng);
      }
      return;
    }

    const page: Page = this.pendingAccount
      ? { kind: 'account', path: '/account', query: null }
      : this.current === null
        ? landingPage(rng)
        : nextPage(rng, this.current.kind);
    this.pendingAccount = false;
    const target = targetOf(page);
    event.target = target;
    event.referer = this.currentUrl ?? (rng.chance(0.55) ? rng.pick(EXTERNAL_REFERERS) : null);
    const bytes = pageBytes(rng, page.path);
    const personal = page.kind === 'cart' || page.kind === 'account' || page.kind === 'login';
    event.serve(
      personal
        ? sim.edge.dynamic(rng, at, 'page', 200, bytes)
        : sim.edge.page(rng, at, target, bytes, false, isWarm(page.path)),
    );
    sim.emit(event, at);
    if (page.kind === 'login') this.loginFormShown = true;
    this.current = page;
    this.currentUrl = `${SITE_ORIGIN}${target}`;
    this.planAssets(at + event.requestMs, page);
    const lastAsset = this.assets[this.assets.length - 1];
    this.nextPageAt = (lastAsset ? lastAsset.at : at + event.requestMs) + thinkTimeMs(rng);
  }

  /** The page's sub-resources, fetched in parallel within about a second of the HTML arriving. */
  private planAssets(htmlArrived: number, page: Page): void {
    const rng = this.rng;
    const assets = this.assets;
    assets.length = 0;
    this.assetIndex = 0;
    let at = htmlArrived + rng.between(15, 80); // parse until the first <link> is discovered
    const pageUrl = this.currentUrl as string;
    for (const shared of SHARED_ASSETS) {
      // After the first page the browser cache has them; now and then it revalidates one (304).
      const fetch = !this.sharedAssetsCached || rng.chance(0.04);
      if (!fetch) continue;
      assets.push({
        at,
        path: shared.path,
        referer: shared.type === 'font' ? STYLESHEET_URL : pageUrl,
        revalidate: this.sharedAssetsCached,
      });
      at += rng.between(2, 40);
    }
    this.sharedAssetsCached = true;
    for (const image of pageImages(rng, page)) {
      if (assets.length >= 25) break;
      assets.push({ at, path: image, referer: pageUrl, revalidate: false });
      at += rng.between(5, 50);
    }
  }

  private scheduleNext(): void {
    if (this.assetIndex < this.assets.length) {
      this.nextAt = (this.assets[this.assetIndex] as PlannedAsset).at;
      return;
    }
    if (this.pagesLeft > 0) {
      this.nextAt = this.nextPageAt;
      return;
    }
    if (!this.nextVisit) {
      this.nextAt = Number.POSITIVE_INFINITY;
      return;
    }
    const next = this.nextVisit(this.rng);
    this.visitor = next.visitor;
    this.pagesLeft = next.plan.pages;
    this.sharedAssetsCached = next.plan.inProgress;
    this.current = null;
    this.currentUrl = null;
    this.loginFormShown = false;
    this.pendingAccount = false;
    this.nextPageAt = this.nextPageAt + next.idleMs;
    this.nextAt = this.nextPageAt;
  }
}
