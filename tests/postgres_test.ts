/**
 * PostgreSQL storage on a real server: the same tables and results as SQLite, safe schema
 * creation by concurrent workers, exact detections when several writers share the stream.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type AlertRecord,
  type AlertSource,
  ingest,
  MockSource,
  PostgresStorage,
  type SourcedAlert,
  SQLiteStorage,
  type Storage,
  StorageError,
} from "../mod.ts";
import postgres from "postgres";
import { makeAlert } from "./_alert_factory.ts";
import { plainStream } from "./_plain_stream.ts";
import { compareIds } from "../model/id_map.ts";
import { NEED_POSTGRES, POSTGRES_URL, withPostgresDatabase } from "./_postgres.ts";
import { testWith, withTempDir } from "./_support.ts";

const HAVE = POSTGRES_URL !== "";
const BIG = 170_587_117_485_817_955n;
const NO_CUTOUTS = { science: null, template: null, difference: null };

function listSource(alerts: readonly AlertRecord[], stream = "s"): AlertSource {
  return {
    name: "list",
    params: {},
    async *alerts(): AsyncGenerator<SourcedAlert> {
      let i = 0;
      for (const alert of alerts) {
        yield { kind: "alert", alert, cursor: { stream, position: String(i++) } };
      }
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
}

async function mockAlerts(count: number, seed: number): Promise<AlertRecord[]> {
  const out: AlertRecord[] = [];
  for await (const item of new MockSource({ count, seed, cutouts: false }).alerts()) {
    if (item.kind === "alert") out.push(item.alert);
  }
  return out;
}

/** Everything that must be the same whatever the storage and the number of writers. */
// A row without some columns, integers as bigint whichever way the storage gave them.
function _exact(row: Record<string, unknown>, drop: string[]): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).filter(([k]) => !drop.includes(k)).map(([k, v]) => [
      k,
      typeof v === "number" && Number.isInteger(v) ? BigInt(v) : v,
    ]),
  );
}

async function tables(storage: Storage): Promise<Record<string, unknown>> {
  const strip = _exact;
  const alerts = (await Array.fromAsync(storage.iterateRows("alerts")))
    .map((r) => strip(r, ["run_id", "ingested_at"]));
  const detections = (await Array.fromAsync(storage.iterateRows("reassociations")))
    .map((r) => strip(r, ["id", "run_id", "detected_at"]))
    .sort((a, b) =>
      String(a.dia_source_id).localeCompare(String(b.dia_source_id)) ||
      String(a.alert_dia_source_id).localeCompare(String(b.alert_dia_source_id))
    );
  const stats = await storage.stats();
  return {
    alerts,
    detections,
    byReason: stats.reassociationsByReason,
    sources: stats.rows.processed_sources,
    flagged: stats.reassociationAlerts,
  };
}

testWith(HAVE, NEED_POSTGRES, {
  name: "PostgreSQL: several workers starting at once create the schema once",
  async fn() {
    await withPostgresDatabase(async (url) => {
      const workers = Array.from({ length: 4 }, () => new PostgresStorage(url));
      try {
        await Promise.all(workers.map((w) => w.initialize()));
        await Promise.all(workers.map((w) => w.initialize()));
        const stats = await workers[0]!.stats();
        assert.equal(stats.rows.alerts, 0);
      } finally {
        await Promise.all(workers.map((w) => w.close()));
      }
    });
  },
});

testWith(HAVE, NEED_POSTGRES, {
  name: "PostgreSQL keeps 64-bit ids exact, skips replays and finds the detections SQLite finds",
  async fn() {
    await withPostgresDatabase(async (url) => {
      await using pg = new PostgresStorage(url);
      await using lite = new SQLiteStorage(":memory:");
      const SS = 9_223_372_036_854_775_807n;
      const batches = () => [
        [makeAlert(BIG, { midpointMjdTai: 61000.1, visit: BIG + 2n })],
        [
          makeAlert(BIG + 10n, { midpointMjdTai: 61001.1, history: [[BIG, SS]] }),
          makeAlert(BIG + 20n, { midpointMjdTai: 61002.1, history: [[BIG, SS - 1n]] }),
        ],
        // A replay, and a late alert whose history splits BIG's sequence.
        [
          makeAlert(BIG + 10n, { midpointMjdTai: 61001.1, history: [[BIG, SS]] }),
          makeAlert(BIG + 15n, { midpointMjdTai: 61001.5, history: [[BIG, 0n]] }),
        ],
        [makeAlert(BIG + 30n, {
          snapshot: true,
          ssObjectId: 5n,
          ssObjectReassocTimeMjdTai: 61003,
        })],
        [makeAlert(BIG + 30n, {
          snapshot: true,
          ssObjectId: 5n,
          ssObjectReassocTimeMjdTai: 61004.5,
        })],
      ];
      for (const storage of [pg, lite]) {
        await storage.initialize();
        const runId = await storage.beginRun("test", { note: "x" });
        for (const alerts of batches()) {
          await storage.writeBatch(runId, {
            source: "test",
            alerts: alerts.map((alert) => ({ alert, cutouts: NO_CUTOUTS })),
            quarantine: [{
              source: "test",
              stream: "f",
              position: "1",
              error: "bad",
              raw: new Uint8Array([1, 2]),
            }],
            cursors: [{ stream: "f", position: "1" }],
            loci: [{
              locusId: "ANT1",
              ra: 1,
              dec: 2,
              htm16: BIG,
              tags: ["a"],
              catalogs: [],
              properties: "{}",
              newestAlertId: null,
            }],
          });
        }
        await storage.finishRun(runId, "completed", null);
      }
      assert.deepEqual(await tables(pg), await tables(lite));
      const reasons = (await pg.listReassociations()).map((d) => [d.reason, d.alertDiaSourceId]);
      // BIG: none (its own alert), SS at +10, none at +15 (which arrived last), SS-1 at +20.
      assert.deepEqual(
        reasons.sort(),
        [
          ["association_removed", BIG + 15n],
          ["new_association", BIG + 10n],
          ["new_association", BIG + 20n],
          // Found in the second snapshot: no alert shows it.
          ["updated_timestamp", null],
        ].sort(),
      );
      assert.deepEqual(await pg.loadCursors("test"), new Map([["f", "1"]]));
      const [run] = await pg.listRuns(1);
      assert.equal(run?.status, "completed");
      assert.deepEqual(run?.params, { note: "x" });
      const stats = await pg.stats();
      assert.equal(stats.rows.loci, 1);
      assert.equal(stats.rows.quarantine, 5);
    });
  },
});

testWith(HAVE, NEED_POSTGRES, {
  name:
    "PostgreSQL: a failed batch leaves no rows and no cursor, and a dead worker's run is marked interrupted",
  async fn() {
    await withPostgresDatabase(async (url) => {
      await using storage = new PostgresStorage(url);
      await storage.initialize();
      const runId = await storage.beginRun("test", {});
      await assert.rejects(
        () =>
          storage.writeBatch(runId, {
            source: "test",
            alerts: [makeAlert(BIG), makeAlert(BIG + 1n, { ra: null as unknown as number })]
              .map((alert) => ({ alert, cutouts: NO_CUTOUTS })),
            quarantine: [],
            cursors: [{ stream: "f", position: "9" }],
          }),
        StorageError,
      );
      assert.deepEqual(await storage.loadCursors("test"), new Map());
      assert.equal((await storage.stats()).rows.alerts, 0);

      // A worker that dies (its connections close) without finishing its run.
      const dying = new PostgresStorage(url);
      const orphan = await dying.beginRun("kafka", {});
      const live = new PostgresStorage(url);
      const alive = await live.beginRun("kafka", {});
      await dying.close();
      const next = await storage.beginRun("kafka", {});
      const runs = new Map((await storage.listRuns(10)).map((r) => [r.runId, r.status]));
      assert.equal(runs.get(orphan), "interrupted");
      assert.equal(runs.get(alive), "running");
      assert.equal(runs.get(next), "running");
      await live.finishRun(alive, "completed", null);
      await live.close();
    });
  },
});

testWith(HAVE, NEED_POSTGRES, {
  name:
    "the same alerts give identical tables in SQLite, in PostgreSQL and through three concurrent PostgreSQL writers",
  async fn() {
    const count = 3000;
    await withTempDir("lsst-pg-", async (dir) => {
      await using lite = new SQLiteStorage(join(dir, "one.db"));
      await ingest(listSource(await mockAlerts(count, 8)), lite, { batchSize: 250 });
      const reference = await tables(lite);
      const truth = new MockSource({ count, seed: 8, cutouts: false }).groundTruth();
      assert.deepEqual(reference.byReason, truth.byReason);

      await withPostgresDatabase(async (url) => {
        await using one = new PostgresStorage(url);
        await ingest(listSource(await mockAlerts(count, 8)), one, { batchSize: 250 });
        assert.deepEqual(await tables(one), reference);
      });

      // Three writers, like three workers of one group on unkeyed partitions: each gets every
      // third alert, so a DIASource's observations reach different writers, out of order.
      await withPostgresDatabase(async (url) => {
        const alerts = await mockAlerts(count, 8);
        const writers = [0, 1, 2].map(() => new PostgresStorage(url));
        try {
          await writers[0]!.initialize();
          const runs = await Promise.all(
            writers.map((w, k) =>
              ingest(listSource(alerts.filter((_, i) => i % 3 === k), `p${k}`), w, {
                batchSize: 50,
              })
            ),
          );
          assert.equal(runs.reduce((n, r) => n + r.alertsIngested, 0), count);
          assert.ok(runs.every((r) => r.alertsIngested > 0));
          assert.deepEqual(await tables(writers[0]!), reference);
        } finally {
          await Promise.all(writers.map((w) => w.close()));
        }
      });
    });
  },
});

testWith(HAVE, NEED_POSTGRES, {
  name:
    "PostgreSQL: plain observations written by the locking statement leave the same whole rows as tracking each, and as SQLite",
  async fn() {
    const { alerts, batches } = plainStream();
    // Two runs of batches, then every state whole, the detections, the flags and the counts.
    const write = async (storage: Storage) => {
      await storage.initialize();
      for (const [run, part] of [[0, batches.slice(0, 12)], [1, batches.slice(12)]] as const) {
        const runId = await storage.beginRun("test", { run });
        for (const batch of part) {
          await storage.writeBatch(runId, {
            source: "test",
            // Fresh records each time: tracking writes into them.
            alerts: batch.map((i) => ({ alert: structuredClone(alerts[i]!), cutouts: NO_CUTOUTS })),
            quarantine: [],
            cursors: [],
          });
        }
        await storage.finishRun(runId, "completed", null);
      }
      const sources = (await Array.fromAsync(storage.iterateRows("processed_sources")))
        .map((r) => _exact(r, []))
        .sort((a, b) => compareIds(a.dia_source_id as bigint, b.dia_source_id as bigint));
      const runs = (await storage.listRuns(10)).map((r) => [
        r.alertsIngested,
        r.newSources,
        r.reassociationsDetected,
      ]);
      return { tables: await tables(storage), sources, runs };
    };
    await using lite = new SQLiteStorage(":memory:", { plainGroupMin: Infinity });
    const reference = await write(lite);
    assert.ok(reference.sources.length > 300);
    assert.ok((reference.tables.detections as unknown[]).length > 10);
    // Row versions PostgreSQL wrote into processed_sources, once the storage's connections
    // have ended: a backend reports its counts as it exits.
    const written = async (url: string) => {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        let last = -1;
        for (let waited = 0; waited < 10_000; waited += 100) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          const [row] = await sql`SELECT pg_stat_clear_snapshot()::text,
            (SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()) AS others,
            (SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables
              WHERE relname = 'processed_sources') AS n`;
          const n = Number(row?.n ?? 0);
          if (Number(row?.others) === 0 && n > 0 && n === last) return n;
          last = n;
        }
        throw new Error("PostgreSQL's table statistics did not settle");
      } finally {
        await sql.end();
      }
    };
    const writes: number[] = [];
    for (const plainGroupMin of [Infinity, 1, 8]) {
      await withPostgresDatabase(async (url) => {
        {
          await using pg = new PostgresStorage(url, { plainGroupMin });
          assert.deepEqual(await write(pg), reference, `plainGroupMin ${plainGroupMin}`);
        }
        writes.push(await written(url));
      });
    }
    // Tracking inserts a new DIASource's row, then writes its state; the statement writes a
    // plain first sighting once (measured: 1,972 row writes against 1,684 and 1,711, of 378
    // states).
    const [tracked = 0, plain = 0, grouped = 0] = writes;
    const states = reference.sources.length;
    assert.ok(plain > 0 && tracked - plain >= states / 2, `row writes: ${writes.join(", ")}`);
    assert.ok(grouped >= plain && tracked - grouped >= states / 2, `row writes: ${writes}`);
  },
});

testWith(HAVE, NEED_POSTGRES, {
  name:
    "PostgreSQL: processed_sources leaves room for its rows' updates, in a new database and in one of schema version 3",
  async fn() {
    await withPostgresDatabase(async (url) => {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      const read = async () => {
        const [row] = await sql`SELECT (SELECT version FROM lsst_schema) AS version,
          (SELECT array_to_string(reloptions, ',') FROM pg_class
            WHERE relname = 'processed_sources') AS options`;
        return { version: Number(row?.version), options: row?.options ?? null };
      };
      try {
        {
          await using storage = new PostgresStorage(url);
          await storage.initialize();
        }
        assert.deepEqual(await read(), { version: 4, options: "fillfactor=70" });
        // As version 3 left it: full pages.
        await sql`ALTER TABLE processed_sources RESET (fillfactor)`;
        await sql`UPDATE lsst_schema SET version = 3`;
        assert.deepEqual(await read(), { version: 3, options: null });
        {
          await using storage = new PostgresStorage(url);
          await storage.initialize();
        }
        assert.deepEqual(await read(), { version: 4, options: "fillfactor=70" });
      } finally {
        await sql.end();
      }
    });
  },
});

// What both storages must do with cursor identities: a stream that is another one now starts
// over, an old cursor without one is accepted, and --reset-cursors discards only what it names.
async function checkCursorIdentities(storage: Storage): Promise<void> {
  await storage.initialize();
  const runId = await storage.beginRun("kafka", {});
  const write = (stream: string, position: string, identity?: string) =>
    storage.writeBatch(runId, {
      source: "kafka",
      alerts: [],
      quarantine: [],
      cursors: [{ stream, position, ...(identity === undefined ? {} : { identity }) }],
    });
  await write("t/0", "40", "cluster=a topic=x");
  await write("t/1", "7");
  await write("u/0", "3", "cluster=a topic=y");
  // A worker that lost the partition in a rebalance: the same topic, an older offset, refused.
  await write("t/0", "12", "cluster=a topic=x");
  assert.deepEqual(
    await storage.loadCursors("kafka"),
    new Map([["t/0", "40"], ["t/1", "7"], ["u/0", "3"]]),
  );
  assert.deepEqual(
    await storage.loadCursorIdentities("kafka"),
    new Map([["t/0", "cluster=a topic=x"], ["u/0", "cluster=a topic=y"]]),
  );
  // The topic was created again: its offsets start over, and so do the cursors.
  await write("t/0", "5", "cluster=a topic=z");
  await write("t/1", "2", "cluster=a topic=z");
  assert.deepEqual(
    await storage.loadCursors("kafka"),
    new Map([["t/0", "5"], ["t/1", "2"], ["u/0", "3"]]),
  );
  assert.deepEqual(
    await storage.loadCursorIdentities("kafka"),
    new Map([["t/0", "cluster=a topic=z"], ["t/1", "cluster=a topic=z"], [
      "u/0",
      "cluster=a topic=y",
    ]]),
  );
  assert.equal(await storage.discardCursors("kafka", ["t/0", "t/1", "v/0"]), 2);
  assert.equal(await storage.discardCursors("file", ["u/0"]), 0);
  assert.equal(await storage.discardCursors("kafka", []), 0);
  assert.deepEqual(await storage.loadCursors("kafka"), new Map([["u/0", "3"]]));
}

Deno.test("SQLite: a cursor of a stream that is another one now starts over", async () => {
  await using storage = new SQLiteStorage(":memory:");
  await checkCursorIdentities(storage);
});

testWith(HAVE, NEED_POSTGRES, {
  name: "PostgreSQL: a cursor of a stream that is another one now starts over",
  async fn() {
    await withPostgresDatabase(async (url) => {
      await using storage = new PostgresStorage(url);
      await checkCursorIdentities(storage);
    });
  },
});
