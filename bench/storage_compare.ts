// deno-lint-ignore-file no-console
/**
 * Batch write rate of the two storages on the same alerts: N mock alerts (no cutouts) into a
 * new SQLite file, then into a new PostgreSQL database. Prints one JSON line per storage.
 *
 * deno run … bench/storage_compare.ts <count> <shared> <case dir>   (needs LSST_TEST_POSTGRES_URL)
 *
 * @module
 */

import { join } from "node:path";
import postgres from "postgres";
import { ingest, MockSource, openStorage } from "../mod.ts";
import { samplePeakMemory } from "./_measure.ts";

const [countText = "100000", _shared = ".", dir = "."] = Deno.args;
const count = Number(countText);
const server = Deno.env.get("LSST_TEST_POSTGRES_URL");
if (server === undefined) throw new Error("LSST_TEST_POSTGRES_URL is not set");

const name = `bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
const admin = postgres(server, { max: 1, onnotice: () => {} });
await admin.unsafe(`CREATE DATABASE ${name}`);
const url = new URL(server);
url.pathname = `/${name}`;

try {
  const cases: Array<[string, string]> = [
    ["sqlite", join(dir, "bench.db")],
    ["postgresql", url.toString()],
  ];
  for (const [label, location] of cases) {
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
    }));
  }
} finally {
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
