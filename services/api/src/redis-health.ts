import { within } from '@edgeguard/kafka';
import type { Logger } from '@edgeguard/telemetry';
import type { Cluster, Redis } from 'ioredis';
import type { Gauge } from 'prom-client';
import { ApiError } from './errors.js';

/**
 * Whether the API's Redis answers, for failing fast while it does not.
 *
 * Each command of the API's client is bounded by EDGEGUARD_REDIS_TIMEOUT_MS (ioredis
 * `commandTimeout`, the same variable and default as the stage services' `redisTimeoutMs()`): a
 * request needing Redis gets 503 `redis-unavailable` within about that long instead of hanging for
 * as long as Redis is silent (a paused or stopped process, a network black hole: the connection
 * stays open, nothing answers). Once a command has timed out, or the probe (a PING every second,
 * bounded with `within`) has failed, Redis counts as unavailable: routes that need it are refused at once
 * (no command sent, so nothing piles up in the client's queue however many requests come), /readyz
 * says why, and the first PING answered makes everything go on.
 */
export class RedisHealth {
  /** Why Redis counts as unavailable, or null. */
  problem: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private lastError: string | undefined;

  constructor(
    private readonly redis: Redis | Cluster,
    readonly timeoutMs: number,
    /** How Redis is named in messages, e.g. `Redis at 127.0.0.1:6379 (REDIS_URL)`. */
    private readonly what: string,
    private readonly logger: Logger,
    /**
     * `edgeguard_api_redis_available`: 0 until a PING is answered (a Redis down at startup is not
     * reported as up), 1 while Redis answers, 0 while it counts as unavailable.
     */
    private readonly available?: Gauge<string>,
    private readonly intervalMs = 1_000,
  ) {
    available?.set(0);
  }

  /** Probes at once, then every intervalMs. */
  start(): void {
    void this.probe();
    this.timer = setInterval(() => void this.probe(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One PING, unless one is in flight; resolves once it answered or gave up. */
  async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      await within(this.timeoutMs, this.redis.ping(), this.what, () => this.lastError);
      if (this.problem !== null) this.logger.info(`${this.what} answers again`);
      this.problem = null;
      this.available?.set(1);
      this.lastError = undefined;
    } catch (error) {
      // The documented words whatever ioredis said (ECONNREFUSED, closed, timed out): the raw cause is logged.
      this.down((error as Error).message);
    } finally {
      this.probing = false;
    }
  }

  /** 503 `redis-unavailable` while Redis counts as unavailable. */
  check(): void {
    if (this.problem !== null) throw new ApiError(503, 'redis-unavailable', this.problem, RETRY);
  }

  /**
   * The 503 for an error that says Redis did not answer (a command timed out, the connection is
   * closed or retried out), or null for any other error (a Redis error reply stays a 500).
   */
  unavailable(error: Error): ApiError | null {
    if (error.name === 'ReplyError' || !REDIS_DOWN.test(error.message)) return null;
    this.lastError = error.message;
    this.down(error.message);
    return new ApiError(503, 'redis-unavailable', this.noAnswer(), RETRY);
  }

  private noAnswer(): string {
    return `${this.what} did not answer within ${this.timeoutMs / 1000} s`;
  }

  /** Redis counts as unavailable: answered with the documented words, `cause` (ioredis' text) logged. */
  private down(cause: string): void {
    const message = this.noAnswer();
    if (this.problem === null)
      this.logger.warn({ cause }, `${message}: requests that need Redis are refused (503)`);
    this.problem = message;
    this.available?.set(0);
  }
}

/** The probe runs every second: a client may try again then. */
const RETRY = { 'retry-after': '1' };

/** ioredis' messages for a command Redis did not answer (timeout, closed, retried out, offline). */
const REDIS_DOWN =
  /Command timed out|Connection is closed|max retries per request|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE/i;
