/**
 * The cast of a scenario: who shows up, when and from where. Resolves the options into client
 * counts per role, plans the incident (hot pages, swarm tooling, its time window) and builds every
 * actor for one pass of the traffic engine.
 */
import {
  AddressAllocator,
  BINGBOT_RANGES,
  blocksFor,
  carrierIPv4,
  carrierIPv6,
  GOOGLEBOT_RANGES,
  HOSTING_BLOCKS,
  hostIn,
  hostInCidr,
  residentialIPv4,
  residentialIPv6,
  UPTIMEROBOT_ADDRESSES,
} from './addresses.js';
import { EdgeCacheModel, IncidentProfile } from './edge-cache.js';
import { type Actor, ClientRegistry, TrafficEngine } from './engine.js';
import type { OutputFormat } from './formats.js';
import { EDGE_ONLY_ROLES, ROLES, type Role } from './labels.js';
import { ArrivalSpawner, uniformBetween } from './populations/arrivals.js';
import { CredentialStuffer, PoliteCrawler, RapidFetcher, type Tooling } from './populations/automation.js';
import { BrowsingSession, type Visitor, visitLength } from './populations/browsing.js';
import { FeedReader, MobileDevice, UptimeMonitor } from './populations/services.js';
import {
  RESIDENTIAL_CLIENT_TIMEOUT_MS,
  ResidentialBurst,
  SwarmBot,
  type SwarmTooling,
} from './populations/swarm.js';
import { deriveSeed, Rng } from './rng.js';
import { hotPageCandidates, PRODUCT_COUNT } from './site.js';
import {
  browserIdentity,
  CRAWLER_USER_AGENTS,
  CREDENTIAL_STUFFER_USER_AGENT,
  feedReaderUserAgent,
  MONITOR_USER_AGENTS,
  mobileAppUserAgent,
  SCANNER_USER_AGENTS,
  SCRAPER_USER_AGENTS,
  SWARM_USER_AGENT_POOL,
} from './user-agents.js';

export interface ScenarioOptions {
  /** PRNG seed: the same options give byte-identical output. Default 1. */
  seed?: number;
  /** Start of the log, epoch ms. Default 2024-01-21T09:00:00Z (the incident's morning). */
  start?: number;
  /** Log time covered, seconds. Default 600. */
  durationSec?: number;
  /** `combined` (client in $remote_addr) or `edge` (behind load balancers, client in X-Forwarded-For). Default `edge`. */
  format?: OutputFormat;
  /** Multiplies every default population size (rounded; a role present by default keeps at least one client). Default 1. */
  scale?: number;
  /** Exact client counts per role, overriding the defaults and `scale` (`nat`: NAT addresses). */
  populations?: Partial<Record<Role, number>>;
  /** Out-of-order window: a line is at most this much older than one written before it. Default 1500; 0 = sorted. */
  jitterMs?: number;
  /** Stop after exactly this many lines (benchmarks). */
  targetLines?: number;
  /**
   * Benchmarks: about this many distinct clients. The crowd (humans, app devices, residential swarm
   * exits, credential stuffers) is sized and mixed so the scenario has about `clients` addresses
   * and, with `targetLines`, a little more than `targetLines` lines before the cut.
   */
  clients?: number;
}

/** The incident as planned: the swarm's hot pages and the window it is active in (epoch ms). */
export interface Incident {
  hotPages: string[];
  from: number;
  until: number;
}

export const DEFAULT_START = Date.UTC(2024, 0, 21, 9, 0, 0);

/** Default clients per role for a 10-minute scenario (about 75k lines in `edge` format). */
export const DEFAULT_POPULATIONS: Readonly<Record<Role, number>> = {
  human: 250,
  nat: 1,
  crawler: 4,
  'fake-crawler': 2,
  monitor: 3,
  'feed-reader': 6,
  'mobile-app': 150,
  scraper: 3,
  scanner: 4,
  swarm: 25,
  'swarm-buster': 25,
  'residential-swarm': 1000,
  'credential-stuffer': 200,
  'xff-spoofer': 1,
  'xff-victim': 1,
};

/** Concurrent visitors behind each NAT address: enough to make it the busiest address of all. */
export const NAT_CONCURRENT_SESSIONS = 110;

/** The share of humans already mid-visit when the log starts (so traffic does not ramp up from zero). */
const HUMANS_IN_PROGRESS = 0.2;

/**
 * Lines one client of each role yields in the default 10-minute `edge` scenario (measured on this
 * generator, seed 1). `continuous` roles keep going for the whole window, so their volume grows
 * with the duration; the others are visits, bursts or launches of a fixed size.
 */
const LINES_PER_CLIENT: Readonly<Record<Role, { lines: number; continuous: boolean }>> = {
  human: { lines: 78, continuous: false },
  nat: { lines: 23_300, continuous: true },
  crawler: { lines: 72, continuous: true },
  'fake-crawler': { lines: 970, continuous: true },
  monitor: { lines: 11, continuous: true },
  'feed-reader': { lines: 1, continuous: true },
  'mobile-app': { lines: 10, continuous: false },
  scraper: { lines: 420, continuous: true },
  scanner: { lines: 88, continuous: false },
  swarm: { lines: 390, continuous: true },
  'swarm-buster': { lines: 350, continuous: true },
  'residential-swarm': { lines: 9.2, continuous: false },
  'credential-stuffer': { lines: 1.7, continuous: false },
  'xff-spoofer': { lines: 230, continuous: true },
  'xff-victim': { lines: 220, continuous: true },
};

function expectedLines(role: Role, clients: number, durationSec: number): number {
  const { lines, continuous } = LINES_PER_CLIENT[role];
  return clients * lines * (continuous ? durationSec / 600 : 1);
}

/** The benchmark crowd: who makes up `clients` besides humans, in fixed proportions. */
const LIGHT_CROWD = { 'mobile-app': 0.3, 'residential-swarm': 0.6, 'credential-stuffer': 0.1 } as const;

/**
 * Crowd sizes for `clients` addresses averaging `linesPerClient` lines each: the light roles in
 * fixed proportions, and the human share solved so the average comes out right (a human visit is
 * ~78 lines, the light roles 2–10).
 */
function crowdCounts(clients: number, linesPerClient: number): Partial<Record<Role, number>> {
  let lightLines = 0;
  for (const [role, share] of Object.entries(LIGHT_CROWD))
    lightLines += share * LINES_PER_CLIENT[role as Role].lines;
  const humanLines = LINES_PER_CLIENT.human.lines;
  const humanShare = Math.min(0.9, Math.max(0.02, (linesPerClient - lightLines) / (humanLines - lightLines)));
  const rest = clients * (1 - humanShare);
  return {
    human: Math.round(clients * humanShare),
    'mobile-app': Math.round(rest * LIGHT_CROWD['mobile-app']),
    'residential-swarm': Math.round(rest * LIGHT_CROWD['residential-swarm']),
    'credential-stuffer': Math.round(rest * LIGHT_CROWD['credential-stuffer']),
  };
}

export interface ResolvedOptions {
  seed: number;
  start: number;
  end: number;
  durationMs: number;
  format: OutputFormat;
  jitterMs: number;
  maxLines: number;
  counts: Record<Role, number>;
}

function nonNegative(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0)
    throw new RangeError(`testkit: ${name} must be a finite number >= 0, got ${value}`);
  return value;
}

export function resolveOptions(options: ScenarioOptions): ResolvedOptions {
  const seed = Math.floor(nonNegative(options.seed, 'seed', 1));
  const start = options.start ?? DEFAULT_START;
  if (!Number.isFinite(start)) throw new RangeError(`testkit: start must be epoch ms, got ${start}`);
  const durationSec = nonNegative(options.durationSec, 'durationSec', 600);
  if (durationSec < 10) throw new RangeError(`testkit: durationSec must be at least 10, got ${durationSec}`);
  const format = options.format ?? 'edge';
  if (format !== 'edge' && format !== 'combined') {
    throw new RangeError(`testkit: format must be 'edge' or 'combined', got ${String(format)}`);
  }
  const scale = nonNegative(options.scale, 'scale', 1);
  const jitterMs = nonNegative(options.jitterMs, 'jitterMs', 1500);
  const targetLines = options.targetLines;
  if (targetLines !== undefined && !(Number.isInteger(targetLines) && targetLines > 0)) {
    throw new RangeError(`testkit: targetLines must be a positive integer, got ${targetLines}`);
  }
  const counts = {} as Record<Role, number>;
  for (const role of ROLES) {
    const base = DEFAULT_POPULATIONS[role];
    counts[role] = scale === 0 ? 0 : Math.max(base > 0 ? 1 : 0, Math.round(base * scale));
  }
  const overrides = options.populations ?? {};
  for (const [role, count] of Object.entries(overrides)) {
    if (!(role in DEFAULT_POPULATIONS))
      throw new RangeError(`testkit: unknown role '${role}' in populations`);
    if (!(Number.isInteger(count) && (count as number) >= 0)) {
      throw new RangeError(`testkit: populations.${role} must be an integer >= 0, got ${count}`);
    }
    counts[role as Role] = count as number;
  }
  if (format === 'combined') for (const role of EDGE_ONLY_ROLES) counts[role] = 0;
  if (options.clients !== undefined) {
    const clients = nonNegative(options.clients, 'clients', 0);
    // Aim a few percent past targetLines so the cut lands near the end of the window and almost
    // every planned client appears; without a target, ~10 lines per client.
    let fixedLines = 0;
    for (const role of ROLES) {
      if (role !== 'human' && !(role in LIGHT_CROWD))
        fixedLines += expectedLines(role, counts[role], durationSec);
    }
    const perClient =
      targetLines !== undefined ? Math.max(1, (targetLines * 1.03 - fixedLines) / Math.max(1, clients)) : 10;
    // Explicit populations still win over the crowd sizing.
    for (const [role, count] of Object.entries(crowdCounts(clients, perClient))) {
      if (!(role in overrides)) counts[role as Role] = count;
    }
  }
  const durationMs = durationSec * 1000;
  return {
    seed,
    start,
    end: start + durationMs,
    durationMs,
    format,
    jitterMs,
    maxLines: targetLines ?? Number.POSITIVE_INFINITY,
    counts,
  };
}

/** Per-role random streams: a role's draws do not depend on how many clients other roles have. */
class Streams {
  private readonly next = new Map<Role, number>();

  constructor(private readonly seed: number) {}

  of(role: Role): Rng {
    const serial = this.next.get(role) ?? 0;
    this.next.set(role, serial + 1);
    return new Rng(deriveSeed(deriveSeed(this.seed, 1000 + ROLES.indexOf(role)), serial));
  }
}

export interface Plan {
  engine: TrafficEngine;
  registry: ClientRegistry;
  incident: Incident;
}

/** Builds the whole cast for one pass over the scenario (each pass rebuilds it identically). */
export function plan(options: ResolvedOptions): Plan {
  const { start, end, durationMs, counts } = options;
  const registry = new ClientRegistry();
  const addresses = new AddressAllocator();
  const streams = new Streams(options.seed);
  const scenarioRng = new Rng(deriveSeed(options.seed, 0));
  const actors: Actor[] = [];
  const at = (fraction: number) => start + fraction * durationMs;

  // The incident: which pages are hot, which tooling the swarm runs, when it is active.
  const hotPages = scenarioRng.shuffle(hotPageCandidates()).slice(0, scenarioRng.int(3, 8));
  const swarmAgents = scenarioRng.shuffle([...SWARM_USER_AGENT_POOL]).slice(0, scenarioRng.int(2, 4));
  const incidentFrom = at(0.15);
  const incidentUntil = at(0.95);
  const incidentLength = incidentUntil - incidentFrom;

  const swarmLoad = new Float32Array(Math.ceil(durationMs / 1000));
  const swarmBlocks = blocksFor(HOSTING_BLOCKS.swarm, counts.swarm + counts['swarm-buster']);
  for (const role of ['swarm', 'swarm-buster'] as const) {
    for (let i = 0; i < counts[role]; i++) {
      const rng = streams.of(role);
      const ip = addresses.claim(() => hostIn(rng, swarmBlocks), role);
      // Bots join over the first part of the incident and each stays for minutes.
      const activeMs = rng.between(0.25, 0.6) * incidentLength;
      const from = rng.between(
        incidentFrom,
        Math.max(incidentFrom, Math.min(incidentFrom + 0.4 * incidentLength, incidentUntil - activeMs)),
      );
      const until = from + activeMs;
      const rate = rng.between(0.5, 3);
      const tooling: SwarmTooling = {
        userAgent: rng.pick(swarmAgents),
        bustStyle: role === 'swarm-buster' ? (rng.chance(0.5) ? 'letters' : 'timestamp') : null,
        clientTimeoutMs: null,
      };
      actors.push(new SwarmBot(rng, registry.register(ip, role), hotPages, tooling, from, until, rate));
      for (
        let second = Math.floor((from - start) / 1000);
        second < Math.ceil((until - start) / 1000);
        second++
      ) {
        swarmLoad[second] = (swarmLoad[second] ?? 0) + rate;
      }
    }
  }
  if (counts.swarm + counts['swarm-buster'] === 0 && counts['residential-swarm'] > 0) {
    // No datacenter swarm to shape the incident: the residential bursts follow a plain plateau.
    for (
      let second = Math.floor((incidentFrom - start) / 1000);
      second < Math.ceil((incidentUntil - start) / 1000);
      second++
    ) {
      swarmLoad[second] = 1;
    }
  }
  const profile = new IncidentProfile(start, swarmLoad);
  const edge = new EdgeCacheModel(profile, new Set(hotPages));
  const engine = new TrafficEngine({
    start,
    end,
    jitterMs: options.jitterMs,
    maxLines: options.maxLines,
    seed: options.seed,
    edge,
  });

  if (counts['residential-swarm'] > 0 && profile.active) {
    const role = 'residential-swarm';
    actors.push(
      new ArrivalSpawner(
        streams.of(role),
        counts[role],
        (u) => profile.timeAtQuantile(u),
        (arrival) => {
          const rng = streams.of(role);
          const ip = addresses.claim(
            () => (rng.chance(0.15) ? residentialIPv6(rng) : residentialIPv4(rng)),
            role,
          );
          const tooling: SwarmTooling = {
            userAgent: rng.pick(swarmAgents),
            bustStyle: rng.chance(0.5) ? (rng.chance(0.5) ? 'letters' : 'timestamp') : null,
            clientTimeoutMs: RESIDENTIAL_CLIENT_TIMEOUT_MS,
          };
          return new ResidentialBurst(rng, registry.register(ip, role), hotPages, tooling, arrival);
        },
      ),
    );
  }

  // Humans: a fifth already mid-visit when the log starts, the rest arriving throughout.
  const humanIp = (rng: Rng) => (rng.chance(0.25) ? residentialIPv6(rng) : residentialIPv4(rng));
  const newVisitor = (rng: Rng, locale?: string): Visitor => ({
    identity: browserIdentity(rng, locale),
    forwardedFor: null,
  });
  const humanSession = (rng: Rng, startAt: number, inProgress: boolean): Actor => {
    const ip = addresses.claim(() => humanIp(rng), 'human');
    const visitor = newVisitor(rng);
    // A few offices put their inside address in X-Forwarded-For before it reaches us.
    if (!ip.includes(':') && rng.chance(0.03))
      visitor.forwardedFor = `192.168.${rng.int(0, 40)}.${rng.int(2, 250)}`;
    return new BrowsingSession(rng, registry.register(ip, 'human'), visitor, startAt, {
      pages: visitLength(rng),
      inProgress,
    });
  };
  const humansInProgress = Math.round(counts.human * HUMANS_IN_PROGRESS);
  for (let i = 0; i < humansInProgress; i++) {
    const rng = streams.of('human');
    actors.push(humanSession(rng, start + rng.between(0, Math.min(30_000, durationMs / 10)), true));
  }
  if (counts.human > humansInProgress) {
    const lastArrival = end - Math.min(60_000, durationMs / 10);
    actors.push(
      new ArrivalSpawner(
        streams.of('human'),
        counts.human - humansInProgress,
        uniformBetween(start, lastArrival),
        (arrival) => humanSession(streams.of('human'), arrival, false),
      ),
    );
  }

  // NAT: one address, a constantly busy crowd of visitors behind it (an office or a carrier NAT).
  for (let n = 0; n < counts.nat; n++) {
    const natRng = streams.of('nat');
    const ip = addresses.claim(
      () => (natRng.chance(0.5) ? carrierIPv4(natRng) : residentialIPv4(natRng)),
      'nat',
    );
    const record = registry.register(ip, 'nat');
    const locale = natRng.pick(['de-DE', 'en-GB', 'fr-FR', 'en-US', 'nl-NL']);
    for (let seat = 0; seat < NAT_CONCURRENT_SESSIONS; seat++) {
      const rng = streams.of('nat');
      actors.push(
        new BrowsingSession(
          rng,
          record,
          newVisitor(rng, locale),
          start + rng.between(0, 40_000),
          { pages: visitLength(rng), inProgress: true },
          (next) => ({
            visitor: newVisitor(next, locale),
            plan: { pages: visitLength(next), inProgress: false },
            idleMs: next.between(2_000, 60_000),
          }),
        ),
      );
    }
  }

  // The spoofing victim browses all along; the spoofer forges its address in X-Forwarded-For.
  const victims: string[] = [];
  for (let i = 0; i < counts['xff-victim']; i++) {
    const rng = streams.of('xff-victim');
    const ip = addresses.claim(() => residentialIPv4(rng), 'xff-victim');
    victims.push(ip);
    const visitor = newVisitor(rng);
    actors.push(
      new BrowsingSession(
        rng,
        registry.register(ip, 'xff-victim'),
        visitor,
        start + rng.between(0, 0.05 * durationMs),
        { pages: visitLength(rng), inProgress: false },
        (next) => ({
          visitor,
          plan: { pages: visitLength(next), inProgress: true },
          idleMs: next.between(20_000, 120_000),
        }),
      ),
    );
  }
  for (let i = 0; i < counts['xff-spoofer']; i++) {
    const rng = streams.of('xff-spoofer');
    const ip = addresses.claim(
      () => hostIn(rng, blocksFor(HOSTING_BLOCKS.spoofer, counts['xff-spoofer'])),
      'xff-spoofer',
    );
    const from = at(rng.between(0.1, 0.5));
    const tooling: Tooling = {
      userAgent: rng.pick([SCRAPER_USER_AGENTS[0], SCANNER_USER_AGENTS[0]]),
      acceptLanguage: null,
      protocol: 'HTTP/1.1',
      forwardedFor: victims[i % Math.max(1, victims.length)] ?? residentialIPv4(rng),
    };
    actors.push(
      new RapidFetcher(rng, registry.register(ip, 'xff-spoofer'), tooling, {
        from,
        until: from + rng.between(0.2, 0.4) * durationMs,
        ratePerSecond: rng.between(1.5, 4),
        maxRequests: Number.POSITIVE_INFINITY,
        probeShare: 0.4,
        productLimit: PRODUCT_COUNT + 500,
      }),
    );
  }

  for (let i = 0; i < counts.crawler; i++) {
    const rng = streams.of('crawler');
    const google = i % 2 === 0;
    const ip = addresses.claim(
      () => hostInCidr(rng, google ? GOOGLEBOT_RANGES[0] : rng.pick(BINGBOT_RANGES)),
      'crawler',
    );
    const userAgent = google
      ? rng.pick([CRAWLER_USER_AGENTS.googlebotSmartphone, CRAWLER_USER_AGENTS.googlebotDesktop])
      : CRAWLER_USER_AGENTS.bingbot;
    const tooling: Tooling = { userAgent, acceptLanguage: null, protocol: 'HTTP/1.1', forwardedFor: null };
    actors.push(
      new PoliteCrawler(
        rng,
        registry.register(ip, 'crawler'),
        tooling,
        start + rng.between(0, Math.min(60_000, 0.1 * durationMs)),
      ),
    );
  }

  const fakeBlocks = blocksFor(HOSTING_BLOCKS.fakeCrawler, counts['fake-crawler']);
  for (let i = 0; i < counts['fake-crawler']; i++) {
    const rng = streams.of('fake-crawler');
    const ip = addresses.claim(() => hostIn(rng, fakeBlocks), 'fake-crawler');
    const from = at(rng.between(0.05, 0.5));
    const tooling: Tooling = {
      userAgent: rng.pick([CRAWLER_USER_AGENTS.googlebotClassic, CRAWLER_USER_AGENTS.googlebotDesktop]),
      acceptLanguage: null,
      protocol: 'HTTP/1.1',
      forwardedFor: null,
    };
    actors.push(
      new RapidFetcher(rng, registry.register(ip, 'fake-crawler'), tooling, {
        from,
        until: from + rng.between(0.2, 0.45) * durationMs,
        ratePerSecond: rng.between(2, 5),
        maxRequests: Number.POSITIVE_INFINITY,
        probeShare: 0,
        productLimit: PRODUCT_COUNT,
      }),
    );
  }

  const scraperBlocks = blocksFor(HOSTING_BLOCKS.scraper, counts.scraper);
  for (let i = 0; i < counts.scraper; i++) {
    const rng = streams.of('scraper');
    const ip = addresses.claim(() => hostIn(rng, scraperBlocks), 'scraper');
    const userAgent = SCRAPER_USER_AGENTS[i % SCRAPER_USER_AGENTS.length] as string;
    const from = at(rng.between(0.1, 0.5));
    const tooling: Tooling = {
      userAgent,
      acceptLanguage: userAgent.startsWith('python') ? null : 'en-US,en;q=0.9',
      protocol: 'HTTP/1.1',
      forwardedFor: null,
    };
    actors.push(
      new RapidFetcher(rng, registry.register(ip, 'scraper'), tooling, {
        from,
        until: from + rng.between(0.3, 0.5) * durationMs,
        ratePerSecond: rng.between(1, 5),
        maxRequests: Number.POSITIVE_INFINITY,
        probeShare: 0,
        productLimit: PRODUCT_COUNT + 600,
      }),
    );
  }

  const scannerBlocks = blocksFor(HOSTING_BLOCKS.scanner, counts.scanner);
  for (let i = 0; i < counts.scanner; i++) {
    const rng = streams.of('scanner');
    const ip = addresses.claim(() => hostIn(rng, scannerBlocks), 'scanner');
    const tooling: Tooling = {
      userAgent: rng.pick(SCANNER_USER_AGENTS),
      acceptLanguage: null,
      protocol: 'HTTP/1.1',
      forwardedFor: null,
    };
    actors.push(
      new RapidFetcher(rng, registry.register(ip, 'scanner'), tooling, {
        from: at(rng.between(0.05, 0.85)),
        until: end,
        ratePerSecond: rng.between(3, 12),
        maxRequests: rng.int(40, 120),
        probeShare: 0.95,
        productLimit: PRODUCT_COUNT,
      }),
    );
  }

  const monitorBlocks = blocksFor(HOSTING_BLOCKS.monitor, counts.monitor);
  for (let i = 0; i < counts.monitor; i++) {
    const rng = streams.of('monitor');
    const uptimeRobot = i % 2 === 0;
    const published = UPTIMEROBOT_ADDRESSES[i / 2];
    const ip =
      uptimeRobot && published !== undefined && addresses.reserve(published)
        ? published
        : addresses.claim(() => hostIn(rng, monitorBlocks), 'monitor');
    const intervalMs = rng.int(30, 60) * 1000;
    actors.push(
      new UptimeMonitor(
        rng,
        registry.register(ip, 'monitor'),
        uptimeRobot ? MONITOR_USER_AGENTS.uptimeRobot : MONITOR_USER_AGENTS.pingdom,
        uptimeRobot ? '/' : '/health',
        intervalMs,
        start + rng.between(0, intervalMs),
      ),
    );
  }

  const feedBlocks = blocksFor(HOSTING_BLOCKS.feeds, counts['feed-reader']);
  for (let i = 0; i < counts['feed-reader']; i++) {
    const rng = streams.of('feed-reader');
    const ip = addresses.claim(() => hostIn(rng, feedBlocks), 'feed-reader');
    const intervalMs = rng.between(10, 30) * 60_000;
    actors.push(
      new FeedReader(
        rng,
        registry.register(ip, 'feed-reader'),
        feedReaderUserAgent(rng, i),
        intervalMs,
        start + rng.between(0, Math.min(intervalMs, durationMs - 1000)),
      ),
    );
  }

  // The app: 30% of devices already in the foreground when the log starts, the rest launching later.
  if (counts['mobile-app'] > 0) {
    const device = (rng: Rng, firstAt: number, running: boolean): Actor => {
      const ip = addresses.claim(() => (rng.chance(0.3) ? carrierIPv6(rng) : carrierIPv4(rng)), 'mobile-app');
      const userAgent = mobileAppUserAgent(rng);
      const pollMs = rng.int(30, 60) * 1000;
      const locale = rng.pick(['en-US', 'en-GB', 'de-DE', 'fr-FR', 'es-ES', 'nl-NL']);
      return new MobileDevice(
        rng,
        registry.register(ip, 'mobile-app'),
        {
          userAgent,
          acceptLanguage: userAgent.startsWith('okhttp') ? null : `${locale};q=1.0`,
          deviceId: rng.hex(16),
        },
        pollMs,
        running ? firstAt + rng.between(0, pollMs) : firstAt,
        rng.between(3, 15) * 60_000,
        running,
      );
    };
    const running = Math.round(counts['mobile-app'] * 0.3);
    for (let i = 0; i < running; i++) actors.push(device(streams.of('mobile-app'), start, true));
    if (counts['mobile-app'] > running) {
      actors.push(
        new ArrivalSpawner(
          streams.of('mobile-app'),
          counts['mobile-app'] - running,
          uniformBetween(start, end - Math.min(30_000, durationMs / 10)),
          (arrival) => device(streams.of('mobile-app'), arrival, false),
        ),
      );
    }
  }

  // Credential stuffing: low and slow from many addresses across the whole window.
  if (counts['credential-stuffer'] > 0) {
    const role = 'credential-stuffer';
    const stufferBlocks = blocksFor(HOSTING_BLOCKS.stuffer, Math.ceil(counts[role] * 0.4));
    const tooling: Tooling = {
      userAgent: CREDENTIAL_STUFFER_USER_AGENT,
      acceptLanguage: null,
      protocol: 'HTTP/1.1',
      forwardedFor: null,
    };
    actors.push(
      new ArrivalSpawner(streams.of(role), counts[role], uniformBetween(start, end - 1000), (arrival) => {
        const rng = streams.of(role);
        const ip = addresses.claim(
          () => (rng.chance(0.6) ? residentialIPv4(rng) : hostIn(rng, stufferBlocks)),
          role,
        );
        return new CredentialStuffer(rng, registry.register(ip, role), tooling, arrival);
      }),
    );
  }

  for (const actor of actors) engine.spawn(actor);
  return { engine, registry, incident: { hotPages, from: incidentFrom, until: incidentUntil } };
}
