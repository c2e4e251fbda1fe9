import { Readable } from 'node:stream';
import { formatGoDuration } from '@edgeguard/config';
import { type AllowEntry, type Change, parseDecisionKey } from '@edgeguard/decisions';
import { type Cidr, CidrSet, cidrsOverlap, parseCidr, parseIp } from '@edgeguard/netaddr';
import type { Action, Decision } from '@edgeguard/schema';
import type { Metrics } from '@edgeguard/telemetry';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Cluster, Redis } from 'ioredis';
import type { Blocklist } from './blocklist.js';
import { ApiError } from './errors.js';
import type { ApiKeyRecord } from './keys.js';
import type { RedisHealth } from './redis-health.js';
import type { Tombstones } from './tombstones.js';

/**
 * The CrowdSec Local API routes bouncers use (crowdsecurity/crowdsec pkg/apiserver/controllers/v1/
 * decisions.go): `GET|HEAD /v1/decisions` (live mode) and `GET|HEAD /v1/decisions/stream`
 * (stream mode: `startup=true` gives every active decision, later pulls what was added and deleted
 * since this key's previous successful pull).
 */

export interface CrowdsecDecision {
  id: number;
  origin: string;
  type: string;
  scope: 'Ip' | 'Range';
  value: string;
  duration: string;
  scenario: string;
  until?: string;
}

const TYPES: Record<string, string> = { block: 'ban', challenge: 'captcha', throttle: 'throttle' };
/** A delta with more changes than this is answered as a full set (bounded memory per pull). */
const MAX_DELTA_CHANGES = 20_000;
const PAGE = 1000;

function fnv1a(text: string, seed: number): number {
  let hash = seed;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A stable positive integer id (< 2^52) per decision key and version: bouncers only log it. */
export function decisionId(key: string, version: number): number {
  const text = `${key}#${version}`;
  return (fnv1a(text, 0x811c9dc5) & 0xfffff) * 2 ** 32 + fnv1a(text, 0x01234567);
}

export function toCrowdsec(decision: Decision, now: number): CrowdsecDecision {
  return {
    id: decisionId(decision.key, decision.version),
    origin: decision.origin === 'manual' ? 'manual' : 'edgeguard',
    type: TYPES[decision.action] ?? decision.action,
    scope: decision.scope === 'range' ? 'Range' : 'Ip',
    value: decision.value,
    duration: formatGoDuration(Math.max(0, decision.expiresAt - now)),
    scenario: `edgeguard/${decision.reason}`,
    until: new Date(decision.expiresAt).toISOString(),
  };
}

/** The parts of a decision's CrowdSec JSON that do not change while it is current. */
interface CachedJson {
  type: string;
  origin: string;
  /** `{"id":…,…,"until":"…","duration":"` — the remaining duration and `"}` follow. */
  head: string;
}
const jsonCache = new WeakMap<Decision, CachedJson>();

/**
 * `toCrowdsec(decision, now)` as JSON text, for the live lookup's hot path: everything but the
 * remaining duration is built once per decision object (the in-memory follower keeps the same
 * objects until they change), so a lookup costs a map probe and one formatted duration.
 */
export function crowdsecJson(
  decision: Decision,
  now: number,
): { json: string; type: string; origin: string } {
  let cached = jsonCache.get(decision);
  if (!cached) {
    const full = toCrowdsec(decision, now);
    const { duration: _, ...rest } = full;
    const text = JSON.stringify(rest);
    cached = { type: full.type, origin: full.origin, head: `${text.slice(0, -1)},"duration":"` };
    jsonCache.set(decision, cached);
  }
  return {
    json: `${cached.head}${formatGoDuration(Math.max(0, decision.expiresAt - now))}"}`,
    type: cached.type,
    origin: cached.origin,
  };
}

interface StreamQuery {
  startup?: boolean;
  scopes?: string;
  origins?: string;
  scenarios_containing?: string;
  scenarios_not_containing?: string;
}

interface LiveQuery {
  ip?: string;
  range?: string;
  scope?: string;
  value?: string;
  type?: string;
  contains?: boolean;
  origins?: string;
}

const list = (text: string | undefined): string[] =>
  (text ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

/**
 * The bouncer's filters as predicates over CrowdSec-shaped decisions: `keep` for active decisions
 * (scopes, origins, scenarios), `keepDeleted` for deletions (scopes only).
 *
 * Why deletions skip the origin and scenario filters: CrowdSec filters its expired rows with the
 * same filters as its active ones (crowdsecurity/crowdsec pkg/database/decisions.go,
 * QueryExpiredDecisionsSinceWithFilters → BuildDecisionRequestWithFilter), which works there
 * because an expired row keeps the origin and scenario it was sent with. Our change log's
 * deletions carry only the key, a reason and the action (its type), so filtering them on an origin or scenario they do
 * not have would drop the deletion of a decision the bouncer holds, and it would block forever.
 * A deletion of a value the bouncer never held is a no-op for it; a missed one is not.
 */
function filtersOf(query: StreamQuery): {
  keep: (d: CrowdsecDecision) => boolean;
  keepDeleted: (d: CrowdsecDecision) => boolean;
} {
  const scopes = list(query.scopes ?? 'ip,range');
  const origins = list(query.origins);
  const containing = list(query.scenarios_containing);
  const notContaining = list(query.scenarios_not_containing);
  const keepDeleted = (d: CrowdsecDecision) => scopes.includes(d.scope.toLowerCase());
  return {
    keepDeleted,
    keep: (d) =>
      keepDeleted(d) &&
      (origins.length === 0 || origins.includes(d.origin.toLowerCase())) &&
      (containing.length === 0 || containing.some((s) => d.scenario.toLowerCase().includes(s))) &&
      !notContaining.some((s) => d.scenario.toLowerCase().includes(s)),
  };
}

/**
 * The allowlist as the CrowdSec routes apply it. Bouncers do not know edgeguard's allowlist, so
 * the allowlist wins here, as it does in explain's verdict and at the edge agent: a decision
 * covering any allowlisted address is never sent (a range holding one allowlisted address is
 * withheld whole, since a bouncer cannot be told "this range but that address").
 */
class AllowFilter {
  private readonly cidrs: Cidr[];
  private readonly set: CidrSet;

  constructor(entries: readonly AllowEntry[]) {
    this.cidrs = entries.map((entry) => parseCidr(entry.cidr));
    this.set = new CidrSet(this.cidrs);
  }

  /** Whether the allowlist holds any address of `target` (an address or CIDR text; false if neither). */
  covers(target: string | Cidr): boolean {
    let cidr: Cidr;
    try {
      cidr = typeof target === 'string' ? parseCidr(target) : target;
    } catch {
      return false;
    }
    const hostLength = cidr.version === 4 ? 32 : 128;
    if (cidr.prefixLength === hostLength) {
      return this.set.match(cidr.text.slice(0, cidr.text.indexOf('/'))) !== null;
    }
    return this.cidrs.some((entry) => cidrsOverlap(entry, cidr));
  }
}

const str = { type: 'string', maxLength: 256 } as const;
const csv = { type: 'string', maxLength: 1024 } as const;

export function registerCrowdsecRoutes(
  app: FastifyInstance,
  deps: {
    blocklist: Blocklist;
    redis: Redis | Cluster;
    cursors: string;
    tombstones: Tombstones;
    redisHealth?: RedisHealth;
    clock?: () => number;
    /** Where full sets are counted; none in unit tests that build the routes alone. */
    metrics?: Metrics;
  },
): void {
  const clock = deps.clock ?? Date.now;
  const { blocklist } = deps;
  /** Full sets by cause, and those that may miss deletions: what an operator alerts on. */
  const fullSets = deps.metrics?.counter(
    'edgeguard_api_bouncer_full_sets_total',
    'CrowdSec stream pulls answered with the full set, by cause (startup, first-pull, resync: the change log could not serve the cursor)',
    ['cause'],
  );
  const incompleteSets = deps.metrics?.counter(
    'edgeguard_api_bouncer_full_sets_incomplete_total',
    'Full sets that may miss deletions (their tombstones were trimmed or not recorded yet): a bouncer may keep a deleted decision until it expires',
  );
  /** The live route is answered from memory when it can; where it needs Redis, it fails fast as the others. */
  const needRedis = () => deps.redisHealth?.check();

  /** The current allowlist (read whole: operator-made, hundreds of entries), or null when empty. */
  async function allowFilter(): Promise<AllowFilter | null> {
    const entries = await blocklist.store.listAllowlist();
    return entries.length === 0 ? null : new AllowFilter(entries);
  }

  /**
   * Every active ip/range decision the allowlist does not cover, page by page, as CrowdSec
   * decisions passing `keep`; those it covers go to `allowlisted` as deletions.
   */
  async function* allActive(
    keep: (d: CrowdsecDecision) => boolean,
    allowlisted?: (deletion: CrowdsecDecision) => void,
  ): AsyncGenerator<CrowdsecDecision[]> {
    const allow = await allowFilter();
    for await (const page of blocklist.store.pages({ count: PAGE })) {
      const now = clock();
      const batch: CrowdsecDecision[] = [];
      for (const decision of page.decisions) {
        if (decision.scope === 'fingerprint') continue;
        const converted = toCrowdsec(decision, now);
        if (allow?.covers(decision.value)) allowlisted?.(asDeletion(converted));
        else if (keep(converted)) batch.push(converted);
      }
      yield batch;
    }
  }

  /**
   * What allowlist changes in a pull's window mean to a bouncer: every active decision
   * overlapping a CIDR allowed or disallowed in the window is deleted when the allowlist now
   * covers it, and sent again when it does not (resending one it holds is harmless). One scan of
   * the store, only for pulls whose window holds an allowlist change (operator-made, rare).
   */
  async function allowlistEffects(
    touched: readonly Cidr[],
    allow: AllowFilter | null,
    now: number,
  ): Promise<{ fresh: Map<string, CrowdsecDecision>; deleted: Map<string, CrowdsecDecision> }> {
    const fresh = new Map<string, CrowdsecDecision>();
    const deleted = new Map<string, CrowdsecDecision>();
    for await (const page of blocklist.store.pages({ count: PAGE })) {
      for (const decision of page.decisions) {
        if (decision.scope === 'fingerprint' || decision.expiresAt <= now) continue;
        let cidr: Cidr;
        try {
          cidr = parseCidr(decision.value);
        } catch {
          continue; // not an address or range: nothing an allowlist entry can overlap
        }
        if (!touched.some((t) => cidrsOverlap(t, cidr))) continue;
        const converted = toCrowdsec(decision, now);
        if (allow?.covers(cidr)) deleted.set(decision.key, asDeletion(converted));
        else fresh.set(decision.key, converted);
      }
    }
    return { fresh, deleted };
  }

  /** `{"new": [...]|null, "deleted": [...]|null}` written as the pages come (`deleted` read after `new`). */
  async function* streamBody(
    fresh: AsyncIterable<CrowdsecDecision[]> | Iterable<CrowdsecDecision[]>,
    deleted: AsyncIterable<CrowdsecDecision[]> | Iterable<CrowdsecDecision[]>,
  ): AsyncGenerator<string> {
    let first = true;
    for await (const batch of fresh) {
      if (batch.length === 0) continue;
      yield (first ? '{"new":[' : ',') + batch.map((d) => JSON.stringify(d)).join(',');
      first = false;
    }
    yield first ? '{"new":null,"deleted":' : '],"deleted":';
    first = true;
    for await (const batch of deleted) {
      if (batch.length === 0) continue;
      yield (first ? '[' : ',') + batch.map((d) => JSON.stringify(d)).join(',');
      first = false;
    }
    yield first ? 'null}' : ']}';
  }

  /**
   * A full set's `deleted`: the active decisions the allowlist covers (`withheld`, filled while
   * `new` is written), then the tombstones of decisions deleted since `since` (the key's last
   * pull; none without one) that are not active again, page by page.
   */
  async function* fullSetDeletions(
    withheld: CrowdsecDecision[],
    since: number | null,
    keepDeleted: (d: CrowdsecDecision) => boolean,
  ): AsyncGenerator<CrowdsecDecision[]> {
    yield withheld;
    if (since === null) return;
    for await (const page of deps.tombstones.since(since, PAGE)) {
      const keys = page.map((t) => t.key);
      const [expiries, payloads] = await Promise.all([
        deps.redis.zmscore(blocklist.keys.expiry, ...keys),
        deps.redis.hmget(blocklist.keys.data, ...keys),
      ]);
      const now = clock();
      const batch: CrowdsecDecision[] = [];
      for (let i = 0; i < page.length; i++) {
        const { key, version, action } = page[i]!;
        const expiresAt = expiries[i];
        if (expiresAt != null && Number(expiresAt) > now) {
          // Active again: in `new`, unless with another type than the one deleted or replaced.
          // A tombstone without its action (written before they kept it) counts as the same type.
          if (action === undefined || actionOfPayload(payloads[i] ?? null) === action) continue;
        }
        const converted = deletedOf(key, version, action);
        if (converted && keepDeleted(converted)) batch.push(converted);
      }
      yield batch;
    }
  }

  /**
   * What changed since `cursor`, netted per key (the last change wins, with the action the key
   * had before the first change of the window: what the bouncer holds), or null when the log
   * cannot serve it (trimmed, a rebuilt store, too many changes): then a full set is sent.
   */
  async function delta(cursor: number): Promise<{ last: Map<string, Netted>; version: number } | null> {
    const last = new Map<string, Netted>();
    let since = cursor;
    let read = 0;
    for (;;) {
      const page = await blocklist.store.changesSince(since, PAGE);
      if (page.resync) return null;
      for (const change of page.changes) {
        const before = last.get(change.key);
        last.delete(change.key);
        last.set(change.key, {
          change,
          held: before ? before.held : heldBefore(change),
          // For a del logged without its action (written before the log kept it): the type of an
          // add this pull saw, else ban.
          seen: change.op === 'add' ? change.decision.action : before?.seen,
        });
      }
      read += page.changes.length;
      since = page.version;
      if (read > MAX_DELTA_CHANGES) return null;
      if (page.changes.length < PAGE) return { last, version: since };
    }
  }

  /** A deletion of `key` as a bouncer holds it: by value and `action`'s type (ban when unknown). */
  function deletedOf(key: string, version: number, action: string | undefined): CrowdsecDecision | null {
    let scope: 'Ip' | 'Range';
    let value: string;
    try {
      const parsed = parseDecisionKey(key);
      if (parsed.scope === 'fingerprint') return null;
      scope = parsed.scope === 'range' ? 'Range' : 'Ip';
      value = parsed.value;
    } catch {
      return null;
    }
    return {
      id: decisionId(key, version),
      origin: 'edgeguard',
      // Unknown only for tombstones and change-log entries written before they kept the action:
      // then ban, as before (a bouncer holding another type for the value keeps it).
      type: TYPES[action ?? ''] ?? 'ban',
      scope,
      value,
      duration: '-1s',
      scenario: 'edgeguard/deleted',
    };
  }

  app.route({
    method: ['GET', 'HEAD'],
    url: '/v1/decisions/stream',
    config: { scope: 'bouncer' },
    schema: {
      summary:
        'CrowdSec bouncer stream: every active decision at startup, then new and deleted since this key’s last pull',
      tags: ['crowdsec'],
      querystring: {
        type: 'object',
        properties: {
          startup: { type: 'boolean', default: false },
          scopes: csv,
          origins: csv,
          scenarios_containing: csv,
          scenarios_not_containing: csv,
          dedup: { type: 'boolean' },
        },
      },
    },
    handler: async (request: FastifyRequest<{ Querystring: StreamQuery }>, reply: FastifyReply) => {
      reply.type('application/json');
      if (request.method === 'HEAD') return reply.send();
      const key = (request as FastifyRequest & { apiKey: ApiKeyRecord }).apiKey;
      const { keep, keepDeleted } = filtersOf(request.query);
      const stored = await deps.redis.hget(deps.cursors, key.name);
      const cursor = stored === null ? null : Number(stored);
      let body: AsyncGenerator<string>;
      let next: number;
      const changes = request.query.startup || cursor === null ? null : await delta(cursor);
      if (changes === null) {
        fullSets?.inc({
          cause: request.query.startup ? 'startup' : cursor === null ? 'first-pull' : 'resync',
        });
        const [state, recorded] = await Promise.all([blocklist.state(), deps.tombstones.state()]);
        next = state.version;
        // The tombstones run a feed round trip behind the log (more after a restart): what they have
        // not recorded yet is left to the next pull's delta, read from the log.
        const behind = state.version - recorded.cursor;
        if (recorded.cursor > 0 && behind > 0 && behind <= MAX_DELTA_CHANGES) next = recorded.cursor;
        if (cursor !== null && (cursor < recorded.floor || next > recorded.cursor)) {
          incompleteSets?.inc();
          request.log.warn(
            { key: key.name, cursor, floor: recorded.floor, recorded: recorded.cursor },
            'bouncer stream: a full set that may miss deletions (their tombstones were trimmed or not recorded)',
          );
        }
        // A full set says what the bouncer should drop: the active decisions the allowlist covers
        // (so a bouncer stops blocking an address allowlisted meanwhile), and the decisions deleted
        // since its last pull (tombstones.ts), on a startup too (CrowdSec sends its expired rows then).
        const withheld: CrowdsecDecision[] = [];
        body = streamBody(
          allActive(keep, (d) => {
            if (keepDeleted(d)) withheld.push(d);
          }),
          fullSetDeletions(withheld, cursor, keepDeleted),
        );
      } else {
        next = changes.version;
        const now = clock();
        const allow = await allowFilter();
        const touched: Cidr[] = [];
        const fresh = new Map<string, CrowdsecDecision>();
        const deleted = new Map<string, CrowdsecDecision>();
        for (const { change, held, seen } of changes.last.values()) {
          /** The type sent as new for this key, if any: the held type is then deleted only if it differs. */
          let sent: string | undefined;
          if (change.op === 'add') {
            const { decision } = change;
            if (decision.scope === 'fingerprint') continue;
            if (decision.expiresAt > now && !allow?.covers(decision.value)) {
              const converted = toCrowdsec(decision, now);
              if (keep(converted)) {
                fresh.set(change.key, converted);
                sent = converted.type;
              }
            }
          } else if (change.op === 'del') {
            const converted = deletedOf(change.key, change.version, change.action ?? seen);
            if (converted && keepDeleted(converted)) deleted.set(deletionKey(converted), converted);
          } else {
            try {
              touched.push(parseCidr(change.key));
            } catch {
              // not a CIDR: no decision can overlap it
            }
            continue;
          }
          // The bouncer holds decisions by value and type: the type it held before this window
          // goes when the key now has another (ban → captcha) or nothing it passes.
          if (held && TYPES[held] !== sent) {
            const converted = deletedOf(change.key, change.version, held);
            if (converted && keepDeleted(converted)) deleted.set(deletionKey(converted), converted);
          }
        }
        if (touched.length > 0) {
          const effects = await allowlistEffects(touched, allow, now);
          for (const [key, converted] of effects.fresh) if (keep(converted)) fresh.set(key, converted);
          for (const [key, converted] of effects.deleted) {
            if (!keepDeleted(converted)) continue;
            fresh.delete(key);
            deleted.set(deletionKey(converted), converted);
          }
        }
        body = streamBody([[...fresh.values()]], [[...deleted.values()]]);
      }
      // The cursor moves only when the whole answer was handed to the client (CrowdSec: LastPull
      // is updated on success).
      reply.raw.once('finish', () => {
        deps.redis.hset(deps.cursors, key.name, String(next)).catch((error: Error) => {
          request.log.warn({ err: error }, 'bouncer cursor not saved');
        });
      });
      // At most a couple of pages waiting for the socket: a 100k startup is never held whole.
      return reply.send(Readable.from(body, { highWaterMark: 2 }));
    },
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/v1/decisions',
    config: { scope: 'bouncer', redis: false },
    schema: {
      summary: 'CrowdSec live mode: the decisions covering an address or range, or null',
      tags: ['crowdsec'],
      querystring: {
        type: 'object',
        properties: {
          ip: str,
          range: str,
          scope: str,
          value: str,
          type: str,
          origins: csv,
          contains: { type: 'boolean', default: true },
        },
      },
    },
    // Not async: an answer from the in-memory follower is sent without a promise.
    handler: (request: FastifyRequest<{ Querystring: LiveQuery }>, reply: FastifyReply) => {
      reply.type('application/json');
      const q = request.query;
      let ip = q.ip;
      let range = q.range;
      /**
       * `value=` beside `ip=`/`range=`: both filters hold, as in CrowdSec's LAPI, whose live query
       * ANDs `value` (the decision's value equals it) with `ip`/`range` (the decision covers it):
       * crowdsecurity/crowdsec pkg/database/decisions.go BuildDecisionRequestWithFilter (commit
       * 02450813). Before, value replaced ip: `ip=A&value=B` answered B's decisions.
       */
      let sameValue: string | null = null;
      if (q.scope !== undefined || q.value !== undefined) {
        const scope = (q.scope ?? 'ip').toLowerCase();
        if (q.value === undefined) throw new ApiError(400, 'bad-request', 'scope needs value');
        if (ip !== undefined || range !== undefined) {
          if (scope !== 'ip' && scope !== 'range') return 'null';
          sameValue = q.value;
        } else if (scope === 'ip') ip = q.value;
        else if (scope === 'range') range = q.value;
        else return 'null'; // other scopes (country, as, username…) hold nothing here
      }
      if (q.contains === false) {
        throw new ApiError(400, 'bad-request', 'contains=false (decisions inside a range) is not supported');
      }
      const types = q.type === undefined ? null : list(q.type);
      const origins = q.origins === undefined ? null : list(q.origins);
      if (ip === undefined && range === undefined) {
        if (request.method === 'HEAD') {
          reply.send();
          return;
        }
        needRedis();
        const keepAll = (d: CrowdsecDecision) => kept(types, origins, d.type, d.origin);
        return Readable.from(arrayBody(allActive(keepAll)), { highWaterMark: 2 });
      }
      if (!blocklist.mirror?.ready) needRedis();
      let found: Decision[] | Promise<Decision[]>;
      /** Whether the allowlist holds any address of the query: then nothing is answered. */
      let allowlisted: () => Promise<boolean>;
      if (ip !== undefined) {
        const address = parseIp(ip);
        if (!address)
          throw new ApiError(
            400,
            'bad-ip',
            `ip: expected an IPv4 or IPv6 address, got ${JSON.stringify(ip)}`,
          );
        found = blocklist.lookupAddress(address);
        // explain's allowlist logic (operator.ts): the unexpired entries holding the address.
        allowlisted = async () => (await blocklist.store.allowEntriesFor(address.text)).length > 0;
      } else {
        let cidr: ReturnType<typeof parseCidr>;
        try {
          cidr = parseCidr(range!);
        } catch (error) {
          throw new ApiError(400, 'bad-range', `range: ${(error as Error).message}`);
        }
        const network = cidr.text.slice(0, cidr.text.indexOf('/'));
        const hostLength = cidr.version === 4 ? 32 : 128;
        // Decisions covering the whole range: ranges at least as wide, or the address of a /32 or /128.
        const covering = (hits: Decision[]) =>
          hits.filter((d) =>
            d.scope === 'range'
              ? Number(d.value.slice(d.value.indexOf('/') + 1)) <= cidr.prefixLength
              : cidr.prefixLength === hostLength,
          );
        const hits = blocklist.lookupIp(network);
        found = Array.isArray(hits) ? covering(hits) : hits.then(covering);
        allowlisted = async () => (await allowFilter())?.covers(cidr) ?? false;
      }
      if (sameValue !== null) {
        const value = sameValue;
        const same = (hits: Decision[]) => hits.filter((d) => d.value === value);
        found = Array.isArray(found) ? same(found) : found.then(same);
      }
      // The allowlist is read only when a decision matched: most lookups stay without a promise.
      const answer = (hits: Decision[]) =>
        hits.length === 0
          ? liveAnswer(request, reply, hits, types, origins, clock())
          : Promise.resolve()
              .then(needRedis)
              .then(allowlisted)
              .then((allowed) => liveAnswer(request, reply, allowed ? [] : hits, types, origins, clock()));
      return Array.isArray(found) ? answer(found) : found.then(answer);
    },
  });
}

/** A key's changes in a pull's window, netted. */
interface Netted {
  /** The last change. */
  change: Change;
  /**
   * The action the key held before the window's first change (what the bouncer holds): the
   * replaced or deleted decision's action; null when it held none; undefined when the first
   * change was logged before the log kept actions (as before: nothing is deleted for it).
   */
  held: Action | null | undefined;
  /** The action of the window's last add of the key, if any. */
  seen: Action | undefined;
}

function heldBefore(change: Change): Action | null | undefined {
  if (change.op === 'add') return change.previous;
  if (change.op === 'del') return change.action;
  return undefined;
}

/** A bouncer's identity of a decision: value and type (one key may be deleted as two types). */
function deletionKey(d: CrowdsecDecision): string {
  return `${d.type} ${d.scope} ${d.value}`;
}

/** The action of a stored decision payload, or undefined when there is none or it cannot be read. */
function actionOfPayload(payload: string | null): Action | undefined {
  if (payload === null) return undefined;
  try {
    return (JSON.parse(payload) as Partial<Decision>).action;
  } catch {
    return undefined;
  }
}

/** A decision as a `deleted` entry: its own type and scenario, a negative duration (CrowdSec's). */
function asDeletion(converted: CrowdsecDecision): CrowdsecDecision {
  const { until: _, ...rest } = converted;
  return { ...rest, duration: '-1s' };
}

/** A decision passes the live query's `type` and `origins` filters (absent or empty: any). */
function kept(types: string[] | null, origins: string[] | null, type: string, origin: string): boolean {
  return (
    (types === null || types.length === 0 || types.includes(type)) &&
    (origins === null || origins.length === 0 || origins.includes(origin))
  );
}

/** The live answer's JSON (`null` when nothing passes), or nothing for HEAD. */
function liveAnswer(
  request: FastifyRequest,
  reply: FastifyReply,
  found: Decision[],
  types: string[] | null,
  origins: string[] | null,
  now: number,
): string | undefined {
  if (request.method === 'HEAD') {
    reply.send();
    return undefined;
  }
  let body = '';
  for (const decision of found) {
    const converted = crowdsecJson(decision, now);
    if (kept(types, origins, converted.type, converted.origin))
      body += body === '' ? `[${converted.json}` : `,${converted.json}`;
  }
  return body === '' ? 'null' : `${body}]`;
}

async function* arrayBody(pages: AsyncIterable<CrowdsecDecision[]>): AsyncGenerator<string> {
  let first = true;
  for await (const batch of pages) {
    if (batch.length === 0) continue;
    yield (first ? '[' : ',') + batch.map((d) => JSON.stringify(d)).join(',');
    first = false;
  }
  yield first ? 'null' : ']';
}
