/**
 * The heavy benchmark's reference for its storing thread when every history entry is a DIASource
 * never seen before: SQLite alone inserting the state row each of them needs while a row is kept
 * per DIASource, into an empty `source_states` (the project's schema: its key and two indexes),
 * one statement an alert over its history's ids (the ingest's first-sighting insert), in batches
 * of 70 alerts committed with `synchronous = FULL`. Nothing else runs: no decoding, no alert rows,
 * no tracking. The rate bounds any design that writes a row per new DIASource.
 *
 * @module
 */

import { SQLiteStorage } from "../mod.ts";
import { storedHistories, timedWrites } from "./_stored_histories.ts";

/**
 * Alerts per second of the inserts of the database's alerts' histories, in time order.
 *
 * @param path A database an ingest of heavy alerts wrote (read only).
 * @param empty Where to create the database the states are inserted into.
 * @returns The rate and how many states were inserted.
 */
export async function sqliteInsertFloor(
  path: string,
  empty: string,
): Promise<{ alertsPerS: number; states: number }> {
  const alerts = storedHistories(path);
  // The project's own schema, as an ingest starts with it.
  const storage = new SQLiteStorage(empty);
  await storage.initialize();
  await storage.close();
  const { alertsPerS, changes } = timedWrites(empty, alerts, (db) => {
    const insert = db.prepare(
      `INSERT OR FAIL INTO source_states (object_key, dia_source_id, dia_object_id, ss_object_id,
         ss_object_reassoc_time_mjd_tai, first_seen_mjd, last_seen_mjd, times_seen, first_run_id,
         last_run_id, last_alert_id, runs)
       SELECT COALESCE(?1, 0), value, ?1, NULL, NULL, ?2, ?2, 1, 1, 1, ?3, 1 FROM json_each(?4)`,
    );
    return (alert) =>
      insert.run(alert.diaObjectId, alert.midpointMjdTai, alert.alertId, alert.ids).changes;
  });
  return { alertsPerS, states: changes };
}
