/**
 * How one DIAObject's `state_bumps` rows fold into its states, as a few range updates instead of
 * a computation per state: the ranges' ends cut the ids into segments, and every state of one
 * segment is covered by the same bumps, so it takes the same change (seen once more per bump,
 * the latest bump's sighting, alert and run).
 *
 * @module
 */

import { compareIds } from "../model/id_map.ts";

/** One `state_bumps` row. */
export interface BumpRow {
  /** Lowest id covered. */
  lo: bigint;
  /** Highest id covered. */
  hi: bigint;
  /** The alert's time (MJD TAI). */
  lastSeenMjd: number;
  /** The alert. */
  lastAlertId: bigint;
  /** The run. */
  lastRunId: number;
}

/** The change of every state with an id in `[lo, hi]`. */
export interface FoldSegment {
  /** Lowest id, inclusive. */
  lo: bigint;
  /** Highest id, inclusive. */
  hi: bigint;
  /** Observations to add to `times_seen`. */
  seen: number;
  /** The latest covering bump. */
  latest: BumpRow;
}

/**
 * Cut a DIAObject's bumps into segments of equal cover, in id order; ids no bump covers are in
 * none.
 *
 * @param bumps The DIAObject's bumps.
 * @returns The segments.
 * @example
 * ```ts
 * import { foldSegments } from "./_fold_segments.ts";
 * const bump = { lastSeenMjd: 61000, lastAlertId: 9n, lastRunId: 1 };
 * foldSegments([{ ...bump, lo: 1n, hi: 5n }, { ...bump, lo: 3n, hi: 8n }])
 *   .map((s) => [s.lo, s.hi, s.seen]); // [[1n, 2n, 1], [3n, 5n, 2], [6n, 8n, 1]]
 * ```
 */
export function foldSegments(bumps: readonly BumpRow[]): FoldSegment[] {
  const cuts = new Set<bigint>();
  for (const b of bumps) {
    cuts.add(b.lo);
    cuts.add(b.hi + 1n);
  }
  const points = [...cuts].sort(compareIds);
  const segments: FoldSegment[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const lo = points[i] as bigint;
    const hi = (points[i + 1] as bigint) - 1n;
    let seen = 0;
    let latest: BumpRow | null = null;
    for (const b of bumps) {
      if (b.lo > lo || b.hi < hi) continue;
      seen++;
      if (
        latest === null || b.lastSeenMjd > latest.lastSeenMjd ||
        (b.lastSeenMjd === latest.lastSeenMjd && b.lastAlertId > latest.lastAlertId)
      ) {
        latest = b;
      }
    }
    if (latest !== null) segments.push({ lo, hi, seen, latest });
  }
  return segments;
}
