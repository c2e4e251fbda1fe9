import { CidrSet, parseCidr } from '@edgeguard/netaddr';
import { BadInput } from '@edgeguard/schema';

/** An operator's allowlist entry as the API lists it and the `allowlist` topic carries it. */
export interface AllowEntry {
  /** Canonical CIDR (an address is a /32 or /128). */
  cidr: string;
  comment: string;
  createdAt: number;
  /** Epoch ms, or null for an entry without end. */
  expiresAt: number | null;
}

/** Allowlist entries held at most: operators write them by hand, a few hundred is a lot. */
export const MAX_ALLOW_ENTRIES = 100_000;

/** An AllowEntry from untrusted JSON; throws BadInput (`bad-allow-entry`). */
export function parseAllowEntry(value: unknown, key?: string): AllowEntry {
  const fail = (message: string) => new BadInput('bad-allow-entry', `${key ?? '(allow entry)'}: ${message}`);
  if (typeof value !== 'object' || value === null) throw fail('expected an AllowEntry object');
  const entry = value as Partial<AllowEntry>;
  let cidr: string;
  try {
    cidr = parseCidr(String(entry.cidr)).text;
  } catch (error) {
    throw fail((error as Error).message);
  }
  if (key !== undefined && parseCidr(key).text !== cidr) throw fail(`the entry is for ${cidr}, not its key`);
  if (
    entry.expiresAt !== null &&
    entry.expiresAt !== undefined &&
    (typeof entry.expiresAt !== 'number' || !Number.isFinite(entry.expiresAt))
  )
    throw fail('expiresAt must be epoch ms or null');
  return {
    cidr,
    comment: typeof entry.comment === 'string' ? entry.comment : '',
    createdAt: typeof entry.createdAt === 'number' ? entry.createdAt : 0,
    expiresAt: entry.expiresAt ?? null,
  };
}

/**
 * The allowlist at the edge: addresses and ranges no decision applies to (the decider never
 * decides them, but a fingerprint decision covers every address using the fingerprint, and
 * enforcement must check the allowlist first — packages/detect's README, "Allowlists always win").
 *
 * Read only when a decision matched, so it costs nothing on most requests. The CidrSet answers the
 * most specific entry; an expired entry does not allow (until the next prune drops it, an expired
 * specific entry can hide a broader active one: the decision then applies, the safe side).
 */
export class AllowIndex {
  private readonly entries = new Map<string, AllowEntry>();
  private set = new CidrSet();
  private dirty = false;

  get size(): number {
    return this.entries.size;
  }

  /** Whether an active entry covers `ip` at `now`. */
  covers(ip: string, now: number): boolean {
    if (this.entries.size === 0) return false;
    if (this.dirty) this.rebuild();
    const cidr = this.set.match(ip);
    if (cidr === null) return false;
    const entry = this.entries.get(cidr);
    return entry !== undefined && (entry.expiresAt === null || entry.expiresAt > now);
  }

  put(entry: AllowEntry): void {
    if (!this.entries.has(entry.cidr) && this.entries.size >= MAX_ALLOW_ENTRIES)
      throw new BadInput('too-many', `more than ${MAX_ALLOW_ENTRIES} allowlist entries`);
    this.entries.set(entry.cidr, entry);
    this.dirty = true;
  }

  delete(cidrOrKey: string): boolean {
    let cidr: string;
    try {
      cidr = parseCidr(cidrOrKey).text;
    } catch {
      return false;
    }
    const removed = this.entries.delete(cidr);
    if (removed) this.dirty = true;
    return removed;
  }

  /** Replaces every entry (a full listing from the API). */
  replace(entries: readonly AllowEntry[]): void {
    this.entries.clear();
    for (const entry of entries.slice(0, MAX_ALLOW_ENTRIES)) this.entries.set(entry.cidr, entry);
    this.dirty = true;
  }

  prune(now: number): number {
    let removed = 0;
    for (const [cidr, entry] of this.entries) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) {
        this.entries.delete(cidr);
        removed++;
      }
    }
    if (removed > 0) this.dirty = true;
    return removed;
  }

  private rebuild(): void {
    // CidrSet has no removal; the list is small and changes rarely, so it is rebuilt whole.
    this.set = new CidrSet(this.entries.keys());
    this.dirty = false;
  }
}
