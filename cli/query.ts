// deno-lint-ignore-file no-console
/**
 * `lsst-extendedness query "SQL"`: the user's own SQL on a read-only connection;
 * `query --select NAME`: a named science selection; `query --list`: the selections and their SQL.
 *
 * @module
 */

import {
  findScienceSelection,
  queryReadOnly,
  SCIENCE_SELECTIONS,
  type ScienceSelection,
  selectAlerts,
  type SelectAlertsOptions,
  UsageError,
  writeExport,
  writeParquetExport,
} from "../mod.ts";
import { type Command, COMMON, type Flags, integer, text } from "./_flags.ts";
import { formatCount, print, table, writeCompleteFile } from "./_output.ts";
import { databasePath } from "./_storage.ts";

/** The query command: a table of the first rows, or every row as JSON or CSV. */
export const queryCommand: Command = {
  options: {
    ...COMMON,
    format: { type: "string" },
    limit: { type: "string" },
    select: { type: "string" },
    list: { type: "boolean" },
    days: { type: "string" },
    "since-mjd": { type: "string" },
    out: { type: "string" },
  },
  positionals: 1,
  run: _query,
};

// Rows a table shows when --limit is not given: a terminal, not an export.
const TABLE_ROWS = 100;

async function _query(flags: Flags, positionals: readonly string[]): Promise<number> {
  if (flags.list) {
    if (flags.select !== undefined || positionals.length > 0) {
      throw new UsageError("query --list takes neither --select nor SQL");
    }
    return _list(flags);
  }
  const name = text(flags, "select");
  if (name !== undefined) return await _select(flags, name, positionals[0]);
  for (const option of ["days", "since-mjd"]) {
    if (flags[option] !== undefined) {
      throw new UsageError(`Option --${option} goes with --select: query --select NAME`);
    }
  }
  const sql = positionals[0];
  if (sql === undefined || sql.trim() === "") {
    throw new UsageError(
      'query needs one SQL statement or a selection: lsst-extendedness query "SELECT …", or query --select NAME (query --list shows them)',
    );
  }
  const format = _format(flags);
  if (format === "parquet") {
    throw new UsageError(
      "Query format parquet is for --select: a statement's columns have no declared types",
    );
  }
  const rows = queryReadOnly(databasePath(flags), sql);
  if (format !== "table") {
    await writeExport(rows, Deno.stdout.writable, { format, preventClose: true });
    return 0;
  }
  return await _table(rows, integer(flags, "limit", TABLE_ROWS, 1));
}

function _format(flags: Flags): "table" | "json" | "csv" | "parquet" {
  const format = text(flags, "format") ?? (flags.json ? "json" : "table");
  if (format !== "table" && format !== "json" && format !== "csv" && format !== "parquet") {
    throw new UsageError(`Unknown query format "${format}": expected table, json, csv or parquet`);
  }
  return format;
}

async function _select(flags: Flags, name: string, id: string | undefined): Promise<number> {
  let selection: ScienceSelection;
  try {
    selection = findScienceSelection(name);
  } catch (error) {
    throw new UsageError((error as Error).message, { cause: error });
  }
  const format = _format(flags);
  const out = text(flags, "out");
  if ((format === "parquet") !== (out !== undefined)) {
    throw new UsageError(
      format === "parquet"
        ? "Query format parquet needs --out FILE: it is not written to stdout"
        : "Option --out is for --format parquet",
    );
  }
  const options: SelectAlertsOptions = {};
  if (selection.parameter === "id") {
    if (id === undefined) {
      throw new UsageError(`Selection "${name}" needs an id: query --select ${name} ID`);
    }
    if (!/^\d+$/.test(id)) {
      throw new UsageError(`Selection "${name}" needs a numeric id: "${id}"`);
    }
    options.id = BigInt(id);
  } else if (id !== undefined) {
    throw new UsageError(`Selection "${name}" takes no id: "${id}"`);
  }
  const days = text(flags, "days");
  if (selection.parameter === "days") {
    if (days === undefined) {
      throw new UsageError(`Selection "${name}" needs --days N: query --select ${name} --days 1`);
    }
    const number = Number(days);
    if (!Number.isFinite(number) || number <= 0) {
      throw new UsageError(`Option --days needs a number of days above 0: "${days}"`);
    }
    options.days = number;
  } else if (days !== undefined) {
    throw new UsageError(`Selection "${name}" takes no --days: "${days}"`);
  }
  const since = text(flags, "since-mjd");
  if (since !== undefined) {
    const sinceMjd = Number(since);
    if (!Number.isFinite(sinceMjd)) {
      throw new UsageError(`Option --since-mjd needs an MJD: "${since}"`);
    }
    options.sinceMjd = sinceMjd;
  }
  const limit = flags.limit === undefined ? undefined : integer(flags, "limit", 1, 1);
  const shown = format === "table" ? limit ?? TABLE_ROWS : limit;
  // One row more than a table shows tells it whether to say there are more.
  if (shown !== undefined) options.limit = format === "table" ? shown + 1 : shown;
  let rows: AsyncGenerator<Record<string, unknown>, void, undefined>;
  try {
    rows = selectAlerts(databasePath(flags), name, options);
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message, { cause: error });
    throw error;
  }
  if (format === "parquet") {
    const written = await writeCompleteFile(
      out as string,
      (writable) =>
        writeParquetExport(rows, writable, {
          columns: { name: selection.name, kinds: selection.columns },
        }),
    );
    if (!flags.json) console.error(`Wrote ${formatCount(written)} rows to ${out}`);
    return 0;
  }
  if (format !== "table") {
    await writeExport(rows, Deno.stdout.writable, { format, preventClose: true });
    return 0;
  }
  return await _table(rows, shown ?? TABLE_ROWS);
}

async function _table(
  rows: AsyncIterable<Record<string, unknown>>,
  limit: number,
): Promise<number> {
  const shown: Array<Record<string, unknown>> = [];
  let more = false;
  for await (const row of rows) {
    if (shown.length === limit) {
      more = true;
      break;
    }
    shown.push(row);
  }
  const header = Object.keys(shown[0] ?? {});
  console.log(
    shown.length === 0 ? "No rows" : table(
      header,
      shown.map((row) => header.map((key) => _cell(row[key]))),
    ),
  );
  if (more) {
    console.log(`(only the first ${limit} rows; --limit N, --json or --format csv for more)`);
  }
  return 0;
}

function _list(flags: Flags): number {
  print(flags, SCIENCE_SELECTIONS, () =>
    SCIENCE_SELECTIONS.map((s) => {
      const usage = s.parameter === "id"
        ? `${s.name} ID`
        : s.parameter === "days"
        ? `${s.name} --days N`
        : s.name;
      const sql = s.sql.split("\n").map((line) => `    ${line}`).join("\n");
      return `${usage}\n${_wrap(s.description, "  ")}\n${sql}`;
    }).join("\n\n"));
  return 0;
}

// Descriptions are one long sentence: wrapped, they read in an 100-column terminal.
function _wrap(words: string, indent: string, width = 96): string {
  const lines: string[] = [];
  let line = "";
  for (const word of words.split(" ")) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(indent + line);
  return lines.join("\n");
}

function _cell(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  return String(value);
}
