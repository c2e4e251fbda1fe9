import { actionStrength } from '@edgeguard/schema';
import type { KeptDecision } from './kept-decisions.js';
import type { ReplayResult } from './replay.js';

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
      from: result.firstEventTime === null ? null : new Date(result.firstEventTime).toISOString(),
      to: result.lastEventTime === null ? null : new Date(result.lastEventTime).toISOString(),
    },
    run: {
      wallSeconds: result.wallMs / 1000,
      linesPerSecond: Math.round(result.lines / Math.max(result.wallMs / 1000, 0.001)),
      peakRssMB: Math.round(result.peakRssBytes / 1048576),
    },
    clients: { total: result.verdicts.clients, requests: result.verdicts.requests, byVerdict },
    decisions: {
      published: result.decisionsPublished,
      keys: latest.size,
      byReason: count((d) => d.reason),
      byAction: count((d) => d.action),
      byScope: count((d) => d.scope),
    },
    topOffenders,
    cachePolicies: result.policies,
    cachePolicyUpdates: result.policyUpdates,
    alerts: result.alerts,
    unverifiedCrawlers: result.unverifiedCrawlers.slice(0, 100),
    unverifiedCrawlerCount: result.unverifiedCrawlers.length,
    rejects: result.rejects.toJSON(),
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
    `  ${n(input.lines)} lines, ${n(input.parsed)} parsed, ${n(input.rejected)} rejected; log time ${input.from ?? '-'} → ${input.to ?? '-'}`,
  );
  lines.push(
    `  ${run.wallSeconds.toFixed(2)} s wall, ${n(run.linesPerSecond)} lines/s, peak RSS ${run.peakRssMB} MB`,
  );
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
    lines.push('Traffic over time (requests per minute; ▓ from clients under a decision at the time)');
    const step = Math.max(1, Math.ceil(report.timeline.length / 30));
    const buckets: { minute: number; requests: number; flagged: number }[] = [];
    for (let i = 0; i < report.timeline.length; i += step) {
      const group = report.timeline.slice(i, i + step);
      buckets.push({
        minute: group[0]!.minute,
        requests: group.reduce((s, b) => s + b.requests, 0),
        flagged: group.reduce((s, b) => s + b.flagged, 0),
      });
    }
    const max = Math.max(...buckets.map((b) => b.requests), 1);
    for (const b of buckets) {
      const width = Math.round((40 * b.requests) / max);
      const flagged = Math.round((40 * b.flagged) / max);
      const time = new Date(b.minute).toISOString().slice(11, 16);
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
  lines.push('');

  if (report.alerts.length > 0) {
    lines.push(`Alerts: ${report.alerts.length}`);
    for (const a of report.alerts.slice(0, 5)) lines.push(`  ${JSON.stringify(a).slice(0, 160)}`);
    lines.push('');
  }

  if (report.unverifiedCrawlerCount > 0) {
    lines.push(
      `Declared crawlers from addresses outside their published ranges: ${n(report.unverifiedCrawlerCount)}`,
    );
    for (const c of report.unverifiedCrawlers.slice(0, 8))
      lines.push(`  ${c.ip.padEnd(39)} claims ${c.crawler} (${n(c.requests)} req)`);
    lines.push('');
  }

  lines.push(`Rejected lines: ${n(report.rejects.total)}`);
  for (const [reason, count] of Object.entries(report.rejects.byReason)) {
    const sample = report.rejects.samples[reason]?.[0];
    lines.push(
      `  ${reason.padEnd(18)} ${n(count).padStart(8)}${sample ? `  e.g. ${sample.location ?? ''} ${sample.message}` : ''}`,
    );
  }
  return lines.join('\n');
}

function round(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}
