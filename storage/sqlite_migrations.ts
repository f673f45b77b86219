/**
 * Schema versions of the SQLite database (`PRAGMA user_version`).
 *
 * `schema.sql` always describes the newest schema with idempotent statements. A migration here
 * only changes what those statements cannot: columns added to tables an older version created.
 *
 * @module
 */

/** One step from `version - 1` to `version`. */
export interface SqliteMigration {
  /** Version after this step. */
  version: number;
  /** Statements to run on a database at `version - 1`, before `schema.sql`. */
  sql: string;
}

/** Steps in order. */
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  // ZTF alerts have a string object name and no integer DIAObject id.
  { version: 2, sql: "ALTER TABLE alerts ADD COLUMN object_name TEXT;" },
  // ANTARES alerts keep every property, so new Rubin columns are not lost.
  { version: 3, sql: "ALTER TABLE alerts ADD COLUMN properties TEXT;" },
  // Exact detections whatever the arrival order: replays need every alert's history and the
  // order of each DIASource's latest observation.
  {
    version: 4,
    sql: `ALTER TABLE alerts ADD COLUMN ss_object_reassoc_time_mjd_tai REAL;
      ALTER TABLE alerts ADD COLUMN history BLOB;
      ALTER TABLE processed_sources ADD COLUMN last_alert_id INTEGER;
      ALTER TABLE processed_sources ADD COLUMN runs INTEGER NOT NULL DEFAULT 1;`,
  },
  // Raw payloads (--keep-raw): a new table, which schema.sql creates.
  { version: 5, sql: "" },
  // Trust fixes (issue 12): every column added to an existing table goes here.
  {
    version: 6,
    sql: `ALTER TABLE alerts ADD COLUMN snapshot INTEGER NOT NULL DEFAULT 0;
      -- ANTARES rows were always snapshots; CSV rows cannot be told from packets any more.
      UPDATE alerts SET snapshot = 1 WHERE source = 'antares';
      -- A snapshot's detection belongs to no alert: alert_dia_source_id becomes nullable, which
      -- SQLite can only do by rebuilding the table.
      CREATE TABLE reassociations_v6 (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        dia_source_id       INTEGER NOT NULL,
        reason              TEXT    NOT NULL CHECK (reason IN (
                              'new_association', 'changed_association',
                              'updated_timestamp', 'association_removed')),
        old_ss_object_id    INTEGER,
        new_ss_object_id    INTEGER,
        old_reassoc_time    REAL,
        new_reassoc_time    REAL,
        alert_dia_source_id INTEGER,
        run_id              INTEGER REFERENCES ingestion_runs (run_id),
        detected_at         TEXT    NOT NULL,
        observed_mjd        REAL
      );
      INSERT INTO reassociations_v6 (id, dia_source_id, reason, old_ss_object_id,
        new_ss_object_id, old_reassoc_time, new_reassoc_time, alert_dia_source_id, run_id,
        detected_at)
        SELECT id, dia_source_id, reason, old_ss_object_id, new_ss_object_id, old_reassoc_time,
          new_reassoc_time, alert_dia_source_id, run_id, detected_at FROM reassociations;
      DROP TABLE reassociations;
      ALTER TABLE reassociations_v6 RENAME TO reassociations;
      -- What a cursor points into (Kafka cluster and topic ids, a file's size and first bytes):
      -- NULL on cursors stored before, accepted and filled in by the next write.
      ALTER TABLE source_cursors ADD COLUMN identity TEXT;
      -- Schema 4 began keeping each alert's history and each DIASource's latest alert; rows
      -- stored before it have neither, and the history bytes are gone. A DIASource whose
      -- last_alert_id is still NULL was first seen before then: note it for good, since replays
      -- of such DIASources miss observations however often they are seen again.
      CREATE TABLE IF NOT EXISTS upgrade_notes (
        note     TEXT    PRIMARY KEY,
        rows     INTEGER NOT NULL,
        noted_at TEXT    NOT NULL
      );
      INSERT OR IGNORE INTO upgrade_notes (note, rows, noted_at)
        SELECT 'sources_before_v4', COUNT(*), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        FROM processed_sources WHERE last_alert_id IS NULL HAVING COUNT(*) > 0;`,
  },
  // The viewer (issue 15): alerts_time_filters, which schema.sql creates, leads with the
  // midpoint too and replaces this index.
  { version: 7, sql: "DROP INDEX IF EXISTS alerts_midpoint;" },
  // States stored by DIAObject (see schema.sql): the rows move to source_states, which
  // schema.sql creates with its indexes and the processed_sources view that replaces the table.
  // 3 million rows took 9 s (measured).
  {
    version: 8,
    sql: `CREATE TABLE source_states (
        object_key                     INTEGER NOT NULL,
        dia_source_id                  INTEGER NOT NULL,
        dia_object_id                  INTEGER,
        ss_object_id                   INTEGER,
        ss_object_reassoc_time_mjd_tai REAL,
        first_seen_mjd                 REAL    NOT NULL,
        last_seen_mjd                  REAL    NOT NULL,
        times_seen                     INTEGER NOT NULL,
        first_run_id                   INTEGER,
        last_run_id                    INTEGER,
        last_alert_id                  INTEGER,
        runs                           INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (object_key, dia_source_id)
      ) WITHOUT ROWID;
      INSERT INTO source_states (object_key, dia_source_id, dia_object_id, ss_object_id,
        ss_object_reassoc_time_mjd_tai, first_seen_mjd, last_seen_mjd, times_seen, first_run_id,
        last_run_id, last_alert_id, runs)
        SELECT COALESCE(dia_object_id, 0), dia_source_id, dia_object_id, ss_object_id,
          ss_object_reassoc_time_mjd_tai, first_seen_mjd, last_seen_mjd, times_seen,
          first_run_id, last_run_id, last_alert_id, runs
        FROM processed_sources ORDER BY 1, 2;
      DROP TABLE processed_sources;`,
  },
  // Plain re-observations stored a row an alert (state_bumps, see schema.sql): schema.sql
  // creates the table and the processed_sources view that adds them.
  { version: 9, sql: "DROP VIEW IF EXISTS processed_sources;" },
];

/** The version `schema.sql` describes. */
export const SQLITE_SCHEMA_VERSION: number = 1 + SQLITE_MIGRATIONS.length;
