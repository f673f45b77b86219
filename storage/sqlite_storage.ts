/**
 * The embedded storage: one SQLite file through Deno's built-in `node:sqlite`.
 *
 * @module
 */

import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import schemaSql from "../schema.sql" with { type: "text" };
import {
  type AlertRecord,
  REASSOCIATION_REASONS,
  type ReassociationReason,
} from "../model/alert_record.ts";
import { StorageError } from "../model/errors.ts";
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
import { RunLocks } from "./_run_locks.ts";
import {
  ALERT_COLUMN_LIST,
  ALERT_COLUMNS,
  ALERT_PLACEHOLDERS,
  ALERT_UPSERT,
} from "./_alert_columns.ts";
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
import { groupStateWrites, type StateWrites } from "./_state_writes.ts";
import { StateCache } from "./_state_cache.ts";
import { PendingBumps } from "./_pending_bumps.ts";
import { bumpRuns } from "./_bump_runs.ts";
import { foldSegments } from "./_fold_segments.ts";
import { compareIds } from "../model/id_map.ts";
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from "./sqlite_migrations.ts";
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

/** Options of {@linkcode SQLiteStorage}. */
export interface SQLiteStorageOptions {
  /** How long a write waits for another process's write lock, in ms. Default 10,000. */
  busyTimeoutMs?: number;
  /**
   * How many DIASource states to keep in memory between batches. Bounded so memory stays flat
   * over a night; a miss costs one indexed read. Most re-observations are written by set-based
   * statements without a state in memory (see `plainGroupMin`), so a cache holding more than
   * the last few batches' states saves little. Default 20,000.
   */
  stateCacheSize?: number;
  /**
   * Smallest group of an alert's plain history observations (first sightings, and
   * re-observations that move only the counters) written by one set-based statement instead of
   * being tracked in memory; smaller groups cost less tracked. Default 8; `Infinity` tracks
   * every observation in memory.
   */
  plainGroupMin?: number;
  /** Open read-only (queries only). Default `false`. */
  readOnly?: boolean;
  /**
   * Create the file (and its folder) when it does not exist. Default `true`; commands that only
   * read pass `false`, so a mistyped path fails with "does not exist" and leaves nothing behind.
   */
  create?: boolean;
}

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
 * SQLite storage: WAL journal, a busy timeout, and every batch with its cursors in one
 * `BEGIN IMMEDIATE` transaction.
 *
 * @example
 * ```ts
 * import { SQLiteStorage } from "./sqlite_storage.ts";
 * await using storage = new SQLiteStorage(":memory:");
 * await storage.initialize();
 * (await storage.stats()).rows.alerts; // 0
 * ```
 */
export class SQLiteStorage implements Storage {
  /** The database path. */
  readonly location: string;
  #options: Required<SQLiteStorageOptions>;
  #db: DatabaseSync | null = null;
  #closed = false;
  #statements = new Map<string, StatementSync>();
  #states: StateCache;
  #dataVersion = -1;
  #runLocks: RunLocks;
  // The state_bumps rows not folded yet (see schema.sql); null: to be read from the table.
  #pending: PendingBumps | null = null;

  /**
   * Describe a database; it is opened on first use.
   *
   * @param path Database file (created with its folder unless `create` is false), or
   * `:memory:`.
   * @param options Timeouts, cache size, and whether to create the file.
   */
  constructor(path: string, options: SQLiteStorageOptions = {}) {
    this.location = path;
    this.#runLocks = new RunLocks(path);
    this.#options = {
      busyTimeoutMs: options.busyTimeoutMs ?? 10_000,
      stateCacheSize: options.stateCacheSize ?? 20_000,
      plainGroupMin: options.plainGroupMin ?? PLAIN_MIN,
      readOnly: options.readOnly ?? false,
      create: options.create ?? true,
    };
    if (!(this.#options.plainGroupMin >= 1)) {
      throw new RangeError(
        `Option plainGroupMin must be at least 1: ${this.#options.plainGroupMin}`,
      );
    }
    this.#states = new StateCache(this.#options.stateCacheSize);
  }

  /** Create or migrate the schema; safe to call again and from several processes. */
  initialize(): Promise<void> {
    return _settle(() => this.#initialize());
  }

  #initialize(): void {
    const db = this.#open();
    const version = this.#userVersion();
    if (version > SQLITE_SCHEMA_VERSION) {
      throw new StorageError(
        `Database "${this.location}" has schema version ${version}, newer than this program's ${SQLITE_SCHEMA_VERSION}: upgrade lsst-extendedness`,
      );
    }
    if (version === SQLITE_SCHEMA_VERSION) return;
    this.#transaction(() => {
      const current = this.#userVersion();
      if (current > 0) {
        for (const migration of SQLITE_MIGRATIONS) {
          if (migration.version > current) db.exec(migration.sql);
        }
      }
      db.exec(schemaSql);
      db.exec(`PRAGMA user_version = ${SQLITE_SCHEMA_VERSION}`);
    });
  }

  /**
   * Record the start of a run; runs left `running` by processes that no longer exist (their run
   * lock is free) are marked `interrupted` first.
   *
   * @param source Source name.
   * @param params What the run was asked to do (no secrets).
   * @returns The run id.
   */
  beginRun(source: string, params: Readonly<Record<string, unknown>>): Promise<number> {
    return _settle(() =>
      this.#transaction(() => {
        this.#markDeadRuns();
        const row = this.#statement(
          `INSERT INTO ingestion_runs (source, params, started_at, status, pid)
         VALUES (?, ?, ?, 'running', ?) RETURNING run_id`,
        ).get(source, stringifyExact(params), new Date().toISOString(), Deno.pid) as Row;
        const runId = Number(row.run_id);
        this.#runLocks.acquire(runId);
        return runId;
      })
    );
  }

  /**
   * Stored positions of a source's streams.
   *
   * @param source Source name.
   * @returns Position by stream.
   */
  loadCursors(source: string): Promise<Map<string, string>> {
    return _settle(() => {
      const rows = this.#statement("SELECT stream, position FROM source_cursors WHERE source = ?")
        .all(source) as Row[];
      return new Map(rows.map((r) => [String(r.stream), String(r.position)]));
    });
  }

  /**
   * What each stored position of a source's streams points into.
   *
   * @param source Source name.
   * @returns Identity by stream; cursors stored without one are absent.
   */
  loadCursorIdentities(source: string): Promise<Map<string, string>> {
    return _settle(() => {
      const rows = this.#statement(
        "SELECT stream, identity FROM source_cursors WHERE source = ? AND identity IS NOT NULL",
      ).all(source) as Row[];
      return new Map(rows.map((r) => [String(r.stream), String(r.identity)]));
    });
  }

  /**
   * Forget the stored positions of some of a source's streams (`--reset-cursors`).
   *
   * @param source Source name.
   * @param streams The streams.
   * @returns How many cursors were discarded.
   */
  discardCursors(source: string, streams: readonly string[]): Promise<number> {
    return _settle(() => {
      if (streams.length === 0) return 0;
      const { changes } = this.#statement(
        `DELETE FROM source_cursors
         WHERE source = ? AND stream IN (SELECT value FROM json_each(?))`,
      ).run(source, JSON.stringify(streams));
      return Number(changes);
    });
  }

  /**
   * Which of these alerts are already stored.
   *
   * @param diaSourceIds Triggering DIASource ids.
   * @returns The stored ones.
   */
  knownAlertIds(diaSourceIds: readonly bigint[]): Promise<Set<bigint>> {
    return _settle(() => this.#selectKnown(diaSourceIds));
  }

  /**
   * Track and store a batch with its cursors in one transaction. Alerts already stored are
   * skipped, so a replay changes nothing.
   *
   * @param runId The run.
   * @param batch Alerts, quarantine entries and cursors.
   * @returns What changed.
   */
  writeBatch(runId: number, batch: BatchWrite): Promise<BatchOutcome> {
    return _settle(() => {
      const outcome = this.#transaction(() => this.#writeBatch(runId, batch));
      this.#evictStates();
      return outcome;
    });
  }

  #writeBatch(runId: number, batch: BatchWrite): BatchOutcome {
    // Another process may have written since our last batch: our cached states would be stale.
    const dataVersion = Number(this.#pragma("data_version"));
    if (dataVersion !== this.#dataVersion) {
      this.#states.clear();
      this.#pending = null;
      this.#dataVersion = dataVersion;
    }
    this.#pending ??= this.#readPending();
    const now = new Date().toISOString();

    // The decisions are _batch_plan.ts's; this method only reads and writes SQLite.
    const written = this.#writeAlerts(rowCandidates(batch.alerts), runId, now);
    const observed = observedRecords(batch.alerts, written);
    const plain = this.#settlePlain(observed, runId);
    this.#loadStates(observed, plain.settled);
    const options: TrackOptions = {
      storedSnapshots: this.#storedSnapshots(observed),
      settled: plain.settled,
    };
    if (needsImportTime(observed)) {
      options.importMjd = importTime(batch.importMjd ?? null, this.#latestAlertMjd());
    }
    const tracked = trackAlerts(observed, this.#states, runId, options);

    const insertSnapshot = this.#statement(
      `INSERT INTO snapshot_observations (dia_source_id, observed_mjd, ss_object_id, reassoc_time,
         run_id) VALUES (?, ?, ?, ?, ?)`,
    );
    for (const o of tracked.snapshots) {
      insertSnapshot.run(o.diaSourceId, o.time, o.ssObjectId, o.reassocTime, runId);
    }

    // Late arrivals: replay those DIASources from everything stored (this batch included).
    const replays = new Map<bigint, ReplayInput>();
    for (const id of tracked.replay) {
      replays.set(id, this.#replayInput(this.#states.get(id) as SourceState));
    }
    const settled = settleDetections(tracked, this.#states, replays);
    const removeDetection = this.#statement("DELETE FROM reassociations WHERE id = ?");
    for (const d of settled.remove) removeDetection.run(d.id);
    const insertDetection = this.#statement(
      `INSERT INTO reassociations (dia_source_id, reason, old_ss_object_id, new_ss_object_id,
         old_reassoc_time, new_reassoc_time, alert_dia_source_id, run_id, detected_at,
         observed_mjd)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const d of settled.add) {
      insertDetection.run(
        d.diaSourceId,
        d.reason,
        d.oldSsObjectId,
        d.newSsObjectId,
        d.oldReassocTime,
        d.newReassocTime,
        d.alertDiaSourceId,
        runId,
        now,
        d.observedMjd,
      );
    }
    if (settled.flagAlerts.length > 0) {
      // The flags follow the alert's detections: the reason is its own DIASource's, else that
      // of the lowest DIASource id (as alertReason() does in memory).
      this.#statement(
        `UPDATE alerts SET
           is_reassociation = EXISTS (SELECT 1 FROM reassociations r
             WHERE r.alert_dia_source_id = alerts.dia_source_id),
           reassociation_reason = (SELECT r.reason FROM reassociations r
             WHERE r.alert_dia_source_id = alerts.dia_source_id
             ORDER BY r.dia_source_id <> alerts.dia_source_id, r.dia_source_id LIMIT 1)
         WHERE dia_source_id IN (SELECT value FROM json_each(?))`,
      ).run(_jsonIds(settled.flagAlerts));
    }

    this.#writeStates(
      groupStateWrites(tracked.changed, tracked.previous, { minGroup: SET_MIN }),
    );
    const detected = settled.add.length - settled.remove.length;

    const insertQuarantine = this.#statement(
      `INSERT INTO quarantine (source, stream, position, error, raw, run_id, quarantined_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const q of batch.quarantine) {
      insertQuarantine.run(q.source, q.stream, q.position, q.error, q.raw, runId, now);
    }
    this.#settleQuarantine(runId, batch);

    const upsertLocus = this.#statement(
      `INSERT INTO loci (locus_id, ra, dec, htm16, tags, catalogs, properties, newest_alert_id,
         run_id, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (locus_id) DO UPDATE SET ra = excluded.ra, dec = excluded.dec,
         htm16 = excluded.htm16, tags = excluded.tags, catalogs = excluded.catalogs,
         properties = excluded.properties,
         newest_alert_id = COALESCE(excluded.newest_alert_id, newest_alert_id),
         run_id = excluded.run_id, updated_at = excluded.updated_at`,
    );
    for (const l of batch.loci ?? []) {
      upsertLocus.run(
        l.locusId,
        l.ra,
        l.dec,
        l.htm16,
        JSON.stringify(l.tags),
        JSON.stringify(l.catalogs),
        l.properties,
        l.newestAlertId,
        runId,
        now,
      );
    }

    this.#writeCursors(runId, batch, now);

    const outcome: BatchOutcome = {
      alertsIngested: written.size,
      alertsSkipped: batch.alerts.length - written.size,
      newSources: tracked.newSources + plain.newSources,
      reassociationsDetected: detected,
      alertsQuarantined: batch.quarantine.length,
    };
    this.#statement(
      `UPDATE ingestion_runs SET alerts_ingested = alerts_ingested + ?,
         alerts_skipped = alerts_skipped + ?, new_sources = new_sources + ?,
         reassociations_detected = reassociations_detected + ?,
         alerts_quarantined = alerts_quarantined + ?
       WHERE run_id = ?`,
    ).run(
      outcome.alertsIngested,
      outcome.alertsSkipped,
      outcome.newSources,
      outcome.reassociationsDetected,
      outcome.alertsQuarantined,
      runId,
    );
    return outcome;
  }

  /**
   * Record the end of a run.
   *
   * @param runId The run.
   * @param status Final status.
   * @param error Why it failed or stopped, if it did.
   * @returns The final row.
   */
  finishRun(runId: number, status: RunStatus, error: string | null): Promise<IngestionRunRecord> {
    return _settle(() => {
      const row = this.#transaction(() => {
        // A finished run leaves the states whole: readers of source_states itself see them
        // as they are, and the view adds nothing.
        this.#foldAll();
        return this.#statement(
          `UPDATE ingestion_runs SET status = ?, error = ?, finished_at = ? WHERE run_id = ?
           RETURNING *`,
        ).get(status, error, new Date().toISOString(), runId) as Row | undefined;
      });
      if (row === undefined) throw new StorageError(`Run ${runId} does not exist`);
      this.#runLocks.release(runId);
      return runRecordFromRow(row);
    });
  }

  /**
   * Newest runs first.
   *
   * @param limit At most this many.
   * @returns Runs.
   */
  listRuns(limit: number): Promise<IngestionRunRecord[]> {
    return _settle(() =>
      (this.#statement(
        "SELECT * FROM ingestion_runs ORDER BY started_at DESC, run_id DESC LIMIT ?",
      ).all(limit) as Row[]).map(runRecordFromRow)
    );
  }

  /**
   * Newest detections first.
   *
   * @param query Filters.
   * @returns Detections.
   */
  listReassociations(query: ReassociationQuery = {}): Promise<ReassociationRecord[]> {
    return _settle(() =>
      (this.#statement(
        `SELECT * FROM reassociations
         WHERE (?1 IS NULL OR reason = ?1) AND (?2 IS NULL OR run_id = ?2)
         ORDER BY id DESC LIMIT ?3`,
      ).all(query.reason ?? null, query.runId ?? null, query.limit ?? 100) as Row[]).map((r) => ({
        id: Number(r.id),
        ...detectionFromRow(r),
        runId: r.run_id === null ? null : Number(r.run_id),
        detectedAt: String(r.detected_at),
      }))
    );
  }

  /** Table sizes and summaries. */
  stats(): Promise<DatabaseStats> {
    return _settle(() => this.#stats());
  }

  /**
   * What the stored data cannot be trusted for, from the notes the migrations left: DIASources
   * first seen before schema version 4 (whose alerts kept no history) may have incomplete
   * detections.
   *
   * @returns One sentence per limit; none for a database created at schema version 4 or later.
   */
  warnings(): Promise<string[]> {
    return _settle(() => {
      const rows = this.#statement("SELECT note, rows FROM upgrade_notes ORDER BY note")
        .all() as Row[];
      return rows.map((r) =>
        r.note === "sources_before_v4"
          ? `Detections may be incomplete for the ${r.rows} DIASources first seen before this ` +
            "database was upgraded to schema version 4: the alerts stored before then kept no " +
            "history, so replaying such a DIASource after a late alert misses the observations " +
            "those alerts carried"
          : `Database "${this.location}" has an upgrade note "${String(r.note)}"`
      );
    });
  }

  #stats(): DatabaseStats {
    const count = (sql: string): number => Number((this.#statement(sql).get() as Row).n);
    const rows: Record<string, number> = {};
    for (const table of TABLES) rows[table] = count(`SELECT COUNT(*) AS n FROM ${table}`);
    const byReason = Object.fromEntries(REASSOCIATION_REASONS.map((r) => [r, 0])) as Record<
      ReassociationReason,
      number
    >;
    const reasonRows = this.#statement(
      "SELECT reason, COUNT(*) AS n FROM reassociations GROUP BY reason",
    ).all() as Row[];
    for (const r of reasonRows) byReason[r.reason as ReassociationReason] = Number(r.n);
    const range = this.#statement(
      "SELECT MIN(midpoint_mjd_tai) AS lo, MAX(midpoint_mjd_tai) AS hi FROM alerts",
    ).get() as Row;
    return {
      location: this.location,
      rows,
      solarSystemAlerts: count("SELECT COUNT(*) AS n FROM alerts WHERE dia_object_id IS NULL"),
      reassociationAlerts: count("SELECT COUNT(*) AS n FROM alerts WHERE is_reassociation = 1"),
      reassociationsByReason: byReason,
      mjdRange: range.lo === null ? null : { min: range.lo as number, max: range.hi as number },
      sizeBytes: this.#sizeOnDisk(),
    };
  }

  /**
   * Every row of a table in key order, columns in table order, ids as `bigint`.
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
    let sql: string;
    switch (table) {
      case "alerts":
        sql = `SELECT ${this.#exportColumns()} FROM alerts
          WHERE ?1 IS NULL OR midpoint_mjd_tai >= ?1 ORDER BY dia_source_id`;
        break;
      case "reassociations":
        sql = `SELECT * FROM reassociations WHERE ?1 IS NULL OR alert_dia_source_id IN
           (SELECT dia_source_id FROM alerts WHERE midpoint_mjd_tai >= ?1)
           OR (alert_dia_source_id IS NULL AND observed_mjd >= ?1) ORDER BY id`;
        break;
      case "processed_sources":
        sql = `SELECT * FROM processed_sources WHERE ?1 IS NULL OR last_seen_mjd >= ?1
          ORDER BY dia_source_id`;
        break;
      case "ingestion_runs":
        if (since !== null) throw new RangeError("Runs have no MJD to export them since");
        sql = "SELECT * FROM ingestion_runs ORDER BY run_id";
        break;
    }
    // A statement of its own: a shared one would be reset by a query made while exporting.
    const statement = this.#open().prepare(sql);
    statement.setReadBigInts(true);
    const parameters = table === "ingestion_runs" ? [] : [since];
    for (const row of statement.iterate(...parameters)) yield { ...row };
  }

  /**
   * Quarantine rows in id order, without their raw bytes.
   *
   * @param query Source filter and page.
   * @returns The rows.
   */
  listQuarantine(query: QuarantineQuery = {}): Promise<QuarantineRecord[]> {
    return _settle(() =>
      (this.#statement(
        `SELECT id, source, stream, position, error, length(raw) AS raw_bytes, run_id,
           quarantined_at FROM quarantine
         WHERE (?1 IS NULL OR source = ?1) AND id > ?2 ORDER BY id LIMIT ?3`,
      ).all(query.source ?? null, query.afterId ?? 0, query.limit ?? 100) as Row[]).map(
        quarantineFromRow,
      )
    );
  }

  /**
   * The raw bytes of a quarantine row.
   *
   * @param id Row id.
   * @returns The bytes, or `null` when the row kept none or no longer exists.
   */
  quarantineRaw(id: number): Promise<Uint8Array | null> {
    return _settle(() => {
      const row = this.#statement("SELECT raw FROM quarantine WHERE id = ?").get(id) as
        | Row
        | undefined;
      return (row?.raw ?? null) as Uint8Array | null;
    });
  }

  /**
   * The Avro payload kept for an alert.
   *
   * @param diaSourceId The alert's triggering DIASource.
   * @returns The payload and its writer schema, or `null`.
   */
  rawAlert(diaSourceId: bigint): Promise<RawPayload | null> {
    return _settle(() => {
      const row = this.#statement(
        `SELECT r.payload, s.* FROM raw_alerts r JOIN schemas s
         ON s.fingerprint = r.schema_fingerprint WHERE r.dia_source_id = ?`,
      ).get(diaSourceId) as Row | undefined;
      if (row === undefined) return null;
      return {
        payload: row.payload as Uint8Array,
        schema: schemaFromRow(row),
      };
    });
  }

  /**
   * A stored schema by registry id.
   *
   * @param id Registry id.
   * @returns The schema, or `null`.
   */
  schemaById(id: number): Promise<StoredSchema | null> {
    return _settle(() => {
      const row = this.#statement("SELECT * FROM schemas WHERE id = ?").get(id) as Row | undefined;
      return row === undefined ? null : schemaFromRow(row);
    });
  }

  /**
   * Keep a schema; stored schemas are immutable, so saving one again changes nothing.
   *
   * @param schema The schema.
   */
  saveSchema(schema: StoredSchema): Promise<void> {
    return _settle(() => {
      this.#statement(
        `INSERT INTO schemas (fingerprint, id, version, survey, json, first_seen_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ).run(
        schema.fingerprint,
        schema.id,
        schema.version,
        schema.survey,
        schema.json,
        new Date().toISOString(),
      );
    });
  }

  /** Close the database. Safe to call twice. */
  close(): Promise<void> {
    this.#closed = true;
    this.#runLocks.releaseAll();
    this.#statements.clear();
    this.#states.clear();
    if (this.#db?.isOpen) this.#db.close();
    this.#db = null;
    return Promise.resolve();
  }

  /** Same as {@linkcode SQLiteStorage.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #open(): DatabaseSync {
    if (this.#db !== null) return this.#db;
    if (this.#closed) throw new StorageError(`Database "${this.location}" is closed`);
    try {
      // SQLite URIs (`mode=rw`) would make the check atomic, but Deno resolves the path for its
      // permission check before SQLite sees it, so a URI is taken for a relative file name.
      const file = this.location !== ":memory:";
      if (file && !this.#options.create && !_exists(this.location)) {
        throw new StorageError(`Database "${this.location}" does not exist`);
      }
      if (file && !this.#options.readOnly && this.#options.create) {
        mkdirSync(dirname(this.location), { recursive: true });
      }
      const db = new DatabaseSync(this.location, {
        readOnly: this.#options.readOnly,
        timeout: this.#options.busyTimeoutMs,
      });
      if (!this.#options.readOnly) {
        // Only a new file takes it (WAL fixes the page size). 32 KiB pages keep an alert's
        // packed history (24 bytes an entry) inline and write heavy-history batches in fewer
        // pages (measured ~5-10% faster end to end than 4 KiB); 64 KiB doubled the bytes
        // written for scattered updates.
        db.exec("PRAGMA page_size = 32768");
        this.#enableWal(db);
        // FULL: a commit survives power loss before we tell Kafka to move on.
        db.exec("PRAGMA synchronous = FULL");
      }
      // 16 MiB of pages (the default, 2 MiB, is 64 such pages). With the states stored by
      // DIAObject a batch of heavy alerts touches few pages: 32 MiB measured no faster, heavy
      // re-observed alerts into 3 million states included, and cost 15-18 MB of resident memory.
      db.exec("PRAGMA cache_size = -16384");
      db.exec("PRAGMA foreign_keys = ON");
      this.#db = db;
      return db;
    } catch (error) {
      if (error instanceof StorageError) throw error;
      throw new StorageError(`Cannot open database "${this.location}": ${_message(error)}`, {
        cause: error,
      });
    }
  }

  // Switching to WAL needs an exclusive lock, and SQLite refuses it at once (without the busy
  // timeout) while another process is writing: two ingests creating one new file at the same
  // moment would otherwise fail. Once any of them succeeds the mode is stored in the file.
  #enableWal(db: DatabaseSync): void {
    const deadline = Date.now() + this.#options.busyTimeoutMs;
    for (let pause = 5;; pause = Math.min(pause * 2, 200)) {
      try {
        const row = db.prepare("PRAGMA journal_mode").get() as Row;
        if (String(Object.values(row)[0]).toLowerCase() === "wal") return;
        db.exec("PRAGMA journal_mode = WAL");
        return;
      } catch (error) {
        if (!/locked|busy/i.test(_message(error)) || Date.now() > deadline) {
          throw _storageError(this.location, error, this.#options.busyTimeoutMs);
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
      }
    }
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#open().prepare(sql);
      statement.setReadBigInts(true);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #pragma(name: string): unknown {
    const row = this.#open().prepare(`PRAGMA ${name}`).get() as Row;
    return Object.values(row)[0];
  }

  #userVersion(): number {
    return Number(this.#pragma("user_version"));
  }

  #transaction<T>(work: () => T): T {
    const db = this.#open();
    try {
      db.exec("BEGIN IMMEDIATE");
    } catch (error) {
      throw _storageError(this.location, error, this.#options.busyTimeoutMs);
    }
    try {
      const result = work();
      db.exec("COMMIT");
      return result;
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      // Tracking mutates cached states in place: they are wrong after a rollback, and so is
      // what we knew of the bumps.
      this.#states.clear();
      this.#pending = null;
      throw error instanceof StorageError
        ? error
        : _storageError(this.location, error, this.#options.busyTimeoutMs);
    }
  }

  // Each candidate row as a new row, or over a row kept from a snapshot (see ALERT_UPSERT);
  // returns the DIASources whose row was written. Payloads kept with --keep-raw go with the
  // rows written from them, each with its writer schema in `schemas`.
  #writeAlerts(candidates: readonly StoredAlert[], runId: number, now: string): Set<bigint> {
    const upsert = this.#statement(
      `INSERT INTO alerts (${ALERT_COLUMN_LIST}, run_id, ingested_at)
       VALUES (${ALERT_PLACEHOLDERS}, ?, ?) ${ALERT_UPSERT}`,
    );
    const saveSchema = this.#statement(
      `INSERT INTO schemas (fingerprint, id, version, survey, json, first_seen_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    const insertRaw = this.#statement(
      `INSERT INTO raw_alerts (dia_source_id, schema_fingerprint, payload) VALUES (?, ?, ?)
       ON CONFLICT DO NOTHING`,
    );
    const written = new Set<bigint>();
    let saved: string | null = null;
    for (const stored of candidates) {
      const values = ALERT_COLUMNS.map((c) => c.value(stored)) as SQLInputValue[];
      if (Number(upsert.run(...values, runId, now).changes) === 0) continue;
      written.add(stored.alert.diaSourceId);
      const { raw } = stored;
      if (!raw) continue;
      if (raw.schema.fingerprint !== saved) {
        const { schema } = raw;
        saveSchema.run(
          schema.fingerprint,
          schema.id,
          schema.version,
          schema.survey,
          schema.json,
          now,
        );
        saved = schema.fingerprint;
      }
      insertRaw.run(stored.alert.diaSourceId, raw.schema.fingerprint, raw.payload);
    }
    return written;
  }

  // Keys of the stored snapshot observations of the snapshots' DIASources.
  #storedSnapshots(observed: readonly AlertRecord[]): Observation[] {
    const ids = observed.filter((a) => a.snapshot).map((a) => a.diaSourceId);
    if (ids.length === 0) return [];
    const rows = this.#statement(
      `SELECT dia_source_id, observed_mjd, ss_object_id, reassoc_time FROM snapshot_observations
       WHERE dia_source_id IN (SELECT value FROM json_each(?)) ORDER BY id`,
    ).all(_jsonIds(ids)) as Row[];
    return rows.map(_snapshotObservation);
  }

  #latestAlertMjd(): number | null {
    const row = this.#statement("SELECT MAX(midpoint_mjd_tai) AS t FROM alerts").get() as Row;
    return row.t as number | null;
  }

  // Set-based writes of the groups (see _state_writes.ts); each checks it touched exactly its
  // rows, since a miss would mean the cached states are out of step with the table. OR FAIL on
  // every statement that may write many rows: otherwise SQLite first copies each page such a
  // statement touches to a statement journal, to undo that statement alone if a constraint
  // aborts it (measured: half the time of a bump over ~350 scattered rows). A failure rolls the
  // whole batch back anyway.
  #writeStates(writes: StateWrites): void {
    // A state written among a DIAObject's bumps (a new one, or one moved there) would be taken
    // for one they cover.
    if ((this.#pending as PendingBumps).size > 0) {
      for (const { head, ids } of writes.inserts) this.#clearOfBumps(head.diaObjectId ?? 0n, ids);
      for (const state of writes.rows) {
        this.#clearOfBumps(state.diaObjectId ?? 0n, [state.diaSourceId]);
      }
    }
    const insert = this.#statement(
      `INSERT OR FAIL INTO source_states (object_key, dia_source_id, dia_object_id, ss_object_id,
         ss_object_reassoc_time_mjd_tai, first_seen_mjd, last_seen_mjd, times_seen, first_run_id,
         last_run_id, last_alert_id, runs)
       SELECT COALESCE(?1, 0), value, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 FROM json_each(?11)`,
    );
    for (const { head, ids } of writes.inserts) {
      const { changes } = insert.run(..._stateColumns(head), _jsonIds(ids));
      _expectRows("insert new sources", changes, ids.length);
    }
    const bump = this.#statement(
      `UPDATE OR FAIL source_states SET times_seen = times_seen + ?, last_seen_mjd = ?,
         last_alert_id = ?, last_run_id = ?
       WHERE dia_source_id IN (SELECT value FROM json_each(?))`,
    );
    for (const b of writes.bumps) {
      const { changes } = bump.run(
        b.seen,
        b.lastSeenMjd,
        b.lastAlertId,
        b.lastRunId,
        _jsonIds(b.ids),
      );
      _expectRows("update seen sources", changes, b.ids.length);
    }
    // A DIASource whose DIAObject changed moves to its new DIAObject's rows.
    const upsert = this.#statement(
      `INSERT INTO source_states (object_key, dia_source_id, dia_object_id, ss_object_id,
         ss_object_reassoc_time_mjd_tai, first_seen_mjd, last_seen_mjd, times_seen, first_run_id,
         last_run_id, last_alert_id, runs)
       VALUES (COALESCE(?2, 0), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
       ON CONFLICT (dia_source_id) DO UPDATE SET object_key = excluded.object_key,
         dia_object_id = excluded.dia_object_id,
         ss_object_id = excluded.ss_object_id,
         ss_object_reassoc_time_mjd_tai = excluded.ss_object_reassoc_time_mjd_tai,
         first_seen_mjd = excluded.first_seen_mjd, last_seen_mjd = excluded.last_seen_mjd,
         times_seen = excluded.times_seen, last_run_id = excluded.last_run_id,
         last_alert_id = excluded.last_alert_id, runs = excluded.runs`,
    );
    for (const s of writes.rows) upsert.run(s.diaSourceId, ..._stateColumns(s));
  }

  #selectKnown(ids: readonly bigint[]): Set<bigint> {
    if (ids.length === 0) return new Set();
    // A row kept from a snapshot waits for its packet: the packet is not known yet.
    const rows = this.#statement(
      `SELECT dia_source_id FROM alerts
       WHERE dia_source_id IN (SELECT value FROM json_each(?)) AND snapshot = 0`,
    ).all(_jsonIds(ids)) as Row[];
    return new Set(rows.map((r) => r.dia_source_id as bigint));
  }

  // Every column but the packed history and the snapshot marker, which are tracking's data,
  // not something to export.
  #exportColumns(): string {
    const columns = (this.#statement("PRAGMA table_info(alerts)").all() as Row[])
      .map((c) => String(c.name))
      .filter((name) => name !== "history" && name !== "snapshot");
    return columns.map((c) => `"${c}"`).join(", ");
  }

  #replayInput(state: SourceState): ReplayInput {
    const id = state.diaSourceId;
    const trigger = this.#statement(
      `SELECT midpoint_mjd_tai, ss_object_id, ss_object_reassoc_time_mjd_tai FROM alerts
       WHERE dia_source_id = ? AND snapshot = 0`,
    ).get(id) as Row | undefined;
    const snapshots = this.#statement(
      `SELECT dia_source_id, observed_mjd, ss_object_id, reassoc_time FROM snapshot_observations
       WHERE dia_source_id = ? ORDER BY id`,
    ).all(id) as Row[];
    const histories = state.diaObjectId === null ? [] : this.#statement(
      `SELECT dia_source_id, midpoint_mjd_tai, history FROM alerts
       WHERE dia_object_id = ? AND history IS NOT NULL`,
    ).all(state.diaObjectId) as Row[];
    const detections = this.#statement("SELECT * FROM reassociations WHERE dia_source_id = ?")
      .all(id) as Row[];
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
        history: r.history as Uint8Array,
      })),
      detections: detections.map((r) => ({ ...detectionFromRow(r), id: r.id as bigint })),
    };
  }

  // The plain observations (see plainObservations()), settled without states in memory. An
  // alert's history entries lie together under its DIAObject (the primary key), so one range
  // read finds which are stored and move forward; those are stored as a few state_bumps rows
  // (see schema.sql) instead of a rewrite of each state, and what is not stored yet is inserted
  // as first sightings. The bump's conditions are plainObservations()'s plain re-observation,
  // the insert's row its first sighting: the rows trackAlerts() would write. A group the range
  // cannot serve (no DIAObject, states of others among it, entries scattered) is bumped row by
  // row as before.
  #settlePlain(
    observed: readonly AlertRecord[],
    runId: number,
  ): { settled: SettledObservations; newSources: number } {
    const settled = new Map<AlertRecord, Uint8Array>();
    if (this.#options.plainGroupMin === Infinity) return { settled, newSources: 0 };
    const groups = plainObservations(observed, this.#states, this.#options.plainGroupMin);
    if (groups.length === 0) return { settled, newSources: 0 };
    const pending = this.#pending as PendingBumps;
    const range = this.#statement(
      `SELECT dia_source_id, ss_object_id IS ?5 AND (?6 IS NULL OR ss_object_reassoc_time_mjd_tai = ?6)
         AND (last_seen_mjd < ?1
           OR (last_seen_mjd = ?1 AND (last_alert_id IS NULL OR last_alert_id <= ?2)))
       FROM source_states WHERE object_key = ?7 AND dia_source_id BETWEEN ?3 AND ?4
       ORDER BY dia_source_id LIMIT ?8`,
    );
    _returnArrays(range);
    const logBump = this.#statement(INSERT_BUMP);
    let inserted = 0;
    for (const group of groups) {
      const { alert, entries } = group;
      let marks = settled.get(alert);
      if (marks === undefined) {
        marks = new Uint8Array(historyLength(alert));
        settled.set(alert, marks);
      }
      const key = alert.diaObjectId;
      const time = alert.midpointMjdTai;
      const alertId = alert.diaSourceId;
      let plan = null;
      if (key !== null && key !== 0n) {
        // Histories come in time order, which Rubin's ids follow: usually sorted already.
        const ids = _ascending(group.ids) ? group.ids : [...group.ids].sort(compareIds);
        const limit = ids.length * 2 + 16;
        const rows = range.all(
          time,
          alertId,
          ids[0] as bigint,
          ids[ids.length - 1] as bigint,
          group.ssObjectId,
          group.reassocTime,
          key,
          limit,
        ) as unknown as Array<[bigint, number | bigint]>;
        // Many states of others among the entries: not worth ranges.
        if (rows.length < limit) plan = bumpRuns(ids, rows);
        if (plan !== null && plan.runs.length > MAX_RUNS) plan = null;
      }
      let unsettled: bigint[];
      if (plan === null) {
        // The row-by-row bump rewrites states: none may be under a bump then.
        if (key !== null) this.#fold(key);
        const first = this.#insertFirst(group, this.#bumpRows(group, runId), runId);
        inserted += first.inserted;
        unsettled = first.left;
      } else {
        this.#clearOfBumps(key as bigint, plan.absent);
        const first = this.#insertFirst(group, plan.absent, runId);
        inserted += first.inserted;
        // A bump need only be later than the states it covers (the range read checked that):
        // among bumps, the view and the fold take the latest.
        for (const [lo, hi] of plan.runs) {
          logBump.run(key, lo, hi, time, alertId, runId);
          pending.add(key as bigint, lo, hi);
        }
        if ((pending.get(key as bigint)?.count ?? 0) >= MAX_BUMPS) this.#fold(key as bigint);
        unsettled = plan.left.length === 0 ? first.left : [...plan.left, ...first.left];
      }
      // What neither settled is tracked as usual.
      if (unsettled.length === 0) {
        for (const entry of entries) marks[entry] = 1;
      } else {
        const left = new Set(unsettled);
        for (const [i, id] of group.ids.entries()) {
          if (!left.has(id)) marks[entries[i] as number] = 1;
        }
      }
    }
    return { settled, newSources: inserted };
  }

  // Bump a group's states that are plain re-observations, row by row; returns the entries it
  // did not write.
  #bumpRows(group: PlainGroup, runId: number): bigint[] {
    const bump = this.#statement(
      `UPDATE OR FAIL source_states SET times_seen = times_seen + 1, last_seen_mjd = ?1,
         last_alert_id = ?2, last_run_id = ?3
       WHERE object_key = COALESCE(?7, 0) AND dia_source_id IN (SELECT value FROM json_each(?4))
         AND ss_object_id IS ?5 AND (?6 IS NULL OR ss_object_reassoc_time_mjd_tai = ?6)
         AND (last_seen_mjd < ?1
           OR (last_seen_mjd = ?1 AND (last_alert_id IS NULL OR last_alert_id <= ?2)))`,
    );
    return this.#settleEntries(bump, group, group.ids, runId).left;
  }

  // Insert first sightings among these entries of a group (a DIASource stored anywhere is left
  // alone); returns how many it inserted and the entries it did not.
  #insertFirst(
    group: PlainGroup,
    ids: readonly bigint[],
    runId: number,
  ): { inserted: number; left: bigint[] } {
    if (ids.length === 0) return { inserted: 0, left: [] };
    const insert = this.#statement(
      `INSERT OR IGNORE INTO source_states (object_key, dia_source_id, dia_object_id, ss_object_id,
         ss_object_reassoc_time_mjd_tai, first_seen_mjd, last_seen_mjd, times_seen, first_run_id,
         last_run_id, last_alert_id, runs)
       SELECT COALESCE(?7, 0), value, ?7, ?5, ?6, ?1, ?1, 1, ?3, ?3, ?2, 1 FROM json_each(?4)`,
    );
    const { changes, left } = this.#settleEntries(insert, group, ids, runId);
    return { inserted: changes, left };
  }

  // Run a plain statement (parameters: the alert's time and id, the run, the ids as JSON, the
  // group's association, the alert's DIAObject) over some of a group's entries; returns how many
  // rows it wrote and the entries it did not: none, all, or those that do not name this alert as
  // their latest. None did before, as the alert is observed for the first time (its row was
  // written by this batch), and the groups of one alert do not overlap.
  #settleEntries(
    statement: StatementSync,
    group: PlainGroup,
    ids: readonly bigint[],
    runId: number,
  ): { changes: number; left: bigint[] } {
    const { alert } = group;
    const json = _jsonIds(ids);
    const changes = Number(
      statement.run(
        alert.midpointMjdTai,
        alert.diaSourceId,
        runId,
        json,
        group.ssObjectId,
        group.reassocTime,
        alert.diaObjectId,
      ).changes,
    );
    if (changes === ids.length) return { changes, left: [] };
    if (changes === 0) return { changes, left: [...ids] };
    const written = this.#statement(
      `SELECT dia_source_id FROM source_states
       WHERE dia_source_id IN (SELECT value FROM json_each(?1)) AND last_alert_id = ?2
         AND last_run_id = ?3 AND last_seen_mjd = ?4`,
    );
    _returnArrays(written);
    const rows = written.all(
      json,
      alert.diaSourceId,
      runId,
      alert.midpointMjdTai,
    ) as unknown as Array<[bigint]>;
    _expectRows("settle plain observations", rows.length, changes);
    const wrote = new Set(rows.map(([id]) => id));
    return { changes, left: ids.filter((id) => !wrote.has(id)) };
  }

  // Write a DIAObject's bumps into its states and delete them: each covered state seen once
  // more per bump, its latest the latest bump's (a bump is later than what it covers). One
  // update per segment of equal cover (see _fold_segments.ts).
  #fold(key: bigint): void {
    const pending = this.#pending as PendingBumps;
    if (pending.get(key) === undefined) return;
    const read = this.#statement(
      `SELECT lo, hi, last_seen_mjd, last_alert_id, last_run_id FROM state_bumps
       WHERE object_key = ?`,
    );
    _returnArrays(read);
    const bumps = (read.all(key) as unknown as Array<[bigint, bigint, number, bigint, bigint]>)
      .map(([lo, hi, lastSeenMjd, lastAlertId, lastRunId]) => ({
        lo,
        hi,
        lastSeenMjd,
        lastAlertId,
        lastRunId: Number(lastRunId),
      }));
    const update = this.#statement(
      `UPDATE OR FAIL source_states SET times_seen = times_seen + ?4, last_seen_mjd = ?5,
         last_alert_id = ?6, last_run_id = ?7
       WHERE object_key = ?1 AND dia_source_id BETWEEN ?2 AND ?3`,
    );
    for (const { lo, hi, seen, latest } of foldSegments(bumps)) {
      update.run(key, lo, hi, seen, latest.lastSeenMjd, latest.lastAlertId, latest.lastRunId);
    }
    this.#statement("DELETE FROM state_bumps WHERE object_key = ?").run(key);
    pending.delete(key);
  }

  // Before states are written under a DIAObject at these ids, make sure no bump covers them. A
  // bump over an id not stored is split around it: its two parts cover the same states (a
  // bump's ends are states it covers). A bump over a stored state (tracking reads states with
  // their bumps folded, so never expected) folds the DIAObject's bumps.
  #clearOfBumps(key: bigint, ids: Iterable<bigint>): void {
    const pending = this.#pending as PendingBumps;
    const covering = this.#statement(
      `SELECT lo, hi, last_seen_mjd, last_alert_id, last_run_id FROM state_bumps
       WHERE object_key = ?1 AND lo <= ?2 AND hi >= ?2`,
    );
    _returnArrays(covering);
    for (const id of ids) {
      if (!pending.spans(key, [id])) continue;
      const bumps = covering.all(key, id) as unknown as Array<
        [bigint, bigint, number, bigint, number | bigint]
      >;
      if (bumps.length === 0) continue;
      const near = this.#statement(
        `SELECT (SELECT dia_source_id FROM source_states WHERE object_key = ?1
             AND dia_source_id = ?2) AS here,
           (SELECT MAX(dia_source_id) FROM source_states WHERE object_key = ?1
             AND dia_source_id < ?2) AS below,
           (SELECT MIN(dia_source_id) FROM source_states WHERE object_key = ?1
             AND dia_source_id > ?2) AS above`,
      );
      near.setReadBigInts(true);
      const { here, below, above } = near.get(key, id) as {
        here: bigint | null;
        below: bigint | null;
        above: bigint | null;
      };
      if (here !== null || below === null || above === null) {
        this.#fold(key);
        return;
      }
      const remove = this.#statement(
        "DELETE FROM state_bumps WHERE object_key = ? AND lo = ? AND last_alert_id = ?",
      );
      const add = this.#statement(INSERT_BUMP);
      for (const [lo, hi, mjd, alertId, runId] of bumps) {
        remove.run(key, lo, alertId);
        add.run(key, lo, below, mjd, alertId, runId);
        add.run(key, above, hi, mjd, alertId, runId);
      }
      if (pending.add(key, bumps[0]![0], bumps[0]![1], bumps.length) >= MAX_BUMPS) {
        this.#fold(key);
        return;
      }
    }
  }

  // Fold every DIAObject's bumps, in key order (the table's).
  #foldAll(): void {
    this.#pending = this.#readPending();
    for (const key of [...this.#pending.keys()].sort(compareIds)) {
      this.#fold(key);
    }
  }

  #readPending(): PendingBumps {
    const pending = new PendingBumps();
    const summary = this.#statement(
      "SELECT object_key, MIN(lo), MAX(hi), COUNT(*) FROM state_bumps GROUP BY object_key",
    );
    _returnArrays(summary);
    for (const [key, lo, hi, count] of summary.all() as unknown as bigint[][]) {
      pending.add(key as bigint, lo as bigint, hi as bigint, Number(count));
    }
    return pending;
  }

  #loadStates(alerts: readonly AlertRecord[], settled: SettledObservations): void {
    const states = this.#states;
    // An id wanted twice (two alerts of one DIAObject in the batch) costs less in the IN list
    // than a set to weed it out would.
    const wanted = observedIds(alerts, settled).filter((id) => !states.has(id));
    if (wanted.length === 0) return;
    const loaded = this.#selectStates(wanted);
    // Tracking works on whole states: fold the bumps that may cover one, then read it again.
    const pending = this.#pending as PendingBumps;
    if (pending.size === 0) return;
    const folded = new Set<bigint>();
    for (const state of loaded) {
      const key = state.diaObjectId ?? 0n;
      if (folded.has(key) || !pending.spans(key, [state.diaSourceId])) continue;
      this.#fold(key);
      folded.add(key);
    }
    if (folded.size === 0) return;
    this.#selectStates(
      loaded.filter((s) => folded.has(s.diaObjectId ?? 0n)).map((s) => s.diaSourceId),
    );
  }

  // Read states into the cache; returns them.
  #selectStates(wanted: readonly bigint[]): SourceState[] {
    const states = this.#states;
    const loaded: SourceState[] = [];
    // Heavy histories ask for ~350 sources an alert: fixed-size IN lists (the last one padded
    // with a repeated id) and rows as arrays are the cheapest way node:sqlite offers.
    const select = this.#statement(
      `SELECT dia_source_id, dia_object_id, ss_object_id, ss_object_reassoc_time_mjd_tai,
         first_seen_mjd, last_seen_mjd, times_seen, first_run_id, last_run_id, last_alert_id, runs
       FROM source_states WHERE dia_source_id IN (${LOAD_PARAMS})`,
    );
    _returnArrays(select);
    for (let at = 0; at < wanted.length; at += LOAD_CHUNK) {
      const chunk = wanted.slice(at, at + LOAD_CHUNK);
      while (chunk.length < LOAD_CHUNK) chunk.push(chunk[0] as bigint);
      for (const r of select.all(...chunk) as unknown as unknown[][]) {
        const id = r[0] as bigint;
        const state: SourceState = {
          diaSourceId: id,
          diaObjectId: r[1] as bigint | null,
          ssObjectId: r[2] as bigint | null,
          reassocTime: r[3] as number | null,
          firstSeenMjd: r[4] as number,
          lastSeenMjd: r[5] as number,
          timesSeen: Number(r[6]),
          firstRunId: Number(r[7]),
          lastRunId: Number(r[8]),
          // Rows written before schema 4 have no latest alert: any id orders after it.
          lastAlertId: (r[9] as bigint | null) ?? -(2n ** 63n),
          runs: Number(r[10] ?? 1),
        };
        states.set(id, state);
        loaded.push(state);
      }
    }
    return loaded;
  }

  #writeCursors(runId: number, batch: BatchWrite, now: string): void {
    const upsert = this.#statement(
      `INSERT INTO source_cursors (source, stream, position, identity, run_id, updated_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (source, stream) DO UPDATE SET position = excluded.position,
         identity = excluded.identity, run_id = excluded.run_id, updated_at = excluded.updated_at
       -- A worker that lost a partition in a rebalance must not move its offset back; a stream
       -- that is another one now (a topic created again, a file replaced) starts over.
       WHERE source_cursors.identity IS NOT excluded.identity
         OR NOT (source_cursors.position NOT GLOB '*[^0-9]*'
           AND excluded.position NOT GLOB '*[^0-9]*'
           AND CAST(excluded.position AS INTEGER) < CAST(source_cursors.position AS INTEGER))`,
    );
    for (const c of batch.cursors) {
      upsert.run(batch.source, c.stream, c.position, c.identity ?? null, runId, now);
    }
  }

  // A quarantine replay: rows whose records the batch stores leave the quarantine in its
  // transaction; rows that still fail keep their new error and count as quarantined by the run.
  #settleQuarantine(runId: number, batch: BatchWrite): void {
    const resolved = batch.quarantineResolved ?? [];
    const retried = batch.quarantineRetried ?? [];
    if (resolved.length > 0) {
      this.#statement("DELETE FROM quarantine WHERE id IN (SELECT value FROM json_each(?))")
        .run(JSON.stringify(resolved));
    }
    if (retried.length === 0) return;
    const update = this.#statement("UPDATE quarantine SET error = ? WHERE id = ?");
    for (const r of retried) update.run(r.error, r.id);
    this.#statement(
      "UPDATE ingestion_runs SET alerts_quarantined = alerts_quarantined + ? WHERE run_id = ?",
    ).run(retried.length, runId);
  }

  #evictStates(): void {
    this.#states.evict();
  }

  #markDeadRuns(): void {
    const running = this.#statement(
      "SELECT run_id FROM ingestion_runs WHERE status = 'running'",
    ).all() as Row[];
    const mark = this.#statement(
      `UPDATE ingestion_runs SET status = 'interrupted', finished_at = ?,
         error = 'the process ended without finishing the run' WHERE run_id = ?`,
    );
    for (const r of running) {
      const runId = Number(r.run_id);
      if (this.#runLocks.isAbandoned(runId)) mark.run(new Date().toISOString(), runId);
    }
  }

  #sizeOnDisk(): number | null {
    if (this.location === ":memory:") return null;
    let total = 0;
    for (const suffix of ["", "-wal"]) {
      try {
        total += statSync(this.location + suffix).size;
      } catch {
        // No WAL file at the moment: nothing to add.
      }
    }
    return total;
  }
}

// node:sqlite is synchronous; this keeps the async interface honest by turning throws into
// rejections.
function _settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}

// Smallest group written as one statement over a list of ids: a few rows cost less one by one
// than a list's parse and lookup table.
const SET_MIN = 32;

// A state's columns after `dia_source_id`, in the order of the source_states statements.
function _stateColumns(s: SourceState): [
  bigint | null,
  bigint | null,
  number | null,
  number,
  number,
  number,
  number,
  number,
  bigint,
  number,
] {
  return [
    s.diaObjectId,
    s.ssObjectId,
    s.reassocTime,
    s.firstSeenMjd,
    s.lastSeenMjd,
    s.timesSeen,
    s.firstRunId,
    s.lastRunId,
    s.lastAlertId,
    s.runs,
  ];
}
// Smallest group of plain observations settled by statements; tracking takes smaller ones.
const PLAIN_MIN = 8;
// Most state_bumps rows one group may take (else its states are bumped row by row), and one
// DIAObject may keep before they are folded: each is read for every state the view returns.
const MAX_RUNS = 16;
const MAX_BUMPS = 64;

const INSERT_BUMP =
  `INSERT INTO state_bumps (object_key, lo, hi, last_seen_mjd, last_alert_id, last_run_id)
   VALUES (?, ?, ?, ?, ?, ?)`;

// Deno 2.9 implements setReturnArrays (as Node 24 does), but its typings lack it.
function _returnArrays(statement: StatementSync): void {
  (statement as StatementSync & { setReturnArrays(on: boolean): void }).setReturnArrays(true);
}

// Ids per state lookup; the last list of a batch is padded with a repeated id.
const LOAD_CHUNK = 500;
const LOAD_PARAMS = Array(LOAD_CHUNK).fill("?").join(", ");

function _expectRows(what: string, changes: number | bigint, expected: number): void {
  if (Number(changes) !== expected) {
    throw new StorageError(
      `Cannot ${what}: ${changes} rows of source_states changed, expected ${expected} ` +
        "(another writer changed them outside a transaction?)",
    );
  }
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

function _ascending(ids: readonly bigint[]): boolean {
  for (let i = 1; i < ids.length; i++) {
    if ((ids[i] as bigint) <= (ids[i - 1] as bigint)) return false;
  }
  return true;
}

function _jsonIds(ids: readonly bigint[]): string {
  return `[${ids.join(",")}]`;
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function _exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function _storageError(location: string, error: unknown, timeoutMs: number): StorageError {
  const message = _message(error);
  if (/database is (locked|busy)/i.test(message)) {
    return new StorageError(
      `Database "${location}" is busy: another process held its write lock for more than ${
        timeoutMs / 1000
      } s`,
      { cause: error },
    );
  }
  return new StorageError(`Database "${location}" failed: ${message}`, { cause: error });
}
