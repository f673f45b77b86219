// deno-lint-ignore-file no-console
/**
 * `lsst-extendedness export`: alerts, or reassociation detections, as CSV or JSON.
 *
 * @module
 */

import { UsageError, writeExport } from "../mod.ts";
import { type Command, COMMON, type Flags, text } from "./_flags.ts";
import { formatCount } from "./_output.ts";
import { withStorage } from "./_storage.ts";

/** The export command: to stdout, or to a file that appears only once it is complete. */
export const exportCommand: Command = {
  options: {
    ...COMMON,
    format: { type: "string" },
    out: { type: "string" },
    "since-mjd": { type: "string" },
    reassociations: { type: "boolean" },
  },
  positionals: 0,
  run: _export,
};

async function _export(flags: Flags): Promise<number> {
  const format = text(flags, "format") ?? "csv";
  if (format !== "csv" && format !== "json") {
    throw new UsageError(`Unknown export format "${format}": expected csv or json`);
  }
  const sinceText = text(flags, "since-mjd");
  const sinceMjd = sinceText === undefined ? undefined : Number(sinceText);
  if (sinceMjd !== undefined && !Number.isFinite(sinceMjd)) {
    throw new UsageError(`Option --since-mjd needs an MJD: "${sinceText}"`);
  }
  const out = text(flags, "out");
  return await withStorage(flags, async (storage) => {
    await storage.initialize();
    const rows = storage.iterateRows(
      flags.reassociations ? "reassociations" : "alerts",
      sinceMjd === undefined ? {} : { sinceMjd },
    );
    let written: number;
    if (out === undefined) {
      written = await writeExport(rows, Deno.stdout.writable, { format, preventClose: true });
    } else {
      // A temporary name, renamed when complete: a failed export never leaves half a file.
      const temp = `${out}.part`;
      const file = await Deno.open(temp, { write: true, create: true, truncate: true });
      try {
        written = await writeExport(rows, file.writable, { format });
      } catch (error) {
        await Deno.remove(temp).catch(() => {});
        throw error;
      }
      await Deno.rename(temp, out);
    }
    if (out !== undefined && !flags.json) {
      console.error(`Wrote ${formatCount(written)} rows to ${out}`);
    }
    return 0;
  });
}
