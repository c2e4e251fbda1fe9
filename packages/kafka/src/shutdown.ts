/**
 * What a service has opened, closed in reverse order when it stops: once it runs, and also while
 * it is still starting (a rollout stopping a pod that is still joining its consumer group). Before,
 * a signal during the start killed the process by the signal (exit 143, no line said why) with its
 * group membership left to expire.
 *
 * The start goes through `step`: a stop during a step lets that step finish (a consumer that is
 * joining its group joins, then leaves it, rather than staying a member nobody heartbeats until
 * its session times out) or interrupts it (waiting for a broker or Redis that does not answer),
 * then closes what was opened; the start goes no further.
 */
/** The line a service logs when a stop signal comes while it starts (stage services, the shipper). */
export const STOPPED_WHILE_STARTING = 'stopped while starting: closing what is connected, then exiting';

export class Shutdown {
  private readonly closers: (() => Promise<void> | void)[] = [];
  private current: { settled: Promise<void>; interrupt?: () => void } | null = null;
  private started = false;
  private stopped: Promise<void> | null = null;

  /** Still starting (the signal's log line says so). */
  get starting(): boolean {
    return !this.started;
  }

  /** A stop has begun (readiness is false from then on). */
  get stopping(): boolean {
    return this.stopped !== null;
  }

  /** `close` runs at stop, before the closers of what was opened earlier. */
  opened(close: () => Promise<void> | void): void {
    this.closers.push(close);
  }

  /**
   * `work`'s outcome; after a stop began meanwhile, never settles (the start goes no further: the
   * stop closes what is open and the process exits). `interrupt`: how a stop cuts the step short
   * instead of waiting for it.
   */
  async step<T>(work: Promise<T>, interrupt?: () => void): Promise<T> {
    const outcome = work.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    this.current = { settled: outcome.then(() => undefined), interrupt };
    const result = await outcome;
    this.current = null;
    if (this.stopped !== null) return new Promise<never>(() => undefined);
    if (!result.ok) throw result.error;
    return result.value;
  }

  /** The start is over: from now on a stop is the running service's. */
  running(): void {
    this.started = true;
  }

  /**
   * Ends the step in flight (interrupted, or waited for), then closes everything opened, newest
   * first, each even when one before failed; rejects with the first failure. Once only.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const step = this.current;
      if (step?.interrupt) step.interrupt();
      else await step?.settled;
      let failure: unknown = null;
      for (const close of this.closers.reverse()) {
        try {
          await close();
        } catch (error) {
          failure ??= error;
        }
      }
      if (failure !== null) throw failure;
    })();
    return this.stopped;
  }
}
