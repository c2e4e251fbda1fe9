/**
 * A bounded key → value table with CLOCK (second-chance) eviction, for the per-client profiles on
 * the hot path. Each entry owns a fixed slot number in [0, capacity), so callers can keep the
 * entry's numbers in typed-array pools indexed by slot (no per-client arrays, no free lists).
 *
 * CLOCK approximates least-recently-used: a hit only sets a "referenced" bit (one byte write,
 * instead of relinking a list), and eviction sweeps a hand over the slots, sparing each referenced
 * entry once. A client active since the hand last passed is never evicted before an idle one; the
 * trade-off against exact LRU is that among entries referenced in the same sweep, the order is
 * the hand's, not recency's.
 */
/** Key → slot lookup of a {@link ClockTable}: a `Map` by default. */
export interface KeyIndex<K> {
  readonly size: number;
  get(key: K): number | undefined;
  set(key: K, slot: number): unknown;
  delete(key: K): boolean;
}

export class ClockTable<K, V> {
  private keys: K[] = [];
  private values: V[] = [];
  private referenced: Uint8Array;
  private hand = 0;
  /** Entries evicted to make room so far. */
  evicted = 0;

  constructor(
    /** Most entries held; slots are 0 … capacity - 1. */
    readonly capacity: number,
    /** Called with an entry being evicted, before its slot is reused. */
    private readonly onEvict: (value: V, key: K) => void = () => {},
    /** Where keys are looked up (a specialised index for one kind of key; initially empty). */
    private readonly index: KeyIndex<K> = new Map<K, number>(),
    /**
     * Whether a new entry starts referenced. false: a key seen once goes at the hand's next pass
     * unless it is used again before, so a flood of one-time keys evicts itself and not the keys
     * in use. (Inserted referenced, a flood leaves every entry referenced: the hand clears them
     * all in one sweep and then evicts in slot order, FIFO, a key in use included if the hand
     * reaches it before its next use.)
     */
    private readonly insertReferenced = true,
  ) {
    if (!(capacity >= 1)) throw new RangeError(`ClockTable capacity must be ≥ 1, got ${capacity}`);
    this.referenced = new Uint8Array(Math.min(capacity, 1024));
  }

  get size(): number {
    return this.index.size;
  }

  get(key: K): V | undefined {
    const slot = this.index.get(key);
    if (slot === undefined) return undefined;
    this.referenced[slot] = 1;
    return this.values[slot];
  }

  /** Marks the entry in `slot` as used, as a `get` of its key does (no lookup). */
  touch(slot: number): void {
    this.referenced[slot] = 1;
  }

  /**
   * Adds `key` (which must not be present), evicting an entry when full. `make` builds the value
   * for the slot it will occupy.
   */
  insert(key: K, make: (slot: number) => V): V {
    let slot: number;
    if (this.keys.length < this.capacity) {
      slot = this.keys.length;
      if (slot >= this.referenced.length) {
        const grown = new Uint8Array(Math.min(this.capacity, this.referenced.length * 2));
        grown.set(this.referenced);
        this.referenced = grown;
      }
      const value = make(slot);
      this.keys.push(key);
      this.values.push(value);
      this.index.set(key, slot);
      this.referenced[slot] = this.insertReferenced ? 1 : 0;
      return value;
    }
    slot = this.victim();
    const oldKey = this.keys[slot]!;
    this.index.delete(oldKey);
    this.onEvict(this.values[slot]!, oldKey);
    this.evicted++;
    const value = make(slot);
    this.keys[slot] = key;
    this.values[slot] = value;
    this.index.set(key, slot);
    this.referenced[slot] = this.insertReferenced ? 1 : 0;
    return value;
  }

  /** The next slot the hand finds unreferenced (clearing the bits it passes). */
  private victim(): number {
    const n = this.capacity;
    for (;;) {
      const slot = this.hand;
      this.hand = slot + 1 === n ? 0 : slot + 1;
      if (this.referenced[slot] === 0) return slot;
      this.referenced[slot] = 0;
    }
  }

  *entries(): IterableIterator<[K, V]> {
    for (let slot = 0; slot < this.keys.length; slot++) yield [this.keys[slot]!, this.values[slot]!];
  }
}
