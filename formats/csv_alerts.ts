/**
 * Read alerts from a CSV table: an `alerts` export of this tool, or an APDB/PPDB export with the
 * same column names. The file is read one record at a time, so its size does not matter.
 *
 * @module
 */

import {
  type AlertRecord,
  associationId,
  REASSOCIATION_REASONS,
  type ReassociationReason,
  type Survey,
} from "../model/alert_record.ts";
import { AlertParseError } from "../model/errors.ts";
import type { CutoutPaths } from "../model/cutout_paths.ts";

/** Options of {@linkcode readCsvAlerts}. */
export interface CsvAlertsOptions {
  /** The file path: named in messages and in every {@linkcode AlertParseError}. */
  stream: string;
  /**
   * {@linkcode AlertRecord.source} of rows whose `source` column is absent or empty. A
   * non-empty `source` column wins, so an export re-imports unchanged. Default `"file"`.
   */
  source?: string;
  /**
   * Resume after this record index (the stored cursor): records up to and including it are
   * split but neither decoded nor yielded. Default: yield every record.
   */
  skipThrough?: number;
  /**
   * {@linkcode AlertRecord.schemaVersion} of rows whose `schema_version` column is absent or
   * empty. Default `"csv"`: a table row has no Avro writer schema, and the value says where the
   * row came from without pretending to be one of Rubin's versions.
   */
  schemaVersion?: string;
  /**
   * Largest record accepted, in bytes. A bigger one almost always means an unclosed quote that
   * swallowed the rest of the file, which cannot be read past: the whole file fails.
   * Default 1 MiB.
   */
  maxRecordBytes?: number;
}

/** A CSV record read as an alert. */
export interface CsvAlertRow {
  /** Discriminant. */
  kind: "alert";
  /** The alert: a snapshot row (`snapshot: true`), no history, no cutout bytes. */
  alert: AlertRecord;
  /**
   * The `cutout_*` columns: paths of cutout files written earlier, to store with the alert as
   * they are (`null` = none).
   */
  cutoutPaths: CutoutPaths;
  /** 0-based data record number (the header is not counted): the cursor position. */
  index: number;
  /** 1-based physical line where the record starts (the header is line 1). */
  line: number;
}

/** A CSV record that could not be read as an alert; the records after it are still read. */
export interface CsvRejectedRow {
  /** Discriminant. */
  kind: "rejected";
  /** What was wrong, naming the file, line and column; `position` is the record index. */
  error: AlertParseError;
  /** The record's bytes as in the file, without its line ending. */
  raw: Uint8Array;
  /** 0-based data record number: the cursor position. */
  index: number;
  /** 1-based physical line where the record starts. */
  line: number;
}

/** What {@linkcode readCsvAlerts} yields for each data record. */
export type CsvRow = CsvAlertRow | CsvRejectedRow;

// Columns named as in the `alerts` table, plus the APDB reassociation time that drives the
// "updated timestamp" rule. Anything else in the header (run_id, ingested_at…) is ignored.
const _COLUMNS = [
  "dia_source_id",
  "alert_id",
  "dia_object_id",
  "ss_object_id",
  "ss_object_name",
  "object_name",
  "ss_object_reassoc_time_mjd_tai",
  "ra",
  "dec",
  "ra_err",
  "dec_err",
  "midpoint_mjd_tai",
  "band",
  "psf_flux",
  "psf_flux_err",
  "snr",
  "extendedness",
  "reliability",
  "visit",
  "detector",
  "observation_reason",
  "target_name",
  "schema_version",
  "source",
  "survey",
  "is_reassociation",
  "reassociation_reason",
  "cutout_science",
  "cutout_template",
  "cutout_difference",
  "properties",
] as const;

type _Column = typeof _COLUMNS[number];

const _REQUIRED: readonly _Column[] = ["dia_source_id", "ra", "dec", "midpoint_mjd_tai"];

const _MIN_INT64 = -(2n ** 63n);
const _MAX_INT64 = 2n ** 63n - 1n;
const _INTEGER = /^-?[0-9]+$/;
// A complete decimal token: Number() alone also accepts " 1", "0x10" and "0b1", which no table
// export writes for a float, so they are more likely a shifted or corrupted column.
const _FLOAT = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const _NAN = /^[+-]?nan$/i;
const _INFINITY = /^([+-]?)inf(?:inity)?$/i;
const _SURVEYS: readonly Survey[] = ["lsst", "ztf"];

const _QUOTE = 0x22;
const _COMMA = 0x2c;
const _LF = 0x0a;
const _CR = 0x0d;

// fatal: bad bytes reject the record instead of becoming U+FFFD in the database. ignoreBOM: the
// file's BOM is removed once, at byte level; a U+FEFF starting a later record is data.
const _DECODER = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Read a CSV table of alerts, one record at a time.
 *
 * Columns are found by header name, named like the `alerts` table columns, plus
 * `ss_object_reassoc_time_mjd_tai` (APDB/PPDB exports). `dia_source_id`, `ra`, `dec` and
 * `midpoint_mjd_tai` are required; other columns are optional and unknown ones are ignored.
 * RFC 4180 quoting, CRLF or LF line endings and a UTF-8 BOM are accepted; blank lines are
 * skipped and not counted as records. A file with no bytes (what `writeExport`
 * (storage/export_writer.ts) writes for no rows) yields nothing.
 *
 * Values: an empty unquoted field is `null`; a quoted empty field (`""`) is an empty string in
 * text columns. Ids are exact 64-bit integers (`alert_id` defaults to `dia_source_id`;
 * `dia_object_id` and `ss_object_id` 0 mean none). Floats must be complete numbers; `nan`
 * means `null`. `is_reassociation` is `0`, `1`, `true` or `false`; `survey` is `lsst` (the
 * default) or `ztf`. Every alert is a table row: `snapshot` is `true`, `history` empty and
 * cutout bytes `null`; the cutout path columns come back as `cutoutPaths`.
 *
 * A record that cannot be read (bad value, wrong field count, broken quoting, bad UTF-8) is
 * yielded as `rejected` and the next record is read. The input is read only when the next
 * record is asked for, and cancelled when the iteration stops early.
 *
 * @param input The file's bytes; the generator takes its reader.
 * @param options File name, default source and schema version, resume position.
 * @returns Each data record, in file order, as an alert or a rejection.
 * @throws {AlertParseError} When no record can be read: the header lacks a required column or
 * repeats one, the header itself is malformed, or a record exceeds `maxRecordBytes`.
 * @example
 * ```ts
 * import { readCsvAlerts } from "./csv_alerts.ts";
 * const text = "dia_source_id,ra,dec,midpoint_mjd_tai\n170587117485817955,150.1,-30.2,61000.5\n";
 * const input = new Blob([text]).stream();
 * for await (const row of readCsvAlerts(input, { stream: "night.csv" })) {
 *   if (row.kind === "alert") row.alert.diaSourceId; // 170587117485817955n
 * }
 * ```
 */
export async function* readCsvAlerts(
  input: ReadableStream<Uint8Array>,
  options: CsvAlertsOptions,
): AsyncGenerator<CsvRow, void, undefined> {
  const { stream } = options;
  const maxRecordBytes = options.maxRecordBytes ?? 1024 * 1024;
  const skipThrough = options.skipThrough ?? -1;
  const defaults: _Defaults = {
    source: options.source ?? "file",
    schemaVersion: options.schemaVersion ?? "csv",
  };
  const records = new _RecordReader(input, maxRecordBytes);
  try {
    let header: _Header | null = null;
    let index = -1;
    for (let record = await records.read(); record !== null; record = await records.read()) {
      if (record.bytes === null) {
        throw new AlertParseError(
          `Cannot import line ${record.line} of "${stream}": the record exceeds ${maxRecordBytes} bytes (an unclosed quote?)`,
          { stream, position: String(index + 1) },
        );
      }
      if (record.bytes.length === 0) continue;
      if (header === null) {
        header = _readHeader(record, stream);
        continue;
      }
      index++;
      if (index <= skipThrough) continue;
      yield _readRow(record, index, header, stream, defaults);
    }
  } finally {
    await records.close();
  }
}

interface _Defaults {
  source: string;
  schemaVersion: string;
}

/** Where each known column sits in a record (-1 = absent), and how many fields a record has. */
interface _Header {
  fields: number;
  at: Record<_Column, number>;
}

/** One record's bytes without its line ending; `bytes` is `null` when it was too long. */
interface _RawRecord {
  bytes: Uint8Array | null;
  line: number;
  /** The input ended inside a quoted field. */
  unterminated: boolean;
}

// Where the record splitter is within a record; plain numbers, compared for every byte.
const _FIELD_START = 0;
const _UNQUOTED = 1;
const _QUOTED = 2;
const _QUOTE_IN_QUOTED = 3;

/**
 * Splits the byte stream into records. `"`, `\r` and `\n` are ASCII, so they never occur inside a
 * UTF-8 multi-byte sequence and the split can run on bytes; only complete records are decoded.
 * Holds at most one record plus one chunk.
 */
class _RecordReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #limit: number;
  #buffer: Uint8Array = new Uint8Array(0);
  #start = 0;
  #line = 1;
  #ended = false;
  #bomChecked = false;

  constructor(input: ReadableStream<Uint8Array>, limit: number) {
    this.#reader = input.getReader();
    this.#limit = limit;
  }

  async read(): Promise<_RawRecord | null> {
    // A BOM split over chunks must still be recognised: wait for three bytes or the end.
    while (!this.#bomChecked) {
      if (this.#buffer.length - this.#start >= 3 || this.#ended) {
        const b = this.#buffer;
        if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) this.#start = 3;
        this.#bomChecked = true;
      } else {
        await this.#fill();
      }
    }

    let scan = this.#start;
    let state: number = _FIELD_START;
    let newlines = 0;
    while (true) {
      const buffer = this.#buffer;
      // Quoting only opens at the start of a field (RFC 4180): a stray quote inside a value
      // must not swallow the lines after it, so one bad record stays one rejected row.
      for (; scan < buffer.length; scan++) {
        const byte = buffer[scan];
        if (state === _QUOTED) {
          if (byte === _QUOTE) state = _QUOTE_IN_QUOTED;
          else if (byte === _LF) newlines++;
        } else if (byte === _LF) {
          return this.#take(scan, scan + 1, newlines, false);
        } else if (byte === _COMMA) {
          state = _FIELD_START;
        } else if (state === _FIELD_START) {
          state = byte === _QUOTE ? _QUOTED : _UNQUOTED;
        } else if (state === _QUOTE_IN_QUOTED) {
          // `""` is an escaped quote; anything else after a closing quote is bad data that
          // the field splitter reports, read up to the next comma or line end.
          state = byte === _QUOTE ? _QUOTED : _UNQUOTED;
        }
      }
      if (scan - this.#start > this.#limit) {
        return { bytes: null, line: this.#line, unterminated: false };
      }
      if (this.#ended) {
        if (this.#start >= buffer.length) return null;
        return this.#take(buffer.length, buffer.length, newlines, state === _QUOTED);
      }
      // Filling moves the unfinished record to the front of a new buffer (not at the end).
      const start = this.#start;
      await this.#fill();
      scan -= start - this.#start;
    }
  }

  async close(): Promise<void> {
    try {
      // Stops the producer (and closes a file) when the consumer stopped early; a no-op at the end.
      await this.#reader.cancel();
    } catch {
      // The input already failed, and that error has been thrown to the consumer.
    } finally {
      this.#reader.releaseLock();
    }
  }

  #take(end: number, next: number, newlines: number, unterminated: boolean): _RawRecord {
    const record: _RawRecord = {
      bytes: this.#buffer.subarray(
        this.#start,
        end > this.#start && this.#buffer[end - 1] === _CR ? end - 1 : end,
      ),
      line: this.#line,
      unterminated,
    };
    this.#line += newlines + 1;
    this.#start = next;
    return record;
  }

  /** Reads one more chunk, keeping only the unfinished record before it. */
  async #fill(): Promise<void> {
    const { done, value } = await this.#reader.read();
    if (done) {
      this.#ended = true;
      return;
    }
    const rest = this.#buffer.length - this.#start;
    if (rest === 0) {
      this.#buffer = value;
    } else {
      const joined = new Uint8Array(rest + value.length);
      joined.set(this.#buffer.subarray(this.#start));
      joined.set(value, rest);
      this.#buffer = joined;
    }
    this.#start = 0;
  }
}

function _readHeader(record: _RawRecord, stream: string): _Header {
  const fail = (detail: string): AlertParseError =>
    new AlertParseError(`Cannot import "${stream}": the header on line ${record.line} ${detail}`, {
      stream,
      position: "0",
    });
  if (record.unterminated) throw fail("has a quoted field with no closing quote");
  let text: string;
  try {
    text = _DECODER.decode(record.bytes ?? new Uint8Array(0));
  } catch {
    throw fail("is not valid UTF-8");
  }
  const fields = _splitFields(text);
  if (typeof fields === "string") throw fail(`is malformed: ${fields}`);
  // Spaces around names are a spreadsheet habit, never part of a column name.
  const names = fields.map((name) => (name ?? "").trim());

  const at = Object.fromEntries(_COLUMNS.map((c) => [c, -1])) as Record<_Column, number>;
  for (const [i, name] of names.entries()) {
    if (!Object.hasOwn(at, name)) continue;
    const column = name as _Column;
    if (at[column] !== -1) {
      throw new AlertParseError(
        `Cannot import "${stream}": column "${column}" appears twice in the header`,
        { stream, position: "0" },
      );
    }
    at[column] = i;
  }
  const missing = _REQUIRED.filter((c) => at[c] === -1);
  if (missing.length > 0) {
    throw new AlertParseError(
      `Cannot import "${stream}": the header lacks required ${
        missing.length === 1 ? "column" : "columns"
      } ${missing.map((c) => `"${c}"`).join(", ")}`,
      { stream, position: "0" },
    );
  }
  return { fields: names.length, at };
}

function _readRow(
  record: _RawRecord,
  index: number,
  header: _Header,
  stream: string,
  defaults: _Defaults,
): CsvRow {
  const bytes = record.bytes ?? new Uint8Array(0);
  const reject = (detail: string): CsvRejectedRow => ({
    kind: "rejected",
    error: new AlertParseError(
      `Cannot import line ${record.line} of "${stream}": ${detail}`,
      { stream, position: String(index) },
    ),
    // A copy: the view would keep the whole input chunk alive while the row waits in a batch.
    raw: bytes.slice(),
    index,
    line: record.line,
  });

  if (record.unterminated) return reject("a quoted field has no closing quote");
  let text: string;
  try {
    text = _DECODER.decode(bytes);
  } catch {
    return reject("the record is not valid UTF-8");
  }
  const fields = _splitFields(text);
  if (typeof fields === "string") return reject(fields);
  if (fields.length !== header.fields) {
    return reject(`expected ${header.fields} fields as in the header, found ${fields.length}`);
  }
  try {
    const { alert, cutoutPaths } = _toAlert(new _Fields(fields, header), defaults);
    return { kind: "alert", alert, cutoutPaths, index, line: record.line };
  } catch (error) {
    if (error instanceof _ValueError) return reject(error.message);
    throw error;
  }
}

/**
 * Splits one decoded record into fields (RFC 4180). An unquoted empty field is `null`, a quoted
 * one `""`, so an empty string survives an export and re-import.
 *
 * @returns The fields, or what is wrong with the quoting.
 */
function _splitFields(text: string): (string | null)[] | string {
  const fields: (string | null)[] = [];
  let i = 0;
  while (true) {
    const number = fields.length + 1;
    let end: number;
    if (text.charCodeAt(i) === _QUOTE) {
      let value = "";
      let from = i + 1;
      while (true) {
        const quote = text.indexOf('"', from);
        if (quote === -1) return `field ${number} has no closing quote`;
        value += text.slice(from, quote);
        if (text.charCodeAt(quote + 1) !== _QUOTE) {
          end = quote + 1;
          break;
        }
        value += '"';
        from = quote + 2;
      }
      if (end < text.length && text[end] !== ",") {
        return `field ${number} has text after its closing quote`;
      }
      fields.push(value);
    } else {
      const comma = text.indexOf(",", i);
      end = comma === -1 ? text.length : comma;
      const value = text.slice(i, end);
      if (value.includes('"')) return `field ${number} has a quote but is not quoted`;
      fields.push(value === "" ? null : value);
    }
    if (end >= text.length) return fields;
    i = end + 1;
  }
}

/** A bad value; becomes a rejected row. */
class _ValueError extends Error {}

/** A record's fields by column name. */
class _Fields {
  #fields: (string | null)[];
  #header: _Header;

  constructor(fields: (string | null)[], header: _Header) {
    this.#fields = fields;
    this.#header = header;
  }

  /** The field as written: `null` when the column is absent or the field is unquoted empty. */
  text(column: _Column): string | null {
    const at = this.#header.at[column];
    return at === -1 ? null : this.#fields[at] ?? null;
  }

  /** The field when it holds anything; numbers, flags and enums have no empty-string value. */
  value(column: _Column): string | null {
    const text = this.text(column);
    return text === "" ? null : text;
  }
}

function _toAlert(
  f: _Fields,
  defaults: _Defaults,
): { alert: AlertRecord; cutoutPaths: CutoutPaths } {
  const diaSourceId = _required(f, "dia_source_id", _int64);
  const alert: AlertRecord = {
    diaSourceId,
    alertId: _int64(f, "alert_id") ?? diaSourceId,
    diaObjectId: associationId(_int64(f, "dia_object_id")),
    ssObjectId: associationId(_int64(f, "ss_object_id")),
    ssObjectName: f.text("ss_object_name"),
    objectName: f.text("object_name"),
    ssObjectReassocTimeMjdTai: _float(f, "ss_object_reassoc_time_mjd_tai"),
    ra: _required(f, "ra", _finite),
    dec: _required(f, "dec", _finite),
    raErr: _float(f, "ra_err"),
    decErr: _float(f, "dec_err"),
    midpointMjdTai: _required(f, "midpoint_mjd_tai", _finite),
    band: f.text("band"),
    psfFlux: _float(f, "psf_flux"),
    psfFluxErr: _float(f, "psf_flux_err"),
    snr: _float(f, "snr"),
    extendedness: _float(f, "extendedness"),
    reliability: _float(f, "reliability"),
    visit: _int64(f, "visit"),
    detector: _integer(f, "detector"),
    observationReason: f.text("observation_reason"),
    targetName: f.text("target_name"),
    schemaVersion: f.text("schema_version") ?? defaults.schemaVersion,
    source: f.text("source") ?? defaults.source,
    survey: _survey(f),
    history: [],
    properties: _json(f, "properties"),
    snapshot: true,
    cutoutScience: null,
    cutoutTemplate: null,
    cutoutDifference: null,
    isReassociation: _flag(f, "is_reassociation"),
    reassociationReason: _reason(f),
    reassociations: [],
  };
  const cutoutPaths: CutoutPaths = {
    science: f.text("cutout_science"),
    template: f.text("cutout_template"),
    difference: f.text("cutout_difference"),
  };
  return { alert, cutoutPaths };
}

function _required<T>(f: _Fields, column: _Column, read: (f: _Fields, c: _Column) => T | null): T {
  const value = read(f, column);
  if (value === null) throw new _ValueError(`column "${column}" is empty`);
  return value;
}

function _int64(f: _Fields, column: _Column): bigint | null {
  const text = f.value(column);
  if (text === null) return null;
  if (_INTEGER.test(text)) {
    const value = BigInt(text);
    if (value >= _MIN_INT64 && value <= _MAX_INT64) return value;
  }
  throw _invalid(column, "a 64-bit integer", text);
}

function _integer(f: _Fields, column: _Column): number | null {
  const text = f.value(column);
  if (text === null) return null;
  const value = Number(text);
  if (_INTEGER.test(text) && Number.isSafeInteger(value)) return value;
  throw _invalid(column, "an integer", text);
}

function _float(f: _Fields, column: _Column): number | null {
  const text = f.value(column);
  if (text === null || _NAN.test(text)) return null;
  if (_FLOAT.test(text)) return Number(text);
  const infinity = _INFINITY.exec(text);
  if (infinity !== null) return infinity[1] === "-" ? -Infinity : Infinity;
  throw _invalid(column, "a number", text);
}

// Kept as text, so its 64-bit integers stay exact; only checked to be a JSON object.
function _json(f: _Fields, column: _Column): string | null {
  const text = f.value(column);
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw _invalid(column, "a JSON object", text);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw _invalid(column, "a JSON object", text);
  }
  return text;
}

function _finite(f: _Fields, column: _Column): number | null {
  const text = f.value(column);
  if (text === null) return null;
  const value = _float(f, column);
  if (value !== null && Number.isFinite(value)) return value;
  throw _invalid(column, "a finite number", text);
}

function _flag(f: _Fields, column: _Column): boolean {
  const text = f.value(column);
  if (text === null) return false;
  switch (text.toLowerCase()) {
    case "1":
    case "true":
      return true;
    case "0":
    case "false":
      return false;
  }
  throw _invalid(column, "0, 1, true or false", text);
}

function _reason(f: _Fields): ReassociationReason | null {
  const text = f.value("reassociation_reason");
  if (text === null) return null;
  if ((REASSOCIATION_REASONS as readonly string[]).includes(text)) {
    return text as ReassociationReason;
  }
  throw _invalid("reassociation_reason", `one of ${REASSOCIATION_REASONS.join(", ")}`, text);
}

function _survey(f: _Fields): Survey {
  const text = f.text("survey");
  if (text === null) return "lsst";
  if ((_SURVEYS as readonly string[]).includes(text)) return text as Survey;
  throw _invalid("survey", "lsst or ztf", text);
}

function _invalid(column: _Column, expected: string, text: string): _ValueError {
  const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return new _ValueError(`column "${column}" is not ${expected}: "${shown}"`);
}
