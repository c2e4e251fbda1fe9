import type { Signal } from '@edgeguard/schema';
import type { DetectConfig } from './config.js';

/**
 * Per-client features and the rules over them. The profiler keeps each client's decayed counters in
 * one Float64Array pool at `offset`; this module names the slots, scores a client without
 * allocating, and builds the evidence (`Signal`s) only when a signal is actually sent.
 */

// Medium window (τ = windows.mediumMs): the main behaviour window.
export const M_REQUESTS = 0;
export const M_PAGES = 1;
export const M_ASSETS = 2;
export const M_REPEATS = 3;
export const M_BUSTS = 4;
export const M_ERRORS = 5;
export const M_LOGIN_POSTS = 6;
export const M_AUTH_FAILURES = 7;
export const M_SENSITIVE = 8;
/** Busts counted at full weight, confirmed or not (for the share; M_BUSTS is weighted). */
export const M_BUST_ATTEMPTS = 9;
// Short window (τ = windows.shortMs): burst rate.
export const S_REQUESTS = 10;
// Long window (τ = windows.longMs): habits and human-looking evidence.
export const L_REQUESTS = 11;
export const L_PAGES = 12;
export const L_ASSETS = 13;
export const L_ASSETS_WITH_REFERER = 14;
export const L_PAGES_WITH_REFERER = 15;
/** Float64 slots per client. */
export const COUNTER_STRIDE = 16;
export const MEDIUM_END = 10;
export const SHORT_END = 11;

/**
 * The rules, in reason-priority order (ties in points go to the earlier rule). The last three
 * (ua-mismatch, no-referer, timing-regularity) are supporting evidence: they add to a primary
 * rule's points but never decide alone.
 */
export const RULES = [
  { reason: 'credential-stuffing', signal: 'authFailures' },
  { reason: 'scanner', signal: 'sensitiveHits' },
  { reason: 'fake-crawler', signal: 'unverifiedCrawlerRequests' },
  { reason: 'cache-bust', signal: 'cacheBustRatio' },
  { reason: 'repetition', signal: 'repetitionRatio' },
  { reason: 'scraper', signal: 'newPages' },
  { reason: 'scanner', signal: 'errorRatio' },
  { reason: 'flood', signal: 'requestsPerSecond' },
  { reason: 'scanner', signal: 'scannerUserAgentRequests' },
  { reason: 'ua-mismatch', signal: 'assetShare' },
  { reason: 'no-referer', signal: 'refererShare' },
  { reason: 'timing-regularity', signal: 'interArrivalVariation' },
] as const;
const R_CREDENTIAL = 0;
const R_SCANNER = 1;
const R_FAKE_CRAWLER = 2;
const R_BUST = 3;
const R_REPETITION = 4;
const R_SCRAPER = 5;
const R_ERRORS = 6;
const R_FLOOD = 7;
const R_SCANNER_TOOL = 8;
const R_UA_MISMATCH = 9;
const R_NO_REFERER = 10;
const R_TIMING = 11;
const RULE_COUNT = RULES.length;
/** `none`, then each rule's reason: by `reasonRule + 1`. */
const REASONS: readonly string[] = ['none', ...RULES.map((rule) => rule.reason)];
/** Rules from this index on are supporting evidence only. */
const FIRST_SUPPORTING_RULE = R_UA_MISMATCH;
/** The bits of the primary rules (a constant: computed in place it is arithmetic a late branch meets). */
const PRIMARY_RULES = (1 << FIRST_SUPPORTING_RULE) - 1;

/** What the profiler knows about a client beyond its counters. */
export interface ClientTraits {
  /** The UA claims a browser. */
  browserClaim: boolean;
  /** The UA claims a crawler its published ranges do not confirm. */
  unverifiedCrawler: boolean;
  /** The UA names a vulnerability scanner or fuzzer (`client.scanner.toolFamilies`). */
  scannerTool: boolean;
  /** Inter-arrival statistics (ms): exponentially weighted mean and variance, and how many. */
  interArrivalMean: number;
  interArrivalVariance: number;
  interArrivals: number;
}

/** Reused result of scoring one client: no allocation per evaluation. */
export class ClientScore {
  /**
   * A double from the start (-0 is not a small integer; every scoring sets it): the first
   * fractional score (supporting rules add 0.5) otherwise changed this field, and the client
   * signals built from it, from small integer to double late in a run, deoptimising every
   * function that had seen the old shapes (the decider's input handling, onClient, the stage).
   */
  score = -0;
  /** Index into RULES of the strongest rule, -1 when none fired. */
  reasonRule = -1;
  humanLooking = false;
  /**
   * Bit r set: rule r (index into RULES) counts in the score. Only those rules' entries in
   * `points`, `values` and `thresholds` belong to the last scoring: the others are left as they
   * were, so scoring a client that fires nothing (most evaluations) writes none of the arrays.
   */
  fired = 0;
  readonly points = new Float64Array(RULE_COUNT);
  readonly values = new Float64Array(RULE_COUNT);
  readonly thresholds = new Float64Array(RULE_COUNT);

  get reason(): string {
    // One load whichever rule (or none): a branch for `none` left the rules' path without type
    // feedback in an evaluation optimised before any rule fired.
    return REASONS[this.reasonRule + 1]!;
  }

  /** The evidence: every rule that contributed, with its value and threshold, plus context. */
  signals(v: Float64Array, offset: number): Signal[] {
    // Sized exactly: the array lives as long as the decision it explains (tens of thousands of
    // them), and an array grown by push reserves room for 17 elements.
    let fired = 0;
    for (let r = 0; r < RULE_COUNT; r++) fired += this.counts(r) ? 1 : 0;
    const out = new Array<Signal>(fired + 1);
    let k = 0;
    for (let r = 0; r < RULE_COUNT; r++) {
      if (this.counts(r)) {
        out[k++] = { name: RULES[r]!.signal, value: round(this.values[r]!), threshold: this.thresholds[r]! };
      }
    }
    // `threshold` on every entry, undefined where none (serialised as absent): a client's first
    // signal with a rule in it otherwise met the decider's optimised code as a new object shape.
    out[k] = { name: 'requestsPerMinute', value: round(v[offset + M_REQUESTS]!), threshold: undefined };
    return out;
  }

  /** Whether rule `r` counts with points (> 0). */
  private counts(r: number): boolean {
    // Both read on every call (see scoreClient).
    const positive = this.points[r]! > 0;
    return (this.fired & (1 << r)) !== 0 && positive;
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * Scores one client from its counters (`v` at `offset`) and traits into `out`. Each rule that fires
 * adds its points; the rule with the most points names the reason.
 *
 * Every rule reads its settings, computes its value and condition and calls `fireIf` on every
 * call, whether it fires or not (`pick` chooses between values read both, and a condition joins
 * with `&&` only comparisons already made, after its first): a rule that first fires
 * late in a run would otherwise reach loads, arithmetic and a call the optimised code has no type
 * feedback for, and deoptimise it (it was recompiled about ten times a run, once per such rule).
 */
export function scoreClient(
  v: Float64Array,
  offset: number,
  traits: ClientTraits,
  config: DetectConfig,
  shortMs: number,
  out: ClientScore,
): void {
  const c = config.client;
  out.fired = 0;
  const requests = v[offset + M_REQUESTS]!;
  const pages = v[offset + M_PAGES]!;
  const assets = v[offset + M_ASSETS]!;
  const assetShare = requests > 0 ? assets / requests : 0;
  const longRequests = v[offset + L_REQUESTS]!;
  const longPages = v[offset + L_PAGES]!;
  const longAssets = v[offset + L_ASSETS]!;
  const browserClaim = traits.browserClaim;

  const hum = c.human;
  const humanAssets = longAssets >= hum.minAssets;
  const humanShare = longAssets >= hum.minAssetShare * longRequests;
  const humanReferers = v[offset + L_ASSETS_WITH_REFERER]! >= hum.minAssetRefererShare * longAssets;
  const human = browserClaim && humanAssets && humanShare && humanReferers;
  out.humanLooking = human;

  // Credential stuffing: failed logins.
  const cred = c.credentialStuffing;
  const failures = v[offset + M_AUTH_FAILURES]!;
  const failureRatio = failures >= cred.minFailureRatio * v[offset + M_LOGIN_POSTS]!;
  fireIf(
    out,
    R_CREDENTIAL,
    failures >= cred.minFailures && failureRatio,
    cred.points,
    failures,
    cred.minFailures,
  );

  // Scanner: sensitive probes (counted on paths new to the client, so ≈ distinct probes).
  const scan = c.scanner;
  const sensitive = v[offset + M_SENSITIVE]!;
  const scanStrong = sensitive >= scan.strongHits;
  fireIf(
    out,
    R_SCANNER,
    sensitive >= scan.minHits,
    pick(scanStrong, scan.strongPoints, scan.points),
    sensitive,
    pick(scanStrong, scan.strongHits, scan.minHits),
  );

  // Scanner by name: a UA that declares a vulnerability scanner or fuzzer.
  fireIf(
    out,
    R_SCANNER_TOOL,
    traits.scannerTool && requests >= scan.toolMinRequests,
    scan.strongPoints,
    requests,
    scan.toolMinRequests,
  );

  // Fake crawler: claims a crawler its ranges deny, at volume.
  const fake = c.fakeCrawler;
  const fakeVolume = requests >= fake.minRequests;
  fireIf(
    out,
    R_FAKE_CRAWLER,
    traits.unverifiedCrawler && fakeVolume,
    fake.points,
    requests,
    fake.minRequests,
  );

  // Cache-busting: new query strings on known paths, not answered by the cache. The count is
  // weighted (busts the log cannot confirm as misses count for less), the share is not.
  const cb = c.cacheBust;
  const busts = v[offset + M_BUSTS]!;
  const bustAttempts = v[offset + M_BUST_ATTEMPTS]!;
  const bustShare = bustAttempts >= cb.minRatio * requests;
  fireIf(
    out,
    R_BUST,
    busts >= cb.minBusts && bustShare,
    pick(busts >= cb.strongBusts, cb.strongPoints, cb.points),
    bustAttempts / requests,
    cb.minRatio,
  );

  // Error ratio: path guessing (4xx on most requests).
  const errors = v[offset + M_ERRORS]!;
  const errorShare = errors >= scan.minErrorRatio * requests;
  fireIf(
    out,
    R_ERRORS,
    requests >= scan.minErrorRequests && errorShare && !human,
    scan.errorPoints,
    errors / requests,
    scan.minErrorRatio,
  );

  // The rules below never fire for a human-looking client.
  // Repetition: the same few URLs again and again, no assets.
  const repeats = v[offset + M_REPEATS]!;
  const rep = c.repetition;
  const repeatShare = repeats >= rep.minRatio * requests;
  const repeatAssets = assetShare <= rep.maxAssetShare;
  fireIf(
    out,
    R_REPETITION,
    requests >= rep.minRequests && repeatShare && repeatAssets && !human,
    pick(requests >= rep.strongRequests, rep.strongPoints, rep.points),
    repeats / requests,
    rep.minRatio,
  );

  // Scraper: many new pages, no assets. Both thresholds compare new pages, the value the evidence
  // names (the lower one compared all pages, and a client with 29 new pages of 30 was reported
  // as 29 against 29.5).
  const newPages = pages - Math.min(pages, repeats);
  const scr = c.scraper;
  const scrapeShare = newPages >= scr.minNewPathShare * pages;
  const scrapeAssets = assetShare <= scr.maxAssetShare;
  const scrapeStrong = newPages >= scr.strongPages;
  fireIf(
    out,
    R_SCRAPER,
    newPages >= scr.minPages && scrapeShare && scrapeAssets && !human,
    pick(scrapeStrong, scr.strongPoints, scr.points),
    newPages,
    pick(scrapeStrong, scr.strongPages, scr.minPages),
  );

  // Flood: burst rate.
  const rate = v[offset + S_REQUESTS]! / (shortMs / 1000);
  fireIf(
    out,
    R_FLOOD,
    rate >= c.flood.minRatePerSecond && !human,
    c.flood.points,
    rate,
    c.flood.minRatePerSecond,
  );

  // Supporting evidence: a browser claim without browser behaviour.
  const bwa = c.browserWithoutAssets;
  const bwaPages = longPages >= bwa.minPages;
  const bwaAssets = longAssets <= bwa.maxAssetShare * longRequests;
  fireIf(
    out,
    R_UA_MISMATCH,
    !human && browserClaim && bwaPages && bwaAssets,
    bwa.points,
    longRequests > 0 ? longAssets / longRequests : 0,
    bwa.maxAssetShare,
  );
  const nr = c.noReferer;
  const pagesWithReferer = v[offset + L_PAGES_WITH_REFERER]!;
  const fewReferers = pagesWithReferer <= nr.maxRefererShare * longPages;
  fireIf(
    out,
    R_NO_REFERER,
    longPages >= nr.minPages && fewReferers && !human,
    nr.points,
    pagesWithReferer / longPages,
    nr.maxRefererShare,
  );
  const tr = c.timingRegularity;
  const mean = traits.interArrivalMean;
  const variation = Math.sqrt(traits.interArrivalVariance) / mean;
  const regular = variation <= tr.maxVariation;
  const positiveMean = mean > 0;
  fireIf(
    out,
    R_TIMING,
    traits.interArrivals >= tr.minIntervals && positiveMean && regular && !human,
    tr.points,
    variation,
    tr.maxVariation,
  );

  // Supporting evidence strengthens a primary rule; alone it decides nothing (an uptime monitor
  // is regular and sends no referer, and that is fine).
  // Rules that did not fire have no points: adding them added zeros, so the score sums the
  // fired rules' points (in rule order, as before), and a client that fires nothing scores 0 with
  // no loop over the rules.
  let fired = out.fired;
  let score = 0;
  let best = -1;
  if (fired !== 0) {
    const points = out.points;
    let primary = false;
    for (let r = 0; r < FIRST_SUPPORTING_RULE; r++) {
      if ((fired & (1 << r)) !== 0 && points[r]! > 0) primary = true;
    }
    // (Masked on every call, by all ones when a primary rule counts: see above.)
    fired &= primary ? -1 : PRIMARY_RULES;
    let bestPoints = 0;
    for (let r = 0; r < RULE_COUNT; r++) {
      if ((fired & (1 << r)) === 0) continue;
      const p = points[r]!;
      score += p;
      if (p > bestPoints) {
        best = r;
        bestPoints = p;
      }
    }
    out.fired = fired;
  }
  out.score = score;
  out.reasonRule = best;
}

/** `when ? a : b` of two values both already read (see scoreClient). */
function pick(when: boolean, a: number, b: number): number {
  return when ? a : b;
}

function fireIf(
  out: ClientScore,
  rule: number,
  when: boolean,
  points: number,
  value: number,
  threshold: number,
): void {
  if (!when) return;
  out.fired |= 1 << rule;
  out.points[rule] = points;
  out.values[rule] = value;
  out.thresholds[rule] = threshold;
}
