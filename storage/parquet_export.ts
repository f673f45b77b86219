/**
 * Write the rows of one table (from `Storage.iterateRows`) as an Apache Parquet file, streaming:
 * rows are gathered into row groups, each encoded and handed to the destination before the next
 * is read, so an export of any size runs in the memory of one row group.
 *
 * Written with `hyparquet-writer` (MIT, pure JavaScript, no WebAssembly): it takes an explicit
 * Parquet schema, writes 64-bit integers from `bigint` exactly, and accepts one row group at a
 * time with an asynchronous flush between them, which is what bounded memory needs.
 *
 * @module
 */

import { ByteWriter, ParquetWriter } from "npm:hyparquet-writer@0.17.0";
import type { ExportTable } from "./storage.ts";

/**
 * How a column is written: `int64` (ids, counts, flags, exact as `bigint`; a boolean is 0 or 1),
 * `double` (coordinates, fluxes, MJD times), `string` (UTF-8) or `time` (ISO-8601 UTC text: kept
 * as a string, plus a `<name>_ts` UTC timestamp column right after it).
 */
export type ParquetColumnKind = "int64" | "double" | "string" | "time";

/** Options of {@linkcode writeParquetExport}. */
export interface ParquetExportOptions {
  /**
   * The table the rows come from: it fixes the file's columns and their Parquet types. Give
   * either this or `columns`.
   */
  table?: ExportTable;
  /**
   * The rows' columns and their kinds, in file order, for rows that are not a whole table (a
   * science selection); `name` says what they are, in the file's metadata and in errors.
   */
  columns?: { name: string; kinds: ReadonlyArray<readonly [string, ParquetColumnKind]> };
  /**
   * Most rows per row group. Default 100,000. A row group also ends once its text columns hold
   * 64 Mi characters, so tables with long texts (`properties`) stay within bounded memory too.
   */
  rowGroupSize?: number;
  /**
   * Leave `out` open when done or failed. Default `false`: `out` is closed after the file's
   * footer, or aborted when writing fails.
   */
  preventClose?: boolean;
}

type _Kind = ParquetColumnKind;

// Each exported table's columns and kinds, in schema.sql order. Declared rather than guessed
// from the values, so a column is typed the same when it is all NULL, and SQLite and
// PostgreSQL (whose drivers give an INTEGER column as bigint or number) write the same file.
// BLOB columns (alerts.history, the packed histories kept for replays) are not exported.
const _COLUMNS: Readonly<Record<ExportTable, ReadonlyArray<readonly [string, _Kind]>>> = {
  alerts: [
    ["dia_source_id", "int64"],
    ["alert_id", "int64"],
    ["dia_object_id", "int64"],
    ["ss_object_id", "int64"],
    ["ss_object_name", "string"],
    ["object_name", "string"],
    ["ra", "double"],
    ["dec", "double"],
    ["ra_err", "double"],
    ["dec_err", "double"],
    ["midpoint_mjd_tai", "double"],
    ["band", "string"],
    ["psf_flux", "double"],
    ["psf_flux_err", "double"],
    ["snr", "double"],
    ["extendedness", "double"],
    ["reliability", "double"],
    ["visit", "int64"],
    ["detector", "int64"],
    ["observation_reason", "string"],
    ["target_name", "string"],
    ["schema_version", "string"],
    ["source", "string"],
    ["survey", "string"],
    ["is_reassociation", "int64"],
    ["reassociation_reason", "string"],
    ["cutout_science", "string"],
    ["cutout_template", "string"],
    ["cutout_difference", "string"],
    ["properties", "string"],
    ["ss_object_reassoc_time_mjd_tai", "double"],
    ["run_id", "int64"],
    ["ingested_at", "time"],
  ],
  reassociations: [
    ["id", "int64"],
    ["dia_source_id", "int64"],
    ["reason", "string"],
    ["old_ss_object_id", "int64"],
    ["new_ss_object_id", "int64"],
    ["old_reassoc_time", "double"],
    ["new_reassoc_time", "double"],
    ["alert_dia_source_id", "int64"],
    ["run_id", "int64"],
    ["detected_at", "time"],
    ["observed_mjd", "double"],
  ],
  processed_sources: [
    ["dia_source_id", "int64"],
    ["dia_object_id", "int64"],
    ["ss_object_id", "int64"],
    ["ss_object_reassoc_time_mjd_tai", "double"],
    ["first_seen_mjd", "double"],
    ["last_seen_mjd", "double"],
    ["times_seen", "int64"],
    ["first_run_id", "int64"],
    ["last_run_id", "int64"],
    ["last_alert_id", "int64"],
    ["runs", "int64"],
  ],
  ingestion_runs: [
    ["run_id", "int64"],
    ["source", "string"],
    ["params", "string"],
    ["started_at", "time"],
    ["finished_at", "time"],
    ["status", "string"],
    ["alerts_ingested", "int64"],
    ["alerts_skipped", "int64"],
    ["new_sources", "int64"],
    ["reassociations_detected", "int64"],
    ["alerts_quarantined", "int64"],
    ["error", "string"],
    ["pid", "int64"],
  ],
};

type _SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]["schema"][number];
type _ColumnSource = Parameters<ParquetWriter["write"]>[0]["columnData"][number];

const _DEFAULT_ROW_GROUP = 100_000;
// Text is what can make rows wide (a `properties` JSON per alert): past this many characters a
// row group ends early, whatever its row count.
const _ROW_GROUP_TEXT = 64 * 1024 * 1024;
// The encoded bytes are kept in chunks of this size until the row group is flushed.
const _CHUNK_BYTES = 1024 * 1024;
const _ISO_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Write a table's rows as one Parquet file, a row group at a time, waiting for `out` to accept
 * each row group before reading more rows, so memory holds one row group whatever the table's
 * size.
 *
 * Types come from the table, never from the values, and are the same from SQLite and
 * PostgreSQL: INTEGER columns are `INT64` (ids above 2^53 exact), REAL columns `DOUBLE` (MJD
 * times stay MJD TAI), TEXT columns UTF-8 strings. An ISO-8601 time column (`ingested_at`,
 * `detected_at`, `started_at`, `finished_at`) is kept as written and followed by `<name>_ts`, a
 * `TIMESTAMP(MICROS, UTC)` of the same instant (digits past microseconds are dropped; text that
 * is not such a time gives NULL). Every column is optional and NULLs stay NULL; `alerts.history`
 * (packed bytes for replays) is left out, as in CSV. Doubles are written without dictionary
 * encoding so `-0` stays `-0`. Compression is Snappy. A table without rows gives a valid file
 * with every column and no row group.
 *
 * @param rows The rows, such as `storage.iterateRows("alerts")`.
 * @param out Where the file's bytes go; closed when done unless `preventClose`.
 * @param options The table, the row group size and whether to leave `out` open.
 * @returns How many rows were written.
 * @throws {TypeError} When a row's columns are not the table's, or a value does not fit its
 * column's type.
 * @throws {RangeError} When `rowGroupSize` is not a positive integer.
 * @example
 * ```ts
 * import { writeParquetExport } from "./parquet_export.ts";
 * async function* rows() {
 *   yield { run_id: 1n, source: "mock", params: "{}", started_at: "2026-01-05T10:00:00.000Z",
 *     finished_at: null, status: "running", alerts_ingested: 0n, alerts_skipped: 0n,
 *     new_sources: 0n, reassociations_detected: 0n, alerts_quarantined: 0n, error: null,
 *     pid: 4242n };
 * }
 * const file = await Deno.open("runs.parquet", { write: true, create: true, truncate: true });
 * await writeParquetExport(rows(), file.writable, { table: "ingestion_runs" }); // 1
 * ```
 */
export async function writeParquetExport(
  rows: AsyncIterable<Record<string, unknown>>,
  out: WritableStream<Uint8Array>,
  options: ParquetExportOptions,
): Promise<number> {
  const preventClose = options.preventClose ?? false;
  const stream = out.getWriter();
  try {
    const rowGroupSize = options.rowGroupSize ?? _DEFAULT_ROW_GROUP;
    if (!Number.isSafeInteger(rowGroupSize) || rowGroupSize < 1) {
      throw new RangeError(`Row group size must be a positive integer: "${rowGroupSize}"`);
    }
    if ((options.table === undefined) === (options.columns === undefined)) {
      throw new TypeError("A Parquet export needs either a table or its columns, not both");
    }
    const what = options.table ?? (options.columns as { name: string }).name;
    const columns = options.table === undefined
      ? (options.columns as { kinds: ReadonlyArray<readonly [string, _Kind]> }).kinds
      : _COLUMNS[options.table];
    if (columns === undefined) {
      throw new TypeError(`Cannot export table "${what}" as Parquet: unknown table`);
    }
    const sink = new _StreamSink(stream);
    const parquet = new ParquetWriter({
      writer: sink,
      schema: _schema(columns),
      createdBy: "lsst-extendedness (hyparquet-writer)",
      kvMetadata: [{
        key: options.table === undefined
          ? "lsst_extendedness.selection"
          : "lsst_extendedness.table",
        value: what,
      }],
    });
    const group = new _RowGroup(columns, rowGroupSize);
    let count = 0;
    for await (const row of rows) {
      if (count === 0) _checkColumns(row, columns, what);
      group.add(row, count);
      count++;
      if (group.rows >= rowGroupSize || group.textChars >= _ROW_GROUP_TEXT) {
        // Awaited: the next rows are read only once this group has reached `out`.
        await parquet.write(group.take());
      }
    }
    if (group.rows > 0) await parquet.write(group.take());
    await parquet.finish();
    if (!preventClose) await stream.close();
    return count;
  } catch (error) {
    // Aborting closes a file handle that would otherwise stay open after the failure.
    if (!preventClose) await stream.abort(error).catch(() => {});
    throw error;
  } finally {
    stream.releaseLock();
  }
}

/**
 * How a table's columns are written to Parquet, in file order (a `time` column gives two).
 *
 * @param table The table.
 * @returns Each column's name and kind.
 * @example
 * ```ts
 * import { parquetColumnKinds } from "./parquet_export.ts";
 * parquetColumnKinds("alerts")[0]; // ["dia_source_id", "int64"]
 * ```
 */
export function parquetColumnKinds(
  table: ExportTable,
): ReadonlyArray<readonly [string, ParquetColumnKind]> {
  return _COLUMNS[table];
}

/** The file's schema: a root, then each column (a time column twice: text and timestamp). */
function _schema(columns: ReadonlyArray<readonly [string, _Kind]>): _SchemaElement[] {
  const leaves: _SchemaElement[] = [];
  for (const [name, kind] of columns) {
    const repetition_type = "OPTIONAL";
    if (kind === "int64") leaves.push({ name, type: "INT64", repetition_type });
    else if (kind === "double") leaves.push({ name, type: "DOUBLE", repetition_type });
    else {
      leaves.push({
        name,
        type: "BYTE_ARRAY",
        converted_type: "UTF8",
        logical_type: { type: "STRING" },
        repetition_type,
      });
      if (kind === "time") {
        leaves.push({
          name: `${name}_ts`,
          type: "INT64",
          converted_type: "TIMESTAMP_MICROS",
          logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MICROS" },
          repetition_type,
        });
      }
    }
  }
  return [{ name: "schema", num_children: leaves.length }, ...leaves];
}

// The first row stands for all (they come from one query): a column the file would not have,
// or one it would have to invent, is a storage that no longer matches this mapping.
function _checkColumns(
  row: Record<string, unknown>,
  columns: ReadonlyArray<readonly [string, _Kind]>,
  table: string,
): void {
  const declared = new Set(columns.map(([name]) => name));
  for (const name of Object.keys(row)) {
    if (!declared.has(name)) {
      throw new TypeError(
        `Cannot export table "${table}" as Parquet: column "${name}" has no Parquet type`,
      );
    }
  }
  for (const name of declared) {
    if (!(name in row)) {
      throw new TypeError(`Cannot export table "${table}" as Parquet: column "${name}" is missing`);
    }
  }
}

/** One row group's values, column by column, converted to what the Parquet types take. */
class _RowGroup {
  readonly #columns: ReadonlyArray<readonly [string, _Kind]>;
  // The file's columns: a time column is followed by its timestamp.
  readonly #buffers: _ColumnBuffer[];
  // Rows of one batch share their time text: the last conversion is reused.
  readonly #lastTime = new Map<string, [string, bigint | null]>();
  rows = 0;
  textChars = 0;

  constructor(columns: ReadonlyArray<readonly [string, _Kind]>, rowGroupSize: number) {
    this.#columns = columns;
    this.#buffers = columns.flatMap(([name, kind]) =>
      kind === "time"
        ? [
          new _ColumnBuffer(name, "string", rowGroupSize),
          new _ColumnBuffer(`${name}_ts`, "int64", rowGroupSize),
        ]
        : [new _ColumnBuffer(name, kind, rowGroupSize)]
    );
  }

  add(row: Record<string, unknown>, index: number): void {
    let slot = 0;
    for (const [name, kind] of this.#columns) {
      const value = row[name];
      switch (kind) {
        case "int64":
          this.#buffers[slot++]!.push(_int64(value, name, index));
          break;
        case "double":
          this.#buffers[slot++]!.push(_double(value, name, index));
          break;
        case "string":
          this.#buffers[slot++]!.push(this.#text(value, name, index));
          break;
        case "time": {
          const text = this.#text(value, name, index);
          this.#buffers[slot++]!.push(text);
          this.#buffers[slot++]!.push(text === null ? null : this.#micros(name, text));
        }
      }
    }
    this.rows++;
  }

  /**
   * The group as one `ParquetWriter.write` call's options, leaving the group empty. The typed
   * arrays it hands over are reused by the next group: write them before adding rows.
   */
  take(): { columnData: _ColumnSource[]; rowGroupSize: number } {
    const columnData = this.#buffers.map((buffer) => buffer.take());
    const rowGroupSize = this.rows;
    this.rows = 0;
    this.textChars = 0;
    return { columnData, rowGroupSize };
  }

  #text(value: unknown, column: string, row: number): string | null {
    if (value === null || value === undefined) return null;
    if (typeof value !== "string") throw _typeError(value, column, row, "a string");
    this.textChars += value.length;
    return value;
  }

  #micros(column: string, text: string): bigint | null {
    const last = this.#lastTime.get(column);
    if (last !== undefined && last[0] === text) return last[1];
    const micros = _isoMicros(text);
    this.#lastTime.set(column, [text, micros]);
    return micros;
  }
}

/**
 * One column's values in a row group. Numbers go into typed arrays (8 bytes a value instead of a
 * boxed number or bigint each), handed to the writer as they are when the group has no NULL.
 */
class _ColumnBuffer {
  readonly #name: string;
  readonly #kind: "int64" | "double" | "string";
  readonly #limit: number;
  #numbers: BigInt64Array | Float64Array | null = null;
  #nulls = new Uint8Array(0);
  #texts: (string | null)[] = [];
  #length = 0;
  #nullCount = 0;

  constructor(name: string, kind: "int64" | "double" | "string", limit: number) {
    this.#name = name;
    this.#kind = kind;
    this.#limit = limit;
  }

  push(value: bigint | number | string | null): void {
    if (this.#kind === "string") {
      this.#texts.push(value as string | null);
      this.#length++;
      return;
    }
    if (this.#numbers === null || this.#length === this.#numbers.length) this.#grow();
    if (value === null) {
      this.#nulls[this.#length] = 1;
      this.#nullCount++;
    } else {
      this.#numbers![this.#length] = value as never;
    }
    this.#length++;
  }

  take(): _ColumnSource {
    const length = this.#length;
    let data: unknown[] | BigInt64Array | Float64Array;
    if (this.#kind === "string") {
      data = this.#texts;
      this.#texts = [];
    } else if (this.#nullCount === 0) {
      data = this.#numbers!.subarray(0, length);
    } else {
      const numbers = this.#numbers!;
      const nulls = this.#nulls;
      data = Array.from({ length }, (_, i) => nulls[i] === 1 ? null : numbers[i]);
      nulls.fill(0, 0, length);
    }
    this.#length = 0;
    this.#nullCount = 0;
    return {
      name: this.#name,
      data: data as _ColumnSource["data"],
      // A dictionary keys doubles by SameValueZero, which would turn -0 into 0.
      ...(this.#kind === "double" ? { encoding: "PLAIN" as const } : {}),
    };
  }

  // Grown by doubling up to the row group size: a small table never allocates a full group.
  #grow(): void {
    const size = Math.min(this.#limit, Math.max(1024, 2 * (this.#numbers?.length ?? 0)));
    const numbers = this.#kind === "int64" ? new BigInt64Array(size) : new Float64Array(size);
    const nulls = new Uint8Array(size);
    if (this.#numbers !== null) {
      numbers.set(this.#numbers as never);
      nulls.set(this.#nulls);
    }
    this.#numbers = numbers;
    this.#nulls = nulls;
  }
}

function _int64(value: unknown, column: string, row: number): bigint | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") return value;
  // A flag a reader turned into a boolean (selections' is_reassociation) is 0 or 1 as stored.
  if (typeof value === "boolean") return value ? 1n : 0n;
  // PostgreSQL's INTEGER (not BIGINT) columns arrive as numbers.
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  throw _typeError(value, column, row, "an integer");
}

function _double(value: unknown, column: string, row: number): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return value;
  throw _typeError(value, column, row, "a number");
}

/** Microseconds since 1970 of an ISO-8601 time with a zone, or `null` when it is not one. */
function _isoMicros(text: string): bigint | null {
  const match = _ISO_TIME.exec(text);
  if (match === null) return null;
  const millis = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(millis)) return null;
  const fraction = (match[2] ?? "").padEnd(6, "0").slice(0, 6);
  return BigInt(millis) * 1000n + BigInt(fraction);
}

function _typeError(value: unknown, column: string, row: number, expected: string): TypeError {
  const kind = value instanceof Uint8Array ? "bytes" : typeof value;
  return new TypeError(
    `Cannot write column "${column}" of row ${row} as Parquet: expected ${expected}, got ${kind}`,
  );
}

/**
 * hyparquet-writer's output: the encoded bytes gather in chunks (no buffer growing by copies)
 * and go to the stream when the writer flushes, after each row group and at the end.
 */
class _StreamSink extends ByteWriter {
  readonly #stream: WritableStreamDefaultWriter<Uint8Array>;
  #chunks: Uint8Array[] = [];

  constructor(stream: WritableStreamDefaultWriter<Uint8Array>) {
    super(_CHUNK_BYTES);
    this.#stream = stream;
  }

  // hyparquet-writer only writes at the end of the buffer, past what `ensure` made room for, so
  // a full buffer can be set aside whole and a fresh one started.
  override ensure(size: number): void {
    if (this.index + size <= this.buffer.byteLength) return;
    if (this.index > 0) this.#chunks.push(new Uint8Array(this.buffer, 0, this.index));
    this.buffer = new ArrayBuffer(Math.max(_CHUNK_BYTES, size));
    this.view = new DataView(this.buffer);
    this.index = 0;
  }

  async flush(): Promise<void> {
    if (this.index > 0) {
      this.#chunks.push(new Uint8Array(this.buffer, 0, this.index));
      this.buffer = new ArrayBuffer(_CHUNK_BYTES);
      this.view = new DataView(this.buffer);
      this.index = 0;
    }
    const chunks = this.#chunks;
    this.#chunks = [];
    for (const chunk of chunks) await this.#stream.write(chunk);
  }

  override async finish(): Promise<void> {
    await this.flush();
  }
}
