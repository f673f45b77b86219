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

/**
 * Open the storage a location names.
 *
 * @param location A SQLite path (or `:memory:`) or a `postgres://user:password@host/db` URL.
 * @returns The storage, not yet initialised.
 * @example
 * ```ts
 * import { openStorage } from "./open_storage.ts";
 * await using storage = openStorage(":memory:");
 * await storage.initialize();
 * ```
 */
export function openStorage(location: string): Storage {
  return isPostgresUrl(location) ? new PostgresStorage(location) : new SQLiteStorage(location);
}
