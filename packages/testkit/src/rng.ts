/**
 * Seeded pseudo-random numbers: xoshiro128** (Blackman & Vigna, https://prng.di.unimi.it/) seeded
 * through splitmix32. Every actor owns its own stream derived from (scenario seed, actor serial), so
 * the same options always give byte-identical output and one population's randomness does not shift
 * when another population changes size.
 */

/** Mixes a 32-bit value into a well-spread 32-bit value (the splitmix32 finaliser). */
export function mix32(value: number): number {
  let z = (value + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Seed of the independent stream number `stream` under scenario seed `seed`. */
export function deriveSeed(seed: number, stream: number): number {
  return mix32(mix32(seed >>> 0) ^ Math.imul(stream + 1, 0x27d4eb2f));
}

/**
 * Inverse of the standard normal CDF, by P. J. Acklam's rational approximation (relative error
 * below 1.2e-9; coefficients as he published them).
 */
export function inverseNormalCdf(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) =>
    (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
    ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/**
 * Standard normal deviates at 8192 evenly spaced quantiles: a draw is one table lookup instead of
 * Box–Muller's log, sqrt and cos. The tails are cut at about ±3.7σ, which synthetic timings do not miss.
 */
const NORMAL_TABLE_BITS = 13;
const NORMAL_TABLE = Float64Array.from({ length: 1 << NORMAL_TABLE_BITS }, (_, i) =>
  inverseNormalCdf((i + 0.5) / (1 << NORMAL_TABLE_BITS)),
);

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyz0123456789';

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // xoshiro must not start from the all-zero state; splitmix32 outputs never are all zero in a row.
    let s = seed >>> 0;
    s = (s + 0x9e3779b9) | 0;
    this.a = mix32(s);
    s = (s + 0x9e3779b9) | 0;
    this.b = mix32(s);
    s = (s + 0x9e3779b9) | 0;
    this.c = mix32(s);
    s = (s + 0x9e3779b9) | 0;
    this.d = mix32(s) | 1;
  }

  /** Uniform unsigned 32-bit integer. */
  uint32(): number {
    const b = this.b;
    const rotated = Math.imul(b, 5);
    const result = Math.imul((rotated << 7) | (rotated >>> 25), 9);
    const t = b << 9;
    this.c ^= this.a;
    this.d ^= b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = (this.d << 11) | (this.d >>> 21);
    return result >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform in [low, high). */
  between(low: number, high: number): number {
    return low + (high - low) * this.float();
  }

  /** Uniform integer in [low, high] (both inclusive). */
  int(low: number, high: number): number {
    return low + Math.floor(this.float() * (high - low + 1));
  }

  chance(probability: number): boolean {
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)] as T;
  }

  /** Standard normal deviate (from the quantile table). */
  normal(): number {
    return NORMAL_TABLE[this.uint32() >>> (32 - NORMAL_TABLE_BITS)] as number;
  }

  /** Log-normal with the given median; sigma is the spread of its logarithm (heavy right tail). */
  lognormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float());
  }

  letters(length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += LETTERS[Math.floor(this.float() * 26)];
    return out;
  }

  alphanumeric(length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += ALPHANUMERIC[Math.floor(this.float() * 36)];
    return out;
  }

  hex(length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += (this.uint32() & 15).toString(16);
    return out;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.float() * (i + 1));
      const swap = items[i] as T;
      items[i] = items[j] as T;
      items[j] = swap;
    }
    return items;
  }
}

/**
 * Picks from a fixed list with fixed weights in O(log n): the cumulative table is built once per
 * list, so hot paths (page popularity, user-agent mix) pay one binary search per draw.
 */
export class WeightedChoice<T> {
  private readonly cumulative: Float64Array;
  private readonly total: number;

  constructor(
    private readonly items: readonly T[],
    weights: readonly number[],
  ) {
    if (items.length === 0 || items.length !== weights.length) {
      throw new RangeError('WeightedChoice needs one weight per item and at least one item');
    }
    this.cumulative = new Float64Array(items.length);
    let sum = 0;
    weights.forEach((weight, i) => {
      sum += weight;
      this.cumulative[i] = sum;
    });
    this.total = sum;
  }

  static of<T>(pairs: readonly (readonly [T, number])[]): WeightedChoice<T> {
    return new WeightedChoice(
      pairs.map((pair) => pair[0]),
      pairs.map((pair) => pair[1]),
    );
  }

  draw(rng: Rng): T {
    const target = rng.float() * this.total;
    let low = 0;
    let high = this.cumulative.length - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.cumulative[mid] as number) > target) high = mid;
      else low = mid + 1;
    }
    return this.items[low] as T;
  }
}

/**
 * Zipf-distributed ranks 1..size (rank r has weight 1/r^exponent): a few products and pages get most
 * of the traffic, as on real sites.
 */
export function zipf(size: number, exponent: number): WeightedChoice<number> {
  const ranks: number[] = [];
  const weights: number[] = [];
  for (let rank = 1; rank <= size; rank++) {
    ranks.push(rank);
    weights.push(1 / rank ** exponent);
  }
  return new WeightedChoice(ranks, weights);
}

/**
 * Yields `count` sorted uniform draws in [0, 1) one at a time, without storing them: the next order
 * statistic follows from the previous one (u' = 1 - (1 - u) * V^(1/remaining)). Used to spread
 * thousands of arrivals over a scenario while the heap only holds actors that have arrived.
 */
export class SortedUniforms {
  private previous = 0;
  private remaining: number;

  constructor(
    private readonly rng: Rng,
    count: number,
  ) {
    this.remaining = count;
  }

  get left(): number {
    return this.remaining;
  }

  next(): number | undefined {
    if (this.remaining <= 0) return undefined;
    const v = 1 - this.rng.float();
    this.previous = 1 - (1 - this.previous) * v ** (1 / this.remaining);
    this.remaining--;
    return this.previous;
  }
}
