/**
 * Which of one alert's plain history entries a single `state_bumps` row can stand for. A bump
 * covers every state stored under its DIAObject with an id in `[lo, hi]`, so a range may only
 * hold entries that are stored there and move forward: a stored state the alert does not
 * carry, one that does not move forward, or an entry not stored yet (it is inserted, and would
 * then lie inside the range) ends a range.
 *
 * @module
 */

/** How one group of entries is settled. */
export interface BumpRuns {
  /** Inclusive id ranges, each a run of entries that are stored and move forward. */
  runs: Array<[lo: bigint, hi: bigint]>;
  /** Entries not stored under the DIAObject: first sightings, or stored elsewhere. */
  absent: bigint[];
  /** Entries stored that do not move forward (left to tracking). */
  left: bigint[];
}

/**
 * Split a group's entries into runs of neighbouring stored states.
 *
 * @param ids The group's DIASources, ascending and distinct.
 * @param stored The DIAObject's stored states with ids in `[ids[0], ids.at(-1)]`, ascending:
 * each id with 1 when it moves forward under the alert (0 otherwise).
 * @returns The runs; the entries not stored; those stored that do not move forward. The runs
 * cover all the others.
 * @example
 * ```ts
 * import { bumpRuns } from "./_bump_runs.ts";
 * bumpRuns([1n, 2n, 4n], [[1n, 1], [2n, 1], [3n, 1], [4n, 1]]).runs; // [[1n, 2n], [4n, 4n]]
 * ```
 */
export function bumpRuns(
  ids: readonly bigint[],
  stored: ReadonlyArray<readonly [bigint, number | bigint]>,
): BumpRuns {
  const runs: Array<[bigint, bigint]> = [];
  const absent: bigint[] = [];
  const left: bigint[] = [];
  let run: [bigint, bigint] | null = null;
  let i = 0;
  let j = 0;
  while (i < ids.length) {
    const id = ids[i] as bigint;
    const row = stored[j];
    if (row !== undefined && row[0] === id) {
      if (Number(row[1]) === 1) {
        if (run === null) {
          run = [id, id];
          runs.push(run);
        } else {
          run[1] = id;
        }
      } else {
        left.push(id);
        run = null;
      }
      i++;
      j++;
    } else if (row !== undefined && row[0] < id) {
      // A state of the DIAObject this alert does not carry (or carries elsewhere).
      run = null;
      j++;
    } else {
      absent.push(id);
      run = null;
      i++;
    }
  }
  return { runs, absent, left };
}
