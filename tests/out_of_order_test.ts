/**
 * Detections do not depend on arrival order: the same alerts ingested in shuffled orders (as
 * parallel Kafka partitions or arbitrarily named files deliver them) end with exactly the
 * detections of an in-order pass, and the same states and alert flags.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type AlertRecord,
  type AlertSource,
  createAvroType,
  FileSource,
  ingest,
  loadSchemaVersion,
  MockSource,
  PostgresStorage,
  type SourcedAlert,
  SQLiteStorage,
  type Storage,
  writeOcfFile,
} from "../mod.ts";
import postgres from "postgres";
import { makeAlert } from "./_alert_factory.ts";
import { NEED_POSTGRES, POSTGRES_URL, withPostgresDatabase } from "./_postgres.ts";
import { fixturesDir, queryDatabase, testWith, withTempDir } from "./_support.ts";

const COUNT = 2500;

/** The mock's alerts, fresh objects each call (tracking writes into them). */
async function mockAlerts(seed: number): Promise<AlertRecord[]> {
  const alerts: AlertRecord[] = [];
  for await (const item of new MockSource({ count: COUNT, seed, cutouts: false }).alerts()) {
    if (item.kind === "alert") alerts.push(item.alert);
  }
  return alerts;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** A source over records in the given order; one stream, positions in that order. */
function listSource(alerts: readonly AlertRecord[]): AlertSource {
  return {
    name: "list",
    params: {},
    async *alerts(): AsyncGenerator<SourcedAlert> {
      let i = 0;
      for (const alert of alerts) {
        yield { kind: "alert", alert, cursor: { stream: "s", position: String(i++) } };
      }
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
}

/** What must not depend on order. */
function outcome(path: string): Record<string, unknown> {
  return {
    detections: queryDatabase(
      path,
      `SELECT dia_source_id, reason, old_ss_object_id, new_ss_object_id, alert_dia_source_id
       FROM reassociations ORDER BY dia_source_id, alert_dia_source_id`,
    ),
    sources: queryDatabase(
      path,
      `SELECT dia_source_id, dia_object_id, ss_object_id, first_seen_mjd, last_seen_mjd,
              times_seen, runs FROM processed_sources ORDER BY dia_source_id`,
    ),
    flags: queryDatabase(
      path,
      `SELECT dia_source_id, is_reassociation, reassociation_reason FROM alerts
       ORDER BY dia_source_id`,
    ),
  };
}

Deno.test("alerts ingested in shuffled orders end with the in-order detections, states and flags", async () => {
  await withTempDir("lsst-order-", async (dir) => {
    const truth = new MockSource({ count: COUNT, seed: 4, cutouts: false }).groundTruth();
    const inOrder = join(dir, "in-order.db");
    {
      await using storage = new SQLiteStorage(inOrder);
      await ingest(listSource(await mockAlerts(4)), storage, { batchSize: 100 });
    }
    const reference = outcome(inOrder);
    const expected = truth.detections.map((d) => ({
      dia_source_id: d.diaSourceId,
      reason: d.reason,
      old_ss_object_id: d.oldSsObjectId,
      new_ss_object_id: d.newSsObjectId,
      alert_dia_source_id: d.alertDiaSourceId,
    })).sort((a, b) =>
      a.dia_source_id === b.dia_source_id
        ? Number(a.alert_dia_source_id - b.alert_dia_source_id)
        : a.dia_source_id < b.dia_source_id
        ? -1
        : 1
    );
    assert.deepEqual(reference.detections, expected, "the in-order pass finds the mock's truth");
    assert.ok(expected.length > 50);

    const orders: Array<[string, (alerts: AlertRecord[]) => AlertRecord[], number]> = [
      ["reversed", (a) => a.reverse(), 100],
      ["shuffled, seed 1", (a) => shuffled(a, 1), 100],
      ["shuffled, seed 2, one alert per batch", (a) => shuffled(a, 2), 1],
      ["shuffled, seed 3, one batch", (a) => shuffled(a, 3), 5000],
      // Like three Kafka partitions read one after the other.
      [
        "round-robin partitions read in turn",
        (a) => [0, 1, 2].flatMap((p) => a.filter((_, i) => i % 3 === p)),
        200,
      ],
    ];
    for (const [label, reorder, batchSize] of orders) {
      const path = join(dir, `${label.replaceAll(/\W+/g, "-")}.db`);
      await using storage = new SQLiteStorage(path);
      const run = await ingest(listSource(reorder(await mockAlerts(4))), storage, { batchSize });
      assert.equal(run.alertsIngested, COUNT, label);
      assert.equal(run.reassociationsDetected, expected.length, `${label}: net detections`);
      assert.deepEqual(outcome(path), reference, label);
    }
  });
});

Deno.test("a late observation that splits a constant run is detected both ways, and a replay undoes it", async () => {
  // DIASource D is unassociated in alerts at t=1, 2, 4; an alert at t=3 shows it linked to S.
  // In order that is new_association at t=3 and association_removed at t=4, wherever t=3 lands.
  const D = 170_000_000_000_000_001n;
  const S = 21_000_000_000_000_007n;
  const alert = (id: bigint, t: number, ss: bigint | null): AlertRecord => ({
    diaSourceId: id,
    alertId: id,
    diaObjectId: 99n,
    ssObjectId: null,
    ssObjectName: null,
    objectName: null,
    ssObjectReassocTimeMjdTai: null,
    ra: 1,
    dec: 2,
    raErr: null,
    decErr: null,
    midpointMjdTai: t,
    band: "r",
    psfFlux: null,
    psfFluxErr: null,
    snr: null,
    extendedness: null,
    reliability: null,
    visit: null,
    detector: null,
    observationReason: null,
    targetName: null,
    schemaVersion: "11.0",
    source: "test",
    survey: "lsst",
    history: id === D
      ? []
      : [{ diaSourceId: D, ssObjectId: ss, midpointMjdTai: 1, ssObjectReassocTimeMjdTai: null }],
    properties: null,
    snapshot: false,
    cutoutScience: null,
    cutoutTemplate: null,
    cutoutDifference: null,
    isReassociation: false,
    reassociationReason: null,
    reassociations: [],
  });
  const make =
    () => [alert(D, 1, null), alert(D + 1n, 2, null), alert(D + 3n, 4, null), alert(D + 2n, 3, S)];
  for (const order of [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]]) {
    await using storage = new SQLiteStorage(":memory:");
    const alerts = make();
    for (const i of order) await ingest(listSource([alerts[i] as AlertRecord]), storage);
    const found = (await storage.listReassociations()).map((d) => [d.reason, d.alertDiaSourceId])
      .sort();
    assert.deepEqual(
      found,
      [["association_removed", D + 3n], ["new_association", D + 2n]],
      `order ${order}`,
    );
    const [flags] = await Array.fromAsync(storage.iterateRows("alerts")).then((rows) =>
      rows.filter((r) => r.dia_source_id === D + 2n)
    );
    assert.equal(flags?.is_reassociation, 1n, `order ${order}`);
  }
});

testWith(fixturesDir() !== null, "the shared fixtures (../shared/fixtures)", {
  name: "files named against time order give the in-order detections",
  async fn() {
    const schema = await loadSchemaVersion(join(fixturesDir() as string, "lsst/schema"), "11.0");
    const type = createAvroType(schema);
    const packets = [...new MockSource({ count: COUNT, seed: 6, cutouts: false }).packets()]
      .map((p) => p.packet);
    await withTempDir("lsst-order-files-", async (dir) => {
      // Ten files whose names sort against time: the newest alerts are read first.
      const files = join(dir, "files");
      await Deno.mkdir(files);
      for (let k = 0; k < 10; k++) {
        const slice = packets.slice(k * (COUNT / 10), (k + 1) * (COUNT / 10));
        await writeOcfFile(
          join(files, `${String(9 - k).padStart(2, "0")}.avro`),
          JSON.stringify(schema),
          type,
          slice,
        );
      }
      const inOrder = join(dir, "in-order.db");
      {
        await using storage = new SQLiteStorage(inOrder);
        await ingest(listSource(await mockAlerts(6)), storage);
      }
      const reversed = join(dir, "files.db");
      {
        await using storage = new SQLiteStorage(reversed);
        const run = await ingest(new FileSource({ path: files }), storage);
        assert.equal(run.alertsIngested, COUNT);
      }
      const a = outcome(inOrder);
      const b = outcome(reversed);
      assert.deepEqual(b.detections, a.detections);
      assert.deepEqual(b.sources, a.sources);
      assert.deepEqual(b.flags, a.flags);
    });
  },
});

// ---- Snapshots (CSV/APDB rows, ANTARES alerts): observations at their reassociation time, else
// at the import, whatever the order they arrive in among alerts.

/** A storage under test with a way to read its tables. */
interface Backend {
  name: string;
  with(work: (storage: Storage, rows: (sql: string) => Promise<Row[]>) => Promise<void>): Promise<
    void
  >;
}

type Row = Record<string, unknown>;

const SQLITE: Backend = {
  name: "SQLite",
  with: (work) =>
    withTempDir("lsst-snapshots-", async (dir) => {
      const path = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(path);
      await work(storage, (sql) => Promise.resolve(queryDatabase(path, sql)));
    }),
};

const POSTGRES: Backend = {
  name: "PostgreSQL",
  with: (work) =>
    withPostgresDatabase(async (url) => {
      const sql = postgres(url, { max: 1, types: { bigint: postgres.BigInt }, onnotice: () => {} });
      try {
        await using storage = new PostgresStorage(url);
        // Values as SQLite gives them: integers as bigint, whatever their column type.
        await work(storage, async (text) =>
          (await sql.unsafe(text)).map((r) =>
            Object.fromEntries(
              Object.entries(r).map((
                [k, v],
              ) => [k, typeof v === "number" && INTEGER.has(k) ? BigInt(v) : v]),
            )
          ));
      } finally {
        await sql.end({ timeout: 5 });
      }
    }),
};

// int4 columns, which the PostgreSQL driver reads as numbers.
const INTEGER = new Set(["is_reassociation", "runs", "detector"]);

function backendTest(name: string, fn: (backend: Backend) => Promise<void>): void {
  Deno.test(`${name} (SQLite)`, () => fn(SQLITE));
  testWith(POSTGRES_URL !== "", NEED_POSTGRES, {
    name: `${name} (PostgreSQL)`,
    fn: () => fn(POSTGRES),
  });
}

const D = 5n; // the DIAObject of the examples
const SS = 7n;

function packet(id: bigint, t: number, history: Array<[bigint, bigint | null]> = []): AlertRecord {
  return makeAlert(id, {
    diaObjectId: D,
    midpointMjdTai: t,
    history: history.map(([h, ss]) => [h, ss ?? 0n] as const),
  });
}

function csvRow(id: bigint, ss: bigint | null, reassoc: number | null): AlertRecord {
  return makeAlert(id, {
    diaObjectId: D,
    midpointMjdTai: 10,
    ssObjectId: ss,
    ssObjectReassocTimeMjdTai: reassoc,
    snapshot: true,
    source: "file",
  });
}

const DETECTIONS = `SELECT dia_source_id, reason, old_ss_object_id, new_ss_object_id,
  old_reassoc_time, new_reassoc_time, alert_dia_source_id, observed_mjd
  FROM reassociations ORDER BY dia_source_id, observed_mjd, alert_dia_source_id`;

backendTest(
  "a snapshot after the alerts that carry its DIASource is one new association, found in the snapshot",
  async (backend) => {
    await backend.with(async (storage, rows) => {
      for (
        const record of [packet(100n, 10), packet(200n, 20, [[100n, null]]), csvRow(100n, SS, 25)]
      ) {
        await ingest(listSource([record]), storage, { importMjd: 1000 });
      }
      assert.deepEqual(await rows(DETECTIONS), [{
        dia_source_id: 100n,
        reason: "new_association",
        old_ss_object_id: null,
        new_ss_object_id: SS,
        old_reassoc_time: null,
        new_reassoc_time: 25,
        alert_dia_source_id: null,
        observed_mjd: 25,
      }]);
      assert.deepEqual(
        await rows(
          "SELECT dia_source_id, ss_object_id, is_reassociation, reassociation_reason FROM alerts ORDER BY dia_source_id",
        ),
        [
          {
            dia_source_id: 100n,
            ss_object_id: null,
            is_reassociation: 0n,
            reassociation_reason: null,
          },
          {
            dia_source_id: 200n,
            ss_object_id: null,
            is_reassociation: 0n,
            reassociation_reason: null,
          },
        ],
      );
      assert.deepEqual(
        await rows(
          "SELECT ss_object_id, ss_object_reassoc_time_mjd_tai, last_seen_mjd, times_seen FROM processed_sources WHERE dia_source_id = 100",
        ),
        [{
          ss_object_id: SS,
          ss_object_reassoc_time_mjd_tai: 25,
          last_seen_mjd: 25,
          times_seen: 3n,
        }],
      );
    });
  },
);

backendTest(
  "a snapshot between alerts gives the same single detection in every arrival order",
  async (backend) => {
    const make = () => [
      packet(100n, 10),
      csvRow(100n, SS, 25),
      packet(200n, 20, [[100n, null]]),
      packet(300n, 30, [[100n, SS], [200n, null]]),
    ];
    // Every order of the four records, one record per batch.
    const orders: number[][] = [];
    const permute = (prefix: number[], rest: number[]) => {
      if (rest.length === 0) orders.push(prefix);
      for (const i of rest) permute([...prefix, i], rest.filter((j) => j !== i));
    };
    permute([], [0, 1, 2, 3]);
    let reference: Row[] | null = null;
    for (const order of orders) {
      await backend.with(async (storage, rows) => {
        const records = make();
        for (const i of order) {
          await ingest(listSource([records[i] as AlertRecord]), storage, { importMjd: 1000 });
        }
        const found = await rows(DETECTIONS);
        assert.deepEqual(
          found.map((d) => [d.dia_source_id, d.reason, d.alert_dia_source_id, d.observed_mjd]),
          [[100n, "new_association", null, 25]],
          `order ${order}`,
        );
        const states = await rows("SELECT * FROM processed_sources ORDER BY dia_source_id");
        const comparable = states.map(({ first_run_id: _f, last_run_id: _l, ...rest }) => rest);
        reference ??= comparable;
        assert.deepEqual(comparable, reference, `order ${order}`);
        const flagged = await rows("SELECT dia_source_id FROM alerts WHERE is_reassociation = 1");
        assert.deepEqual(flagged, [], `order ${order}`);
      });
    }
    assert.equal(orders.length, 24);
  },
);

/**
 * Snapshot rows for DIASources that the mock's histories carry: some with a reassociation time
 * between two of their sightings, some without (observed at the import), associating, changing,
 * removing or repeating the association.
 */
function snapshotRows(alerts: readonly AlertRecord[]): AlertRecord[] {
  const seen = new Map<bigint, { object: bigint | null; times: number[]; ss: bigint | null }>();
  for (const a of alerts) {
    for (const h of a.history) {
      const s = seen.get(h.diaSourceId) ?? { object: a.diaObjectId, times: [], ss: null };
      s.times.push(a.midpointMjdTai);
      s.ss = h.ssObjectId;
      seen.set(h.diaSourceId, s);
    }
  }
  const rows: AlertRecord[] = [];
  let k = 0;
  for (const [id, s] of seen) {
    if (s.times.length < 2 || k++ % 7 !== 0) continue;
    s.times.sort((a, b) => a - b);
    const kind = rows.length % 4;
    const ss = kind === 0 ? 42_000_000_000_000_000n + id : kind === 1 ? null : s.ss;
    // Between the first and the second sighting, or at the import.
    const reassoc = rows.length % 3 === 2
      ? null
      : ((s.times[0] as number) + (s.times[1] as number)) / 2;
    rows.push(
      makeAlert(id, {
        diaObjectId: s.object,
        midpointMjdTai: s.times[0] as number,
        ssObjectId: ss,
        ssObjectReassocTimeMjdTai: reassoc,
        snapshot: true,
        source: "file",
      }),
    );
    // Some rows twice, as an export imported again.
    if (rows.length % 5 === 0) rows.push({ ...(rows.at(-1) as AlertRecord), reassociations: [] });
  }
  return rows;
}

/**
 * An independent oracle: every observation of every DIASource sorted by time (alerts' before a
 * snapshot's at equal time), folded with the rules of DOMAIN.md §3.
 */
function expectedDetections(
  alerts: readonly AlertRecord[],
  snapshots: readonly AlertRecord[],
  importMjd: number,
) {
  type Obs = {
    t: number;
    order: bigint;
    seq: number;
    ss: bigint | null;
    rt: number | null;
    alert: bigint | null;
  };
  const byId = new Map<bigint, Obs[]>();
  const add = (id: bigint, o: Obs) => byId.set(id, [...(byId.get(id) ?? []), o]);
  let seq = 0;
  for (const a of alerts) {
    const base = { t: a.midpointMjdTai, order: a.diaSourceId, alert: a.diaSourceId };
    add(a.diaSourceId, { ...base, seq: seq++, ss: a.ssObjectId, rt: a.ssObjectReassocTimeMjdTai });
    for (const h of a.history) {
      add(h.diaSourceId, {
        ...base,
        seq: seq++,
        ss: h.ssObjectId,
        rt: h.ssObjectReassocTimeMjdTai,
      });
    }
  }
  const keys = new Set<string>();
  for (const s of snapshots) {
    const t = s.ssObjectReassocTimeMjdTai ?? importMjd;
    const key = `${s.diaSourceId}|${t}|${s.ssObjectId}|${s.ssObjectReassocTimeMjdTai}`;
    if (keys.has(key)) continue;
    keys.add(key);
    add(s.diaSourceId, {
      t,
      order: 2n ** 63n - 1n,
      seq: seq++,
      ss: s.ssObjectId,
      rt: s.ssObjectReassocTimeMjdTai,
      alert: null,
    });
  }
  const out: Row[] = [];
  for (const [id, list] of byId) {
    list.sort((a, b) =>
      a.t - b.t || (a.order < b.order ? -1 : a.order > b.order ? 1 : a.seq - b.seq)
    );
    let ss = list[0]!.ss;
    let rt = list[0]!.rt;
    for (const o of list.slice(1)) {
      let reason: string | null = null;
      if (ss === null) reason = o.ss === null ? null : "new_association";
      else if (o.ss === null) reason = "association_removed";
      else if (o.ss !== ss) reason = "changed_association";
      else if (rt !== null && o.rt !== null && rt !== o.rt) reason = "updated_timestamp";
      const next = o.rt ?? (o.ss === ss ? rt : null);
      if (reason !== null) {
        out.push({
          dia_source_id: id,
          reason,
          old_ss_object_id: ss,
          new_ss_object_id: o.ss,
          old_reassoc_time: rt,
          new_reassoc_time: next,
          alert_dia_source_id: o.alert,
          observed_mjd: o.t,
        });
      }
      ss = o.ss;
      rt = next;
    }
  }
  return out;
}

function sortDetections(rows: Row[]): Row[] {
  const key = (r: Row) =>
    `${String(r.dia_source_id).padStart(20, "0")}|${
      Number(r.observed_mjd).toFixed(6).padStart(16, "0")
    }|${String(r.alert_dia_source_id ?? "~").padStart(20, "0")}`;
  return [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

// Whole rows but the row id, the detection's wall-clock time, and run ids (one run per database
// here, but a row's run is not part of what the alerts say).
const WHOLE_DETECTIONS = `SELECT dia_source_id, reason, old_ss_object_id, new_ss_object_id,
  old_reassoc_time, new_reassoc_time, alert_dia_source_id, observed_mjd FROM reassociations`;
const WHOLE_STATES = `SELECT dia_source_id, dia_object_id, ss_object_id,
  ss_object_reassoc_time_mjd_tai, first_seen_mjd, last_seen_mjd, times_seen, last_alert_id, runs
  FROM processed_sources ORDER BY dia_source_id`;

Deno.test("alerts and snapshots in shuffled orders end with the same whole rows, and the oracle's detections", async () => {
  const IMPORT = 70_000;
  const make = async () => {
    const alerts = await mockAlerts(4);
    return { alerts, snapshots: snapshotRows(alerts) };
  };
  const { alerts: base, snapshots: baseRows } = await make();
  assert.ok(baseRows.length > 100, `${baseRows.length} snapshot rows`);
  assert.ok(baseRows.some((r) => r.ssObjectReassocTimeMjdTai === null));
  const expected = sortDetections(expectedDetections(base, baseRows, IMPORT));
  assert.ok(expected.some((d) => d.alert_dia_source_id === null), "snapshots detect");
  assert.ok(expected.some((d) => d.alert_dia_source_id !== null), "alerts detect");

  const orders: Array<[string, (records: AlertRecord[]) => AlertRecord[], number]> = [
    ["in order, snapshots last", (r) => r, 100],
    [
      "snapshots first",
      (r) => [...r.filter((a) => a.snapshot), ...r.filter((a) => !a.snapshot)],
      100,
    ],
    ["reversed", (r) => r.reverse(), 100],
    ["shuffled, seed 1", (r) => shuffled(r, 1), 100],
    ["shuffled, seed 2, one record per batch", (r) => shuffled(r, 2), 1],
    ["shuffled, seed 3, one batch", (r) => shuffled(r, 3), 10_000],
  ];
  let reference: { detections: Row[]; states: Row[]; alerts: Row[] } | null = null;
  await withTempDir("lsst-order-snapshots-", async (dir) => {
    for (const [label, reorder, batchSize] of orders) {
      const { alerts, snapshots } = await make();
      const path = join(dir, `${label.replaceAll(/\W+/g, "-")}.db`);
      await using storage = new SQLiteStorage(path);
      await ingest(listSource(reorder([...alerts, ...snapshots])), storage, {
        batchSize,
        importMjd: IMPORT,
      });
      const got = {
        detections: sortDetections(queryDatabase(path, WHOLE_DETECTIONS)),
        states: queryDatabase(path, WHOLE_STATES),
        alerts: queryDatabase(
          path,
          `SELECT dia_source_id, ss_object_id, is_reassociation, reassociation_reason, snapshot
           FROM alerts ORDER BY dia_source_id`,
        ),
      };
      assert.deepEqual(got.detections, expected, `${label}: the oracle's detections`);
      reference ??= got;
      assert.deepEqual(got.states, reference.states, `${label}: processed_sources`);
      assert.deepEqual(got.alerts, reference.alerts, `${label}: alert rows and flags`);
    }
  });
});

testWith(POSTGRES_URL !== "", NEED_POSTGRES, {
  name:
    "alerts and snapshots shuffled into PostgreSQL end with SQLite's whole rows and the oracle's detections",
  async fn() {
    const IMPORT = 70_000;
    const make = async () => {
      const alerts = await mockAlerts(4);
      return { alerts, snapshots: snapshotRows(alerts) };
    };
    const { alerts: base, snapshots: baseRows } = await make();
    const expected = sortDetections(expectedDetections(base, baseRows, IMPORT));
    let states: Row[] = [];
    await SQLITE.with(async (storage, rows) => {
      const { alerts, snapshots } = await make();
      await ingest(listSource([...alerts, ...snapshots]), storage, { importMjd: IMPORT });
      states = await rows(WHOLE_STATES);
    });
    await POSTGRES.with(async (storage, rows) => {
      const { alerts, snapshots } = await make();
      await ingest(listSource(shuffled([...alerts, ...snapshots], 5)), storage, {
        batchSize: 50,
        importMjd: IMPORT,
      });
      assert.deepEqual(sortDetections(await rows(WHOLE_DETECTIONS)), expected, "detections");
      assert.deepEqual(await rows(WHOLE_STATES), states, "processed_sources");
    });
  },
});
