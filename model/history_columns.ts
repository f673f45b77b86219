/**
 * An alert's history kept as columns (typed arrays) instead of objects. A decode worker sends
 * histories this way; building hundreds of small objects per alert on the thread that stores
 * them, only for tracking to read four fields of each, cost more than tracking itself. The
 * alert's `history` array is built from the columns only when something reads it, while
 * tracking and storage read the columns directly.
 *
 * @module
 */

import type { AlertRecord, HistoryObservation } from "./alert_record.ts";

/** History entries of one alert: `length` entries from `start` in shared columns. */
export interface HistoryColumns {
  /** DIASource ids. */
  ids: BigInt64Array;
  /** SSObject ids (meaningless where flag bit 0 is set). */
  ssObjectIds: BigInt64Array;
  /** Midpoints (MJD TAI). */
  midpoints: Float64Array;
  /** Reassociation times (meaningless where flag bit 1 is set). */
  reassocTimes: Float64Array;
  /** Bit 0: no SSObject (`null`); bit 1: no reassociation time. */
  flags: Uint8Array;
  /** First entry of this alert. */
  start: number;
  /** Entries of this alert. */
  length: number;
}

const COLUMNS = Symbol("history columns");

type _WithColumns = AlertRecord & { [COLUMNS]?: HistoryColumns };

/**
 * Give an alert its history as columns; `alert.history` is built from them on first read.
 *
 * @param alert The alert (its `history` is replaced).
 * @param columns The entries.
 * @returns The same alert.
 */
export function attachHistoryColumns(alert: AlertRecord, columns: HistoryColumns): AlertRecord {
  const target = alert as _WithColumns;
  Object.defineProperty(target, COLUMNS, { value: columns, configurable: true });
  Object.defineProperty(target, "history", {
    enumerable: true,
    configurable: true,
    get(this: _WithColumns): HistoryObservation[] {
      const history = _objects(columns);
      Object.defineProperty(this, "history", {
        value: history,
        writable: true,
        enumerable: true,
        configurable: true,
      });
      return history;
    },
    set(this: _WithColumns, value: HistoryObservation[]) {
      // Replaced: the columns no longer describe it.
      delete this[COLUMNS];
      Object.defineProperty(this, "history", {
        value,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    },
  });
  return alert;
}

/**
 * The history columns of an alert, when it has them.
 *
 * @param alert The alert.
 * @returns Its columns, or `null` (read `alert.history`).
 */
export function historyColumns(alert: AlertRecord): HistoryColumns | null {
  return (alert as _WithColumns)[COLUMNS] ?? null;
}

/**
 * How many history entries an alert has, without building them.
 *
 * @param alert The alert.
 * @returns The count.
 */
export function historyLength(alert: AlertRecord): number {
  return historyColumns(alert)?.length ?? alert.history.length;
}

function _objects(c: HistoryColumns): HistoryObservation[] {
  const out: HistoryObservation[] = new Array(c.length);
  for (let i = 0; i < c.length; i++) {
    const at = c.start + i;
    const flag = c.flags[at] as number;
    out[i] = {
      diaSourceId: c.ids[at] as bigint,
      ssObjectId: flag & 1 ? null : c.ssObjectIds[at] as bigint,
      midpointMjdTai: c.midpoints[at] as number,
      ssObjectReassocTimeMjdTai: flag & 2 ? null : c.reassocTimes[at] as number,
    };
  }
  return out;
}

/** The columns themselves, shared by every alert of a decoded block or chunk. */
export type HistoryColumnArrays = Omit<HistoryColumns, "start" | "length">;

/**
 * Empty columns for `entries` history entries, filled by {@linkcode packHistory}.
 *
 * @param entries The number of entries of every alert together.
 * @returns The columns.
 * @example
 * ```ts
 * import { allocateHistoryColumns } from "./history_columns.ts";
 * allocateHistoryColumns(3).ids.length; // 3
 * ```
 */
export function allocateHistoryColumns(entries: number): HistoryColumnArrays {
  return {
    ids: new BigInt64Array(entries),
    ssObjectIds: new BigInt64Array(entries),
    midpoints: new Float64Array(entries),
    reassocTimes: new Float64Array(entries),
    flags: new Uint8Array(entries),
  };
}

/**
 * Write one alert's history into the columns from position `at` (a decode worker does this
 * before the columns cross to the thread that stores).
 *
 * @param columns Columns from {@linkcode allocateHistoryColumns}, with room for the entries.
 * @param at The position of the alert's first entry.
 * @param history The alert's entries.
 * @returns The position after its last entry.
 * @example
 * ```ts
 * import { allocateHistoryColumns, packHistory } from "./history_columns.ts";
 * const columns = allocateHistoryColumns(1);
 * packHistory(columns, 0, [
 *   { diaSourceId: 5n, ssObjectId: null, midpointMjdTai: 61000, ssObjectReassocTimeMjdTai: null },
 * ]); // 1
 * ```
 */
export function packHistory(
  columns: HistoryColumnArrays,
  at: number,
  history: readonly HistoryObservation[],
): number {
  const { ids, ssObjectIds, midpoints, reassocTimes, flags } = columns;
  for (const h of history) {
    ids[at] = h.diaSourceId;
    let flag = 0;
    if (h.ssObjectId === null) flag = 1;
    else ssObjectIds[at] = h.ssObjectId;
    midpoints[at] = h.midpointMjdTai;
    if (h.ssObjectReassocTimeMjdTai === null) flag |= 2;
    else reassocTimes[at] = h.ssObjectReassocTimeMjdTai;
    flags[at] = flag;
    at++;
  }
  return at;
}
