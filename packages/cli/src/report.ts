import { formatGoDuration } from '@edgeguard/config';
import { CRAWLER_RANGES_DATE } from '@edgeguard/fingerprint';
import { actionStrength } from '@edgeguard/schema';
import type { KeptDecision } from './kept-decisions.js';
import { policyRecord, type ReplayResult, type UnverifiedCrawler } from './replay.js';

/** The `--report` JSON: what an operator needs to answer "who are the bots, what do they do, what should change". */
export function buildReport(result: ReplayResult) {
  const { byVerdict } = result.verdicts;
  // The latest decision per key explains each offender (later versions escalate earlier ones).
  const latest = result.decisions;
  const count = (pick: (d: KeptDecision) => string) => {
    const out: Record<string, number> = {};
    for (const d of latest.values()) out[pick(d)] = (out[pick(d)] ?? 0) + 1;
    return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]));
  };

  const topOffenders = result.verdicts.top.map((v) => {
    const explained = v.by.map((key) => latest.get(key)).filter((d): d is KeptDecision => d !== undefined);
    const strongest = explained.sort(
      (a, b) => actionStrength(b.action) - actionStrength(a.action) || b.score - a.score,
    )[0];
    return {
      ip: v.ip,
      requests: v.requests,
      verdict: v.verdict,
      decidedAt: v.decidedAt === null ? null : new Date(v.decidedAt).toISOString(),
      by: v.by,
      reason: strongest?.reason ?? null,
      signals: strongest?.signals ?? [],
    };
  });

  return {
    input: {
      file: result.input,
      format: result.format,
      lines: result.lines,
      parsed: result.parsed,
      rejected: result.rejects.total,
      blank: result.blank,
      fieldsCut: result.fieldCuts.total,
      cutShort: result.cutShort,
      interruptedAfterLines: result.interruptedAfterLines,
      from: result.firstEventTime === null ? null : new Date(result.firstEventTime).toISOString(),
      to: result.lastEventTime === null ? null : new Date(result.lastEventTime).toISOString(),
    },
    eventTime: eventTimeReport(result),
    run: {
      wallSeconds: result.wallMs / 1000,
      linesPerSecond: Math.round(result.lines / Math.max(result.wallMs / 1000, 0.001)),
      peakRssMB: Math.round(result.peakRssBytes / 1048576),
    },
    clients: { total: result.verdicts.clients, requests: result.verdicts.requests, byVerdict },
    decisions: {
      published: result.decisionsPublished,
      keys: latest.size,
      // The report keeps at most keysLimit keys in memory; notKept decisions of later keys are in
      // --decisions but not in keys, byReason, byAction or byScope.
      keysLimit: result.decisionsKeyLimit,
      notKept: result.decisionsNotKept,
      byReason: count((d) => d.reason),
      byAction: count((d) => d.action),
      byScope: count((d) => d.scope),
    },
    topOffenders,
    cachePolicies: result.policies.map(policyRecord),
    cachePolicyUpdates: result.policyUpdates,
    alerts: result.alerts,
    unverifiedCrawlers: result.unverifiedCrawlers.slice(0, 100),
    unverifiedCrawlerCount: result.unverifiedCrawlers.length,
    unverifiedCrawlersByCrawler: countByCrawler(result.unverifiedCrawlers),
    unverifiedCrawlersNote:
      result.unverifiedCrawlers.length > 0 ? rangesOlderThanLog(result.lastEventTime) : null,
    rejects: result.rejects.toJSON(),
    fieldCuts: result.fieldCuts.toJSON(),
    timeline: result.timeline,
    stats: result.stats,
    warnings: result.warnings,
  };
}

export type Report = ReturnType<typeof buildReport>;

const BAR = '█';

/** The readable end-of-replay summary (stdout). */
export function renderSummary(report: Report): string {
  const lines: string[] = [];
  const n = (x: number) => x.toLocaleString('en-US');
  const pct = (part: number, whole: number) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '0%');
  const { input, run, clients, decisions } = report;

  lines.push(`edgeguard replay: ${input.file} (${input.format})`);
  lines.push(
    `  ${n(input.lines)} lines, ${n(input.parsed)} parsed, ${n(input.rejected)} rejected${input.blank > 0 ? `, ${n(input.blank)} blank` : ''}; log time ${input.from ?? '-'} → ${input.to ?? '-'}`,
  );
  if (input.cutShort) lines.push(`  INPUT CUT SHORT: ${input.cutShort}`);
  if (input.interruptedAfterLines !== null)
    lines.push(
      `  INTERRUPTED: reading stopped after ${n(input.interruptedAfterLines)} lines (Ctrl-C); everything below and every output covers those lines only`,
    );
  lines.push(
    `  ${run.wallSeconds.toFixed(2)} s wall, ${n(run.linesPerSecond)} lines/s, peak RSS ${run.peakRssMB} MB`,
  );
  lines.push(...eventTimeNotes(report.eventTime));
  lines.push('');

  lines.push('Clients by verdict');
  for (const verdict of ['block', 'challenge', 'throttle', 'allow']) {
    const slot = clients.byVerdict[verdict];
    if (!slot) continue;
    lines.push(
      `  ${verdict.padEnd(10)} ${n(slot.clients).padStart(9)} clients  ${n(slot.requests).padStart(11)} requests (${pct(slot.requests, clients.requests)})`,
    );
  }
  lines.push('');

  if (report.timeline.length > 0) {
    const { bucketMinutes, buckets, label } = timelineBuckets(report.timeline);
    lines.push(
      `Traffic over time (requests per ${describeMinutes(bucketMinutes)}, UTC; ▓ from clients under a decision at the time)`,
    );
    const max = Math.max(...buckets.map((b) => b.requests), 1);
    for (const b of buckets) {
      const width = Math.round((40 * b.requests) / max);
      const flagged = Math.round((40 * b.flagged) / max);
      const time = label(b.minute);
      lines.push(
        `  ${time} ${'▓'.repeat(flagged)}${BAR.repeat(Math.max(0, width - flagged))} ${n(b.requests)} (${pct(b.flagged, b.requests)} flagged)`,
      );
    }
    lines.push('');
  }

  if (report.topOffenders.length > 0) {
    lines.push('Top offenders');
    for (const o of report.topOffenders) {
      const evidence = o.signals
        .slice(0, 4)
        .map((s) => `${s.name}=${round(s.value)}`)
        .join(' ');
      lines.push(
        `  ${o.ip.padEnd(39)} ${o.verdict.padEnd(9)} ${n(o.requests).padStart(7)} req  ${o.reason ?? ''}  ${evidence}`,
      );
    }
    lines.push('');
  }

  lines.push(`Decisions: ${n(decisions.keys)} keys (${n(decisions.published)} published)`);
  if (decisions.notKept > 0)
    lines.push(
      `  (the report counts the first ${n(decisions.keysLimit)} keys only: ${n(decisions.notKept)} decisions of later keys are in --decisions, not below)`,
    );
  for (const [reason, count] of Object.entries(decisions.byReason))
    lines.push(`  ${reason.padEnd(22)} ${n(count)}`);
  if (Object.keys(decisions.byScope).length > 0) {
    lines.push(
      `  by scope: ${Object.entries(decisions.byScope)
        .map(([k, v]) => `${k} ${n(v)}`)
        .join(', ')}`,
    );
  }
  lines.push('');

  lines.push(
    `Cache policies: ${report.cachePolicies.length} active (${n(report.cachePolicyUpdates)} updates)`,
  );
  for (const p of report.cachePolicies.slice(0, 10)) {
    const knobs = [
      p.collapse ? 'collapse' : null,
      p.staleWhileRevalidateSeconds !== null ? `swr=${p.staleWhileRevalidateSeconds}s` : null,
      p.staleIfErrorSeconds !== null ? `sie=${p.staleIfErrorSeconds}s` : null,
      p.maxStaleSeconds !== null ? `max-stale=${p.maxStaleSeconds}s` : null,
      p.cacheKey
        ? `cache-key=${p.cacheKey.kind}${p.cacheKey.kind === 'allow' ? `(${p.cacheKey.params.join(',')})` : ''}`
        : null,
    ].filter(Boolean);
    lines.push(`  ${(p.match.host ?? '*') + p.match.pathPattern}  ${knobs.join(' ')}  — ${p.reason}`);
  }
  const untracked = report.stats.untrackedContentRequests;
  if (untracked > 0)
    lines.push(
      `  ${n(untracked)} ${untracked === 1 ? 'request' : 'requests'} for a host + path longer than detect.bounds.maxContentKeyLength: judged for their clients, but no cache advice covers them`,
    );
  lines.push('');

  if (report.alerts.length > 0) {
    lines.push(`Alerts: ${report.alerts.length}`);
    for (const a of report.alerts.slice(0, 5)) lines.push(`  ${JSON.stringify(a).slice(0, 160)}`);
    lines.push('');
  }

  if (report.unverifiedCrawlerCount > 0) {
    lines.push(
      `Declared crawlers from addresses outside their published ranges: ${n(report.unverifiedCrawlerCount)} addresses`,
    );
    const crawlers = Object.entries(report.unverifiedCrawlersByCrawler);
    for (const [crawler, c] of crawlers.slice(0, UNVERIFIED_LISTED))
      lines.push(
        `  ${crawler.padEnd(24)} ${n(c.addresses).padStart(7)} addresses ${n(c.requests).padStart(11)} req`,
      );
    if (crawlers.length > UNVERIFIED_LISTED)
      lines.push(`  … and ${n(crawlers.length - UNVERIFIED_LISTED)} more crawlers (see --report)`);
    const listed = takeInTurns(report.unverifiedCrawlers, (c) => c.crawler, UNVERIFIED_LISTED);
    for (const c of listed) lines.push(`  ${c.ip.padEnd(39)} claims ${c.crawler} (${n(c.requests)} req)`);
    if (report.unverifiedCrawlerCount > listed.length)
      lines.push(`  … and ${n(report.unverifiedCrawlerCount - listed.length)} more addresses (see --report)`);
    if (report.unverifiedCrawlersNote !== null) lines.push(`  Note: ${report.unverifiedCrawlersNote}`);
    lines.push('');
  }

  lines.push(`Rejected lines: ${n(report.rejects.total)}`);
  for (const [reason, count] of Object.entries(report.rejects.byReason)) {
    const sample = report.rejects.samples[reason]?.[0];
    lines.push(
      `  ${reason.padEnd(18)} ${n(count).padStart(8)}${sample ? `  e.g. ${sample.location ?? ''} ${sample.message}` : ''}`,
    );
  }
  if (report.fieldCuts.total > 0) {
    lines.push(`Fields cut to maxFieldLength (lines kept): ${n(report.fieldCuts.total)}`);
    for (const [field, count] of Object.entries(report.fieldCuts.byField)) {
      const sample = report.fieldCuts.samples[field]?.[0];
      lines.push(
        `  ${field.padEnd(20)} ${n(count).padStart(6)}${sample ? `  e.g. ${sample.location ?? ''} ${sample.message}` : ''}`,
      );
    }
  }
  return lines.join('\n');
}

/** Lines whose time was corrected (clock jumps) or that were dropped (late): what the decisions did not see as logged. */
function eventTimeReport(result: ReplayResult) {
  const { clockJumps, maxClockJumpMs, late, allowedLatenessMs } = result.eventTime;
  return {
    clockJumps: clockJumps.total,
    clockJumpSamples: clockJumps.samples,
    maxClockJumpMs,
    late,
    allowedLatenessMs,
  };
}

/** The summary's warnings about event time, only when something happened (a clean log prints none). */
function eventTimeNotes(eventTime: Report['eventTime']): string[] {
  const notes: string[] = [];
  const n = (x: number) => x.toLocaleString('en-US');
  if (eventTime.clockJumps > 0) {
    const sample = eventTime.clockJumpSamples[0]!;
    const one = eventTime.clockJumps === 1;
    notes.push(
      `  ${n(eventTime.clockJumps)} ${one ? 'line was' : 'lines were'} dated more than ${formatGoDuration(eventTime.maxClockJumpMs)} ahead of the newest line before ${one ? 'it' : 'them'}, so counted at that line's time (a clock jump: fewer than 8 lines in a row went on from it; a real gap's lines keep their time), e.g. ${sample.location} logged ${sample.loggedTime}, counted at ${sample.countedAt}`,
    );
  }
  if (eventTime.late > 0) {
    notes.push(
      `  ${n(eventTime.late)} ${eventTime.late === 1 ? 'line arrived' : 'lines arrived'} more than ${formatGoDuration(eventTime.allowedLatenessMs)} behind the newest line and ${eventTime.late === 1 ? 'was' : 'were'} not counted: is the input out of order (rotated files in name order? give them oldest first)`,
    );
  }
  return notes;
}

/** A log that ended more than this before the crawler ranges' date is said to predate them. */
const RANGES_AGE_NOTED_MS = 365 * 86_400_000;

/**
 * Why addresses called out against today's crawler ranges may have been genuine, when the log ended
 * more than a year before the oldest list's date (the elastic log of 2015 against Bing's list of
 * 2024: 49 Microsoft addresses); null otherwise.
 */
function rangesOlderThanLog(lastEventTime: number | null): string | null {
  const rangesDate = Date.parse(CRAWLER_RANGES_DATE);
  if (lastEventTime === null || rangesDate - lastEventTime <= RANGES_AGE_NOTED_MS) return null;
  const years = ((rangesDate - lastEventTime) / (365.25 * 86_400_000)).toFixed(1);
  return `this log ends ${new Date(lastEventTime).toISOString().slice(0, 10)}, ${years} years before the oldest published crawler list these ranges come from (${CRAWLER_RANGES_DATE}); crawlers change addresses, so some of these may have been genuine then`;
}

/** Crawlers, and addresses claiming one, the summary lists of the declared crawlers off their ranges. */
const UNVERIFIED_LISTED = 8;

/** Addresses and requests per claimed crawler, most requests first. */
function countByCrawler(
  unverified: readonly UnverifiedCrawler[],
): Record<string, { addresses: number; requests: number }> {
  const counts = new Map<string, { addresses: number; requests: number }>();
  for (const c of unverified) {
    const slot = counts.get(c.crawler) ?? { addresses: 0, requests: 0 };
    counts.set(c.crawler, slot);
    slot.addresses++;
    slot.requests += c.requests;
  }
  return Object.fromEntries([...counts].sort((a, b) => b[1].requests - a[1].requests));
}

/**
 * Up to `max` items taken in turns from each group (groups in order of their first item), so that
 * one group with many items does not hide the others: the first of every group, then the second...
 * Within a group the given order is kept.
 */
export function takeInTurns<T>(items: readonly T[], groupOf: (item: T) => string, max: number): T[] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(groupOf(item)) ?? [];
    groups.set(groupOf(item), group);
    group.push(item);
  }
  const taken: T[] = [];
  for (let turn = 0; taken.length < max && taken.length < items.length; turn++)
    for (const group of groups.values())
      if (turn < group.length && taken.length < max) taken.push(group[turn]!);
  return taken;
}

/** Bucket sizes the summary's timeline picks from, in minutes: round sizes, read at a glance. */
const TIMELINE_BUCKET_MINUTES = [1, 5, 15, 30, 60, 180, 360, 720, 1440, 10_080];
/** Rows of the summary's timeline at most: one screen, whatever the log's time span. */
const TIMELINE_ROWS = 30;
const MINUTE_MS = 60_000;
const DAY_MINUTES = 1440;

/**
 * The per-minute timeline grouped by time into buckets of the smallest round size that shows the
 * whole span in TIMELINE_ROWS rows (aligned to UTC multiples of the size, so 6 h buckets start at
 * 00, 06, 12, 18); minutes without requests are empty buckets, not skipped. Labels carry the
 * date when the buckets cross days.
 */
export function timelineBuckets(timeline: readonly { minute: number; requests: number; flagged: number }[]) {
  const first = timeline[0]!.minute;
  const last = timeline[timeline.length - 1]!.minute;
  const rowsOf = (minutes: number) =>
    Math.floor(last / (minutes * MINUTE_MS)) - Math.floor(first / (minutes * MINUTE_MS)) + 1;
  const week = TIMELINE_BUCKET_MINUTES[TIMELINE_BUCKET_MINUTES.length - 1]!;
  const bucketMinutes =
    TIMELINE_BUCKET_MINUTES.find((minutes) => rowsOf(minutes) <= TIMELINE_ROWS) ??
    week * Math.ceil((last - first) / (week * MINUTE_MS) / (TIMELINE_ROWS - 1));
  const size = bucketMinutes * MINUTE_MS;
  const start = Math.floor(first / size) * size;
  const buckets = Array.from({ length: Math.floor(last / size) - start / size + 1 }, (_, i) => ({
    minute: start + i * size,
    requests: 0,
    flagged: 0,
  }));
  for (const entry of timeline) {
    const bucket = buckets[Math.floor((entry.minute - start) / size)]!;
    bucket.requests += entry.requests;
    bucket.flagged += entry.flagged;
  }
  const crossesDays =
    new Date(start).toISOString().slice(0, 10) !==
    new Date(buckets[buckets.length - 1]!.minute).toISOString().slice(0, 10);
  const label = (minute: number) => {
    const iso = new Date(minute).toISOString();
    if (bucketMinutes >= DAY_MINUTES) return iso.slice(0, 10);
    return crossesDays ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
  };
  return { bucketMinutes, buckets, label };
}

/** `5 min`, `6 h`, `1 day`, `14 days`. */
function describeMinutes(minutes: number): string {
  if (minutes < 60) return `${minutes} min`;
  if (minutes < DAY_MINUTES) return `${minutes / 60} h`;
  const days = minutes / DAY_MINUTES;
  return days === 1 ? '1 day' : `${days} days`;
}

function round(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}
