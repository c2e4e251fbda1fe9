import { parseCidr, parseIp } from '@edgeguard/netaddr';
import { ACTIONS, type Action, actionStrength, type Decision, type DecisionScope } from '@edgeguard/schema';
import type { Cluster, Redis } from 'ioredis';
import {
  addressHex,
  canonicalDecisionKey,
  cidrField,
  keyList,
  parseDecisionKey,
  type StoreKeys,
  scopeKeyPattern,
  storeKeys,
} from './keys.js';
import { ALLOW, ALLOWED, DELETE, DISALLOW, INITIALIZE, LOOKUP, PUT, SWEEP } from './scripts.js';

export interface DecisionStoreOptions {
  /** An ioredis client (single node or cluster: all keys share one hash tag). */
  redis: Redis | Cluster;
  /** Key prefix; keys are `{<prefix>bl}:…`. */
  prefix?: string;
  /** Current time, epoch ms: what "expired" is measured against. Event time in replays, wall time live. */
  clock?: () => number;
  /**
   * Change-log length kept (XADD MAXLEN ~, trimmed in whole stream nodes, so a few hundred more may
   * stay). Followers further behind than this must resync from a snapshot. Each entry holds the
   * decision payload (~300–500 bytes), so the default costs some 50 MB at most.
   */
  changeLogMaxLength?: number;
}

/** An allowlist entry: an address (stored as /32 or /128) or a range that automatic decisions never cover. */
export interface AllowEntry {
  /** Canonical CIDR text. */
  cidr: string;
  comment: string;
  /** When it was added, epoch ms (the store's clock). */
  createdAt: number;
  /** When it stops applying, epoch ms; null = until removed. */
  expiresAt: number | null;
}

export type Change =
  | {
      version: number;
      op: 'add';
      key: string;
      decision: Decision;
      /**
       * The action of the decision this one replaced; null when the key held none. Absent in
       * entries written before the log kept it (unknown).
       */
      previous?: Action | null;
    }
  | {
      version: number;
      op: 'del';
      key: string;
      reason: string;
      /** The deleted decision's action. Absent in entries written before the log kept it (unknown). */
      action?: Action;
    }
  | { version: number; op: 'allow'; key: string; entry: AllowEntry }
  | { version: number; op: 'disallow'; key: string; reason: string };

export interface ChangesPage {
  changes: Change[];
  /** The version to ask from next time (after a resync: the version to pair with a fresh snapshot). */
  version: number;
  /** True when the changes since the asked version are no longer all in the log: take a snapshot. */
  resync: boolean;
  /** Log entries in the range that could not be read (skipped; the version still moves past them). */
  unreadable?: number;
}

export interface ListOptions {
  scope?: DecisionScope;
  /** HSCAN cursor of a previous page, to resume; '0' starts over. */
  cursor?: string;
  /** Page size hint (HSCAN COUNT): a page holds about this many decisions. */
  count?: number;
}

export interface DecisionPage {
  decisions: Decision[];
  /** Cursor to resume after this page; '0' on the last page. */
  cursor: string;
}

export interface SweepResult {
  decisions: number;
  allowEntries: number;
  /** Deleted decisions' versions forgotten (past the time a copy of them could still apply). */
  deletedVersions: number;
}

/** What put() returns for a copy of a deleted decision (see put()). */
export const PUT_REFUSED_DELETED = -1;

type ScriptFn = (...args: Array<string | number>) => Promise<unknown>;
interface ScriptCommands {
  edgeguardDecisionPut: ScriptFn;
  edgeguardDecisionDelete: ScriptFn;
  edgeguardDecisionSweep: ScriptFn;
  edgeguardDecisionLookup: ScriptFn;
  edgeguardAllowlistMatch: ScriptFn;
  edgeguardAllowlistAdd: ScriptFn;
  edgeguardAllowlistRemove: ScriptFn;
  edgeguardStoreInitialize: ScriptFn;
}

const SCRIPTS: Record<keyof ScriptCommands, string> = {
  edgeguardDecisionPut: PUT,
  edgeguardDecisionDelete: DELETE,
  edgeguardDecisionSweep: SWEEP,
  edgeguardDecisionLookup: LOOKUP,
  edgeguardAllowlistMatch: ALLOWED,
  edgeguardAllowlistAdd: ALLOW,
  edgeguardAllowlistRemove: DISALLOW,
  edgeguardStoreInitialize: INITIALIZE,
};

const KEY_COUNT = 16;

/** Specificity used to order decisions of equal action: an address beats any range, a longer prefix a shorter one. */
function specificity(decision: Decision): number {
  if (decision.scope === 'ip') return 200;
  if (decision.scope === 'range') return Number(decision.value.slice(decision.value.indexOf('/') + 1));
  return 0;
}

/** Strongest first: action, then specificity, then the later expiry. */
export function compareStrength(a: Decision, b: Decision): number {
  return (
    actionStrength(b.action) - actionStrength(a.action) ||
    specificity(b) - specificity(a) ||
    b.expiresAt - a.expiresAt
  );
}

/**
 * The Redis decision store: current decisions with per-entry expiry, address and range lookup,
 * allowlist entries, and a versioned change log for followers. See README.md for the layout.
 */
export class DecisionStore {
  readonly keys: StoreKeys;
  private readonly redis: Redis | Cluster;
  private readonly scripts: ScriptCommands;
  private readonly keyArgs: string[];
  private readonly clock: () => number;
  private readonly changeLogMaxLength: number;

  constructor(options: DecisionStoreOptions) {
    this.redis = options.redis;
    this.keys = storeKeys(options.prefix ?? 'edgeguard.');
    this.keyArgs = keyList(this.keys);
    this.clock = options.clock ?? Date.now;
    this.changeLogMaxLength = options.changeLogMaxLength ?? 100_000;
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      // defineCommand evaluates by SHA and loads the script on NOSCRIPT; defining twice is harmless.
      if (!(name in this.redis)) this.redis.defineCommand(name, { numberOfKeys: KEY_COUNT, lua });
    }
    this.scripts = this.redis as unknown as ScriptCommands;
  }

  private args(now: number, ...rest: Array<string | number>): Array<string | number> {
    return [...this.keyArgs, this.changeLogMaxLength, now, ...rest];
  }

  private putFields(decision: Decision, copy: boolean): Array<string | number> {
    const canonical = canonicalDecisionKey(decision.scope, decision.value);
    const stored: Decision = { ...decision, key: canonical.key, value: canonical.value };
    return [
      canonical.key,
      decision.version,
      decision.expiresAt,
      JSON.stringify(stored),
      canonical.cidr ? cidrField(canonical.cidr) : '',
      decision.origin === 'manual' || copy ? '1' : '',
    ];
  }

  /**
   * Stores a decision (payload, expiry, range index and an `add` change, atomically). The key is
   * rebuilt from scope + value in canonical form. Idempotent by (key, version): a version not newer
   * than the stored one is ignored, as is a decision that has already expired (if it supersedes a
   * stored one, that one is deleted). Returns the change version, or 0 when ignored, or
   * PUT_REFUSED_DELETED (-1) when refused as a copy of a decision deleted since: a manual
   * decision, or one marked `copy` (the store writer produced it again), whose version is not above
   * the last one deleted for the key, remembered until that decision would have expired and at
   * most a day (see README.md, Deleted decisions).
   * Throws BadInput (`bad-decision-key`, `bad-cidr`) when the value is not of its scope.
   */
  async put(decision: Decision, options: { copy?: boolean } = {}): Promise<number> {
    return (await this.putMany([decision], options.copy ? [true] : []))[0]!;
  }

  /**
   * put() for several decisions in one script call (in order); returns each one's change version,
   * 0 or -1. `copies[i]` marks decision i as a copy (see put()).
   */
  async putMany(decisions: readonly Decision[], copies: readonly boolean[] = []): Promise<number[]> {
    const fields = decisions.flatMap((decision, i) => this.putFields(decision, copies[i] === true));
    const versions = (await this.scripts.edgeguardDecisionPut(
      ...this.args(this.clock(), ...fields),
    )) as number[];
    return versions.map(Number);
  }

  /** Removes a decision (a tombstone, a manual removal) and logs `del`. Returns the change version, or 0 if absent. */
  async delete(key: string, reason = 'removed'): Promise<number> {
    const canonical = parseDecisionKey(key);
    return Number(
      await this.scripts.edgeguardDecisionDelete(...this.args(this.clock(), canonical.key, reason)),
    );
  }

  /** The unexpired decision stored under `key`, or null. */
  async get(key: string): Promise<Decision | null> {
    const canonical = parseDecisionKey(key);
    const [payload, expiresAt] = await Promise.all([
      this.redis.hget(this.keys.data, canonical.key),
      this.redis.zscore(this.keys.expiry, canonical.key),
    ]);
    if (payload === null || expiresAt === null || Number(expiresAt) <= this.clock()) return null;
    return JSON.parse(payload) as Decision;
  }

  /**
   * The unexpired decisions covering an address: its `ip:` decision and every `range:` decision
   * whose CIDR holds it, strongest first. One script call: one hash probe per range prefix length
   * in use for the address's family (≤ 33 for IPv4, ≤ 129 for IPv6; a handful in practice),
   * independent of the number of decisions. Empty when `ip` is not an address.
   */
  async lookupIp(ip: string): Promise<Decision[]> {
    const address = parseIp(ip);
    if (!address) return [];
    const reply = (await this.scripts.edgeguardDecisionLookup(
      ...this.args(this.clock(), `ip:${address.text}`, String(address.version), addressHex(address)),
    )) as string[];
    const decisions: Decision[] = [];
    for (let i = 1; i < reply.length; i += 2) decisions.push(JSON.parse(reply[i]!) as Decision);
    return decisions.sort(compareStrength);
  }

  /**
   * Unexpired decisions page by page (HSCAN over the payload hash), so a snapshot of any size is
   * served holding one page at a time. As with SCAN, a decision present for the whole scan is seen
   * at least once (possibly twice); one added or removed meanwhile may or may not be: pair the scan
   * with the change log (read `version()` first, then replay `changesSince` that version).
   */
  async *pages(options: ListOptions = {}): AsyncGenerator<DecisionPage> {
    const count = options.count ?? 1000;
    const match = options.scope ? scopeKeyPattern(options.scope) : '*';
    let cursor = options.cursor ?? '0';
    do {
      const [next, flat] = await this.redis.hscan(this.keys.data, cursor, 'MATCH', match, 'COUNT', count);
      cursor = next;
      const keys: string[] = [];
      const payloads: string[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        keys.push(flat[i]!);
        payloads.push(flat[i + 1]!);
      }
      const decisions: Decision[] = [];
      if (keys.length > 0) {
        const expiries = await this.redis.zmscore(this.keys.expiry, ...keys);
        const now = this.clock();
        for (let i = 0; i < keys.length; i++) {
          const expiresAt = expiries[i];
          if (expiresAt != null && Number(expiresAt) > now)
            decisions.push(JSON.parse(payloads[i]!) as Decision);
        }
      }
      if (decisions.length > 0 || cursor === '0') yield { decisions, cursor };
    } while (cursor !== '0');
  }

  /** Unexpired decisions one by one, a page in memory at a time (see pages()). */
  async *list(options: ListOptions = {}): AsyncGenerator<Decision> {
    for await (const page of this.pages(options)) yield* page.decisions;
  }

  /** The version of the latest change (0 for a store never written). Read it before a snapshot. */
  async version(): Promise<number> {
    return Number((await this.redis.get(this.keys.sequence)) ?? 0);
  }

  /**
   * Changes after `since`, oldest first, at most `limit`. `resync` is true (and `changes` empty)
   * when the follower cannot catch up from the log: `since` predates the oldest entry kept (trimmed),
   * predates this store's epoch (the store was wiped and rebuilt; 0 also counts: a new follower
   * starts from a snapshot) or is ahead of the store. Then take a snapshot (pages()) and continue
   * from the returned version.
   */
  async changesSince(since: number, limit = 1000): Promise<ChangesPage> {
    const reply = await this.redis
      .multi()
      .get(this.keys.sequence)
      .get(this.keys.epoch)
      .xrange(this.keys.changes, '-', '+', 'COUNT', 1)
      .xrange(this.keys.changes, `${since + 1}-0`, '+', 'COUNT', limit)
      .exec();
    if (!reply) throw new Error('decision store: change-log read aborted');
    for (const [error] of reply) if (error) throw error;
    const current = Number(reply[0]![1] ?? 0);
    const epoch = Number(reply[1]![1] ?? 0);
    const first = reply[2]![1] as Array<[string, string[]]>;
    const entries = reply[3]![1] as Array<[string, string[]]>;
    if (since === current) return { changes: [], version: current, resync: false };
    const firstKept = first[0] ? entryVersion(first[0][0]) : current + 1;
    if (since > current || since < epoch || firstKept > since + 1) {
      return { changes: [], version: current, resync: true };
    }
    const changes: Change[] = [];
    for (const [id, fields] of entries) {
      const change = parseChangeEntry(id, fields);
      if (change !== null) changes.push(change);
    }
    const last = entries.at(-1);
    const unreadable = entries.length - changes.length;
    return {
      changes,
      version: last ? entryVersion(last[0]) : since,
      resync: false,
      ...(unreadable > 0 ? { unreadable } : {}),
    };
  }

  /**
   * Deletes up to `limit` expired decisions and `limit` expired allowlist entries (expiresAt ≤ now),
   * logging each as `del`/`disallow` with reason `expired`. Readers already ignore expired entries;
   * the sweep frees memory and tells followers.
   */
  async sweepExpired(now = this.clock(), limit = 1000): Promise<SweepResult> {
    const [decisions, allowEntries, deletedVersions] = (await this.scripts.edgeguardDecisionSweep(
      ...this.args(now, limit),
    )) as [number, number, number];
    return { decisions, allowEntries, deletedVersions };
  }

  /**
   * Sweeps every `intervalMs` (batches of `batch` until a batch comes back short, so a backlog is
   * cleared in one round without one long script blocking Redis). Returns stop(), which resolves
   * once a sweep in flight has finished. Errors go to `onError` (default: ignored until next round);
   * `onSwept` hears of each batch that removed something (for metrics).
   */
  startSweeper(
    intervalMs = 1000,
    batch = 1000,
    onError: (error: unknown) => void = () => {},
    onSwept: (swept: SweepResult) => void = () => {},
  ): () => Promise<void> {
    let running: Promise<void> | null = null;
    const round = async (): Promise<void> => {
      for (;;) {
        const swept = await this.sweepExpired(this.clock(), batch);
        if (swept.decisions > 0 || swept.allowEntries > 0 || swept.deletedVersions > 0) onSwept(swept);
        if (swept.decisions < batch && swept.allowEntries < batch && swept.deletedVersions < batch) return;
      }
    };
    const timer = setInterval(() => {
      if (running) return;
      running = round()
        .catch(onError)
        .finally(() => {
          running = null;
        });
    }, intervalMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      if (running) await running;
    };
  }

  /** Adds or replaces an allowlist entry for an address or CIDR; logs `allow`. Returns the change version. */
  async allow(cidrOrIp: string, comment: string, expiresAt?: number): Promise<number> {
    const cidr = parseCidr(cidrOrIp);
    const now = this.clock();
    const entry: AllowEntry = { cidr: cidr.text, comment, createdAt: now, expiresAt: expiresAt ?? null };
    return Number(
      await this.scripts.edgeguardAllowlistAdd(
        ...this.args(now, cidr.text, cidrField(cidr), JSON.stringify(entry), expiresAt ?? '+inf'),
      ),
    );
  }

  /**
   * Stores an allowlist entry as given (an entry read from the `allowlist` topic keeps the
   * `createdAt` the operator's command gave it); logs `allow`. Throws BadInput (`bad-cidr`).
   */
  async putAllowEntry(entry: AllowEntry): Promise<number> {
    const cidr = parseCidr(entry.cidr);
    const stored: AllowEntry = { ...entry, cidr: cidr.text };
    return Number(
      await this.scripts.edgeguardAllowlistAdd(
        ...this.args(
          this.clock(),
          cidr.text,
          cidrField(cidr),
          JSON.stringify(stored),
          entry.expiresAt ?? '+inf',
        ),
      ),
    );
  }

  /** Removes an allowlist entry; logs `disallow`. Returns the change version, or 0 when absent. */
  async disallow(cidrOrIp: string, reason = 'removed'): Promise<number> {
    const cidr = parseCidr(cidrOrIp);
    return Number(await this.scripts.edgeguardAllowlistRemove(...this.args(this.clock(), cidr.text, reason)));
  }

  /** The unexpired allowlist entries holding `ip` (most specific first is not guaranteed). */
  async allowEntriesFor(ip: string): Promise<AllowEntry[]> {
    const address = parseIp(ip);
    if (!address) return [];
    const reply = (await this.scripts.edgeguardAllowlistMatch(
      ...this.args(this.clock(), String(address.version), addressHex(address)),
    )) as string[];
    return reply.map((json) => JSON.parse(json) as AllowEntry);
  }

  /** Whether an unexpired allowlist entry holds `ip`. Same cost as lookupIp(). */
  async isAllowed(ip: string): Promise<boolean> {
    return (await this.allowEntriesFor(ip)).length > 0;
  }

  /**
   * All unexpired allowlist entries. The allowlist is operator-made (hundreds of entries, not
   * traffic-driven), so it is read whole.
   */
  async listAllowlist(): Promise<AllowEntry[]> {
    const all = await this.redis.hgetall(this.keys.allow);
    const now = this.clock();
    return Object.values(all)
      .map((json) => JSON.parse(json) as AllowEntry)
      .filter((entry) => entry.expiresAt === null || entry.expiresAt > now)
      .sort((a, b) => a.cidr.localeCompare(b.cidr));
  }

  /**
   * True when Redis holds nothing of this store (no decision, no allowlist entry, no version
   * counter): Redis lost its data, and the store should be rebuilt from the compacted topic.
   */
  async isEmpty(): Promise<boolean> {
    const present = await this.redis.exists(this.keys.data, this.keys.allow, this.keys.sequence);
    return present === 0;
  }

  /**
   * The version the counter was seeded with when this store was (re)created; 0 while empty. A
   * writer that remembers it can tell that Redis lost its data even after new writes re-seeded it.
   */
  async epoch(): Promise<number> {
    return Number((await this.redis.get(this.keys.epoch)) ?? 0);
  }

  /**
   * Seeds the version counter and epoch if the store has none (as the first write would) and
   * returns the epoch. After a rebuild that stored nothing (every decision on the topic expired),
   * `isEmpty()` is then false: the store is known to be current, not lost.
   */
  async initialize(): Promise<number> {
    return Number(await this.scripts.edgeguardStoreInitialize(...this.args(this.clock())));
  }
}

/** The version of a change-log entry id `<version>-0`. */
export function entryVersion(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/**
 * A change-log entry (`<version>-0` and its flat field list) as a Change, or null when it cannot be
 * read (an unknown op, a payload that is not JSON: not written by this store, or damaged). Readers
 * skip such an entry and go on, so one bad entry never stalls a feed.
 */
export function parseChangeEntry(id: string, fields: readonly string[]): Change | null {
  const version = entryVersion(id);
  if (!Number.isSafeInteger(version) || version < 1) return null;
  const byName = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) byName.set(fields[i]!, fields[i + 1]!);
  const op = byName.get('op');
  const key = byName.get('key') ?? '';
  const json = <T>(name: string): T | null => {
    try {
      const value = JSON.parse(byName.get(name) ?? 'null') as T | null;
      return value !== null && typeof value === 'object' ? value : null;
    } catch {
      return null;
    }
  };
  if (op === 'add') {
    const decision = json<Decision>('decision');
    if (!decision) return null;
    const previous = byName.get('previous');
    if (previous === undefined) return { version, op, key, decision };
    return { version, op, key, decision, previous: knownAction(previous) };
  }
  if (op === 'allow') {
    const entry = json<AllowEntry>('entry');
    return entry && { version, op, key, entry };
  }
  if (op === 'del') {
    const action = knownAction(byName.get('action'));
    const reason = byName.get('reason') ?? '';
    return action === null ? { version, op, key, reason } : { version, op, key, reason, action };
  }
  if (op === 'disallow') return { version, op, key, reason: byName.get('reason') ?? '' };
  return null;
}

/** An action named in a change-log entry, or null ('' or absent: none stored, or not known). */
function knownAction(text: string | undefined): Action | null {
  return (ACTIONS as readonly string[]).includes(text ?? '') ? (text as Action) : null;
}
