/**
 * Reconnection delays: exponential with jitter, so a fleet of edges that lost the API together
 * does not reconnect together. "Equal jitter" (half fixed, half random; AWS Architecture Blog,
 * "Exponential Backoff And Jitter", 2015): the delay never collapses to zero, and reconnects
 * still spread over half the window.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 250,
    private readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call doubles the window up to maxMs. */
  next(): number {
    const window = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return window / 2 + this.random() * (window / 2);
  }

  /** After a success: the next failure starts from the base delay again. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
