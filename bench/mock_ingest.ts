// deno-lint-ignore-file no-console
/**
 * One benchmark case in a fresh process: N mock alerts into a new SQLite file, with or without
 * cutouts. Prints one JSON line.
 *
 * deno run --allow-read --allow-write --allow-env --allow-run bench/mock_ingest.ts <count>
 * <cutouts 0|1> <dir>
 *
 * The ingest runs in a child process with the V8 flags of `deno task ingest` (see
 * `_ingest_flags.ts`): its speed and peak memory are those of the ingest as users run it.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CutoutProcessor, ingest, MockSource, SQLiteStorage } from "../mod.ts";
import { samplePeakMemory } from "./_measure.ts";
import { ingestV8Flags } from "./_ingest_flags.ts";

if (Deno.args[0] !== "--child") {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", ...ingestV8Flags()]
      .concat([fileURLToPath(import.meta.url), "--child", ...Deno.args]),
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  Deno.exit(out.code);
}

const [countText = "100000", cutoutsText = "0", dir = await Deno.makeTempDir()] = Deno.args
  .slice(1);
const count = Number(countText);
const withCutouts = cutoutsText === "1";

const memory = samplePeakMemory();
await using storage = new SQLiteStorage(join(dir, "bench.db"));
await using source = new MockSource({ count, seed: 7, cutouts: withCutouts });
const started = performance.now();
const run = await ingest(source, storage, {
  batchSize: 1000,
  cutouts: withCutouts ? new CutoutProcessor({ outputDir: join(dir, "cutouts") }) : null,
});
const seconds = (performance.now() - started) / 1000;
const peakRssMb = memory.stop();
const stats = await storage.stats();
console.log(JSON.stringify({
  case: `mock→sqlite ${withCutouts ? "with" : "without"} cutouts`,
  alerts: run.alertsIngested,
  seconds: Math.round(seconds * 100) / 100,
  alerts_per_s: Math.round(run.alertsIngested / seconds),
  peak_rss_mb: peakRssMb,
  processed_sources: stats.rows.processed_sources,
  reassociations: stats.rows.reassociations,
  db_mb: Math.round((stats.sizeBytes ?? 0) / 1e5) / 10,
}));
