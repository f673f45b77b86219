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
