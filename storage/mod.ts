/**
 * Where alerts go: the storage contract, SQLite (embedded default) and PostgreSQL (many workers).
 *
 * @module
 */

export * from "./alert_catalog.ts";
export * from "./export_writer.ts";
export * from "./open_storage.ts";
export * from "./parquet_export.ts";
export * from "./postgres_storage.ts";
export * from "./read_only_query.ts";
export * from "./selections.ts";
export * from "./storage.ts";
export * from "./sqlite_storage.ts";
export { SQLITE_SCHEMA_VERSION } from "./sqlite_migrations.ts";
