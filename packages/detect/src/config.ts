/**
 * Detection configuration: every window, threshold and bound, with its unit and why it has its
 * default. Plain nested JSON (numbers, booleans, strings, arrays) because the CLI's config loader
 * validates a user's config against the shape of these defaults, field by field.
 *
 * Windows are exponentially decayed: a counter with time constant τ holds ≈ the events of the last
 * τ, older events fading smoothly instead of dropping off a cliff (see decay.ts). All times are
 * event time (the log's timestamps), never the wall clock. Count thresholds on decayed counters
 * sit half an event below the intended count (4.5 ≈ "five failures in quick succession"), since
 * n events a few seconds apart read slightly below n.
 */
export const defaultDetectConfig = {
  /**
   * How far (ms) an event may lag the newest event seen and still count. Real logs are written at
   * request end and merged from several edge nodes, so lines are out of order within about a minute.
   * Older events are counted as `late` and dropped.
   */
  allowedLatenessMs: 60_000,
  /**
   * Event-time cadence (ms) at which the profiler flushes its map-side partials (content,
   * fingerprint, prefix) and traffic ticks. 1 s keeps detection latency low ("emit early, refine
   * later") while one partial per key per second stays far below one message per request.
   */
  flushIntervalMs: 1_000,

  /** State bounds: the memory ceiling. Each trades accuracy as noted; none grows with traffic. */
  bounds: {
    /**
     * Clients (addresses) profiled at once, over all profiler partitions. Clients idle since the
     * eviction hand last passed go first (CLOCK, ≈ least recently seen): an evicted client that
     * returns starts a fresh profile (its evidence is lost, so a low-and-slow client may be
     * re-learned). ~300 B of object plus 128 B of counters and 192 B of recent-key slots each:
     * 200k ≈ 125 MB.
     */
    maxClients: 200_000,
    /** Content keys (host+path) aggregated by content-watch; least recently seen are evicted. */
    maxContentKeys: 100_000,
    /**
     * Longest content key (host + path, in characters; an unknown host counts as one) tracked as
     * content. A longer one gets no path entry in the profiler, no content partial and so no
     * content-watch key or cache policy; its requests are counted (`untrackedContentRequests`
     * in the replay's stats) and still count for their client (repetition, distinct paths,
     * busting and probes work on the full path's hash). Why: keys are otherwise bounded in number
     * only, and a path may be `input.maxFieldLength` (4 KiB) long: 100k distinct 4 KiB paths
     * held 1.2 GB of live heap and peaked at 2.7 GB RSS (`bench/long-paths.mjs`); with this
     * bound the same flood holds 27 MB (peak 170 MB RSS), and the worst case, 100k keys just at
     * 512, ~90 MB more than 100k short keys (each key's text is held twice: the profiler's copy
     * and content-watch's). What it trades: no hot-miss, bust or stale advice for a page whose
     * key is longer; real page paths are far shorter (long ones are mostly generated: session
     * ids in the path, tracking junk, probes), and an edge rule for one such key is rarely
     * worth having.
     */
    maxContentKeyLength: 512,
    /** Fingerprints aggregated by the decider; least recently seen are evicted (their window restarts). */
    maxFingerprints: 50_000,
    /** Prefixes (/24, /64) aggregated by the decider for range decisions. */
    maxPrefixes: 100_000,
    /**
     * Active decisions held by the decider. Beyond it new decisions are dropped and counted
     * (`decisionsDropped`): a flood of millions of addresses degrades to fingerprint/range
     * decisions, which cover it anyway.
     */
    maxDecisions: 200_000,
    /** Keys remembered for escalation (repeat offenders), least recently decided evicted. */
    maxHistory: 200_000,
    /**
     * Distinct paths remembered per client for repetition (a FIFO of 32-bit hashes). A client
     * repeating within its last 32 distinct paths is measured exactly; one cycling through more
     * than 32 paths looks non-repetitive (repetition is under-, never over-estimated). False
     * repeats need a 32-bit hash collision (≈ 1 in 4 billion per pair).
     */
    recentPathsPerClient: 32,
    /** Distinct full URLs (path + query) remembered per client, to tell a new query string (bust). */
    recentUrlsPerClient: 16,
    /** Paths tracked as attacked (hammered by flagged clients), least recently flagged evicted. */
    maxAttackedPaths: 10_000,
    /** Distinct paths per fingerprint partial and per fingerprint window (beyond it: "many paths"). */
    pathsPerFingerprint: 32,
    /**
     * Distinct query-string hashes a content partial carries per flush; more are counted as
     * overflow and assumed distinct (a flood of unique queries is what they are).
     */
    queryHashesPerPartial: 64,
  },

  /** Time constants (ms) of the decayed windows. */
  windows: {
    /** Burst rate horizon. */
    shortMs: 10_000,
    /** The main behaviour window for client rules: detection within tens of seconds. */
    mediumMs: 60_000,
    /** Slow horizon: low-and-slow scrapers, asset habits, human-looking evidence. */
    longMs: 600_000,
    /** Window of the cross-address aggregates (fingerprints, prefixes, content keys). */
    aggregateMs: 60_000,
    /**
     * A human-looking client active this long (ms) counts as an ESTABLISHED benign client for the
     * blast-radius guard: 5 min of browsing with assets and referers is hard for a fresh bot to fake.
     */
    establishedAfterMs: 300_000,
    /** Idle gap (ms) after which a returning client starts a new session (established age resets). */
    sessionIdleMs: 1_800_000,
  },

  /** Per-client rules (profiler). Points add up to a score; see `decisions.scoreFor*`. */
  client: {
    /** Evaluate on each of a client's first requests (a short-lived bot must be judged early) ... */
    evaluateFirstRequests: 2,
    /** ... then at most this often (ms of event time) ... */
    evaluateEveryMs: 1_000,
    /** ... or after this many of its requests, whichever comes first (a fast burst is judged mid-burst). */
    evaluateEveryRequests: 8,
    /** Re-send an unchanged signal after this long (ms), so the decider can extend a decision. */
    resignalAfterMs: 30_000,
    /**
     * Bot shape: at least this many pages, and not one asset or referer in the client's profile.
     * Not a verdict by itself (apps and monitors look like this); the decider acts on it only
     * when the client's fingerprint is suspect (see fingerprint rules).
     */
    botShape: {
      minPages: 2,
      /**
       * An unchanged bot-shape signal is re-sent only this often (ms): app devices and monitors
       * look like this for hours; the decider remembers recent ones anyway (pendingAddresses).
       */
      resignalAfterMs: 300_000,
    },

    /** Repetition: one client asking the same few paths over and over, no assets (the incident). */
    repetition: {
      /** Requests (decayed, medium window) before the ratio means anything. */
      minRequests: 7.5,
      /** Share of requests to a path the client already asked for. Humans browse: ~0.1–0.4. */
      minRatio: 0.6,
      /** Asset share above which a client is loading pages like a browser, not hammering them. */
      maxAssetShare: 0.1,
      /** Points when it fires; `strongPoints` past `strongRequests` (≥ 1 req/s sustained). */
      points: 2,
      strongRequests: 60,
      strongPoints: 3,
    },
    /** Cache-busting: new query strings on paths the client already asked for, missing the cache. */
    cacheBust: {
      /** Busting requests (decayed) before it fires: a few searches or pages of a list are normal. */
      minBusts: 4.5,
      /** Share of the client's requests that bust. */
      minRatio: 0.3,
      points: 2,
      strongBusts: 29.5,
      strongPoints: 3,
      /**
       * Weight of a bust the log cannot confirm as a cache miss (no cache status logged): sites
       * that route content through query strings (`/index.php?id=46`) look like busting to a
       * reader of many articles, so five unconfirmed busts count as one (a reader at one article
       * every 3 s stays below `minBusts`; a buster at 2 a second does not).
       */
      unconfirmedWeight: 0.2,
    },
    /** Scanner: probing for sensitive files, admin panels, backdoors, traversal. */
    scanner: {
      /** Sensitive-path hits (decayed, medium window) for a challenge / for a block. */
      minHits: 1.5,
      strongHits: 3.5,
      points: 2,
      strongPoints: 3,
      /** Or: 4xx share over at least `minErrorRequests` requests (path guessing). */
      minErrorRatio: 0.6,
      minErrorRequests: 19.5,
      errorPoints: 2,
      /**
       * Or: the user agent names a vulnerability scanner or fuzzer (its family as the fingerprint
       * package's classifier reports it), at `toolMinRequests` requests (decayed, medium window):
       * `strongPoints`. An authorised scan is allowlisted by address.
       */
      toolFamilies: [
        'zgrab',
        'masscan',
        'Nmap',
        'Nikto',
        'sqlmap',
        'Nuclei',
        'WPScan',
        'gobuster',
        'DirBuster',
        'ffuf',
        'feroxbuster',
        'Wfuzz',
        'WhatWeb',
        'Acunetix',
        'OpenVAS',
        'LeakIX',
      ],
      toolMinRequests: 1.5,
    },
    /** Scraper: many distinct pages fast, no assets. */
    scraper: {
      /**
       * New pages (pages not among the client's recent ones; decayed, medium window), as
       * `strongPages`. Verified crawlers are allowlisted before this applies.
       */
      minPages: 29.5,
      /** Share of requests to paths new for the client. */
      minNewPathShare: 0.7,
      /** Asset share at most this (browsers load assets). */
      maxAssetShare: 0.05,
      points: 2,
      strongPages: 99.5,
      strongPoints: 3,
    },
    /** Credential stuffing from one address: failed logins. */
    credentialStuffing: {
      /** Failed login POSTs (401/403 to a login-like path), decayed medium window. */
      minFailures: 4.5,
      /** Share of login POSTs that failed. */
      minFailureRatio: 0.5,
      points: 3,
    },
    /** Claims a crawler its published ranges do not confirm, and behaves like one at volume. */
    fakeCrawler: {
      /**
       * Requests (decayed, medium window), i.e. ≥ 1 request / 2 s sustained: a genuine crawler
       * from a range our list lacks fetches a page every few seconds; the impostors scrape fast.
       */
      minRequests: 29.5,
      points: 3,
    },
    /** UA claim vs behaviour: a browser that never loads assets over many pages (long window). */
    browserWithoutAssets: { minPages: 20, maxAssetShare: 0.02, points: 1 },
    /** Supporting: pages without referers (long window). */
    noReferer: { minPages: 10, maxRefererShare: 0.05, points: 0.5 },
    /** Supporting: machine-regular timing (coefficient of variation of inter-arrival times). */
    timingRegularity: { minIntervals: 20, maxVariation: 0.15, points: 0.5 },
    /** Flood: short-window rate (req/s) from a client that does not look human. */
    flood: { minRatePerSecond: 20, points: 2 },
    /**
     * Human-looking evidence (long window): a browser UA that loads assets with referers. Clients
     * that look human are exempt from the supporting and volume rules (NAT addresses carry many).
     */
    human: { minAssets: 2, minAssetShare: 0.3, minAssetRefererShare: 0.5 },
  },

  /** Cross-address rules on a fingerprint's aggregate (decider). */
  fingerprint: {
    enabled: true,
    /** Distinct addresses (aggregate window) before a fingerprint may be judged. */
    minClients: 4.5,
    /**
     * A fingerprint is SUSPECT (its bot-shaped addresses get ip decisions at once) while its rule
     * fires and human-looking clients are at most this share of its clients.
     */
    maxSuspectHumanShare: 0.1,
    /**
     * A fingerprint DECISION (covering every address using it, from its first request) needs
     * human-looking clients to be at most this share, and none established: never block a
     * fingerprint real browsers share.
     */
    maxHumanShare: 0.01,
    /**
     * When the fingerprint's clients send at least this many requests each (aggregate window),
     * their own address decisions can cover them, so the fingerprint decision is only
     * `sharedAction`; below it (1–3 requests per address) the fingerprint decision is the only
     * thing that can stop them and takes the rule's action.
     */
    minRequestsForAddressDecisions: 3,
    /**
     * Action of a fingerprint decision whose clients address decisions can cover: a browser
     * fingerprint may be shared by people not seen yet, so only slow it down.
     */
    sharedAction: 'throttle',
    /**
     * Hysteresis of a fingerprint decision (share of each threshold, 0–1): made at
     * `maxHumanShare`, `minClients` and `minRequestsForAddressDecisions`, it is lifted (or its
     * action changed) only once the value is past the threshold by this share of it — humans
     * above 1.2 %, clients under 3.6, requests per client over 3.6 or under 2.4 with the defaults.
     * A value hovering at a threshold (every address behind a few load balancers mixes people and
     * bots) otherwise lifted and re-made the decision on every partial. 0 turns it off.
     */
    hysteresisShare: 0.2,
    /**
     * Bot-shaped addresses remembered per fingerprint while it is not (yet) suspect, judged when
     * it turns suspect (a swarm ramping up is recognised a few seconds after its first addresses).
     * Beyond it the oldest are forgotten; those still active are re-signalled anyway.
     */
    pendingAddresses: 128,
    /**
     * Swarm: the fingerprint's clients each send several requests per window (an app polling every
     * 30 s sends 2), load no assets, and all of them together ask for only a few distinct paths,
     * repeatedly or busting. Humans sharing a fingerprint spread over many paths and load assets.
     */
    swarm: {
      minRequestsPerClient: 5,
      maxAssetShare: 0.05,
      maxDistinctPaths: 12,
      /** Share of requests to a path the same client already asked for (whatever the query). */
      minRepetition: 0.3,
      points: 3,
    },
    /**
     * Cache-bust: share of the fingerprint's requests that bust, with per-client volume. An app
     * fleet polling an API with a changing `since=` every 30 s "busts" too (when the log has no
     * cache status to say the API is uncacheable), but each device sends ~2 requests a minute.
     */
    cacheBust: { minRatio: 0.25, minRequestsPerClient: 5, points: 3 },
    /** Credential stuffing spread over addresses: failed logins in the window and their share. */
    credentialStuffing: { minFailures: 4.5, minFailureShare: 0.5, points: 3 },
    /** Scanner fleets: sensitive hits in the window and their share. */
    scanner: { minHits: 9.5, minShare: 0.3, points: 3 },
    /**
     * Its addresses are individually flagged (score ≥ challenge): the whole fingerprint is the same
     * tool. Two independent addresses with the same exact fingerprint, both abusive, are enough
     * to suspect it (not to decide it: that needs `minClients`), so the swarm's other addresses
     * are judged from their first bot-shaped requests even while the swarm ramps up.
     * `minFlagged` counts distinct addresses whose signals said flagged within the aggregate
     * window (1.5: two; at most max(8, ⌈minFlagged⌉) ≤ 64 are remembered per fingerprint);
     * `minShare` compares the partials' decayed counts of flagged and all clients.
     */
    flagged: { minShare: 0.5, minFlagged: 1.5, points: 3 },
  },

  /**
   * Guilt by content: a bot-shaped client (pages, no assets, no referers) in a burst whose every
   * recent path is being hammered by clients flagged on their own (repetition, cache-busting) is
   * a member of that swarm. This catches the first short-lived addresses of a swarm (3–15
   * requests each) in the seconds before its fingerprints have enough addresses to be suspect.
   */
  attackedPaths: {
    enabled: true,
    /**
     * Flagged clients (decayed, aggregate window) on each of the client's paths: 0.5 ≈ one
     * client flagged within the last ~40 s.
     */
    minFlaggedClients: 0.5,
    /**
     * The client's requests in the short window (decayed): a burst (≈ 2 requests within ~10 s),
     * not a monitor checking a hot page every 30 s.
     */
    minBurstRequests: 1.5,
    /** Points of the resulting ip decision (2: challenge; one flagged client is thin evidence). */
    points: 2,
    /** Bot-shaped signals kept for re-checking when paths become attacked, and for how long (ms). */
    pendingAddresses: 256,
    pendingMs: 30_000,
  },

  /** Range aggregation: many bad addresses of one prefix become one decision. */
  range: {
    enabled: true,
    /** Prefix lengths (bits) that define a range. */
    ipv4Bits: 24,
    ipv6Bits: 64,
    /** Addresses with active decisions in the prefix. */
    minBadAddresses: 8,
    /** ... and their share of the prefix's active addresses (aggregate window). */
    minBadShare: 0.8,
    /** Strongest action a range decision takes (a range may hide a bystander we never saw). */
    maxAction: 'challenge',
  },

  /** Scores to actions, durations and escalation. */
  decisions: {
    /** Score thresholds (sum of rule points). */
    scoreForThrottle: 1,
    scoreForChallenge: 2,
    scoreForBlock: 3,
    /** First-offence durations (ms): short, because addresses get reassigned. */
    throttleMs: 600_000,
    challengeMs: 1_800_000,
    blockMs: 3_600_000,
    /** Each repeat offence (within `historyMs`) steps the action up once and multiplies the duration. */
    escalationFactor: 2,
    /** Longest automatic decision (ms). */
    maxDurationMs: 86_400_000,
    /** How long (ms) a past decision counts for escalation. */
    historyMs: 86_400_000,
    /** Extend an active decision still being earned when less than this share of it remains. */
    extendWhenRemainingShare: 0.5,
  },

  /** Blast-radius guard: a detector must not cause the next outage. */
  guard: {
    enabled: true,
    /**
     * Trip when active decisions would cover more than this share of the established benign
     * clients active (human-looking for `windows.establishedAfterMs`) ...
     */
    maxEstablishedShare: 0.05,
    /** ... and at least this many of them (one NAT address is not a blast). */
    minEstablishedClients: 5,
    /**
     * How long (ms) automatic decisions that would cover established clients are held once tripped
     * (the others are still published).
     */
    holdMs: 600_000,
  },

  /** Cache-policy advice (content-watch). */
  cache: {
    /** Requests (aggregate window) before a content key gets advice. */
    minRequests: 100,
    /** Hot key with many misses/expirations: collapse requests + stale-while-revalidate. */
    hotMissRatio: 0.3,
    /**
     * ... on a key the cache does store: at least this share of its cacheable requests answered
     * from cache or found expired (HIT, STALE, UPDATING, EXPIRED). A key that is a MISS every time
     * is not cached at all (nginx logs MISS for a response with Set-Cookie or `private`): locking
     * it (nginx `proxy_cache_lock`) would queue every request behind the one before, up to the
     * lock timeout, and save the origin nothing.
     */
    hotMinCachedShare: 0.05,
    collapseStaleWhileRevalidateSeconds: 30,
    collapseStaleIfErrorSeconds: 300,
    /** Busted path: share of requests with a query, distinct-query share, miss share of those. */
    bustQueryShare: 0.3,
    bustDistinctShare: 0.8,
    bustMissShare: 0.7,
    /** The path must also be served from cache without a query (proof it is cacheable). */
    bustMinPlainHitShare: 0.3,
    /**
     * ... and the query must change nothing: this share of the query requests' 200 answers the
     * plain page's size (within 5 % or 1 KiB), over at least `bustMinComparedShare` of the query
     * requests (200 answers once the plain page's size is known). A search, an API polled with
     * `since=`, a filter select content with their queries; dropping the query from their cache
     * key would answer every request with the plain page. A log without sizes gets no cache-key
     * advice.
     */
    bustSamePageShare: 0.8,
    bustMinComparedShare: 0.5,
    /** Too much stale serving: share of STALE responses, and the max-stale to advise (s). */
    staleRatio: 0.3,
    /** The max-stale to advise (s); the same policy's stale-while-revalidate and stale-if-error stay within it. */
    maxStaleSeconds: 60,
    /**
     * A reason a key's policy already gives is kept while its measure stays above this share of
     * its threshold (hysteresis): a ratio wavering around a threshold (a stale ratio of 0.29, 0.31,
     * 0.30 …) republished the policy at every crossing (the demo: 10 versions of one key in 80 s).
     */
    releaseShare: 0.8,
    /** A policy lives this long (ms) after its evidence was last seen. */
    policyTtlMs: 600_000,
  },

  /** Request classification. */
  paths: {
    /** Extensions of static assets (lower case, with the dot). */
    assetExtensions: [
      '.css',
      '.js',
      '.mjs',
      '.map',
      '.png',
      '.jpg',
      '.jpeg',
      '.gif',
      '.webp',
      '.avif',
      '.svg',
      '.ico',
      '.woff',
      '.woff2',
      '.ttf',
      '.otf',
      '.eot',
      '.mp4',
      '.webm',
      '.mp3',
    ],
    /** Path fragments that make a POST a login attempt (lower case). */
    loginPathFragments: ['login', 'signin', 'sign-in', 'auth', 'session', 'wp-login', 'xmlrpc', 'token'],
    /** Extra sensitive path suffixes on top of the bundled lists (data/SOURCE.md). */
    extraSensitiveSuffixes: [] as string[],
  },
};

export type DetectConfig = typeof defaultDetectConfig;
type Action = 'block' | 'challenge' | 'throttle';

/** Deep partial of a config, for overrides. */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** The defaults with `overrides` merged in (objects recursively; arrays and scalars replaced). */
export function withDefaults(overrides: DeepPartial<DetectConfig> = {}): DetectConfig {
  return mergeDeep(structuredClone(defaultDetectConfig), overrides) as DetectConfig;
}

function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(over)) {
    const current = base[key];
    if (
      value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      current !== null &&
      typeof current === 'object' &&
      !Array.isArray(current)
    ) {
      mergeDeep(current as Record<string, unknown>, value as Record<string, unknown>);
    } else if (value !== undefined) {
      base[key] = value;
    }
  }
  return base;
}

/** The range aggregation's action cap, checked (config is user input). */
export function rangeMaxAction(config: DetectConfig): Action {
  const value = config.range.maxAction;
  return value === 'block' || value === 'throttle' ? value : 'challenge';
}
