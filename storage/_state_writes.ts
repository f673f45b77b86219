/**
 * How a batch's changed DIASource states reach storage in few statements. Tracking touches every
 * DIASource of every history, hundreds of rows an alert, and one statement per row is what made
 * heavy-history alerts slow. Most of those rows fall into groups that differ only by id:
 *
 * - new sources first seen in the same alert share every other column;
 * - known sources that only moved forward (seen again, association, first sighting and segments
 *   unchanged) share their bump: times seen + n, the same latest sighting and alert.
 *
 * Each group is one set-based statement over a list of ids; what is left (an association that
 * changed, a late observation, a DIAObject learnt) is written row by row.
 *
 * @module
 */

import type { SourceState, StoredState } from "../tracking/reassociation_tracker.ts";

/** New states sharing every column but the id. */
export interface InsertGroup {
  /** The columns, taken from the group's first state. */
  head: SourceState;
  /** The DIASources. */
  ids: bigint[];
}

/** Known states that moved forward the same way. */
export interface BumpGroup {
  /** Observations added to `times_seen`. */
  seen: number;
  /** Latest sighting (MJD TAI). */
  lastSeenMjd: number;
  /** Triggering DIASource of the latest alert. */
  lastAlertId: bigint;
  /** Run that last saw them. */
  lastRunId: number;
  /** The DIASources. */
  ids: bigint[];
}

/** The writes of one batch. */
export interface StateWrites {
  /** Groups of new states. */
  inserts: InsertGroup[];
  /** Groups of states that only moved forward. */
  bumps: BumpGroup[];
  /** Everything else, written whole. */
  rows: SourceState[];
}

/** Options of {@linkcode groupStateWrites}. */
export interface GroupOptions {
  /**
   * Smallest group worth a set-based statement; the states of smaller groups are written
   * whole, one by one (a list's parse and lookup cost more than a few rows). Default 1.
   */
  minGroup?: number;
}

/** Most ids one statement takes (bounds the JSON text). */
const MAX_GROUP = 5000;

// While grouping, each group also keeps its states, for a group that ends up too small.
type _Grouped<G> = G & { states: SourceState[] };

/**
 * Group a batch's changed states. Groups are formed from consecutive states (tracking lists
 * them in the order it touched them, so one alert's sources are neighbours): no hashing, and a
 * state never moves past another of the same DIASource.
 *
 * @param changed Changed states in first-touched order.
 * @param previous What the states that existed before the batch held then.
 * @param options Smallest group.
 * @returns The writes.
 * @example
 * ```ts
 * import { groupStateWrites } from "./_state_writes.ts";
 * groupStateWrites([], new Map()).rows.length; // 0
 * ```
 */
export function groupStateWrites(
  changed: readonly SourceState[],
  previous: ReadonlyMap<SourceState, StoredState>,
  options: GroupOptions = {},
): StateWrites {
  const inserts: _Grouped<InsertGroup>[] = [];
  const bumps: _Grouped<BumpGroup>[] = [];
  const rows: SourceState[] = [];
  let insert: _Grouped<InsertGroup> | null = null;
  let bump: _Grouped<BumpGroup> | null = null;
  for (const state of changed) {
    const before = previous.get(state);
    if (before === undefined) {
      if (insert !== null && insert.ids.length < MAX_GROUP && _sameColumns(insert.head, state)) {
        insert.ids.push(state.diaSourceId);
        insert.states.push(state);
      } else {
        insert = { head: state, ids: [state.diaSourceId], states: [state] };
        inserts.push(insert);
      }
    } else if (_movedForward(before, state)) {
      const seen = state.timesSeen - before.timesSeen;
      if (
        bump !== null && bump.ids.length < MAX_GROUP && bump.seen === seen &&
        bump.lastSeenMjd === state.lastSeenMjd && bump.lastAlertId === state.lastAlertId &&
        bump.lastRunId === state.lastRunId
      ) {
        bump.ids.push(state.diaSourceId);
        bump.states.push(state);
      } else {
        bump = {
          seen,
          lastSeenMjd: state.lastSeenMjd,
          lastAlertId: state.lastAlertId,
          lastRunId: state.lastRunId,
          ids: [state.diaSourceId],
          states: [state],
        };
        bumps.push(bump);
      }
    } else {
      rows.push(state);
    }
  }
  const minGroup = options.minGroup ?? 1;
  const kept = <G>(groups: _Grouped<G>[]): G[] => {
    const out: G[] = [];
    for (const { states, ...group } of groups) {
      if (states.length >= minGroup) out.push(group as G);
      else rows.push(...states);
    }
    return out;
  };
  return { inserts: kept(inserts), bumps: kept(bumps), rows };
}

function _sameColumns(a: SourceState, b: SourceState): boolean {
  return a.diaObjectId === b.diaObjectId && a.ssObjectId === b.ssObjectId &&
    a.reassocTime === b.reassocTime && a.firstSeenMjd === b.firstSeenMjd &&
    a.lastSeenMjd === b.lastSeenMjd && a.timesSeen === b.timesSeen &&
    a.firstRunId === b.firstRunId && a.lastRunId === b.lastRunId &&
    a.lastAlertId === b.lastAlertId && a.runs === b.runs;
}

function _movedForward(before: StoredState, state: SourceState): boolean {
  return before.diaObjectId === state.diaObjectId && before.ssObjectId === state.ssObjectId &&
    before.reassocTime === state.reassocTime && before.firstSeenMjd === state.firstSeenMjd &&
    before.runs === state.runs;
}
