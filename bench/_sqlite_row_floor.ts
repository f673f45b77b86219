/**
 * The heavy re-observed benchmark's reference for its storing thread: SQLite alone applying the
 * update every re-observed history entry needs while a row is kept per DIASource — times seen
 * plus one, latest sighting, latest alert, run — to the states (`source_states`) an ingest just
 * wrote, one statement an alert over its history's ids (as the ingest's plain-observation
 * update), in batches of 70 alerts (the ingest's batch bound for ~350 observations an alert)
 * committed with `synchronous = FULL`. Nothing else runs: no decoding, no alert rows, no
 * tracking. The rate bounds any design that rewrites a row per observation.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { storedHistories } from "./_stored_histories.ts";

const BATCH = 70;

/**
 * Alerts per second of the update over the database's alerts, in time order.
 *
 * @param path A database an ingest of heavy alerts wrote (changed by this).
 * @returns The rate and the share of history entries the update found.
 */
export function sqliteRowFloor(path: string): { alertsPerS: number; updatedShare: number } {
  const alerts = storedHistories(path);
  const db = new DatabaseSync(path);
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA cache_size = -16384");
  // Later than every stored sighting, so each row found is updated.
  const later = 1e6;
  const entries = alerts.reduce((n, alert) => n + alert.count, 0);
  const bump = db.prepare(
    `UPDATE OR FAIL source_states SET times_seen = times_seen + 1, last_seen_mjd = ?1,
       last_alert_id = ?2, last_run_id = ?3
     WHERE object_key = COALESCE(?5, 0) AND dia_source_id IN (SELECT value FROM json_each(?4))
       AND last_seen_mjd < ?1`,
  );
  let updated = 0;
  const started = performance.now();
  for (let at = 0; at < alerts.length; at += BATCH) {
    db.exec("BEGIN");
    for (const alert of alerts.slice(at, at + BATCH)) {
      updated += Number(
        bump.run(alert.midpointMjdTai + later, alert.alertId, 2, alert.ids, alert.diaObjectId)
          .changes,
      );
    }
    db.exec("COMMIT");
  }
  const seconds = (performance.now() - started) / 1000;
  db.close();
  return {
    alertsPerS: Math.round(alerts.length / seconds),
    updatedShare: Math.round(updated / entries * 1000) / 1000,
  };
}
