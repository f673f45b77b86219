/**
 * The alert model, the reassociation rules and the ingestion loop.
 *
 * @module
 */

export * from "./alert_record.ts";
export * from "./errors.ts";
export * from "./exact_json.ts";
export * from "./ingestion_pipeline.ts";
export * from "./quarantine_replay.ts";
export * from "./reassociation_tracker.ts";
