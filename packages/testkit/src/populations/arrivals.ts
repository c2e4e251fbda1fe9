/**
 * Arrivals over time: a spawner holds only a count and the next arrival time, and creates each
 * client's actor when it arrives. Thousands of short-lived clients (residential proxies, visitors,
 * app launches) therefore cost heap space only while they are active.
 */
import { Actor, type Simulation } from '../engine.js';
import { type Rng, SortedUniforms } from '../rng.js';

export class ArrivalSpawner extends Actor {
  private readonly arrivals: SortedUniforms;
  private index = 0;

  /**
   * @param count arrivals in total.
   * @param timeAt maps a uniform quantile in [0, 1) to an arrival time (epoch ms), monotonically.
   * @param make builds the arriving client's actor; it starts at `at` or later.
   */
  constructor(
    rng: Rng,
    count: number,
    private readonly timeAt: (quantile: number) => number,
    private readonly make: (at: number, index: number) => Actor,
  ) {
    super();
    this.arrivals = new SortedUniforms(rng, count);
    this.advance();
  }

  private advance(): void {
    const quantile = this.arrivals.next();
    this.nextAt = quantile === undefined ? Number.POSITIVE_INFINITY : this.timeAt(quantile);
  }

  step(sim: Simulation): void {
    sim.spawn(this.make(this.nextAt, this.index++));
    this.advance();
  }
}

/** Uniform arrivals in [from, until). */
export function uniformBetween(from: number, until: number): (quantile: number) => number {
  return (quantile) => from + quantile * (until - from);
}
