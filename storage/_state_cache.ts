/**
 * The DIASource states a storage keeps between batches, bounded: two generations of exact-id
 * maps. Lookups promote a state from the old generation to the young one; when the young one
 * reaches half the limit it becomes the old one and the previous old one is dropped whole. That
 * keeps recently seen sources at the cost of nothing per entry, where evicting the oldest
 * entries of one map one by one cost more than tracking them did.
 *
 * @module
 */

import { IdMap } from "../model/id_map.ts";
import type { SourceState, StateLookup } from "../tracking/reassociation_tracker.ts";

/** Cached states by DIASource id. */
export class StateCache implements StateLookup {
  #young: IdMap<SourceState>;
  #old = new IdMap<SourceState>();
  #limit: number;

  /**
   * Create an empty cache.
   *
   * @param limit About how many states to keep (between half of it and all of it).
   */
  constructor(limit: number) {
    this.#limit = limit;
    this.#young = new IdMap(limit);
  }

  /** States held (the two generations). */
  get size(): number {
    return this.#young.size + this.#old.size;
  }

  /**
   * A state.
   *
   * @param id The DIASource.
   * @returns Its state, or `undefined` when not cached.
   */
  get(id: bigint): SourceState | undefined {
    const young = this.#young.get(id);
    if (young !== undefined) return young;
    const old = this.#old.get(id);
    if (old !== undefined) this.#young.set(id, old);
    return old;
  }

  /**
   * Whether a state is cached.
   *
   * @param id The DIASource.
   * @returns Whether it is.
   */
  has(id: bigint): boolean {
    return this.#young.has(id) || this.#old.has(id);
  }

  /**
   * Cache a state.
   *
   * @param id The DIASource.
   * @param state Its state.
   */
  set(id: bigint, state: SourceState): void {
    this.#young.set(id, state);
  }

  /** Forget everything (after a rollback or another writer's commit). */
  clear(): void {
    this.#young = new IdMap(this.#limit);
    this.#old = new IdMap();
  }

  /** Between batches: age the young generation once it holds half the limit. */
  evict(): void {
    if (this.#young.size * 2 < this.#limit) return;
    this.#old = this.#young;
    this.#young = new IdMap(this.#limit);
  }
}
