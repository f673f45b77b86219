/**
 * Rows of the tables both storages share, read back into the module's types: one mapping for
 * SQLite and PostgreSQL, whose drivers give the same column names and value kinds here (ids as
 * `bigint`, text as strings).
 *
 * @module
 */

import type { ReassociationDetection, ReassociationReason } from "../model/alert_record.ts";
import type { IngestionRunRecord, QuarantineRecord, RunStatus } from "./storage.ts";
import type { StoredSchema } from "../model/stored_schema.ts";

/** A row as a driver returns it. */
export type Row = Record<string, unknown>;

/**
 * A `reassociations` row.
 *
 * @param r The row.
 * @returns The detection.
 */
export function detectionFromRow(r: Row): ReassociationDetection {
  return {
    diaSourceId: r.dia_source_id as bigint,
    reason: r.reason as ReassociationReason,
    oldSsObjectId: r.old_ss_object_id as bigint | null,
    newSsObjectId: r.new_ss_object_id as bigint | null,
    oldReassocTime: r.old_reassoc_time as number | null,
    newReassocTime: r.new_reassoc_time as number | null,
    alertDiaSourceId: r.alert_dia_source_id as bigint | null,
    observedMjd: r.observed_mjd === undefined ? null : r.observed_mjd as number | null,
  };
}

/**
 * An `ingestion_runs` row.
 *
 * @param r The row.
 * @returns The run.
 */
export function runRecordFromRow(r: Row): IngestionRunRecord {
  return {
    runId: Number(r.run_id),
    source: String(r.source),
    params: JSON.parse(String(r.params)) as Record<string, unknown>,
    startedAt: String(r.started_at),
    finishedAt: r.finished_at === null ? null : String(r.finished_at),
    status: r.status as RunStatus,
    alertsIngested: Number(r.alerts_ingested),
    alertsSkipped: Number(r.alerts_skipped),
    newSources: Number(r.new_sources),
    reassociationsDetected: Number(r.reassociations_detected),
    alertsQuarantined: Number(r.alerts_quarantined),
    error: r.error === null ? null : String(r.error),
  };
}

/**
 * A `schemas` row.
 *
 * @param r The row.
 * @returns The schema.
 */
export function schemaFromRow(r: Row): StoredSchema {
  return {
    fingerprint: String(r.fingerprint),
    id: r.id === null ? null : Number(r.id),
    version: r.version === null ? null : String(r.version),
    survey: r.survey === null ? null : String(r.survey),
    json: String(r.json),
  };
}

/**
 * A `quarantine` row listed with `raw_bytes` (the size of `raw`) instead of `raw`.
 *
 * @param r The row.
 * @returns The record.
 */
export function quarantineFromRow(r: Row): QuarantineRecord {
  return {
    id: Number(r.id),
    source: String(r.source),
    stream: String(r.stream),
    position: String(r.position),
    error: String(r.error),
    rawBytes: r.raw_bytes === null ? null : Number(r.raw_bytes),
    runId: r.run_id === null ? null : Number(r.run_id),
    quarantinedAt: String(r.quarantined_at),
  };
}
