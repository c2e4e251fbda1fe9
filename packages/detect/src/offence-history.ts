/**
 * Offences per decision key within `ttlMs` of event time, bounded to `max` keys with exact LRU
 * eviction (a Map's order is its recency order: a key used is re-inserted at the end, and the
 * first key is the least recently used). What escalation needs and no more: one small record per
 * key, nothing preallocated for `max` keys.
 *
 * It replaces an lru-cache with an event-time clock, with the same rules (an entry read after
 * `ttlMs` since it was last set is forgotten; reads and writes make a key most recent), except
 * that lru-cache caches its clock for `ttlResolution` ms of wall-clock time, so which entries
 * counted as expired could depend on how fast a replay ran. Here the clock is the decider's.
 */
export class OffenceHistory {
  private readonly entries = new Map<string, { offences: number; at: number }>();

  constructor(
    readonly max: number,
    readonly ttlMs: number,
  ) {
    if (!(max >= 1)) throw new RangeError(`OffenceHistory max must be ≥ 1, got ${max}`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Offences on `key` in the `ttlMs` before `now` (0 if none). */
  offences(key: string, now: number): number {
    const entry = this.entries.get(key);
    if (entry === undefined) return 0;
    this.entries.delete(key);
    if (now - entry.at > this.ttlMs) return 0;
    this.entries.set(key, entry);
    return entry.offences;
  }

  /**
   * Counts one more offence on `key` at `now`. A caller that has just asked `offences(key, now)`
   * passes the answer as `known`, which saves asking again (the answer would be the same). 0 then
   * means the key is not held (`offences` forgot it if it was stale): nothing to take out first.
   */
  add(key: string, now: number, known?: number): void {
    const offences = known ?? this.offences(key, now);
    if (known !== 0) this.entries.delete(key);
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { offences: offences + 1, at: now });
  }
}
