// deno-lint-ignore-file no-console
/**
 * Kafka → PostgreSQL with 1 and then 3 ingest workers (separate processes, one consumer group)
 * on a 6-partition topic of N mock v11.0 alerts (no key, snappy, no cutouts), like a visit's
 * alerts arriving: the workers have joined the group and wait; the clock starts before the first
 * message is produced and stops when the last alert is stored, so every alert stored is timed.
 * The producer runs meanwhile (its own time is printed: the workers cannot finish before it).
 * Prints one JSON line per worker count, with the date; the second has the ratio to the first.
 *
 * deno run … bench/scale_out.ts <count> <shared> <case dir>
 * (needs KAFKA_BOOTSTRAP and LSST_TEST_POSTGRES_URL)
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { createAvroType, loadSchemaVersion, MockSource, openStorage } from "../mod.ts";
import { KafkaClient } from "../sources/kafka/_kafka_client.ts";
import { fixturesDir } from "./_fixtures.ts";

const [countText = "40000"] = Deno.args;
const count = Number(countText);
const bootstrap = Deno.env.get("KAFKA_BOOTSTRAP");
const server = Deno.env.get("LSST_TEST_POSTGRES_URL");
if (bootstrap === undefined || server === undefined) {
  throw new Error("KAFKA_BOOTSTRAP and LSST_TEST_POSTGRES_URL must be set");
}
const schemaDir = join(fixturesDir(), "lsst/schema");
const schema = await loadSchemaVersion(schemaDir, "11.0");
const type = createAvroType(schema);
const framed = [...new MockSource({ count, seed: 41, cutouts: false }).packets()].map(
  ({ packet }) => {
    const body = type.toBuffer(packet);
    const out = new Uint8Array(5 + body.length);
    new DataView(out.buffer).setInt32(1, 1100);
    out.set(body, 5);
    return out;
  },
);
const client = new KafkaClient({ brokers: [bootstrap], clientId: "bench" });
const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
const admin = postgres(server, { max: 1, onnotice: () => {} });
const date = new Date().toISOString();
let oneWorker: number | null = null;

for (const workers of [1, 3]) {
  const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 8);
  const topic = `bench-scale-${tag}`;
  const group = `${topic}-group`;
  const name = `bench_scale_${tag}`;
  await client.createTopic(topic, 6);
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  const children: Deno.ChildProcess[] = [];
  try {
    await using storage = openStorage(url.toString());
    await storage.initialize();
    for (let i = 0; i < workers; i++) {
      children.push(
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-read",
            "--allow-write",
            "--allow-env",
            "--allow-net",
            cli,
            "ingest",
            "--source",
            "kafka",
            "--bootstrap-servers",
            bootstrap,
            "--topic",
            topic,
            "--group-id",
            group,
            "--schema-dir",
            schemaDir,
            "--db",
            url.toString(),
            "--no-cutouts",
            "--quiet",
            "--batch-size",
            "500",
            "--session-timeout",
            "6",
          ],
          stdout: "null",
          stderr: "inherit",
        }).spawn(),
      );
    }
    while ((await client.groupMembers(group)) < workers) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const started = performance.now();
    // Partitions produced side by side, as a visit's alerts reach every partition at once.
    const producing = Promise.all(
      [0, 1, 2, 3, 4, 5].map((p) =>
        client.produce(topic, framed.filter((_, i) => i % 6 === p), {
          compression: "snappy",
          partition: p,
        })
      ),
    ).then(() => performance.now() - started);
    while (((await storage.stats()).rows.alerts ?? 0) < count) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const seconds = (performance.now() - started) / 1000;
    const produceSeconds = (await producing) / 1000;
    const rate = count / seconds;
    oneWorker ??= rate;
    console.log(JSON.stringify({
      case: `kafka→postgresql, ${workers} worker${workers > 1 ? "s" : ""}, 6 partitions`,
      date,
      alerts: count,
      seconds: Math.round(seconds * 100) / 100,
      alerts_per_s: Math.round(rate),
      ...(workers > 1 ? { over_1_worker: Math.round((rate / oneWorker) * 100) / 100 } : {}),
      produce_seconds: Math.round(produceSeconds * 100) / 100,
      measured_as: "first message produced to last alert stored, workers already in the group",
    }));
  } finally {
    for (const child of children) {
      child.kill("SIGINT");
      await child.status;
    }
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}
await admin.end();
