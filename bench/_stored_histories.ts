/**
 * The alerts a heavy ingest stored, in time order, with their histories' DIASource ids: the
 * input of the SQLite floors (_sqlite_row_floor.ts, _sqlite_insert_floor.ts), which replay the
 * state writes those histories need with nothing else running, as the ingest commits them.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { historyIds } from "../tracking/_history_blob.ts";

/** One stored alert. */
export interface StoredHistory {
  alertId: bigint;
  diaObjectId: bigint | null;
  midpointMjdTai: number;
  /** Its history's DIASource ids as a JSON array, as the ingest's statements take them. */
  ids: string;
  /** How many. */
  count: number;
}

/**
 * Read them.
 *
 * @param path A database an ingest wrote.
 * @returns Its alerts with a history, in time order.
 */
export function storedHistories(path: string): StoredHistory[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const select = db.prepare(
      `SELECT dia_source_id, dia_object_id, midpoint_mjd_tai, history FROM alerts
       WHERE history IS NOT NULL ORDER BY midpoint_mjd_tai, dia_source_id`,
    );
    select.setReadBigInts(true);
    return (select.all() as {
      dia_source_id: bigint;
      dia_object_id: bigint | null;
      midpoint_mjd_tai: number | bigint;
      history: Uint8Array;
    }[]).map((row) => {
      const ids = historyIds(row.history);
      return {
        alertId: row.dia_source_id,
        diaObjectId: row.dia_object_id,
        midpointMjdTai: Number(row.midpoint_mjd_tai),
        ids: `[${ids.join(",")}]`,
        count: ids.length,
      };
    });
  } finally {
    db.close();
  }
}

/** Alerts an ingest of heavy alerts commits in one transaction (~350 observations each). */
const BATCH = 70;

/**
 * Apply one statement an alert to a database, in the ingest's transactions (70 alerts each,
 * `synchronous = FULL`, the writing connection's 16 MiB page cache), and time it.
 *
 * @param path The database.
 * @param alerts The alerts, in the order applied.
 * @param prepare Prepares the statement on the connection; it returns the rows it changed.
 * @returns Alerts per second and how many rows the statements changed.
 */
export function timedWrites(
  path: string,
  alerts: readonly StoredHistory[],
  prepare: (db: DatabaseSync) => (alert: StoredHistory) => number | bigint,
): { alertsPerS: number; changes: number } {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA cache_size = -16384");
    const write = prepare(db);
    let changes = 0;
    const started = performance.now();
    for (let at = 0; at < alerts.length; at += BATCH) {
      db.exec("BEGIN");
      for (const alert of alerts.slice(at, at + BATCH)) changes += Number(write(alert));
      db.exec("COMMIT");
    }
    const seconds = (performance.now() - started) / 1000;
    return { alertsPerS: Math.round(alerts.length / seconds), changes };
  } finally {
    db.close();
  }
}
