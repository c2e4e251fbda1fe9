import { readFileSync } from 'node:fs';
import type { Decision } from '@edgeguard/schema';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Blocklist } from './blocklist.js';
import { noQuery } from './errors.js';

/** Decisions the summary lists (the newest by decidedAt), and so the most the dashboard shows. */
export const SUMMARY_NEWEST = 200;
/** Reasons a summary lists (the most frequent); the rest are summed in `byReasonRest`. */
export const SUMMARY_REASONS = 50;
/**
 * Distinct reasons counted during a scan (memory bound: reasons of manual decisions are free
 * text); decisions with a reason first met past that many are counted in `byReasonRest`.
 */
export const SUMMARY_REASONS_COUNTED = 10_000;
/** A summary this young is answered again rather than scanning the store once more. */
export const SUMMARY_REUSE_MS = 2_000;
/**
 * ... and so is one younger than this many times its scan took: the API scans at most a tenth of
 * the time however many dashboards are open (measured: 0.8–1.3 s per 100,000 decisions).
 */
export const SUMMARY_REUSE_FACTOR = 10;

export interface BlocklistSummary {
  /** The store's version read before the scan: follow `/api/blocklist/events?since=` from it. */
  version: number;
  epoch: number;
  /** Active decisions the scan met. */
  count: number;
  byAction: Record<string, number>;
  /**
   * Most frequent first (then by name); at most SUMMARY_REASONS. A JSON object's key order is not
   * kept for every key (JavaScript puts integer-like ones such as `"42"` first): sort by count.
   */
  byReason: Record<string, number>;
  /**
   * Decisions whose reason is not in `byReason` (past SUMMARY_REASONS, or first met past
   * SUMMARY_REASONS_COUNTED distinct reasons). A field of its own, not a made-up reason: a
   * decision's reason is free text and could be any name.
   */
  byReasonRest: number;
  /** The SUMMARY_NEWEST most recently decided, newest first (by decidedAt, then key). */
  newest: Decision[];
  /** Epoch ms the scan finished. */
  at: number;
  /** How long the scan took (ms). */
  tookMs: number;
}

const newestFirst = (a: Decision, b: Decision): number =>
  b.decidedAt - a.decidedAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * The SUMMARY_NEWEST newest of `decisions`, each key once: HSCAN may return a decision twice (when
 * the store's hash is resized during the scan, e.g. the sweeper removing many), and a key listed
 * twice would be shown twice, one row surviving its deletion.
 */
function newestOnce(decisions: Decision[]): Decision[] {
  const keys = new Set<string>();
  const newest: Decision[] = [];
  for (const decision of decisions.sort(newestFirst)) {
    if (keys.has(decision.key)) continue;
    keys.add(decision.key);
    newest.push(decision);
    if (newest.length === SUMMARY_NEWEST) break;
  }
  return newest;
}

/** One scan of the store: counts by action and reason and the newest decisions, a page in memory at a time. */
export async function summarize(
  blocklist: Blocklist,
  clock: () => number = Date.now,
  limits: { reasons: number; counted: number } = {
    reasons: SUMMARY_REASONS,
    counted: SUMMARY_REASONS_COUNTED,
  },
): Promise<BlocklistSummary> {
  const started = clock();
  const { version, epoch } = await blocklist.state();
  const byAction = new Map<string, number>();
  const byReason = new Map<string, number>();
  let other = 0;
  let count = 0;
  let newest: Decision[] = [];
  for await (const page of blocklist.store.pages({ count: 1000 })) {
    for (const decision of page.decisions) {
      count++;
      byAction.set(decision.action, (byAction.get(decision.action) ?? 0) + 1);
      const seen = byReason.get(decision.reason);
      if (seen !== undefined) byReason.set(decision.reason, seen + 1);
      else if (byReason.size < limits.counted) byReason.set(decision.reason, 1);
      else other++;
      newest.push(decision);
    }
    // Bounded: sorted and cut whenever twice the wanted number is held.
    if (newest.length >= 2 * SUMMARY_NEWEST) newest = newestOnce(newest);
  }
  newest = newestOnce(newest);
  const reasons = [...byReason].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  for (const [, n] of reasons.splice(limits.reasons)) other += n;
  const at = clock();
  return {
    version,
    epoch,
    count,
    byAction: Object.fromEntries([...byAction].sort()),
    byReason: Object.fromEntries(reasons),
    byReasonRest: other,
    newest,
    at,
    tookMs: at - started,
  };
}

/**
 * The summary, one scan at a time per process: callers during a scan share it, and a summary
 * younger than SUMMARY_REUSE_MS, or than SUMMARY_REUSE_FACTOR times its scan took, is answered
 * again (however many dashboards are open, the API scans the store at most a tenth of the time) —
 * as long as the change log can still be followed from its version. A client takes a summary
 * after its event stream said `resync` (the store was rebuilt, or the log trimmed past its
 * version); a summary scanned before that would make its stream resync again, and again, until
 * the reuse period ended. So a summary scanned before this caller asked is answered only if
 * `/api/blocklist/events?since=<its version>` would not resync (the stream's own test,
 * `changesSince`, one Redis round trip); else the caller gets a scan started after it asked.
 */
export class SummaryCache {
  private last: BlocklistSummary | null = null;
  private running: Promise<BlocklistSummary> | null = null;
  /**
   * A scan that failed, answered again for as long as a summary would be (a scan failing late,
   * Redis timing out under load, would else be started again at once by the next caller: the
   * store scanned back to back exactly while Redis struggles).
   */
  private failed: { at: number; tookMs: number; error: unknown } | null = null;

  constructor(
    private readonly blocklist: Blocklist,
    private readonly clock: () => number = Date.now,
  ) {}

  async get(): Promise<BlocklistSummary> {
    const earlier = this.running ?? this.reusable();
    if (earlier === null) return this.scan();
    const summary = await earlier;
    if (!(await this.blocklist.store.changesSince(summary.version, 1)).resync) return summary;
    if (this.last === summary) this.last = null;
    // Any scan running now started after this call asked: share it.
    return this.running ?? this.scan();
  }

  /** The last summary (or failure) while young enough to answer again, else null. */
  private reusable(): Promise<BlocklistSummary> | null {
    const last = this.last ?? this.failed;
    if (!last || this.clock() - last.at >= Math.max(SUMMARY_REUSE_MS, SUMMARY_REUSE_FACTOR * last.tookMs))
      return null;
    return last === this.failed ? Promise.reject(this.failed.error) : Promise.resolve(this.last!);
  }

  private scan(): Promise<BlocklistSummary> {
    const started = this.clock();
    this.running = summarize(this.blocklist, this.clock).then(
      (summary) => {
        this.last = summary;
        this.failed = null;
        this.running = null;
        return summary;
      },
      (error: unknown) => {
        const at = this.clock();
        this.last = null;
        this.failed = { at, tookMs: at - started, error };
        this.running = null;
        throw error;
      },
    );
    return this.running;
  }
}

/**
 * The dashboard page's headers: it loads its script and style from this server only, connects
 * only here, and cannot be framed (the data it shows comes from the store, where decision keys
 * and reasons are attacker-influenced; the page renders them as text).
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Headers of every answer under /dashboard: the page's files and errors alike. */
const DASHBOARD_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

/**
 * The page's headers on an error answered to a URL under /dashboard (404, 405, 400, …): the error
 * names the URL, which anyone can make up; nothing there may run, be sniffed as HTML or be framed.
 */
export function dashboardErrorHeaders(request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split('?')[0]!;
  if (path === '/dashboard' || path.startsWith('/dashboard/')) reply.headers(DASHBOARD_HEADERS);
}

const ASSETS = new URL('../dashboard/', import.meta.url);
const FILES = [
  {
    url: '/dashboard',
    file: 'index.html',
    type: 'text/html; charset=utf-8',
    summary: 'Live dashboard (HTML)',
  },
  {
    url: '/dashboard/dashboard.js',
    file: 'dashboard.js',
    type: 'text/javascript; charset=utf-8',
    summary: "The dashboard's script",
  },
  {
    url: '/dashboard/dashboard.css',
    file: 'dashboard.css',
    type: 'text/css; charset=utf-8',
    summary: "The dashboard's style sheet",
  },
] as const;

/**
 * `GET /dashboard` (a static page, its script and style: public, they hold no data) and the
 * summary it reads with the key typed into it, `GET /api/blocklist/summary` (bouncer).
 */
export function registerDashboardRoutes(app: FastifyInstance, deps: { blocklist: Blocklist }): void {
  for (const asset of FILES) {
    // Read once: a few KiB, answered from memory.
    const body = readFileSync(new URL(asset.file, ASSETS));
    app.get(
      asset.url,
      {
        config: { scope: 'public' },
        schema: { summary: asset.summary, tags: ['dashboard'], querystring: noQuery },
      },
      async (_request, reply) =>
        reply.type(asset.type).headers(DASHBOARD_HEADERS).header('cache-control', 'no-cache').send(body),
    );
  }

  const summaries = new SummaryCache(deps.blocklist);
  app.get(
    '/api/blocklist/summary',
    {
      config: { scope: 'bouncer' },
      schema: {
        summary: `Active decisions counted by action and by reason, the ${SUMMARY_NEWEST} newest, and the version to follow from`,
        tags: ['blocklist'],
        querystring: noQuery,
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      // HEAD: the headers without the scan (server.ts adds HEAD to every GET route).
      if (request.method === 'HEAD') return reply.type('application/json; charset=utf-8').send();
      return summaries.get();
    },
  );
}
