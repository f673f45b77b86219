/**
 * A hash map keyed by exact 64-bit ids. A `Map` with `bigint` keys hashes and compares each key
 * through slow generic paths, and tracking a heavy history looks up hundreds of ids an alert;
 * this map keeps keys in a `BigInt64Array` and hashes and compares their two 32-bit halves,
 * about twice as fast. It only grows: it is emptied whole.
 *
 * @module
 */

// Scratch space to split a key into its halves without allocating.
const SPLIT = new BigInt64Array(1);
const HALVES = new Int32Array(SPLIT.buffer);
const MIN_ID = -(2n ** 63n);
const MAX_ID = 2n ** 63n - 1n;

/**
 * Ascending order of ids, for `sort()` (whose default compares them as text).
 *
 * @param a An id.
 * @param b Another.
 * @returns Negative, zero or positive.
 * @example
 * ```ts
 * import { compareIds } from "./id_map.ts";
 * [10n, 9n].sort(compareIds); // [9n, 10n]
 * ```
 */
export function compareIds(a: bigint, b: bigint): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

/**
 * Values by signed 64-bit id (`bigint` in −2^63 … 2^63−1).
 *
 * @example
 * ```ts
 * import { IdMap } from "./id_map.ts";
 * const map = new IdMap<string>();
 * map.set(170028485706776685n, "a");
 * map.get(170028485706776685n); // "a"
 * ```
 */
export class IdMap<V> {
  #keys: BigInt64Array;
  #halves: Int32Array;
  #values: (V | undefined)[];
  #mask: number;
  #size = 0;

  /**
   * Create an empty map.
   *
   * @param capacity Slots to start with (rounded up to a power of two).
   */
  constructor(capacity = 1024) {
    let slots = 16;
    while (slots < capacity) slots *= 2;
    this.#keys = new BigInt64Array(slots);
    this.#halves = new Int32Array(this.#keys.buffer);
    this.#values = new Array(slots);
    this.#mask = slots - 1;
  }

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /**
   * The value of an id.
   *
   * @param id The id.
   * @returns Its value, or `undefined`.
   */
  get(id: bigint): V | undefined {
    return this.#values[this.#slot(id)];
  }

  /**
   * Whether an id has a value.
   *
   * @param id The id.
   * @returns Whether it has.
   */
  has(id: bigint): boolean {
    return this.#values[this.#slot(id)] !== undefined;
  }

  /**
   * Set an id's value.
   *
   * @param id The id (a 64-bit signed integer).
   * @param value The value (not `undefined`).
   * @returns The map.
   * @throws {RangeError} When the id does not fit in 64 bits.
   */
  set(id: bigint, value: V): this {
    // A wider key would be stored truncated, as another id.
    if (id < MIN_ID || id > MAX_ID) throw new RangeError(`Id ${id} is not a 64-bit integer`);
    let slot = this.#slot(id);
    if (this.#values[slot] === undefined) {
      // Half full at most, so probes stay short.
      if ((this.#size + 1) * 2 > this.#mask + 1) {
        this.#grow();
        slot = this.#slot(id);
      }
      this.#keys[slot] = id;
      this.#size++;
    }
    this.#values[slot] = value;
    return this;
  }

  /** Remove every entry. */
  clear(): void {
    this.#values = new Array(this.#mask + 1);
    this.#size = 0;
  }

  /**
   * Every value, in no particular order.
   *
   * @returns The values.
   */
  *values(): Generator<V, void, undefined> {
    for (const value of this.#values) if (value !== undefined) yield value;
  }

  #slot(id: bigint): number {
    SPLIT[0] = id;
    const low = HALVES[0] as number;
    const high = HALVES[1] as number;
    let hash = Math.imul(low ^ Math.imul(high, 0x9e3779b1), 0x85ebca6b);
    hash ^= hash >>> 15;
    const halves = this.#halves;
    const values = this.#values;
    const mask = this.#mask;
    let slot = hash & mask;
    while (values[slot] !== undefined) {
      if (halves[2 * slot] === low && halves[2 * slot + 1] === high) return slot;
      slot = (slot + 1) & mask;
    }
    return slot;
  }

  #grow(): void {
    const keys = this.#keys;
    const values = this.#values;
    const slots = (this.#mask + 1) * 2;
    this.#keys = new BigInt64Array(slots);
    this.#halves = new Int32Array(this.#keys.buffer);
    this.#values = new Array(slots);
    this.#mask = slots - 1;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (value === undefined) continue;
      const slot = this.#slot(keys[i] as bigint);
      this.#keys[slot] = keys[i] as bigint;
      this.#values[slot] = value;
    }
  }
}
