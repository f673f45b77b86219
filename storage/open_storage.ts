/**
 * One way to open a database, whatever it is: a path opens SQLite (the embedded default), a
 * `postgres://` URL opens PostgreSQL.
 *
 * @module
 */

import { PostgresStorage } from "./postgres_storage.ts";
import { SQLiteStorage } from "./sqlite_storage.ts";
import type { Storage } from "./storage.ts";

/**
 * Whether a location names a PostgreSQL database.
 *
 * @param location A path or URL.
 * @returns `true` for `postgres://` and `postgresql://` URLs.
 * @example
 * ```ts
 * import { isPostgresUrl } from "./open_storage.ts";
 * isPostgresUrl("data/alerts.db"); // false
 * ```
 */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** Options of {@linkcode openStorage}. */
export interface OpenStorageOptions {
  /**
   * Create a SQLite file (and its folder) that does not exist. Default `true`; with `false` a
   * missing file fails on first use with a `StorageError` naming it. A PostgreSQL database is
   * never created.
   */
  create?: boolean;
}

/**
 * Open the storage a location names.
 *
 * @param location A SQLite path (or `:memory:`) or a `postgres://user:password@host/db` URL.
 * @param options Whether a missing SQLite file may be created.
 * @returns The storage, not yet initialised.
 * @example
 * ```ts
 * import { openStorage } from "./open_storage.ts";
 * await using storage = openStorage(":memory:");
 * await storage.initialize();
 * ```
 */
export function openStorage(location: string, options: OpenStorageOptions = {}): Storage {
  return isPostgresUrl(location)
    ? new PostgresStorage(location)
    : new SQLiteStorage(location, options.create === undefined ? {} : { create: options.create });
}
