// deno-lint-ignore-file no-console
/**
 * Decode speed on real heavy-history alerts, measured in one run on the same bytes: the five
 * Rubin v10.0 alerts of the fixtures' `cwf-heavy` folder (300-400 `prvDiaSources`, ~400
 * `prvDiaForcedSources`, cutouts), made into three inputs of N alerts each:
 *
 * - `heavy`: copied N times with every id shifted, so that each copy is a different DIAObject
 *   whose history holds only DIASources never seen before (tracking only inserts);
 * - `heavy_reobserve`: N/10 DIAObjects receiving 10 alerts each, visit after visit, the way the
 *   real stream re-observes: alert k of an object carries its base history without the k
 *   oldest entries, plus the triggering DIASources of its alerts 0…k-1, so the history keeps
 *   its length and every entry of alerts 1…9 is a DIASource already stored (90% of the
 *   observations are stored states to look up and update; between two alerts of an object the
 *   other objects' ~100,000 states pass, more than the state cache holds, as in a night);
 * - `light`: the `heavy` alerts with their histories removed.
 *
 * For each input: the end-to-end ingest from an Avro container into SQLite without cutouts, in a
 * process of its own as `deno task ingest` runs (`*_ingest_alerts_per_s`, all cores, and
 * `*_ingest_peak_rss_mb`); the projected decoder with the LSST selection
 * (`*_projected_alerts_per_s`, one core); for `heavy` and `light` avsc's full decode too
 * (`*_avsc_alerts_per_s`). `*_ingest_vs_projected` is the ingest rate over the projected decode
 * rate of the same alerts: the storing thread's share of one core's decoding. For the re-observed
 * input, `heavy_reobserve_sqlite_row_floor_*`: SQLite alone updating the stored row of every
 * re-observed history entry (see _sqlite_row_floor.ts), the most a storing thread that rewrites a
 * row per observation can do, and its ratio to the projected decode; for the new-DIASource input,
 * `heavy_sqlite_insert_floor_*`: SQLite alone inserting a state row for every history entry into
 * an empty database (see _sqlite_insert_floor.ts), the most a storing thread that writes a row per
 * new DIASource can do, and its ratio to the projected decode; `heavy_processed_sources_scan_s`:
 * what a full scan of the `processed_sources` view of the ~1 million states it stored costs a
 * reader, against the same scan of `source_states` (`heavy_source_states_scan_s`); and
 * `heavy_reobserve_prefilled_*`: the same ingest into a database already holding ~3 million
 * states of other DIAObjects whose DIASource ids lie among the input's (see neighbours()), as a
 * database does after a few nights, with its ratio to the ingest into an empty one. Each ingest
 * and floor starts on a settled disk (`disk_settled`: per step, the wait and how busy the disk
 * was before it and in its last second; see _settle.ts). Prints one JSON line.
 *
 * deno run … bench/decode.ts <count> <shared> <case dir> (inputs built in a child process,
 * `--build <count> <shared>`, when the shared folder lacks them; each ingest in a child process,
 * `--ingest <input> <count> <db path or postgres:// URL>`, which the storage suite runs too).
 * The ingest uses the defaults (decode worker, batches of at most 500 alerts or 25,000
 * observations).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { existsSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ByteStream,
  compileProjection,
  createAvroType,
  FileSource,
  ingest,
  loadSchemaVersion,
  LSST_ALERT_SELECTION,
  openStorage,
  readOcfBlocks,
  readOcfHeader,
  writeOcfFile,
} from "../mod.ts";
import { samplePeakMemory } from "./_measure.ts";
import { sqliteRowFloor } from "./_sqlite_row_floor.ts";
import { sqliteInsertFloor } from "./_sqlite_insert_floor.ts";
import { type PrefillState, prefillStates } from "./_prefill_states.ts";
import { fixturesDir } from "./_fixtures.ts";
import { ingestV8Flags } from "./_ingest_flags.ts";
import { runStep } from "./_child.ts";
import { type Settled, settleDisk } from "./_settle.ts";

const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env"];
const INPUTS = ["heavy", "heavy_reobserve", "light"] as const;
type Input = typeof INPUTS[number];
// Alerts each DIAObject of the re-observed input receives.
const VISITS = 10;
// Other DIAObjects' states in the prefilled database: this many per history entry and DIAObject
// of the re-observed input (~3 million for 3,000 alerts), under DIAObject ids from this one.
const PREFILL_PER_SLOT = 6;
const PREFILL_OBJECTS = 1n << 60n;

const mode = Deno.args[0] === "--build" || Deno.args[0] === "--ingest" ? Deno.args[0] : "";

// One ingest in this process: prints its rate and peak memory.
if (mode === "--ingest") {
  const [input = "", countText = "0", db = ""] = Deno.args.slice(1);
  const count = Number(countText);
  const memory = samplePeakMemory();
  const started = performance.now();
  {
    // A path (SQLite) or a postgres:// URL: the storage suite ingests these inputs into both.
    await using storage = openStorage(db);
    const run = await ingest(new FileSource({ path: input }), storage, { cutouts: null });
    if (run.alertsIngested !== count) {
      throw new Error(`ingested ${run.alertsIngested} of ${count} alerts`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ alerts_per_s: Math.round(count / seconds), rss: memory.stop() }));
  Deno.exit(0);
}

const [countText = "3000", shared = ".", dir = "."] = Deno.args.slice(mode === "" ? 0 : 1);
const count = Number(countText);
const fixtures = fixturesDir();
const schema = await loadSchemaVersion(join(fixtures, "lsst/schema"), "10.0");
const type = createAvroType(schema);
const inputPath = (input: Input) => join(shared, `${input.replace("_", "-")}-v10-${count}.avro`);

// Ids of one alert are distinct: shifting a copy's ids by k * 2^47 makes another DIAObject
// whose ids collide with another copy's only if two ids of the fixtures differ by a multiple of
// 2^47.
const SHIFT = 1n << 47n;
const ID_FIELDS = new Set(["diaSourceId", "diaObjectId", "diaForcedSourceId"]);

// `sourceId`, when given, maps DIASource ids instead of the shift.
function shiftIds(value: unknown, by: bigint, sourceId?: (id: bigint) => bigint): unknown {
  if (Array.isArray(value)) return value.map((item) => shiftIds(item, by, sourceId));
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (!(ID_FIELDS.has(key) && typeof field === "bigint")) {
      out[key] = shiftIds(field, by, sourceId);
    } else if (key === "diaSourceId" && sourceId !== undefined) out[key] = sourceId(field);
    else out[key] = field + by;
  }
  return out;
}

type Packet = Record<string, unknown> & {
  diaSource: Record<string, unknown> & { diaSourceId: bigint; midpointMjdTai: number };
  prvDiaSources: unknown[] | null;
};

// In the re-observed input, DIASource ids keep the order of the fixtures' ids, and each of them
// becomes a run of neighbouring ids, one per DIAObject (and trigger): DIASources of one visit
// are neighbours in Rubin's ids, so an alert's history is spread over the table as a real one
// is, where copies shifted far apart would each sit together in a few pages.
function reobservedIds(bases: Packet[]): (id: bigint, object: number, trigger: number) => bigint {
  const ids = new Set<bigint>();
  for (const base of bases) {
    ids.add(base.diaSource.diaSourceId);
    for (const entry of (base.prvDiaSources ?? []) as Array<{ diaSourceId: bigint }>) {
      ids.add(entry.diaSourceId);
    }
  }
  const rank = new Map([...ids].sort((a, b) => (a < b ? -1 : 1)).map((id, i) => [id, BigInt(i)]));
  const first = [...ids].reduce((a, b) => (a < b ? a : b));
  return (id, object, trigger) =>
    first + ((rank.get(id) as bigint) << 24n) + BigInt(object * VISITS + trigger);
}

// Alert `visit` of DIAObject `object`: its base history without the `visit` oldest entries,
// then the triggering DIASources of the object's earlier alerts, one day apart.
function reobserved(
  bases: Packet[],
  idOf: (id: bigint, object: number, trigger: number) => bigint,
  object: number,
  visit: number,
): Packet {
  const base = bases[object % bases.length] as Packet;
  // Other ids (DIAObjects, forced sources) only need to differ between DIAObjects.
  const packet = shiftIds(base, BigInt(object) * SHIFT, (id) => idOf(id, object, 0)) as Packet;
  const baseTrigger = base.diaSource;
  const trigger = (k: number) => ({
    ...packet.diaSource,
    diaSourceId: idOf(baseTrigger.diaSourceId, object, k),
    midpointMjdTai: baseTrigger.midpointMjdTai + k,
  });
  const history = (packet.prvDiaSources ?? []).slice(visit);
  for (let k = 0; k < visit; k++) history.push(trigger(k));
  packet.diaSource = trigger(visit);
  packet.diaSourceId = packet.diaSource.diaSourceId;
  packet.prvDiaSources = history;
  return packet;
}

// The fixtures' heavy alerts, decoded.
async function loadBases(): Promise<Packet[]> {
  const folder = join(fixtures, "lsst/cwf-heavy");
  const bases: Packet[] = [];
  for (const name of [...Deno.readDirSync(folder)].map((e) => e.name).sort()) {
    const bytes = await Deno.readFile(join(folder, name));
    bases.push(type.decode(Buffer.from(bytes), 5).value as Packet);
  }
  return bases;
}

// States of other DIAObjects among the re-observed input's history ids: for each history entry
// and each DIAObject of the input, `perSlot` ids just after its copy, which no alert of the
// input uses. Other DIAObjects' detections in the same visits sit among an object's DIASources
// that way in Rubin's ids (a visit's ids are neighbours), so that in a table keyed by DIASource
// an alert's history entries would each lie on a page of their own.
function neighbours(bases: Packet[], perSlot: number): PrefillState[] {
  const idOf = reobservedIds(bases);
  const triggers = new Set(bases.map((base) => base.diaSource.diaSourceId));
  const history = new Set<bigint>();
  for (const base of bases) {
    for (const entry of (base.prvDiaSources ?? []) as Array<{ diaSourceId: bigint }>) {
      if (!triggers.has(entry.diaSourceId)) history.add(entry.diaSourceId);
    }
  }
  const objects = Math.ceil(count / VISITS);
  const states: PrefillState[] = [];
  for (const id of history) {
    for (let object = 0; object < objects; object++) {
      for (let slot = 1; slot <= perSlot; slot++) {
        states.push([PREFILL_OBJECTS + BigInt(object * VISITS + slot), idOf(id, object, slot)]);
      }
    }
  }
  return states;
}

async function build(input: Input): Promise<void> {
  const path = inputPath(input);
  if (existsSync(path)) return;
  const bases = await loadBases();
  const objects = Math.ceil(count / VISITS);
  const idOf = reobservedIds(bases);
  const packets = (function* () {
    for (let k = 0; k < count; k++) {
      if (input === "heavy_reobserve") {
        // Visit by visit, every object once a visit: the order alerts reach a broker.
        yield reobserved(bases, idOf, k % objects, Math.floor(k / objects));
        continue;
      }
      const packet = shiftIds(bases[k % bases.length], BigInt(k) * SHIFT) as Packet;
      if (input === "light") {
        packet.prvDiaSources = null;
        packet.prvDiaForcedSources = null;
      }
      yield packet;
    }
  })();
  // A build that fails part way leaves no input that looks complete.
  await writeOcfFile(`${path}.part`, JSON.stringify(schema), type, packets, {
    codec: "null",
    recordsPerBlock: 100,
  });
  await Deno.rename(`${path}.part`, path);
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

function child(args: string[]): Promise<string> {
  return runStep(PERMISSIONS, args);
}

const project = compileProjection(schema, LSST_ALERT_SELECTION);
const avsc = (bytes: Uint8Array) =>
  type.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0);
const projected = (bytes: Uint8Array) => project(bytes, 0);
const self = fileURLToPath(import.meta.url);

if (mode === "--build") {
  for (const input of INPUTS) await build(input);
  Deno.exit(0);
}
if (!INPUTS.every((input) => existsSync(inputPath(input)))) {
  // The ~2 GB built are written out before the first ingest starts (settleDisk below).
  await child([self, "--build", String(count), shared]);
}

const figures: Record<string, number | string | Record<string, Settled>> = {
  case: "real heavy-history Rubin v10.0 alerts: avsc vs projected decode, and ingest into SQLite",
  alerts: count,
};
// Each timed step starts once the writes and deletions of the step before (a 130 MB database,
// ~350 MB through its log) are on the disk: its figure is its own, not partly the step before's.
const disk: Record<string, Settled> = {};
figures.disk_settled = disk;
for (const input of INPUTS) {
  const db = join(dir, `${input}.db`);
  await Deno.remove(db).catch(() => {});
  disk[`${input}_ingest`] = await settleDisk();
  const out = JSON.parse(
    await child([...ingestV8Flags(), self, "--ingest", inputPath(input), String(count), db]),
  ) as { alerts_per_s: number; rss: number };
  figures[`${input}_ingest_alerts_per_s`] = out.alerts_per_s;
  figures[`${input}_ingest_peak_rss_mb`] = out.rss;
  if (input === "heavy") {
    // What readers pay for the view: a full scan of processed_sources (each state with the
    // bumps that cover it) against one of the table it reads, on the ~1 million states stored.
    const database = new DatabaseSync(db, { readOnly: true });
    const scan = (from: string) => {
      const statement = database.prepare(
        `SELECT COUNT(*) AS n, SUM(times_seen) AS seen, MAX(last_seen_mjd) AS latest FROM ${from}`,
      );
      statement.get();
      const started = performance.now();
      const row = statement.get() as { n: number };
      return { rows: row.n, seconds: (performance.now() - started) / 1000 };
    };
    const view = scan("processed_sources");
    const table = scan("source_states");
    database.close();
    figures.heavy_processed_sources_scan_rows = view.rows;
    figures.heavy_processed_sources_scan_s = Math.round(view.seconds * 1000) / 1000;
    figures.heavy_source_states_scan_s = Math.round(table.seconds * 1000) / 1000;
    const empty = join(dir, "insert_floor.db");
    disk.heavy_sqlite_insert_floor = await settleDisk();
    const floor = await sqliteInsertFloor(db, empty);
    figures.heavy_sqlite_insert_floor_alerts_per_s = floor.alertsPerS;
    figures.heavy_sqlite_insert_floor_states = floor.states;
    for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(empty + suffix).catch(() => {});
  }
  if (input === "heavy_reobserve") {
    // What the case claims: the share of observations that found a stored state.
    const database = new DatabaseSync(db, { readOnly: true });
    const row = database.prepare(
      "SELECT COUNT(*) AS sources, SUM(times_seen) AS seen FROM processed_sources",
    ).get() as { sources: number; seen: number };
    database.close();
    figures.heavy_reobserve_seen_before_share = Math.round(1000 - 1000 * row.sources / row.seen) /
      1000;
    disk.heavy_reobserve_sqlite_row_floor = await settleDisk();
    const floor = sqliteRowFloor(db);
    figures.heavy_reobserve_sqlite_row_floor_alerts_per_s = floor.alertsPerS;
    figures.heavy_reobserve_sqlite_row_floor_updated_share = floor.updatedShare;
    // Again, into a database that already holds millions of other DIAObjects' states.
    const prefilled = join(dir, `${input}_prefilled.db`);
    await Deno.remove(prefilled).catch(() => {});
    const states = await prefillStates(prefilled, neighbours(await loadBases(), PREFILL_PER_SLOT));
    disk.heavy_reobserve_prefilled_ingest = await settleDisk();
    const into = JSON.parse(
      await child([
        ...ingestV8Flags(),
        self,
        "--ingest",
        inputPath(input),
        String(count),
        prefilled,
      ]),
    ) as { alerts_per_s: number; rss: number };
    figures.heavy_reobserve_prefilled_states = states;
    figures.heavy_reobserve_prefilled_ingest_alerts_per_s = into.alerts_per_s;
    figures.heavy_reobserve_prefilled_ingest_peak_rss_mb = into.rss;
    figures.heavy_reobserve_prefilled_vs_empty =
      Math.round(into.alerts_per_s / out.alerts_per_s * 100) / 100;
    await Deno.remove(prefilled).catch(() => {});
    await Deno.remove(`${prefilled}-wal`).catch(() => {});
  }
  await Deno.remove(db).catch(() => {});
  await Deno.remove(`${db}-wal`).catch(() => {});
}
for (const input of INPUTS) {
  const all = await records(inputPath(input));
  const bytes = all.reduce((sum, r) => sum + r.length, 0);
  figures[`${input}_mean_alert_kb`] = Math.round(bytes / all.length / 100) / 10;
  if (input !== "heavy_reobserve") figures[`${input}_avsc_alerts_per_s`] = rate(all, avsc, 3);
  const decoded = rate(all, projected, 3);
  figures[`${input}_projected_alerts_per_s`] = decoded;
  if (input !== "heavy_reobserve") {
    figures[`${input}_speedup`] = Math.round(
      decoded / (figures[`${input}_avsc_alerts_per_s`] as number) * 10,
    ) / 10;
  }
  figures[`${input}_ingest_vs_projected`] =
    Math.round((figures[`${input}_ingest_alerts_per_s`] as number) / decoded * 1000) / 1000;
  if (input === "heavy") {
    figures.heavy_sqlite_insert_floor_vs_projected = Math.round(
      (figures.heavy_sqlite_insert_floor_alerts_per_s as number) / decoded * 1000,
    ) / 1000;
  }
  if (input === "heavy_reobserve") {
    figures.heavy_reobserve_sqlite_row_floor_vs_projected = Math.round(
      (figures.heavy_reobserve_sqlite_row_floor_alerts_per_s as number) / decoded * 1000,
    ) / 1000;
  }
}
figures.cores = navigator.hardwareConcurrency;
console.log(JSON.stringify(figures));
