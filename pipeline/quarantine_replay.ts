/**
 * Replaying the quarantine: every stored record decoded again with what is known now, the ones
 * that decode ingested exactly as a first reading would have, and their rows removed in the same
 * transaction.
 *
 * @module
 */

import type { CutoutProcessor } from "../cutouts/cutout_processor.ts";
import type { DecodedAlert } from "../sources/alert_source.ts";
import { QuarantineDecoder } from "./quarantine_decoder.ts";
import type {
  IngestionRunRecord,
  QuarantineEntry,
  QuarantineRetry,
  RunStatus,
  Storage,
} from "../storage/storage.ts";
import type { LocusRecord } from "../model/locus_record.ts";
import { StorageError } from "../model/errors.ts";
import { writeAlertCutouts } from "./_cutout_step.ts";

/** The `ingestion_runs.source` of a replay. */
export const QUARANTINE_REPLAY_SOURCE = "quarantine-replay";

/** Options of {@linkcode replayQuarantine}. */
export interface QuarantineReplayOptions {
  /** Only rows of this source (`file`, `kafka`, `antares`). Default: every row. */
  source?: string;
  /**
   * Schema folder for framed messages: `<M.m>/*.avsc`, Rubin's `<M>/<m>/lsst.v<M>_<m>.*.avsc`
   * tree, or one version's `.avsc` files. Default: none (the database's `schemas` only).
   */
  schemaDir?: string;
  /** Confluent Schema Registry URL, for framed messages. Default: none. */
  schemaRegistry?: string;
  /** ANTARES HTTP API, for loci whose alerts could not be fetched. Default: ANTARES's own. */
  antaresApiBaseUrl?: string;
  /** Writes the cutouts of replayed alerts; `null` writes none. Default `null`. */
  cutouts?: CutoutProcessor | null;
  /** Keep each replayed alert's Avro payload (`raw_alerts`). Default `false`. */
  keepRaw?: boolean;
  /** Quarantine rows per transaction. Default 100. */
  batchSize?: number;
  /** Stop between rows: what was decoded is stored and the run is `interrupted`. */
  signal?: AbortSignal;
}

/** The result of a replay: its `ingestion_runs` row plus what became of the rows. */
export interface QuarantineReplayResult extends IngestionRunRecord {
  /** Quarantine rows looked at. */
  rowsRead: number;
  /** Rows whose records were stored (or were already): removed from the quarantine. */
  rowsReplayed: number;
  /** Rows tried again that still fail: kept, with the new error (`alertsQuarantined` too). */
  rowsStillFailing: number;
  /** Rows that cannot be replayed, kept unchanged. */
  rowsNotReplayable: number;
  /** Those rows by reason. */
  notReplayable: Record<string, number>;
  /** Seconds the replay took. */
  elapsedSeconds: number;
}

/**
 * Decode every quarantine row again (oldest first) with what is known now: framed messages
 * with the schemas stored in the database, `schemaDir` and `schemaRegistry`; container records
 * with their file's schema; CSV records after their file's header; Kafka messages; ANTARES
 * loci, fetching their alerts again. Each row that decodes is ingested through
 * `Storage.writeBatch` (the same order-independent tracking as an ingest) in the transaction
 * that deletes it; a row that still fails stays with its new error; rows that hold no whole
 * record (damaged blocks, unreadable files, bad cutouts) are left as they are. The replay is
 * recorded in `ingestion_runs` as source `quarantine-replay`; no source cursor moves.
 *
 * @param storage The database.
 * @param options Row filter, where schemas come from, cutouts, batch size, signal.
 * @returns The finished run and what became of the rows.
 * @throws {SourceError} When the schema registry cannot be reached (the run is `failed`; the
 * rows replayed before stay replayed).
 * @throws {StorageError} When the database fails.
 * @example
 * ```ts
 * import { replayQuarantine } from "./quarantine_replay.ts";
 * import { SQLiteStorage } from "../storage/sqlite_storage.ts";
 *
 * await using storage = new SQLiteStorage(":memory:");
 * const replay = await replayQuarantine(storage, { schemaDir: "schema/" });
 * replay.rowsReplayed; // 0: nothing is quarantined
 * ```
 */
export async function replayQuarantine(
  storage: Storage,
  options: QuarantineReplayOptions = {},
): Promise<QuarantineReplayResult> {
  const batchSize = options.batchSize ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`Batch size must be a positive integer: ${batchSize}`);
  }
  const processor = options.cutouts ?? null;
  const keepRaw = options.keepRaw ?? false;
  const { signal } = options;
  await storage.initialize();
  const decoder = new QuarantineDecoder({
    schemaStore: storage,
    ...(options.schemaDir === undefined ? {} : { schemaDir: options.schemaDir }),
    ...(options.schemaRegistry === undefined ? {} : { schemaRegistry: options.schemaRegistry }),
    ...(options.antaresApiBaseUrl === undefined
      ? {}
      : { antaresApiBaseUrl: options.antaresApiBaseUrl }),
  });
  const runId = await storage.beginRun(QUARANTINE_REPLAY_SOURCE, {
    ...decoder.params,
    source: options.source ?? null,
    batchSize,
    cutouts: processor !== null,
    keepRaw,
  });
  const started = performance.now();
  const counts = { rowsRead: 0, rowsReplayed: 0, rowsStillFailing: 0, rowsNotReplayable: 0 };
  const notReplayable: Record<string, number> = {};

  let rows = 0;
  let decoded: DecodedAlert[] = [];
  let loci: LocusRecord[] = [];
  let quarantine: QuarantineEntry[] = [];
  let resolved: number[] = [];
  let retried: QuarantineRetry[] = [];
  const sourceOf = new Map<DecodedAlert, string>();
  const flush = async (): Promise<void> => {
    if (rows === 0) return;
    const batch = { decoded, loci, quarantine, resolved, retried };
    rows = 0;
    decoded = [];
    loci = [];
    quarantine = [];
    resolved = [];
    retried = [];
    const alerts = await writeAlertCutouts(batch.decoded, batch.quarantine, {
      processor,
      storage,
      keepRaw,
      sourceOf: (item) => sourceOf.get(item) ?? QUARANTINE_REPLAY_SOURCE,
    });
    sourceOf.clear();
    await storage.writeBatch(runId, {
      source: QUARANTINE_REPLAY_SOURCE,
      alerts,
      quarantine: batch.quarantine,
      cursors: [],
      loci: batch.loci,
      quarantineResolved: batch.resolved,
      quarantineRetried: batch.retried,
    });
  };

  let failure: unknown = null;
  try {
    await processor?.cleanStaleTempFiles();
    let afterId = 0;
    read: for (;;) {
      const page = await storage.listQuarantine({
        afterId,
        limit: batchSize,
        ...(options.source === undefined ? {} : { source: options.source }),
      });
      if (page.length === 0) break;
      for (const row of page) {
        if (signal?.aborted) break read;
        afterId = row.id;
        // Rows this replay added (bad cutouts of the alerts it stored) are not tried again.
        if (row.runId === runId) continue;
        const raw = row.rawBytes === null ? null : await storage.quarantineRaw(row.id);
        // Gone since it was listed: another replay took it.
        if (row.rawBytes !== null && raw === null) continue;
        counts.rowsRead++;
        const result = await decoder.decode(row, raw, signal);
        if (result.kind === "unsupported") {
          counts.rowsNotReplayable++;
          notReplayable[result.reason] = (notReplayable[result.reason] ?? 0) + 1;
          continue;
        }
        rows++;
        if (result.kind === "failed") {
          counts.rowsStillFailing++;
          retried.push({ id: row.id, error: result.error });
        } else {
          counts.rowsReplayed++;
          resolved.push(row.id);
          for (const item of result.items) {
            if (item.kind === "alert") {
              decoded.push(item);
              sourceOf.set(item, row.source);
            } else if (item.kind === "locus") {
              loci.push(item.locus);
            } else {
              quarantine.push({
                source: row.source,
                stream: item.cursor.stream,
                position: item.cursor.position,
                error: item.error.message,
                raw: item.raw,
              });
            }
          }
        }
        if (rows >= batchSize) await flush();
      }
    }
    await flush();
  } catch (error) {
    failure = error;
    // Rows decoded before a source failed are complete: keep them.
    if (!(error instanceof StorageError)) {
      try {
        await flush();
      } catch {
        // The original failure is what the caller must see.
      }
    }
  }

  const aborted = signal?.aborted === true;
  if (failure !== null && aborted && (_isAbort(failure) || failure === signal?.reason)) {
    failure = null;
  }
  const status: RunStatus = failure !== null ? "failed" : aborted ? "interrupted" : "completed";
  const reason = failure !== null
    ? _message(failure)
    : aborted
    ? `aborted: ${_message(signal?.reason ?? "signal")}`
    : null;
  const record = await storage.finishRun(runId, status, reason);
  if (failure !== null) throw failure;
  return {
    ...record,
    ...counts,
    notReplayable,
    elapsedSeconds: (performance.now() - started) / 1000,
  };
}

function _isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
