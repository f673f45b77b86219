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
];

/** The version `schema.sql` describes. */
export const SQLITE_SCHEMA_VERSION: number = 1 + SQLITE_MIGRATIONS.length;
