// deno-lint-ignore-file no-console
/**
 * The database a command works on: where it is, opening and closing it, and what the stored data
 * cannot tell.
 *
 * @module
 */

import { openStorage, type Storage, UsageError } from "../mod.ts";
import type { Flags } from "./_flags.ts";

/**
 * The database location: --db, else `LSST_DB`, else `data/alerts.db`.
 *
 * @param flags The parsed flags.
 * @returns A SQLite path, `:memory:` or a `postgres://` URL.
 */
export function databasePath(flags: Flags): string {
  const path = flags.db ?? Deno.env.get("LSST_DB") ?? "data/alerts.db";
  if (typeof path !== "string" || path === "") throw new UsageError("Option --db needs a path");
  return path;
}

/** Options of {@linkcode withStorage}. */
export interface WithStorageOptions {
  /** Create the database when it does not exist. Default `false`. */
  create?: boolean;
}

/**
 * Run work on the database and close it afterwards, whatever happens. Only db-init and ingest
 * create a database: a read command given a mistyped path says the file does not exist instead
 * of leaving an empty database (and its folder) there.
 *
 * @param flags The parsed flags.
 * @param work What to do with the open storage.
 * @param options Whether to create it.
 * @returns The exit code `work` returns.
 */
export async function withStorage(
  flags: Flags,
  work: (storage: Storage) => Promise<number>,
  options: WithStorageOptions = {},
): Promise<number> {
  await using storage = openStorage(databasePath(flags), { create: options.create ?? false });
  return await work(storage);
}

/**
 * Print the limits of the stored data (an upgraded database). They go to stderr whatever the
 * output mode: they change what the numbers mean.
 *
 * @param storage The open storage.
 */
export async function warnAboutData(storage: Storage): Promise<void> {
  for (const warning of await storage.warnings?.() ?? []) console.error(`warning: ${warning}`);
}
