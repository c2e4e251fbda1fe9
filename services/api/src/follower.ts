/** A page of changes from a versioned log (the decision store's, or the cache-policy topic's). */
export interface Page<C> {
  changes: C[];
  version: number;
  resync: boolean;
  /** Entries of the page that could not be read (skipped; `version` is past them). */
  unreadable?: number;
}

/** Changes held while a follower catches up from the store; past this it catches up again instead. */
const MAX_PENDING = 50_000;
const PAGE = 1000;

/**
 * Something that follows the store's change log from a version: fed live by the ChangeFeed, and
 * catching up from the store (`changesSince`) when it starts behind or sees a gap. Live batches
 * arriving during a catch-up are held (bounded) and applied after it, so nothing between the last
 * catch-up read and the live stream is lost.
 */
export abstract class Follower<C extends { version: number }> {
  cursor: number;
  private catching = false;
  private pending: C[] = [];
  private overflowed = false;
  closed = false;

  constructor(
    cursor: number,
    private readonly changesSince: (version: number, limit: number) => Promise<Page<C>>,
  ) {
    this.cursor = cursor;
  }

  /** Applies one change in order; may return a promise to wait on (backpressure) during a catch-up. */
  protected abstract apply(change: C, live: boolean): undefined | Promise<void>;
  /**
   * The log cannot be followed from `cursor` (trimmed, wiped, or ahead of the store; `version` is
   * the store's): start over, setting `cursor` to the version the new state is at, or close.
   */
  protected abstract resync(version: number): Promise<void>;
  protected abstract failed(error: Error): void;
  /** Called after each completed catch-up. */
  protected caughtUp(): void {}

  /** ChangeFeed listener. */
  readonly onChanges = (changes: readonly C[]): void => {
    if (this.closed) return;
    if (this.catching) {
      if (this.pending.length + changes.length > MAX_PENDING) {
        this.pending = [];
        this.overflowed = true;
      } else this.pending.push(...changes);
      return;
    }
    this.deliver(changes);
  };

  private deliver(changes: readonly C[]): void {
    for (const change of changes) {
      if (this.closed) return;
      if (change.version <= this.cursor) continue;
      if (change.version > this.cursor + 1) {
        void this.catchUp();
        return;
      }
      void this.apply(change, true);
      this.cursor = change.version;
    }
  }

  /** Reads the store from `cursor` until caught up, then applies what arrived live meanwhile. */
  async catchUp(): Promise<void> {
    if (this.catching || this.closed) return;
    this.catching = true;
    try {
      do {
        this.overflowed = false;
        for (;;) {
          const page = await this.changesSince(this.cursor, PAGE);
          if (this.closed) return;
          if (page.resync) {
            await this.resync(page.version);
            if (this.closed) return;
            continue;
          }
          for (const change of page.changes) {
            if (change.version <= this.cursor) continue;
            const wait = this.apply(change, false);
            if (wait) await wait;
            this.cursor = change.version;
            if (this.closed) return;
          }
          // Past the page's unreadable entries too (`version` is the last entry read): else a page
          // of nothing readable stopped the catch-up before it, and every later one read it again.
          if (page.version > this.cursor) this.cursor = page.version;
          if (page.changes.length + (page.unreadable ?? 0) < PAGE) break;
        }
      } while (this.overflowed);
      this.catching = false;
      this.caughtUp();
      const held = this.pending;
      this.pending = [];
      this.deliver(held);
    } catch (error) {
      this.catching = false;
      this.failed(error as Error);
    }
  }
}
