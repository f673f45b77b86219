/**
 * Where alerts go: the storage contract and its SQLite implementation.
 *
 * @module
 */

export * from "./export_writer.ts";
export * from "./read_only_query.ts";
export * from "./storage.ts";
export * from "./sqlite_storage.ts";
export { SQLITE_SCHEMA_VERSION } from "./sqlite_migrations.ts";
