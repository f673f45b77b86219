/**
 * The ingestion loop: pull records from a source, write cutouts, then store each batch with its
 * cursors in one transaction, and only then acknowledge upstream.
 *
 * @module
 */

import type { DecodedAlert, SourcedAlert } from "../sources/alert_source.ts";
import type { SourceCursor } from "../model/source_cursor.ts";
import type { AlertSource } from "../sources/alert_source.ts";
import type {
  BatchOutcome,
  IngestionRunRecord,
  QuarantineEntry,
  RunStatus,
  Storage,
} from "../storage/storage.ts";
import type { LocusRecord } from "../model/locus_record.ts";
import type { CutoutProcessor } from "../cutouts/cutout_processor.ts";
import { setImmediate } from "node:timers";
import { StorageError } from "../model/errors.ts";
import { historyLength } from "../model/history_columns.ts";
import { CutoutStep } from "./_cutout_step.ts";

/** Options of {@linkcode IngestionPipeline}. */
export interface IngestionPipelineOptions {
  /** Records per transaction. Default 500. */
  batchSize?: number;
  /** Writes each alert's cutouts; `null` stores no cutout files. Default `null`. */
  cutouts?: CutoutProcessor | null;
  /** Longest a read record waits for its batch to fill before the batch is stored. Default 1,000 ms. */
  maxBatchDelayMs?: number;
  /**
   * A batch is also stored once its alerts carry this many DIASource observations (each alert's
   * own and its history's): heavy-history alerts (hundreds of entries each) make transactions
   * of bounded size, ~70 such alerts, which keep the decode worker ahead and the transaction's
   * memory small (measured: 15% faster than 500 heavy alerts a batch). Default 25,000.
   */
  maxBatchObservations?: number;
  /**
   * Keep each new alert's Avro payload and writer schema (`raw_alerts`), so the whole packet
   * can be decoded later (`show-alert`). Only Avro sources (file, Kafka) have payloads.
   * Default `false`.
   */
  keepRaw?: boolean;
  /**
   * When this run's snapshots without a reassociation time (CSV/APDB rows, ANTARES alerts) are
   * observed, as MJD TAI; storage moves it past the latest stored alert. Default: the time each
   * batch is written.
   */
  importMjd?: number;
}

/** Running totals, reported after every batch. */
export interface IngestionProgress {
  /** The run. */
  runId: number;
  /** Records read from the source (alerts and rejected records). */
  recordsRead: number;
  /** New alerts stored. */
  alertsIngested: number;
  /** Alerts skipped because they were already stored. */
  alertsSkipped: number;
  /** DIASources seen for the first time. */
  newSources: number;
  /** Reassociations detected. */
  reassociationsDetected: number;
  /** Records and cutouts quarantined. */
  alertsQuarantined: number;
  /** Seconds since the run started. */
  elapsedSeconds: number;
  /** Records read per second so far. */
  recordsPerSecond: number;
}

/** Options of {@linkcode IngestionPipeline.run}. */
export interface RunOptions {
  /**
   * Stop after this many records (alerts and rejected records), finishing the message in hand
   * (a locus with several alerts). Default: until the source ends.
   */
  limit?: number;
  /** Stop after this many seconds; the run still counts as `completed`. Default: no limit. */
  durationSeconds?: number;
  /** Abort the run: the records already read are stored and the run is `interrupted`. */
  signal?: AbortSignal;
  /** Called after every stored batch. */
  onProgress?: (progress: IngestionProgress) => void;
  /**
   * Discard the stored cursors of the streams the source reads (its topics, the files under its
   * path) and read them from their start, whatever an upstream remembers: the way on after a
   * run stopped because a stream is another one now (a Kafka topic created again, another
   * cluster). Alerts already stored are skipped, not stored twice. Default `false`.
   */
  resetCursors?: boolean;
}

/** The result of a run: its `ingestion_runs` row plus read counts and rate. */
export interface IngestionRun extends IngestionRunRecord {
  /** Records read from the source. */
  recordsRead: number;
  /** Seconds the run took. */
  elapsedSeconds: number;
  /** Records read per second. */
  recordsPerSecond: number;
}

/**
 * Moves alerts from a source into storage, batch by batch.
 *
 * @example
 * ```ts
 * import { IngestionPipeline } from "./ingestion_pipeline.ts";
 * import { MockSource } from "../sources/mock/mock_source.ts";
 * import { SQLiteStorage } from "../storage/sqlite_storage.ts";
 *
 * await using storage = new SQLiteStorage(":memory:");
 * await using source = new MockSource({ count: 100, cutouts: false });
 * const run = await new IngestionPipeline(source, storage).run();
 * run.alertsIngested; // 100
 * ```
 */
export class IngestionPipeline {
  #source: AlertSource;
  #storage: Storage;
  #batchSize: number;
  #cutouts: CutoutProcessor | null;
  #maxBatchDelayMs: number;
  #maxBatchObservations: number;
  #keepRaw: boolean;
  #importMjd: number | undefined;

  /**
   * Connect a source to a storage.
   *
   * @param source Where alerts come from.
   * @param storage Where they go.
   * @param options Batch size and cutout writer.
   */
  constructor(source: AlertSource, storage: Storage, options: IngestionPipelineOptions = {}) {
    this.#source = source;
    this.#storage = storage;
    this.#batchSize = options.batchSize ?? 500;
    this.#cutouts = options.cutouts ?? null;
    this.#maxBatchDelayMs = options.maxBatchDelayMs ?? 1000;
    this.#maxBatchObservations = options.maxBatchObservations ?? 25_000;
    this.#keepRaw = options.keepRaw ?? false;
    this.#importMjd = options.importMjd;
    if (!Number.isInteger(this.#batchSize) || this.#batchSize < 1) {
      throw new RangeError(`Batch size must be a positive integer: ${this.#batchSize}`);
    }
    if (!Number.isInteger(this.#maxBatchObservations) || this.#maxBatchObservations < 1) {
      throw new RangeError(
        `Batch observations must be a positive integer: ${this.#maxBatchObservations}`,
      );
    }
  }

  /**
   * Run until the source ends, the limit or duration is reached, or the signal aborts.
   *
   * A failure of the source or the storage is recorded in the run as `failed` and rethrown.
   *
   * @param options Limit, duration, signal and progress callback.
   * @returns The finished run.
   */
  async run(options: RunOptions = {}): Promise<IngestionRun> {
    const storage = this.#storage;
    const source = this.#source;
    // What the source starts without the database (a worker loading, the broker's metadata)
    // overlaps the storage's start; released when the run fails before it reads.
    const release = source.prepare?.();
    let reading = false;
    const unread = async () => {
      if (!reading) await release?.().catch(() => {});
    };
    await storage.initialize().catch(async (error) => {
      await unread();
      throw error;
    });
    const runId = await storage.beginRun(source.name, {
      ...source.params,
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      ...(options.durationSeconds === undefined
        ? {}
        : { durationSeconds: options.durationSeconds }),
      ...(options.resetCursors ? { resetCursors: true } : {}),
      batchSize: this.#batchSize,
      cutouts: this.#cutouts !== null,
    }).catch(async (error) => {
      await unread();
      throw error;
    });
    const started = performance.now();
    const totals = {
      recordsRead: 0,
      alertsIngested: 0,
      alertsSkipped: 0,
      newSources: 0,
      reassociationsDetected: 0,
      alertsQuarantined: 0,
    };
    const progress = (): IngestionProgress => {
      const elapsedSeconds = (performance.now() - started) / 1000;
      return {
        runId,
        ...totals,
        elapsedSeconds,
        recordsPerSecond: elapsedSeconds > 0 ? totals.recordsRead / elapsedSeconds : 0,
      };
    };

    // The duration ends the run normally; only the caller's signal makes it "interrupted".
    const timeUp = new AbortController();
    const timer = options.durationSeconds === undefined
      ? undefined
      : setTimeout(() => timeUp.abort(), options.durationSeconds * 1000);
    const signal = options.signal === undefined
      ? timeUp.signal
      : AbortSignal.any([timeUp.signal, options.signal]);
    // The source is stopped only after the last batch is stored and acknowledged: a Kafka
    // consumer closed first could not commit that batch's offsets. Until then the run stops
    // waiting for records one macrotask after the signal, so a record handed over as it comes
    // is still stored, as it was when sources stopped on their own.
    const sourceStop = new AbortController();
    // Each wait races a promise of its own: racing one promise that lives as long as the run
    // left a reaction on it per record, which kept every record read (and the decoded block it
    // points into) alive until the run ended.
    let stopTimer: ReturnType<typeof setTimeout> | undefined;
    let isStopped = false;
    let wakeStop: ((value: "stop") => void) | null = null;
    const stopped = (): Promise<"stop"> =>
      isStopped ? Promise.resolve("stop") : new Promise((resolve) => (wakeStop = resolve));
    const stop = () => {
      stopTimer = setTimeout(() => {
        isStopped = true;
        wakeStop?.("stop");
      }, 0);
    };
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });

    let failure: unknown = null;
    let batch: SourcedAlert[] = [];
    let observations = 0;
    // Files first, rows second; a batch's cutouts are written while the batch fills.
    const name = source.name;
    const cutouts = new CutoutStep({
      processor: this.#cutouts,
      storage,
      keepRaw: this.#keepRaw,
      sourceOf: () => name,
    });
    const flush = async (): Promise<void> => {
      const items = batch;
      batch = [];
      observations = 0;
      if (items.length === 0) return;
      const outcome = await this.#store(runId, items, cutouts);
      totals.alertsIngested += outcome.alertsIngested;
      totals.alertsSkipped += outcome.alertsSkipped;
      totals.newSources += outcome.newSources;
      totals.reassociationsDetected += outcome.reassociationsDetected;
      totals.alertsQuarantined += outcome.alertsQuarantined;
      options.onProgress?.(progress());
      // A source that never waits on I/O (the mock) and synchronous SQLite would otherwise run
      // the whole stream in microtasks, starving timers (--duration) and signal handlers.
      await new Promise<void>((resolve) => setImmediate(resolve));
    };

    try {
      await this.#cutouts?.cleanStaleTempFiles();
      // The pipeline counts the limit itself, so a source is still open for the last batch's
      // acknowledgement (a Kafka commit) when the limit is reached.
      const limit = options.limit ?? Infinity;
      const resumeFrom = await storage.loadCursors(source.name);
      const identities = await storage.loadCursorIdentities(source.name);
      if (options.resetCursors) {
        const stored = [...resumeFrom.keys()];
        const streams = source.ownStreams === undefined ? stored : await source.ownStreams(stored);
        await storage.discardCursors(source.name, streams);
        for (const stream of streams) {
          resumeFrom.delete(stream);
          identities.delete(stream);
        }
      }
      reading = true;
      const records = source.alerts({
        signal: sourceStop.signal,
        resumeFrom,
        identities,
        ...(options.resetCursors ? { resetCursors: true } : {}),
      });
      const iterator = records[Symbol.asyncIterator]();
      // A quiet stream (Kafka at night) must not hold a partial batch back: it is stored once
      // its first record is maxBatchDelayMs old, while the next record is still awaited.
      let next = limit > 0
        ? iterator.next()
        : Promise.resolve({ done: true as const, value: undefined });
      let waiting = limit > 0;
      let deadline: Promise<"late"> | null = null;
      let batchTimer: ReturnType<typeof setTimeout> | undefined;
      let late: unknown = null;
      try {
        for (;;) {
          const result = await Promise.race(
            deadline === null ? [next, stopped()] : [next, deadline, stopped()],
          );
          // A record that arrives after the stop is not stored: the next run reads it.
          if (result === "stop") break;
          if (result === "late") {
            deadline = null;
            await flush();
            continue;
          }
          waiting = false;
          if (result.done) break;
          if (result.value.kind !== "locus") totals.recordsRead++;
          batch.push(result.value);
          if (result.value.kind === "alert") {
            observations += 1 + historyLength(result.value.alert);
            cutouts.add(result.value);
          }
          // At the limit, still finish the message in hand: its position is stored only with
          // its last record, and a run that always stopped inside it would never get past it.
          if (totals.recordsRead >= limit && !result.value.cursor.more) break;
          // Stopped: the record in hand is stored with the batch, while the source is open.
          if (signal.aborted) break;
          if (batch.length >= this.#batchSize || observations >= this.#maxBatchObservations) {
            clearTimeout(batchTimer);
            deadline = null;
            await flush();
          } else if (deadline === null) {
            deadline = new Promise((resolve) => {
              batchTimer = setTimeout(() => resolve("late"), this.#maxBatchDelayMs);
            });
          }
          // Stopped while the batch was stored: nothing more is asked of the source.
          if (signal.aborted) break;
          next = iterator.next();
          waiting = true;
        }
        await flush();
      } finally {
        // Stopped, the source ends the read it is waiting on (a record it still hands over is
        // not stored: the next run reads it), then releases what it holds (a Kafka consumer
        // leaves its group) before the run returns.
        sourceStop.abort(signal.reason);
        clearTimeout(batchTimer);
        if (waiting) await next.catch((error) => (late = error));
        await iterator.return?.();
      }
      // A source that failed while the run was stopping (a TLS or authentication error that
      // surfaced as --duration ran out) fails the run: swallowing it would report success.
      if (late !== null && !_isAbort(late)) throw late;
    } catch (error) {
      failure = error;
      // Records read before a source failed are complete: keep them.
      if (!(error instanceof StorageError)) {
        try {
          await flush();
        } catch {
          // The original failure is what the caller must see.
        }
      }
    } finally {
      clearTimeout(timer);
      clearTimeout(stopTimer);
    }

    await unread();
    const aborted = options.signal?.aborted === true;
    if (failure !== null && aborted && _isAbort(failure)) failure = null;
    const status: RunStatus = failure !== null ? "failed" : aborted ? "interrupted" : "completed";
    const reason = failure !== null
      ? _message(failure)
      : aborted
      ? `aborted: ${_message(options.signal?.reason ?? "signal")}`
      : null;
    const record = await storage.finishRun(runId, status, reason);
    if (failure !== null) throw failure;
    const { elapsedSeconds, recordsPerSecond } = progress();
    return { ...record, recordsRead: totals.recordsRead, elapsedSeconds, recordsPerSecond };
  }

  async #store(runId: number, items: SourcedAlert[], cutouts: CutoutStep): Promise<BatchOutcome> {
    const source = this.#source;
    const quarantine: QuarantineEntry[] = [];
    const cursors = new Map<string, SourceCursor>();
    const decoded: DecodedAlert[] = [];
    const loci: LocusRecord[] = [];
    for (const item of items) {
      if (!item.cursor.more) cursors.set(item.cursor.stream, item.cursor);
      if (item.kind === "alert") {
        decoded.push(item);
      } else if (item.kind === "locus") {
        loci.push(item.locus);
      } else {
        quarantine.push({
          source: source.name,
          stream: item.cursor.stream,
          position: item.cursor.position,
          error: item.error.message,
          raw: item.raw,
        });
      }
    }

    const alerts = await cutouts.finish(decoded, quarantine);
    const outcome = await this.#storage.writeBatch(runId, {
      source: source.name,
      alerts,
      quarantine,
      cursors: [...cursors.values()],
      loci,
      ...(this.#importMjd === undefined ? {} : { importMjd: this.#importMjd }),
    });
    await source.acknowledge?.([...cursors.values()]);
    return outcome;
  }
}

/** Options of {@linkcode ingest}: the pipeline's and the run's together. */
export type IngestOptions = IngestionPipelineOptions & RunOptions;

/**
 * Ingest a source into storage in one call.
 *
 * @param source Where alerts come from.
 * @param storage Where they go.
 * @param options Batch size, cutouts, limit, duration, signal, progress.
 * @returns The finished run.
 * @example
 * ```ts
 * import { ingest } from "./ingestion_pipeline.ts";
 * import { MockSource } from "../sources/mock/mock_source.ts";
 * import { SQLiteStorage } from "../storage/sqlite_storage.ts";
 *
 * await using storage = new SQLiteStorage(":memory:");
 * await using source = new MockSource({ count: 50, cutouts: false });
 * (await ingest(source, storage, { batchSize: 10 })).status; // "completed"
 * ```
 */
export function ingest(
  source: AlertSource,
  storage: Storage,
  options: IngestOptions = {},
): Promise<IngestionRun> {
  const { batchSize, cutouts, maxBatchDelayMs, maxBatchObservations, keepRaw, importMjd, ...run } =
    options;
  return new IngestionPipeline(source, storage, {
    ...(importMjd === undefined ? {} : { importMjd }),
    ...(batchSize === undefined ? {} : { batchSize }),
    ...(maxBatchObservations === undefined ? {} : { maxBatchObservations }),
    ...(keepRaw === undefined ? {} : { keepRaw }),
    ...(cutouts === undefined ? {} : { cutouts }),
    ...(maxBatchDelayMs === undefined ? {} : { maxBatchDelayMs }),
  }).run(run);
}

function _isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
