/**
 * What the storage knows, between batches, of the `state_bumps` rows not folded yet: per
 * DIAObject key, the span of ids they cover and how many there are. A conservative summary: a
 * state written inside the span might be taken for one a bump covers, so the DIAObject's bumps
 * are folded first, which is always exact. Loaded from the table whenever another connection
 * may have written it.
 *
 * @module
 */

/** The bumps of one DIAObject key. */
export interface PendingSpan {
  /** Lowest id a bump covers. */
  lo: bigint;
  /** Highest id a bump covers. */
  hi: bigint;
  /** How many bumps. */
  count: number;
}

/** Bumps not folded yet, by DIAObject key. */
export class PendingBumps {
  #spans = new Map<bigint, PendingSpan>();

  /** DIAObject keys with bumps. */
  keys(): IterableIterator<bigint> {
    return this.#spans.keys();
  }

  /** How many DIAObject keys have bumps. */
  get size(): number {
    return this.#spans.size;
  }

  /**
   * One DIAObject key's summary.
   *
   * @param key The DIAObject key.
   * @returns Its span, or `undefined` when it has no bumps.
   */
  get(key: bigint): PendingSpan | undefined {
    return this.#spans.get(key);
  }

  /**
   * Record bumps.
   *
   * @param key DIAObject key.
   * @param lo Lowest id covered.
   * @param hi Highest id covered.
   * @param count How many bumps these are.
   * @returns How many bumps the key has now.
   */
  add(key: bigint, lo: bigint, hi: bigint, count = 1): number {
    const span = this.#spans.get(key);
    if (span === undefined) {
      this.#spans.set(key, { lo, hi, count });
      return count;
    }
    if (lo < span.lo) span.lo = lo;
    if (hi > span.hi) span.hi = hi;
    return span.count += count;
  }

  /**
   * Whether any of these ids lies within the key's span (a state inserted there could be taken
   * for one a bump covers).
   *
   * @param key DIAObject key.
   * @param ids DIASources.
   * @returns `true` when one does.
   */
  spans(key: bigint, ids: Iterable<bigint>): boolean {
    const span = this.#spans.get(key);
    if (span === undefined) return false;
    for (const id of ids) if (id >= span.lo && id <= span.hi) return true;
    return false;
  }

  /**
   * Forget a key's bumps (folded).
   *
   * @param key DIAObject key.
   */
  delete(key: bigint): void {
    this.#spans.delete(key);
  }
}
