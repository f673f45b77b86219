/**
 * The model every layer shares: the alert record, cursors, cutout paths, loci, payloads and schemas, errors, exact JSON.
 *
 * @module
 */

export * from "./alert_record.ts";
export * from "./cutout_paths.ts";
export * from "./errors.ts";
export * from "./exact_json.ts";
export * from "./locus_record.ts";
export * from "./raw_payload.ts";
export * from "./source_cursor.ts";
export * from "./stored_alert.ts";
export * from "./stored_schema.ts";
