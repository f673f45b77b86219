// deno-lint-ignore-file no-console
/**
 * `deno task bench parquet [--json]`: `export --format parquet` of N alerts (default 1,000,000)
 * as users run it, against a CSV export of the same rows in the same run for reference: rows per
 * second, peak resident memory and file size of each.
 *
 * deno run -A bench/parquet_export.ts [--count N (default 1000000)] [--dir DIR] [--json]
 * (from bench.ts: `<count> <shared dir> <work dir>`, one JSON line on stdout)
 *
 * The database is built by the CLI in a child process with the ingest task's V8 flags: N mock
 * alerts without cutouts (seed 42). Each export is `cli.ts export --table alerts` in a child
 * process of its own, with the same V8 flags (`deno task cli` has them too), started by a small
 * python3 wrapper that times it and reads its peak RSS from `getrusage(RUSAGE_CHILDREN)`: the
 * kernel's exact high-water mark, not a sample. Parquet row groups are the default 100,000 rows.
 * Files made here are removed at the end.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ingestV8Flags } from "./_ingest_flags.ts";
import { loadAverage } from "./_measure.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];
// Runs argv[1:] with its stdout discarded; prints its exit status, wall time and peak RSS (KiB on
// Linux) as JSON.
const MEASURE = `
import json, resource, subprocess, sys, time
started = time.perf_counter()
status = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"status": status, "seconds": seconds, "peak_kib": peak}))
`;

interface Measured {
  seconds: number;
  peakRssMb: number;
  fileMb: number;
}

const { values: flags, positionals } = parseArgs({
  args: Deno.args,
  options: { count: { type: "string" }, dir: { type: "string" }, json: { type: "boolean" } },
  allowPositionals: true,
});
// Run by bench.ts: positionals, one JSON line for it to collect.
const fromRunner = positionals.length > 0;
const count = Number(flags.count ?? positionals[0] ?? "1000000");
if (!Number.isSafeInteger(count) || count < 1) {
  console.error(`Option --count needs a positive whole number: "${flags.count}"`);
  Deno.exit(2);
}
const madeDir = flags.dir === undefined && positionals[2] === undefined;
const dir = flags.dir ?? positionals[2] ?? await Deno.makeTempDir({ prefix: "lsst-bench-pq-" });
await Deno.mkdir(dir, { recursive: true });
const db = join(dir, "parquet-bench.db");
const made = [db, `${db}-wal`, `${db}-shm`, join(dir, "alerts.parquet"), join(dir, "alerts.csv")];

let failed = false;
try {
  const loadBefore = await loadAverage();
  console.error(`Ingesting ${count} mock alerts without cutouts into ${db}`);
  const ingestStarted = performance.now();
  await _run([...ingestV8Flags(), CLI, "ingest", "--source", "mock", "--seed", "42"]
    .concat(["--count", String(count), "--no-cutouts", "--db", db, "--quiet"]));
  const ingestSeconds = (performance.now() - ingestStarted) / 1000;

  const parquet = await _export("parquet", join(dir, "alerts.parquet"));
  const csv = await _export("csv", join(dir, "alerts.csv"));
  const rate = (m: Measured) => Math.round(count / m.seconds);
  const figures = {
    case: "export of mock alerts (no cutouts): Parquet, and CSV of the same rows",
    date: new Date().toISOString(),
    alerts: count,
    ingest_seconds: _round(ingestSeconds),
    parquet_seconds: _round(parquet.seconds),
    parquet_rows_per_s: rate(parquet),
    parquet_peak_rss_mb: parquet.peakRssMb,
    parquet_file_mb: parquet.fileMb,
    csv_seconds: _round(csv.seconds),
    csv_rows_per_s: rate(csv),
    csv_peak_rss_mb: csv.peakRssMb,
    csv_file_mb: csv.fileMb,
    parquet_size_vs_csv: _round(parquet.fileMb / csv.fileMb),
    row_group_rows: 100_000,
    cores: navigator.hardwareConcurrency,
    load_before: loadBefore,
    load_after: await loadAverage(),
  };
  if (fromRunner || flags.json) console.log(JSON.stringify(figures));
  else console.log(Object.entries(figures).map(([k, v]) => `${k}=${v}`).join("\n"));
} catch (error) {
  console.error(`error: ${(error as Error).message}`);
  failed = true;
} finally {
  for (const path of made) await Deno.remove(path).catch(() => {});
  if (madeDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
}
if (failed) Deno.exit(1);

/** One `cli.ts export` of every alert, timed and measured in its own process. */
async function _export(format: "parquet" | "csv", out: string): Promise<Measured> {
  // Dirty pages of the previous step must not be written back during this one.
  await new Deno.Command("sync").output();
  console.error(`Exporting ${count} alerts as ${format} to ${out}`);
  // With the V8 flags of `deno task cli` (the ingest task's), as users run it.
  const args = [MEASURE, Deno.execPath(), "run", ...PERMISSIONS, ...ingestV8Flags(), CLI];
  const output = await new Deno.Command("python3", {
    args: [
      "-c",
      ...args,
      "export",
      "--db",
      db,
      "--format",
      format,
      "--out",
      out,
      "--table",
      "alerts",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error("Cannot run python3, which measures the export");
  const result = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    status: number;
    seconds: number;
    peak_kib: number;
  };
  if (result.status !== 0) throw new Error(`Export as ${format} exited with ${result.status}`);
  return {
    seconds: result.seconds,
    peakRssMb: _round(result.peak_kib * 1024 / 1e6),
    fileMb: _round((await Deno.stat(out)).size / 1e6),
  };
}

async function _run(args: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, ...args],
    // Only the figures go to stdout (bench.ts reads it).
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`Command failed: ${args.slice(-8).join(" ")}`);
}

function _round(value: number): number {
  return Math.round(value * 100) / 100;
}
