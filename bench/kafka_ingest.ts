// deno-lint-ignore-file no-console
/**
 * Kafka → SQLite against the file source on the same alerts, measured in one run: N mock v11.0
 * alerts without cutouts, Confluent-framed and produced with snappy to a 4-partition topic of the
 * project's test broker, and the same alerts in one Avro container (snappy) read by the file
 * source; then the same with N/5 alerts carrying their cutouts (`cutouts_*` figures: the bytes
 * Rubin's stream carries, decompressed and decoded; the cutouts are not written to files). Each measurement runs in a fresh process (its peak memory is its own, and neither warms
 * the other's code), five of each in the order file, kafka, kafka, file, file, …, so that a
 * shared machine's changing load weighs on both alike. Each clock runs from the call of `ingest()` to
 * its return: for Kafka, connecting, joining the group, fetching, decoding, storing, committing
 * and leaving the group; for the file, opening, decoding and storing. Each starts once the disk
 * has written out what was written before it (_settle.ts). Beside the clock's rate, the rate once
 * running (`*_steady_*`: the alerts after the first batch over the time from the first batch
 * stored to the last), which leaves out starting and closing. Prints one JSON line: for each
 * input the median of each, the ratios, every run; and the machine's load.
 *
 * deno run … bench/kafka_ingest.ts <count> <shared dir> <case dir>   (needs KAFKA_BOOTSTRAP)
 * deno run … bench/kafka_ingest.ts --measure <file|kafka> <count> <path|topic> <dir>
 *
 * @module
 */

import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  createAvroType,
  FileSource,
  ingest,
  KafkaSource,
  loadSchemaVersion,
  MockSource,
  SQLiteStorage,
  writeOcfFile,
} from "../mod.ts";
import { KafkaClient } from "../sources/kafka/_kafka_client.ts";
import { loadAverage, samplePeakMemory } from "./_measure.ts";
import { fixturesDir } from "./_fixtures.ts";
import { type Settled, settleDisk } from "./_settle.ts";
import { ingestV8Flags } from "./_ingest_flags.ts";

/** What one measurement prints. */
interface Measurement {
  alerts: number;
  seconds: number;
  /** From the call of `ingest()` until its first batch was stored. */
  first_batch_s: number;
  /** From the call of `ingest()` until its last batch was stored (the rest is closing). */
  last_batch_s: number;
  /** Alerts stored by the first batch. */
  first_batch_alerts: number;
  /** CPU time of the process (every thread) meanwhile, user and system. */
  cpu_s: number;
  peak_rss_mb: number;
}

// Pairs of measurements, each pair's order swapped from the last: file, kafka, kafka, file, …
const PAIRS = 5;
const ORDER = Array.from(
  { length: PAIRS },
  (_, i) => i % 2 === 0 ? ["file", "kafka"] as const : ["kafka", "file"] as const,
).flat();
const schemaDir = join(fixturesDir(), "lsst/schema");

if (Deno.args[0] === "--measure") {
  const [, kind, countText, input, dir] = Deno.args as string[];
  console.log(
    JSON.stringify(await measure(kind as "file" | "kafka", Number(countText), input!, dir!)),
  );
} else {
  await compare();
}

async function compare(): Promise<void> {
  const [countText = "20000", _shared = ".", dir = "."] = Deno.args;
  const count = Number(countText);
  const bootstrap = Deno.env.get("KAFKA_BOOTSTRAP");
  if (bootstrap === undefined) throw new Error("KAFKA_BOOTSTRAP is not set");
  const date = new Date().toISOString();
  const loadBefore = await _load();
  const light = await _pairs(bootstrap, count, false, dir);
  // Rubin's alerts carry three cutouts (~80 KB with the mock's): a fifth as many of those.
  const heavyCount = Math.max(1, Math.round(count / 5));
  const heavy = await _pairs(bootstrap, heavyCount, true, dir);
  const cutouts = Object.fromEntries(
    Object.entries(heavy).map(([key, value]) => [`cutouts_${key}`, value]),
  );
  console.log(JSON.stringify({
    case: "kafka→sqlite (snappy, 4 partitions) against file→sqlite (snappy container), no cutouts",
    date,
    alerts: count,
    ...light,
    cutouts_case: "the same with alerts carrying their three cutouts (not written to files)",
    cutouts_alerts: heavyCount,
    ...cutouts,
    measured_as: `median of ${PAIRS} fresh processes each, alternated; ingest() call to return`,
    load_avg_1m: [loadBefore, await _load()],
  }));
}

// Produce the alerts to a new topic and write them to a container, then measure both sources
// on them in alternation.
async function _pairs(
  bootstrap: string,
  count: number,
  withCutouts: boolean,
  dir: string,
): Promise<Record<string, unknown>> {
  const schema = await loadSchemaVersion(schemaDir, "11.0");
  const type = createAvroType(schema);
  const packets = [...new MockSource({ count, seed: 31, cutouts: withCutouts }).packets()].map((
    p,
  ) => p.packet);
  const file = join(dir, `alerts-${withCutouts ? "cutouts" : "light"}.avro`);
  await writeOcfFile(file, JSON.stringify(schema), type, packets, { codec: "snappy" });
  const client = new KafkaClient({ brokers: [bootstrap], clientId: "bench" });
  const topic = `bench-${crypto.randomUUID().slice(0, 8)}`;
  await client.createTopic(topic, 4);
  let bytes = 0;
  await client.produce(
    topic,
    packets.map((packet) => {
      const body = type.toBuffer(packet);
      const out = new Uint8Array(5 + body.length);
      new DataView(out.buffer).setInt32(1, 1100);
      out.set(body, 5);
      bytes += out.length;
      return out;
    }),
    { compression: "snappy" },
  );
  packets.length = 0;

  const runs: Record<"file" | "kafka", Measurement[]> = { file: [], kafka: [] };
  // Each measurement starts on a settled disk: the topic and the file just written, and the
  // measurement before's database, are not written back while it runs (see _settle.ts).
  const settled: Settled[] = [];
  for (const [i, kind] of ORDER.entries()) {
    settled.push(await settleDisk());
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-net",
        ...ingestV8Flags(),
        fileURLToPath(import.meta.url),
        "--measure",
        kind,
        String(count),
        kind === "file" ? file : topic,
        await Deno.makeTempDir({ dir, prefix: `${kind}-${i}-` }),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`The ${kind} measurement failed`);
    const measurement = JSON.parse(new TextDecoder().decode(out.stdout)) as Measurement;
    if (measurement.alerts !== count) {
      throw new Error(`The ${kind} measurement stored ${measurement.alerts} of ${count} alerts`);
    }
    runs[kind].push(measurement);
  }

  const rate = (m: Measurement) => m.alerts / m.seconds;
  const kafka = _median(runs.kafka.map(rate));
  const fromFile = _median(runs.file.map(rate));
  // Once running: the alerts after the first batch over the time from the first batch stored to
  // the last, what a consumer that runs for hours sees; start and closing are left out.
  const steady = (m: Measurement) =>
    (m.alerts - m.first_batch_alerts) / (m.last_batch_s - m.first_batch_s);
  const kafkaSteady = _median(runs.kafka.map(steady));
  const fileSteady = _median(runs.file.map(steady));
  return {
    message_bytes: Math.round(bytes / count),
    kafka_alerts_per_s: Math.round(kafka),
    file_alerts_per_s: Math.round(fromFile),
    kafka_over_file: _round2(kafka / fromFile),
    kafka_peak_rss_mb: Math.max(...runs.kafka.map((m) => m.peak_rss_mb)),
    file_peak_rss_mb: Math.max(...runs.file.map((m) => m.peak_rss_mb)),
    kafka_steady_alerts_per_s: Math.round(kafkaSteady),
    file_steady_alerts_per_s: Math.round(fileSteady),
    steady_kafka_over_file: _round2(kafkaSteady / fileSteady),
    kafka_first_batch_s: _round2(_median(runs.kafka.map((m) => m.first_batch_s))),
    file_first_batch_s: _round2(_median(runs.file.map((m) => m.first_batch_s))),
    // After the last batch: committing, leaving the group, stopping the worker.
    kafka_closing_s: _round2(_median(runs.kafka.map((m) => m.seconds - m.last_batch_s))),
    file_closing_s: _round2(_median(runs.file.map((m) => m.seconds - m.last_batch_s))),
    // CPU seconds of all threads: what a machine busy with other work still has to give.
    kafka_cpu_s: _round2(_median(runs.kafka.map((m) => m.cpu_s))),
    file_cpu_s: _round2(_median(runs.file.map((m) => m.cpu_s))),
    kafka_runs_alerts_per_s: runs.kafka.map((m) => Math.round(rate(m))),
    file_runs_alerts_per_s: runs.file.map((m) => Math.round(rate(m))),
    // Each Kafka run against the file run beside it in the order.
    pair_ratios: runs.kafka.map((m, i) => _round2(rate(m) / rate(runs.file[i]!))),
    disk_settled_s: _round2(settled.reduce((sum, s) => sum + s.waited_s, 0)),
    // The busiest the disk was in the second before a measurement started (% stalled on I/O).
    io_stalled_at_start_max: Math.max(...settled.map((s) => s.io_stalled_last_s ?? 0)),
  };
}

async function measure(
  kind: "file" | "kafka",
  count: number,
  input: string,
  dir: string,
): Promise<Measurement> {
  const memory = samplePeakMemory();
  await using storage = new SQLiteStorage(join(dir, "bench.db"));
  await using source = kind === "file" ? new FileSource({ path: input }) : new KafkaSource({
    bootstrapServers: Deno.env.get("KAFKA_BOOTSTRAP") as string,
    topics: [input],
    groupId: `${input}-${crypto.randomUUID().slice(0, 8)}`,
    schemaDir,
    schemaStore: storage,
  });
  const cpu = process.cpuUsage();
  const started = performance.now();
  let firstBatch = 0;
  let firstBatchAlerts = 0;
  let lastBatch = 0;
  const run = await ingest(source, storage, {
    batchSize: 500,
    ...(kind === "kafka" ? { limit: count } : {}),
    onProgress: (progress) => {
      lastBatch = performance.now() - started;
      firstBatch ||= lastBatch;
      firstBatchAlerts ||= progress.alertsIngested;
    },
  });
  const seconds = (performance.now() - started) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  return {
    alerts: run.alertsIngested,
    seconds,
    first_batch_s: firstBatch / 1000,
    last_batch_s: lastBatch / 1000,
    first_batch_alerts: firstBatchAlerts,
    cpu_s: (user + system) / 1e6,
    peak_rss_mb: memory.stop(),
  };
}

function _median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function _round2(value: number): number {
  return Math.round(value * 100) / 100;
}

// The 1-minute load average, or null where it cannot be read.
async function _load(): Promise<number | null> {
  const load = Number((await loadAverage()).split(" ")[0]);
  return Number.isFinite(load) ? load : null;
}
