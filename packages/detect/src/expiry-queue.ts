/**
 * A binary min-heap of (time, key, version) entries: what expires next. Entries are never
 * removed early; a popped entry whose version is no longer current is simply skipped by the caller.
 */
export class ExpiryQueue {
  private times: number[] = [];
  private keys: string[] = [];
  private versions: number[] = [];

  get size(): number {
    return this.times.length;
  }

  push(time: number, key: string, version: number): void {
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
  pop(): { time: number; key: string; version: number } | undefined {
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
      let i = 0;
      const size = n - 1;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < size && this.times[left]! < this.times[smallest]!) smallest = left;
        if (right < size && this.times[right]! < this.times[smallest]!) smallest = right;
        if (smallest === i) break;
        this.swap(i, smallest);
        i = smallest;
      }
    }
    return top;
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
