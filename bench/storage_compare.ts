// deno-lint-ignore-file no-console
/**
 * The two storages on the same alerts, measured in one run:
 *
 * - batch writes: N mock alerts (no cutouts) into a new SQLite file, then into a new PostgreSQL
 *   database, in this process;
 * - heavy histories: the decode suite's real heavy-history Rubin alerts (see decode.ts: 3,000
 *   alerts of ~350 history entries, as new DIASources and re-observed), from their Avro
 *   container into a new SQLite file and into a new PostgreSQL database, each ingest in a
 *   process of its own as `deno task ingest` runs it, with its peak memory; PostgreSQL's rate
 *   beside SQLite's measured in the same run.
 *
 * Prints one JSON line per measurement.
 *
 * deno run … bench/storage_compare.ts <count> <shared> <case dir>   (needs LSST_TEST_POSTGRES_URL,
 * and the shared fixtures for the heavy inputs, which it builds in <shared> unless there)
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { ingest, MockSource, openStorage } from "../mod.ts";
import { samplePeakMemory } from "./_measure.ts";
import { ingestV8Flags } from "./_ingest_flags.ts";
import { runStep } from "./_child.ts";
import { settleDisk } from "./_settle.ts";

const [countText = "100000", shared = ".", dir = "."] = Deno.args;
const count = Number(countText);
const server = Deno.env.get("LSST_TEST_POSTGRES_URL");
if (server === undefined) throw new Error("LSST_TEST_POSTGRES_URL is not set");
// The decode suite's inputs and size, so that one build serves both suites.
const HEAVY_ALERTS = 3000;
const HEAVY_INPUTS = [
  ["heavy", "real heavy-history alerts, new DIASources"],
  ["heavy_reobserve", "real heavy-history alerts, re-observed"],
] as const;
const decodeScript = fileURLToPath(new URL("decode.ts", import.meta.url));
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];

const admin = postgres(server, { max: 1, onnotice: () => {} });
const created: string[] = [];
// A new database on the server, dropped at the end.
async function newDatabase(): Promise<string> {
  const name = `bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  created.push(name);
  const url = new URL(server as string);
  url.pathname = `/${name}`;
  return url.toString();
}

function child(args: string[]): Promise<string> {
  return runStep(PERMISSIONS, args);
}

try {
  const cases: Array<[string, string]> = [
    ["sqlite", join(dir, "bench.db")],
    ["postgresql", await newDatabase()],
  ];
  for (const [label, location] of cases) {
    // Each measurement on a settled disk: not during the writeback of the one before.
    const settled = await settleDisk();
    const memory = samplePeakMemory();
    const started = performance.now();
    await using storage = openStorage(location);
    const run = await ingest(new MockSource({ count, seed: 7, cutouts: false }), storage, {
      batchSize: 1000,
    });
    const seconds = (performance.now() - started) / 1000;
    const stats = await storage.stats();
    const rows = Object.values(stats.rows).reduce((a, b) => a + b, 0);
    console.log(JSON.stringify({
      case: `mock→${label}, batches of 1,000`,
      alerts: run.alertsIngested,
      seconds: Math.round(seconds * 100) / 100,
      alerts_per_s: Math.round(run.alertsIngested / seconds),
      rows_written: rows,
      peak_rss_mb: memory.stop(),
      disk_settled: settled,
    }));
  }

  // Builds the inputs unless the shared folder has them.
  await child([decodeScript, "--build", String(HEAVY_ALERTS), shared]);
  for (const [key, what] of HEAVY_INPUTS) {
    // Named as decode.ts names its inputs.
    const input = join(shared, `${key.replace("_", "-")}-v10-${HEAVY_ALERTS}.avro`);
    const ingestInto = async (location: string) => {
      const settled = await settleDisk();
      return {
        ...JSON.parse(
          await child([
            ...ingestV8Flags(),
            decodeScript,
            "--ingest",
            input,
            String(HEAVY_ALERTS),
            location,
          ]),
        ) as { alerts_per_s: number; rss: number },
        settled,
      };
    };
    const lite = await ingestInto(join(dir, `${key}.db`));
    const pg = await ingestInto(await newDatabase());
    console.log(JSON.stringify({
      case: `${what}: file→SQLite and file→PostgreSQL, no cutouts`,
      alerts: HEAVY_ALERTS,
      [`${key}_sqlite_alerts_per_s`]: lite.alerts_per_s,
      [`${key}_postgresql_alerts_per_s`]: pg.alerts_per_s,
      [`${key}_postgresql_over_sqlite`]: Math.round(pg.alerts_per_s / lite.alerts_per_s * 100) /
        100,
      [`${key}_sqlite_peak_rss_mb`]: lite.rss,
      [`${key}_postgresql_peak_rss_mb`]: pg.rss,
      disk_settled: { sqlite: lite.settled, postgresql: pg.settled },
    }));
  }
} finally {
  for (const name of created) {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
  await admin.end();
}
