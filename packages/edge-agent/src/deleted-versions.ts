/**
 * The versions of decisions deleted lately, so that a copy of one produced before its deletion
 * and read after it does not bring it back: the decision store writer produces a decision again
 * when it keeps it over a record that must not replace it (an operator's decision after the
 * decider's records, a decision after an older owner's late tombstone or decision), and the
 * operator or the decider may delete it meanwhile. The decision store keeps the same memory
 * (packages/decisions, Deleted decisions); an agent following Kafka reads the topic itself, so it
 * needs its own. Only manual decisions and copies (`eg-copy`) are checked against it: manual
 * versions come from the wall clock and only go up, and the decider's own decisions after a lift
 * may be numbered below the lifted one (late evidence), so they are always taken.
 *
 * Bounded: an entry lives until the deleted decision would have expired and at most a day, and at
 * most `max` entries are kept (the oldest deletion is forgotten first: a copy lands within moments
 * of the deletion it races, so the latest deletions are the ones that matter).
 */
export class DeletedVersions {
  static readonly MEMORY_MS = 86_400_000;
  private readonly entries = new Map<string, { version: number; until: number }>();

  constructor(private readonly max = 10_000) {}

  remember(key: string, version: number, expiresAt: number, now: number): void {
    const until = Math.min(expiresAt, now + DeletedVersions.MEMORY_MS);
    if (!(until > now)) return;
    const known = this.entries.get(key);
    if (known !== undefined && known.version >= version) return;
    // Re-inserted: the Map's order is the order of deletion, oldest first.
    this.entries.delete(key);
    this.entries.set(key, { version, until });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Whether a decision of `version` for `key` (a manual one, or a copy) is a copy of one deleted since. */
  refuses(key: string, version: number, now: number): boolean {
    const known = this.entries.get(key);
    return known !== undefined && known.until > now && version <= known.version;
  }

  prune(now: number): void {
    for (const [key, entry] of this.entries) if (entry.until <= now) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
