import type { AccessLog } from '@edgeguard/schema';
import { AddressIndex, ipv4Number, ipv4PrefixNumber, ipv4PrefixShift } from './address-index.js';
import type { ClientTraits } from './client-rules.js';
import {
  ClientScore,
  COUNTER_STRIDE,
  L_ASSETS,
  L_ASSETS_WITH_REFERER,
  L_PAGES,
  L_PAGES_WITH_REFERER,
  L_REQUESTS,
  M_ASSETS,
  M_AUTH_FAILURES,
  M_BUST_ATTEMPTS,
  M_BUSTS,
  M_ERRORS,
  M_LOGIN_POSTS,
  M_PAGES,
  M_REPEATS,
  M_REQUESTS,
  M_SENSITIVE,
  MEDIUM_END,
  S_REQUESTS,
  SHORT_END,
  scoreClient,
} from './client-rules.js';
import { ClockTable } from './clock-table.js';
import type { DetectConfig } from './config.js';
import { contentKeyLength } from './content-watch.js';
import type { DetectDeps } from './deps.js';
import { detachString, SharedStrings } from './detach-string.js';
import { FNV_PRIME, hashContentState, hashFinish, hashString, QUERY_HASH_START, queryStart } from './hash.js';
import {
  type ClientSignal,
  CONTENT_PARAM_MAX_LENGTH,
  CONTENT_PARAMS_MAX,
  type ContentPartial,
  type FingerprintPartial,
  type PrefixCount,
  type TrafficTick,
} from './messages.js';
import { normalizePath } from './normalize-path.js';
import { isProbeChar, PROBE_ALWAYS, PROBE_IF_REFUSED } from './path-lists.js';
import {
  ASSET,
  AUTH_FAILURE,
  ERROR,
  EXPIRED,
  HIT,
  LOGIN_POST,
  MISS,
  REFERER,
  RequestClassifier,
  SENSITIVE,
  STALE,
  UNCACHEABLE,
} from './request-class.js';

/** Path hashes a client signal carries (the decider matches them with attacked paths). */
const SIGNAL_PATHS = 8;

/** Logged characters that key a request that was not HTTP (`\x16\x03\x01\x02\x00\x01`: 6 bytes). */
const NON_HTTP_KIND_LENGTH = 24;
/** Whole-second gaps whose decay factors are precomputed. */
const DECAY_TABLE_SECONDS = 600;

/**
 * Content keys whose entries (facts, texts, accumulator) are kept across flushes (checked at each
 * flush: past it the table starts over; memory only, never results).
 */
const PATH_ENTRIES = 65_536;

/**
 * Slots of the path entries' front cache (see Profiler.pathCache): 128 KB of pointers, which stay
 * in the core's cache where the `Map`'s tables (~2 MB at PATH_ENTRIES) do not.
 */
const PATH_CACHE_BITS = 14;

/**
 * Distinct paths, hosts, prefixes and header values the profiler shares between clients. When
 * full it starts over: later clients then hold their own copies (memory only, never results).
 */
const SHARED_STRINGS = 100_000;

/**
 * Fingerprints whose accumulators are kept across flushes (checked at each flush: past it the
 * table starts over; memory only, never results).
 */
const ACCUMULATOR_ENTRIES = 65_536;

/**
 * Distinct user agents whose classification and last fingerprint the profiler remembers (all
 * forgotten at once when full: they are recomputed, the same).
 */
const USER_AGENT_ENTRIES = 16_384;

/** Bound of the (client, fingerprint) counting table for multi-fingerprint clients. */
const MULTI_FINGERPRINT_ENTRIES = 65_536;

/**
 * One number per client slot that another consumer of the same requests keeps beside the
 * profiler's state, so that it finds its own record of a request's client without looking the
 * address up again: the replay's verdict backtest keeps its entry number + 1 there (one address
 * lookup per request instead of two; the lookup is a cache-missing probe of a table the size of
 * the clients). A slot's number is 0 from the moment the slot is given to a new client, so a value
 * never outlives the client it was set for. One consumer per profiler.
 */
export interface SlotAttachments {
  /**
   * The slot of `log`'s client when `log` is the request the profiler observed last (compared by
   * identity, so a consumer called before the profiler, or for another request, gets -1 and
   * looks the client up itself); -1 too for a request dropped as late.
   */
  slotOf(log: AccessLog): number;
  /** The number kept for the client in `slot` (0: none yet). */
  attachment(slot: number): number;
  /** Keeps `value` (an int32) for the client in `slot`. */
  setAttachment(slot: number, value: number): void;
}

/** Where the profiler sends what it emits. */
export interface ProfilerSink {
  clientSignal(signal: ClientSignal): void;
  fingerprintPartial(partial: FingerprintPartial): void;
  contentPartial(partial: ContentPartial): void;
  tick(tick: TrafficTick): void;
}

// Client state columns (struct of arrays, indexed by the client table's slot). One object per
// client with ~45 fields and boxed time fields cost ~620 B; columns cost ~300 B and nothing for
// the garbage collector to trace but the text columns. A slot's values of one type sit side by
// side (one Float64 run with its counters followed by its Int32 run in the same buffer, and one
// run of texts), so a request touches a few adjacent cache lines per client instead of one line in
// each of ~20 columns.
// Float64 per slot: clocks, times, scores and lifetime counts (exact past 2^31), then the decayed
// counters (COUNTER_STRIDE, from N_COUNTERS).
const N_CLOCK = 0;
const N_SESSION_START = 1;
const N_REQUESTS = 2;
const N_PAGES = 3;
const N_ASSETS = 4;
const N_WITH_REFERER = 5;
const N_IA_MEAN = 6;
const N_IA_VARIANCE = 7;
const N_LAST_EVAL_AT = 8;
const N_SCORE = 9;
const N_LAST_SIGNAL_AT = 10;
const N_LAST_SIGNAL_SCORE = 11;
const N_COUNTED_AT = 12;
const N_FP_COUNTED_AT = 13;
const N_COUNTED_SCORE = 14;
const N_INTER_ARRIVALS = 15;
const N_COUNTERS = 16;
const N_STRIDE = N_COUNTERS + COUNTER_STRIDE;
// Int32 per slot: small counts and cursors, hashes (Uint32 values stored as Int32: read with
// `>>> 0`), flags, then the recent-key sets.
const I_FP_CHANGES = 0;
const I_PATH_CURSOR = 1;
const I_URL_CURSOR = 2;
const I_REQUESTS_SINCE_EVAL = 3;
const I_FP_ACC_FLUSH = 4;
/**
 * The interval (flushes + 1; 0: none) whose evaluation list holds the client, and its place in it
 * (I_EVAL_ENTRY), see Profiler.evaluationSlots.
 */
const I_EVAL_INTERVAL = 5;
const I_EVAL_ENTRY = 6;
const I_FINGERPRINT_HASH = 7;
const I_PATH_HASH = 8;
const I_COUNTED_FINGERPRINT_HASH = 9;
const I_LAST_FP_PATH = 10;
const I_FLAGS = 11;
/**
 * How many of the recent path / URL slots hold a key (up to their bound): the scans stop there,
 * so a client with a few requests reads a few slots, and a slot given to a new client needs no
 * clearing of its sets (slots past the count are never read).
 */
const I_PATHS_FILLED = 12;
const I_URLS_FILLED = 13;
/** 0: the recent paths are in the slot (INLINE_PATHS at most); else their block's number + 1. */
const I_PATH_BLOCK = 14;
/** What another consumer of the requests keeps for the client (see {@link SlotAttachments}). */
const I_ATTACHMENT = 15;
/** The client's requests in its fingerprint's current aggregate window (see Profiler.observe). */
const I_FP_WINDOW_REQUESTS = 16;
/**
 * Then the recent URL hashes (recentUrlsPerClient), then the first INLINE_PATHS recent path
 * hashes, as Int32.
 */
const I_RECENT = 17;

/**
 * Recent paths a slot holds itself. Most clients ask for a few distinct paths (95 % of the
 * benchmark's for at most 4): the full set (recentPathsPerClient) moves to a block of its own
 * when a client asks for more, instead of every slot reserving it.
 */
const INLINE_PATHS = 4;
/** Path blocks per page of the block pool. */
const BLOCK_BITS = 10;
const BLOCK_MASK = (1 << BLOCK_BITS) - 1;
// Evaluation list states (Profiler.evaluationStates).
const DONE = 0;
const PENDING = 1;
const EVICTED = 2;
// Flag bits (I_FLAGS).
const F_ALLOWLISTED = 1;
const F_BROWSER_CLAIM = 2;
const F_CRAWLER_CLAIM = 4;
const F_UNVERIFIED_CRAWLER = 8;
const F_PATH_IS_ASSET = 16;
/** The path is a probe whatever the answer (PROBE_ALWAYS). */
const F_PATH_SENSITIVE = 32;
const F_HUMAN_LOOKING = 64;
const F_HUMAN_COUNTED = 128;
const F_FLAGGED_COUNTED = 256;
/** The UA declares a crawler and the crawler's published ranges hold the address. */
const F_VERIFIED_CRAWLER = 512;
/** The UA names a vulnerability scanner or fuzzer. */
const F_SCANNER_TOOL = 1024;
/** The path is a probe when refused (PROBE_IF_REFUSED). */
const F_PATH_PROBE_IF_REFUSED = 2048;
// Per slot (one packed array, T_STRIDE entries per slot): texts, and the objects the client counts
// in (its prefix's entry, its fingerprint's accumulator, its last path's entry).
const T_IP = 0;
const T_PREFIX = 1;
const T_USER_AGENT = 2;
const T_ACCEPT_LANGUAGE = 3;
const T_HEADER_ORDER = 4;
const T_FINGERPRINT = 5;
const T_COUNTED_FINGERPRINT = 6;
const T_LAST_SIGNAL_REASON = 7;
const T_FINGERPRINT_ACC = 8;
const T_PATH_ENTRY = 9;
const T_STRIDE = 10;

/** Slots per page of the client columns (see ClientStore). */
const PAGE_BITS = 12;
const PAGE_SLOTS = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SLOTS - 1;

/**
 * The client columns, including the decayed counters and recent-key sets. Numbers live in pages
 * of PAGE_SLOTS slots added as clients arrive (up to the table's capacity): memory follows the
 * clients held to within one page, and growing copies nothing (a doubled array would reserve up
 * to twice what is used and hold old and new copies at once while growing).
 */
class ClientStore {
  capacity = 0;
  readonly numPages: Float64Array[] = [];
  readonly intPages: Int32Array[] = [];
  /**
   * T_STRIDE texts per slot: address, prefix entry, header values, fingerprints, reason; one
   * array per page (one growing array would be copied whole each time it outgrows its store).
   */
  readonly textPages: SlotText[][] = [];

  /** Int32 values per slot: I_RECENT + the recent URLs + the inline recent paths. */
  readonly intStride: number;
  /**
   * A slot's numbers and ints are adjacent in one buffer per page (Float64 values, then the Int32
   * values, padded to 8 bytes): `slotDoubles` Float64 places per slot; its ints start at Int32
   * index `slot × 2 × slotDoubles + 2 × N_STRIDE` of the page. One memory region per client
   * instead of two: a request to a client not in cache misses once less (and one TLB entry).
   */
  readonly slotDoubles: number;
  /** Recent paths held in the slot (INLINE_PATHS, or all when the set is that small). */
  readonly inlinePaths: number;
  /** Full recent-path sets (recentPaths each) of the clients that outgrew their slot's. */
  readonly blockPages: Int32Array[] = [];
  /** Blocks given back by slots reused for new clients (at most one block per slot is held). */
  private readonly freeBlocks: number[] = [];
  private blocks = 0;
  /** A text page of nulls, copied for each new page. */
  private emptyTexts: SlotText[] = [];

  constructor(
    /** Most slots (the client table's capacity). */
    readonly maxSlots: number,
    readonly recentPaths: number,
    readonly recentUrls: number,
  ) {
    this.inlinePaths = Math.min(INLINE_PATHS, recentPaths);
    this.intStride = I_RECENT + recentUrls + this.inlinePaths;
    this.slotDoubles = N_STRIDE + Math.ceil(this.intStride / 2);
  }

  /** A block for one slot's full recent-path set. */
  takePathBlock(): number {
    const free = this.freeBlocks.pop();
    if (free !== undefined) return free;
    const block = this.blocks++;
    if (block >>> BLOCK_BITS >= this.blockPages.length) {
      this.blockPages.push(new Int32Array((BLOCK_MASK + 1) * this.recentPaths));
    }
    return block;
  }

  /** Gives back a block no slot holds any more. */
  freePathBlock(block: number): void {
    this.freeBlocks.push(block);
  }

  /** Adds one page of slots (fewer for the last page). */
  grow(): void {
    const slots = Math.min(PAGE_SLOTS, this.maxSlots - this.capacity);
    const buffer = new ArrayBuffer(slots * this.slotDoubles * 8);
    this.numPages.push(new Float64Array(buffer));
    this.intPages.push(new Int32Array(buffer));
    // The text pages are packed arrays (never holey): copies of one page of nulls, filled by push
    // once (a copy is one block copy; pushing a page's entries cost ~1.5 % of a run).
    if (this.emptyTexts.length !== slots * T_STRIDE) {
      this.emptyTexts = [];
      for (let k = 0; k < slots * T_STRIDE; k++) this.emptyTexts.push(null);
    }
    this.textPages.push(this.emptyTexts.slice());
    this.capacity += slots;
  }

  /** Gives `slot` to a new client (everything as a fresh profile has it). */
  reset(slot: number, ip: string, prefix: PrefixEntry | null, allowlisted: boolean, now: number): void {
    const page = slot >>> PAGE_BITS;
    const k = slot & PAGE_MASK;
    const num = this.numPages[page]!;
    const n = k * this.slotDoubles;
    // Loops, not `fill`: for a few dozen values the builtin's call costs more than the stores.
    for (let x = n; x < n + N_STRIDE; x++) num[x] = 0;
    num[n + N_CLOCK] = Number.NEGATIVE_INFINITY;
    num[n + N_SESSION_START] = now;
    num[n + N_LAST_EVAL_AT] = Number.NEGATIVE_INFINITY;
    num[n + N_LAST_SIGNAL_AT] = Number.NEGATIVE_INFINITY;
    num[n + N_COUNTED_AT] = Number.NEGATIVE_INFINITY;
    num[n + N_FP_COUNTED_AT] = Number.NEGATIVE_INFINITY;
    num[n + N_COUNTED_SCORE] = -1;
    const ints = this.intPages[page]!;
    const i = 2 * (n + N_STRIDE);
    const pathBlock = ints[i + I_PATH_BLOCK]!;
    if (pathBlock !== 0) this.freeBlocks.push(pathBlock - 1);
    // The recent-key sets are left as they are: their filled counts (reset here) say none is valid.
    for (let x = i; x < i + I_RECENT; x++) ints[x] = 0;
    ints[i + I_FP_ACC_FLUSH] = -1;
    ints[i + I_FLAGS] = allowlisted ? F_ALLOWLISTED : 0;
    const texts = this.textPages[page]!;
    const t = k * T_STRIDE;
    texts[t + T_IP] = ip;
    texts[t + T_PREFIX] = prefix;
    texts[t + T_USER_AGENT] = undefined;
    texts[t + T_ACCEPT_LANGUAGE] = null;
    texts[t + T_HEADER_ORDER] = null;
    texts[t + T_FINGERPRINT] = '';
    texts[t + T_COUNTED_FINGERPRINT] = '';
    texts[t + T_LAST_SIGNAL_REASON] = '';
    texts[t + T_FINGERPRINT_ACC] = null;
    texts[t + T_PATH_ENTRY] = null;
  }
}

/**
 * A client's profile as a view on the store's columns at one slot (a flyweight: the profiler
 * points one view at the client it is working on; nothing is allocated per client or request).
 * Its decayed counters and recent-key sets are in the same store, at the same slot.
 */
class ClientProfile implements ClientTraits {
  slot = 0;
  /** The slot's decayed counters: `counters[co …]` (COUNTER_STRIDE values). */
  counters: Float64Array;
  co = 0;
  /** The slot's recent path hashes `paths[po …]`, URL hashes `urls[uo …]` (Int32: compare `hash | 0`). */
  paths: Int32Array;
  po = 0;
  urls: Int32Array;
  uo = 0;
  private num: Float64Array;
  private n = 0;
  private ints: Int32Array;
  private i = 0;
  private texts: SlotText[];
  private t = 0;

  constructor(private readonly store: ClientStore) {
    this.counters = this.num = new Float64Array(0);
    this.paths = this.urls = this.ints = new Int32Array(0);
    this.texts = [];
  }

  at(slot: number): this {
    const store = this.store;
    const page = slot >>> PAGE_BITS;
    const k = slot & PAGE_MASK;
    this.slot = slot;
    this.num = this.counters = store.numPages[page]!;
    this.n = k * store.slotDoubles;
    this.co = this.n + N_COUNTERS;
    const ints = store.intPages[page]!;
    const i = 2 * (this.n + N_STRIDE);
    this.urls = this.ints = ints;
    this.i = i;
    this.uo = i + I_RECENT;
    const block = ints[i + I_PATH_BLOCK]!;
    if (block === 0) {
      this.paths = ints;
      this.po = i + I_RECENT + store.recentUrls;
    } else {
      this.pointPathsAt(block - 1);
    }
    this.texts = store.textPages[page]!;
    this.t = k * T_STRIDE;
    return this;
  }

  /**
   * Forgets the recent paths and URLs (a new session): what the client asks for next is new to it
   * again, so a scanner back with the same probes after its decision expired counts them again.
   * A block of paths goes back to the pool (the next spill takes one), as when the slot is reused.
   */
  forgetRecentKeys(): void {
    const ints = this.ints;
    const i = this.i;
    const block = ints[i + I_PATH_BLOCK]!;
    if (block !== 0) {
      this.store.freePathBlock(block - 1);
      ints[i + I_PATH_BLOCK] = 0;
      this.paths = ints;
      this.po = i + I_RECENT + this.store.recentUrls;
    }
    ints[i + I_PATHS_FILLED] = 0;
    ints[i + I_URLS_FILLED] = 0;
    ints[i + I_PATH_CURSOR] = 0;
    ints[i + I_URL_CURSOR] = 0;
  }

  /** Moves the recent paths (all inline) to a block of their own. */
  spillPaths(): void {
    const block = this.store.takePathBlock();
    const from = this.paths;
    const start = this.po;
    const filled = this.pathsFilled;
    this.ints[this.i + I_PATH_BLOCK] = block + 1;
    this.pointPathsAt(block);
    for (let k = 0; k < filled; k++) this.paths[this.po + k] = from[start + k]!;
  }

  private pointPathsAt(block: number): void {
    this.paths = this.store.blockPages[block >>> BLOCK_BITS]!;
    this.po = (block & BLOCK_MASK) * this.store.recentPaths;
  }

  private flag(bit: number): boolean {
    return (this.ints[this.i + I_FLAGS]! & bit) !== 0;
  }

  private setFlag(bit: number, on: boolean): void {
    const ints = this.ints;
    const f = this.i + I_FLAGS;
    ints[f] = on ? ints[f]! | bit : ints[f]! & ~bit;
  }

  private text(field: number): string | null | undefined {
    return this.texts[this.t + field] as string | null | undefined;
  }

  private setText(field: number, v: string | null | undefined): void {
    this.texts[this.t + field] = v;
  }

  get evaluationInterval(): number {
    return this.ints[this.i + I_EVAL_INTERVAL]!;
  }
  set evaluationInterval(v: number) {
    this.ints[this.i + I_EVAL_INTERVAL] = v;
  }
  get evaluationEntry(): number {
    return this.ints[this.i + I_EVAL_ENTRY]!;
  }
  set evaluationEntry(v: number) {
    this.ints[this.i + I_EVAL_ENTRY] = v;
  }
  get ip(): string {
    return this.text(T_IP) as string;
  }
  get prefix(): string | null {
    const entry = this.prefixEntry;
    return entry === null ? null : entry.prefix;
  }
  /** Its prefix's counting entry (null: no prefix). */
  get prefixEntry(): PrefixEntry | null {
    return this.texts[this.t + T_PREFIX] as PrefixEntry | null;
  }
  set prefixEntry(v: PrefixEntry | null) {
    this.texts[this.t + T_PREFIX] = v;
  }
  /** The entry of its last path (null: none yet). */
  get pathEntry(): PathEntry | null {
    return this.texts[this.t + T_PATH_ENTRY] as PathEntry | null;
  }
  set pathEntry(v: PathEntry | null) {
    this.texts[this.t + T_PATH_ENTRY] = v;
  }
  get allowlisted(): boolean {
    return this.flag(F_ALLOWLISTED);
  }
  /** Event time the counters are valid at. */
  get clock(): number {
    return this.num[this.n + N_CLOCK]!;
  }
  set clock(v: number) {
    this.num[this.n + N_CLOCK] = v;
  }
  get sessionStart(): number {
    return this.num[this.n + N_SESSION_START]!;
  }
  set sessionStart(v: number) {
    this.num[this.n + N_SESSION_START] = v;
  }
  get requests(): number {
    return this.num[this.n + N_REQUESTS]!;
  }
  set requests(v: number) {
    this.num[this.n + N_REQUESTS] = v;
  }
  /** Lifetime counts of the profile (exact): the bot-shape test needs "none at all". */
  get pages(): number {
    return this.num[this.n + N_PAGES]!;
  }
  set pages(v: number) {
    this.num[this.n + N_PAGES] = v;
  }
  get assets(): number {
    return this.num[this.n + N_ASSETS]!;
  }
  set assets(v: number) {
    this.num[this.n + N_ASSETS] = v;
  }
  get withReferer(): number {
    return this.num[this.n + N_WITH_REFERER]!;
  }
  set withReferer(v: number) {
    this.num[this.n + N_WITH_REFERER] = v;
  }
  // User agent and fingerprint, recomputed only when the headers change.
  get userAgent(): string | null | undefined {
    return this.text(T_USER_AGENT);
  }
  set userAgent(v: string | null | undefined) {
    this.setText(T_USER_AGENT, v);
  }
  get acceptLanguage(): string | null {
    return this.text(T_ACCEPT_LANGUAGE) as string | null;
  }
  set acceptLanguage(v: string | null) {
    this.setText(T_ACCEPT_LANGUAGE, v);
  }
  get headerOrder(): string | null {
    return this.text(T_HEADER_ORDER) as string | null;
  }
  set headerOrder(v: string | null) {
    this.setText(T_HEADER_ORDER, v);
  }
  get fingerprint(): string {
    return this.text(T_FINGERPRINT) as string;
  }
  set fingerprint(v: string) {
    this.setText(T_FINGERPRINT, v);
  }
  get fingerprintHash(): number {
    return this.ints[this.i + I_FINGERPRINT_HASH]! >>> 0;
  }
  set fingerprintHash(v: number) {
    this.ints[this.i + I_FINGERPRINT_HASH] = v;
  }
  get fingerprintWindowRequests(): number {
    return this.ints[this.i + I_FP_WINDOW_REQUESTS]!;
  }
  set fingerprintWindowRequests(v: number) {
    this.ints[this.i + I_FP_WINDOW_REQUESTS] = v;
  }
  /** How often the fingerprint changed: > 1 marks a shared address (NAT) with many browsers. */
  get fingerprintChanges(): number {
    return this.ints[this.i + I_FP_CHANGES]!;
  }
  set fingerprintChanges(v: number) {
    this.ints[this.i + I_FP_CHANGES] = v;
  }
  get browserClaim(): boolean {
    return this.flag(F_BROWSER_CLAIM);
  }
  set browserClaim(v: boolean) {
    this.setFlag(F_BROWSER_CLAIM, v);
  }
  get crawlerClaim(): boolean {
    return this.flag(F_CRAWLER_CLAIM);
  }
  set crawlerClaim(v: boolean) {
    this.setFlag(F_CRAWLER_CLAIM, v);
  }
  get scannerTool(): boolean {
    return this.flag(F_SCANNER_TOOL);
  }
  set scannerTool(v: boolean) {
    this.setFlag(F_SCANNER_TOOL, v);
  }
  get unverifiedCrawler(): boolean {
    return this.flag(F_UNVERIFIED_CRAWLER);
  }
  set unverifiedCrawler(v: boolean) {
    this.setFlag(F_UNVERIFIED_CRAWLER, v);
  }
  /**
   * The claim of a crawler is verified (its published ranges hold the address). Only such a
   * client gets a crawler's leniency: a claim alone (unverified, or a crawler whose ranges we do
   * not hold) is no claim for any exemption.
   */
  get verifiedCrawler(): boolean {
    return this.flag(F_VERIFIED_CRAWLER);
  }
  set verifiedCrawler(v: boolean) {
    this.setFlag(F_VERIFIED_CRAWLER, v);
  }
  // The last path's hash and facts, so a client repeating a path costs no classification.
  get pathHash(): number {
    return this.ints[this.i + I_PATH_HASH]! >>> 0;
  }
  set pathHash(v: number) {
    this.ints[this.i + I_PATH_HASH] = v;
  }
  get pathIsAsset(): boolean {
    return this.flag(F_PATH_IS_ASSET);
  }
  set pathIsAsset(v: boolean) {
    this.setFlag(F_PATH_IS_ASSET, v);
  }
  /** The path's probe fact (see SensitivePathMatcher.pathProbe): PROBE_ALWAYS, PROBE_IF_REFUSED or 0. */
  get pathProbe(): number {
    const f = this.ints[this.i + I_FLAGS]!;
    return (f & F_PATH_SENSITIVE) !== 0
      ? PROBE_ALWAYS
      : (f & F_PATH_PROBE_IF_REFUSED) !== 0
        ? PROBE_IF_REFUSED
        : 0;
  }
  set pathProbe(v: number) {
    this.setFlag(F_PATH_SENSITIVE, v === PROBE_ALWAYS);
    this.setFlag(F_PATH_PROBE_IF_REFUSED, v === PROBE_IF_REFUSED);
  }
  get pathCursor(): number {
    return this.ints[this.i + I_PATH_CURSOR]!;
  }
  set pathCursor(v: number) {
    this.ints[this.i + I_PATH_CURSOR] = v;
  }
  get urlCursor(): number {
    return this.ints[this.i + I_URL_CURSOR]!;
  }
  set urlCursor(v: number) {
    this.ints[this.i + I_URL_CURSOR] = v;
  }
  get pathsFilled(): number {
    return this.ints[this.i + I_PATHS_FILLED]!;
  }
  set pathsFilled(v: number) {
    this.ints[this.i + I_PATHS_FILLED] = v;
  }
  get urlsFilled(): number {
    return this.ints[this.i + I_URLS_FILLED]!;
  }
  set urlsFilled(v: number) {
    this.ints[this.i + I_URLS_FILLED] = v;
  }
  // Inter-arrival statistics, exponentially weighted (ms).
  get interArrivalMean(): number {
    return this.num[this.n + N_IA_MEAN]!;
  }
  set interArrivalMean(v: number) {
    this.num[this.n + N_IA_MEAN] = v;
  }
  get interArrivalVariance(): number {
    return this.num[this.n + N_IA_VARIANCE]!;
  }
  set interArrivalVariance(v: number) {
    this.num[this.n + N_IA_VARIANCE] = v;
  }
  get interArrivals(): number {
    return this.num[this.n + N_INTER_ARRIVALS]!;
  }
  set interArrivals(v: number) {
    this.num[this.n + N_INTER_ARRIVALS] = v;
  }
  // Evaluation state.
  get lastEvalAt(): number {
    return this.num[this.n + N_LAST_EVAL_AT]!;
  }
  set lastEvalAt(v: number) {
    this.num[this.n + N_LAST_EVAL_AT] = v;
  }
  get requestsSinceEval(): number {
    return this.ints[this.i + I_REQUESTS_SINCE_EVAL]!;
  }
  set requestsSinceEval(v: number) {
    this.ints[this.i + I_REQUESTS_SINCE_EVAL] = v;
  }
  get score(): number {
    return this.num[this.n + N_SCORE]!;
  }
  set score(v: number) {
    this.num[this.n + N_SCORE] = v;
  }
  get humanLooking(): boolean {
    return this.flag(F_HUMAN_LOOKING);
  }
  set humanLooking(v: boolean) {
    this.setFlag(F_HUMAN_LOOKING, v);
  }
  get lastSignalAt(): number {
    return this.num[this.n + N_LAST_SIGNAL_AT]!;
  }
  set lastSignalAt(v: number) {
    this.num[this.n + N_LAST_SIGNAL_AT] = v;
  }
  get lastSignalScore(): number {
    return this.num[this.n + N_LAST_SIGNAL_SCORE]!;
  }
  set lastSignalScore(v: number) {
    this.num[this.n + N_LAST_SIGNAL_SCORE] = v;
  }
  get lastSignalReason(): string {
    return this.text(T_LAST_SIGNAL_REASON) as string;
  }
  set lastSignalReason(v: string) {
    this.setText(T_LAST_SIGNAL_REASON, v);
  }
  // "Count once per window" bookkeeping for the cross-address aggregates.
  get countedAt(): number {
    return this.num[this.n + N_COUNTED_AT]!;
  }
  set countedAt(v: number) {
    this.num[this.n + N_COUNTED_AT] = v;
  }
  get fingerprintCountedAt(): number {
    return this.num[this.n + N_FP_COUNTED_AT]!;
  }
  set fingerprintCountedAt(v: number) {
    this.num[this.n + N_FP_COUNTED_AT] = v;
  }
  get countedFingerprint(): string {
    return this.text(T_COUNTED_FINGERPRINT) as string;
  }
  set countedFingerprint(v: string) {
    this.setText(T_COUNTED_FINGERPRINT, v);
  }
  get countedFingerprintHash(): number {
    return this.ints[this.i + I_COUNTED_FINGERPRINT_HASH]! >>> 0;
  }
  set countedFingerprintHash(v: number) {
    this.ints[this.i + I_COUNTED_FINGERPRINT_HASH] = v;
  }
  /**
   * Its fingerprint's accumulator (null: none yet), and the flush it last counted in it (its
   * path then restarts, see lastFingerprintPath).
   */
  get fingerprintAcc(): FingerprintAccumulator | null {
    return this.texts[this.t + T_FINGERPRINT_ACC] as FingerprintAccumulator | null;
  }
  set fingerprintAcc(v: FingerprintAccumulator | null) {
    this.texts[this.t + T_FINGERPRINT_ACC] = v;
  }
  get fingerprintAccFlush(): number {
    return this.ints[this.i + I_FP_ACC_FLUSH]!;
  }
  set fingerprintAccFlush(v: number) {
    this.ints[this.i + I_FP_ACC_FLUSH] = v;
  }
  /** The last path added to that accumulator (a client repeating a path adds it once). */
  get lastFingerprintPath(): number {
    return this.ints[this.i + I_LAST_FP_PATH]! >>> 0;
  }
  set lastFingerprintPath(v: number) {
    this.ints[this.i + I_LAST_FP_PATH] = v;
  }
  get humanCounted(): boolean {
    return this.flag(F_HUMAN_COUNTED);
  }
  set humanCounted(v: boolean) {
    this.setFlag(F_HUMAN_COUNTED, v);
  }
  get flaggedCounted(): boolean {
    return this.flag(F_FLAGGED_COUNTED);
  }
  set flaggedCounted(v: boolean) {
    this.setFlag(F_FLAGGED_COUNTED, v);
  }
  get countedScore(): number {
    return this.num[this.n + N_COUNTED_SCORE]!;
  }
  set countedScore(v: number) {
    this.num[this.n + N_COUNTED_SCORE] = v;
  }
}

/**
 * What the profiler derives from a user agent (a pure function of the headers, see DetectDeps):
 * its claims, its shared copy, and the fingerprint it last had with a language and header order
 * (most clients of a UA send the same ones), so that a new client costs one lookup by UA text.
 */
class UserAgentEntry {
  /** The language and header order (shared copies) the fingerprint below is of. */
  acceptLanguage: string | null = null;
  headerOrder: string | null = null;
  /** '' until a fingerprint was computed. */
  fingerprint = '';
  fingerprintHash = 0;

  constructor(
    readonly userAgent: string | null,
    readonly browserClaim: boolean,
    readonly crawlerClaim: boolean,
    /** The declared crawler's name (to verify against the client's address). */
    readonly crawler: string | null,
    /** It names a vulnerability scanner or fuzzer. */
    readonly scannerTool: boolean,
  ) {}
}

/**
 * A content key's facts (1 asset, 2 sensitive), shared copies of its texts and its content
 * accumulator, by 30-bit content hash. A client holds the entry of its last path, so a request
 * repeating it looks nothing up. Entries belong to one epoch of the path table (it starts over
 * between flushes only, so that a key has one accumulator within a flush); a client's entry of an
 * older epoch is looked up again.
 */
class PathEntry {
  readonly content = new ContentAccumulator();

  constructor(
    /** Its key in Profiler.paths (the 30-bit content hash). */
    readonly key: number,
    readonly facts: number,
    readonly host: string | null,
    readonly path: string,
    readonly epoch: number,
  ) {}
}

/**
 * Map-side totals for one content key since the last flush. Kept across flushes by content hash
 * (a map rebuilt every flush cost an insert per key and flush): `flush` tells whether the totals
 * belong to the current one (they are zeroed when emitted).
 */
class ContentAccumulator {
  flush = -1;
  host: string | null = null;
  path = '';
  requests = 0;
  withQuery = 0;
  newVisitors = 0;
  hits = 0;
  misses = 0;
  expired = 0;
  stale = 0;
  uncacheable = 0;
  plainRequests = 0;
  plainCached = 0;
  busts = 0;
  queryMisses = 0;
  serverErrors = 0;
  originMsSum = 0;
  originCount = 0;
  queryHashes: number[] = [];
  queryOverflow = 0;
  /** Requests with a query answered 200 with a size to compare with the plain page's ... */
  queryCompared = 0;
  /** ... and how many of them were the plain page's size (the query changed nothing). */
  querySameAsPlain = 0;
  /** Parameter names of the answers that were not the plain page (see ContentPartial). */
  contentParams: string[] = [];
  /**
   * The key's plain 200 answers' mean size (bytes) and how many made it: kept across flushes
   * (not emitted), started over when the accumulator changes key.
   */
  plainBytesMean = 0;
  plainBytesCount = 0;

  /** Takes the accumulator over for another key: the plain page's size is not that key's. */
  rename(host: string | null, path: string): void {
    this.host = host;
    this.path = path;
    this.plainBytesMean = 0;
    this.plainBytesCount = 0;
  }
}

/**
 * Adds a query's parameter names (`a=1&b&c=` → a, b, c) to `names`, distinct, until it holds
 * CONTENT_PARAMS_MAX; names that are empty or longer than CONTENT_PARAM_MAX_LENGTH are skipped.
 */
function addParamNames(names: string[], query: string): void {
  let start = 0;
  while (start <= query.length && names.length < CONTENT_PARAMS_MAX) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    const eq = query.indexOf('=', start);
    const nameEnd = eq >= 0 && eq < end ? eq : end;
    if (nameEnd > start && nameEnd - start <= CONTENT_PARAM_MAX_LENGTH) {
      const name = query.slice(start, nameEnd);
      if (!names.includes(name)) names.push(detachString(name));
    }
    start = end + 1;
  }
}

/** Plain answers a key's mean size needs before query answers are compared with it. */
const PLAIN_BYTES_MIN = 3;
/** The mean size follows the last ~16 plain answers (exponential mean). */
const PLAIN_BYTES_WINDOW = 16;

/**
 * Whether an answer of `bytes` is the plain page of mean size `mean`: within 5 % or 1 KiB
 * (pages carry per-request tokens, timestamps, compression noise). A query the origin ignores
 * (a cache-buster, `?_=<epoch ms>`) gets the plain page; one that selects content (a search,
 * `since=` on an API, a filter) mostly gets another size.
 */
function samePage(bytes: number, mean: number): boolean {
  return Math.abs(bytes - mean) <= Math.max(1024, mean * 0.05);
}

/**
 * Map-side totals for one fingerprint since the last flush. Kept across flushes by fingerprint;
 * the first count of a flush starts them afresh (`flush` says which flush they are of). Clients
 * hold theirs; it belongs to one epoch of the fingerprint table (a client's accumulator of an
 * older epoch is looked up again).
 */
class FingerprintAccumulator {
  flush = -1;
  fingerprint = '';
  epoch = 0;
  requests = 0;
  pages = 0;
  assets = 0;
  repeats = 0;
  pathRepeats = 0;
  /**
   * Weighted (fractions): starts as a double (-0 is not a small integer; startFingerprintFlush
   * sets 0 before any count), so the first fraction added does not change the class's field from
   * small integer to double late in a run, which deoptimised observe and every function that had
   * seen the old shape (countClient, addPath).
   */
  busts = -0;
  loginPosts = 0;
  authFailures = 0;
  sensitiveHits = 0;
  errors = 0;
  clients = 0;
  humanClients = 0;
  establishedClients = 0;
  flaggedClients = 0;
  paths: number[] = [];
  pathsOverflow = false;
  userAgent: string | null = null;
  declaredCrawler = false;
}

/**
 * A prefix's shared text and its counts of the current flush, kept across flushes (a client holds
 * its entry: counting it costs no lookup). The counts are valid for flush `flush` only; the first
 * count of a later flush resets them and lists the entry for that flush's tick. An entry belongs
 * to one epoch of the profiler's prefix table; after the table starts over, a client's entry of an
 * older epoch is replaced by the current one for its text, so a prefix is counted in one entry.
 */
class PrefixEntry {
  flush = -1;
  clients = 0;
  humanClients = 0;
  establishedClients = 0;
  protectedClients = 0;

  constructor(
    readonly prefix: string,
    readonly epoch: number,
  ) {}
}

/** What a client slot's text column holds: texts and the entries and accumulator it counts in. */
type SlotText = string | PrefixEntry | PathEntry | FingerprintAccumulator | null | undefined;

export interface ProfilerStats {
  observed: number;
  late: number;
  clients: number;
  clientsEvicted: number;
  signals: number;
  flushes: number;
  /**
   * HTTP requests whose content key was longer than `bounds.maxContentKeyLength`: counted for
   * their client, not as content (no partial, so no cache policy can name them).
   */
  untrackedContentRequests: number;
}

/**
 * The profiler core for one partition of `access-logs`: per-client event-time features, client
 * signals when a client crosses a rule (not per request), and map-side partials per content key,
 * fingerprint and prefix flushed every `flushIntervalMs` of event time. Pure: event time only.
 *
 * Hot path: one client-table lookup, one content-key hash (a path entry looked up only when the
 * client's path changes), a scan of two small key sets, a few counter updates in typed arrays and
 * in the entry's and fingerprint's accumulators the client holds; rules are evaluated now and
 * then, not per request. Nothing is allocated per request.
 */
export class Profiler implements SlotAttachments {
  /** Client address → slot in the client columns and pools. */
  private readonly clients: ClockTable<string, number>;
  /**
   * The table's index, looked up directly on the hot path: the slot is the value, so reading it
   * from the table's values (one more random memory access per request) would tell nothing new.
   */
  private readonly addresses = new AddressIndex();
  private readonly store: ClientStore;
  /** The client being worked on (a view on the store; see ClientProfile). */
  private readonly view: ClientProfile;
  private readonly classifier: RequestClassifier;
  /** `client.scanner.toolFamilies`. */
  private readonly scannerTools: ReadonlySet<string>;
  private readonly score = new ClientScore();
  private readonly maxClients: number;
  private readonly recentPaths: number;
  private readonly recentUrls: number;
  /** `bounds.maxContentKeyLength`. */
  private readonly maxContentKeyLength: number;
  /**
   * Entries of recently seen paths (facts, texts, content accumulator) by 30-bit content hash, so
   * the classification runs once per path rather than once per client. Past PATH_ENTRIES,
   * checked at each flush, it starts over (a new epoch); two paths colliding on 30 bits (≈ 1 in a
   * billion per pair) share facts.
   */
  private readonly paths = new Map<number, PathEntry>();
  /**
   * The entry last found in `paths` per low PATH_CACHE_BITS bits of its key (null: none), looked
   * at first: a hit is one load from a small array instead of the `Map`'s hash and probe in tables
   * too big to stay in cache. An entry here is the `Map`'s for its key as long as its epoch is
   * current (emptied when the epoch changes, so it keeps no entry the `Map` dropped alive).
   */
  private readonly pathCache: (PathEntry | null)[] = [];
  private pathEpoch = 0;
  /** User agent text → entry (see UserAgentEntry); bounded by USER_AGENT_ENTRIES. */
  private readonly userAgents = new Map<string, UserAgentEntry>();
  private noUserAgent: UserAgentEntry | null = null;
  /** Shared copies of the texts profiles keep (see SHARED_STRINGS). */
  private readonly sharedStrings = new SharedStrings(SHARED_STRINGS);

  /** Content accumulators (on path entries) counted in the current flush, in the order of their first count (the emitted order). */
  private readonly contentList: ContentAccumulator[] = [];
  /** Content keys whose hash collided with another key of this flush (rare). */
  private readonly contentByText = new Map<string, ContentAccumulator>();
  /** Fingerprint accumulators, across flushes (see FingerprintAccumulator). */
  private readonly fingerprints = new Map<string, FingerprintAccumulator>();
  /** Those counted in the current flush, in the order of their first count (the emitted order). */
  private readonly fingerprintList: FingerprintAccumulator[] = [];
  /** Where verified crawlers' requests are counted: never listed, never sent (see fingerprintAccumulator). */
  private readonly unlistedFingerprint = new FingerprintAccumulator();
  private fingerprintEpoch = 0;
  /**
   * Prefix text → entry (see PrefixEntry). Past maxClients entries (more than the clients held can
   * use), checked at each flush, it starts over: clients then look theirs up again.
   */
  private readonly prefixEntries = new Map<string, PrefixEntry>();
  private prefixEpoch = 0;
  /**
   * The same entries by the number of an IPv4 prefix (the address's first DetectDeps.ipv4PrefixBits
   * bits), so that a new client's prefix costs no text: building it and hashing the new string
   * cost ~0.5 µs. Cleared with prefixEntries. -1: the deps do not say (prefixes by text only).
   */
  private readonly prefixByNumber = new Map<number, PrefixEntry>();
  private readonly ipv4PrefixShift: number;
  /** Entries counted in the current flush, in the order of their first count (the tick's order). */
  private readonly countedPrefixes: PrefixEntry[] = [];
  private readonly spareContent: ContentAccumulator[] = [];
  /**
   * The clients (not allowlisted) with requests in the current flush interval, in the order of
   * their first request in it, and whether each has requests since its last evaluation (PENDING:
   * evaluated at the flush, in this order), none (DONE: skipped without touching its slot), or
   * lost its slot to another client since (EVICTED, its address in evictedIps).
   */
  private readonly evaluationSlots: number[] = [];
  private readonly evaluationStates: number[] = [];
  private readonly evictedIps: string[] = [];
  /**
   * When each (client slot, fingerprint) of clients with several fingerprints was last counted.
   * Bounded by MULTI_FINGERPRINT_ENTRIES and cleared when full: right after a clear such a client
   * may be counted once more within a window (a slight over-count of shared addresses).
   */
  private readonly multiFingerprintCounted = new Map<number, number>();

  /** What readQuery found in the current request's query (valid while its query is not null). */
  private urlHash = 0;
  private queryHash = 0;
  private queryMayProbe = false;

  private maxTime = Number.NEGATIVE_INFINITY;
  private nextFlushAt = Number.NEGATIVE_INFINITY;
  private tickRequests = 0;
  private tickLate = 0;
  private tickClients = 0;
  private tickEstablished = 0;
  private readonly stats: ProfilerStats = {
    observed: 0,
    late: 0,
    clients: 0,
    clientsEvicted: 0,
    signals: 0,
    flushes: 0,
    untrackedContentRequests: 0,
  };

  /** Decay factors (medium, short, long) of whole-second gaps up to DECAY_TABLE_SECONDS. */
  private readonly decayTable = new Float64Array((DECAY_TABLE_SECONDS + 1) * 3);
  /**
   * A client's requests counted in its fingerprint's partials per aggregate window: twice the
   * swarm rule's requests per client (see observe), so a client over that bar still reads over it.
   */
  private readonly fingerprintRequestCap: number;
  private readonly tauShort: number;
  private readonly tauMedium: number;
  private readonly tauLong: number;

  constructor(
    private readonly config: DetectConfig,
    private readonly deps: DetectDeps,
    private readonly partition = 0,
    partitions = 1,
    /**
     * Addresses no signal is ever sent for (the allowlist and verified crawler ranges); `ipv4` is
     * `ipv4Number(ip)`, for a by-number test such as {@link Allowlist.hasIpv4}.
     */
    private readonly isAllowlisted: (ip: string, ipv4: number) => boolean = () => false,
  ) {
    this.maxClients = Math.max(1, Math.ceil(config.bounds.maxClients / Math.max(1, partitions)));
    this.recentPaths = config.bounds.recentPathsPerClient;
    this.recentUrls = config.bounds.recentUrlsPerClient;
    this.maxContentKeyLength = config.bounds.maxContentKeyLength;
    this.store = new ClientStore(this.maxClients, this.recentPaths, this.recentUrls);
    this.view = new ClientProfile(this.store);
    this.clients = new ClockTable<string, number>(this.maxClients, undefined, this.addresses);
    this.classifier = new RequestClassifier(config);
    this.scannerTools = new Set(config.client.scanner.toolFamilies);
    // Filled by push: a packed array (one made by `new Array(n)` stays holey).
    for (let k = 0; k < 1 << PATH_CACHE_BITS; k++) this.pathCache.push(null);
    this.ipv4PrefixShift = ipv4PrefixShift(deps.ipv4PrefixBits);
    this.fingerprintRequestCap = 2 * config.fingerprint.swarm.minRequestsPerClient;
    this.tauShort = config.windows.shortMs;
    this.tauMedium = config.windows.mediumMs;
    this.tauLong = config.windows.longMs;
    for (let second = 0; second <= DECAY_TABLE_SECONDS; second++) {
      this.decayTable[second * 3] = Math.exp((-second * 1000) / this.tauMedium);
      this.decayTable[second * 3 + 1] = Math.exp((-second * 1000) / this.tauShort);
      this.decayTable[second * 3 + 2] = Math.exp((-second * 1000) / this.tauLong);
    }
  }

  /** The request `observe` saw last, and its client's slot (-1: none, a late request). */
  private lastLog: AccessLog | null = null;
  private lastSlot = -1;

  /** See {@link SlotAttachments.slotOf}. */
  slotOf(log: AccessLog): number {
    return log === this.lastLog ? this.lastSlot : -1;
  }

  /** See {@link SlotAttachments.attachment}. */
  attachment(slot: number): number {
    return this.store.intPages[slot >>> PAGE_BITS]![this.attachmentAt(slot)]!;
  }

  /** See {@link SlotAttachments.setAttachment}. */
  setAttachment(slot: number, value: number): void {
    this.store.intPages[slot >>> PAGE_BITS]![this.attachmentAt(slot)] = value | 0;
  }

  /** Index of a slot's I_ATTACHMENT in its int page (as ClientProfile's view computes its ints). */
  private attachmentAt(slot: number): number {
    return 2 * ((slot & PAGE_MASK) * this.store.slotDoubles + N_STRIDE) + I_ATTACHMENT;
  }

  /** Profiles one request; emits a client signal when the client crosses a rule. */
  observe(log: AccessLog, sink: ProfilerSink): void {
    const t = log.time;
    this.lastLog = log;
    this.lastSlot = -1;
    if (t > this.maxTime) {
      this.maxTime = t;
      if (t >= this.nextFlushAt) this.flushUntil(t, sink);
    } else if (t < this.maxTime - this.config.allowedLatenessMs) {
      this.stats.late++;
      this.tickLate++;
      return;
    }
    this.stats.observed++;
    this.tickRequests++;

    const ip = log.clientAddress;
    const slot = this.addresses.get(ip);
    let client: ClientProfile;
    if (slot === undefined) {
      client = this.newClient(ip, t);
    } else {
      this.clients.touch(slot); // as the table's own lookup marks it
      client = this.view.at(slot);
    }
    this.lastSlot = client.slot;
    const v = client.counters;
    const o = client.co;

    // Bring the decayed counters to t; a late event gets the weight of its age instead.
    let wMedium = 1;
    let wShort = 1;
    let wLong = 1;
    if (t > client.clock) {
      if (client.clock !== Number.NEGATIVE_INFINITY) {
        const dt = t - client.clock;
        let fMedium: number;
        let fShort: number;
        let fLong: number;
        const seconds = dt / 1000;
        if (seconds <= DECAY_TABLE_SECONDS && seconds === Math.floor(seconds)) {
          // Logs have one-second resolution: most gaps are whole seconds, precomputed.
          fMedium = this.decayTable[seconds * 3]!;
          fShort = this.decayTable[seconds * 3 + 1]!;
          fLong = this.decayTable[seconds * 3 + 2]!;
        } else {
          fMedium = Math.exp(-dt / this.tauMedium);
          fShort = Math.exp(-dt / this.tauShort);
          fLong = Math.exp(-dt / this.tauLong);
        }
        for (let i = 0; i < MEDIUM_END; i++) v[o + i]! *= fMedium;
        for (let i = MEDIUM_END; i < SHORT_END; i++) v[o + i]! *= fShort;
        for (let i = SHORT_END; i < COUNTER_STRIDE; i++) v[o + i]! *= fLong;
        if (dt > this.config.windows.sessionIdleMs) {
          // A new session: it starts with no recent keys (probes, repeats and busts count afresh).
          client.sessionStart = t;
          client.forgetRecentKeys();
        }
        this.observeInterArrival(client, dt);
      }
      client.clock = t;
    } else if (t < client.clock) {
      const age = client.clock - t;
      wMedium = Math.exp(-age / this.tauMedium);
      wShort = Math.exp(-age / this.tauShort);
      wLong = Math.exp(-age / this.tauLong);
    } else {
      this.observeInterArrival(client, 0);
    }
    client.requests++;

    // Headers: reclassify and re-fingerprint only when they change.
    if (
      log.userAgent !== client.userAgent ||
      log.acceptLanguage !== client.acceptLanguage ||
      log.headerOrder !== client.headerOrder
    ) {
      this.observeHeaders(client, log);
    }

    // An HTTP path's variants (`/a%62c`, `//abc`, `/x/../abc` for `/abc`: one page to the origin,
    // a new key to a cache keyed on the raw path) count under the normalised path: its content
    // key, its place among the client's distinct paths; a variant new to the client busts like
    // a new query string (below).
    // A request that was not HTTP (no method) is keyed by how it starts: one kind of probe counts
    // once however often it is retried (a TLS handshake's random bytes come after its first 6).
    const http = log.method !== '';
    const keyPath = http
      ? normalizePath(log.path)
      : log.path.length > NON_HTTP_KIND_LENGTH
        ? log.path.slice(0, NON_HTTP_KIND_LENGTH)
        : log.path;
    const variant = http && keyPath !== log.path;
    const contentState = hashContentState(log.host, keyPath);
    const hash = hashFinish(contentState);
    // null: a content key longer than maxContentKeyLength, not tracked as content (see there).
    let pathEntry: PathEntry | null;
    let pathIsAsset: boolean;
    let pathProbe: number;
    if (variant) {
      // Facts of the path as sent (traversal is in its dots and escapes) and as served (the server
      // decodes and merges a variant before it finds the file: `/%2eenv` is `/.env`,
      // `//phpmyadmin/` is `/phpmyadmin/`); the client's cache of its last path's facts is left
      // to its plain paths.
      pathEntry = this.trackedPathEntry(hash, log.host, keyPath);
      const facts = variantFacts(
        this.pathFacts(log.path),
        pathEntry !== null ? pathEntry.facts : this.pathFacts(keyPath),
      );
      pathIsAsset = (facts & 1) !== 0;
      pathProbe = facts & (PROBE_ALWAYS | PROBE_IF_REFUSED);
    } else {
      // Path facts, cached for a client repeating its last path. The content-key hash tells a
      // new path (what follows depends on the path only through this hash: the facts cache is
      // keyed by it too), so the profile keeps no copy of the path and compares no text.
      pathEntry = client.pathEntry;
      if (hash !== client.pathHash) {
        client.pathHash = hash;
        pathEntry = this.trackedPathEntry(hash, log.host, log.path);
        const facts = pathEntry !== null ? pathEntry.facts : this.pathFacts(log.path);
        client.pathEntry = pathEntry;
        client.pathIsAsset = (facts & 1) !== 0;
        client.pathProbe = facts & (PROBE_ALWAYS | PROBE_IF_REFUSED);
      } else if (pathEntry !== null && pathEntry.epoch !== this.pathEpoch) {
        // The same path, but the table started over since: its current entry (facts as cached).
        pathEntry = this.pathEntry(hash, log.host, log.path);
        client.pathEntry = pathEntry;
      }
      pathIsAsset = client.pathIsAsset;
      pathProbe = client.pathProbe;
    }
    // The URL as a cache keyed on the raw path and query sees it (a variant's own path).
    const urlState = variant ? hashContentState(log.host, log.path) : contentState;
    const query = log.query;
    if (query !== null) this.readQuery(urlState, query);
    const flags = this.classifier.classify(log, pathIsAsset, pathProbe, query !== null && this.queryMayProbe);
    const isAsset = (flags & ASSET) !== 0;
    if (isAsset) client.assets++;
    else client.pages++;
    if ((flags & REFERER) !== 0) client.withReferer++;

    // Repetition (the same URL again) and cache-busting (a known path with a new query string or
    // a new variant of it) from the client's recent keys.
    const pathHash = hash;
    const pathSeen = this.seenOrInsertPath(client, pathHash);
    let repeat = pathSeen;
    let bust = false;
    let bustWeight = 1;
    // Read on every request, not only in the branches below (see the counter updates).
    const cacheAnswered = (flags & (HIT | STALE | UNCACHEABLE)) !== 0;
    const missLogged = (flags & MISS) !== 0;
    const unconfirmedWeight = this.config.client.cacheBust.unconfirmedWeight;
    if (query !== null || variant) {
      const urlSeen = this.seenOrInsertUrl(client, query !== null ? this.urlHash : hashFinish(urlState));
      repeat = urlSeen;
      bust = pathSeen && !urlSeen && !cacheAnswered;
      // Without a logged cache status a new query string may just be new content (sites that
      // route articles through /index.php?id=...): such a bust counts for less.
      if (bust && !missLogged) bustWeight = unconfirmedWeight;
    }

    v[o + M_REQUESTS]! += wMedium;
    v[o + S_REQUESTS]! += wShort;
    v[o + L_REQUESTS]! += wLong;
    if (isAsset) {
      v[o + M_ASSETS]! += wMedium;
      v[o + L_ASSETS]! += wLong;
      if ((flags & REFERER) !== 0) v[o + L_ASSETS_WITH_REFERER]! += wLong;
    } else {
      v[o + M_PAGES]! += wMedium;
      v[o + L_PAGES]! += wLong;
      if ((flags & REFERER) !== 0) v[o + L_PAGES_WITH_REFERER]! += wLong;
    }
    // The rarer counters are updated on every request, adding 0 when the request does not count
    // (x + 0 is x: the counters are never -0), through one shared `addTo` whose addition has seen
    // fractional numbers from the first requests on. An update first reached late in a run (a
    // first bust, probe or failed login) found no type feedback, or integer-only feedback, and
    // V8 threw this function's optimised code away and compiled it again: 4 compiles of ~90 ms
    // in the 1M-line replay, 2 since (what remains: `fp.busts` turning fractional).
    const bustAdd = wMedium * bustWeight;
    addTo(v, o + M_REPEATS, repeat ? wMedium : 0);
    addTo(v, o + M_BUSTS, bust ? bustAdd : 0);
    addTo(v, o + M_BUST_ATTEMPTS, bust ? wMedium : 0);
    addTo(v, o + M_ERRORS, (flags & ERROR) !== 0 ? wMedium : 0);
    addTo(v, o + M_LOGIN_POSTS, (flags & LOGIN_POST) !== 0 ? wMedium : 0);
    addTo(v, o + M_AUTH_FAILURES, (flags & AUTH_FAILURE) !== 0 ? wMedium : 0);
    // Probes counted on paths new to the client: distinct probes, not one page reloaded.
    const sensitive = (flags & SENSITIVE) !== 0 && !repeat;
    addTo(v, o + M_SENSITIVE, sensitive ? wMedium : 0);

    // A request that was not HTTP (no method) asked for no content.
    if (log.method !== '') {
      if (pathEntry !== null) this.addContent(log, keyPath, variant, pathEntry, flags, pathSeen, bust);
      else this.stats.untrackedContentRequests++;
    }

    // Evaluate the client's rules now and then, not on every request; what is left waits for the
    // flush.
    client.requestsSinceEval++;
    if (!client.allowlisted) {
      if (
        client.requests <= this.config.client.evaluateFirstRequests ||
        client.requestsSinceEval >= this.config.client.evaluateEveryRequests ||
        t - client.lastEvalAt >= this.config.client.evaluateEveryMs
      ) {
        this.evaluate(client, t, sink);
      }
      const interval = this.stats.flushes + 1;
      if (client.evaluationInterval !== interval) {
        client.evaluationInterval = interval;
        client.evaluationEntry = this.evaluationSlots.length;
        this.evaluationSlots.push(client.slot);
        this.evaluationStates.push(DONE);
      }
      this.evaluationStates[client.evaluationEntry] = client.requestsSinceEval > 0 ? PENDING : DONE;
    }

    // Cross-address aggregates (the client keeps its accumulator for the current flush).
    let fp = client.fingerprintAcc;
    if (
      client.fingerprintAccFlush !== this.stats.flushes ||
      fp === null ||
      fp.fingerprint !== client.fingerprint
    ) {
      fp = this.fingerprintAccumulator(client, fp);
      client.fingerprintAcc = fp;
      client.fingerprintAccFlush = this.stats.flushes;
      client.lastFingerprintPath = 0;
    }
    // A client's requests count in its fingerprint's partials up to `fingerprintRequestCap` per
    // aggregate window (the window it is counted once in, see countFingerprint): the per-client
    // figures of a fingerprint (requests per client, shares) then describe what its clients do
    // each, not what its busiest client does. One app install polling five times a second made
    // its 40 users' fingerprint a swarm (requests / clients), and every user of the app a bot.
    const sameWindow =
      client.fingerprint === client.countedFingerprint &&
      t - client.fingerprintCountedAt < this.config.windows.aggregateMs;
    const windowRequests = sameWindow ? client.fingerprintWindowRequests + 1 : 1;
    client.fingerprintWindowRequests = windowRequests;
    const w = windowRequests <= this.fingerprintRequestCap ? 1 : 0;
    fp.requests += w;
    // Assets of human-looking clients are left out: the swarm rule asks whether the fingerprint's
    // OTHER clients load assets (one person sharing a swarm's UA must not hide it; the human
    // share is judged separately).
    if (isAsset) {
      if (!client.humanLooking) fp.assets += w;
    } else {
      fp.pages += w;
    }
    // Added on every request, 0 when it does not count (as the client's counters above).
    fp.repeats += repeat ? w : 0;
    fp.pathRepeats += pathSeen ? w : 0;
    fp.busts += bust ? bustWeight * w : 0;
    fp.loginPosts += (flags & LOGIN_POST) !== 0 ? w : 0;
    fp.authFailures += (flags & AUTH_FAILURE) !== 0 ? w : 0;
    fp.sensitiveHits += sensitive ? w : 0;
    fp.errors += (flags & ERROR) !== 0 ? w : 0;
    if (!fp.pathsOverflow && !isAsset && pathHash !== client.lastFingerprintPath) {
      client.lastFingerprintPath = pathHash;
      addPath(fp, pathHash, this.config.bounds.pathsPerFingerprint);
    }
    this.countClient(client, fp, t);
  }

  /** Event time moved on (watermark): flush partials that are due. */
  advance(watermark: number, sink: ProfilerSink): void {
    if (watermark >= this.nextFlushAt) this.flushUntil(watermark, sink);
  }

  /** End of input: flush everything held. */
  finish(sink: ProfilerSink): void {
    if (this.maxTime !== Number.NEGATIVE_INFINITY) this.flush(this.maxTime, sink);
  }

  getStats(): ProfilerStats {
    this.stats.clients = this.clients.size;
    this.stats.clientsEvicted = this.clients.evicted;
    return { ...this.stats };
  }

  private newClient(logAddress: string, t: number): ClientProfile {
    // The table key, the profile and every signal share one copy, detached from the line.
    const ip = detachString(logAddress);
    const slot = this.clients.insert(ip, (slot) => {
      if (slot >= this.store.capacity) this.store.grow();
      return slot;
    });
    const previous = this.view.at(slot);
    if (previous.evaluationInterval === this.stats.flushes + 1) {
      // Evicted with an entry in this interval's evaluation list (see flush).
      this.evaluationStates[previous.evaluationEntry] = EVICTED;
      this.evictedIps.push(previous.ip);
    }
    const ipv4 = ipv4Number(ip);
    this.store.reset(slot, ip, this.clientPrefix(ip, ipv4), this.isAllowlisted(ip, ipv4), t);
    const client = this.view.at(slot);
    return client;
  }

  private observeHeaders(client: ClientProfile, log: AccessLog): void {
    const entry = this.userAgentEntry(log.userAgent);
    if (log.userAgent !== client.userAgent) {
      client.browserClaim = entry.browserClaim;
      client.crawlerClaim = entry.crawlerClaim;
      client.scannerTool = entry.scannerTool;
      const verification =
        entry.crawler === null ? null : this.deps.verifyCrawlerClaim(entry.crawler, client.ip);
      client.unverifiedCrawler = verification === 'unverified';
      client.verifiedCrawler = verification === 'verified';
    }
    client.userAgent = entry.userAgent;
    if (
      entry.fingerprint === '' ||
      log.acceptLanguage !== entry.acceptLanguage ||
      log.headerOrder !== entry.headerOrder
    ) {
      entry.acceptLanguage = this.sharedStrings.getOptional(log.acceptLanguage);
      entry.headerOrder = this.sharedStrings.getOptional(log.headerOrder);
      const fingerprint = this.deps.httpFingerprint(log);
      if (fingerprint !== entry.fingerprint) {
        entry.fingerprint = fingerprint;
        entry.fingerprintHash = hashString(fingerprint);
      }
    }
    client.acceptLanguage = entry.acceptLanguage;
    client.headerOrder = entry.headerOrder;
    if (entry.fingerprint !== client.fingerprint) {
      client.fingerprint = entry.fingerprint;
      client.fingerprintHash = entry.fingerprintHash;
      client.fingerprintChanges++;
    }
  }

  /** The entry of a user agent text (classified on first sight). */
  private userAgentEntry(userAgent: string | null): UserAgentEntry {
    let entry = userAgent === null ? this.noUserAgent : this.userAgents.get(userAgent);
    if (entry === undefined || entry === null) {
      const ua = this.deps.classifyUserAgent(userAgent);
      const crawlerClaim = ua.kind === 'crawler';
      entry = new UserAgentEntry(
        userAgent === null ? null : detachString(userAgent),
        ua.kind === 'browser',
        crawlerClaim,
        crawlerClaim ? ua.crawler : null,
        ua.kind === 'tool' && this.scannerTools.has(ua.family),
      );
      if (entry.userAgent === null) {
        this.noUserAgent = entry;
      } else {
        if (this.userAgents.size >= USER_AGENT_ENTRIES) this.userAgents.clear();
        this.userAgents.set(entry.userAgent, entry);
      }
    }
    return entry;
  }

  private observeInterArrival(client: ClientProfile, dt: number): void {
    // Exponentially weighted mean and variance (α = 1/16 ≈ the last ~16 intervals).
    if (client.interArrivals === 0) {
      client.interArrivalMean = dt;
      client.interArrivalVariance = 0;
    } else {
      const delta = dt - client.interArrivalMean;
      client.interArrivalMean += delta / 16;
      client.interArrivalVariance = (15 / 16) * (client.interArrivalVariance + (delta * delta) / 16);
    }
    client.interArrivals++;
  }

  /**
   * One pass over a request's query (often its longest field) for the three things read from it:
   * its URL hash (hashUrl, for the client's recent URLs), its own hash (hashUrl(null, '', query),
   * for the content partial) and whether it holds a probe character (isProbeChar, for the
   * classifier), instead of a pass each. Results in urlHash, queryHash and queryMayProbe.
   */
  private readQuery(contentState: number, query: string): void {
    let url = queryStart(contentState);
    let own = QUERY_HASH_START;
    let probe = false;
    for (let i = 0; i < query.length; i++) {
      const c = query.charCodeAt(i);
      url = Math.imul(url ^ c, FNV_PRIME);
      own = Math.imul(own ^ c, FNV_PRIME);
      if (isProbeChar(c)) probe = true;
    }
    this.urlHash = hashFinish(url);
    this.queryHash = hashFinish(own);
    this.queryMayProbe = probe;
  }

  /**
   * Whether the client asked for this path among its recent ones; remembers it if not (FIFO).
   * Only the filled slots are read (a key hash is never 0, so empty slots never matched anyway).
   */
  private seenOrInsertPath(client: ClientProfile, hashValue: number): boolean {
    const hash = hashValue | 0;
    const filled = client.pathsFilled;
    {
      const keys = client.paths;
      const end = client.po + filled;
      for (let i = client.po; i < end; i++) if (keys[i] === hash) return true;
    }
    // Inline slots full (the cursor has not wrapped yet: it is at `filled`): move to a block.
    if (filled === this.store.inlinePaths && filled < this.recentPaths) client.spillPaths();
    const cursor = client.pathCursor;
    client.paths[client.po + cursor] = hash;
    client.pathCursor = cursor + 1 === this.recentPaths ? 0 : cursor + 1;
    if (filled < this.recentPaths) client.pathsFilled = filled + 1;
    return false;
  }

  private seenOrInsertUrl(client: ClientProfile, hashValue: number): boolean {
    const keys = client.urls;
    const hash = hashValue | 0;
    const start = client.uo;
    const filled = client.urlsFilled;
    const end = start + filled;
    for (let i = start; i < end; i++) if (keys[i] === hash) return true;
    const cursor = client.urlCursor;
    keys[start + cursor] = hash;
    client.urlCursor = cursor + 1 === this.recentUrls ? 0 : cursor + 1;
    if (filled < this.recentUrls) client.urlsFilled = filled + 1;
    return false;
  }

  /** A path's facts: 1 asset; PROBE_ALWAYS (2) or PROBE_IF_REFUSED (4) a probe (see pathProbe). */
  private pathFacts(path: string): number {
    return this.classifier.isAsset(path) ? 1 : this.classifier.pathProbe(path);
  }

  /** pathEntry, or null for a content key longer than maxContentKeyLength (not tracked as content). */
  private trackedPathEntry(hash: number, host: string | null, path: string): PathEntry | null {
    return contentKeyLength(host, path) <= this.maxContentKeyLength ? this.pathEntry(hash, host, path) : null;
  }

  /** The current entry of a content hash (classified on first sight in the epoch). */
  private pathEntry(hash: number, host: string | null, path: string): PathEntry {
    // 30 bits: small-integer map keys are much cheaper than heap-number ones.
    const key = hash & 0x3fffffff;
    const cacheSlot = key & ((1 << PATH_CACHE_BITS) - 1);
    const cached = this.pathCache[cacheSlot];
    if (cached?.key === key) return cached;
    let entry = this.paths.get(key);
    if (entry === undefined) {
      entry = new PathEntry(
        key,
        this.pathFacts(path),
        this.sharedStrings.getOptional(host),
        this.sharedStrings.get(path),
        this.pathEpoch,
      );
      this.paths.set(key, entry);
    }
    this.pathCache[cacheSlot] = entry;
    return entry;
  }

  /**
   * Counts a request in its content key's accumulator: `path` is the key's path (normalised),
   * `variant` whether the request's own path differed from it.
   */
  private addContent(
    log: AccessLog,
    path: string,
    variant: boolean,
    entry: PathEntry,
    flags: number,
    pathSeen: boolean,
    bust: boolean,
  ): void {
    let acc = entry.content;
    if (acc.flush !== this.stats.flushes) {
      // The flush's first request for this hash names its key (as a map rebuilt per flush did).
      acc.flush = this.stats.flushes;
      this.contentList.push(acc);
      if (acc.path !== path || acc.host !== log.host) {
        // Shared copies: a slice would keep its whole log line alive until the flush (and the
        // lines of one flush outlive young-generation collections). The path's entry usually
        // has them (one text compare instead of hashing the path again).
        if (entry.path === path && entry.host === log.host) {
          acc.rename(entry.host, entry.path);
        } else {
          acc.rename(this.sharedStrings.getOptional(log.host), this.sharedStrings.get(path));
        }
      }
    } else if (acc.path !== path || acc.host !== log.host) {
      // A 32-bit collision between two keys of one flush: keep the second key apart by its text.
      const text = `${log.host ?? ''}${path}`;
      let other = this.contentByText.get(text);
      if (other === undefined) {
        other = this.spareContent.pop() ?? new ContentAccumulator();
        other.rename(this.sharedStrings.getOptional(log.host), this.sharedStrings.get(path));
        this.contentByText.set(text, other);
      }
      acc = other;
    }
    if (variant) {
      // A path variant is another key to the edge's cache, whatever it answered: its answers say
      // nothing of how the cache serves this key (no hot-miss evidence: collapsing cannot join
      // requests for other keys), and no cache-key rule can fold it in (CachePolicy's rules act
      // on the query only; dropping it would not help, so it is no query evidence either). It
      // counts as the key's bust only: variant-only busting gets no cache advice, its clients
      // are judged as busters.
      acc.busts += bust ? 1 : 0;
      return;
    }
    acc.requests++;
    // Added on every request, 0 when it does not count (as in observe): a cache status first seen
    // late in a run (expired, stale) deoptimised this function.
    acc.newVisitors += pathSeen ? 0 : 1;
    acc.hits += (flags & HIT) !== 0 ? 1 : 0;
    // A client error (4xx: a probe for a path the site does not have, a denied request) is no
    // content to collapse requests for: counted as not cacheable, never as a miss, so a scanner
    // hammering /wp-login.php cannot make it "hot" (request-collapsing advice for a 404). Not 499
    // (nginx: the client gave up waiting): that is a miss the origin was too slow for, the very
    // thing collapsing is for.
    const clientError = log.status >= 400 && log.status < 499;
    // MISS alone: an EXPIRED request (flagged MISS too, the origin was asked) counts in `expired`
    // only. Counted in both, it counted twice in content-watch's miss ratio (misses + expired):
    // a hot page answered HIT 83 % of the time and EXPIRED 17 % got "hot-miss" advice (0.34).
    acc.misses += (flags & (MISS | EXPIRED)) === MISS && !clientError ? 1 : 0;
    acc.expired += (flags & EXPIRED) !== 0 && !clientError ? 1 : 0;
    acc.stale += (flags & STALE) !== 0 ? 1 : 0;
    acc.uncacheable += (flags & UNCACHEABLE) !== 0 || clientError ? 1 : 0;
    acc.serverErrors += log.status >= 500 ? 1 : 0;
    acc.busts += bust ? 1 : 0;
    if (log.originDurationMs !== null) {
      acc.originMsSum += log.originDurationMs;
      acc.originCount++;
    }
    // Sizes of 200 answers: the plain page's mean, and whether a query's answer is that page.
    const sized = log.status === 200 && log.bytes > 0;
    // A refused request (4xx: a blocked buster's 403, a probe's 404) never reached the cache: it
    // says nothing of how the cache serves the key with or without a query string (counted, the
    // busters' own 403s withdrew the cache-bust advice a second after it was given).
    if (clientError) {
      // counted above (requests, uncacheable); no plain or query share
    } else if (log.query === null) {
      acc.plainRequests++;
      acc.plainCached += (flags & (HIT | STALE)) !== 0 ? 1 : 0;
      if (sized) {
        const n = acc.plainBytesCount < PLAIN_BYTES_WINDOW ? ++acc.plainBytesCount : PLAIN_BYTES_WINDOW;
        acc.plainBytesMean += (log.bytes - acc.plainBytesMean) / n;
      }
    } else {
      acc.withQuery++;
      acc.queryMisses += (flags & MISS) !== 0 ? 1 : 0;
      const compared = sized && acc.plainBytesCount >= PLAIN_BYTES_MIN;
      const same = compared && samePage(log.bytes, acc.plainBytesMean);
      acc.queryCompared += compared ? 1 : 0;
      acc.querySameAsPlain += same ? 1 : 0;
      if (compared && !same && acc.contentParams.length < CONTENT_PARAMS_MAX) {
        addParamNames(acc.contentParams, log.query);
      }
      if (acc.queryOverflow === 0) {
        const q = this.queryHash;
        const hashes = acc.queryHashes;
        let found = false;
        for (let i = 0; i < hashes.length; i++) {
          if (hashes[i] === q) {
            found = true;
            break;
          }
        }
        if (!found) {
          if (hashes.length < this.config.bounds.queryHashesPerPartial) hashes.push(q);
          else acc.queryOverflow++;
        }
      } else {
        acc.queryOverflow++;
      }
    }
  }

  /** The current accumulator of the client's fingerprint (`held`: the one it held, if still it). */
  private fingerprintAccumulator(
    client: ClientProfile,
    held: FingerprintAccumulator | null,
  ): FingerprintAccumulator {
    const fingerprint = client.fingerprint;
    if (client.verifiedCrawler) {
      // A verified crawler (allowlisted) shares its user agent with whoever claims it: its
      // requests, many distinct pages, must not shape how that fingerprint's other clients are
      // judged (a swarm faking its UA would hide behind its breadth). Counted in an accumulator no
      // partial is made of.
      const unlisted = this.unlistedFingerprint;
      if (unlisted.flush !== this.stats.flushes) startFingerprintFlush(unlisted, this.stats.flushes);
      unlisted.fingerprint = fingerprint;
      return unlisted;
    }
    let acc: FingerprintAccumulator | undefined = held ?? undefined;
    if (acc === undefined || acc.fingerprint !== fingerprint || acc.epoch !== this.fingerprintEpoch) {
      acc = this.fingerprints.get(fingerprint);
      if (acc === undefined) {
        acc = new FingerprintAccumulator();
        acc.fingerprint = fingerprint;
        acc.epoch = this.fingerprintEpoch;
        this.fingerprints.set(fingerprint, acc);
      }
    }
    if (acc.flush !== this.stats.flushes) {
      // The flush's first client of the fingerprint describes it (as a map rebuilt per flush did).
      startFingerprintFlush(acc, this.stats.flushes);
      acc.userAgent = client.userAgent ?? null; // the client's shared copy
      acc.declaredCrawler = client.crawlerClaim;
      this.fingerprintList.push(acc);
    }
    return acc;
  }

  /** The current entry of a new client's prefix (null: no prefix); `ipv4` is `ipv4Number(ip)`. */
  private clientPrefix(ip: string, ipv4: number): PrefixEntry | null {
    const shift = this.ipv4PrefixShift;
    const address = shift < 0 ? -1 : ipv4;
    if (address < 0) {
      const prefix = this.deps.prefixOf(ip);
      return prefix === null ? null : this.prefixEntry(prefix);
    }
    const key = ipv4PrefixNumber(address, shift);
    let entry = this.prefixByNumber.get(key);
    if (entry === undefined) {
      const prefix = this.deps.prefixOf(ip);
      if (prefix === null) return null;
      entry = this.prefixEntry(prefix);
      this.prefixByNumber.set(key, entry);
    }
    return entry;
  }

  /** The current entry of a prefix text (a detached copy of the text on first sight). */
  private prefixEntry(prefix: string): PrefixEntry {
    let entry = this.prefixEntries.get(prefix);
    if (entry === undefined) {
      entry = new PrefixEntry(detachString(prefix), this.prefixEpoch);
      this.prefixEntries.set(entry.prefix, entry);
    }
    return entry;
  }

  /** The client's prefix entry, ready to count in the current flush. */
  private prefixCounts(client: ClientProfile, held: PrefixEntry): PrefixEntry {
    let entry = held;
    if (entry.epoch !== this.prefixEpoch) {
      entry = this.prefixEntry(entry.prefix);
      client.prefixEntry = entry;
    }
    if (entry.flush !== this.stats.flushes) {
      entry.flush = this.stats.flushes;
      entry.clients = 0;
      entry.humanClients = 0;
      entry.establishedClients = 0;
      entry.protectedClients = 0;
      this.countedPrefixes.push(entry);
    }
    return entry;
  }

  /**
   * Counts the client in its fingerprint and prefix partials at most once per aggregate window
   * (and again the moment it starts looking human), see messages.ts.
   */
  private countClient(client: ClientProfile, fp: FingerprintAccumulator, t: number): void {
    const window = this.config.windows.aggregateMs;
    const human = client.humanLooking;
    // Fast exit: counted this window, nothing changed since.
    if (
      t - client.countedAt < window &&
      t - client.fingerprintCountedAt < window &&
      client.fingerprint === client.countedFingerprint &&
      human === client.humanCounted &&
      client.score === client.countedScore
    ) {
      return;
    }
    client.countedScore = client.score;
    // The counts below are added on every call, 0 when they do not count (as in observe), and what
    // they test is read on every call: a case first met late in a run (the first established or
    // allowlisted client of a prefix) would otherwise deoptimise this function.
    const longSession = t - client.sessionStart >= this.config.windows.establishedAfterMs;
    const established = human && longSession;
    const flagged = client.score >= this.config.decisions.scoreForChallenge;
    // Count a client again the moment it starts looking human or gets flagged.
    const humanCounted = client.humanCounted;
    const flaggedCounted = client.flaggedCounted;
    const turnedHuman = human && !humanCounted;
    const turnedFlagged = flagged && !flaggedCounted;
    const counted = this.countFingerprint(client, t, window);
    fp.clients += counted ? 1 : 0;
    fp.humanClients += (counted ? human : turnedHuman) ? 1 : 0;
    fp.establishedClients += counted && established ? 1 : 0;
    fp.flaggedClients += (counted ? flagged : turnedFlagged) ? 1 : 0;
    // Once flagged in a window it stays counted there: a score dipping under the threshold and back
    // counted the client again each time it crossed.
    client.flaggedCounted = counted ? flagged : flaggedCounted || flagged;
    const prefix = client.prefixEntry;
    const allowlisted = client.allowlisted;
    const newWindow = t - client.countedAt >= window;
    if (newWindow) {
      client.countedAt = t;
      this.tickClients++;
    }
    this.tickEstablished += newWindow && established ? 1 : 0;
    if (prefix !== null && (newWindow || turnedHuman)) {
      const acc = this.prefixCounts(client, prefix);
      acc.clients += newWindow ? 1 : 0;
      acc.humanClients += (newWindow ? human : turnedHuman) ? 1 : 0;
      acc.establishedClients += newWindow && established ? 1 : 0;
      acc.protectedClients += newWindow && allowlisted ? 1 : 0;
    }
    client.humanCounted = human;
  }

  /**
   * Whether to count the client in its current fingerprint's partial: once per window per
   * (client, fingerprint). A client switching between fingerprints (a NAT address carrying many
   * browsers) is looked up in a shared bounded table, so it counts once per fingerprint rather
   * than at every switch.
   */
  private countFingerprint(client: ClientProfile, t: number, window: number): boolean {
    const shared = client.fingerprintChanges > 1;
    if (client.fingerprint === client.countedFingerprint) {
      if (t - client.fingerprintCountedAt < window) return false;
    } else if (shared) {
      // Remember the fingerprint being left, so that switching back does not count it again.
      if (client.countedFingerprint !== '') {
        this.rememberCounted(client.slot, client.countedFingerprintHash, client.fingerprintCountedAt);
      }
      const last = this.multiFingerprintCounted.get(client.slot * 4294967296 + client.fingerprintHash);
      if (last !== undefined && t - last < window) {
        client.countedFingerprint = client.fingerprint;
        client.countedFingerprintHash = client.fingerprintHash;
        client.fingerprintCountedAt = last;
        return false;
      }
    }
    client.countedFingerprint = client.fingerprint;
    client.countedFingerprintHash = client.fingerprintHash;
    client.fingerprintCountedAt = t;
    if (shared) this.rememberCounted(client.slot, client.fingerprintHash, t);
    return true;
  }

  private rememberCounted(slot: number, fingerprintHash: number, countedAt: number): void {
    const key = slot * 4294967296 + fingerprintHash;
    const known = this.multiFingerprintCounted.get(key);
    if (known !== undefined && known >= countedAt) return;
    if (this.multiFingerprintCounted.size >= MULTI_FINGERPRINT_ENTRIES) this.multiFingerprintCounted.clear();
    this.multiFingerprintCounted.set(key, countedAt);
  }

  private evaluate(client: ClientProfile, t: number, sink: ProfilerSink): void {
    client.lastEvalAt = t;
    client.requestsSinceEval = 0;
    const score = this.score;
    scoreClient(client.counters, client.co, client, this.config, this.tauShort, score);
    client.score = score.score;
    client.humanLooking = score.humanLooking;
    // The settings are read on every call: one first needed late in a run (a bot-shaped client's
    // resignal) would otherwise deoptimise this function (see scoreClient).
    const botShape = this.config.client.botShape;
    const manyPages = client.pages >= botShape.minPages;
    const botShaped =
      !score.humanLooking &&
      !client.verifiedCrawler &&
      manyPages &&
      client.assets === 0 &&
      client.withReferer === 0;
    if (score.score < this.config.decisions.scoreForThrottle && !botShaped) return;
    const ruleReason = score.reason;
    const reason = score.score < this.config.decisions.scoreForThrottle ? 'bot-shaped' : ruleReason;
    const botShapeResignal = botShape.resignalAfterMs;
    const resignal = this.config.client.resignalAfterMs;
    // Re-send at once only when the reason changes or the score reaches a stronger action.
    if (
      client.lastSignalAt !== Number.NEGATIVE_INFINITY &&
      reason === client.lastSignalReason &&
      this.actionLevel(score.score) <= this.actionLevel(client.lastSignalScore) &&
      t - client.lastSignalAt < (reason === 'bot-shaped' ? botShapeResignal : resignal)
    ) {
      return;
    }
    const longSession = t - client.sessionStart >= this.config.windows.establishedAfterMs;
    client.lastSignalAt = t;
    client.lastSignalScore = score.score;
    client.lastSignalReason = reason;
    this.stats.signals++;
    sink.clientSignal({
      kind: 'client',
      ip: client.ip,
      prefix: client.prefix,
      fingerprint: client.fingerprint,
      time: t,
      score: score.score,
      reason,
      signals: score.signals(client.counters, client.co),
      humanLooking: score.humanLooking,
      botShaped,
      paths: this.recentPathsOf(client),
      burstRequests: Math.round(client.counters[client.co + S_REQUESTS]! * 1000) / 1000,
      established: score.humanLooking && longSession,
      firstSeen: client.sessionStart,
      requests: client.requests,
    });
  }

  /** 0 none, 1 throttle, 2 challenge, 3 block: the decider's mapping of scores to actions. */
  private actionLevel(score: number): number {
    const d = this.config.decisions;
    return score >= d.scoreForBlock
      ? 3
      : score >= d.scoreForChallenge
        ? 2
        : score >= d.scoreForThrottle
          ? 1
          : 0;
  }

  /** The client's most recent distinct paths (hashes, newest first, at most SIGNAL_PATHS). */
  private recentPathsOf(client: ClientProfile): number[] {
    const out: number[] = [];
    const { paths, po, pathCursor, pathsFilled } = client;
    const size = this.recentPaths;
    for (let k = 1; k <= pathsFilled && out.length < SIGNAL_PATHS; k++) {
      out.push(paths[po + ((pathCursor - k + size) % size)]! >>> 0);
    }
    return out;
  }

  /** Flushes at each interval boundary up to `t` (once: partials carry the boundary's time). */
  private flushUntil(t: number, sink: ProfilerSink): void {
    const interval = this.config.flushIntervalMs;
    const boundary = Math.floor(t / interval) * interval;
    if (this.nextFlushAt !== Number.NEGATIVE_INFINITY) this.flush(boundary, sink);
    this.nextFlushAt = boundary + interval;
  }

  private flush(time: number, sink: ProfilerSink): void {
    this.stats.flushes++;
    // No client's requests wait more than a flush interval to be judged (a burst that stops
    // between two evaluations is judged here), in the order of their first request in it.
    const slots = this.evaluationSlots;
    const states = this.evaluationStates;
    for (let k = 0; k < slots.length; k++) {
      if (states[k] === PENDING) {
        const client = this.view.at(slots[k]!);
        this.clients.touch(client.slot); // as a lookup of its address would mark it
        this.evaluate(client, client.clock, sink);
      }
    }
    // An evicted client's address is looked up: it marks the address as used if it came back
    // (setting used marks commutes with the evaluations above).
    for (const ip of this.evictedIps) this.clients.get(ip);
    slots.length = 0;
    states.length = 0;
    this.evictedIps.length = 0;
    for (const acc of this.contentList) this.emitContent(acc, time, sink);
    for (const acc of this.contentByText.values()) {
      this.emitContent(acc, time, sink);
      this.spareContent.push(acc);
    }
    this.contentList.length = 0;
    this.contentByText.clear();
    // Between flushes only: within one, a content key must keep one accumulator.
    if (this.paths.size > PATH_ENTRIES) {
      this.paths.clear();
      this.pathCache.fill(null);
      this.pathEpoch++;
    }
    for (const acc of this.fingerprintList) {
      sink.fingerprintPartial({
        kind: 'fingerprint',
        fingerprint: acc.fingerprint,
        time,
        requests: acc.requests,
        pages: acc.pages,
        assets: acc.assets,
        repeats: acc.repeats,
        pathRepeats: acc.pathRepeats,
        busts: acc.busts,
        loginPosts: acc.loginPosts,
        authFailures: acc.authFailures,
        sensitiveHits: acc.sensitiveHits,
        errors: acc.errors,
        clients: acc.clients,
        humanClients: acc.humanClients,
        establishedClients: acc.establishedClients,
        flaggedClients: acc.flaggedClients,
        paths: acc.paths,
        pathsOverflow: acc.pathsOverflow,
        userAgent: acc.userAgent,
        declaredCrawler: acc.declaredCrawler,
      });
    }
    this.fingerprintList.length = 0;
    if (this.fingerprints.size > ACCUMULATOR_ENTRIES) {
      this.fingerprints.clear();
      this.fingerprintEpoch++;
    }
    const prefixes: PrefixCount[] = [];
    for (const acc of this.countedPrefixes) {
      prefixes.push({
        prefix: acc.prefix,
        clients: acc.clients,
        humanClients: acc.humanClients,
        establishedClients: acc.establishedClients,
        protectedClients: acc.protectedClients,
      });
    }
    this.countedPrefixes.length = 0;
    // Between flushes only: within one, a prefix must keep one entry (one count in the tick).
    if (this.prefixEntries.size > this.maxClients || this.prefixByNumber.size > this.maxClients) {
      this.prefixEntries.clear();
      this.prefixByNumber.clear();
      this.prefixEpoch++;
    }
    sink.tick({
      kind: 'tick',
      partition: this.partition,
      time,
      requests: this.tickRequests,
      late: this.tickLate,
      clients: this.tickClients,
      establishedClients: this.tickEstablished,
      prefixes,
    });
    this.tickRequests = 0;
    this.tickLate = 0;
    this.tickClients = 0;
    this.tickEstablished = 0;
  }

  private emitContent(acc: ContentAccumulator, time: number, sink: ProfilerSink): void {
    sink.contentPartial({
      host: acc.host,
      path: acc.path,
      time,
      requests: acc.requests,
      withQuery: acc.withQuery,
      newVisitors: acc.newVisitors,
      hits: acc.hits,
      misses: acc.misses,
      expired: acc.expired,
      stale: acc.stale,
      uncacheable: acc.uncacheable,
      plainRequests: acc.plainRequests,
      plainCached: acc.plainCached,
      busts: acc.busts,
      queryMisses: acc.queryMisses,
      serverErrors: acc.serverErrors,
      originMsSum: acc.originMsSum,
      originCount: acc.originCount,
      queryHashes: acc.queryHashes,
      queryOverflow: acc.queryOverflow,
      queryCompared: acc.queryCompared,
      querySameAsPlain: acc.querySameAsPlain,
      contentParams: acc.contentParams,
    });
    // Reuse the accumulator; the emitted message keeps the old hash array.
    acc.requests = 0;
    acc.withQuery = 0;
    acc.newVisitors = 0;
    acc.hits = 0;
    acc.misses = 0;
    acc.expired = 0;
    acc.stale = 0;
    acc.uncacheable = 0;
    acc.plainRequests = 0;
    acc.plainCached = 0;
    acc.busts = 0;
    acc.queryMisses = 0;
    acc.serverErrors = 0;
    acc.originMsSum = 0;
    acc.originCount = 0;
    acc.queryHashes = [];
    acc.queryOverflow = 0;
    acc.queryCompared = 0;
    acc.querySameAsPlain = 0;
    if (acc.contentParams.length > 0) acc.contentParams = [];
  }
}

/** `v[i] += w`: the profiler's one addition for its rarer counters (see Profiler.observe). */
function addTo(v: Float64Array, i: number, w: number): void {
  v[i]! += w;
}

/** Zeroes a fingerprint's totals for a new flush. */
function startFingerprintFlush(acc: FingerprintAccumulator, flush: number): void {
  acc.flush = flush;
  acc.requests = 0;
  acc.pages = 0;
  acc.assets = 0;
  acc.repeats = 0;
  acc.pathRepeats = 0;
  acc.busts = 0;
  acc.loginPosts = 0;
  acc.authFailures = 0;
  acc.sensitiveHits = 0;
  acc.errors = 0;
  acc.clients = 0;
  acc.humanClients = 0;
  acc.establishedClients = 0;
  acc.flaggedClients = 0;
  acc.paths = []; // the emitted partial keeps the old array
  acc.pathsOverflow = false;
}

function addPath(fp: FingerprintAccumulator, hash: number, max: number): void {
  const paths = fp.paths;
  for (let i = 0; i < paths.length; i++) if (paths[i] === hash) return;
  if (paths.length < max) paths.push(hash);
  else fp.pathsOverflow = true;
}

/**
 * The path facts of a variant (pathFacts: 1 for an asset, else its probe kind): the stronger probe
 * of the path as sent and as served, else whether what is served is an asset.
 */
function variantFacts(sent: number, served: number): number {
  if (sent === PROBE_ALWAYS || served === PROBE_ALWAYS) return PROBE_ALWAYS;
  if (sent === PROBE_IF_REFUSED || served === PROBE_IF_REFUSED) return PROBE_IF_REFUSED;
  return served;
}
