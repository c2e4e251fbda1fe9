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

/** One Server-Sent Events connection. */
export class SseConnection {
  closed = false;
  private readonly onClose: Array<() => void> = [];

  constructor(
    readonly res: ServerResponse,
    private readonly metrics: SseMetrics,
    readonly stream: string,
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

/** Every SSE connection of the process: bounded in number, pinged every 15 s, closed at shutdown. */
export class SseHub {
  private readonly connections = new Set<SseConnection>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly max: number,
    private readonly metrics: SseMetrics,
  ) {
    this.timer = setInterval(() => {
      for (const connection of this.connections) connection.ping();
    }, PING_INTERVAL_MS);
    this.timer.unref();
  }

  get size(): number {
    return this.connections.size;
  }

  /** Opens a stream on `res`; 503 `too-many-streams` when the process holds `max` already. */
  open(res: ServerResponse, stream: string): SseConnection {
    if (this.connections.size >= this.max) {
      throw new ApiError(
        503,
        'too-many-streams',
        `this API process serves at most ${this.max} event streams`,
        {
          'retry-after': '5',
        },
      );
    }
    const connection = new SseConnection(res, this.metrics, stream);
    this.connections.add(connection);
    this.metrics.clients.inc({ stream });
    connection.whenClosed(() => {
      this.connections.delete(connection);
      this.metrics.clients.dec({ stream });
    });
    return connection;
  }

  closeAll(): void {
    clearInterval(this.timer);
    for (const connection of this.connections) connection.close();
  }
}
