/**
 * Scale-out on real services: ingest workers (separate processes) in one Kafka consumer group
 * writing one PostgreSQL database give exactly what one worker gives, even when one of them is
 * killed mid-run: every row of `alerts`, `processed_sources` and `reassociations` is the same,
 * column for column, but for the columns that name a run or a time of writing. Rubin messages have no key, so the alerts of one DIAObject are spread over
 * every partition and reach the workers out of time order.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import {
  createAvroType,
  isPostgresUrl,
  loadSchemaVersion,
  MockSource,
  openStorage,
  type Storage,
  stringifyExact,
} from "../mod.ts";
import { BOOTSTRAP, kafkaClient, reap, spawnCli, unique } from "./_kafka.ts";
import { NEED_POSTGRES, POSTGRES_URL, withPostgresDatabase } from "./_postgres.ts";
import { fixturesDir, queryDatabase, sized, testWith, withTempDir } from "./_support.ts";

const COUNT = sized(3000, 6000);
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

// Columns that say which run or worker stored a row, or when, and so differ between runs that
// stored the same data: everything else of every row must be identical.
const RUN_SPECIFIC: Record<string, readonly string[]> = {
  // run_id: the run (worker) that stored the alert; ingested_at: wall-clock time of the write.
  alerts: ["run_id", "ingested_at"],
  // first_run_id, last_run_id: run ids, which depend on how many workers ran and which of them
  // saw the DIASource first and last.
  processed_sources: ["first_run_id", "last_run_id"],
  // id: an autoincrement, numbered in the order the workers' transactions committed; run_id:
  // the worker's run; detected_at: wall-clock time of the detection.
  reassociations: ["id", "run_id", "detected_at"],
};
const TABLES = Object.keys(RUN_SPECIFIC);

/** A row as comparable values: integers as bigint, bytes as hex, run-specific columns dropped. */
function comparable(table: string, row: Record<string, unknown>): Record<string, unknown> {
  const drop = RUN_SPECIFIC[table] ?? [];
  return Object.fromEntries(
    Object.entries(row).filter(([k]) => !drop.includes(k)).map(([k, v]) => [
      k,
      // SQLite returns every integer as bigint, PostgreSQL its INTEGER columns as numbers.
      typeof v === "number" && Number.isInteger(v)
        ? BigInt(v)
        : v instanceof Uint8Array
        ? Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("")
        : v,
    ]),
  );
}

/** Every row of the compared tables, read without the code under test, in a canonical order. */
async function tables(location: string): Promise<Record<string, Record<string, unknown>[]>> {
  const out: Record<string, Record<string, unknown>[]> = {};
  const client = isPostgresUrl(location)
    ? postgres(location, { max: 1, types: { bigint: postgres.BigInt }, onnotice: () => {} })
    : null;
  try {
    for (const table of TABLES) {
      const rows = client === null
        ? queryDatabase(location, `SELECT * FROM ${table}`)
        : (await client.unsafe(`SELECT * FROM ${table}`)).map((r) => ({ ...r }));
      out[table] = rows.map((r) => comparable(table, r)).sort((a, b) =>
        _key(a) < _key(b) ? -1 : _key(a) > _key(b) ? 1 : 0
      );
    }
  } finally {
    await client?.end({ timeout: 5 });
  }
  return out;
}

function _key(row: Record<string, unknown>): string {
  return stringifyExact(Object.keys(row).sort().map((k) => [k, row[k]]));
}

/**
 * The differences between two databases' tables, row by row and column by column (the first
 * few of each table), so a failure says exactly what differs.
 */
function differences(
  expected: Record<string, Record<string, unknown>[]>,
  actual: Record<string, Record<string, unknown>[]>,
): string[] {
  const found: string[] = [];
  for (const table of TABLES) {
    const want = expected[table] ?? [];
    const got = actual[table] ?? [];
    if (want.length !== got.length) {
      found.push(`${table}: ${got.length} rows, expected ${want.length}`);
    }
    const columns = new Set([...Object.keys(want[0] ?? {}), ...Object.keys(got[0] ?? {})]);
    let shown = 0;
    for (let i = 0; i < Math.max(want.length, got.length) && shown < 10; i++) {
      const a = want[i] ?? {};
      const b = got[i] ?? {};
      const differing = [...columns].filter((c) => stringifyExact(a[c]) !== stringifyExact(b[c]));
      if (differing.length === 0) continue;
      shown++;
      found.push(
        `${table} row ${i} (dia_source_id ${String(a.dia_source_id ?? b.dia_source_id)}): ` +
          differing.map((c) =>
            `${c} ${stringifyExact(b[c] ?? null)}, expected ${stringifyExact(a[c] ?? null)}`
          ).join("; "),
      );
    }
  }
  return found;
}

/** What must not depend on the storage or the number of workers. */
async function outcome(location: string): Promise<{
  tables: Record<string, Record<string, unknown>[]>;
  byReason: Record<string, number>;
}> {
  await using storage = openStorage(location);
  await storage.initialize();
  return {
    tables: await tables(location),
    byReason: (await storage.stats()).reassociationsByReason,
  };
}

/** Assert that a run's tables are row for row those of the reference run. */
function assertSameTables(
  actual: Awaited<ReturnType<typeof outcome>>,
  reference: Awaited<ReturnType<typeof outcome>>,
): void {
  assert.deepEqual(differences(reference.tables, actual.tables), []);
  assert.deepEqual(actual.byReason, reference.byReason);
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
      assert.equal(reference.tables.alerts?.length, COUNT);
      const truth = new MockSource({ count: COUNT, seed: 12, cutouts: false }).groundTruth();
      assert.deepEqual(
        reference.byReason,
        truth.byReason,
        "the exact detections of an in-order pass",
      );

      await withPostgresDatabase(async (url) => {
        await runWorkers(url, 1);
        assertSameTables(await outcome(url), reference);
      });
      await withPostgresDatabase(async (url) => {
        await runWorkers(url, 3);
        assertSameTables(await outcome(url), reference);
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
        assertSameTables(await outcome(url), reference);
      });
    });
  },
});
