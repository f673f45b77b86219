// deno-lint-ignore-file no-console
/**
 * Kafka → SQLite on the project's test broker: N mock v11.0 alerts without cutouts,
 * Confluent-framed, produced with snappy to a 4-partition topic, then consumed into a new SQLite
 * file. For comparison, the same alerts from an Avro container (snappy) through the file
 * source. Prints one JSON line.
 *
 * deno run … bench/kafka_ingest.ts <count> <shared dir> <case dir>   (needs KAFKA_BOOTSTRAP)
 *
 * @module
 */

import { join } from "node:path";
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
import { samplePeakMemory } from "./_measure.ts";
import { fixturesDir } from "./_fixtures.ts";

const [countText = "20000", _shared = ".", dir = "."] = Deno.args;
const count = Number(countText);
const bootstrap = Deno.env.get("KAFKA_BOOTSTRAP");
if (bootstrap === undefined) throw new Error("KAFKA_BOOTSTRAP is not set");
const schemaDir = join(fixturesDir(), "lsst/schema");
const schema = await loadSchemaVersion(schemaDir, "11.0");
const type = createAvroType(schema);
const packets = [...new MockSource({ count, seed: 31, cutouts: false }).packets()].map((p) =>
  p.packet
);

// The file-source reference: the same alerts in one container.
const file = join(dir, "alerts.avro");
await writeOcfFile(file, JSON.stringify(schema), type, packets, { codec: "snappy" });
let started = performance.now();
{
  await using storage = new SQLiteStorage(join(dir, "file.db"));
  await ingest(new FileSource({ path: file }), storage, { batchSize: 500 });
}
const fileRate = count / ((performance.now() - started) / 1000);

const client = new KafkaClient({ brokers: [bootstrap], clientId: "bench" });
const topic = `bench-${crypto.randomUUID().slice(0, 8)}`;
await client.createTopic(topic, 4);
const framed = packets.map((packet) => {
  const body = type.toBuffer(packet);
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setInt32(1, 1100);
  out.set(body, 5);
  return out;
});
await client.produce(topic, framed, { compression: "snappy" });

const memory = samplePeakMemory();
started = performance.now();
await using storage = new SQLiteStorage(join(dir, "kafka.db"));
await using source = new KafkaSource({
  bootstrapServers: bootstrap,
  topics: [topic],
  groupId: `${topic}-group`,
  schemaDir,
  schemaStore: storage,
});
const run = await ingest(source, storage, { batchSize: 500, limit: count });
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({
  case: "kafka→sqlite, snappy, 4 partitions, no cutouts",
  alerts: run.alertsIngested,
  seconds: Math.round(seconds * 100) / 100,
  alerts_per_s: Math.round(run.alertsIngested / seconds),
  file_source_alerts_per_s: Math.round(fileRate),
  kafka_over_file: Math.round((run.alertsIngested / seconds / fileRate) * 100) / 100,
  peak_rss_mb: memory.stop(),
}));
