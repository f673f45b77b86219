/**
 * Users' own SQL against the database, always through a read-only connection: a typo or a
 * crafted statement cannot change or destroy data.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { StorageError } from "../pipeline/errors.ts";

/**
 * Run one SQL statement on a read-only connection and yield its rows, ids as exact `bigint`.
 *
 * The connection is opened read-only (writes, `ATTACH` of a file for writing, and schema changes
 * fail) and with `query_only` on; extensions cannot be loaded; `VACUUM` is refused, because
 * `VACUUM INTO` writes a new file even from a read-only connection.
 *
 * @param path The SQLite file.
 * @param sql One statement.
 * @returns The rows, read as they are consumed.
 * @throws {StorageError} When the file cannot be opened or the statement fails (including any
 * attempt to write).
 * @example
 * ```ts ignore
 * import { readOnlyQuery } from "./read_only_query.ts";
 * for (const row of readOnlyQuery("data/alerts.db", "SELECT COUNT(*) AS n FROM alerts")) row.n;
 * ```
 */
export function* readOnlyQuery(path: string, sql: string): Generator<Record<string, unknown>> {
  // Only the first statement runs, and its first keyword says what it is.
  if (/^VACUUM\b/i.test(_withoutLeadingComments(sql))) {
    throw new StorageError("Query refused: VACUUM writes files, and queries only read");
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true, allowExtension: false });
    db.exec("PRAGMA query_only = ON");
  } catch (error) {
    throw new StorageError(
      `Cannot open database "${path}" read-only: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  try {
    let rows: Iterable<Record<string, unknown>>;
    try {
      const statement = db.prepare(sql);
      statement.setReadBigInts(true);
      // Iterating swallows a refused write; a first step reports it.
      statement.get();
      rows = statement.iterate() as Iterable<Record<string, unknown>>;
    } catch (error) {
      throw new StorageError(`Query failed: ${(error as Error).message}`, { cause: error });
    }
    try {
      for (const row of rows) yield { ...row };
    } catch (error) {
      throw new StorageError(`Query failed: ${(error as Error).message}`, { cause: error });
    }
  } finally {
    db.close();
  }
}

function _withoutLeadingComments(sql: string): string {
  let rest = sql;
  for (;;) {
    const trimmed = rest.replace(/^[\s;(]+/, "");
    if (trimmed.startsWith("--")) rest = trimmed.replace(/^--[^\n]*(\n|$)/, "");
    else if (trimmed.startsWith("/*")) {
      const end = trimmed.indexOf("*/");
      rest = end < 0 ? "" : trimmed.slice(end + 2);
    } else return trimmed;
  }
}
