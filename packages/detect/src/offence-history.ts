/**
 * Offences per key within `ttlMs` of event time, bounded to `max` keys with exact LRU eviction.
 * What escalation needs and no more: one small record per key, nothing preallocated for `max` keys.
 *
 * Keys live in `spaces` separate maps, a key only ever compared with keys of its own space: the
 * decider keeps one per decision scope, keyed by the decision's value, the address text it already
 * looked its active decision up by (hash computed), where an `ip:` key built per new decision was
 * hashed here first. A map's order is its recency order (a key used is re-inserted at the end) and
 * each record says when it was last used, so the least recently used key of all is the least
 * recent of the maps' first keys.
 *
 * It replaces an lru-cache with an event-time clock, with the same rules (an entry read after
 * `ttlMs` since it was last set is forgotten; reads and writes make a key most recent), except
 * that lru-cache caches its clock for `ttlResolution` ms of wall-clock time, so which entries
 * counted as expired could depend on how fast a replay ran. Here the clock is the decider's.
 */
export class OffenceHistory {
  private readonly spaces: Map<string, { offences: number; at: number; used: number; until: number }>[];
  /** Reads and writes so far: a record's `used` is the count at its last one. */
  private uses = 0;

  constructor(
    readonly max: number,
    readonly ttlMs: number,
    spaces = 1,
  ) {
    if (!(max >= 1)) throw new RangeError(`OffenceHistory max must be ≥ 1, got ${max}`);
    this.spaces = Array.from({ length: spaces }, () => new Map());
  }

  get size(): number {
    let size = 0;
    for (const entries of this.spaces) size += entries.size;
    return size;
  }

  /** Offences on `key` (of `space`) in the `ttlMs` before `now` (0 if none). */
  offences(key: string, now: number, space = 0): number {
    const entries = this.spaces[space]!;
    const entry = entries.get(key);
    if (entry === undefined) return 0;
    entries.delete(key);
    if (now - entry.at > this.ttlMs) return 0;
    entry.used = ++this.uses;
    entries.set(key, entry);
    return entry.offences;
  }

  /**
   * Counts one more offence on `key` (of `space`) at `now`, whose decision runs `until`. A caller
   * that has just asked `offences(key, now, space)` passes the answer as `known`, which saves
   * asking again (the answer would be the same). 0 then means the key is not held (`offences`
   * forgot it if it was stale): nothing to take out first.
   */
  add(key: string, now: number, known?: number, space = 0, until = now): void {
    const entries = this.spaces[space]!;
    const offences = known ?? this.offences(key, now, space);
    if (known !== 0) entries.delete(key);
    if (this.size >= this.max) this.evictLeastRecent();
    entries.set(key, { offences: offences + 1, at: now, used: ++this.uses, until });
  }

  /**
   * When the decision of `key`'s latest offence would have expired (−∞ if none is held). Asked
   * right after `offences` found one: a key decided again before then was lifted early, and its
   * new decision is the same offence (a flap), not a repeat.
   */
  until(key: string, space = 0): number {
    return this.spaces[space]!.get(key)?.until ?? Number.NEGATIVE_INFINITY;
  }

  /**
   * The decision of `key`'s latest offence, made again or extended at `now` without a new
   * offence, now runs `until`. The offence is remembered `ttlMs` from `now`, as when it was
   * counted (a block extended for a day must still count when its key returns after it), and the
   * key becomes the most recent.
   */
  resume(key: string, now: number, until: number, space = 0): void {
    const entries = this.spaces[space]!;
    const entry = entries.get(key);
    if (entry === undefined) return;
    if (until > entry.until) entry.until = until;
    if (now > entry.at) entry.at = now;
    entry.used = ++this.uses;
    entries.delete(key);
    entries.set(key, entry);
  }

  private evictLeastRecent(): void {
    let oldest: Map<string, { used: number }> | null = null;
    let oldestKey = '';
    let oldestUsed = Number.POSITIVE_INFINITY;
    for (const entries of this.spaces) {
      const first = entries.entries().next();
      if (first.done !== true && first.value[1].used < oldestUsed) {
        oldest = entries;
        oldestKey = first.value[0];
        oldestUsed = first.value[1].used;
      }
    }
    oldest?.delete(oldestKey);
  }
}
