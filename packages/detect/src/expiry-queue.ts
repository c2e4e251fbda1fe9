/**
 * A binary min-heap of (time, key, version) entries: what expires next. The key is whatever
 * the owner finds its entry by (a text, or the entry itself). Entries are not removed
 * early; a popped entry whose version is no longer current is simply skipped by the caller. Every
 * update of a key pushes a new entry, so the owner calls `compactIfStale` after pushing: once stale
 * entries outnumber the live ones (plus a margin) they are dropped in one O(n) pass, which bounds
 * the queue to about twice what is live however often decisions are extended or re-dated.
 */
export class ExpiryQueue<K = string> {
  private times: number[] = [];
  private keys: K[] = [];
  private versions: number[] = [];

  get size(): number {
    return this.times.length;
  }

  push(time: number, key: K, version: number): void {
    this.times.push(time);
    this.keys.push(key);
    this.versions.push(version);
    let i = this.times.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.times[parent]! <= this.times[i]!) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** The earliest time, or +Infinity when empty. */
  peekTime(): number {
    return this.times.length > 0 ? this.times[0]! : Number.POSITIVE_INFINITY;
  }

  /** Removes the earliest entry and returns it. */
  pop(): { time: number; key: K; version: number } | undefined {
    const n = this.times.length;
    if (n === 0) return undefined;
    const top = { time: this.times[0]!, key: this.keys[0]!, version: this.versions[0]! };
    const lastTime = this.times.pop()!;
    const lastKey = this.keys.pop()!;
    const lastVersion = this.versions.pop()!;
    if (n > 1) {
      this.times[0] = lastTime;
      this.keys[0] = lastKey;
      this.versions[0] = lastVersion;
      this.siftDown(0, n - 1);
    }
    return top;
  }

  /**
   * Drops the entries `isLive` rejects when the queue holds more than twice `live` + 1024 entries.
   * Returns how many were dropped.
   */
  compactIfStale(live: number, isLive: (key: K, version: number) => boolean): number {
    const n = this.times.length;
    if (n <= 2 * live + 1024) return 0;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      if (!isLive(this.keys[i]!, this.versions[i]!)) continue;
      this.times[kept] = this.times[i]!;
      this.keys[kept] = this.keys[i]!;
      this.versions[kept] = this.versions[i]!;
      kept++;
    }
    this.times.length = kept;
    this.keys.length = kept;
    this.versions.length = kept;
    for (let i = (kept >> 1) - 1; i >= 0; i--) this.siftDown(i, kept);
    return n - kept;
  }

  private siftDown(start: number, size: number): void {
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < size && this.times[left]! < this.times[smallest]!) smallest = left;
      if (right < size && this.times[right]! < this.times[smallest]!) smallest = right;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }

  private swap(a: number, b: number): void {
    const t = this.times[a]!;
    this.times[a] = this.times[b]!;
    this.times[b] = t;
    const k = this.keys[a]!;
    this.keys[a] = this.keys[b]!;
    this.keys[b] = k;
    const v = this.versions[a]!;
    this.versions[a] = this.versions[b]!;
    this.versions[b] = v;
  }
}
