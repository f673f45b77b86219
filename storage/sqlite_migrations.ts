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

/** Steps in order; empty while the first schema version is the only one released. */
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [];

/** The version `schema.sql` describes. */
export const SQLITE_SCHEMA_VERSION: number = 1 + SQLITE_MIGRATIONS.length;
