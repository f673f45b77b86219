/**
 * PostgreSQL storage, for several ingest workers (on several hosts) writing one database: the
 * same tables, columns and meanings as SQLite, each batch in one transaction, and the
 * per-DIASource state update and the detections it implies made atomic with row locks taken in
 * one statement, in id order, so workers never deadlock on them.
 *
 * @module
 */

import postgres from "postgres";
import schemaSql from "./postgres_schema.sql" with { type: "text" };
import {
  type AlertRecord,
  REASSOCIATION_REASONS,
  type ReassociationDetection,
  type ReassociationReason,
} from "../pipeline/alert_record.ts";
import { StorageError } from "../pipeline/errors.ts";
import { detectionFromRow, type Row, runRecordFromRow, schemaFromRow } from "./_rows.ts";
import { stringifyExact } from "../pipeline/exact_json.ts";
import { type SourceState, trackAlerts } from "../pipeline/reassociation_tracker.ts";
import { packHistory } from "./_history_blob.ts";
import { planReplay, type ReplayInput } from "./_replay.ts";
import type {
  BatchOutcome,
  BatchWrite,
  DatabaseStats,
  ExportTable,
  IngestionRunRecord,
  IterateRowsOptions,
  RawPayload,
  ReassociationQuery,
  ReassociationRecord,
  RunStatus,
  Storage,
  StoredAlert,
  StoredSchema,
} from "./storage.ts";

/** Options of {@linkcode PostgresStorage}. */
export interface PostgresStorageOptions {
  /** Connections in the pool. Default 4. */
  maxConnections?: number;
  /** Attempts of a batch that lost a deadlock or serialization race. Default 5. */
  retries?: number;
}

/** The version `postgres_schema.sql` describes (2: `raw_alerts`). */
export const POSTGRES_SCHEMA_VERSION = 2;

// Advisory lock keys: one for schema creation, one class for the runs' liveness locks.
const SCHEMA_LOCK = 0x4c535354;
const RUN_LOCK_CLASS = 0x4c535352;

type Sql = postgres.Sql<{ bigint: bigint }>;
type Tx = postgres.TransactionSql<{ bigint: bigint }>;

const TABLES = [
  "alerts",
  "processed_sources",
  "reassociations",
  "ingestion_runs",
  "source_cursors",
  "quarantine",
  "schemas",
  "loci",
] as const;

/**
 * PostgreSQL storage through npm `postgres`. Batches are written with one statement per table
 * (`unnest` of arrays), not one per row.
 *
 * @example
 * ```ts ignore
 * import { PostgresStorage } from "./postgres_storage.ts";
 * await using storage = new PostgresStorage("postgres://ingest@db.example.org/alerts");
 * await storage.initialize();
 * ```
 */
export class PostgresStorage implements Storage {
  /** The URL without its password. */
  readonly location: string;
  #sql: Sql;
  #retries: number;
  #runLocks = new Map<number, postgres.ReservedSql<{ bigint: bigint }>>();
  #closed = false;

  /**
   * Describe a database; connections open on first use.
   *
   * @param url `postgres://user:password@host:port/database`.
   * @param options Pool size and retries.
   */
  constructor(url: string, options: PostgresStorageOptions = {}) {
    this.location = _withoutPassword(url);
    this.#retries = options.retries ?? 5;
    this.#sql = postgres(url, {
      max: options.maxConnections ?? 4,
      types: { bigint: postgres.BigInt },
      onnotice: () => {},
      connect_timeout: 10,
    }) as unknown as Sql;
  }

  /** Create the schema once, whatever the number of workers starting at the same moment. */
  async initialize(): Promise<void> {
    await this.#do("initialize", () =>
      this.#sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`;
        // Up to date: no DDL, whose table locks could deadlock with workers already writing.
        const [present] = await tx`SELECT to_regclass('lsst_schema') IS NOT NULL AS present`;
        if (present?.present) {
          const [current] = await tx`SELECT version FROM lsst_schema`;
          if (current !== undefined && Number(current.version) === POSTGRES_SCHEMA_VERSION) return;
        }
        await tx.unsafe(schemaSql);
        const [row] = await tx`SELECT version FROM lsst_schema`;
        const version = row === undefined ? 0 : Number(row.version);
        if (version > POSTGRES_SCHEMA_VERSION) {
          throw new StorageError(
            `Database "${this.location}" has schema version ${version}, newer than this program's ${POSTGRES_SCHEMA_VERSION}: upgrade lsst-extendedness`,
          );
        }
        if (row === undefined) {
          await tx`INSERT INTO lsst_schema (version) VALUES (${POSTGRES_SCHEMA_VERSION})`;
        } else if (version < POSTGRES_SCHEMA_VERSION) {
          await tx`UPDATE lsst_schema SET version = ${POSTGRES_SCHEMA_VERSION}`;
        }
      }));
  }

  /**
   * Record the start of a run and hold its liveness lock; runs whose lock nobody holds (their
   * worker died) are marked `interrupted` first.
   *
   * @param source Source name.
   * @param params What the run was asked to do (no secrets).
   * @returns The run id.
   */
  async beginRun(source: string, params: Readonly<Record<string, unknown>>): Promise<number> {
    return await this.#do("start a run in", async () => {
      // A session lock on a connection of its own: it lives exactly as long as this worker.
      const own = await this.#sql.reserve();
      try {
        await this.#markDeadRuns(own);
        const [row] = await own`
          INSERT INTO ingestion_runs (source, params, started_at, status, pid)
          VALUES (${source}, ${stringifyExact(params)}, ${new Date().toISOString()}, 'running',
            ${Deno.pid})
          RETURNING run_id`;
        const runId = Number((row as Row).run_id);
        await own`SELECT pg_advisory_lock(${RUN_LOCK_CLASS}, ${runId})`;
        this.#runLocks.set(runId, own);
        return runId;
      } catch (error) {
        own.release();
        throw error;
      }
    });
  }

  /**
   * Stored positions of a source's streams.
   *
   * @param source Source name.
   * @returns Position by stream.
   */
  async loadCursors(source: string): Promise<Map<string, string>> {
    const rows = await this.#do(
      "read cursors from",
      () => this.#sql`SELECT stream, position FROM source_cursors WHERE source = ${source}`,
    );
    return new Map(rows.map((r) => [String(r.stream), String(r.position)]));
  }

  /**
   * Which of these alerts are already stored.
   *
   * @param diaSourceIds Triggering DIASource ids.
   * @returns The stored ones.
   */
  async knownAlertIds(diaSourceIds: readonly bigint[]): Promise<Set<bigint>> {
    if (diaSourceIds.length === 0) return new Set();
    const rows = await this.#do(
      "read",
      () =>
        this.#sql`SELECT dia_source_id FROM alerts
          WHERE dia_source_id = ANY(${_array(diaSourceIds)}::int8[])`,
    );
    return new Set(rows.map((r) => r.dia_source_id as bigint));
  }

  /**
   * Track and store a batch with its cursors in one transaction, retried when it loses a
   * deadlock or serialization race to another worker.
   *
   * @param runId The run.
   * @param batch Alerts, quarantine entries, loci and cursors.
   * @returns What changed.
   */
  async writeBatch(runId: number, batch: BatchWrite): Promise<BatchOutcome> {
    const given = batch.alerts.map(({ alert }) =>
      [alert.isReassociation, alert.reassociationReason] as const
    );
    for (let attempt = 1;; attempt++) {
      // Tracking writes into the records: each attempt starts from them as the source gave them.
      batch.alerts.forEach(({ alert }, i) => {
        alert.reassociations = [];
        [alert.isReassociation, alert.reassociationReason] = given[i] as readonly [
          boolean,
          ReassociationReason | null,
        ];
      });
      try {
        return await this.#sql.begin((tx) => this.#writeBatch(tx, runId, batch)) as BatchOutcome;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if ((code === "40P01" || code === "40001") && attempt < this.#retries) {
          await new Promise((resolve) => setTimeout(resolve, 20 * attempt * Math.random()));
          continue;
        }
        throw _storageError(this.location, "write", error);
      }
    }
  }

  async #writeBatch(tx: Tx, runId: number, batch: BatchWrite): Promise<BatchOutcome> {
    const now = new Date().toISOString();
    // First occurrence of each alert in the batch, inserted in id order (lock order).
    const byId = new Map<bigint, StoredAlert>();
    for (const stored of batch.alerts) {
      if (!byId.has(stored.alert.diaSourceId)) byId.set(stored.alert.diaSourceId, stored);
    }
    const sorted = [...byId.values()].sort((a, b) =>
      _compare(a.alert.diaSourceId, b.alert.diaSourceId)
    );
    const inserted = new Set<bigint>();
    if (sorted.length > 0) {
      const a = sorted.map((s) => s.alert);
      const c = sorted.map((s) => s.cutouts);
      const rows = await tx`
        INSERT INTO alerts (dia_source_id, alert_id, dia_object_id, ss_object_id, ss_object_name,
          object_name, ra, dec, ra_err, dec_err, midpoint_mjd_tai, band, psf_flux, psf_flux_err,
          snr, extendedness, reliability, visit, detector, observation_reason, target_name,
          schema_version, source, survey, is_reassociation, reassociation_reason, cutout_science,
          cutout_template, cutout_difference, properties, ss_object_reassoc_time_mjd_tai, history,
          run_id, ingested_at)
        SELECT *, ${runId}::int8, ${now}::text FROM unnest(
          ${_array(a.map((x) => x.diaSourceId))}::int8[],
          ${_array(a.map((x) => x.alertId))}::int8[],
          ${_array(a.map((x) => x.diaObjectId))}::int8[],
          ${_array(a.map((x) => x.ssObjectId))}::int8[],
          ${_array(a.map((x) => x.ssObjectName))}::text[],
          ${_array(a.map((x) => x.objectName))}::text[],
          ${_array(a.map((x) => x.ra))}::float8[],
          ${_array(a.map((x) => x.dec))}::float8[],
          ${_array(a.map((x) => x.raErr))}::float8[],
          ${_array(a.map((x) => x.decErr))}::float8[],
          ${_array(a.map((x) => x.midpointMjdTai))}::float8[],
          ${_array(a.map((x) => x.band))}::text[],
          ${_array(a.map((x) => x.psfFlux))}::float8[],
          ${_array(a.map((x) => x.psfFluxErr))}::float8[],
          ${_array(a.map((x) => x.snr))}::float8[],
          ${_array(a.map((x) => x.extendedness))}::float8[],
          ${_array(a.map((x) => x.reliability))}::float8[],
          ${_array(a.map((x) => x.visit))}::int8[],
          ${_array(a.map((x) => x.detector))}::int4[],
          ${_array(a.map((x) => x.observationReason))}::text[],
          ${_array(a.map((x) => x.targetName))}::text[],
          ${_array(a.map((x) => x.schemaVersion))}::text[],
          ${_array(a.map((x) => x.source))}::text[],
          ${_array(a.map((x) => x.survey))}::text[],
          ${_array(a.map((x) => (x.isReassociation ? 1 : 0)))}::int4[],
          ${_array(a.map((x) => x.reassociationReason))}::text[],
          ${_array(c.map((x) => x.science))}::text[],
          ${_array(c.map((x) => x.template))}::text[],
          ${_array(c.map((x) => x.difference))}::text[],
          ${_array(a.map((x) => x.properties))}::text[],
          ${_array(a.map((x) => x.ssObjectReassocTimeMjdTai))}::float8[],
          ${_array(a.map((x) => packHistory(x.history)))}::bytea[])
        ON CONFLICT (dia_source_id) DO NOTHING
        RETURNING dia_source_id`;
      for (const r of rows) inserted.add(r.dia_source_id as bigint);
      const raw = sorted.filter((x) => x.raw && inserted.has(x.alert.diaSourceId));
      if (raw.length > 0) {
        const schemas = new Map(raw.map((x) => [x.raw!.schema.fingerprint, x.raw!.schema]));
        for (const schema of schemas.values()) {
          await tx`INSERT INTO schemas (fingerprint, id, version, survey, json, first_seen_at)
            VALUES (${schema.fingerprint}, ${schema.id}, ${schema.version}, ${schema.survey},
              ${schema.json}, ${now}) ON CONFLICT DO NOTHING`;
        }
        await tx`INSERT INTO raw_alerts (dia_source_id, schema_fingerprint, payload)
          SELECT * FROM unnest(
            ${_array(raw.map((x) => x.alert.diaSourceId))}::int8[],
            ${_array(raw.map((x) => x.raw!.schema.fingerprint))}::text[],
            ${_array(raw.map((x) => x.raw!.payload))}::bytea[])`;
      }
    }

    // In arrival order: the new alerts, and snapshot rows of DIASources already stored.
    const observed: AlertRecord[] = [];
    const reobserved = new Set<AlertRecord>();
    const seen = new Set<bigint>();
    for (const { alert } of batch.alerts) {
      const id = alert.diaSourceId;
      if (inserted.has(id) && !seen.has(id)) {
        seen.add(id);
        observed.push(alert);
      } else if (alert.snapshot) {
        reobserved.add(alert);
        observed.push(alert);
      }
    }

    // Lock every DIASource the batch observes, in one statement and in id order, creating the
    // rows of new ones: a concurrent worker observing the same DIASource waits here.
    const ids = new Set<bigint>();
    for (const alert of observed) {
      ids.add(alert.diaSourceId);
      for (const entry of alert.history) ids.add(entry.diaSourceId);
    }
    const states = new Map<bigint, SourceState>();
    if (ids.size > 0) {
      const rows = await tx`
        INSERT INTO processed_sources (dia_source_id, first_seen_mjd, last_seen_mjd, times_seen)
        SELECT id, 0, 0, 0 FROM unnest(${_array([...ids].sort(_compare))}::int8[]) AS id
        ORDER BY id
        ON CONFLICT (dia_source_id) DO UPDATE SET dia_source_id = excluded.dia_source_id
        RETURNING *`;
      for (const r of rows) {
        if (Number(r.times_seen) === 0) continue; // just created: a first sighting
        const id = r.dia_source_id as bigint;
        states.set(id, {
          diaSourceId: id,
          diaObjectId: r.dia_object_id as bigint | null,
          ssObjectId: r.ss_object_id as bigint | null,
          reassocTime: r.ss_object_reassoc_time_mjd_tai as number | null,
          firstSeenMjd: r.first_seen_mjd as number,
          lastSeenMjd: r.last_seen_mjd as number,
          lastAlertId: (r.last_alert_id as bigint | null) ?? -(2n ** 63n),
          timesSeen: Number(r.times_seen),
          runs: Number(r.runs),
          firstRunId: Number(r.first_run_id),
          lastRunId: Number(r.last_run_id),
        });
      }
    }
    const tracked = trackAlerts(observed, states, runId, reobserved);

    if (tracked.snapshots.length > 0) {
      const s = tracked.snapshots;
      await tx`
        INSERT INTO snapshot_observations (dia_source_id, observed_mjd, ss_object_id,
          reassoc_time, run_id)
        SELECT *, ${runId}::int8 FROM unnest(${_array(s.map((o) => o.diaSourceId))}::int8[],
          ${_array(s.map((o) => o.time))}::float8[], ${_array(s.map((o) => o.ssObjectId))}::int8[],
          ${_array(s.map((o) => o.reassocTime))}::float8[])`;
    }
    const affected = new Set<bigint>();
    const refreshed = [...reobserved].filter((a) => a.reassociations.length > 0);
    for (const a of refreshed) {
      await tx`UPDATE alerts SET ss_object_id = ${a.ssObjectId},
        properties = COALESCE(${a.properties}, properties) WHERE dia_source_id = ${a.diaSourceId}`;
    }

    const add: ReassociationDetection[] = [...tracked.detections];
    const remove: bigint[] = [];
    for (const id of tracked.replay) {
      const state = states.get(id) as SourceState;
      const plan = planReplay(state, await this.#replayInput(tx, state));
      state.ssObjectId = plan.result.ssObjectId;
      state.reassocTime = plan.result.reassocTime;
      state.runs = plan.result.runs;
      for (const d of plan.remove) {
        remove.push(d.id);
        affected.add(d.alertDiaSourceId);
      }
      add.push(...plan.add);
    }
    if (remove.length > 0) {
      await tx`DELETE FROM reassociations WHERE id = ANY(${_array(remove)}::int8[])`;
    }
    if (add.length > 0) {
      for (const d of add) affected.add(d.alertDiaSourceId);
      await tx`
        INSERT INTO reassociations (dia_source_id, reason, old_ss_object_id, new_ss_object_id,
          old_reassoc_time, new_reassoc_time, alert_dia_source_id, run_id, detected_at)
        SELECT *, ${runId}::int8, ${now}::text FROM unnest(
          ${_array(add.map((d) => d.diaSourceId))}::int8[],
          ${_array(add.map((d) => d.reason))}::text[],
          ${_array(add.map((d) => d.oldSsObjectId))}::int8[],
          ${_array(add.map((d) => d.newSsObjectId))}::int8[],
          ${_array(add.map((d) => d.oldReassocTime))}::float8[],
          ${_array(add.map((d) => d.newReassocTime))}::float8[],
          ${_array(add.map((d) => d.alertDiaSourceId))}::int8[])`;
    }
    if (affected.size > 0) {
      // The flags follow the alert's detections: its own DIASource's reason, else that of the
      // lowest DIASource id (as alertReason() does in memory). Locked in id order.
      await tx`
        UPDATE alerts SET
          is_reassociation = CASE WHEN EXISTS (SELECT 1 FROM reassociations r
            WHERE r.alert_dia_source_id = alerts.dia_source_id) THEN 1 ELSE 0 END,
          reassociation_reason = (SELECT r.reason FROM reassociations r
            WHERE r.alert_dia_source_id = alerts.dia_source_id
            ORDER BY r.dia_source_id <> alerts.dia_source_id, r.dia_source_id LIMIT 1)
        WHERE dia_source_id IN (SELECT id FROM unnest(${
        _array([...affected].sort(_compare))
      }::int8[])
          AS id ORDER BY id)`;
    }

    const c = tracked.changed;
    if (c.length > 0) {
      await tx`
        UPDATE processed_sources p SET dia_object_id = v.dia_object_id,
          ss_object_id = v.ss_object_id,
          ss_object_reassoc_time_mjd_tai = v.reassoc_time, first_seen_mjd = v.first_seen,
          last_seen_mjd = v.last_seen, times_seen = v.times_seen,
          first_run_id = v.first_run, last_run_id = v.last_run, last_alert_id = v.last_alert,
          runs = v.runs
        FROM unnest(${_array(c.map((s) => s.diaSourceId))}::int8[],
          ${_array(c.map((s) => s.diaObjectId))}::int8[],
          ${_array(c.map((s) => s.ssObjectId))}::int8[],
          ${_array(c.map((s) => s.reassocTime))}::float8[],
          ${_array(c.map((s) => s.firstSeenMjd))}::float8[],
          ${_array(c.map((s) => s.lastSeenMjd))}::float8[],
          ${_array(c.map((s) => s.timesSeen))}::int8[],
          ${_array(c.map((s) => s.firstRunId))}::int8[],
          ${_array(c.map((s) => s.lastRunId))}::int8[],
          ${_array(c.map((s) => s.lastAlertId))}::int8[],
          ${_array(c.map((s) => s.runs))}::int4[])
          AS v(id, dia_object_id, ss_object_id, reassoc_time, first_seen, last_seen, times_seen,
            first_run, last_run, last_alert, runs)
        WHERE p.dia_source_id = v.id`;
    }

    const q = batch.quarantine;
    if (q.length > 0) {
      await tx`
        INSERT INTO quarantine (source, stream, position, error, raw, run_id, quarantined_at)
        SELECT *, ${runId}::int8, ${now}::text FROM unnest(${
        _array(q.map((e) => e.source))
      }::text[],
          ${_array(q.map((e) => e.stream))}::text[], ${_array(q.map((e) => e.position))}::text[],
          ${_array(q.map((e) => e.error))}::text[], ${_array(q.map((e) => e.raw))}::bytea[])`;
    }
    // The latest summary of each locus in the batch.
    const loci = [...new Map((batch.loci ?? []).map((l) => [l.locusId, l])).values()];
    if (loci.length > 0) {
      await tx`
        INSERT INTO loci (locus_id, ra, dec, htm16, tags, catalogs, properties, newest_alert_id,
          run_id, updated_at)
        SELECT *, ${runId}::int8, ${now}::text FROM unnest(
          ${_array(loci.map((l) => l.locusId))}::text[], ${_array(loci.map((l) => l.ra))}::float8[],
          ${_array(loci.map((l) => l.dec))}::float8[], ${_array(loci.map((l) => l.htm16))}::int8[],
          ${_array(loci.map((l) => JSON.stringify(l.tags)))}::text[],
          ${_array(loci.map((l) => JSON.stringify(l.catalogs)))}::text[],
          ${_array(loci.map((l) => l.properties))}::text[],
          ${_array(loci.map((l) => l.newestAlertId))}::text[])
          AS v(locus_id, ra, dec, htm16, tags, catalogs, properties, newest_alert_id)
        ON CONFLICT (locus_id) DO UPDATE SET ra = excluded.ra, dec = excluded.dec,
          htm16 = excluded.htm16, tags = excluded.tags, catalogs = excluded.catalogs,
          properties = excluded.properties,
          newest_alert_id = COALESCE(excluded.newest_alert_id, loci.newest_alert_id),
          run_id = excluded.run_id, updated_at = excluded.updated_at`;
    }
    const cursors = [...batch.cursors].sort((x, y) => (x.stream < y.stream ? -1 : 1));
    if (cursors.length > 0) {
      // A worker that lost a partition in a rebalance must not move its cursor back.
      await tx`
        INSERT INTO source_cursors (source, stream, position, run_id, updated_at)
        SELECT ${batch.source}, stream, position, ${runId}::int8, ${now}::text FROM unnest(
          ${_array(cursors.map((x) => x.stream))}::text[],
          ${_array(cursors.map((x) => x.position))}::text[]) AS v(stream, position)
        ON CONFLICT (source, stream) DO UPDATE SET position = excluded.position,
          run_id = excluded.run_id, updated_at = excluded.updated_at
        WHERE NOT (source_cursors.position ~ '^[0-9]+$' AND excluded.position ~ '^[0-9]+$'
          AND excluded.position::numeric < source_cursors.position::numeric)`;
    }

    const outcome: BatchOutcome = {
      alertsIngested: inserted.size,
      alertsSkipped: batch.alerts.length - inserted.size,
      newSources: tracked.newSources,
      reassociationsDetected: add.length - remove.length,
      alertsQuarantined: q.length,
    };
    await tx`
      UPDATE ingestion_runs SET alerts_ingested = alerts_ingested + ${outcome.alertsIngested},
        alerts_skipped = alerts_skipped + ${outcome.alertsSkipped},
        new_sources = new_sources + ${outcome.newSources},
        reassociations_detected = reassociations_detected + ${outcome.reassociationsDetected},
        alerts_quarantined = alerts_quarantined + ${outcome.alertsQuarantined}
      WHERE run_id = ${runId}`;
    return outcome;
  }

  async #replayInput(tx: Tx, state: SourceState): Promise<ReplayInput> {
    const id = state.diaSourceId;
    const [trigger] = await tx`
      SELECT midpoint_mjd_tai, ss_object_id, ss_object_reassoc_time_mjd_tai FROM alerts
      WHERE dia_source_id = ${id}`;
    const snapshots = await tx`
      SELECT observed_mjd, ss_object_id, reassoc_time FROM snapshot_observations
      WHERE dia_source_id = ${id} ORDER BY observed_mjd, id`;
    const histories = state.diaObjectId === null ? [] : await tx`
      SELECT dia_source_id, midpoint_mjd_tai, history FROM alerts
      WHERE dia_object_id = ${state.diaObjectId} AND history IS NOT NULL`;
    const detections = await tx`SELECT * FROM reassociations WHERE dia_source_id = ${id}`;
    return {
      trigger: trigger === undefined ? null : {
        diaSourceId: id,
        time: trigger.midpoint_mjd_tai as number,
        alertId: id,
        ssObjectId: trigger.ss_object_id as bigint | null,
        reassocTime: trigger.ss_object_reassoc_time_mjd_tai as number | null,
      },
      snapshots: snapshots.map((r) => ({
        diaSourceId: id,
        time: r.observed_mjd as number,
        alertId: id,
        ssObjectId: r.ss_object_id as bigint | null,
        reassocTime: r.reassoc_time as number | null,
      })),
      histories: histories.map((r) => ({
        alertId: r.dia_source_id as bigint,
        time: r.midpoint_mjd_tai as number,
        history: new Uint8Array(r.history as Uint8Array),
      })),
      detections: detections.map((r) => ({ ...detectionFromRow(r), id: r.id as bigint })),
    };
  }

  /**
   * Record the end of a run and release its liveness lock.
   *
   * @param runId The run.
   * @param status Final status.
   * @param error Why it failed or stopped, if it did.
   * @returns The final row.
   */
  async finishRun(
    runId: number,
    status: RunStatus,
    error: string | null,
  ): Promise<IngestionRunRecord> {
    const [row] = await this.#do("finish a run in", () =>
      this.#sql`
        UPDATE ingestion_runs SET status = ${status}, error = ${error},
          finished_at = ${new Date().toISOString()}
        WHERE run_id = ${runId} RETURNING *`);
    const own = this.#runLocks.get(runId);
    if (own !== undefined) {
      this.#runLocks.delete(runId);
      await own`SELECT pg_advisory_unlock(${RUN_LOCK_CLASS}, ${runId})`.catch(() => {});
      own.release();
    }
    if (row === undefined) throw new StorageError(`Run ${runId} does not exist`);
    return runRecordFromRow(row);
  }

  /**
   * Newest runs first.
   *
   * @param limit At most this many.
   * @returns Runs.
   */
  async listRuns(limit: number): Promise<IngestionRunRecord[]> {
    const rows = await this.#do(
      "read runs from",
      () =>
        this
          .#sql`SELECT * FROM ingestion_runs ORDER BY started_at DESC, run_id DESC LIMIT ${limit}`,
    );
    return rows.map(runRecordFromRow);
  }

  /**
   * Newest detections first.
   *
   * @param query Filters.
   * @returns Detections.
   */
  async listReassociations(query: ReassociationQuery = {}): Promise<ReassociationRecord[]> {
    const reason = query.reason ?? null;
    const runId = query.runId ?? null;
    const rows = await this.#do("read detections from", () =>
      this.#sql`SELECT * FROM reassociations
        WHERE (${reason}::text IS NULL OR reason = ${reason})
          AND (${runId}::int8 IS NULL OR run_id = ${runId})
        ORDER BY id DESC LIMIT ${query.limit ?? 100}`);
    return rows.map((r) => ({
      id: Number(r.id),
      ...detectionFromRow(r),
      runId: r.run_id === null ? null : Number(r.run_id),
      detectedAt: String(r.detected_at),
    }));
  }

  /** Table sizes and summaries. */
  async stats(): Promise<DatabaseStats> {
    return await this.#do("read", async () => {
      const rows: Record<string, number> = {};
      for (const table of TABLES) {
        const [r] = await this.#sql.unsafe(`SELECT COUNT(*) AS n FROM ${table}`);
        rows[table] = Number((r as Row).n);
      }
      const byReason = Object.fromEntries(REASSOCIATION_REASONS.map((r) => [r, 0])) as Record<
        ReassociationReason,
        number
      >;
      for (
        const r of await this.#sql`SELECT reason, COUNT(*) AS n FROM reassociations GROUP BY reason`
      ) {
        byReason[r.reason as ReassociationReason] = Number(r.n);
      }
      const [counts] = await this.#sql`
        SELECT COUNT(*) FILTER (WHERE dia_object_id IS NULL) AS sso,
          COUNT(*) FILTER (WHERE is_reassociation = 1) AS flagged,
          MIN(midpoint_mjd_tai) AS lo, MAX(midpoint_mjd_tai) AS hi,
          pg_database_size(current_database()) AS size FROM alerts`;
      const c = counts as Row;
      return {
        location: this.location,
        rows,
        solarSystemAlerts: Number(c.sso),
        reassociationAlerts: Number(c.flagged),
        reassociationsByReason: byReason,
        mjdRange: c.lo === null ? null : { min: c.lo as number, max: c.hi as number },
        sizeBytes: Number(c.size),
      };
    });
  }

  /**
   * Every row of a table in key order, columns in table order (without `alerts.history`), ids
   * as `bigint`, read with a server-side cursor.
   *
   * @param table `alerts` or `reassociations`.
   * @param options Filters.
   * @returns The rows, read as they are consumed.
   */
  async *iterateRows(
    table: ExportTable,
    options: IterateRowsOptions = {},
  ): AsyncGenerator<Record<string, unknown>, void, undefined> {
    const since = options.sinceMjd ?? null;
    const query = table === "alerts"
      ? this.#sql`SELECT * FROM alerts
          WHERE ${since}::float8 IS NULL OR midpoint_mjd_tai >= ${since} ORDER BY dia_source_id`
      : this.#sql`SELECT * FROM reassociations WHERE ${since}::float8 IS NULL OR
          alert_dia_source_id IN (SELECT dia_source_id FROM alerts WHERE midpoint_mjd_tai >= ${since})
          ORDER BY id`;
    for await (const rows of query.cursor(500)) {
      for (const row of rows) {
        const { history: _history, ...rest } = row as Row;
        yield _plain(rest);
      }
    }
  }

  /**
   * A stored schema by registry id.
   *
   * @param id Registry id.
   * @returns The schema, or `null`.
   */
  /**
   * The Avro payload kept for an alert.
   *
   * @param diaSourceId The alert's triggering DIASource.
   * @returns The payload and its writer schema, or `null`.
   */
  async rawAlert(diaSourceId: bigint): Promise<RawPayload | null> {
    const [row] = await this.#do(
      "read raw payloads from",
      () =>
        this.#sql`SELECT r.payload, s.* FROM raw_alerts r JOIN schemas s
          ON s.fingerprint = r.schema_fingerprint WHERE r.dia_source_id = ${diaSourceId}`,
    );
    if (row === undefined) return null;
    return {
      payload: new Uint8Array(row.payload as Uint8Array),
      schema: schemaFromRow(row),
    };
  }

  async schemaById(id: number): Promise<StoredSchema | null> {
    const [row] = await this.#do(
      "read schemas from",
      () => this.#sql`SELECT * FROM schemas WHERE id = ${id}`,
    );
    return row === undefined ? null : schemaFromRow(row);
  }

  /**
   * Keep a schema; stored schemas are immutable.
   *
   * @param schema The schema.
   */
  async saveSchema(schema: StoredSchema): Promise<void> {
    await this.#do(
      "write schemas to",
      () =>
        this.#sql`INSERT INTO schemas (fingerprint, id, version, survey, json, first_seen_at)
        VALUES (${schema.fingerprint}, ${schema.id}, ${schema.version}, ${schema.survey},
          ${schema.json}, ${new Date().toISOString()})
        ON CONFLICT DO NOTHING`,
    );
  }

  /** Close the pool. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const own of this.#runLocks.values()) own.release();
    this.#runLocks.clear();
    await this.#sql.end({ timeout: 5 });
  }

  /** Same as {@linkcode PostgresStorage.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #markDeadRuns(own: postgres.ReservedSql<{ bigint: bigint }>): Promise<void> {
    const running = await own`SELECT run_id FROM ingestion_runs WHERE status = 'running'`;
    for (const r of running) {
      const runId = Number(r.run_id);
      const [got] = await own`SELECT pg_try_advisory_lock(${RUN_LOCK_CLASS}, ${runId}) AS free`;
      if (!(got as Row).free) continue;
      // Nobody holds it: the worker that ran it is gone.
      await own`UPDATE ingestion_runs SET status = 'interrupted', finished_at = ${
        new Date().toISOString()
      },
        error = 'the process ended without finishing the run'
        WHERE run_id = ${runId} AND status = 'running'`;
      await own`SELECT pg_advisory_unlock(${RUN_LOCK_CLASS}, ${runId})`;
    }
  }

  async #do<T>(action: string, work: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StorageError(`Database "${this.location}" is closed`);
    try {
      return await work();
    } catch (error) {
      if (error instanceof StorageError) throw error;
      throw _storageError(this.location, action, error);
    }
  }
}

/**
 * A PostgreSQL array literal of values: exact for 64-bit ids, `NULL` for nulls, bytes in hex.
 * npm `postgres` cannot bind arrays of its custom bigint type, and one literal per column keeps
 * a batch to one statement per table.
 */
function _array(values: readonly unknown[]): string {
  const items = values.map((v) => {
    if (v === null || v === undefined) return "NULL";
    if (typeof v === "bigint") return v.toString();
    if (typeof v === "number") return Number.isNaN(v) ? '"NaN"' : String(v);
    if (v instanceof Uint8Array) {
      return `"\\\\x${Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("")}"`;
    }
    return `"${String(v).replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  });
  return `{${items.join(",")}}`;
}

function _compare(a: bigint, b: bigint): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

// Rows as plain objects with the same value types SQLite gives (bytes as Uint8Array).
function _plain(row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    out[key] = value instanceof Uint8Array ? new Uint8Array(value) : value;
  }
  return out;
}

function _withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "postgres://…";
  }
}

function _storageError(location: string, action: string, error: unknown): StorageError {
  const message = error instanceof Error ? error.message : String(error);
  return new StorageError(`Cannot ${action} database "${location}": ${message}`, { cause: error });
}
