// deno-lint-ignore-file no-console
/**
 * `lsst-extendedness export`: alerts, reassociation detections, processed sources or ingestion
 * runs as CSV, JSON or Parquet.
 *
 * @module
 */

import { type ExportTable, UsageError, writeExport, writeParquetExport } from "../mod.ts";
import { type Command, COMMON, type Flags, text } from "./_flags.ts";
import { formatCount, writeCompleteFile } from "./_output.ts";
import { withStorage } from "./_storage.ts";

/** The export command: to stdout, or to a file that appears only once it is complete. */
export const exportCommand: Command = {
  options: {
    ...COMMON,
    format: { type: "string" },
    out: { type: "string" },
    table: { type: "string" },
    "since-mjd": { type: "string" },
    reassociations: { type: "boolean" },
  },
  positionals: 0,
  run: _export,
};

// --table names as users type them, and the table each one reads.
const _TABLES: Readonly<Record<string, ExportTable>> = {
  alerts: "alerts",
  reassociations: "reassociations",
  "processed-sources": "processed_sources",
  runs: "ingestion_runs",
};

async function _export(flags: Flags): Promise<number> {
  const format = text(flags, "format") ?? "csv";
  if (format !== "csv" && format !== "json" && format !== "parquet") {
    throw new UsageError(`Unknown export format "${format}": expected csv, json or parquet`);
  }
  const table = _table(flags);
  const sinceText = text(flags, "since-mjd");
  const sinceMjd = sinceText === undefined ? undefined : Number(sinceText);
  if (sinceMjd !== undefined && !Number.isFinite(sinceMjd)) {
    throw new UsageError(`Option --since-mjd needs an MJD: "${sinceText}"`);
  }
  if (sinceMjd !== undefined && table === "ingestion_runs") {
    throw new UsageError("Option --since-mjd does not apply to --table runs: runs have no MJD");
  }
  const out = text(flags, "out");
  if (format === "parquet" && out === undefined) {
    // A Parquet file is binary and ends with its footer: no use on a terminal or in a pipe.
    throw new UsageError("Export format parquet needs --out FILE: it is not written to stdout");
  }
  return await withStorage(flags, async (storage) => {
    await storage.initialize();
    const rows = storage.iterateRows(table, sinceMjd === undefined ? {} : { sinceMjd });
    let written: number;
    if (out === undefined) {
      written = await writeExport(rows, Deno.stdout.writable, {
        format: format as "csv" | "json",
        preventClose: true,
      });
    } else {
      written = await writeCompleteFile(
        out,
        (writable) =>
          format === "parquet"
            ? writeParquetExport(rows, writable, { table })
            : writeExport(rows, writable, { format }),
      );
    }
    if (out !== undefined && !flags.json) {
      console.error(`Wrote ${formatCount(written)} rows to ${out}`);
    }
    return 0;
  });
}

// --table, or the older --reassociations; both given must agree.
function _table(flags: Flags): ExportTable {
  const name = text(flags, "table");
  if (name === undefined) return flags.reassociations ? "reassociations" : "alerts";
  const table = _TABLES[name];
  if (table === undefined) {
    throw new UsageError(
      `Unknown export table "${name}": expected alerts, reassociations, processed-sources or runs`,
    );
  }
  if (flags.reassociations && table !== "reassociations") {
    throw new UsageError(`Option --reassociations contradicts --table "${name}"`);
  }
  return table;
}
