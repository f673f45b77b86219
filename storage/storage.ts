/**
 * What the pipeline needs from a database. SQLite is the embedded implementation; others must
 * keep the same tables, column names and semantics.
 *
 * @module
 */

import type { ReassociationReason } from "../model/alert_record.ts";
import type { LocusRecord } from "../model/locus_record.ts";
import type { RawPayload } from "../model/raw_payload.ts";
import type { SourceCursor } from "../model/source_cursor.ts";
import type { SchemaStore } from "../model/stored_schema.ts";
import type { StoredAlert } from "../model/stored_alert.ts";

/** Life cycle of an ingestion run. */
export type RunStatus = "running" | "completed" | "failed" | "interrupted";

/** An `ingestion_runs` row. */
export interface IngestionRunRecord {
  /** Run id. */
  runId: number;
  /** Source name. */
  source: string;
  /** What the run was asked to do (no secrets). */
  params: Record<string, unknown>;
  /** ISO-8601 UTC start time. */
  startedAt: string;
  /** ISO-8601 UTC end time; `null` while running. */
  finishedAt: string | null;
  /** Status. */
  status: RunStatus;
  /** New alerts stored. */
  alertsIngested: number;
  /** Alerts read but already stored (replays), so skipped. */
  alertsSkipped: number;
  /** DIASources seen for the first time. */
  newSources: number;
  /** Reassociations detected. */
  reassociationsDetected: number;
  /** Records (or cutouts) quarantined. */
  alertsQuarantined: number;
  /** Why the run failed or stopped, when it did. */
  error: string | null;
}

/** A record or cutout that could not be used, kept with its raw bytes. */
export interface QuarantineEntry {
  /** Source name (`file`, `kafka`…), or `<source>:cutout` for a bad cutout. */
  source: string;
  /** File or `topic/partition`. */
  stream: string;
  /** Record index or offset. */
  position: string;
  /** What was wrong. */
  error: string;
  /** Raw bytes, when there are any. */
  raw: Uint8Array | null;
}

/** A `quarantine` row as listed: its raw bytes by size only (read them with `quarantineRaw`). */
export interface QuarantineRecord {
  /** Row id. */
  id: number;
  /** Source name (`file`, `kafka`…), or `<source>:cutout` for a bad cutout. */
  source: string;
  /** File or `topic/partition`. */
  stream: string;
  /** Record index or offset. */
  position: string;
  /** What was wrong (the latest error, after a replay that still failed). */
  error: string;
  /** Size of the raw bytes, `null` when none were kept. */
  rawBytes: number | null;
  /** The run that quarantined it. */
  runId: number | null;
  /** ISO-8601 UTC time it was quarantined. */
  quarantinedAt: string;
}

/** Options of {@linkcode Storage.listQuarantine}. */
export interface QuarantineQuery {
  /** Only rows of this source (`file`, `kafka`, `antares`, `file:cutout`…). Default: all. */
  source?: string;
  /** Only rows with a larger id (to read page after page). Default 0. */
  afterId?: number;
  /** At most this many rows, in id order. Default 100. */
  limit?: number;
}

/** A quarantine row tried again whose record still fails: it stays, with the new error. */
export interface QuarantineRetry {
  /** Row id. */
  id: number;
  /** The error of this attempt. */
  error: string;
}

/** Everything one batch writes, in one transaction. */
export interface BatchWrite {
  /** Source name. */
  source: string;
  /** Alerts in arrival order; already stored ones are skipped inside the transaction. */
  alerts: readonly StoredAlert[];
  /** Records to quarantine. */
  quarantine: readonly QuarantineEntry[];
  /** The newest position of each stream the batch covers. */
  cursors: readonly SourceCursor[];
  /** Locus summaries to upsert (ANTARES). Default none. */
  loci?: readonly LocusRecord[];
  /**
   * The import's time (MJD TAI): when its snapshots without a reassociation time are observed,
   * or the latest stored alert's time if that is later. Default: the time of the write.
   */
  importMjd?: number;
  /**
   * Quarantine rows whose records this batch stores (a quarantine replay): deleted in the
   * same transaction, so a record is never both stored and quarantined. Default none.
   */
  quarantineResolved?: readonly number[];
  /** Quarantine rows replayed without success: kept, with their new error. Default none. */
  quarantineRetried?: readonly QuarantineRetry[];
}

/** What a batch changed. */
export interface BatchOutcome {
  /** New alerts stored. */
  alertsIngested: number;
  /** Alerts skipped because they were already stored. */
  alertsSkipped: number;
  /** DIASources seen for the first time. */
  newSources: number;
  /** Reassociations detected. */
  reassociationsDetected: number;
  /** Quarantine rows written. */
  alertsQuarantined: number;
}

/** A `reassociations` row. */
export interface ReassociationRecord {
  /** Row id. */
  id: number;
  /** The DIASource. */
  diaSourceId: bigint;
  /** The rule. */
  reason: ReassociationReason;
  /** SSObject before (`null` = none). */
  oldSsObjectId: bigint | null;
  /** SSObject after (`null` = none). */
  newSsObjectId: bigint | null;
  /** Reassociation time before. */
  oldReassocTime: number | null;
  /** Reassociation time after. */
  newReassocTime: number | null;
  /** The alert it was found in; `null` when a snapshot fired it (no alert shows it). */
  alertDiaSourceId: bigint | null;
  /** Time of the observation that fired it (MJD TAI); `null` on rows older than schema 6. */
  observedMjd: number | null;
  /** The run. */
  runId: number | null;
  /** ISO-8601 UTC detection time. */
  detectedAt: string;
}

/** Options of {@linkcode Storage.listReassociations}. */
export interface ReassociationQuery {
  /** Only this rule. Default: all. */
  reason?: ReassociationReason;
  /** Only this run. Default: all. */
  runId?: number;
  /** At most this many, newest first. Default 100. */
  limit?: number;
}

/** Summary of a database for `db-stats`. */
export interface DatabaseStats {
  /** Where the database is. */
  location: string;
  /** Rows per table. */
  rows: Record<string, number>;
  /** Alerts of solar-system objects (no DIAObject). */
  solarSystemAlerts: number;
  /** Alerts flagged as reassociations. */
  reassociationAlerts: number;
  /** Detections per rule. */
  reassociationsByReason: Record<ReassociationReason, number>;
  /** Range of alert midpoints (MJD TAI), `null` when empty. */
  mjdRange: { min: number; max: number } | null;
  /** Database size on disk in bytes (with its WAL), `null` when not a file. */
  sizeBytes: number | null;
}

/** Tables that can be exported row by row. */
export type ExportTable = "alerts" | "reassociations" | "processed_sources" | "ingestion_runs";

/** Options of {@linkcode Storage.iterateRows}. */
export interface IterateRowsOptions {
  /**
   * Only alerts with `midpoint_mjd_tai` ≥ this (detections: found in such alerts, or fired by a
   * snapshot observed since; processed sources: with `last_seen_mjd` ≥ this). Runs have no MJD:
   * giving it for `ingestion_runs` is a `RangeError`. Default: every row.
   */
  sinceMjd?: number;
}

/** A database the pipeline writes to. */
export interface Storage extends AsyncDisposable, SchemaStore {
  /** Path or URL, for messages. */
  readonly location: string;
  /** Create or migrate the schema. Idempotent. */
  initialize(): Promise<void>;
  /**
   * Record the start of a run.
   *
   * @param source Source name.
   * @param params What it was asked to do (no secrets).
   * @returns The run id.
   */
  beginRun(source: string, params: Readonly<Record<string, unknown>>): Promise<number>;
  /**
   * Stored positions of a source's streams.
   *
   * @param source Source name.
   * @returns Position by stream.
   */
  loadCursors(source: string): Promise<Map<string, string>>;
  /**
   * What each stored position of a source's streams points into (`SourceCursor.identity`).
   *
   * @param source Source name.
   * @returns Identity by stream; streams whose cursor has none (stored by older versions) are
   * absent.
   */
  loadCursorIdentities(source: string): Promise<Map<string, string>>;
  /**
   * Forget the stored positions of some of a source's streams, so they are read from their
   * start (`--reset-cursors`).
   *
   * @param source Source name.
   * @param streams The streams.
   * @returns How many cursors were discarded.
   */
  discardCursors(source: string, streams: readonly string[]): Promise<number>;
  /**
   * Which of these alerts are already stored (a read outside any transaction, used to avoid
   * writing cutouts twice).
   *
   * @param diaSourceIds Triggering DIASource ids.
   * @returns The stored ones.
   */
  knownAlertIds(diaSourceIds: readonly bigint[]): Promise<Set<bigint>>;
  /**
   * The Avro payload kept for an alert (ingested with `keepRaw`).
   *
   * @param diaSourceId The alert's triggering DIASource.
   * @returns The payload and its writer schema, or `null` when none was kept.
   */
  rawAlert(diaSourceId: bigint): Promise<RawPayload | null>;
  /**
   * Quarantine rows in id order, without their raw bytes.
   *
   * @param query Source filter and page.
   * @returns The rows.
   */
  listQuarantine(query?: QuarantineQuery): Promise<QuarantineRecord[]>;
  /**
   * The raw bytes of a quarantine row.
   *
   * @param id Row id.
   * @returns The bytes, or `null` when the row kept none or no longer exists.
   */
  quarantineRaw(id: number): Promise<Uint8Array | null>;
  /**
   * Track and store a batch with its cursors in one transaction.
   *
   * @param runId The run.
   * @param batch Alerts, quarantine entries and cursors.
   * @returns What changed.
   */
  writeBatch(runId: number, batch: BatchWrite): Promise<BatchOutcome>;
  /**
   * Record the end of a run.
   *
   * @param runId The run.
   * @param status Final status.
   * @param error Why it failed or stopped, if it did.
   * @returns The final row.
   */
  finishRun(runId: number, status: RunStatus, error: string | null): Promise<IngestionRunRecord>;
  /**
   * Newest runs first.
   *
   * @param limit At most this many.
   * @returns Runs.
   */
  listRuns(limit: number): Promise<IngestionRunRecord[]>;
  /**
   * Newest detections first.
   *
   * @param query Filters.
   * @returns Detections.
   */
  listReassociations(query?: ReassociationQuery): Promise<ReassociationRecord[]>;
  /** Table sizes and summaries. */
  stats(): Promise<DatabaseStats>;
  /**
   * What the stored data cannot be trusted for, one sentence each, for operators: such as
   * detections that may be incomplete because the database was upgraded from a schema that
   * kept less. A storage whose data has no such limit may leave it out.
   *
   * @returns The warnings; none when the data is whole.
   */
  warnings?(): Promise<string[]>;
  /**
   * Every row of a table in key order, columns in table order (without `alerts.history`, the
   * packed histories kept for replays), ids as `bigint`.
   *
   * @param table `alerts`, `reassociations`, `processed_sources` or `ingestion_runs`.
   * @param options Filters.
   * @returns The rows, read as they are consumed.
   */
  iterateRows(
    table: ExportTable,
    options?: IterateRowsOptions,
  ): AsyncIterable<Record<string, unknown>>;
  /** Close the database. Safe to call twice. */
  close(): Promise<void>;
}
