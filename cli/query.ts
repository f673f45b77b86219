// deno-lint-ignore-file no-console
/**
 * `lsst-extendedness query "SQL"`: the user's own SQL on a read-only connection.
 *
 * @module
 */

import { queryReadOnly, UsageError, writeExport } from "../mod.ts";
import { type Command, COMMON, type Flags, integer, text } from "./_flags.ts";
import { table } from "./_output.ts";
import { databasePath } from "./_storage.ts";

/** The query command: a table of the first rows, or every row as JSON or CSV. */
export const queryCommand: Command = {
  options: { ...COMMON, format: { type: "string" }, limit: { type: "string" } },
  positionals: 1,
  run: _query,
};

async function _query(flags: Flags, positionals: readonly string[]): Promise<number> {
  const sql = positionals[0];
  if (sql === undefined || sql.trim() === "") {
    throw new UsageError('query needs one SQL statement: lsst-extendedness query "SELECT …"');
  }
  const format = text(flags, "format") ?? (flags.json ? "json" : "table");
  if (format !== "table" && format !== "json" && format !== "csv") {
    throw new UsageError(`Unknown query format "${format}": expected table, json or csv`);
  }
  const rows = queryReadOnly(databasePath(flags), sql);
  if (format !== "table") {
    await writeExport(rows, Deno.stdout.writable, { format, preventClose: true });
    return 0;
  }
  const limit = integer(flags, "limit", 100, 1);
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

function _cell(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  return String(value);
}
