/**
 * A small seeded pseudo-random generator for the mock source. Private to `sources/`: the mock
 * must replay the same alerts for the same seed on every platform, so it cannot use
 * `Math.random()`.
 *
 * @module
 */

const TWO_32 = 4294967296;

/**
 * Mix two 32-bit words into one well-spread 32-bit seed (the finaliser of MurmurHash3), so that
 * neighbouring seeds or record indices give unrelated sequences.
 *
 * @param a First word (any integer; only its low 32 bits count).
 * @param b Second word. Default 0.
 * @returns An unsigned 32-bit integer.
 * @example
 * ```ts
 * import { mixSeed } from "./_mock_random.ts";
 * mixSeed(42, 7) !== mixSeed(42, 8); // true
 * ```
 */
export function mixSeed(a: number, b = 0): number {
  let h = (a ^ Math.imul(b ^ 0x9e3779b9, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Turn any safe-integer seed into a 32-bit generator state, keeping the high bits of large
 * seeds so that `seed` and `seed + 2^32` differ.
 *
 * @param seed A safe integer.
 * @returns An unsigned 32-bit integer.
 * @example
 * ```ts
 * import { seedState } from "./_mock_random.ts";
 * seedState(42) === seedState(42); // true
 * ```
 */
export function seedState(seed: number): number {
  const low = seed >>> 0;
  const high = Math.floor(seed / TWO_32) >>> 0;
  return mixSeed(low, high);
}

/**
 * Mulberry32: 32 bits of state, one multiply chain per draw. Statistically adequate for
 * simulated catalogues and several times faster than anything with more state.
 *
 * @example
 * ```ts
 * import { MockRandom } from "./_mock_random.ts";
 * const random = new MockRandom(42);
 * const x = random.next(); // in [0, 1)
 * ```
 */
export class MockRandom {
  #state: number;

  /**
   * Start a sequence.
   *
   * @param state Initial 32-bit state, typically from {@linkcode seedState} or
   * {@linkcode mixSeed}.
   */
  constructor(state: number) {
    this.#state = state >>> 0;
  }

  /**
   * Draw 32 random bits.
   *
   * @returns An unsigned 32-bit integer.
   */
  uint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /**
   * Draw a uniform number.
   *
   * @returns A number in [0, 1).
   */
  next(): number {
    return this.uint32() / TWO_32;
  }

  /**
   * Draw a uniform integer.
   *
   * @param n Exclusive upper bound, at least 1.
   * @returns An integer in [0, n).
   */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /**
   * Draw a uniform number in a range.
   *
   * @param min Inclusive lower bound.
   * @param max Exclusive upper bound.
   * @returns A number in [min, max).
   */
  range(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  /**
   * Draw from a standard normal distribution (Box–Muller; the second value is dropped so each
   * call consumes exactly two draws, which keeps sequences easy to reason about).
   *
   * @returns A normal deviate with mean 0 and standard deviation 1.
   */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
