/**
 * Scale-out on real services: ingest workers (separate processes) in one Kafka consumer group
 * writing one PostgreSQL database give exactly what one worker gives, even when one of them is
 * killed mid-run. Rubin messages have no key, so the alerts of one DIAObject are spread over
 * every partition and reach the workers out of time order.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createAvroType,
  loadSchemaVersion,
  MockSource,
  openStorage,
  type Storage,
} from "../mod.ts";
import { BOOTSTRAP, kafkaClient, reap, spawnCli, unique } from "./_kafka.ts";
import { NEED_POSTGRES, POSTGRES_URL, withPostgresDatabase } from "./_postgres.ts";
import { fixturesDir, testWith, withTempDir } from "./_support.ts";

const COUNT = 6000;
const PARTITIONS = 6;
const READY = Boolean(BOOTSTRAP) && POSTGRES_URL !== "" && fixturesDir() !== null;
const NEED = `${NEED_POSTGRES}, a Kafka broker (deno task kafka start) and the shared fixtures`;

/** Produce COUNT mock alerts, Confluent-framed with id 1100, round-robin over the partitions. */
async function produce(topic: string): Promise<void> {
  const schema = await loadSchemaVersion(join(fixturesDir() as string, "lsst/schema"), "11.0");
  const type = createAvroType(schema);
  const client = kafkaClient(BOOTSTRAP);
  const framed = [...new MockSource({ count: COUNT, seed: 12, cutouts: false }).packets()].map(
    ({ packet }) => {
      const body = type.toBuffer(packet);
      const out = new Uint8Array(5 + body.length);
      new DataView(out.buffer).setInt32(1, 1100);
      out.set(body, 5);
      return out;
    },
  );
  // No key, like Rubin's: message i goes to partition i mod 6.
  for (let p = 0; p < PARTITIONS; p++) {
    await client.produce(topic, framed.filter((_, i) => i % PARTITIONS === p), {
      compression: "snappy",
      partition: p,
    });
  }
}

function worker(db: string, topic: string, group: string): Deno.ChildProcess {
  return spawnCli([
    "ingest",
    "--source",
    "kafka",
    "--bootstrap-servers",
    BOOTSTRAP,
    "--topic",
    topic,
    "--group-id",
    group,
    "--schema-dir",
    join(fixturesDir() as string, "lsst/schema"),
    "--db",
    db,
    "--no-cutouts",
    "--batch-size",
    "100",
    "--session-timeout",
    "6",
    "--quiet",
  ]);
}

/** Wait until the database holds `count` alerts (or the deadline passes). */
async function waitFor(storage: Storage, count: number, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (((await storage.stats()).rows.alerts ?? 0) >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`The database did not reach ${count} alerts within ${seconds} s`);
}

/** What must not depend on the storage or the number of workers. */
async function outcome(location: string): Promise<Record<string, unknown>> {
  await using storage = openStorage(location);
  await storage.initialize();
  const numbers = (row: Record<string, unknown>, drop: string[]) =>
    Object.fromEntries(
      Object.entries(row).filter(([k]) => !drop.includes(k)).map((
        [k, v],
      ) => [k, typeof v === "number" && Number.isInteger(v) ? BigInt(v) : v]),
    );
  const alerts = (await Array.fromAsync(storage.iterateRows("alerts")))
    .map((r) => numbers(r, ["run_id", "ingested_at", "source"]));
  const detections = (await Array.fromAsync(storage.iterateRows("reassociations")))
    .map((r) =>
      [r.dia_source_id, r.reason, r.old_ss_object_id, r.new_ss_object_id, r.alert_dia_source_id]
        .join(" ")
    )
    .sort();
  const stats = await storage.stats();
  return {
    alerts,
    detections,
    byReason: stats.reassociationsByReason,
    sources: stats.rows.processed_sources,
  };
}

/**
 * Start workers in a new group, produce the alerts once they all belong to it (so the work is
 * shared from the start), run until every alert is stored, then stop them with SIGINT.
 */
async function runWorkers(
  location: string,
  workers: number,
  kill?: { afterAlerts: number },
): Promise<void> {
  const topic = unique("scale");
  const group = unique("group");
  const client = kafkaClient(BOOTSTRAP);
  await client.createTopic(topic, PARTITIONS);
  await using storage = openStorage(location);
  await storage.initialize();
  const children = Array.from({ length: workers }, () => worker(location, topic, group));
  const exits: Array<Promise<Deno.CommandOutput>> = children.map((c) => c.output());
  try {
    const deadline = Date.now() + 60_000;
    while ((await client.groupMembers(group)) < workers) {
      if (Date.now() > deadline) throw new Error(`${workers} workers did not join the group`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await produce(topic);
    if (kill !== undefined) {
      await waitFor(storage, kill.afterAlerts, 120);
      children[0]?.kill("SIGKILL");
      await exits[0];
      const atKill = (await storage.stats()).rows.alerts ?? 0;
      assert.ok(atKill < COUNT, `killed mid-run (${atKill} of ${COUNT} stored)`);
    }
    await waitFor(storage, COUNT, 180);
    for (const child of children.slice(kill === undefined ? 0 : 1)) child.kill("SIGINT");
    for (const exit of exits) {
      const out = await exit;
      assert.ok([0, 130, 137].includes(out.code), new TextDecoder().decode(out.stderr));
    }
  } finally {
    await Promise.all(children.map(reap));
  }
  const runs = await storage.listRuns(10);
  assert.equal(runs.length, workers);
  const stored = runs.reduce((n, r) => n + r.alertsIngested, 0);
  assert.equal(stored, COUNT, "every alert stored once across the workers");
  if (workers > 1) {
    assert.ok(runs.filter((r) => r.alertsIngested > 0).length >= 2, "the work was shared");
  }
}

testWith(READY, NEED, {
  name:
    "one SQLite worker, one PostgreSQL worker and three PostgreSQL workers in one group agree exactly",
  async fn() {
    await withTempDir("lsst-scale-", async (dir) => {
      const sqlite = join(dir, "one.db");
      await runWorkers(sqlite, 1);
      const reference = await outcome(sqlite);
      assert.equal((reference.alerts as unknown[]).length, COUNT);
      const truth = new MockSource({ count: COUNT, seed: 12, cutouts: false }).groundTruth();
      assert.deepEqual(
        reference.byReason,
        truth.byReason,
        "the exact detections of an in-order pass",
      );

      await withPostgresDatabase(async (url) => {
        await runWorkers(url, 1);
        assert.deepEqual(await outcome(url), reference);
      });
      await withPostgresDatabase(async (url) => {
        await runWorkers(url, 3);
        assert.deepEqual(await outcome(url), reference);
      });
    });
  },
});

testWith(READY, NEED, {
  name:
    "killing one of three workers mid-run: the group rebalances and the result is still identical",
  async fn() {
    await withTempDir("lsst-scale-", async (dir) => {
      const sqlite = join(dir, "one.db");
      await runWorkers(sqlite, 1);
      const reference = await outcome(sqlite);
      await withPostgresDatabase(async (url) => {
        await runWorkers(url, 3, { afterAlerts: COUNT / 4 });
        assert.deepEqual(await outcome(url), reference);
      });
    });
  },
});
