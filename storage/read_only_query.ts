/**
 * Users' own SQL against the database, always through a read-only connection: a typo or a
 * crafted statement cannot change or destroy data.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { StorageError } from "../pipeline/errors.ts";
import { isPostgresUrl } from "./open_storage.ts";

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

/**
 * Run one SQL statement read-only on SQLite (see {@linkcode readOnlyQuery}) or PostgreSQL (in a
 * `READ ONLY` transaction, streamed with a cursor), yielding rows with exact 64-bit ids.
 *
 * @param location SQLite path or `postgres://` URL.
 * @param sql One statement.
 * @returns The rows.
 * @throws {StorageError} When the statement fails or tries to write.
 * @example
 * ```ts ignore
 * import { queryReadOnly } from "./read_only_query.ts";
 * for await (const row of queryReadOnly("postgres://db/alerts", "SELECT 1 AS one")) row.one;
 * ```
 */
export async function* queryReadOnly(
  location: string,
  sql: string,
): AsyncGenerator<Record<string, unknown>, void, undefined> {
  if (!isPostgresUrl(location)) {
    yield* readOnlyQuery(location, sql);
    return;
  }
  const client = postgres(location, {
    max: 1,
    types: { bigint: postgres.BigInt },
    onnotice: () => {},
    // Every transaction of this connection is read-only, whatever the statement says.
    connection: { default_transaction_read_only: true },
  });
  let connection: postgres.ReservedSql<{ bigint: bigint }> | null = null;
  try {
    connection = await client.reserve();
    await connection`BEGIN READ ONLY`;
    for await (const rows of connection.unsafe(sql).cursor(500)) {
      for (const row of rows) yield { ...row };
    }
    await connection`ROLLBACK`;
  } catch (error) {
    throw new StorageError(`Query failed: ${(error as Error).message}`, { cause: error });
  } finally {
    connection?.release();
    await client.end({ timeout: 5 });
  }
}
