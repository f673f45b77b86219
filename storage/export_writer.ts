/**
 * Write table rows (from `Storage.iterateRows`) as CSV or JSON, streaming: rows are
 * pulled one at a time and written in small chunks, so an export of any size runs in constant
 * memory.
 *
 * @module
 */

import { stringifyExact } from "../model/exact_json.ts";

/** Formats {@linkcode writeExport} writes. */
export type ExportFormat = "csv" | "json";

/** Options of {@linkcode writeExport}. */
export interface WriteExportOptions {
  /** `csv` (RFC 4180, CRLF line endings, a header line) or `json` (an array, one row a line). */
  format: ExportFormat;
  /**
   * Leave `out` open when done or failed, for a stream the caller keeps using (stdout).
   * Default `false`: `out` is closed after the last row, or aborted when writing fails.
   */
  preventClose?: boolean;
}

// Big enough that per-write overhead vanishes, small enough to stay a rounding error in memory.
const _FLUSH_CHARS = 64 * 1024;
const _NEEDS_QUOTES = /[",\r\n]/;

/**
 * Write rows as CSV or JSON, one row at a time, waiting for `out` to accept each chunk so a slow
 * destination slows the reading instead of filling memory.
 *
 * CSV: the header is the first row's keys (the table's columns, in order); later rows are
 * written by those keys. `bigint` ids are written exactly, numbers as `String(n)` (which reads
 * back to the same double; `-0` as `-0`), `null` as an empty field and an empty string as `""`,
 * so `readCsvAlerts` (sources/csv_alerts.ts) gets back the same values. Fields with a
 * comma, quote or line break are quoted. No rows write nothing at all (there are no columns to
 * name), and `readCsvAlerts` reads such an empty file as no rows.
 *
 * JSON: an array with one object per line (`[]` for no rows); `bigint` ids are exact integer
 * literals, so read them with a parser that keeps big integers.
 *
 * @param rows The rows, such as `storage.iterateRows("alerts")`.
 * @param out Where the bytes go; closed when done unless `preventClose`.
 * @param options Format, and whether to leave `out` open.
 * @returns How many rows were written.
 * @throws {TypeError} When a CSV value is not a string, number, bigint, boolean or null.
 * @example
 * ```ts
 * import { writeExport } from "./export_writer.ts";
 * async function* rows() {
 *   yield { dia_source_id: 170587117485817955n, band: "r" };
 * }
 * const file = await Deno.open("alerts.csv", { write: true, create: true, truncate: true });
 * await writeExport(rows(), file.writable, { format: "csv" }); // 1
 * ```
 */
export async function writeExport(
  rows: AsyncIterable<Record<string, unknown>>,
  out: WritableStream<Uint8Array>,
  options: WriteExportOptions,
): Promise<number> {
  const writer = out.getWriter();
  const encoder = new TextEncoder();
  const preventClose = options.preventClose ?? false;
  let pending = "";
  let count = 0;
  const flush = async (): Promise<void> => {
    if (pending === "") return;
    const chunk = encoder.encode(pending);
    pending = "";
    await writer.write(chunk);
  };

  try {
    if (options.format === "csv") {
      let columns: string[] | null = null;
      for await (const row of rows) {
        if (columns === null) {
          columns = Object.keys(row);
          pending += columns.map(_quote).join(",") + "\r\n";
        }
        const names = columns;
        pending += names.map((name) => _csvField(row[name], name, count)).join(",") + "\r\n";
        count++;
        if (pending.length >= _FLUSH_CHARS) await flush();
      }
    } else {
      pending = "[";
      for await (const row of rows) {
        pending += (count === 0 ? "\n" : ",\n") + stringifyExact(row);
        count++;
        if (pending.length >= _FLUSH_CHARS) await flush();
      }
      pending += count === 0 ? "]\n" : "\n]\n";
    }
    await flush();
    if (!preventClose) await writer.close();
    return count;
  } catch (error) {
    // Aborting closes a file handle that would otherwise stay open after the failure.
    if (!preventClose) await writer.abort(error).catch(() => {});
    throw error;
  } finally {
    writer.releaseLock();
  }
}

function _csvField(value: unknown, column: string, row: number): string {
  if (value === null || value === undefined) return "";
  switch (typeof value) {
    case "string":
      return _quote(value);
    case "bigint":
      return value.toString();
    case "number":
      // String(-0) is "0": keep the sign so the value reads back identical.
      return Object.is(value, -0) ? "-0" : String(value);
    case "boolean":
      return value ? "true" : "false";
  }
  throw new TypeError(
    `Cannot write column "${column}" of row ${row} as CSV: unsupported value of type ${
      value instanceof Uint8Array ? "bytes" : typeof value
    }`,
  );
}

// An empty string is quoted so it stays distinct from null, which is written as nothing.
function _quote(text: string): string {
  if (text !== "" && !_NEEDS_QUOTES.test(text)) return text;
  return `"${text.replaceAll('"', '""')}"`;
}
