/**
 * A database that already holds the states of many other DIASources, for the heavy re-observed
 * benchmark's second measurement: a night's stream is ingested into a database that grows to
 * millions of states, and an alert's ~350 history entries then sit among them. The rows are
 * written straight into the table behind `processed_sources` (bench setup, untimed; the ingest's
 * own path for millions of states would take minutes).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { SQLiteStorage } from "../mod.ts";

/** One state to store: the DIAObject it belongs to and its DIASource. */
export type PrefillState = readonly [objectId: bigint, diaSourceId: bigint];

/**
 * Create a database holding the given states (seen once, long before any alert of the input).
 *
 * @param path A database file that does not exist yet.
 * @param states The states, in any order.
 * @returns How many were stored.
 */
export async function prefillStates(path: string, states: PrefillState[]): Promise<number> {
  {
    await using storage = new SQLiteStorage(path);
    await storage.initialize();
  }
  // In primary-key order: each DIAObject's rows written once, together.
  states.sort((a, b) =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0
  );
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA synchronous = OFF");
    db.exec("PRAGMA cache_size = -262144");
    const insert = db.prepare(
      `INSERT INTO source_states (object_key, dia_source_id, dia_object_id, first_seen_mjd,
         last_seen_mjd, times_seen, first_run_id, last_run_id, last_alert_id, runs)
       SELECT value ->> 0, value ->> 1, value ->> 0, 50000.5, 50000.5, 1, NULL, NULL,
         value ->> 1, 1
       FROM json_each(?)`,
    );
    for (let at = 0; at < states.length; at += 20_000) {
      const part = states.slice(at, at + 20_000).map(([o, s]) => `[${o},${s}]`).join(",");
      db.exec("BEGIN");
      insert.run(`[${part}]`);
      db.exec("COMMIT");
    }
    // The ingest starts with an empty log, as on a database closed after last night.
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return Number((db.prepare("SELECT COUNT(*) AS n FROM source_states").get() as { n: number }).n);
  } finally {
    db.close();
  }
}
