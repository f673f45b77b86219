/**
 * PostgreSQL storage, for several ingest workers (on several hosts) writing one database: the
 * same tables, columns and meanings as SQLite, each batch in one transaction, and the
 * per-DIASource state update and the detections it implies made atomic with row locks taken in
 * one statement, in id order, so workers never deadlock on them.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import postgres from "npm:postgres@3.4.9";
import schemaSql from "./postgres_schema.sql" with { type: "text" };
import {
  type AlertRecord,
  REASSOCIATION_REASONS,
  type ReassociationReason,
} from "../model/alert_record.ts";
import { StorageError } from "../model/errors.ts";
import { ensureQueryRole } from "./_query_role.ts";
import {
  detectionFromRow,
  quarantineFromRow,
  type Row,
  runRecordFromRow,
  schemaFromRow,
} from "./_rows.ts";
import { stringifyExact } from "../model/exact_json.ts";
import {
  type Observation,
  type SettledObservations,
  SNAPSHOT_ALERT_ID,
  type SourceState,
  trackAlerts,
  type TrackOptions,
} from "../tracking/reassociation_tracker.ts";
import { ALERT_COLUMN_LIST, ALERT_COLUMNS, ALERT_UPSERT } from "./_alert_columns.ts";
import {
  importTime,
  needsImportTime,
  observedIds,
  observedRecords,
  type PlainGroup,
  plainObservations,
  rowCandidates,
  settleDetections,
} from "../tracking/_batch_plan.ts";
import { historyLength } from "../model/history_columns.ts";
import type { ReplayInput } from "../tracking/_replay_plan.ts";
import type {
  BatchOutcome,
  BatchWrite,
  DatabaseStats,
  ExportTable,
  IngestionRunRecord,
  IterateRowsOptions,
  QuarantineQuery,
  QuarantineRecord,
  ReassociationQuery,
  ReassociationRecord,
  RunStatus,
  Storage,
} from "./storage.ts";
import type { RawPayload } from "../model/raw_payload.ts";
import type { StoredAlert } from "../model/stored_alert.ts";
import type { StoredSchema } from "../model/stored_schema.ts";

/** Options of {@linkcode PostgresStorage}. */
export interface PostgresStorageOptions {
  /** Connections in the pool. Default 4. */
  maxConnections?: number;
  /** Attempts of a batch that lost a deadlock or serialization race. Default 5. */
  retries?: number;
  /**
   * Smallest group of an alert's plain history observations (first sightings, and
   * re-observations that move only the counters) written by the batch's set-based statement
   * instead of being locked, read and rewritten by tracking. Default 1; `Infinity` tracks every
   * observation.
   */
  plainGroupMin?: number;
}

/**
 * The version `postgres_schema.sql` describes (2: `raw_alerts`; 3: trust fixes of issue 12; 4:
 * `processed_sources` leaves room on its pages for its rows' next versions).
 */
export const POSTGRES_SCHEMA_VERSION = 4;

// Advisory lock keys: one for schema creation, one class for the runs' liveness locks.
const SCHEMA_LOCK = 0x4c535354;
const RUN_LOCK_CLASS = 0x4c535352;

type Sql = postgres.Sql<{ bigint: bigint }>;
type Tx = postgres.TransactionSql<{ bigint: bigint }>;

// This storage keeps no states between batches: every plain observation may be settled.
const NOTHING_HELD = { has: (_: bigint) => false };

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
  #plainGroupMin: number;
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
    this.#plainGroupMin = options.plainGroupMin ?? 1;
    if (!(this.#plainGroupMin >= 1)) {
      throw new RangeError(`Option plainGroupMin must be at least 1: ${this.#plainGroupMin}`);
    }
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
          if (current !== undefined && Number(current.version) === POSTGRES_SCHEMA_VERSION) {
            await ensureQueryRole(tx);
            return;
          }
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
        await ensureQueryRole(tx);
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
   * What each stored position of a source's streams points into.
   *
   * @param source Source name.
   * @returns Identity by stream; cursors stored without one are absent.
   */
  async loadCursorIdentities(source: string): Promise<Map<string, string>> {
    const rows = await this.#do(
      "read cursors from",
      () =>
        this.#sql`SELECT stream, identity FROM source_cursors
          WHERE source = ${source} AND identity IS NOT NULL`,
    );
    return new Map(rows.map((r) => [String(r.stream), String(r.identity)]));
  }

  /**
   * Forget the stored positions of some of a source's streams (`--reset-cursors`).
   *
   * @param source Source name.
   * @param streams The streams.
   * @returns How many cursors were discarded.
   */
  async discardCursors(source: string, streams: readonly string[]): Promise<number> {
    if (streams.length === 0) return 0;
    const result = await this.#do(
      "discard cursors in",
      () =>
        this.#sql`DELETE FROM source_cursors
          WHERE source = ${source} AND stream = ANY(${_array(streams)}::text[])`,
    );
    return result.count;
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
        // A row kept from a snapshot waits for its packet: the packet is not known yet.
        this.#sql`SELECT dia_source_id FROM alerts
          WHERE dia_source_id = ANY(${_array(diaSourceIds)}::int8[]) AND snapshot = 0`,
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
    // The decisions are _batch_plan.ts's; this method only reads and writes PostgreSQL.
    const written = await this.#writeAlerts(tx, rowCandidates(batch.alerts), runId, now);
    const observed = observedRecords(batch.alerts, written);
    const locked = await this.#lockObserved(tx, observed, runId);
    const states = locked.states;
    const options: TrackOptions = {
      storedSnapshots: await this.#storedSnapshots(tx, observed),
      settled: locked.settled,
    };
    if (needsImportTime(observed)) {
      const [latest] = await tx`SELECT MAX(midpoint_mjd_tai) AS t FROM alerts`;
      options.importMjd = importTime(batch.importMjd ?? null, (latest?.t ?? null) as number | null);
    }
    const tracked = trackAlerts(observed, states, runId, options);

    if (tracked.snapshots.length > 0) {
      const s = tracked.snapshots;
      await tx`
        INSERT INTO snapshot_observations (dia_source_id, observed_mjd, ss_object_id,
          reassoc_time, run_id)
        SELECT *, ${runId}::int8 FROM unnest(${_array(s.map((o) => o.diaSourceId))}::int8[],
          ${_array(s.map((o) => o.time))}::float8[], ${_array(s.map((o) => o.ssObjectId))}::int8[],
          ${_array(s.map((o) => o.reassocTime))}::float8[])`;
    }

    const replays = new Map<bigint, ReplayInput>();
    for (const id of tracked.replay) {
      replays.set(id, await this.#replayInput(tx, states.get(id) as SourceState));
    }
    const { add, remove, flagAlerts } = settleDetections(tracked, states, replays);
    if (remove.length > 0) {
      await tx`DELETE FROM reassociations WHERE id = ANY(${
        _array(remove.map((d) => d.id))
      }::int8[])`;
    }
    if (add.length > 0) {
      await tx`
        INSERT INTO reassociations (dia_source_id, reason, old_ss_object_id, new_ss_object_id,
          old_reassoc_time, new_reassoc_time, alert_dia_source_id, observed_mjd, run_id,
          detected_at)
        SELECT *, ${runId}::int8, ${now}::text FROM unnest(
          ${_array(add.map((d) => d.diaSourceId))}::int8[],
          ${_array(add.map((d) => d.reason))}::text[],
          ${_array(add.map((d) => d.oldSsObjectId))}::int8[],
          ${_array(add.map((d) => d.newSsObjectId))}::int8[],
          ${_array(add.map((d) => d.oldReassocTime))}::float8[],
          ${_array(add.map((d) => d.newReassocTime))}::float8[],
          ${_array(add.map((d) => d.alertDiaSourceId))}::int8[],
          ${_array(add.map((d) => d.observedMjd))}::float8[])`;
    }
    if (flagAlerts.length > 0) {
      // The flags follow the alert's detections: its own DIASource's reason, else that of the
      // lowest DIASource id (as alertReason() does in memory). Locked in id order.
      await tx`
        UPDATE alerts SET
          is_reassociation = CASE WHEN EXISTS (SELECT 1 FROM reassociations r
            WHERE r.alert_dia_source_id = alerts.dia_source_id) THEN 1 ELSE 0 END,
          reassociation_reason = (SELECT r.reason FROM reassociations r
            WHERE r.alert_dia_source_id = alerts.dia_source_id
            ORDER BY r.dia_source_id <> alerts.dia_source_id, r.dia_source_id LIMIT 1)
        WHERE dia_source_id IN (SELECT id FROM unnest(${_array(flagAlerts)}::int8[])
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
    await this.#settleQuarantine(tx, runId, batch);
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
    await this.#writeCursors(tx, runId, batch, now);

    const outcome: BatchOutcome = {
      alertsIngested: written.size,
      alertsSkipped: batch.alerts.length - written.size,
      newSources: tracked.newSources + locked.newSources,
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

  async #writeCursors(tx: Tx, runId: number, batch: BatchWrite, now: string): Promise<void> {
    const cursors = [...batch.cursors].sort((x, y) => (x.stream < y.stream ? -1 : 1));
    if (cursors.length === 0) return;
    // A worker that lost a partition in a rebalance must not move its cursor back; a stream that
    // is another one now (a topic created again, a file replaced) starts over.
    await tx`
      INSERT INTO source_cursors (source, stream, position, identity, run_id, updated_at)
      SELECT ${batch.source}, stream, position, identity, ${runId}::int8, ${now}::text
      FROM unnest(${_array(cursors.map((x) => x.stream))}::text[],
        ${_array(cursors.map((x) => x.position))}::text[],
        ${_array(cursors.map((x) => x.identity ?? null))}::text[]) AS v(stream, position, identity)
      ON CONFLICT (source, stream) DO UPDATE SET position = excluded.position,
        identity = excluded.identity, run_id = excluded.run_id, updated_at = excluded.updated_at
      WHERE source_cursors.identity IS DISTINCT FROM excluded.identity
        OR NOT (source_cursors.position ~ '^[0-9]+$' AND excluded.position ~ '^[0-9]+$'
          AND excluded.position::numeric < source_cursors.position::numeric)`;
  }

  // A quarantine replay: rows whose records the batch stores leave the quarantine in its
  // transaction; rows that still fail keep their new error and count as quarantined by the run.
  async #settleQuarantine(tx: Tx, runId: number, batch: BatchWrite): Promise<void> {
    const resolved = batch.quarantineResolved ?? [];
    const retried = batch.quarantineRetried ?? [];
    if (resolved.length > 0) {
      await tx`DELETE FROM quarantine WHERE id = ANY(${_array(resolved)}::int8[])`;
    }
    if (retried.length === 0) return;
    await tx`
      UPDATE quarantine q SET error = v.error FROM unnest(
        ${_array(retried.map((r) => r.id))}::int8[], ${_array(retried.map((r) => r.error))}::text[])
        AS v(id, error)
      WHERE q.id = v.id`;
    await tx`UPDATE ingestion_runs SET alerts_quarantined = alerts_quarantined + ${retried.length}
      WHERE run_id = ${runId}`;
  }

  // Each candidate row as a new row, or over a row kept from a snapshot (see ALERT_UPSERT),
  // in id order; returns the DIASources whose row was written (by this worker: a row another
  // worker wrote first is not). Payloads kept with --keep-raw go with the rows written.
  async #writeAlerts(
    tx: Tx,
    candidates: readonly StoredAlert[],
    runId: number,
    now: string,
  ): Promise<Set<bigint>> {
    const written = new Set<bigint>();
    if (candidates.length === 0) return written;
    const arrays = ALERT_COLUMNS.map((c) => _array(candidates.map((s) => c.value(s))));
    const rows = await tx.unsafe(
      `INSERT INTO alerts (${ALERT_COLUMN_LIST}, run_id, ingested_at)
       SELECT *, $${arrays.length + 1}::int8, $${arrays.length + 2}::text FROM unnest(${
        ALERT_COLUMNS.map((c, i) => `$${i + 1}::${c.pgArray}`).join(", ")
      }) ${ALERT_UPSERT} RETURNING dia_source_id`,
      [...arrays, runId, now] as never[],
    );
    for (const r of rows) written.add(r.dia_source_id as bigint);
    const raw = candidates.filter((x) => x.raw && written.has(x.alert.diaSourceId));
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
          ${_array(raw.map((x) => x.raw!.payload))}::bytea[])
        ON CONFLICT DO NOTHING`;
    }
    return written;
  }

  // Lock every DIASource the batch observes, in one statement and in id order, so that a
  // concurrent worker observing the same DIASource waits here and no two batches wait for each
  // other. The same statement settles the plain observations (see plainObservations()): a plain
  // re-observation moves its state forward where the stored state still makes it plain, a plain
  // first sighting inserts its state, as trackAlerts() would (the SQLite storage settles the
  // same). That is one write of each such state instead of a lock, a read and a rewrite (~350 an
  // alert with heavy histories; re-observed heavy alerts 2.3–2.6× faster, alternated). Every other
  // DIASource is inserted as a placeholder when new (tracking writes its state) and locked without
  // a write when stored; its state is read after, with those of the plain observations found not
  // plain (a state another worker changed meanwhile, say), which tracking takes.
  async #lockObserved(
    tx: Tx,
    observed: readonly AlertRecord[],
    runId: number,
  ): Promise<{
    settled: SettledObservations;
    newSources: number;
    states: Map<bigint, SourceState>;
  }> {
    const settled = new Map<AlertRecord, Uint8Array>();
    const states = new Map<bigint, SourceState>();
    const groups = this.#plainGroupMin === Infinity
      ? []
      : plainObservations(observed, NOTHING_HELD, this.#plainGroupMin);
    // Plain entries are observed once in the batch: an id is in one group, and nowhere else.
    const plain = new Map<bigint, PlainGroup>();
    for (const group of groups) for (const id of group.ids) plain.set(id, group);
    const others = [...new Set(observedIds(observed).filter((id) => !plain.has(id)))];
    if (plain.size === 0 && others.length === 0) return { settled, newSources: 0, states };
    // One array per column: the plain entries' values, then the others'.
    const plainGroups = [...plain.values()];
    const column = (plainValue: (group: PlainGroup) => unknown, otherValue: unknown) =>
      _array([...plainGroups.map(plainValue), ...others.map(() => otherValue)]);
    // A proposed row seen 1 time is a plain observation's first sighting, 0 a placeholder.
    const rows = await tx`
      INSERT INTO processed_sources (dia_source_id, dia_object_id, ss_object_id,
        ss_object_reassoc_time_mjd_tai, first_seen_mjd, last_seen_mjd, times_seen, first_run_id,
        last_run_id, last_alert_id, runs)
      SELECT id, obj, ss, reassoc, t, t, seen, CASE WHEN seen = 1 THEN ${runId}::int8 END,
        CASE WHEN seen = 1 THEN ${runId}::int8 END, alert, 1
      FROM unnest(${_array([...plain.keys(), ...others])}::int8[],
        ${column((g) => g.alert.midpointMjdTai, 0)}::float8[],
        ${column((g) => g.alert.diaSourceId, null)}::int8[],
        ${column((g) => g.alert.diaObjectId, null)}::int8[],
        ${column((g) => g.ssObjectId, null)}::int8[],
        ${column((g) => g.reassocTime, null)}::float8[],
        ${column(() => 1, 0)}::int8[]) AS v(id, t, alert, obj, ss, reassoc, seen)
      ORDER BY id
      ON CONFLICT (dia_source_id) DO UPDATE SET times_seen = processed_sources.times_seen + 1,
        last_seen_mjd = excluded.last_seen_mjd, last_alert_id = excluded.last_alert_id,
        last_run_id = excluded.last_run_id
      -- A row the condition leaves alone is still locked, and not returned.
      WHERE excluded.times_seen = 1
        AND processed_sources.ss_object_id IS NOT DISTINCT FROM excluded.ss_object_id
        AND (excluded.ss_object_reassoc_time_mjd_tai IS NULL
          OR processed_sources.ss_object_reassoc_time_mjd_tai =
            excluded.ss_object_reassoc_time_mjd_tai)
        AND (processed_sources.dia_object_id IS NOT NULL OR excluded.dia_object_id IS NULL)
        AND (processed_sources.last_seen_mjd < excluded.last_seen_mjd
          OR (processed_sources.last_seen_mjd = excluded.last_seen_mjd
            AND (processed_sources.last_alert_id IS NULL
              OR processed_sources.last_alert_id <= excluded.last_alert_id)))
      RETURNING dia_source_id, times_seen`;
    // Seen 0 times: a placeholder, a first sighting for tracking. 1: a plain first sighting
    // inserted. More: a plain re-observation written.
    const wrote = new Set<bigint>();
    const created = new Set<bigint>();
    let newSources = 0;
    for (const r of rows) {
      const id = r.dia_source_id as bigint;
      const seen = Number(r.times_seen);
      if (seen === 0) created.add(id);
      else {
        wrote.add(id);
        if (seen === 1) newSources++;
      }
    }
    for (const { alert, ids, entries: at } of groups) {
      let marks = settled.get(alert);
      if (marks === undefined) {
        marks = new Uint8Array(historyLength(alert));
        settled.set(alert, marks);
      }
      for (const [i, id] of ids.entries()) if (wrote.has(id)) marks[at[i] as number] = 1;
    }
    // The stored states tracking takes, locked above.
    const wanted = others.filter((id) => !created.has(id));
    for (const id of plain.keys()) if (!wrote.has(id)) wanted.push(id);
    if (wanted.length > 0) {
      const stored = await tx`
        SELECT * FROM processed_sources WHERE dia_source_id = ANY(${_array(wanted)}::int8[])`;
      for (const r of stored) {
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
    return { settled, newSources, states };
  }

  // Keys of the stored snapshot observations of the snapshots' DIASources.
  async #storedSnapshots(tx: Tx, observed: readonly AlertRecord[]): Promise<Observation[]> {
    const ids = observed.filter((a) => a.snapshot).map((a) => a.diaSourceId);
    if (ids.length === 0) return [];
    const rows = await tx`
      SELECT dia_source_id, observed_mjd, ss_object_id, reassoc_time FROM snapshot_observations
      WHERE dia_source_id = ANY(${_array(ids)}::int8[]) ORDER BY id`;
    return rows.map(_snapshotObservation);
  }

  async #replayInput(tx: Tx, state: SourceState): Promise<ReplayInput> {
    const id = state.diaSourceId;
    const [trigger] = await tx`
      SELECT midpoint_mjd_tai, ss_object_id, ss_object_reassoc_time_mjd_tai FROM alerts
      WHERE dia_source_id = ${id} AND snapshot = 0`;
    const snapshots = await tx`
      SELECT dia_source_id, observed_mjd, ss_object_id, reassoc_time FROM snapshot_observations
      WHERE dia_source_id = ${id} ORDER BY id`;
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
      snapshots: snapshots.map(_snapshotObservation),
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
   * @param table `alerts`, `reassociations`, `processed_sources` or `ingestion_runs`.
   * @param options Filters.
   * @returns The rows, read as they are consumed.
   */
  async *iterateRows(
    table: ExportTable,
    options: IterateRowsOptions = {},
  ): AsyncGenerator<Record<string, unknown>, void, undefined> {
    const since = options.sinceMjd ?? null;
    if (table === "ingestion_runs" && since !== null) {
      throw new RangeError("Runs have no MJD to export them since");
    }
    const query = table === "alerts"
      ? this.#sql`SELECT * FROM alerts
          WHERE ${since}::float8 IS NULL OR midpoint_mjd_tai >= ${since} ORDER BY dia_source_id`
      : table === "reassociations"
      ? this.#sql`SELECT * FROM reassociations WHERE ${since}::float8 IS NULL OR
          alert_dia_source_id IN (SELECT dia_source_id FROM alerts WHERE midpoint_mjd_tai >= ${since})
          OR (alert_dia_source_id IS NULL AND observed_mjd >= ${since})
          ORDER BY id`
      : table === "processed_sources"
      ? this.#sql`SELECT * FROM processed_sources
          WHERE ${since}::float8 IS NULL OR last_seen_mjd >= ${since} ORDER BY dia_source_id`
      : this.#sql`SELECT * FROM ingestion_runs ORDER BY run_id`;
    for await (const rows of query.cursor(500)) {
      for (const row of rows) {
        // Tracking's data, not something to export.
        const { history: _history, snapshot: _snapshot, ...rest } = row as Row;
        yield _plain(rest);
      }
    }
  }

  /**
   * Quarantine rows in id order, without their raw bytes.
   *
   * @param query Source filter and page.
   * @returns The rows.
   */
  async listQuarantine(query: QuarantineQuery = {}): Promise<QuarantineRecord[]> {
    const source = query.source ?? null;
    const rows = await this.#do(
      "read the quarantine of",
      () =>
        this.#sql`SELECT id, source, stream, position, error, octet_length(raw) AS raw_bytes,
          run_id, quarantined_at FROM quarantine
        WHERE (${source}::text IS NULL OR source = ${source}) AND id > ${query.afterId ?? 0}
        ORDER BY id LIMIT ${query.limit ?? 100}`,
    );
    return rows.map(quarantineFromRow);
  }

  /**
   * The raw bytes of a quarantine row.
   *
   * @param id Row id.
   * @returns The bytes, or `null` when the row kept none or no longer exists.
   */
  async quarantineRaw(id: number): Promise<Uint8Array | null> {
    const [row] = await this.#do(
      "read the quarantine of",
      () => this.#sql`SELECT raw FROM quarantine WHERE id = ${id}`,
    );
    return row?.raw == null ? null : new Uint8Array(row.raw as Uint8Array);
  }

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

  /**
   * A stored schema by registry id.
   *
   * @param id Registry id.
   * @returns The schema, or `null`.
   */
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
      // Node's encoder, not a string per byte: a heavy alert's history is ~8 KB and a payload
      // kept with its cutouts ~80 KB, ~1 and ~10 ms an alert spelt out byte by byte (~50× less).
      return `"\\\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex")}"`;
    }
    return `"${String(v).replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  });
  return `{${items.join(",")}}`;
}

function _snapshotObservation(r: Row): Observation {
  return {
    diaSourceId: r.dia_source_id as bigint,
    time: r.observed_mjd as number,
    alertId: SNAPSHOT_ALERT_ID,
    ssObjectId: r.ss_object_id as bigint | null,
    reassocTime: r.reassoc_time as number | null,
  };
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
