import {
  AddressIndex,
  type Allowlist,
  type DetectDeps,
  detachString,
  ipv4Number,
  ipv4PrefixNumber,
  ipv4PrefixShift,
  SharedStrings,
  type SlotAttachments,
} from '@edgeguard/detect';
import { classifyUserAgent, verifyCrawlerClaim } from '@edgeguard/fingerprint';
import { formatIpv4 } from '@edgeguard/netaddr';
import { type AccessLog, actionStrength, type Decision, type Verdict } from '@edgeguard/schema';

/**
 * What the decisions did to one client address over the replay. A decision on the address itself
 * covers it from its decidedAt, whether or not the address sends again; a range or fingerprint
 * decision covers it through the requests it matched.
 */
export interface ClientVerdict {
  ip: string;
  requests: number;
  /** The strongest action that covered it (its address, or any of its requests); `allow` if none did. */
  verdict: Verdict;
  /**
   * Event time (epoch ms) it was first covered: the earlier of its first address decision's
   * decidedAt and its first request a decision covered; null if never.
   */
  decidedAt: number | null;
  /** Event time of its first request covered by a block or challenge; null if never. */
  caughtAt: number | null;
  /** The decision keys that covered it (at most `maxKeysPerClient`). */
  by: string[];
}

/** A declared crawler whose address is not in that crawler's published ranges. */
export interface UnverifiedCrawler {
  ip: string;
  crawler: string;
  /** Its requests that declared a crawler (any), from the first one on. */
  requests: number;
}

export interface BacktestOptions {
  allowlist: Allowlist;
  prefixOf: (ip: string) => string | null;
  /** See DetectDeps.ipv4PrefixBits: when given, IPv4 clients find range decisions by prefix number. */
  ipv4PrefixBits?: number;
  /** The same fingerprint the decider's inputs used. */
  httpFingerprint: (log: AccessLog) => string;
  /** Client addresses tracked; further addresses are counted in `overflow`, not tracked. */
  maxClients?: number;
  /** The crawler a UA declares (default: @edgeguard/fingerprint's, as the CLI's report had it). */
  classifyUserAgent?: DetectDeps['classifyUserAgent'];
  verifyCrawlerClaim?: DetectDeps['verifyCrawlerClaim'];
}

const STRENGTH_VERDICTS: readonly Verdict[] = ['allow', 'throttle', 'challenge', 'block'];
const MAX_KEYS_PER_CLIENT = 8;
const MAX_TIMELINE_MINUTES = 100_000;
/** Distinct header values shared between entries (memory only; see SharedStrings). */
const SHARED_STRINGS = 100_000;
/** Distinct fingerprint inputs shared between entries (memory only; see `fingerprintInputsOf`). */
const SHARED_FINGERPRINT_INPUTS = 100_000;
/** Addresses `unverifiedCrawlers` lists at most (the first ones found). */
const MAX_UNVERIFIED_CRAWLERS = 10_000;

/**
 * What the backtest keeps of a decision: the published Decision carries its evidence (signals),
 * which tens of thousands of active decisions would keep alive for nothing.
 */
class Cover {
  constructor(
    readonly key: string,
    readonly strength: number,
    readonly decidedAt: number,
    readonly expiresAt: number,
    /** Which cover it is (from 1, in the order made): entries note the ones applied for good. */
    readonly serial: number,
  ) {}
}

/**
 * Decisions on an address with no entry yet (see `VerdictBacktest.pendingIpDecisions`): the one in
 * effect, and every one published, which covered the address at its decidedAt even if lifted
 * before the address's first request.
 */
class PendingAddress {
  /** The decision in effect; null once lifted by its tombstone. */
  cover: Cover | null = null;
  /** The decisions published on it, in order (a few: escalation steps). */
  readonly decided: Cover[] = [];
}

/** One address prefix, shared by its entries: its range decision, if any, is found through it. */
class PrefixRange {
  constructor(
    /** Its number in `VerdictBacktest.ranges` (entries found by text hold it: see E_RANGE). */
    readonly id: number,
    /** The number IPv4 clients find it by (see `VerdictBacktest.prefixNumber`); -1: none. */
    readonly number: number,
  ) {}

  cover: Cover | null = null;
  /** Its cover's active window, copied here: an active test reads one object, not two. */
  from = Number.NaN;
  until = Number.NaN;
  /** Its cover's serial (see E_RANGE_APPLIED). */
  version = 0;
}

/**
 * A fingerprint's inputs (the request headers it depends on, see DetectDeps.httpFingerprint) and
 * the fingerprint, shared by the entries whose last request had them: a request reads one column
 * and one record, where four columns (three inputs and the fingerprint) cost four cache misses.
 */
class FingerprintInputs {
  /**
   * The crawler its UA declares (null: none), asked of the classifier on the first request that
   * needs it: the declared-crawler report then costs a field read per request, not a classification.
   */
  crawler: string | null | undefined = undefined;
  /**
   * The fingerprint decision on its fingerprint (undefined: none), as found in the backtest's
   * decisions when they had stamp `decisionsStamp` (see `fingerprintStamps`): requests read it here
   * instead of probing the decisions by fingerprint text, until a fingerprint decision changes.
   * May hold a decision since revoked, until then (at most one per record).
   */
  decision: Cover | undefined = undefined;
  decisionsStamp = 0;

  constructor(
    readonly userAgent: string | null | undefined,
    readonly acceptLanguage: string | null,
    readonly headerOrder: string | null,
    readonly fingerprint: string,
  ) {}
}

/**
 * Stamps handed out for the fingerprint decisions of backtests, a new one at every change: unique
 * across backtests, since NO_FINGERPRINT_INPUTS is shared by them all (a record stamped by one
 * never matches another's stamp).
 */
let fingerprintStamps = 0;

/** Before an entry's first request: no fingerprint yet (a request always differs from it). */
const NO_FINGERPRINT_INPUTS = new FingerprintInputs(undefined, null, null, '');
NO_FINGERPRINT_INPUTS.crawler = null;

/** An unambiguous key for three optional texts (each null, or its length and text). */
function inputsKey(a: string | null, b: string | null, c: string | null): string {
  const part = (text: string | null) => (text === null ? '~' : `${text.length}:${text}`);
  return part(a) + part(b) + part(c);
}

/** Entries per page of the entry columns (pages are added as addresses arrive). */
const PAGE_BITS = 12;
const PAGE_MASK = (1 << PAGE_BITS) - 1;
// Numbers per entry, what a request reads (one row of 64 bytes, a cache line's size: a request's
// one cache miss on its entry brings all it reads). The six fields every request reads come
// first, the two read only by a request a range or fingerprint decision covers last: rows are not
// aligned to cache lines (a page's typed array starts 16 bytes past one when malloc maps it), and
// with the address decision's window last, reading it was a second cache miss per request (4 % of
// onRequest's samples in a perf profile of the replay). Requests; the flags below; the IPv4
// address's number (NaN: the address is another text, in the `ip` column).
const E_REQUESTS = 0;
const E_FLAGS = 1;
const E_IPV4 = 2;
// Its prefix's PrefixRange id (see onRequest): > 0 the id; 0 not looked up yet; -1 the address
// has no prefix; below -1, -(2 + n): no range decision named its prefix number while
// `rangesByNumber` held n prefixes.
const E_RANGE = 3;
// The active window of its address decision (when B_IP_COVER is set: read with the entry, not
// through the decision's object elsewhere on the heap).
const E_IP_FROM = 4;
const E_IP_UNTIL = 5;
// The serial of the range decision last applied to the entry for good (0: none; see `applied`).
const E_RANGE_APPLIED = 6;
// The serial of the fingerprint decision last applied to the entry for good (0: none).
const E_FP_APPLIED = 7;
const E_STRIDE = 8;
// Numbers per entry that only a decision applied for the first time reads (`applied`) and the
// verdicts: first covered time, first caught time (NaN: never). Kept out of the row above, which
// they would push past a cache line.
const T_DECIDED_AT = 0;
const T_CAUGHT_AT = 1;
const T_STRIDE = 2;
// Flags per entry (E_FLAGS): the strongest action's strength (low bits), the allowlist flag,
// whether an address decision is in its `ipCover` column (read only then: most entries never have
// one), and whether that decision was applied to the entry already (applying it again changes
// nothing: see `applied`), so a covered request need not read it.
const B_STRENGTH = 3;
const B_ALLOWLISTED = 4;
const B_IP_COVER = 8;
const B_IP_APPLIED = 16;

/**
 * One column of values by entry number, in pages of PAGE_MASK + 1 added as entries arrive: growing
 * allocates one small page and copies nothing (an array grown by push reallocates ~1.5× at each step,
 * and past 128 KB each copy lands straight in V8's old space as garbage).
 */
class Column<T> {
  private readonly pages: T[][] = [];

  constructor(private readonly initial: T) {}

  /** Makes room for entry `e` (entries are added in order). */
  add(e: number): void {
    if ((e & PAGE_MASK) === 0) this.pages.push(new Array<T>(PAGE_MASK + 1).fill(this.initial));
  }

  get(e: number): T {
    return this.pages[e >>> PAGE_BITS]![e & PAGE_MASK] as T;
  }

  set(e: number, value: T): void {
    this.pages[e >>> PAGE_BITS]![e & PAGE_MASK] = value;
  }
}

/**
 * The tracked addresses as columns, by entry number (first-seen order): no object and no boxed
 * times per address (an object per address cost ~190 B; the row and columns ~110 B).
 */
class Entries {
  size = 0;
  /** The rows of E_STRIDE numbers (E_REQUESTS …), a page per PAGE_MASK + 1 entries. */
  readonly numPages: Float64Array[] = [];
  /** The rows of T_STRIDE numbers (T_DECIDED_AT, T_CAUGHT_AT), paged alike. */
  readonly timePages: Float64Array[] = [];
  /**
   * The address text of entries that are not a canonical IPv4 address (those are a number in
   * E_IPV4, written back as the same text: ~40 B of string per address less, 100k per 1M lines).
   */
  readonly ip = new Column<string>('');
  /**
   * The decision keys that covered it: null until one did, the key itself while it is the only
   * one (most clients), then an exact-size array (an array grown by push reserves 17 slots).
   */
  readonly by = new Column<string | string[] | null>(null);
  /** The address decision on its address, if any (flagged by B_IP_COVER). */
  readonly ipCover = new Column<Cover | null>(null);
  /** The fingerprint's inputs as of its last request, and the fingerprint. */
  readonly fingerprintInputs = new Column<FingerprintInputs>(NO_FINGERPRINT_INPUTS);

  /**
   * Adds an entry for `ip` (a copy the entry may keep: used only when it is not IPv4), whose
   * ipv4Number is `ipv4` (negative: not a dotted quad).
   */
  add(ip: string, ipv4: number, allowlisted: boolean): number {
    const e = this.size++;
    const k = e & PAGE_MASK;
    if (k === 0) {
      this.numPages.push(new Float64Array((PAGE_MASK + 1) * E_STRIDE));
      this.timePages.push(new Float64Array((PAGE_MASK + 1) * T_STRIDE).fill(Number.NaN));
    }
    const num = this.numPages[e >>> PAGE_BITS]!;
    num[k * E_STRIDE + E_IPV4] = ipv4 < 0 ? Number.NaN : ipv4;
    num[k * E_STRIDE + E_FLAGS] = allowlisted ? B_ALLOWLISTED : 0;
    this.ip.add(e);
    this.by.add(e);
    this.ipCover.add(e);
    this.fingerprintInputs.add(e);
    if (ipv4 < 0) this.ip.set(e, ip);
    return e;
  }

  /** Sets (or with null clears) the address decision of entry `e`. */
  setIpCover(e: number, cover: Cover | null): void {
    this.ipCover.set(e, cover);
    const num = this.numPages[e >>> PAGE_BITS]!;
    const o = (e & PAGE_MASK) * E_STRIDE;
    const flags = num[o + E_FLAGS]! & ~(B_IP_COVER | B_IP_APPLIED);
    num[o + E_FLAGS] = cover === null ? flags : flags | B_IP_COVER;
    if (cover !== null) {
      num[o + E_IP_FROM] = cover.decidedAt;
      num[o + E_IP_UNTIL] = cover.expiresAt;
    }
  }

  /** The address of entry `e`, as it was added. */
  address(e: number): string {
    const ipv4 = this.numPages[e >>> PAGE_BITS]![(e & PAGE_MASK) * E_STRIDE + E_IPV4]!;
    return Number.isNaN(ipv4) ? this.ip.get(e) : formatIpv4(ipv4);
  }
}

/**
 * The verdict backtest: for every request, which decisions active at its event time cover it (its
 * address, its prefix's range, its fingerprint) — after the allowlist, which always wins, as at
 * the edge. Decisions are applied as they are published, so a request is judged only by what was
 * decided before it was processed, as in production.
 */
export class VerdictBacktest {
  /**
   * Address decisions live on their address's entry (`Entries.ipCover`): a request then finds its
   * decision by entry number instead of hashing its address text into a map of tens of thousands
   * of decisions (38 % of this function's time). This map holds only decisions on addresses with
   * no entry yet (the decider decides on addresses it has seen, so mostly none); the entry takes
   * them over when its first request arrives. None once the table is full (`maxClients`): no new
   * address gets an entry then.
   */
  private readonly pendingIpDecisions = new Map<string, PendingAddress>();
  /**
   * Prefix text → its PrefixRange, whose id entries found by text hold (E_RANGE): a request reads
   * its range decision through its entry instead of probing a map by prefix text. One per prefix of
   * a range decision or of a client found by text (see `rangesByNumber`; bounded with the clients
   * by `maxClients`); never dropped, since entries keep their ids.
   */
  private readonly prefixRanges = new Map<string, PrefixRange>();
  /** The PrefixRanges by id (from 1; bounded with `prefixRanges`). */
  private readonly ranges: PrefixRange[] = [new PrefixRange(0, -1)];
  /**
   * 1 for the PrefixRanges (by id) whose cover is set: a request tests its prefix's byte here and
   * reads the PrefixRange only when it is 1. Most PrefixRanges never have a cover (those of the
   * clients found by text, IPv6 ones); reading theirs through `ranges` was two cache misses, ~15 %
   * of onRequest's samples in a perf profile of the replay. Grown with `ranges`.
   */
  private rangeCovered = new Uint8Array(1024);
  /**
   * IPv4 prefix number (an address's first `ipv4PrefixBits` bits) → its PrefixRange, for the
   * prefixes a range decision named: a canonical IPv4 client finds its range decision here by
   * number, in a map of a few hundred prefixes, and never builds, hashes or keeps its prefix's text
   * (that cost 1.3 % of a replay's CPU, ~1 µs per new client, and ~100 B per prefix). Also holds
   * the prefixes of IPv4 clients found by text (see `unnumberedRanges`). Empty when
   * `ipv4PrefixBits` is not given: every client's prefix is then found by text, once per client.
   */
  private readonly rangesByNumber = new Map<number, PrefixRange>();
  private readonly ipv4PrefixShift: number;
  /** PrefixRanges whose cover is set (0: no request needs its prefix). */
  private activeRanges = 0;
  /**
   * Of those, the ones with no number (IPv6, or a text that is not how prefixOf writes an IPv4
   * prefix): while there are some, IPv4 clients find their prefix by text too, as others do.
   */
  private unnumberedRanges = 0;
  /** Covers made so far (the last one's serial). */
  private covers = 0;
  private readonly fingerprintDecisions = new Map<string, Cover>();
  /** Names `fingerprintDecisions` as it is now (see FingerprintInputs.decisionsStamp). */
  private fingerprintStamp = ++fingerprintStamps;
  /**
   * Address → entry number. An AddressIndex, not a `Map`: a dotted-quad IPv4 address is found by its
   * number in an Int32Array (no text hashed per request), and the index grows by whole typed arrays
   * instead of a `Map`'s hash tables (each regrowth past a few thousand entries left its old table
   * in V8's old space: ~3.5 MB of garbage plus ~3.5 MB of live table per 100k addresses).
   */
  private readonly clients = new AddressIndex();
  private readonly entries = new Entries();
  private readonly maxClients: number;
  private readonly sharedStrings = new SharedStrings(SHARED_STRINGS);
  /** Inputs by `inputsKey`; all forgotten when full (records handed out stay valid, just unshared). */
  private readonly sharedInputs = new Map<string, FingerprintInputs>();
  /**
   * The last of those found or made per user agent (its shared copy), tried first: the UA is hashed
   * as the request has it, where the key of all three inputs is built, copied flat and hashed
   * (most clients vary only their UA: combined logs have no other input). Cleared with
   * `sharedInputs`, so at most as many.
   */
  private readonly inputsByUserAgent = new Map<string, FingerprintInputs>();
  /**
   * The declared crawlers whose address their crawler's ranges do not verify, by address, in the
   * order found: at most MAX_UNVERIFIED_CRAWLERS. Probed only by requests that declare a crawler.
   */
  private readonly unverified = new Map<string, UnverifiedCrawler>();
  private readonly classifyUserAgent: DetectDeps['classifyUserAgent'];
  private readonly verifyCrawlerClaim: DetectDeps['verifyCrawlerClaim'];
  /** Requests from addresses beyond `maxClients` (not tracked). */
  overflow = 0;
  /**
   * Requests per minute of log time, and how many of them a decision covered at that moment: the
   * report's "human vs bot traffic over time". Bounded: one entry per minute of log time, at most
   * `MAX_TIMELINE_MINUTES` (about 70 days); later minutes are not charted.
   */
  private readonly timeline = new Map<number, { requests: number; flagged: number }>();
  /** The minute of the last request and its bucket (undefined when past the timeline's bound). */
  private minuteStart = Number.NaN;
  private minuteBucket: { requests: number; flagged: number } | undefined = undefined;

  constructor(private readonly options: BacktestOptions) {
    this.maxClients = options.maxClients ?? 5_000_000;
    this.ipv4PrefixShift = ipv4PrefixShift(options.ipv4PrefixBits);
    this.classifyUserAgent = options.classifyUserAgent ?? classifyUserAgent;
    this.verifyCrawlerClaim = options.verifyCrawlerClaim ?? verifyCrawlerClaim;
  }

  get trackedClients(): number {
    return this.clients.size;
  }

  /** A decision (or its tombstone) as published on the decisions topic. */
  onDecision(key: string, decision: Decision | null): void {
    const colon = key.indexOf(':');
    // The decision's own value (the decider's copy), not a slice of the key kept alongside it.
    const value =
      decision !== null && typeof decision.value === 'string' ? decision.value : key.slice(colon + 1);
    const cover =
      decision === null
        ? null
        : new Cover(
            decision.key,
            actionStrength(decision.action),
            decision.decidedAt,
            decision.expiresAt,
            ++this.covers,
          );
    if (key.startsWith('ip:')) {
      // AddressIndex finds an entry by the same text a map would (see `clients`).
      const e = this.clients.get(value);
      if (e !== undefined) {
        this.entries.setIpCover(e, cover);
        if (cover !== null) this.decidedOn(e, cover);
        return;
      }
      let pending = this.pendingIpDecisions.get(value);
      if (pending === undefined) {
        if (cover === null || this.clients.size >= this.maxClients) return;
        pending = new PendingAddress();
        this.pendingIpDecisions.set(value, pending);
      }
      pending.cover = cover;
      if (cover !== null) pending.decided.push(cover);
      return;
    }
    if (key.startsWith('range:')) {
      const range = cover === null ? this.prefixRanges.get(value) : this.prefixRange(value);
      if (range === undefined) return;
      const change = (cover !== null ? 1 : 0) - (range.cover !== null ? 1 : 0);
      this.activeRanges += change;
      if (range.number < 0) this.unnumberedRanges += change;
      range.cover = cover;
      this.rangeCovered[range.id] = cover !== null ? 1 : 0;
      if (cover !== null) {
        range.from = cover.decidedAt;
        range.until = cover.expiresAt;
        range.version = cover.serial;
      }
      return;
    }
    if (cover === null) this.fingerprintDecisions.delete(value);
    else this.fingerprintDecisions.set(value, cover);
    this.fingerprintStamp = ++fingerprintStamps;
  }

  /** The PrefixRange of `prefix`, added if new. */
  private prefixRange(prefix: string): PrefixRange {
    let range = this.prefixRanges.get(prefix);
    if (range === undefined) {
      range = new PrefixRange(this.ranges.length, this.prefixNumber(prefix));
      this.ranges.push(range);
      if (range.id === this.rangeCovered.length) {
        const grown = new Uint8Array(2 * range.id);
        grown.set(this.rangeCovered);
        this.rangeCovered = grown;
      }
      // A copy: the text may be a slice of a message the map must not keep alive.
      this.prefixRanges.set(detachString(prefix), range);
      if (range.number >= 0) this.rangesByNumber.set(range.number, range);
    }
    return range;
  }

  /**
   * The number of an IPv4 prefix text (the first `ipv4PrefixBits` bits of its address), or -1
   * unless the text is exactly what prefixOf gives for its own address: then, by the contract of
   * DetectDeps.ipv4PrefixBits, it is the prefix of every canonical IPv4 address with that number.
   */
  private prefixNumber(prefix: string): number {
    const slash = prefix.indexOf('/');
    if (this.ipv4PrefixShift < 0 || slash < 0) return -1;
    const address = prefix.slice(0, slash);
    const ipv4 = ipv4Number(address);
    return ipv4 < 0 || this.options.prefixOf(address) !== prefix
      ? -1
      : ipv4PrefixNumber(ipv4, this.ipv4PrefixShift);
  }

  /**
   * One request as published on access-logs (a malformed message is ignored; the profiler counts
   * it). `slots`: the profiler that observed the request, where the backtest keeps its entry
   * number + 1 per client (see SlotAttachments), so that it finds the entry without a second
   * address lookup; the entry is looked up by address when `slots` is null or has none.
   */
  onRequest(log: AccessLog | null, slots: SlotAttachments | null = null): void {
    if (log === null || typeof log !== 'object' || typeof log.clientAddress !== 'string') return;
    const address = log.clientAddress;
    const slot = slots === null ? -1 : slots.slotOf(log);
    const attached = slot < 0 ? 0 : slots!.attachment(slot);
    let e = attached > 0 ? attached - 1 : this.clients.get(address);
    const entries = this.entries;
    if (e === undefined) {
      if (this.clients.size >= this.maxClients) {
        this.overflow++;
        // No entry to keep its claim on: classified per request.
        const crawler = this.crawlerOf(log.userAgent);
        if (crawler !== null) this.noteCrawler(address, crawler);
        return;
      }
      // A copy: the address is a slice of the log line, which the entry must not keep alive.
      const ipv4 = ipv4Number(address);
      const ip = ipv4 < 0 ? detachString(address) : address;
      e = entries.add(ip, ipv4, this.options.allowlist.hasIpv4(ipv4, ip));
      this.clients.set(ip, e);
      if (this.pendingIpDecisions.size > 0) {
        const pending = this.pendingIpDecisions.get(ip);
        if (pending !== undefined) {
          if (pending.cover !== null) entries.setIpCover(e, pending.cover);
          for (const cover of pending.decided) this.decidedOn(e, cover);
          this.pendingIpDecisions.delete(ip);
        }
      }
    }
    // Found by address (known or new): kept in the profiler's slot for the client's next requests.
    if (slot >= 0 && attached === 0) slots!.setAttachment(slot, e + 1);
    const num = entries.numPages[e >>> PAGE_BITS]!;
    const o = (e & PAGE_MASK) * E_STRIDE;
    num[o + E_REQUESTS]!++;
    const t = log.time;
    // Requests arrive roughly in time order: most fall in the minute of the previous one, which
    // spares a map probe on a heap-number key per request.
    let bucket: { requests: number; flagged: number } | undefined;
    if (t >= this.minuteStart && t < this.minuteStart + 60_000) {
      bucket = this.minuteBucket;
    } else {
      const minute = t - (t % 60_000);
      bucket = this.timeline.get(minute);
      if (bucket === undefined && this.timeline.size < MAX_TIMELINE_MINUTES) {
        bucket = { requests: 0, flagged: 0 };
        this.timeline.set(minute, bucket);
      }
      this.minuteStart = minute;
      this.minuteBucket = bucket;
    }
    if (bucket !== undefined) bucket.requests++;
    // The entry's headers as of this request: what fingerprint decisions and crawler claims go by.
    let inputs = entries.fingerprintInputs.get(e);
    if (
      log.userAgent !== inputs.userAgent ||
      log.acceptLanguage !== inputs.acceptLanguage ||
      log.headerOrder !== inputs.headerOrder
    ) {
      inputs = this.fingerprintInputsOf(log);
      entries.fingerprintInputs.set(e, inputs);
    }
    let crawler = inputs.crawler;
    if (crawler === undefined) {
      crawler = this.crawlerOf(inputs.userAgent);
      inputs.crawler = crawler;
    }
    if (crawler !== null) this.noteCrawler(address, crawler);
    const flags = num[o + E_FLAGS]!;
    if ((flags & B_ALLOWLISTED) !== 0) return;
    let covered = false;
    // Whether a decision is active at `t` (a time that is not a number counts as active), then
    // `applied` once per client and decision: a covered request mostly reads no decision at all.
    // Its times are read and compared on every request: done only for a covered client, a first
    // address decision late in a run would deoptimise this function.
    const ipFrom = num[o + E_IP_FROM]!;
    const ipUntil = num[o + E_IP_UNTIL]!;
    const ipActive = !(t < ipFrom || t >= ipUntil);
    if ((flags & B_IP_COVER) !== 0 && ipActive) {
      covered = true;
      if ((flags & B_IP_APPLIED) === 0 && this.applied(e, entries.ipCover.get(e)!, t)) {
        num[o + E_FLAGS] = num[o + E_FLAGS]! | B_IP_APPLIED;
      }
    }
    if (this.activeRanges > 0) {
      const ipv4 = num[o + E_IPV4]!;
      let id = num[o + E_RANGE]!;
      if (this.unnumberedRanges === 0 && this.ipv4PrefixShift >= 0 && !Number.isNaN(ipv4)) {
        // By number. A prefix found once is its PrefixRange for good (prefixes are never dropped);
        // one not found stays unknown until `rangesByNumber` grows: the map is probed once per
        // entry and new prefix, not per request.
        const unknown = -2 - this.rangesByNumber.size;
        if (id <= 0 && id !== unknown) {
          id = this.rangesByNumber.get(ipv4PrefixNumber(ipv4, this.ipv4PrefixShift))?.id ?? unknown;
          num[o + E_RANGE] = id;
        }
      } else if (id === 0 || id < -1) {
        // By text. Found by number or by text, an IPv4 entry's prefix is one PrefixRange, by the
        // contract of DetectDeps.ipv4PrefixBits (see `prefixNumber`).
        const prefix = this.options.prefixOf(address);
        id = prefix === null ? -1 : this.prefixRange(prefix).id;
        num[o + E_RANGE] = id;
      }
      if (id > 0 && this.rangeCovered[id] === 1) {
        const range = this.ranges[id]!;
        // As for the address decision above.
        if (!(t < range.from || t >= range.until)) {
          covered = true;
          if (num[o + E_RANGE_APPLIED] !== range.version && this.applied(e, range.cover!, t)) {
            num[o + E_RANGE_APPLIED] = range.version;
          }
        }
      }
    }
    if (this.fingerprintDecisions.size > 0) {
      if (inputs.decisionsStamp !== this.fingerprintStamp) {
        inputs.decision = this.fingerprintDecisions.get(inputs.fingerprint);
        inputs.decisionsStamp = this.fingerprintStamp;
      }
      const d = inputs.decision;
      // As for the address and range decisions: a swarm's requests on one fingerprint decision
      // apply it once per client, not once per request.
      if (d !== undefined && !(t < d.decidedAt || t >= d.expiresAt)) {
        covered = true;
        if (num[o + E_FP_APPLIED] !== d.serial && this.applied(e, d, t)) num[o + E_FP_APPLIED] = d.serial;
      }
    }
    if (covered && bucket !== undefined) bucket.flagged++;
  }

  /** The crawler `userAgent` declares; null when it declares none (or is no text: a malformed message). */
  private crawlerOf(userAgent: unknown): string | null {
    if (!isOptionalText(userAgent)) return null;
    const ua = this.classifyUserAgent(userAgent);
    return ua.kind === 'crawler' && ua.crawler ? ua.crawler : null;
  }

  /** Counts a request from `address` that declares `crawler`, verifying the address on its first one. */
  private noteCrawler(address: string, crawler: string): void {
    const known = this.unverified.get(address);
    if (known !== undefined) {
      known.requests++;
      return;
    }
    if (this.unverified.size >= MAX_UNVERIFIED_CRAWLERS) return;
    if (this.verifyCrawlerClaim(crawler, address) === 'unverified') {
      // A copy: the address is a slice of the log line, which the report must not keep alive.
      const ip = detachString(address);
      this.unverified.set(ip, { ip, crawler, requests: 1 });
    }
  }

  /**
   * The addresses that declared a crawler its published ranges do not verify, with their requests
   * that declared one, in the order found (the first MAX_UNVERIFIED_CRAWLERS).
   */
  unverifiedCrawlers(): UnverifiedCrawler[] {
    return [...this.unverified.values()];
  }

  /** The shared FingerprintInputs of `log`'s headers (computing the fingerprint once per distinct inputs). */
  private fingerprintInputsOf(log: AccessLog): FingerprintInputs {
    const { userAgent, acceptLanguage, headerOrder } = log;
    const valid = isOptionalText(userAgent) && isOptionalText(acceptLanguage) && isOptionalText(headerOrder);
    // A malformed message's record is not shared (its fields are not what a key describes).
    if (!valid)
      return new FingerprintInputs(userAgent, acceptLanguage, headerOrder, this.options.httpFingerprint(log));
    if (userAgent) {
      const last = this.inputsByUserAgent.get(userAgent);
      if (last !== undefined && last.acceptLanguage === acceptLanguage && last.headerOrder === headerOrder)
        return last;
    }
    const key = inputsKey(userAgent, acceptLanguage, headerOrder);
    let inputs = this.sharedInputs.get(key);
    if (inputs === undefined) {
      const strings = this.sharedStrings;
      inputs = new FingerprintInputs(
        strings.getOptional(userAgent),
        strings.getOptional(acceptLanguage),
        strings.getOptional(headerOrder),
        this.options.httpFingerprint(log),
      );
      if (this.sharedInputs.size >= SHARED_FINGERPRINT_INPUTS) {
        this.sharedInputs.clear();
        this.inputsByUserAgent.clear();
      }
      // A copy of the key: built from slices of the log line, which the map must not keep alive.
      this.sharedInputs.set(detachString(key), inputs);
    }
    if (inputs.userAgent) this.inputsByUserAgent.set(inputs.userAgent, inputs);
    return inputs;
  }

  /**
   * Applies a decision active at `t` (the caller tested it) to entry `e`; whether it is applied for
   * good: applying it again would change nothing (its times are written — a time that is not a
   * number writes none — and its key is in `by` or `by` is full), so the caller need not again.
   */
  private applied(e: number, decision: Cover, t: number): boolean {
    const times = this.entries.timePages[e >>> PAGE_BITS]!;
    const to = (e & PAGE_MASK) * T_STRIDE;
    if (Number.isNaN(times[to + T_DECIDED_AT]!)) times[to + T_DECIDED_AT] = t;
    if (decision.strength >= 2 && Number.isNaN(times[to + T_CAUGHT_AT]!)) times[to + T_CAUGHT_AT] = t;
    this.strengthen(e, decision);
    return (
      !Number.isNaN(times[to + T_DECIDED_AT]!) &&
      (decision.strength < 2 || !Number.isNaN(times[to + T_CAUGHT_AT]!))
    );
  }

  /**
   * Applies an address decision to its address's entry `e` as of the decision's own time: the
   * address is covered from its decidedAt on, whether or not it sends again (an address the
   * allowlist holds is not: it always wins). Its requests still set `caughtAt` (see `applied`).
   */
  private decidedOn(e: number, decision: Cover): void {
    const entries = this.entries;
    const flags = entries.numPages[e >>> PAGE_BITS]![(e & PAGE_MASK) * E_STRIDE + E_FLAGS]!;
    if (decision.strength === 0 || (flags & B_ALLOWLISTED) !== 0) return;
    const times = entries.timePages[e >>> PAGE_BITS]!;
    const to = (e & PAGE_MASK) * T_STRIDE + T_DECIDED_AT;
    // A time that is not a number writes none, as in `applied`.
    if (decision.decidedAt < times[to]! || Number.isNaN(times[to]!)) times[to] = decision.decidedAt;
    this.strengthen(e, decision);
  }

  /** Raises entry `e`'s verdict to `decision`'s action and notes its key (at most MAX_KEYS_PER_CLIENT). */
  private strengthen(e: number, decision: Cover): void {
    const entries = this.entries;
    const num = entries.numPages[e >>> PAGE_BITS]!;
    const o = (e & PAGE_MASK) * E_STRIDE;
    const flags = num[o + E_FLAGS]!;
    if (decision.strength > (flags & B_STRENGTH))
      num[o + E_FLAGS] = (flags & ~B_STRENGTH) | decision.strength;
    const by = entries.by.get(e);
    if (by === null) entries.by.set(e, decision.key);
    else if (typeof by === 'string') {
      if (by !== decision.key) entries.by.set(e, [by, decision.key]);
    } else if (by.length < MAX_KEYS_PER_CLIENT && !by.includes(decision.key)) {
      entries.by.set(e, by.concat(decision.key));
    }
  }

  /** Requests per minute (epoch ms of the minute), oldest first. */
  timelineByMinute(): { minute: number; requests: number; flagged: number }[] {
    return [...this.timeline.entries()].sort((a, b) => a[0] - b[0]).map(([minute, b]) => ({ minute, ...b }));
  }

  *verdicts(): Iterable<ClientVerdict> {
    const entries = this.entries;
    for (let e = 0; e < entries.size; e++) {
      const num = entries.numPages[e >>> PAGE_BITS]!;
      const o = (e & PAGE_MASK) * E_STRIDE;
      const times = entries.timePages[e >>> PAGE_BITS]!;
      const decidedAt = times[(e & PAGE_MASK) * T_STRIDE + T_DECIDED_AT]!;
      const caughtAt = times[(e & PAGE_MASK) * T_STRIDE + T_CAUGHT_AT]!;
      yield {
        ip: entries.address(e),
        requests: num[o + E_REQUESTS]!,
        verdict: STRENGTH_VERDICTS[num[o + E_FLAGS]! & B_STRENGTH]!,
        decidedAt: Number.isNaN(decidedAt) ? null : decidedAt,
        caughtAt: Number.isNaN(caughtAt) ? null : caughtAt,
        by: keysOf(entries.by.get(e)),
      };
    }
  }
}

function keysOf(by: string | string[] | null): string[] {
  if (by === null) return [];
  return typeof by === 'string' ? [by] : [...by];
}

function isOptionalText(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}
