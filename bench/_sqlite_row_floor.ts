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

import { storedHistories, timedWrites } from "./_stored_histories.ts";

/**
 * Alerts per second of the update over the database's alerts, in time order.
 *
 * @param path A database an ingest of heavy alerts wrote (changed by this).
 * @returns The rate and the share of history entries the update found.
 */
export function sqliteRowFloor(path: string): { alertsPerS: number; updatedShare: number } {
  const alerts = storedHistories(path);
  // Later than every stored sighting, so each row found is updated.
  const later = 1e6;
  const entries = alerts.reduce((n, alert) => n + alert.count, 0);
  const { alertsPerS, changes } = timedWrites(path, alerts, (db) => {
    const bump = db.prepare(
      `UPDATE OR FAIL source_states SET times_seen = times_seen + 1, last_seen_mjd = ?1,
         last_alert_id = ?2, last_run_id = ?3
       WHERE object_key = COALESCE(?5, 0) AND dia_source_id IN (SELECT value FROM json_each(?4))
         AND last_seen_mjd < ?1`,
    );
    return (alert) =>
      bump.run(alert.midpointMjdTai + later, alert.alertId, 2, alert.ids, alert.diaObjectId)
        .changes;
  });
  return { alertsPerS, updatedShare: Math.round(changes / entries * 1000) / 1000 };
}
