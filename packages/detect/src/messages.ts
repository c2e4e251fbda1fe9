/**
 * Messages between the stages. Plain JSON-able objects: they travel over the in-memory bus and,
 * over Kafka, as Avro record batches whose schemas mirror these types field for field
 * (packages/schema/src/record-batch.ts: change both together). Times are event time (epoch ms).
 *
 * Cross-address aggregates use "count once per window": the profiler counts a client in a
 * fingerprint/prefix partial at most once per aggregate window (and again when it starts looking
 * human), so summing partials over a window of the same length estimates DISTINCT active clients
 * without shipping address sets. Clients live on one profiler partition, so partitions never
 * double count.
 */
import type { Signal } from '@edgeguard/schema';

/** A client whose behaviour crossed a rule, with the evidence. Sent on change, not per request. */
export interface ClientSignal {
  kind: 'client';
  ip: string;
  /** Its /24 or /64, null when the address has no prefix (not an IP). */
  prefix: string | null;
  fingerprint: string;
  /** Event time of the evaluation. */
  time: number;
  /** Sum of the points of the rules that fired. */
  score: number;
  /** The strongest rule's reason word (`repetition`, `cache-bust`, `scanner`, ...). */
  reason: string;
  signals: Signal[];
  /** Browser-like evidence: loads assets with referers. */
  humanLooking: boolean;
  /**
   * Asks for pages but never for assets, and never with a referer (long window): the shape of a
   * bot. Sent even below the score threshold, so the decider can match it with a suspect fingerprint.
   */
  botShaped: boolean;
  /** Its most recent distinct paths (content-key hashes, newest first, at most 8). */
  paths: number[];
  /** Its requests in the short window (decayed count, windows.shortMs). */
  burstRequests: number;
  /** Human-looking and active for at least `windows.establishedAfterMs`: the guard protects these. */
  established: boolean;
  /** Session start of the client as profiled (event time). */
  firstSeen: number;
  /** Requests profiled for this client (its profile's lifetime). */
  requests: number;
}

/** One profiler partition's per-fingerprint totals since its previous flush. */
export interface FingerprintPartial {
  kind: 'fingerprint';
  fingerprint: string;
  /** Flush time: the partial's events are at or before it. */
  time: number;
  requests: number;
  pages: number;
  /** Asset requests of clients that do not look human. */
  assets: number;
  /** Requests for a URL (path + query) the same client had already asked for. */
  repeats: number;
  /** Requests to a path the same client had already asked for (whatever the query). */
  pathRepeats: number;
  /**
   * Requests with a new query string or a new path variant (see normalizePath) on a path the same
   * client had already asked for, not a hit (weighted: `client.cacheBust.unconfirmedWeight` when
   * the log has no cache status).
   */
  busts: number;
  loginPosts: number;
  authFailures: number;
  sensitiveHits: number;
  errors: number;
  /**
   * Clients counted (once per aggregate window each; a client's requests count in the fields above
   * up to twice `fingerprint.swarm.minRequestsPerClient` per window; verified crawlers not at all).
   */
  clients: number;
  humanClients: number;
  establishedClients: number;
  /**
   * Clients whose own score reached the challenge threshold (once per window each). Decayed, for
   * the share of `clients`; the decider counts distinct flagged addresses from their signals.
   */
  flaggedClients: number;
  /** Distinct path hashes seen in this partial (at most `bounds.pathsPerFingerprint`). */
  paths: number[];
  /** More distinct paths than `paths` holds. */
  pathsOverflow: boolean;
  /** One user agent seen with the fingerprint, for explanations. */
  userAgent: string | null;
  /**
   * Its user agent declares a crawler. Such a fingerprint is shared by the genuine crawler by
   * design, so it never gets a fingerprint decision (nor by its flagged share); the verified
   * crawler's own requests are not in it, and its unverified claimants are judged per address
   * (guilt by fingerprint) like any other bot-shaped clients.
   */
  declaredCrawler: boolean;
}

/** One profiler partition's client counts for one prefix since its previous flush (inside a tick). */
export interface PrefixCount {
  prefix: string;
  clients: number;
  humanClients: number;
  establishedClients: number;
  /** Allowlisted or verified-crawler clients: a range decision must never cover them. */
  protectedClients: number;
}

/** Per-partition traffic totals since the previous flush: the guard's denominator, prefix counts, and a clock. */
export interface TrafficTick {
  kind: 'tick';
  partition: number;
  time: number;
  requests: number;
  late: number;
  /** Clients counted (once per aggregate window each). */
  clients: number;
  establishedClients: number;
  /**
   * Per-prefix client counts of the same flush, for range aggregation (batched here: one message
   * per flush instead of one per prefix).
   */
  prefixes: PrefixCount[];
}

/** What the decider consumes, on one topic, in event order. */
export type DeciderInput = ClientSignal | FingerprintPartial | TrafficTick;

/** One profiler partition's per-content-key totals since its previous flush. */
export interface ContentPartial {
  host: string | null;
  path: string;
  time: number;
  requests: number;
  withQuery: number;
  /** Requests to the key from a client that had not asked for it recently (≈ distinct clients). */
  newVisitors: number;
  hits: number;
  /** MISS (not EXPIRED: those are `expired` only; the two add up to the requests the origin answered). */
  misses: number;
  expired: number;
  stale: number;
  uncacheable: number;
  /** Requests without a query string, and how many of them the cache answered (HIT or STALE). */
  plainRequests: number;
  plainCached: number;
  /**
   * Busting requests for the key (a client's new query string or new path variant of it, not a
   * hit). A path variant counts here only, not in `requests` or any other field: it is another
   * key to the edge's cache.
   */
  busts: number;
  /** Requests with a query string that missed the cache (MISS or EXPIRED). */
  queryMisses: number;
  serverErrors: number;
  originMsSum: number;
  originCount: number;
  /** Distinct query-string hashes (at most `bounds.queryHashesPerPartial`) ... */
  queryHashes: number[];
  /** ... and how many further distinct-looking queries did not fit. */
  queryOverflow: number;
  /**
   * Requests with a query answered 200 once the key's plain 200 answers gave a mean size, and how
   * many of them were that size (within 5 % or 1 KiB): the query changed nothing, as a cache-buster's
   * does. Absent (0) from a profiler older than these fields.
   */
  queryCompared: number;
  querySameAsPlain: number;
  /**
   * Names of the query parameters of answers that were not the plain page (they select content:
   * `page`, `sort`, `q`), distinct, at most `CONTENT_PARAMS_MAX` of at most `CONTENT_PARAM_MAX_LENGTH`
   * characters. Absent (none) from a profiler older than the field.
   */
  contentParams: string[];
}

/** Content-selecting parameter names a content partial carries at most ... */
export const CONTENT_PARAMS_MAX = 8;
/** ... and their longest name (a longer one is not a parameter an operator keeps in a cache key). */
export const CONTENT_PARAM_MAX_LENGTH = 64;

/**
 * Several content partials of one flush bound for one `content-partials` partition, in one
 * message: the long tail of content keys (each asked for once a second or less) would otherwise
 * cost one message per request.
 */
export interface ContentPartialBatch {
  kind: 'content-batch';
  time: number;
  partials: ContentPartial[];
}

/** Raised instead of deciding, when decisions would suddenly cover established benign clients. */
export interface GuardAlert {
  kind: 'blast-radius';
  time: number;
  /** `tripped` when automatic decisions are put on hold, `released` when the hold ends. */
  state: 'tripped' | 'released';
  message: string;
  /** Established benign clients the recent decisions cover, and how many are active. */
  coveredEstablished: number;
  activeEstablished: number;
  threshold: number;
  heldUntil: number;
  /** Decisions held (not published) so far in this hold, and a few of their keys. */
  held: number;
  sampleKeys: string[];
}
