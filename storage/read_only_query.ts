/**
 * Users' own SQL against the database, always through a read-only connection: a typo or a
 * crafted statement cannot change or destroy data.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { existsSync } from "node:fs";
import postgres from "npm:postgres@3.4.9";
import { StorageError } from "../model/errors.ts";
import { isPostgresUrl } from "./open_storage.ts";
import { QUERY_FUNCTION, queryRoleName, quoteIdentifier } from "./_query_role.ts";

const INSUFFICIENT_PRIVILEGE = "42501";
const READ_ONLY_TRANSACTION = "25006";
const QUERY_CANCELED = "57014";

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
    // Opening read-only never creates the file: say plainly that it is not there.
    if (!existsSync(path)) {
      throw new StorageError(`Database "${path}" does not exist`, { cause: error });
    }
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

/** Options of {@linkcode queryReadOnly}. */
export interface QueryReadOnlyOptions {
  /**
   * On PostgreSQL, cancel the statement after this many milliseconds (SQLite has no such
   * limit). Default 60000.
   */
  timeoutMs?: number;
}

/**
 * Run one SQL statement read-only on SQLite (see {@linkcode readOnlyQuery}) or PostgreSQL,
 * yielding rows with exact 64-bit ids.
 *
 * On PostgreSQL the statement runs in a `READ ONLY` transaction, under a statement timeout, as
 * the database's read-only role that `db-init` creates: it may only read the project's tables,
 * and it runs inside a function where it cannot switch back to the connecting user's role. A
 * text holding several statements, and any statement that returns no rows (`SET`, `RESET`,
 * `COPY`, DDL, writes), is refused before anything runs. Without that role (`db-init` ran as a
 * user who may not create roles) nothing runs at all. The rows of the statement are computed
 * before the first one arrives.
 *
 * @param location SQLite path or `postgres://` URL.
 * @param sql One statement.
 * @param options The PostgreSQL timeout.
 * @returns The rows.
 * @throws {StorageError} When the statement fails, is refused, or runs out of time.
 * @throws {RangeError} When the timeout is not a positive whole number.
 * @example
 * ```ts ignore
 * import { queryReadOnly } from "./read_only_query.ts";
 * for await (const row of queryReadOnly("postgres://db/alerts", "SELECT 1 AS one")) row.one;
 * ```
 */
export async function* queryReadOnly(
  location: string,
  sql: string,
  options: QueryReadOnlyOptions = {},
): AsyncGenerator<Record<string, unknown>, void, undefined> {
  if (!isPostgresUrl(location)) {
    yield* readOnlyQuery(location, sql);
    return;
  }
  const timeoutMs = options.timeoutMs ?? 60_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
    throw new RangeError(
      `Query timeout must be a whole number of milliseconds above 0, not "${timeoutMs}"`,
    );
  }
  const client = postgres(location, {
    max: 1,
    types: { bigint: postgres.BigInt },
    onnotice: () => {},
    // Every transaction of this connection is read-only, whatever the statement says.
    connection: { default_transaction_read_only: true },
  });
  let connection: Connection | null = null;
  try {
    connection = await client.reserve();
    await connection`BEGIN READ ONLY`;
    const call = await _callAsQueryRole(connection, sql, timeoutMs);
    for await (const rows of connection.unsafe(call.text, [call.statement]).cursor(500)) {
      for (const row of rows) yield call.row(row);
    }
    await connection`ROLLBACK`;
  } catch (error) {
    throw _queryError(error, timeoutMs);
  } finally {
    connection?.release();
    await client.end({ timeout: 5 });
  }
}

type Connection = postgres.ReservedSql<{ bigint: bigint }>;

interface _Call {
  /** The call of the query function, the statement being its only parameter. */
  text: string;
  /** The user's statement, or it inside a subquery that turns pseudo-typed columns to text. */
  statement: string;
  /** The statement's own column names back on a row of the call. */
  row(row: Record<string, unknown>): Record<string, unknown>;
}

// Switch the transaction to the read-only role and check the statement without running it: the
// extended protocol's Parse takes exactly one statement, and its Describe gives the columns the
// function's caller must declare.
async function _callAsQueryRole(
  connection: Connection,
  sql: string,
  timeoutMs: number,
): Promise<_Call> {
  await connection.unsafe("SELECT set_config('statement_timeout', $1, true)", [String(timeoutMs)]);
  const [where] = await connection.unsafe(
    "SELECT current_database() AS database, current_user AS username",
  );
  const database = String(where?.database);
  const user = String(where?.username);
  const role = await queryRoleName(database);
  // Only the function db-init made: owned by the role, run as it, and the role confined.
  const [found] = await connection.unsafe(
    `SELECT n.nspname AS schema, NOT (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR
        r.rolreplication OR r.rolbypassrls OR r.rolcanlogin)
      AND NOT EXISTS (SELECT FROM pg_auth_members m WHERE m.member = r.oid) AS confined
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      JOIN pg_roles r ON r.oid = p.proowner
    WHERE p.oid = to_regprocedure(format('%I(text)', $2::text)) AND p.prosecdef
      AND r.rolname = $1`,
    [role, QUERY_FUNCTION],
  );
  if (found === undefined) {
    throw new StorageError(
      `Query refused: database "${database}" has no read-only role "${role}" for queries: run db-init as a user who may create roles (a superuser, or one with CREATEROLE)`,
    );
  }
  if (!found.confined) {
    throw new StorageError(
      `Query refused: role "${role}" may do more than read the project's tables: drop it and run db-init again`,
    );
  }
  try {
    await connection.unsafe("SELECT set_config('role', $1, true)", [role]);
  } catch (error) {
    if ((error as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) throw error;
    throw new StorageError(
      `Query refused: user "${user}" may not act as the read-only role "${role}": GRANT "${role}" TO "${user}"`,
      { cause: error },
    );
  }

  const columns = await _describe(connection, sql);
  const types = await connection.unsafe(
    `SELECT format('%I.%I', n.nspname, t.typname) AS name, t.typname AS short,
      t.typtype = 'p' AND t.typname NOT IN ('record', '_record') AS pseudo
    FROM unnest($1::oid[]) WITH ORDINALITY AS c(type, i) JOIN pg_type t ON t.oid = c.type
      JOIN pg_namespace n ON n.oid = t.typnamespace
    ORDER BY c.i`,
    [`{${columns.map((c) => c.type).join(",")}}`],
  );
  const aliases = columns.map((_, i) => `c${i + 1}`);
  let statement = sql;
  const pseudo = types.findIndex((t) => t.pseudo);
  if (pseudo >= 0) {
    // A function cannot declare a column of type void (pg_sleep()) or cstring: they come back as
    // text, through a subquery the server must again parse as one statement.
    statement = "SELECT " +
      aliases.map((a, i) => (types[i]?.pseudo ? `${a}::text` : a)).join(", ") +
      " FROM (\n" + sql.replace(/[\s;]+$/, "") + "\n) AS q(" + aliases.join(", ") + ")";
    const wrapped = await _describe(connection, statement).catch(() => []);
    if (wrapped.length !== columns.length) {
      throw new StorageError(
        `Query refused: column "${columns[pseudo]?.name}" has type "${
          types[pseudo]?.short
        }", which a query cannot return: cast it to text`,
      );
    }
  }
  // Only catalog names quoted by the server (format('%I')) and fixed aliases go into the text;
  // the statement itself is the bound parameter.
  const declared = aliases.map((a, i) =>
    `${a} ${types[i]?.pseudo ? "pg_catalog.text" : types[i]?.name}`
  );
  const text = "SELECT * FROM " + quoteIdentifier(String(found.schema)) + "." +
    quoteIdentifier(QUERY_FUNCTION) + "($1) AS q(" + declared.join(", ") + ")";
  const names = columns.map((c) => c.name);
  return {
    text,
    statement,
    row: (row) => Object.fromEntries(names.map((name, i) => [name, row[aliases[i] as string]])),
  };
}

async function _describe(
  connection: Connection,
  sql: string,
): Promise<postgres.ColumnList<string>> {
  let columns: postgres.ColumnList<string>;
  try {
    ({ columns } = await connection.unsafe(sql).describe());
  } catch (error) {
    if (/multiple commands/.test((error as Error).message)) {
      throw new StorageError(
        "Query refused: the text holds several statements, and a query is one statement that reads",
        { cause: error },
      );
    }
    throw error;
  }
  if (columns.length === 0) {
    const keyword = /^[a-z]+/i.exec(_withoutLeadingComments(sql))?.[0]?.toUpperCase();
    throw new StorageError(
      `Query refused: "${
        keyword ?? sql
      }" does not return rows, and a query is one statement that reads, such as SELECT`,
    );
  }
  return columns;
}

function _queryError(error: unknown, timeoutMs: number): StorageError {
  if (error instanceof StorageError) return error;
  const { code, message } = error as { code?: string; message?: string };
  if (code === QUERY_CANCELED && /statement timeout/.test(message ?? "")) {
    return new StorageError(`Query cancelled: it ran longer than the "${timeoutMs}" ms timeout`, {
      cause: error,
    });
  }
  if (code === INSUFFICIENT_PRIVILEGE || code === READ_ONLY_TRANSACTION) {
    return new StorageError(`Query refused: ${message}`, { cause: error });
  }
  return new StorageError(`Query failed: ${message ?? String(error)}`, { cause: error });
}
