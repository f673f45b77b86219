/**
 * A read-only connection to either database, for readers that write their own parameterised
 * SQL once for both dialects (`?` placeholders, standard SQL): the viewer and the catalog.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { existsSync } from "node:fs";
import postgres from "npm:postgres@3.4.9";
import { StorageError } from "../model/errors.ts";
import { isPostgresUrl } from "./open_storage.ts";
import type { Row } from "./_rows.ts";

/** A value bound to a `?` placeholder. */
export type SqlParam = string | number | bigint | null;

/** A read-only connection; ids come back as `bigint`. */
export interface ReadConnection {
  /** Which SQL dialect the few non-standard expressions must use. */
  readonly dialect: "sqlite" | "postgres";
  /** The rows of one statement with `?` placeholders. */
  all(sql: string, params?: readonly SqlParam[]): Promise<Row[]>;
  /** Close the connection. */
  close(): Promise<void>;
}

/**
 * Open a read-only connection: SQLite in read-only mode with `query_only` (it reads while an
 * ingest writes, thanks to WAL), PostgreSQL with every transaction read-only.
 *
 * @param location A SQLite path or a `postgres://` URL.
 * @returns The connection.
 * @throws {StorageError} When a SQLite file does not exist or cannot be opened.
 */
export function openReadConnection(location: string): ReadConnection {
  return isPostgresUrl(location) ? new _PostgresReader(location) : new _SQLiteReader(location);
}

class _SQLiteReader implements ReadConnection {
  readonly dialect = "sqlite" as const;
  #db: DatabaseSync;
  #statements = new Map<string, StatementSync>();

  constructor(path: string) {
    // Opening read-only never creates the file: say plainly that it is not there.
    if (path !== ":memory:" && !existsSync(path)) {
      throw new StorageError(`Database "${path}" does not exist`);
    }
    try {
      this.#db = new DatabaseSync(path, { readOnly: true, allowExtension: false });
      this.#db.exec("PRAGMA query_only = ON");
      // A writer's checkpoint can hold the file briefly; wait rather than fail a page.
      this.#db.exec("PRAGMA busy_timeout = 5000");
    } catch (error) {
      throw new StorageError(
        `Cannot open database "${path}" read-only: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  all(sql: string, params: readonly SqlParam[] = []): Promise<Row[]> {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      statement.setReadBigInts(true);
      this.#statements.set(sql, statement);
    }
    return Promise.resolve(statement.all(...params) as Row[]);
  }

  close(): Promise<void> {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
    return Promise.resolve();
  }
}

class _PostgresReader implements ReadConnection {
  readonly dialect = "postgres" as const;
  #sql: postgres.Sql<{ bigint: bigint }>;
  #texts = new Map<string, string>();

  constructor(url: string) {
    this.#sql = postgres(url, {
      max: 4,
      types: { bigint: postgres.BigInt },
      onnotice: () => {},
      connect_timeout: 10,
      // Every transaction of these connections is read-only, whatever a statement says.
      connection: { default_transaction_read_only: true },
    });
  }

  async all(sql: string, params: readonly SqlParam[] = []): Promise<Row[]> {
    let text = this.#texts.get(sql);
    if (text === undefined) {
      let n = 0;
      text = sql.replaceAll("?", () => `$${++n}`);
      this.#texts.set(sql, text);
    }
    try {
      const rows = await this.#sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], {
        prepare: true,
      });
      return rows.map((row) => ({ ...row }));
    } catch (error) {
      throw new StorageError(`Query failed: ${(error as Error).message}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}
