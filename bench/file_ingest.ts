// deno-lint-ignore-file no-console
/**
 * File-source benchmark cases, each in a fresh process, on one shared input: an Avro container
 * of N mock v11.0 alerts with cutouts, written with the official schema (built on first use).
 * Prints one JSON line, with the date: `alerts_per_s` is alerts stored per second (decoded per
 * second for `decode`), `records_read_per_s` records read per second, both from the call of
 * `ingest()` to its return.
 *
 * deno run … bench/file_ingest.ts <count> <decode|ingest|ingest-cutouts|ingest-dir> <shared>
 * <case dir>
 *
 * `ingest-dir` reads a directory holding the file five times (hard links): memory must not grow
 * with the amount of input, and the four copies after the first are read but skipped as stored,
 * so it stores N alerts and reads 5 N records.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  ByteStream,
  createAvroType,
  CutoutProcessor,
  FileSource,
  ingest,
  loadSchemaVersion,
  MockSource,
  readOcfBlocks,
  readOcfHeader,
  SQLiteStorage,
  writeOcfFile,
} from "../mod.ts";
import { samplePeakMemory } from "./_measure.ts";
import { fixturesDir } from "./_fixtures.ts";

const [countText = "20000", mode = "ingest", shared = ".", dir = "."] = Deno.args;
const count = Number(countText);
const fixtures = fixturesDir();
const input = join(shared, `mock-v11-${count}.avro`);

if (!existsSync(input)) {
  const schema = await loadSchemaVersion(join(fixtures, "lsst/schema"), "11.0");
  const mock = new MockSource({ count, seed: 21, cutouts: true });
  const packets = (function* () {
    for (const { packet } of mock.packets()) yield packet;
  })();
  await writeOcfFile(input, JSON.stringify(schema), createAvroType(schema), packets, {
    codec: "deflate",
    recordsPerBlock: 50,
  });
}
const inputMb = Math.round((await Deno.stat(input)).size / 1e5) / 10;

const date = new Date().toISOString();
const memory = samplePeakMemory();
const started = performance.now();
let alerts = 0;
let records = 0;
let label: string;
if (mode === "decode") {
  // avsc alone on the same bytes: decompress each block and decode every record in full.
  label = "avsc full decode of the same file";
  const stream = await ByteStream.open(input);
  const header = await readOcfHeader(stream);
  const type = createAvroType(JSON.parse(header.schemaJson));
  for await (const block of readOcfBlocks(stream, header)) {
    if (block.kind !== "block") continue;
    const buffer = Buffer.from(block.data.buffer, block.data.byteOffset, block.data.byteLength);
    let at = 0;
    for (let i = 0; i < block.count; i++) {
      at = type.decode(buffer, at).offset;
      alerts++;
    }
  }
  records = alerts;
  stream.close();
} else {
  const withCutouts = mode === "ingest-cutouts";
  let path = input;
  label = `file→sqlite ${withCutouts ? "with" : "without"} cutouts`;
  if (mode === "ingest-dir") {
    path = join(dir, "night");
    await Deno.mkdir(path);
    for (let i = 0; i < 5; i++) await Deno.link(input, join(path, `part-${i}.avro`));
    label = "file→sqlite, a directory of 5 copies (replays skipped after the first)";
  }
  await using storage = new SQLiteStorage(join(dir, "bench.db"));
  const run = await ingest(new FileSource({ path }), storage, {
    batchSize: 500,
    cutouts: withCutouts ? new CutoutProcessor({ outputDir: join(dir, "cutouts") }) : null,
  });
  alerts = run.alertsIngested;
  records = run.recordsRead;
}
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({
  case: label,
  mode,
  date,
  alerts,
  records_read: records,
  input_mb: inputMb,
  seconds: Math.round(seconds * 100) / 100,
  alerts_per_s: Math.round(alerts / seconds),
  records_read_per_s: Math.round(records / seconds),
  peak_rss_mb: memory.stop(),
}));
