import type { ServerResponse } from 'node:http';
import type { Counter, Gauge } from 'prom-client';
import { ApiError } from './errors.js';

/** A live client whose unsent output exceeds this is dropped (it reconnects with Last-Event-ID). */
export const MAX_CLIENT_BUFFER = 1 << 20;
export const PING_INTERVAL_MS = 15_000;

export interface SseMetrics {
  clients: Gauge<string>;
  dropped: Counter<string>;
  events: Counter<string>;
}

export interface SseHubOptions {
  /** Concurrent streams per process (`EDGEGUARD_API_MAX_STREAMS`). */
  max: number;
  /**
   * Concurrent streams per API key and process (`EDGEGUARD_API_MAX_STREAMS_PER_KEY`): one key,
   * leaked or looping, cannot take the streams every other edge needs. An edge agent holds two.
   */
  maxPerKey: number;
  /** Period of the `: ping` comment and of the revocation check (ms, default 15 s). */
  pingIntervalMs?: number;
  /**
   * The names among `names` whose key is revoked (checked each ping period for the keys holding
   * streams); their streams end with `event: revoked`. A failed check closes nothing.
   */
  revoked?: (names: readonly string[]) => Promise<Set<string>>;
  /** A failed revocation check (logged by the caller). */
  onCheckError?: (error: Error) => void;
}

/** One Server-Sent Events connection. */
export class SseConnection {
  closed = false;
  private readonly onClose: Array<() => void> = [];

  constructor(
    readonly res: ServerResponse,
    private readonly metrics: SseMetrics,
    readonly stream: string,
    /** The name of the API key that opened it. */
    readonly keyName: string,
  ) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx: do not buffer the stream
      'x-accel-buffering': 'no',
    });
    res.write(': edgeguard\n\n');
    res.on('close', () => this.close());
  }

  whenClosed(fn: () => void): void {
    if (this.closed) fn();
    else this.onClose.push(fn);
  }

  /**
   * Writes one event. Live (`live`): a client too slow to take it (more than MAX_CLIENT_BUFFER
   * unsent) is dropped rather than buffered without bound. Catching up: returns a promise that
   * resolves when the socket drained (the reader waits instead of reading further).
   */
  event(type: string, id: number | null, data: unknown, live: boolean): undefined | Promise<void> {
    if (this.closed) return undefined;
    const text = `event: ${type}\n${id === null ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`;
    const ok = this.res.write(text);
    this.metrics.events.inc({ stream: this.stream });
    if (ok) return undefined;
    if (live) {
      if (this.res.writableLength > MAX_CLIENT_BUFFER) {
        this.metrics.dropped.inc({ stream: this.stream });
        this.close(true);
      }
      return undefined;
    }
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        resolve();
      };
      this.res.once('drain', done);
      this.whenClosed(done);
    });
  }

  ping(): void {
    if (!this.closed) this.res.write(': ping\n\n');
  }

  /** Ends the stream; `drop`: destroys the connection at once, discarding what is still buffered. */
  close(drop = false): void {
    if (this.closed) return;
    this.closed = true;
    if (drop) this.res.destroy();
    else if (!this.res.writableEnded) this.res.end();
    for (const fn of this.onClose.splice(0)) fn();
  }
}

/**
 * Every SSE connection of the process: bounded in number (per process and per key), pinged every
 * ping period, ended when their key is revoked, closed at shutdown.
 */
export class SseHub {
  private readonly connections = new Set<SseConnection>();
  /** Open streams per key name (an entry only while the key holds one: bounded by `max`). */
  private readonly perKey = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private checking = false;

  constructor(
    private readonly options: SseHubOptions,
    private readonly metrics: SseMetrics,
  ) {
    this.timer = setInterval(() => {
      for (const connection of this.connections) connection.ping();
      void this.checkKeys();
    }, options.pingIntervalMs ?? PING_INTERVAL_MS);
    this.timer.unref();
  }

  get size(): number {
    return this.connections.size;
  }

  /**
   * Throws what `open` would for the key `keyName` (503 `too-many-streams`, 429
   * `too-many-streams-for-key`), opening nothing: a HEAD request answers as its GET would.
   */
  checkRoom(keyName: string): void {
    const { max, maxPerKey } = this.options;
    if (this.connections.size >= max) {
      throw new ApiError(503, 'too-many-streams', `this API process serves at most ${max} event streams`, {
        'retry-after': '5',
      });
    }
    const held = this.perKey.get(keyName) ?? 0;
    if (held >= maxPerKey) {
      throw new ApiError(
        429,
        'too-many-streams-for-key',
        `the API key '${keyName}' holds ${held} event streams on this API process, the most one key may (EDGEGUARD_API_MAX_STREAMS_PER_KEY=${maxPerKey}); close one or give each edge its own key`,
        { 'retry-after': '5' },
      );
    }
  }

  /**
   * Opens a stream on `res` for the key `keyName`; 503 `too-many-streams` when the process holds
   * `max` already, 429 `too-many-streams-for-key` when this key holds `maxPerKey`.
   */
  open(res: ServerResponse, stream: string, keyName: string): SseConnection {
    this.checkRoom(keyName);
    const held = this.perKey.get(keyName) ?? 0;
    const connection = new SseConnection(res, this.metrics, stream, keyName);
    this.connections.add(connection);
    this.perKey.set(keyName, held + 1);
    this.metrics.clients.inc({ stream });
    connection.whenClosed(() => {
      this.connections.delete(connection);
      const left = (this.perKey.get(keyName) ?? 1) - 1;
      if (left > 0) this.perKey.set(keyName, left);
      else this.perKey.delete(keyName);
      this.metrics.clients.dec({ stream });
    });
    return connection;
  }

  /** Ends the streams of keys revoked since they opened (one check at a time). */
  private async checkKeys(): Promise<void> {
    if (!this.options.revoked || this.checking || this.perKey.size === 0) return;
    this.checking = true;
    try {
      const revoked = await this.options.revoked([...this.perKey.keys()]);
      if (revoked.size === 0) return;
      for (const connection of this.connections) {
        if (!revoked.has(connection.keyName)) continue;
        connection.event(
          'revoked',
          null,
          { error: 'revoked-key', message: `the API key '${connection.keyName}' was revoked` },
          true,
        );
        connection.close();
      }
    } catch (error) {
      this.options.onCheckError?.(error as Error);
    } finally {
      this.checking = false;
    }
  }

  closeAll(): void {
    clearInterval(this.timer);
    for (const connection of this.connections) connection.close();
  }
}
