/**
 * The contract every source (mock, file, Kafka, ANTARES) fulfils so the pipeline can store
 * progress and resume.
 *
 * @module
 */

import type { AlertRecord } from "../model/alert_record.ts";
import type { AlertParseError } from "../model/errors.ts";
import type { CutoutPaths } from "../model/cutout_paths.ts";
import type { LocusRecord } from "../model/locus_record.ts";
import type { RawPayload } from "../model/raw_payload.ts";
import type { SourceCursor } from "../model/source_cursor.ts";

/** A decoded alert and where it came from. */
export interface DecodedAlert {
  /** Discriminant. */
  kind: "alert";
  /** The alert. */
  alert: AlertRecord;
  /** Its position, stored with the batch that holds it. */
  cursor: SourceCursor;
  /**
   * Cutout files that already exist for it (a CSV export's `cutout_*` columns), used where the
   * alert carries no cutout bytes. Default: none.
   */
  cutoutPaths?: CutoutPaths;
  /** Its Avro payload and writer schema, from sources that decode Avro (kept with `keepRaw`). */
  raw?: RawPayload;
}

/** A record that could not be decoded; the pipeline quarantines it. */
export interface RejectedRecord {
  /** Discriminant. */
  kind: "rejected";
  /** What was wrong, naming the stream and position. */
  error: AlertParseError;
  /** The raw bytes, when there are any, kept for later replay. */
  raw: Uint8Array | null;
  /** Its position, stored with the batch so the record is not read again. */
  cursor: SourceCursor;
}

/** A locus summary (ANTARES) to store with the batch; not an alert itself. */
export interface LocusUpdate {
  /** Discriminant. */
  kind: "locus";
  /** The locus row. */
  locus: LocusRecord;
  /** Its position, stored with the batch. */
  cursor: SourceCursor;
}

/** What a source yields: a decoded alert, a rejected record or a locus, each with its cursor. */
export type SourcedAlert = DecodedAlert | RejectedRecord | LocusUpdate;

/** Options of {@linkcode AlertSource.alerts}. */
export interface AlertsOptions {
  /** Stop between records when aborted. Default: never. */
  signal?: AbortSignal;
  /** Stop after this many records (alerts and rejected records; loci do not count). Default: no limit. */
  limit?: number;
  /**
   * The last stored position of each stream (from `source_cursors`): the source resumes after
   * it. Default: start from the beginning.
   */
  resumeFrom?: ReadonlyMap<string, string>;
  /**
   * The identity stored with each of those positions (see {@linkcode SourceCursor.identity}); a
   * stream without one was stored by an older version and is accepted as it is. Default: none.
   */
  identities?: ReadonlyMap<string, string>;
  /**
   * The stored cursors of this source's streams were discarded (`--reset-cursors`): read every
   * stream from its start, whatever an upstream remembers (Kafka's committed offsets).
   * Default `false`.
   */
  resetCursors?: boolean;
}

/**
 * A source of alerts. It pulls one record at a time, honours the signal between records and
 * releases everything when the iteration ends or when it is disposed.
 */
export interface AlertSource extends AsyncDisposable {
  /** Short name stored with each alert and run: `mock`, `file`, `kafka`, `antares`. */
  readonly name: string;
  /** What the run was asked to do, stored in `ingestion_runs.params`. Never holds secrets. */
  readonly params: Readonly<Record<string, unknown>>;
  /**
   * Yield records in order.
   *
   * @param options Signal, limit and resume positions.
   * @returns The records with their cursors.
   */
  alerts(options?: AlertsOptions): AsyncIterable<SourcedAlert>;
  /**
   * Called after a batch and its cursors are durably stored, so a broker may be told to move on
   * (Kafka commit). Sources without an upstream to acknowledge omit it.
   *
   * @param cursors The newest stored cursor of each stream in the batch.
   */
  acknowledge?(cursors: readonly SourceCursor[]): Promise<void>;
  /**
   * Of the streams that have stored cursors under this source's name, those this source reads
   * (its topics, the files under its path), so `--reset-cursors` discards only theirs. Sources
   * without it read every stream of their name.
   *
   * @param streams Streams with stored cursors.
   * @returns The ones this source reads.
   */
  ownStreams?(streams: readonly string[]): Promise<string[]>;
  /**
   * Start, ahead of {@linkcode AlertSource.alerts}, what needs no stored cursor (a worker thread
   * loading, the broker's metadata), so that it overlaps the storage's own start. The pipeline
   * calls it first; the next `alerts()` takes over what it started.
   *
   * @returns Releases what it started, for a run that fails before it reads.
   */
  prepare?(): () => Promise<void>;
}
