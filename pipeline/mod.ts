/**
 * The ingestion loop on top of everything: pull records, write cutouts, store batches with their cursors; quarantine replays.
 *
 * @module
 */

export * from "./ingestion_pipeline.ts";
export * from "./quarantine_decoder.ts";
export * from "./quarantine_replay.ts";
