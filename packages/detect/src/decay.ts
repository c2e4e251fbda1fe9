/**
 * Exponentially decayed sliding windows on event time.
 *
 * A decayed counter with time constant τ is Σ exp(-(now - tᵢ)/τ) over its events: a steady rate r
 * reads r·τ, a burst of n events reads ≈ n and fades over a few τ. It needs one number per counter
 * and no buckets, handles out-of-order events exactly (an event older than the counter's time
 * contributes exp(-age/τ)), and ratios of two counters with the same τ are ratios over the same
 * window. The cost is one Math.exp per update that moves time forward.
 */

/** exp(-dt/τ) for dt ≥ 0; 1 when dt ≤ 0. */
export function decayFactor(dt: number, tau: number): number {
  return dt <= 0 ? 1 : Math.exp(-dt / tau);
}

/**
 * A fixed set of decayed counters sharing one time constant and one clock, stored in a
 * Float64Array so updates allocate nothing. `at(t)` brings the counters to time t (or returns the
 * weight of a late event at t) and must precede `add`.
 */
export class DecayedCounters {
  readonly values: Float64Array;
  /** Event time the values are valid at. */
  time = Number.NEGATIVE_INFINITY;

  constructor(
    size: number,
    readonly tau: number,
  ) {
    this.values = new Float64Array(size);
  }

  /**
   * Moves the counters' clock to `t` when it is newer (decaying every value) and returns the weight
   * an event at `t` carries: 1 for a current event, exp(-age/τ) for a late one.
   */
  at(t: number): number {
    if (t >= this.time) {
      if (this.time !== Number.NEGATIVE_INFINITY && t > this.time) {
        const factor = Math.exp(-(t - this.time) / this.tau);
        const v = this.values;
        for (let i = 0; i < v.length; i++) v[i]! *= factor;
      }
      this.time = t;
      return 1;
    }
    return Math.exp(-(this.time - t) / this.tau);
  }

  /** The value of counter `i` as read at time `t` (≥ the counters' time), without changing state. */
  read(i: number, t: number): number {
    const v = this.values[i]!;
    return t > this.time ? v * Math.exp(-(t - this.time) / this.tau) : v;
  }

  clear(): void {
    this.values.fill(0);
    this.time = Number.NEGATIVE_INFINITY;
  }
}

/**
 * {@link DecayedCounters.at} for counters kept in a shared pool (many small sets, one typed array):
 * `pool[offset]` is the clock (−∞ when unused) and the `size` counters follow it. Same arithmetic.
 */
export function pooledDecayAt(
  pool: Float64Array,
  offset: number,
  size: number,
  tau: number,
  t: number,
): number {
  const time = pool[offset]!;
  if (t >= time) {
    if (time !== Number.NEGATIVE_INFINITY && t > time) {
      const factor = Math.exp(-(t - time) / tau);
      for (let i = offset + 1; i <= offset + size; i++) pool[i]! *= factor;
    }
    pool[offset] = t;
    return 1;
  }
  return Math.exp(-(time - t) / tau);
}

/**
 * A counter pool (see {@link pooledDecayAt}) with room for `slot` at `stride` numbers per slot:
 * `pool` itself when it has, else a copy with twice the slots (at most `maxSlots`, the capacity of
 * the table whose slots index it). Tables hand out slots one at a time, so doubling always fits.
 */
export function poolWithSlot(
  pool: Float64Array,
  slot: number,
  stride: number,
  maxSlots: number,
): Float64Array {
  if ((slot + 1) * stride <= pool.length) return pool;
  const grown = new Float64Array(Math.min(maxSlots, (pool.length / stride) * 2) * stride);
  grown.set(pool);
  return grown;
}

/** {@link DecayedCounters.read} on a pool (see {@link pooledDecayAt}): counter `i` at time `t`. */
export function pooledRead(pool: Float64Array, offset: number, i: number, tau: number, t: number): number {
  const time = pool[offset]!;
  const v = pool[offset + 1 + i]!;
  return t > time ? v * Math.exp(-(t - time) / tau) : v;
}
