import { type Change, entryVersion, parseChangeEntry, type StoreKeys } from '@edgeguard/decisions';
import type { Logger } from '@edgeguard/telemetry';
import type { Redis } from 'ioredis';

export type Listener = (changes: readonly Change[]) => void;

/**
 * The one reader of the store's change log per process: `XREAD BLOCK` on its own connection
 * (a blocked connection serves nothing else), handing each batch to every listener (SSE clients,
 * the in-memory follower). A change reaches listeners a Redis round trip after it is written.
 * Listeners see batches in log order; each checks for gaps itself (a listener that registered
 * late, or a wiped store seeded at a higher version) and catches up from the store.
 */
export class ChangeFeed {
  private readonly listeners = new Set<Listener>();
  private running = false;
  private stopped: Promise<void> = Promise.resolve();
  /** The last version read from the log (0 before the first read). */
  last = 0;
  /** Change-log entries skipped because they could not be read. */
  unreadable = 0;
  private failing = false;
  /** Ends the wait for the read in flight (see stop()); set per read. */
  private wake: () => void = () => undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
    private readonly logger: Logger,
    private readonly blockMs = 5_000,
  ) {}

  /** Whether the reader is connected and its last read did not fail (for /readyz). */
  get healthy(): boolean {
    return this.running && !this.failing && this.redis.status === 'ready';
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts reading after `version` (the store's current version at start). */
  start(version: number): void {
    this.last = version;
    this.running = true;
    this.stopped = this.loop();
  }

  /**
   * Ends the loop without waiting for its read: ioredis never settles a command queued while it
   * reconnects once disconnect() is called then (status stays `reconnecting`, the offline queue is
   * not flushed; checked with ioredis 5), so with Redis unreachable stop() waited for good and the
   * API's SIGTERM ended only at EDGEGUARD_STOP_TIMEOUT_MS, exit 1.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    this.redis.disconnect();
    await this.stopped;
  }

  private async loop(): Promise<void> {
    let backoff = 100;
    while (this.running) {
      try {
        const read = this.redis.xread(
          'COUNT',
          1000,
          'BLOCK',
          this.blockMs,
          'STREAMS',
          this.keys.changes,
          `${this.last}-0`,
        );
        read.catch(() => undefined); // a read abandoned by stop() may still fail
        // One promise per read, settled by the read or by stop(): not Promise.race with one
        // promise living as long as the feed, which keeps every race, and so every reply, alive.
        const reply = await new Promise<Array<[string, Array<[string, string[]]>]> | null | undefined>(
          (resolve, reject) => {
            this.wake = () => resolve(undefined);
            if (!this.running) resolve(undefined);
            read.then(resolve, reject);
          },
        );
        if (!this.running) break;
        this.failing = false;
        backoff = 100;
        const entries = reply?.[0]?.[1];
        if (!entries || entries.length === 0) continue;
        const changes: Change[] = [];
        for (const [id, fields] of entries) {
          const change = parseChangeEntry(id, fields);
          if (change !== null) changes.push(change);
          else {
            this.unreadable++;
            this.logger.warn({ id, fields: fields.slice(0, 8) }, 'unreadable change-log entry skipped');
          }
        }
        // Past every entry read, readable or not: a bad entry must not be read again forever.
        this.last = entryVersion(entries.at(-1)![0]);
        if (changes.length === 0) continue;
        for (const listener of this.listeners) {
          try {
            listener(changes);
          } catch (error) {
            this.logger.error({ err: error }, 'change listener failed');
          }
        }
      } catch (error) {
        if (!this.running) break;
        this.failing = true;
        this.logger.warn({ err: error }, 'change-log read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 5_000);
      }
    }
  }
}
