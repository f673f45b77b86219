// deno-lint-ignore-file no-console
/**
 * Decode speed on real heavy-history alerts, measured in one process on the same bytes: the five
 * Rubin v10.0 alerts of the fixtures' `cwf-heavy` folder (300-400 `prvDiaSources`, ~400
 * `prvDiaForcedSources`, cutouts), copied N times with every id shifted so that each copy is a
 * different DIAObject with its own history, then
 *
 * - decoded in full by avsc (`heavy_avsc_alerts_per_s`, one core),
 * - decoded by the projected decoder with the LSST selection (`heavy_projected_alerts_per_s`,
 *   one core),
 * - ingested end to end from an Avro container into SQLite without cutouts
 *   (`heavy_ingest_alerts_per_s`, all cores),
 *
 * and the same three on the same alerts with their histories removed (`light_*`). Prints one
 * JSON line.
 *
 * deno run … bench/decode.ts <count> <shared> <case dir> (inputs built in a child process,
 * `--build <count> <shared>`, when the shared folder lacks them). The ingest uses the defaults
 * (decode worker, batches of at most 500 alerts or 25,000 observations).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  ByteStream,
  compileProjection,
  createAvroType,
  FileSource,
  ingest,
  loadSchemaVersion,
  LSST_ALERT_SELECTION,
  readOcfBlocks,
  readOcfHeader,
  SQLiteStorage,
  writeOcfFile,
} from "../mod.ts";
import { samplePeakMemory } from "./_measure.ts";
import { fixturesDir } from "./_fixtures.ts";

const building = Deno.args[0] === "--build";
const [countText = "3000", shared = ".", dir = "."] = building ? Deno.args.slice(1) : Deno.args;
const count = Number(countText);
const fixtures = fixturesDir();
const schema = await loadSchemaVersion(join(fixtures, "lsst/schema"), "10.0");
const type = createAvroType(schema);

// Ids of one alert span less than 2^47: shifting a copy by k * 2^47 keeps copies apart.
const SHIFT = 1n << 47n;
const ID_FIELDS = new Set(["diaSourceId", "diaObjectId", "diaForcedSourceId"]);

function shiftIds(value: unknown, by: bigint): unknown {
  if (Array.isArray(value)) return value.map((item) => shiftIds(item, by));
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    out[key] = ID_FIELDS.has(key) && typeof field === "bigint" ? field + by : shiftIds(field, by);
  }
  return out;
}

async function build(path: string, withHistory: boolean): Promise<void> {
  if (existsSync(path)) return;
  const folder = join(fixtures, "lsst/cwf-heavy");
  const bases: unknown[] = [];
  for (const name of [...Deno.readDirSync(folder)].map((e) => e.name).sort()) {
    const bytes = await Deno.readFile(join(folder, name));
    bases.push(type.decode(Buffer.from(bytes), 5).value);
  }
  const packets = (function* () {
    for (let k = 0; k < count; k++) {
      const packet = shiftIds(bases[k % bases.length], BigInt(k) * SHIFT) as Record<
        string,
        unknown
      >;
      if (!withHistory) {
        packet.prvDiaSources = null;
        packet.prvDiaForcedSources = null;
      }
      yield packet;
    }
  })();
  await writeOcfFile(path, JSON.stringify(schema), type, packets, {
    codec: "null",
    recordsPerBlock: 100,
  });
}

// Every record of the container, as separate views.
async function records(path: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const stream = await ByteStream.open(path);
  const header = await readOcfHeader(stream);
  const skip = compileProjection(JSON.parse(header.schemaJson), null);
  for await (const block of readOcfBlocks(stream, header)) {
    if (block.kind !== "block") throw new Error(`damaged bench input at ${block.offset}`);
    const data = block.data.slice();
    let at = 0;
    for (let i = 0; i < block.count; i++) {
      const end = skip(data, at).end;
      out.push(data.subarray(at, end));
      at = end;
    }
  }
  stream.close();
  return out;
}

// Alerts per second of `decode` over every record, repeated until at least `seconds` passed.
function rate(all: Uint8Array[], decode: (bytes: Uint8Array) => unknown, seconds: number): number {
  for (let i = 0; i < Math.min(all.length, 50); i++) decode(all[i] as Uint8Array);
  let done = 0;
  const started = performance.now();
  do {
    for (const bytes of all) decode(bytes);
    done += all.length;
  } while (performance.now() - started < seconds * 1000);
  return Math.round(done / ((performance.now() - started) / 1000));
}

const project = compileProjection(schema, LSST_ALERT_SELECTION);
const avsc = (bytes: Uint8Array) =>
  type.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0);
const projected = (bytes: Uint8Array) => project(bytes, 0);

// The inputs are built in a process of their own, so this one's peak memory is the ingest's.
if (building) {
  await build(join(shared, `heavy-v10-${count}.avro`), true);
  await build(join(shared, `light-v10-${count}.avro`), false);
  Deno.exit(0);
}
if (!existsSync(join(shared, `light-v10-${count}.avro`))) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", import.meta.filename as string]
      .concat(["--build", String(count), shared]),
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("Cannot build the benchmark's inputs");
  // Let the kernel write the ~1 GB just built before measuring, not during.
  await new Deno.Command("sync").output().catch(() => {});
}

const figures: Record<string, number | string> = {
  case: "real heavy-history Rubin v10.0 alerts: avsc vs projected decode, and ingest into SQLite",
  alerts: count,
};
// End to end first, for both inputs, in fresh databases: before the decode measurements hold
// every record in memory, so the peak memory is the ingest's own.
for (const prefix of ["heavy", "light"] as const) {
  const input = join(shared, `${prefix}-v10-${count}.avro`);
  const db = join(dir, `${prefix}.db`);
  await Deno.remove(db).catch(() => {});
  const memory = samplePeakMemory();
  const started = performance.now();
  {
    await using storage = new SQLiteStorage(db);
    const run = await ingest(new FileSource({ path: input }), storage, { cutouts: null });
    if (run.alertsIngested !== count) {
      throw new Error(`ingested ${run.alertsIngested} of ${count} alerts`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  figures[`${prefix}_ingest_alerts_per_s`] = Math.round(count / seconds);
  figures[`${prefix}_ingest_peak_rss_mb`] = memory.stop();
}
for (const prefix of ["heavy", "light"] as const) {
  const all = await records(join(shared, `${prefix}-v10-${count}.avro`));
  const bytes = all.reduce((sum, r) => sum + r.length, 0);
  figures[`${prefix}_mean_alert_kb`] = Math.round(bytes / all.length / 100) / 10;
  figures[`${prefix}_avsc_alerts_per_s`] = rate(all, avsc, 3);
  figures[`${prefix}_projected_alerts_per_s`] = rate(all, projected, 3);
  figures[`${prefix}_speedup`] = Math.round(
    (figures[`${prefix}_projected_alerts_per_s`] as number) /
      (figures[`${prefix}_avsc_alerts_per_s`] as number) * 10,
  ) / 10;
}
figures.cores = navigator.hardwareConcurrency;
console.log(JSON.stringify(figures));
