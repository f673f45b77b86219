/**
 * The PostgreSQL role that users' SQL runs as: it may log in nowhere, own nothing but the one
 * function that runs a query, and only read the project's tables. `db-init` creates it; `query`
 * switches to it.
 *
 * A `READ ONLY` transaction alone is not enough: it still allows `COPY … TO PROGRAM`,
 * `COPY … TO 'file'` and `pg_terminate_backend()` for a superuser. Switching role alone is not
 * enough either: a superuser session can switch back from inside a `SELECT` with
 * `set_config('role', …)`. Running the statement inside a `SECURITY DEFINER` function owned by
 * the role closes that door: PostgreSQL refuses to change `role` or `session_authorization`
 * there.
 *
 * @module
 */

import type postgres from "npm:postgres@3.4.9";
import schemaSql from "./postgres_schema.sql" with { type: "text" };

/** The function, in the schema of the project's tables, that runs one query as the role. */
export const QUERY_FUNCTION = "lsst_read_only_query";

// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1); longer ones are silently cut, and two
// long database names sharing a prefix would then share a role.
const MAX_IDENTIFIER_BYTES = 63;
const PREFIX = "lsst_reader_";

// duplicate_object, or unique_violation when another session creates it at the same moment.
const ALREADY_EXISTS = new Set(["42710", "23505"]);
const INSUFFICIENT_PRIVILEGE = "42501";

/**
 * The read-only role of a database. Roles belong to the whole cluster, so the name comes from
 * the database's: two databases on one server never share or fight over it.
 *
 * @param database The database name.
 * @returns `lsst_reader_<database>`, or a cut name with a hash when that would be too long.
 */
export async function queryRoleName(database: string): Promise<string> {
  const name = PREFIX + database;
  const bytes = new TextEncoder();
  if (bytes.encode(name).length <= MAX_IDENTIFIER_BYTES) return name;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes.encode(database)));
  const hash = Array.from(digest.slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
  let cut = PREFIX;
  for (const char of database) {
    if (bytes.encode(cut + char).length > MAX_IDENTIFIER_BYTES - hash.length - 1) break;
    cut += char;
  }
  return `${cut}_${hash}`;
}

/**
 * An identifier as SQL text, whatever characters it holds.
 *
 * @param name The identifier.
 * @returns It in double quotes, inner quotes doubled.
 */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Create or complete the read-only role of the database and its query function, inside
 * `initialize()`'s transaction (under its advisory lock). Does nothing when both are in place,
 * so a worker starting next to others writing runs no DDL. When the connecting user may not
 * create roles, nothing is created and `query` refuses to run.
 *
 * @param tx The schema transaction, after the tables exist.
 */
export async function ensureQueryRole(
  tx: postgres.TransactionSql<{ bigint: bigint }>,
): Promise<void> {
  const tables = [...schemaSql.matchAll(/^CREATE TABLE IF NOT EXISTS (\w+)/gm)].map((m) => m[1]!);
  const [me] = await tx.unsafe(
    `SELECT current_database() AS database, current_schema() AS schema, rolsuper, rolcreaterole
    FROM pg_roles WHERE rolname = current_user`,
  );
  if (me === undefined || me.schema === null) return;
  const role = await queryRoleName(String(me.database));
  const schema = String(me.schema);
  const [state] = await tx.unsafe(
    `SELECT r.oid IS NOT NULL AS exists,
      COALESCE((SELECT p.prosecdef AND p.proowner = r.oid FROM pg_proc p
          WHERE p.oid = to_regprocedure(format('%I.%I(text)', $2::text, $3::text)))
        AND (SELECT bool_and(has_table_privilege(r.oid, format('%I.%I', $2::text, t), 'SELECT'))
          FROM unnest($4::text[]) AS t), false) AS ready
    FROM (SELECT $1::text AS name) AS wanted LEFT JOIN pg_roles r ON r.rolname = wanted.name`,
    [role, schema, QUERY_FUNCTION, tables],
  );
  if (state?.ready || !(me.rolsuper || me.rolcreaterole)) return;

  const r = quoteIdentifier(role);
  const s = quoteIdentifier(schema);
  const f = `${s}.${quoteIdentifier(QUERY_FUNCTION)}(text)`;
  try {
    await tx.savepoint(async (sp) => {
      if (!state?.exists) {
        try {
          await sp.savepoint((inner) =>
            inner.unsafe(
              `CREATE ROLE ${r} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION
              NOBYPASSRLS`,
            )
          );
        } catch (error) {
          if (!ALREADY_EXISTS.has((error as { code?: string }).code ?? "")) throw error;
        }
      }
      // A non-superuser needs membership to hand the function over and to switch role later.
      if (!me.rolsuper) await sp.unsafe(`GRANT ${r} TO CURRENT_USER`);
      await sp.unsafe(`GRANT USAGE ON SCHEMA ${s} TO ${r}`);
      await sp.unsafe(
        `GRANT SELECT ON TABLE ${tables.map((t) => `${s}.${quoteIdentifier(t)}`).join(", ")}
        TO ${r}`,
      );
      await sp.unsafe(
        `CREATE OR REPLACE FUNCTION ${s}.${quoteIdentifier(QUERY_FUNCTION)}(statement text)
        RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER
        AS $body$ BEGIN RETURN QUERY EXECUTE statement; END $body$`,
      );
      await sp.unsafe(`REVOKE ALL ON FUNCTION ${f} FROM PUBLIC`);
      // A new owner needs CREATE on the schema (unless a superuser hands it over); the role
      // keeps it only for the time of the transfer.
      await sp.unsafe(`GRANT CREATE ON SCHEMA ${s} TO ${r}`);
      await sp.unsafe(`ALTER FUNCTION ${f} OWNER TO ${r}`);
      await sp.unsafe(`REVOKE CREATE ON SCHEMA ${s} FROM ${r}`);
    });
  } catch (error) {
    if ((error as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) throw error;
  }
}
