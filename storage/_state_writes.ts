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

import type { SourceState, StoredState } from "../pipeline/reassociation_tracker.ts";

/** New states sharing every column but the id. */
export interface InsertGroup {
  /** The columns, taken from the group's first state. */
  head: SourceState;
  /** The DIASources. */
  ids: bigint[];
  /** Their states. */
  states: SourceState[];
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
  /** Their states. */
  states: SourceState[];
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

/** Most ids one statement takes (bounds the JSON text). */
const MAX_GROUP = 5000;

/**
 * Group a batch's changed states. Groups are formed from consecutive states (tracking lists
 * them in the order it touched them, so one alert's sources are neighbours): no hashing, and a
 * state never moves past another of the same DIASource.
 *
 * @param changed Changed states in first-touched order.
 * @param previous What the states that existed before the batch held then.
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
): StateWrites {
  const inserts: InsertGroup[] = [];
  const bumps: BumpGroup[] = [];
  const rows: SourceState[] = [];
  let insert: InsertGroup | null = null;
  let bump: BumpGroup | null = null;
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
  return { inserts, bumps, rows };
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
