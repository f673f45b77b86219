import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { SQLiteStorage } from "./sqlite_storage.ts";
import { SQLITE_SCHEMA_VERSION } from "./sqlite_migrations.ts";
import { StorageError } from "../model/errors.ts";
import { type HistorySpec, makeAlert } from "../tests/_alert_factory.ts";
import type { AlertRecord } from "../model/alert_record.ts";
import { withTempDir } from "../tests/_support.ts";
import { PLAIN_STREAM_BASE, plainStream } from "../tests/_plain_stream.ts";
import type { StoredAlert } from "../model/stored_alert.ts";
import { type SourceState, trackAlerts } from "../tracking/reassociation_tracker.ts";

const NO_CUTOUTS = { science: null, template: null, difference: null };
const BIG = 170_587_117_485_817_955n;
const SS = 9_223_372_036_854_775_807n; // the largest signed 64-bit id

function stored(...alerts: ReturnType<typeof makeAlert>[]): StoredAlert[] {
  return alerts.map((alert) => ({ alert, cutouts: NO_CUTOUTS }));
}

function withDatabase(work: (path: string) => Promise<void>): Promise<void> {
  return withTempDir("lsst-storage-", (dir) => work(join(dir, "nested", "alerts.db")));
}

// Initialize an older database, check it now has the newest version, and open it to read.
async function upgraded(storage: SQLiteStorage, path: string): Promise<DatabaseSync> {
  await storage.initialize();
  const check = readOnly(path);
  assert.equal(check.prepare("PRAGMA user_version").get()?.user_version, SQLITE_SCHEMA_VERSION);
  return check;
}

function readOnly(path: string): DatabaseSync {
  return new DatabaseSync(path, { readOnly: true });
}

// Store one alert as a batch of its own (a copy: tracking writes into records), then read the
// states back as readStates() does.
async function storeAndRead(
  storage: SQLiteStorage,
  runId: number,
  path: string,
  alert: AlertRecord,
): Promise<ReturnType<typeof readStates>> {
  await storage.writeBatch(runId, {
    source: "test",
    alerts: stored(structuredClone(alert)),
    quarantine: [],
    cursors: [],
  });
  return readStates(path);
}

// What a reader sees through processed_sources, with the state_bumps rows waiting: in all and for
// the DIAObject with the most.
function readStates(path: string): { sources: unknown[]; bumps: number; most: number } {
  const db = readOnly(path);
  try {
    const rows = db.prepare("SELECT * FROM processed_sources ORDER BY dia_source_id");
    rows.setReadBigInts(true);
    const bumps = db.prepare(
      `SELECT COALESCE(SUM(n), 0) AS bumps, COALESCE(MAX(n), 0) AS most
       FROM (SELECT COUNT(*) AS n FROM state_bumps GROUP BY object_key)`,
    ).get();
    return { sources: rows.all(), bumps: Number(bumps?.bumps), most: Number(bumps?.most) };
  } finally {
    db.close();
  }
}

Deno.test("initialize() creates the schema once and the seed's queries run as written", async () => {
  await withDatabase(async (path) => {
    await using storage = new SQLiteStorage(path);
    await storage.initialize();
    await storage.initialize();
    const runId = await storage.beginRun("mock", { count: 3 });
    await storage.finishRun(runId, "completed", null);

    const db = readOnly(path);
    try {
      assert.equal(
        (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
        SQLITE_SCHEMA_VERSION,
      );
      assert.equal(
        (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode,
        "wal",
      );
      const runs = db.prepare("SELECT * FROM ingestion_runs ORDER BY started_at DESC LIMIT 10;")
        .all();
      assert.equal(runs.length, 1);
      assert.equal(runs[0]?.status, "completed");
      assert.deepEqual(JSON.parse(String(runs[0]?.params)), { count: 3 });
      assert.equal(db.prepare("SELECT COUNT(*) FROM processed_sources;").get()?.["COUNT(*)"], 0);
    } finally {
      db.close();
    }
  });
});

Deno.test("initialize() refuses a database written by a newer schema version", async () => {
  await withDatabase(async (path) => {
    await new SQLiteStorage(path).initialize();
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    db.close();
    await using storage = new SQLiteStorage(path);
    await assert.rejects(() => storage.initialize(), (error: Error) => {
      assert.ok(error instanceof StorageError);
      assert.match(error.message, /newer than this program's/);
      return true;
    });
  });
});

Deno.test("writeBatch() stores 64-bit ids exactly in every table", async () => {
  await withDatabase(async (path) => {
    await using storage = new SQLiteStorage(path);
    await storage.initialize();
    const runId = await storage.beginRun("test", {});
    await storage.writeBatch(runId, {
      source: "test",
      alerts: stored(
        makeAlert(BIG, { diaObjectId: BIG + 1n, visit: BIG + 2n, midpointMjdTai: 61000.1 }),
        makeAlert(BIG + 10n, { midpointMjdTai: 61001.1, history: [[BIG, SS]] }),
      ),
      quarantine: [],
      cursors: [{ stream: "s", position: "1" }],
    });
    const db = readOnly(path);
    try {
      const alert = db.prepare("SELECT * FROM alerts WHERE dia_source_id = ?");
      alert.setReadBigInts(true);
      const row = alert.get(BIG);
      assert.equal(row?.dia_source_id, BIG);
      assert.equal(row?.dia_object_id, BIG + 1n);
      assert.equal(row?.visit, BIG + 2n);
      const source = db.prepare("SELECT * FROM processed_sources WHERE dia_source_id = ?");
      source.setReadBigInts(true);
      assert.equal(source.get(BIG)?.ss_object_id, SS);
      // Exact as text too: nothing went through a double.
      assert.deepEqual(
        db.prepare("SELECT CAST(new_ss_object_id AS TEXT) AS t FROM reassociations").all()
          .map((r) => r.t),
        ["9223372036854775807"],
      );
    } finally {
      db.close();
    }
    const [detection] = await storage.listReassociations();
    assert.equal(detection?.diaSourceId, BIG);
    assert.equal(detection?.newSsObjectId, SS);
    assert.equal(detection?.alertDiaSourceId, BIG + 10n);
  });
});

Deno.test("writeBatch() skips alerts already stored, so a replay detects nothing new", async () => {
  await withDatabase(async (path) => {
    await using storage = new SQLiteStorage(path);
    await storage.initialize();
    const batch = () => ({
      source: "test",
      alerts: stored(
        makeAlert(BIG, { midpointMjdTai: 61000.1 }),
        makeAlert(BIG + 1n, { midpointMjdTai: 61001.1, history: [[BIG, 77n]] }),
      ),
      quarantine: [],
      cursors: [],
    });
    const first = await storage.writeBatch(await storage.beginRun("test", {}), batch());
    assert.deepEqual(first, {
      alertsIngested: 2,
      alertsSkipped: 0,
      newSources: 2,
      reassociationsDetected: 1,
      alertsQuarantined: 0,
    });
    const again = await storage.writeBatch(await storage.beginRun("test", {}), batch());
    assert.deepEqual(again, {
      alertsIngested: 0,
      alertsSkipped: 2,
      newSources: 0,
      reassociationsDetected: 0,
      alertsQuarantined: 0,
    });
    const stats = await storage.stats();
    assert.equal(stats.rows.alerts, 2);
    assert.equal(stats.rows.reassociations, 1);
    const db = readOnly(path);
    try {
      assert.deepEqual(
        db.prepare("SELECT times_seen FROM processed_sources ORDER BY dia_source_id").all().map((
          r,
        ) => r.times_seen),
        [2, 1],
      );
    } finally {
      db.close();
    }
  });
});

Deno.test("writeBatch() stores rows and cursors together or not at all", async () => {
  await withDatabase(async (path) => {
    await using storage = new SQLiteStorage(path);
    await storage.initialize();
    const runId = await storage.beginRun("test", {});
    await storage.writeBatch(runId, {
      source: "test",
      alerts: stored(makeAlert(BIG)),
      quarantine: [],
      cursors: [{ stream: "f.avro", position: "0" }],
    });
    // A NOT NULL column left empty makes the second insert fail after the first succeeded.
    const broken = makeAlert(BIG + 2n, { ra: null as unknown as number });
    await assert.rejects(
      () =>
        storage.writeBatch(runId, {
          source: "test",
          alerts: stored(makeAlert(BIG + 1n, { history: [[BIG, 5n]] }), broken),
          quarantine: [{ source: "test", stream: "f.avro", position: "1", error: "x", raw: null }],
          cursors: [{ stream: "f.avro", position: "2" }],
        }),
      StorageError,
    );
    assert.deepEqual(await storage.loadCursors("test"), new Map([["f.avro", "0"]]));
    const stats = await storage.stats();
    assert.equal(stats.rows.alerts, 1);
    assert.equal(stats.rows.quarantine, 0);
    assert.equal(stats.rows.reassociations, 0);
    // The cached state was rolled back too: the same observation is detected when retried.
    const retry = await storage.writeBatch(runId, {
      source: "test",
      alerts: stored(makeAlert(BIG + 1n, { history: [[BIG, 5n]] })),
      quarantine: [],
      cursors: [{ stream: "f.avro", position: "1" }],
    });
    assert.equal(retry.reassociationsDetected, 1);
    const db = readOnly(path);
    try {
      assert.equal(
        db.prepare("SELECT times_seen FROM processed_sources WHERE dia_source_id = ?").get(BIG)
          ?.times_seen,
        2,
      );
    } finally {
      db.close();
    }
  });
});

Deno.test("writeBatch() sees states another process wrote since its last batch", async () => {
  await withDatabase(async (path) => {
    await using one = new SQLiteStorage(path);
    await using two = new SQLiteStorage(path);
    await one.initialize();
    const runId = await one.beginRun("test", {});
    const write = (storage: SQLiteStorage, alerts: StoredAlert[]) =>
      storage.writeBatch(runId, { source: "test", alerts, quarantine: [], cursors: [] });
    await write(one, stored(makeAlert(BIG, { midpointMjdTai: 61000.1 })));
    await write(
      two,
      stored(makeAlert(BIG + 1n, { midpointMjdTai: 61001.1, history: [[BIG, 5n]] })),
    );
    // `one` cached BIG as unassociated; it must reload and see 5, so 5 → 6 is a change.
    const outcome = await write(
      one,
      stored(makeAlert(BIG + 2n, { midpointMjdTai: 61002.1, history: [[BIG, 6n]] })),
    );
    assert.equal(outcome.reassociationsDetected, 1);
    const reasons = (await one.listReassociations()).map((r) => r.reason);
    assert.deepEqual(reasons, ["changed_association", "new_association"]);
  });
});

Deno.test("a writer waits for another's write lock, then fails with a clear busy error", async () => {
  await withDatabase(async (path) => {
    await new SQLiteStorage(path).initialize();
    const holder = new DatabaseSync(path);
    holder.exec("BEGIN IMMEDIATE");
    try {
      await using storage = new SQLiteStorage(path, { busyTimeoutMs: 300 });
      const started = performance.now();
      await assert.rejects(() => storage.beginRun("test", {}), (error: Error) => {
        assert.ok(error instanceof StorageError);
        assert.match(error.message, /is busy: another process held its write lock/);
        return true;
      });
      assert.ok(performance.now() - started >= 250, "it waited for the busy timeout");
    } finally {
      holder.exec("ROLLBACK");
      holder.close();
    }
  });
});

Deno.test("beginRun() marks runs of processes that no longer exist as interrupted", async () => {
  await withDatabase(async (path) => {
    await using storage = new SQLiteStorage(path);
    await storage.initialize();
    // A run left by a killed process: its row says running, nobody holds its lock.
    const db = new DatabaseSync(path);
    db.exec(`INSERT INTO ingestion_runs (source, started_at, status)
             VALUES ('file', '2026-01-01T00:00:00.000Z', 'running')`);
    db.close();
    // A live run of another process (another connection here) keeps its status.
    await using other = new SQLiteStorage(path);
    const live = await other.beginRun("file", {});
    const runId = await storage.beginRun("mock", {});
    const runs = await storage.listRuns(10);
    assert.deepEqual(runs.map((r) => [r.runId, r.status]), [
      [runId, "running"],
      [live, "running"],
      [1, "interrupted"],
    ]);
    assert.match(runs[2]?.error ?? "", /process ended/);
    await other.finishRun(live, "completed", null);
    assert.equal(existsSync(`${path}-runs/${live}.lock`), false);
  });
});

Deno.test("stats() counts tables, solar-system alerts and reassociations by reason", async () => {
  await using storage = new SQLiteStorage(":memory:");
  await storage.initialize();
  const runId = await storage.beginRun("test", {});
  await storage.writeBatch(runId, {
    source: "test",
    alerts: stored(
      makeAlert(BIG, { midpointMjdTai: 61000.5 }),
      makeAlert(BIG + 1n, { diaObjectId: null, ssObjectId: 3n, midpointMjdTai: 61002.5 }),
      makeAlert(BIG + 2n, { midpointMjdTai: 61001.5, history: [[BIG, 4n]] }),
    ),
    quarantine: [{
      source: "test",
      stream: "x",
      position: "9",
      error: "bad",
      raw: new Uint8Array([1]),
    }],
    cursors: [],
  });
  const stats = await storage.stats();
  assert.equal(stats.rows.alerts, 3);
  assert.equal(stats.rows.processed_sources, 3);
  assert.equal(stats.rows.quarantine, 1);
  assert.equal(stats.solarSystemAlerts, 1);
  assert.equal(stats.reassociationAlerts, 1);
  assert.deepEqual(stats.reassociationsByReason, {
    new_association: 1,
    changed_association: 0,
    updated_timestamp: 0,
    association_removed: 0,
  });
  assert.deepEqual(stats.mjdRange, { min: 61000.5, max: 61002.5 });
  assert.equal(stats.sizeBytes, null);
});

Deno.test("writeBatch() observes snapshots at their reassociation time, else at the import, and never rewrites an alert row", async () => {
  await using storage = new SQLiteStorage(":memory:");
  await storage.initialize();
  const runId = await storage.beginRun("file", {});
  const row = (ss: bigint | null, reassoc: number | null) =>
    makeAlert(BIG, { snapshot: true, ssObjectId: ss, ssObjectReassocTimeMjdTai: reassoc });
  const write = (importMjd: number, ...alerts: ReturnType<typeof makeAlert>[]) =>
    storage.writeBatch(runId, {
      source: "file",
      alerts: stored(...alerts),
      quarantine: [],
      cursors: [],
      importMjd,
    });

  // The packet: unassociated at 61000.1.
  assert.equal((await write(61100, makeAlert(BIG))).alertsIngested, 1);
  // An export row with a reassociation time is observed at that time.
  const first = await write(61100, row(SS, 61000.5));
  assert.deepEqual([first.alertsSkipped, first.reassociationsDetected], [1, 1]);
  // The same row again is the same statement; one without a time is observed at the import,
  // where it repeats the association and fires nothing.
  const repeat = await write(61100, row(SS, 61000.5), row(SS, null));
  assert.deepEqual([repeat.alertsSkipped, repeat.reassociationsDetected], [2, 0]);
  // Rows timed between the others land between them: a replay places them.
  const updated = await write(61200, row(SS, 61003.25), row(SS - 1n, 61004.5));
  assert.equal(updated.reassociationsDetected, 3);
  assert.deepEqual(
    (await storage.listReassociations()).map((
      d,
    ) => [d.reason, d.oldSsObjectId, d.newSsObjectId, d.observedMjd, d.alertDiaSourceId]).sort(),
    [
      ["changed_association", SS - 1n, SS, 61100, null],
      ["changed_association", SS, SS - 1n, 61004.5, null],
      ["new_association", null, SS, 61000.5, null],
      ["updated_timestamp", SS, SS, 61003.25, null],
    ],
  );
  // The alert row keeps what its packet said, and no alert shows a snapshot's detection.
  const [alertRow] = await Array.fromAsync(storage.iterateRows("alerts"));
  assert.equal(alertRow?.ss_object_id, null);
  assert.equal(alertRow?.is_reassociation, 0n);
  assert.equal(alertRow?.reassociation_reason, null);
  // Replays of plain alerts are still skipped without being observed.
  const replay = await write(61300, makeAlert(BIG, { ssObjectId: null }));
  assert.equal(replay.reassociationsDetected, 0);
  assert.equal((await storage.stats()).rows.alerts, 1);
});

Deno.test("writeBatch() keeps a snapshot's fields as the alert row until the packet arrives", async () => {
  await using storage = new SQLiteStorage(":memory:");
  await storage.initialize();
  const runId = await storage.beginRun("file", {});
  const write = (...alerts: ReturnType<typeof makeAlert>[]) =>
    storage.writeBatch(runId, {
      source: "file",
      alerts: stored(...alerts),
      quarantine: [],
      cursors: [],
      importMjd: 61100,
    });
  const csv = makeAlert(BIG, {
    snapshot: true,
    ssObjectId: SS,
    isReassociation: true,
    reassociationReason: "new_association",
    psfFlux: 1,
  });
  assert.equal((await write(csv)).alertsIngested, 1);
  assert.deepEqual(await storage.knownAlertIds([BIG]), new Set(), "a snapshot is not the packet");
  let [row] = await Array.fromAsync(storage.iterateRows("alerts"));
  assert.deepEqual([row?.ss_object_id, row?.is_reassociation, row?.psf_flux], [SS, 1n, 1]);
  assert.equal(row !== undefined && "snapshot" in row, false, "the marker is not exported");

  // The packet replaces the row and is observed at its own time, before the snapshot.
  const packet = await write(makeAlert(BIG, { psfFlux: 2 }));
  assert.deepEqual([packet.alertsIngested, packet.reassociationsDetected], [1, 1]);
  [row] = await Array.fromAsync(storage.iterateRows("alerts"));
  assert.deepEqual([row?.ss_object_id, row?.is_reassociation, row?.psf_flux], [null, 0n, 2]);
  assert.deepEqual(await storage.knownAlertIds([BIG]), new Set([BIG]));
  const [d] = await storage.listReassociations();
  assert.deepEqual([d?.reason, d?.alertDiaSourceId, d?.observedMjd], [
    "new_association",
    null,
    61100,
  ]);
  // Once stored, the packet is not replaced again.
  assert.equal((await write(makeAlert(BIG, { psfFlux: 3 }))).alertsIngested, 0);
});

Deno.test("initialize() migrates a version 1 database without losing rows", async () => {
  await withDatabase(async (path) => {
    // Version 1 as released: schema.sql without the columns and tables added since.
    const v1 = (await Deno.readTextFile(new URL("../schema.sql", import.meta.url)))
      .replace(/^\s*object_name\s+TEXT,.*$/m, "")
      .replace(/^\s*properties\s+TEXT,.*$/m, "")
      .replace(/^\s*ss_object_reassoc_time_mjd_tai REAL,\s+-- given.*$/m, "")
      .replace(/^\s*history\s+BLOB,.*$/m, "")
      .replace(/^\s*last_alert_id\s+INTEGER,.*$/m, "")
      .replace(/^\s*runs\s+INTEGER NOT NULL DEFAULT 1.*$/m, "")
      .replace(/(ingested_at\s+TEXT\s+NOT NULL),\s*\n\s*snapshot\s+INTEGER.*$/m, "$1")
      .replace(/(detected_at\s+TEXT\s+NOT NULL),\s*\n\s*observed_mjd\s+REAL.*$/m, "$1")
      .replace(/^\s*identity\s+TEXT,.*$/m, "")
      // Until version 8 the states were a table of their own, keyed by DIASource.
      .replace(
        /CREATE TABLE IF NOT EXISTS source_states[\s\S]*?FROM source_states;/,
        `CREATE TABLE processed_sources (dia_source_id INTEGER PRIMARY KEY, dia_object_id INTEGER,
           ss_object_id INTEGER, ss_object_reassoc_time_mjd_tai REAL,
           first_seen_mjd REAL NOT NULL, last_seen_mjd REAL NOT NULL, times_seen INTEGER NOT NULL,
           first_run_id INTEGER, last_run_id INTEGER);`,
      );
    await Deno.mkdir(join(path, ".."), { recursive: true });
    const db = new DatabaseSync(path);
    db.exec(v1);
    db.exec("PRAGMA user_version = 1");
    db.exec(`INSERT INTO alerts (dia_source_id, alert_id, ra, dec, midpoint_mjd_tai,
             schema_version, source, ingested_at) VALUES (${BIG}, ${BIG}, 1, 2, 61000, '9.0', 'file', 'x')`);
    db.close();
    await using storage = new SQLiteStorage(path);
    const check = await upgraded(storage, path);
    try {
      const columns = check.prepare("PRAGMA table_info(alerts)").all().map((c) => c.name);
      assert.ok(columns.includes("object_name"));
    } finally {
      check.close();
    }
    assert.equal((await storage.stats()).rows.alerts, 1);
    const runId = await storage.beginRun("test", {});
    await storage.writeBatch(runId, {
      source: "test",
      alerts: stored(makeAlert(BIG + 1n, { objectName: "ZTF18abcdefg", survey: "ztf" })),
      quarantine: [],
      cursors: [],
    });
    const [, row] = await Array.fromAsync(storage.iterateRows("alerts"));
    assert.equal(row?.object_name, "ZTF18abcdefg");
  });
});

Deno.test("saveSchema() keeps each schema once and schemaById() finds it", async () => {
  await using storage = new SQLiteStorage(":memory:");
  await storage.initialize();
  const schema = { fingerprint: "ab12", id: 1101, version: "11.1", survey: "lsst", json: "{}" };
  await storage.saveSchema(schema);
  await storage.saveSchema(schema);
  await storage.saveSchema({ ...schema, fingerprint: "cd34", id: null });
  assert.deepEqual(await storage.schemaById(1101), schema);
  assert.equal(await storage.schemaById(900), null);
  assert.equal((await storage.stats()).rows.schemas, 2);
});

Deno.test("iterateRows() streams alerts and detections since an MJD, ids exact", async () => {
  await using storage = new SQLiteStorage(":memory:");
  await storage.initialize();
  const runId = await storage.beginRun("test", {});
  await storage.writeBatch(runId, {
    source: "test",
    alerts: stored(
      makeAlert(BIG, { midpointMjdTai: 61000.5 }),
      makeAlert(BIG + 1n, { midpointMjdTai: 61001.5, history: [[BIG, SS]] }),
    ),
    quarantine: [],
    cursors: [],
  });
  const all = await Array.fromAsync(storage.iterateRows("alerts"));
  assert.deepEqual(all.map((r) => r.dia_source_id), [BIG, BIG + 1n]);
  assert.equal(Object.keys(all[0] ?? {})[0], "dia_source_id");
  const recent = await Array.fromAsync(storage.iterateRows("alerts", { sinceMjd: 61001 }));
  assert.deepEqual(recent.map((r) => r.dia_source_id), [BIG + 1n]);
  const detections = await Array.fromAsync(
    storage.iterateRows("reassociations", { sinceMjd: 61001 }),
  );
  assert.deepEqual(detections.map((r) => [r.dia_source_id, r.new_ss_object_id]), [[BIG, SS]]);
  assert.deepEqual(
    await Array.fromAsync(storage.iterateRows("reassociations", { sinceMjd: 61002 })),
    [],
  );
});

Deno.test("writeBatch() never moves an offset cursor back (a worker that lost its partition)", async () => {
  await using storage = new SQLiteStorage(":memory:");
  await storage.initialize();
  const runId = await storage.beginRun("kafka", {});
  const write = (position: string) =>
    storage.writeBatch(runId, {
      source: "kafka",
      alerts: [],
      quarantine: [],
      cursors: [{ stream: "t/0", position }, {
        stream: "f.avro",
        position: position === "90" ? "5:1" : "12:0",
      }],
    });
  await write("100");
  await write("90");
  // Offsets only move forward; other positions (file blocks) are whatever was stored last.
  assert.deepEqual(
    await storage.loadCursors("kafka"),
    new Map([["t/0", "100"], ["f.avro", "5:1"]]),
  );
});

Deno.test("heavy histories: set-based state writes leave the rows tracking in memory computes", async () => {
  const base = 170_000_000_000_000_000n;
  // Four visits of one DIAObject, each carrying every earlier DIASource (100, then 40 more
  // each time), some associations changing: insert groups, bump groups and single rows.
  const visit = (v: number) => {
    const id = base + BigInt(v) * 1000n;
    const history = Array.from({ length: 100 + v * 40 }, (_, k) => {
      const ss = k % 37 === v ? 4_000_000_000_000_000_001n + BigInt(v) : 0n;
      return [base - BigInt(k + 1), ss] as const;
    });
    return makeAlert(id, { midpointMjdTai: 61000 + v, history });
  };
  const expected = new Map<bigint, SourceState>();
  trackAlerts([0, 1, 2, 3].map(visit), expected, 1);

  await withTempDir("lsst-state-writes-", async (dir) => {
    const path = join(dir, "alerts.db");
    {
      await using storage = new SQLiteStorage(path);
      await storage.initialize();
      const runId = await storage.beginRun("test", {});
      assert.equal(runId, 1);
      for (const v of [0, 1, 2, 3]) {
        await storage.writeBatch(runId, {
          source: "test",
          alerts: stored(visit(v)),
          quarantine: [],
          cursors: [],
        });
      }
    }
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const statement = db.prepare("SELECT * FROM processed_sources ORDER BY dia_source_id");
      statement.setReadBigInts(true);
      const rows = statement.all() as Record<string, unknown>[];
      assert.equal(rows.length, expected.size);
      assert.ok(rows.length > 200);
      for (const row of rows) {
        const state = expected.get(row.dia_source_id as bigint) as SourceState;
        assert.deepEqual(
          {
            dia_object_id: row.dia_object_id,
            ss_object_id: row.ss_object_id,
            first_seen_mjd: row.first_seen_mjd,
            last_seen_mjd: row.last_seen_mjd,
            times_seen: Number(row.times_seen),
            last_alert_id: row.last_alert_id,
            runs: Number(row.runs),
          },
          {
            dia_object_id: state.diaObjectId,
            ss_object_id: state.ssObjectId,
            first_seen_mjd: state.firstSeenMjd,
            last_seen_mjd: state.lastSeenMjd,
            times_seen: state.timesSeen,
            last_alert_id: state.lastAlertId,
            runs: state.runs,
          },
          `DIASource ${row.dia_source_id}`,
        );
      }
    } finally {
      db.close();
    }
  });
});

Deno.test("plain observations written by set-based statements leave the same whole rows as tracking each in memory", async () => {
  const { alerts, batches } = plainStream();
  const base = PLAIN_STREAM_BASE;

  const tables = async (path: string, plainGroupMin: number) => {
    // Before each run ends, while bumps may be waiting: the view is exact then too.
    const beforeEnd: unknown[][] = [];
    let waiting = 0;
    {
      await using storage = new SQLiteStorage(path, { plainGroupMin });
      await storage.initialize();
      for (const [run, part] of [[0, batches.slice(0, 12)], [1, batches.slice(12)]] as const) {
        const runId = await storage.beginRun("test", { run });
        for (const batch of part) {
          // Fresh records each time: tracking writes into them.
          const records = batch.map((i) => structuredClone(alerts[i]!));
          await storage.writeBatch(runId, {
            source: "test",
            alerts: stored(...records),
            quarantine: [],
            cursors: [],
          });
        }
        const seen = readStates(path);
        beforeEnd.push(seen.sources);
        waiting += seen.bumps;
        await storage.finishRun(runId, "completed", null);
        assert.equal(readStates(path).bumps, 0, "a finished run leaves no bumps");
      }
    }
    const db = readOnly(path);
    try {
      const all = (sql: string) => {
        const statement = db.prepare(sql);
        statement.setReadBigInts(true);
        return statement.all();
      };
      return {
        waiting,
        beforeEnd,
        sources: all("SELECT * FROM processed_sources ORDER BY dia_source_id"),
        detections: all(
          `SELECT dia_source_id, reason, old_ss_object_id, new_ss_object_id, old_reassoc_time,
             new_reassoc_time, alert_dia_source_id, run_id, observed_mjd
           FROM reassociations ORDER BY dia_source_id, alert_dia_source_id, reason`,
        ),
        flags: all(
          "SELECT dia_source_id, is_reassociation, reassociation_reason FROM alerts ORDER BY 1",
        ),
        runs: all(
          `SELECT alerts_ingested, new_sources, reassociations_detected FROM ingestion_runs
           ORDER BY run_id`,
        ),
      };
    } finally {
      db.close();
    }
  };
  await withTempDir("lsst-plain-", async (dir) => {
    const { waiting: none, ...tracked } = await tables(join(dir, "tracked.db"), Infinity);
    assert.equal(none, 0);
    assert.ok(tracked.sources.length > 300);
    assert.ok(tracked.detections.length > 10);
    for (const min of [1, 8]) {
      const { waiting, ...plain } = await tables(join(dir, `plain-${min}.db`), min);
      // Re-observations were stored as bumps, and read back exact before they were folded.
      assert.ok(waiting > 10, `bumps waiting before the runs ended: ${waiting}`);
      assert.deepEqual(plain, tracked, `plainGroupMin ${min}`);
      // Every state is stored under its DIAObject, those learnt later (object 4's) included.
      const db = readOnly(join(dir, `plain-${min}.db`));
      try {
        const keys = db.prepare(
          `SELECT COUNT(*) AS wrong FROM source_states WHERE object_key <> COALESCE(dia_object_id, 0)`,
        ).get();
        assert.equal(keys?.wrong, 0);
        const learnt = db.prepare(
          "SELECT object_key FROM source_states WHERE dia_source_id IN (?, ?) ORDER BY 1",
        );
        learnt.setReadBigInts(true);
        assert.deepEqual(
          learnt.all(base + 5_000_000n, base + 5_000_001n).map((r) => r.object_key),
          [5_000_004n, 5_000_004n],
        );
      } finally {
        db.close();
      }
    }
  });
});

Deno.test("initialize() moves a version 7 database's states under their DIAObjects, unchanged as processed_sources", async () => {
  await withDatabase(async (path) => {
    // Version 7: schema.sql with the states in a table of their own, keyed by DIASource.
    const v7 = (await Deno.readTextFile(new URL("../schema.sql", import.meta.url))).replace(
      /CREATE TABLE IF NOT EXISTS source_states[\s\S]*?FROM source_states;/,
      `CREATE TABLE processed_sources (dia_source_id INTEGER PRIMARY KEY, dia_object_id INTEGER,
         ss_object_id INTEGER, ss_object_reassoc_time_mjd_tai REAL, first_seen_mjd REAL NOT NULL,
         last_seen_mjd REAL NOT NULL, times_seen INTEGER NOT NULL, first_run_id INTEGER,
         last_run_id INTEGER, last_alert_id INTEGER, runs INTEGER NOT NULL DEFAULT 1);
       CREATE INDEX processed_sources_ss_object ON processed_sources (ss_object_id)
         WHERE ss_object_id IS NOT NULL;`,
    );
    await Deno.mkdir(join(path, ".."), { recursive: true });
    const db = new DatabaseSync(path);
    db.exec(v7);
    db.exec("PRAGMA user_version = 7");
    const rows = [
      [BIG, 9_007_199_254_740_993n, SS, 61000.25, 61000.5, 61002.5, 3n, 1n, 2n, BIG + 7n, 2n],
      [BIG + 1n, null, null, null, 61001.5, 61001.5, 1n, 2n, 2n, BIG + 1n, 1n],
      [BIG + 2n, 9_007_199_254_740_993n, null, null, 61001.5, 61003.5, 2n, 2n, 3n, null, 1n],
    ] as const;
    const insert = db.prepare(
      "INSERT INTO processed_sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    for (const row of rows) insert.run(...row);
    db.close();
    await using storage = new SQLiteStorage(path);
    const check = await upgraded(storage, path);
    try {
      const read = (sql: string) => {
        const statement = check.prepare(sql);
        statement.setReadBigInts(true);
        return statement.all().map((row) => Object.values(row));
      };
      const asInts = (values: unknown[]) =>
        values.map((v) => (typeof v === "number" && Number.isInteger(v) ? BigInt(v) : v));
      assert.deepEqual(
        read("SELECT * FROM processed_sources ORDER BY dia_source_id").map(asInts),
        rows.map((r) => asInts([...r])),
      );
      // Stored by DIAObject: the primary key leads with it, and there is no rowid.
      assert.deepEqual(read("SELECT wr FROM pragma_table_list WHERE name = 'source_states'"), [[
        1n,
      ]]);
      assert.deepEqual(
        read("SELECT name FROM pragma_table_info('source_states') WHERE pk > 0 ORDER BY pk"),
        [["object_key"], ["dia_source_id"]],
      );
      assert.deepEqual(read("SELECT object_key, dia_source_id FROM source_states ORDER BY 1, 2"), [
        [0n, BIG + 1n],
        [9_007_199_254_740_993n, BIG],
        [9_007_199_254_740_993n, BIG + 2n],
      ]);
      const kinds = read("SELECT type, name FROM sqlite_master WHERE name LIKE '%sources%'");
      assert.deepEqual(kinds, [["view", "processed_sources"]]);
    } finally {
      check.close();
    }
  });
});

Deno.test("bumps waiting for a DIAObject are folded before a state is written among them", async () => {
  // One DIAObject's history re-observed alert after alert (stored as bumps), then: a first
  // sighting in the middle of the bumped ids, an entry whose association changes (tracked), an
  // alert whose own DIASource lies among them, and an alert delivered late. After every batch
  // processed_sources must read as tracking every state in memory leaves it.
  const at = (k: number) => 1_000n + BigInt(k);
  const known = [10, 20, 30, 40, 50, 60, 70, 80];
  const history = (ids: number[], ss: (k: number) => bigint = () => 0n): HistorySpec[] =>
    ids.map((k) => [at(k), ss(k)] as const);
  const alerts = [
    makeAlert(9_001n, { midpointMjdTai: 61001, history: history(known) }),
    makeAlert(9_002n, { midpointMjdTai: 61002, history: history(known) }),
    // Late, after states stored at 61001 and bumps at 61002.
    makeAlert(9_000n, { midpointMjdTai: 61001.5, history: history(known) }),
    makeAlert(9_003n, { midpointMjdTai: 61003, history: history([...known, 45].sort()) }),
    makeAlert(9_004n, {
      midpointMjdTai: 61004,
      history: history([...known, 45].sort(), (k) => (k === 30 ? SS : 0n)),
    }),
    makeAlert(at(55), {
      midpointMjdTai: 61005,
      history: history([...known, 45].sort(), (k) => (k === 30 ? SS : 0n)),
    }),
    makeAlert(9_006n, {
      midpointMjdTai: 61006,
      history: history([...known, 45, 55].sort(), (k) => (k === 30 ? SS : 0n)),
    }),
    makeAlert(9_007n, {
      midpointMjdTai: 61003.5,
      history: history([...known, 45].sort(), (k) => (k === 30 ? SS : 0n)),
    }),
  ];
  const reads = async (path: string, plainGroupMin: number) => {
    const seen: unknown[] = [];
    let waiting = 0;
    await using storage = new SQLiteStorage(path, { plainGroupMin });
    await storage.initialize();
    const runId = await storage.beginRun("test", {});
    for (const alert of alerts) {
      const read = await storeAndRead(storage, runId, path, alert);
      seen.push(read.sources);
      waiting += read.bumps;
    }
    return { seen, waiting };
  };
  await withTempDir("lsst-fold-", async (dir) => {
    const tracked = await reads(join(dir, "tracked.db"), Infinity);
    const plain = await reads(join(dir, "plain.db"), 1);
    assert.ok(plain.waiting > 0, "some re-observations were stored as bumps");
    for (const [i, rows] of tracked.seen.entries()) {
      assert.deepEqual(plain.seen[i], rows, `after alert ${i + 1}`);
    }
  });
});

Deno.test("bumps stay exact across connections, a run that never ends, and a DIAObject with many alerts", async () => {
  // 80 alerts of one DIAObject (more bumps than one DIAObject may keep) and 40 of another,
  // written alternately through two connections, as two processes would; the first run is
  // never finished (its process died), the second finishes.
  const alerts: AlertRecord[] = [];
  for (let k = 0; k < 120; k++) {
    const object = k % 3 === 2 ? 2n : 1n;
    // Even ids, and one odd id a visit among them: a first sighting amid bumped states.
    const past = Array.from({ length: 12 }, (_, j) => object * 1_000_000n + BigInt(k * 2 + j * 2));
    past.splice(6, 0, object * 1_000_000n + BigInt(k * 2 + 11));
    alerts.push(makeAlert(9_000_000n + BigInt(k), {
      diaObjectId: object,
      midpointMjdTai: 61000 + k / 100,
      history: past.map((id) => [id, k === 110 && id % 5n === 0n ? SS : 0n] as const),
    }));
  }
  const run = async (path: string, plainGroupMin: number) => {
    const seen: unknown[] = [];
    let most = 0;
    const a = new SQLiteStorage(path, { plainGroupMin });
    const b = new SQLiteStorage(path, { plainGroupMin });
    try {
      await a.initialize();
      const runA = await a.beginRun("test", {});
      const runB = await b.beginRun("test", {});
      for (const [i, alert] of alerts.entries()) {
        const [storage, runId] = i % 4 < 2 ? [a, runA] : [b, runB];
        const read = await storeAndRead(storage, runId, path, alert);
        seen.push(read.sources);
        most = Math.max(most, read.most);
      }
      await b.finishRun(runB, "completed", null);
    } finally {
      await a.close();
      await b.close();
    }
    return { seen, most };
  };
  await withTempDir("lsst-bumps-", async (dir) => {
    const tracked = await run(join(dir, "tracked.db"), Infinity);
    const plain = await run(join(dir, "plain.db"), 1);
    assert.ok(plain.most > 10, `bumps waited: at most ${plain.most} for one DIAObject`);
    assert.ok(plain.most <= 64, `bumps of one DIAObject are folded at 64: ${plain.most}`);
    for (const [i, rows] of tracked.seen.entries()) {
      assert.deepEqual(plain.seen[i], rows, `after alert ${i + 1}`);
    }
  });
});

Deno.test("initialize() gives a version 8 database the state_bumps table and a processed_sources view that adds them", async () => {
  await withDatabase(async (path) => {
    // Version 8: schema.sql without state_bumps, the view a plain copy of source_states.
    const v8 = (await Deno.readTextFile(new URL("../schema.sql", import.meta.url)))
      .replace(/CREATE TABLE IF NOT EXISTS state_bumps[\s\S]*?WITHOUT ROWID;/, "")
      .replace(
        /CREATE VIEW IF NOT EXISTS processed_sources[\s\S]*?FROM source_states;/,
        `CREATE VIEW IF NOT EXISTS processed_sources AS
           SELECT dia_source_id, dia_object_id, ss_object_id, ss_object_reassoc_time_mjd_tai,
             first_seen_mjd, last_seen_mjd, times_seen, first_run_id, last_run_id, last_alert_id,
             runs
           FROM source_states;`,
      );
    assert.ok(!v8.includes("state_bumps"));
    await Deno.mkdir(join(path, ".."), { recursive: true });
    const db = new DatabaseSync(path);
    db.exec(v8);
    db.exec("PRAGMA user_version = 8");
    db.exec(`INSERT INTO source_states VALUES (${BIG}, ${BIG + 1n}, ${BIG}, NULL, NULL,
      61000.5, 61001.5, 2, 1, 1, ${BIG + 7n}, 1)`);
    db.close();
    await using storage = new SQLiteStorage(path);
    const check = await upgraded(storage, path);
    try {
      const read = () => {
        const statement = check.prepare(
          "SELECT times_seen, last_seen_mjd, last_alert_id, last_run_id FROM processed_sources",
        );
        statement.setReadBigInts(true);
        return statement.all().map((row) => Object.values(row));
      };
      assert.deepEqual(read(), [[2n, 61001.5, BIG + 7n, 1n]]);
      const write = new DatabaseSync(path);
      write.exec(`INSERT INTO state_bumps VALUES (${BIG}, ${BIG}, ${BIG + 5n}, 61002.5,
        ${BIG + 9n}, 3)`);
      write.close();
      assert.deepEqual(read(), [[3n, 61002.5, BIG + 9n, 3n]]);
    } finally {
      check.close();
    }
  });
});
