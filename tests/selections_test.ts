/**
 * Named science selections on databases whose answers are known: simulated alerts (with the
 * mock's own record of the reassociations it planted) plus hand-made alerts on every limit.
 * Each selection's rows are worked out here in TypeScript from the stored tables, not by running
 * its SQL again, and compared in order; PostgreSQL must give the same rows as SQLite; the
 * command line prints them with exact ids.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  EXTENDED_ABOVE,
  ingest,
  MINIMOON_MAX_EXTENDEDNESS,
  MINIMOON_MIN_EXTENDEDNESS,
  MINIMOON_MIN_SNR,
  MockSource,
  type MockSourceOptions,
  parseExact,
  POINT_BELOW,
  PostgresStorage,
  SCIENCE_SELECTIONS,
  selectAlerts,
  type SelectAlertsOptions,
  SQLiteStorage,
  type Storage,
} from "../mod.ts";
import type { AlertRecord } from "../model/alert_record.ts";
import { makeAlert } from "./_alert_factory.ts";
import { NEED_POSTGRES, POSTGRES_URL, withPostgresDatabase } from "./_postgres.ts";
import { queryDatabase, REPO_ROOT, sized, testWith, withTempDir } from "./_support.ts";
import { NEED_VENV, VENV_PYTHON } from "./_python_venv.ts";

type Row = Record<string, unknown>;

const MOCK: MockSourceOptions = {
  count: sized(800, 2000),
  seed: 5,
  solarSystemShare: 0.1,
  reassociationShare: 0.1,
  cutouts: false,
};

// Hand-made alerts, above 2^53 so a double would round their ids, all of one DIAObject and at
// one midpoint (before the mock's first night), so ties are broken by id.
const EDGE_BASE = 9_100_000_000_000_000_000n;
const EDGE_OBJECT = 9_100_000_000_000_000_999n;
const EDGE_SS = 9_200_000_000_000_000_001n;
const EDGE_MJD = 60999.5;
const NO_CUTOUTS = { science: null, template: null, difference: null };

// [name, solar-system, extendedness, snr]. Packets carry 32-bit floats: fround(0.3) is
// 0.30000001192092896 and fround(0.7) 0.699999988079071.
const EDGES: ReadonlyArray<readonly [string, boolean, number | null, number | null]> = [
  ["ss 0.3", true, 0.3, 50],
  ["ss 0.7", true, 0.7, 50],
  ["ss float32 0.3", true, Math.fround(0.3), 50],
  ["ss float32 0.7", true, Math.fround(0.7), 50],
  ["just below 0.3", false, 0.2999999, 50],
  ["just above 0.7", false, 0.7000001, 50],
  ["ss no extendedness", true, null, 50],
  ["ss 0.5 no snr", true, 0.5, null],
  ["ss 0.5 snr 5", true, 0.5, 5],
  ["ss 0.5 snr 4.999", true, 0.5, 4.999],
  ["not ss 0.5", false, 0.5, null],
  ["extendedness 0", false, 0, 50],
  ["extendedness 1", false, 1, 50],
  ["nothing known", false, null, null],
];

function edgeId(name: string): bigint {
  const index = EDGES.findIndex(([n]) => n === name);
  assert.ok(index >= 0, name);
  return EDGE_BASE + BigInt(index);
}

function edgeAlerts(): AlertRecord[] {
  return EDGES.map(([_, solarSystem, extendedness, snr], i) =>
    makeAlert(EDGE_BASE + BigInt(i), {
      diaObjectId: EDGE_OBJECT,
      ssObjectId: solarSystem ? EDGE_SS : null,
      ssObjectName: solarSystem ? "2026 XA99" : null,
      midpointMjdTai: EDGE_MJD,
      extendedness,
      snr,
    })
  );
}

// One DIASource seen only in the histories of five alerts of another DIAObject, through every
// rule: associated with SSOBJECT_A from its first sighting, moved to SSOBJECT_B, removed, linked
// to SSOBJECT_A again, and the same with a new reassociation time (updated_timestamp).
const TRACKED = 9_100_000_000_000_001_000n;
const TRACKED_OBJECT = 9_100_000_000_000_001_999n;
const SSOBJECT_A = 9_200_000_000_000_000_002n;
const SSOBJECT_B = 9_200_000_000_000_000_003n;
const STORY: ReadonlyArray<readonly [number, bigint, number?]> = [
  [60999.6, SSOBJECT_A, 60999.0],
  [60999.61, SSOBJECT_B],
  [60999.62, 0n],
  [60999.63, SSOBJECT_A, 60999.1],
  [60999.64, SSOBJECT_A, 60999.3],
];

function storyAlerts(): AlertRecord[] {
  return STORY.map(([midpoint, ss, reassoc], i) =>
    makeAlert(TRACKED + 1n + BigInt(i), {
      diaObjectId: TRACKED_OBJECT,
      midpointMjdTai: midpoint,
      history: [reassoc === undefined ? [TRACKED, ss] : [TRACKED, ss, reassoc]],
    })
  );
}

const HAND_MADE = EDGES.length + STORY.length;

/** The mock stream, then the hand-made alerts in a second run. */
async function fill(storage: Storage): Promise<void> {
  const run = await ingest(new MockSource(MOCK), storage, { cutouts: null });
  assert.equal(run.status, "completed");
  const runId = await storage.beginRun("test", {});
  await storage.writeBatch(runId, {
    source: "test",
    alerts: [...edgeAlerts(), ...storyAlerts()].map((alert) => ({ alert, cutouts: NO_CUTOUTS })),
    quarantine: [],
    cursors: [{ stream: "edges", position: String(HAND_MADE - 1) }],
  });
  await storage.finishRun(runId, "completed", null);
}

async function withSQLiteDatabase(work: (path: string) => Promise<void>): Promise<void> {
  await withTempDir("lsst-selections-", async (dir) => {
    const path = join(dir, "alerts.db");
    {
      await using storage = new SQLiteStorage(path);
      await fill(storage);
    }
    await work(path);
  });
}

async function select(
  location: string,
  name: string,
  options: SelectAlertsOptions = {},
): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const row of selectAlerts(location, name, options)) rows.push(row);
  return rows;
}

const ids = (rows: readonly Row[]): bigint[] => rows.map((r) => r.dia_source_id as bigint);

// What a scientist gets for an alert, and what the tests expect it to be.
const ALERT_COLUMNS = [
  "dia_source_id",
  "dia_object_id",
  "ss_object_id",
  "ss_object_name",
  "ra",
  "dec",
  "midpoint_mjd_tai",
  "band",
  "psf_flux",
  "psf_flux_err",
  "snr",
  "extendedness",
  "reliability",
  "is_reassociation",
  "reassociation_reason",
  "cutout_science",
  "cutout_template",
  "cutout_difference",
];

function asSelected(alert: Row): Row {
  const row: Row = {};
  for (const column of ALERT_COLUMNS) row[column] = alert[column];
  row.is_reassociation = alert.is_reassociation === 1n;
  return row;
}

/** Newest first, then the larger id; rows without a time last. */
function newestFirst(rows: Row[], time = "midpoint_mjd_tai"): Row[] {
  return rows.sort((a, b) => {
    const ta = a[time] as number | null;
    const tb = b[time] as number | null;
    if (ta !== tb) {
      if (ta === null) return 1;
      if (tb === null) return -1;
      return tb - ta;
    }
    return (b.dia_source_id as bigint) > (a.dia_source_id as bigint) ? 1 : -1;
  });
}

interface Tables {
  alerts: Row[];
  sources: Row[];
  detections: Row[];
}

function readTables(path: string): Tables {
  return {
    alerts: queryDatabase(path, "SELECT * FROM alerts"),
    sources: queryDatabase(path, "SELECT * FROM processed_sources"),
    detections: queryDatabase(path, "SELECT * FROM reassociations"),
  };
}

/** Each parameterless selection's definition, written out over the alerts table. */
const EXPECTED: Readonly<Record<string, (a: Row) => boolean>> = {
  "solar-system": (a) => a.ss_object_id !== null,
  reassociated: (a) => a.is_reassociation === 1n,
  extended: (a) => a.extendedness !== null && (a.extendedness as number) > 0.7,
  point: (a) => a.extendedness !== null && (a.extendedness as number) < 0.3,
  "minimoon-candidates": (a) =>
    a.ss_object_id !== null && a.extendedness !== null &&
    (a.extendedness as number) >= 0.3 && (a.extendedness as number) <= 0.7 &&
    (a.snr === null || (a.snr as number) >= 5),
};

function expectedAlerts(tables: Tables, keep: (a: Row) => boolean): Row[] {
  return newestFirst(tables.alerts.filter(keep).map(asSelected));
}

/**
 * `ss-object`, written out over the three tables: the observations known to show the
 * association give its first and last times.
 */
function expectedSsObject(tables: Tables, ss: bigint): Row[] {
  const times = new Map<bigint, Array<number | null>>();
  const add = (id: bigint, time: number | null) => {
    const list = times.get(id) ?? [];
    list.push(time);
    times.set(id, list);
  };
  for (const a of tables.alerts) {
    if (a.ss_object_id === ss) add(a.dia_source_id as bigint, a.midpoint_mjd_tai as number);
  }
  for (const d of tables.detections) {
    if (d.new_ss_object_id === ss) add(d.dia_source_id as bigint, d.observed_mjd as number | null);
  }
  const detectionsOf = new Map<bigint, Row[]>();
  for (const d of tables.detections) {
    const id = d.dia_source_id as bigint;
    detectionsOf.set(id, [...(detectionsOf.get(id) ?? []), d]);
  }
  for (const p of tables.sources) {
    const id = p.dia_source_id as bigint;
    if (p.ss_object_id === ss) add(id, p.last_seen_mjd as number);
    const own = [...(detectionsOf.get(id) ?? [])].sort((a, b) =>
      (a.observed_mjd as number) - (b.observed_mjd as number) || Number(a.id) - Number(b.id)
    );
    const atFirst = own.length > 0 ? own[0]?.old_ss_object_id : p.ss_object_id;
    if (atFirst === ss) add(id, p.first_seen_mjd as number);
  }
  const alertOf = new Map(tables.alerts.map((a) => [a.dia_source_id as bigint, a]));
  const sourceOf = new Map(tables.sources.map((p) => [p.dia_source_id as bigint, p]));
  const rows = [...times].map(([id, list]) => {
    const a = alertOf.get(id);
    const p = sourceOf.get(id);
    const known = list.filter((t): t is number => t !== null);
    const moved = (detectionsOf.get(id) ?? []).filter((d) =>
      d.old_ss_object_id === ss &&
      (d.reason === "changed_association" || d.reason === "association_removed")
    ).map((d) => d.observed_mjd as number);
    return {
      dia_source_id: id,
      dia_object_id: a?.dia_object_id ?? p?.dia_object_id ?? null,
      first_associated_mjd: known.length === 0 ? null : Math.min(...known),
      last_associated_mjd: known.length === 0 ? null : Math.max(...known),
      unassociated_mjd: moved.length === 0 ? null : Math.max(...moved),
      current_ss_object_id: p?.ss_object_id ?? null,
      alert_ss_object_id: a?.ss_object_id ?? null,
      ra: a?.ra ?? null,
      dec: a?.dec ?? null,
      midpoint_mjd_tai: a?.midpoint_mjd_tai ?? null,
      band: a?.band ?? null,
      psf_flux: a?.psf_flux ?? null,
      psf_flux_err: a?.psf_flux_err ?? null,
      snr: a?.snr ?? null,
      extendedness: a?.extendedness ?? null,
      reliability: a?.reliability ?? null,
    };
  });
  return newestFirst(rows, "last_associated_mjd");
}

/** Every SSObject any table names. */
function ssObjects(tables: Tables): bigint[] {
  const all = new Set<bigint>();
  for (const a of tables.alerts) if (a.ss_object_id !== null) all.add(a.ss_object_id as bigint);
  for (const p of tables.sources) if (p.ss_object_id !== null) all.add(p.ss_object_id as bigint);
  for (const d of tables.detections) {
    if (d.new_ss_object_id !== null) all.add(d.new_ss_object_id as bigint);
    if (d.old_ss_object_id !== null) all.add(d.old_ss_object_id as bigint);
  }
  return [...all].sort((a, b) => (a < b ? -1 : 1));
}

Deno.test("the thresholds are the documented ones", () => {
  assert.equal(POINT_BELOW, 0.3);
  assert.equal(EXTENDED_ABOVE, 0.7);
  assert.equal(MINIMOON_MIN_EXTENDEDNESS, 0.3);
  assert.equal(MINIMOON_MAX_EXTENDEDNESS, 0.7);
  assert.equal(MINIMOON_MIN_SNR, 5);
  assert.deepEqual(SCIENCE_SELECTIONS.map((s) => [s.name, s.parameter]), [
    ["solar-system", null],
    ["reassociated", null],
    ["extended", null],
    ["point", null],
    ["minimoon-candidates", null],
    ["recent", "days"],
    ["object", "id"],
    ["ss-object", "id"],
  ]);
});

Deno.test("selectAlerts() refuses unknown names and missing, unneeded or bad parameters", () => {
  const cases: Array<[string, SelectAlertsOptions, RegExp]> = [
    [
      "moons",
      {},
      /^Unknown selection "moons": expected one of solar-system, reassociated, extended, point, minimoon-candidates, recent, object, ss-object$/,
    ],
    ["object", {}, /^Selection "object" needs an id$/],
    ["ss-object", { id: 0n }, /^Selection "ss-object" needs an id from 1 to 9223372036854775807/],
    ["object", { id: 2n ** 63n }, /needs an id from 1/],
    ["solar-system", { id: 5n }, /^Selection "solar-system" takes no id: "5"$/],
    ["recent", {}, /^Selection "recent" needs a number of days$/],
    ["recent", { days: 0 }, /^Selection "recent" needs a number of days above 0, not "0"$/],
    ["recent", { days: NaN }, /not "NaN"/],
    ["point", { days: 1 }, /^Selection "point" takes no days: "1"$/],
    ["point", { sinceMjd: Infinity }, /^The since MJD must be a number, not "Infinity"$/],
    ["point", { limit: 0 }, /^The limit must be a whole number of at least 1, not "0"$/],
    ["point", { pageSize: 1.5 }, /^The page size must be a whole number/],
  ];
  for (const [name, options, message] of cases) {
    // Refused when called, before any database is opened.
    assert.throws(() => selectAlerts("/nonexistent/alerts.db", name, options), {
      name: "RangeError",
      message,
    });
  }
});

Deno.test("every selection gives the rows its definition names, in order, on SQLite", async (t) => {
  await withSQLiteDatabase(async (db) => {
    const tables = readTables(db);
    assert.equal(tables.alerts.length, MOCK.count + HAND_MADE);

    for (const [name, keep] of Object.entries(EXPECTED)) {
      await t.step(`${name}: rows and columns as the alerts table has them`, async () => {
        const expected = expectedAlerts(tables, keep);
        assert.ok(expected.length > 0, name);
        assert.deepEqual(await select(db, name), expected);
      });
    }

    await t.step("the limits: NULL extendedness in no class, bounds as documented", async () => {
      const edges = async (name: string) =>
        ids(await select(db, name)).filter((id) => id >= EDGE_BASE && id <= EDGE_OBJECT);
      const byId = (...names: string[]) => names.map(edgeId).sort((a, b) => (b > a ? 1 : -1));
      assert.deepEqual(await edges("point"), byId("just below 0.3", "extendedness 0"));
      assert.deepEqual(await edges("extended"), byId("just above 0.7", "extendedness 1"));
      assert.deepEqual(
        await edges("minimoon-candidates"),
        byId(
          "ss 0.3",
          "ss 0.7",
          "ss float32 0.3",
          "ss float32 0.7",
          "ss 0.5 no snr",
          "ss 0.5 snr 5",
        ),
      );
      // The mock's own NaN extendedness (stored as NULL) is in no class either.
      const unknown = tables.alerts.filter((a) => a.extendedness === null);
      assert.ok(unknown.length > HAND_MADE, "the mock stores alerts without extendedness");
      const classified = new Set([
        ...ids(await select(db, "point")),
        ...ids(await select(db, "extended")),
        ...ids(await select(db, "minimoon-candidates")),
      ]);
      for (const a of unknown) assert.ok(!classified.has(a.dia_source_id as bigint));
    });

    await t.step("reassociated: exactly the alerts the mock planted detections in", async () => {
      const truth = new MockSource(MOCK).groundTruth();
      const planted = new Set(truth.detections.map((d) => d.alertDiaSourceId));
      assert.ok(planted.size > 20);
      // And the four story alerts after the first sighting.
      for (let i = 2n; i <= 5n; i++) planted.add(TRACKED + i);
      const got = ids(await select(db, "reassociated"));
      assert.deepEqual(new Set(got), planted);
      const stored = new Set(tables.detections.map((d) => d.alert_dia_source_id as bigint));
      assert.deepEqual(new Set(got), stored);
    });

    await t.step("recent --days: the last N days before the latest stored midpoint", async () => {
      const latest = Math.max(...tables.alerts.map((a) => a.midpoint_mjd_tai as number));
      // A visit's midpoint exactly N days back is in: latest - (latest - m) is m exactly here.
      const visits = [...new Set(tables.alerts.map((a) => a.midpoint_mjd_tai as number))]
        .sort((x, y) => y - x);
      const boundary = visits[20]!;
      assert.equal(latest - (latest - boundary), boundary);
      const atBoundary = await select(db, "recent", { days: latest - boundary });
      assert.equal(atBoundary.at(-1)?.midpoint_mjd_tai, boundary);
      for (const days of [1, 0.25, 100, latest - boundary]) {
        const expected = expectedAlerts(
          tables,
          (a) => (a.midpoint_mjd_tai as number) >= latest - days,
        );
        const got = await select(db, "recent", { days });
        assert.deepEqual(ids(got), ids(expected), `${days} days`);
        if (days === 100) assert.equal(got.length, tables.alerts.length);
        else assert.ok(got.length > 0 && got.length < tables.alerts.length, `${days} days`);
      }
    });

    await t.step("object ID: every alert of the DIAObject", async () => {
      assert.deepEqual(
        ids(await select(db, "object", { id: EDGE_OBJECT })),
        EDGES.map((_, i) => EDGE_BASE + BigInt(i)).reverse(),
      );
      const counts = new Map<bigint, number>();
      for (const a of tables.alerts) {
        const id = a.dia_object_id as bigint | null;
        if (id !== null && id !== EDGE_OBJECT) counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      const [busiest, n] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
      assert.ok(n >= 3, "a DIAObject with several alerts");
      assert.deepEqual(
        await select(db, "object", { id: busiest }),
        expectedAlerts(tables, (a) => a.dia_object_id === busiest),
      );
      assert.deepEqual(await select(db, "object", { id: 1n }), []);
    });

    await t.step("ss-object ID: every DIASource ever associated, with when", async () => {
      assert.deepEqual(
        await select(db, "ss-object", { id: EDGE_SS }),
        EDGES.map(([name, solarSystem], i) => ({ name, solarSystem, i }))
          .filter((e) => e.solarSystem).reverse().map(({ name }) => {
            const a = tables.alerts.find((r) => r.dia_source_id === edgeId(name))!;
            return {
              dia_source_id: edgeId(name),
              dia_object_id: EDGE_OBJECT,
              first_associated_mjd: EDGE_MJD,
              last_associated_mjd: EDGE_MJD,
              unassociated_mjd: null,
              current_ss_object_id: EDGE_SS,
              alert_ss_object_id: EDGE_SS,
              ra: a.ra,
              dec: a.dec,
              midpoint_mjd_tai: EDGE_MJD,
              band: "r",
              psf_flux: a.psf_flux,
              psf_flux_err: a.psf_flux_err,
              snr: a.snr,
              extendedness: a.extendedness,
              reliability: a.reliability,
            };
          }),
      );

      const tracked = async (ss: bigint) => {
        const rows = await select(db, "ss-object", { id: ss });
        const row = rows.find((r) => r.dia_source_id === TRACKED);
        assert.ok(row !== undefined);
        return [
          row.first_associated_mjd,
          row.last_associated_mjd,
          row.unassociated_mjd,
          row.current_ss_object_id,
          row.alert_ss_object_id,
          row.midpoint_mjd_tai,
          row.dia_object_id,
        ];
      };
      // First sighting to its latest; moved off by the change, not by the later new timestamp.
      assert.deepEqual(await tracked(SSOBJECT_A), [
        60999.6,
        60999.64,
        60999.61,
        SSOBJECT_A,
        null,
        null,
        TRACKED_OBJECT,
      ]);
      assert.deepEqual(await tracked(SSOBJECT_B), [
        60999.61,
        60999.61,
        60999.62,
        SSOBJECT_A,
        null,
        null,
        TRACKED_OBJECT,
      ]);
      const reasons = tables.detections.filter((d) => d.dia_source_id === TRACKED)
        .map((d) => d.reason);
      assert.deepEqual(reasons.sort(), [
        "association_removed",
        "changed_association",
        "new_association",
        "updated_timestamp",
      ]);

      const all = ssObjects(tables);
      const got = new Map<bigint, Row[]>();
      for (const ss of all) {
        const rows = await select(db, "ss-object", { id: ss });
        assert.deepEqual(rows, expectedSsObject(tables, ss), `SSObject ${ss}`);
        assert.ok(rows.length > 0, `SSObject ${ss}`);
        got.set(ss, rows);
      }
      // The mock holds every kind of history an association can have.
      const rows = [...got.values()].flat();
      assert.ok(rows.some((r) => r.unassociated_mjd !== null), "moved off");
      assert.ok(rows.some((r) => r.midpoint_mjd_tai === null), "seen only in histories");
      assert.ok(
        rows.some((r) =>
          r.midpoint_mjd_tai !== null && r.alert_ss_object_id === null &&
          r.current_ss_object_id !== null
        ),
        "linked after its alert",
      );
      assert.ok(rows.every((r) => r.first_associated_mjd !== null));

      // What the mock planted: each DIASource it linked or unlinked is there, associated by
      // the time of the alert that showed the link.
      const midpoint = new Map(
        tables.alerts.map((a) => [a.dia_source_id as bigint, a.midpoint_mjd_tai as number]),
      );
      for (const d of new MockSource(MOCK).groundTruth().detections) {
        for (const ss of [d.oldSsObjectId, d.newSsObjectId]) {
          if (ss === null) continue;
          const row = got.get(ss)?.find((r) => r.dia_source_id === d.diaSourceId);
          assert.ok(row !== undefined, `${d.diaSourceId} with ${ss}`);
          if (ss === d.newSsObjectId) {
            assert.ok(
              (row.first_associated_mjd as number) <= midpoint.get(d.alertDiaSourceId)!,
            );
          }
        }
      }
    });

    await t.step("since, limit and page size narrow the rows, never reorder them", async () => {
      const solar = await select(db, "solar-system");
      const since = solar[19]!.midpoint_mjd_tai as number;
      const after = solar.filter((r) => (r.midpoint_mjd_tai as number) >= since);
      assert.ok(after.length >= 20, "ties at the since time are kept");
      assert.deepEqual(await select(db, "solar-system", { sinceMjd: since }), after);
      assert.deepEqual(await select(db, "solar-system", { limit: 5 }), solar.slice(0, 5));
      assert.deepEqual(
        await select(db, "solar-system", { sinceMjd: since, limit: 7, pageSize: 3 }),
        after.slice(0, 7),
      );
      for (const name of Object.keys(EXPECTED)) {
        assert.deepEqual(
          ids(await select(db, name, { pageSize: 7 })),
          ids(await select(db, name)),
          name,
        );
      }
      assert.deepEqual(
        await select(db, "recent", { days: 1, pageSize: 2 }),
        await select(db, "recent", { days: 1 }),
      );
      // Many midpoints are shared by a whole visit: paging must break ties by id.
      const times = tables.alerts.map((a) => a.midpoint_mjd_tai);
      assert.ok(new Set(times).size < times.length / 2);

      const [ss, rows] = ssObjects(tables)
        .map((id) => [id, expectedSsObject(tables, id)] as const)
        .sort((a, b) => b[1].length - a[1].length)[0]!;
      assert.ok(rows.length >= 3);
      assert.deepEqual(await select(db, "ss-object", { id: ss, pageSize: 1 }), rows);
      const middle = rows[Math.floor(rows.length / 2)]!.last_associated_mjd as number;
      assert.deepEqual(
        await select(db, "ss-object", { id: ss, sinceMjd: middle }),
        rows.filter((r) => (r.last_associated_mjd as number) >= middle),
      );
    });

    await t.step("the SQL each selection lists is the SQL that runs", async () => {
      const connection = new DatabaseSync(db, { readOnly: true });
      try {
        for (const selection of SCIENCE_SELECTIONS) {
          const parameter = selection.parameter === "id"
            ? (selection.name === "object" ? EDGE_OBJECT : EDGE_SS)
            : selection.parameter === "days"
            ? 1
            : null;
          const statement = connection.prepare(selection.sql);
          statement.setReadBigInts(true);
          const placeholders = selection.sql.split("?").length - 1;
          const listed = statement.all(...Array(placeholders).fill(parameter)) as Row[];
          const options: SelectAlertsOptions = selection.parameter === "id"
            ? { id: parameter as bigint }
            : selection.parameter === "days"
            ? { days: 1 }
            : {};
          assert.deepEqual(
            ids(listed),
            ids(await select(db, selection.name, options)),
            selection.name,
          );
        }
      } finally {
        connection.close();
      }
    });

    await t.step("query --select and --list on the command line", async () => {
      const list = await cli(["query", "--list"]);
      assert.equal(list.code, 0, list.stderr);
      for (const selection of SCIENCE_SELECTIONS) {
        const indented = selection.sql.split("\n").map((line) => `    ${line}`).join("\n");
        assert.ok(list.stdout.includes(indented), `${selection.name} and its SQL`);
      }
      assert.match(list.stdout, /^object ID$/m);
      assert.match(list.stdout, /^recent --days N$/m);
      const listed = JSON.parse((await cli(["query", "--list", "--json"])).stdout);
      assert.deepEqual(
        listed.map((s: { name: string }) => s.name),
        SCIENCE_SELECTIONS.map((s) => s.name),
      );

      const json = await cli(["query", "--select", "solar-system", "--json", "--limit", "5"], db);
      assert.equal(json.code, 0, json.stderr);
      const rows = parseExact(json.stdout) as Row[];
      const expected = expectedAlerts(tables, EXPECTED["solar-system"]!).slice(0, 5);
      assert.deepEqual(ids(rows), ids(expected));
      // Exact 18-digit literals, not doubles rounded to 17 digits.
      for (const id of ids(expected)) assert.match(json.stdout, new RegExp(`":${id}\\b`));

      const csv = await cli(
        ["query", "--select", "object", String(EDGE_OBJECT), "--format", "csv"],
        db,
      );
      assert.equal(csv.code, 0, csv.stderr);
      const lines = csv.stdout.trimEnd().split("\r\n");
      assert.equal(lines[0], ALERT_COLUMNS.join(","));
      assert.deepEqual(
        lines.slice(1).map((line) => line.split(",")[0]),
        EDGES.map((_, i) => String(EDGE_BASE + BigInt(i))).reverse(),
      );

      const recent = await cli(["query", "--select", "recent", "--days", "1", "--limit", "3"], db);
      assert.equal(recent.code, 0, recent.stderr);
      assert.match(recent.stdout, /^dia_source_id\s+dia_object_id/);
      assert.match(recent.stdout, /only the first 3 rows/);

      const ss = await cli(
        ["query", "--select", "ss-object", String(EDGE_SS), "--since-mjd", "61000", "--json"],
        db,
      );
      assert.equal(ss.code, 0, ss.stderr);
      assert.deepEqual(JSON.parse(ss.stdout), []);
    });
  });
});

Deno.test("query --select refuses bad usage with exit code 2 and says why", async () => {
  const cases: Array<[string[], string]> = [
    [
      ["--select", "moons"],
      'Unknown selection "moons": expected one of solar-system, reassociated, extended, point, minimoon-candidates, recent, object, ss-object',
    ],
    [["--select", "object"], 'Selection "object" needs an id: query --select object ID'],
    [["--select", "ss-object", "12ab"], 'Selection "ss-object" needs a numeric id: "12ab"'],
    [["--select", "point", "12"], 'Selection "point" takes no id: "12"'],
    [["--select", "recent"], 'Selection "recent" needs --days N'],
    [
      ["--select", "recent", "--days", "zero"],
      'Option --days needs a number of days above 0: "zero"',
    ],
    [["--select", "point", "--days", "2"], 'Selection "point" takes no --days: "2"'],
    [["--select", "point", "--since-mjd", "soon"], 'Option --since-mjd needs an MJD: "soon"'],
    [["--select", "point", "--limit", "0"], 'Option --limit needs an integer of at least 1: "0"'],
    [["--select", "point", "--format", "xml"], 'Unknown query format "xml"'],
    [["SELECT 1", "--days", "2"], "Option --days goes with --select"],
    [["--list", "--select", "point"], "query --list takes neither --select nor SQL"],
  ];
  for (const [args, message] of cases) {
    const result = await cli(["query", ...args], ":memory:");
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.ok(result.stderr.includes(message), `${args.join(" ")}: ${result.stderr}`);
  }
  const help = await cli(["--help"]);
  for (const selection of SCIENCE_SELECTIONS) {
    assert.match(help.stdout, new RegExp(`--select NAME[\\s\\S]*\\b${selection.name}\\b`));
  }
});

testWith(POSTGRES_URL !== "", NEED_POSTGRES, {
  name: "every selection gives the same rows on PostgreSQL as on SQLite",
  async fn() {
    await withSQLiteDatabase(async (db) => {
      await withPostgresDatabase(async (url) => {
        {
          await using storage = new PostgresStorage(url);
          await fill(storage);
        }
        const tables = readTables(db);
        const latest = Math.max(...tables.alerts.map((a) => a.midpoint_mjd_tai as number));
        const cases: Array<[string, SelectAlertsOptions]> = [
          ...Object.keys(EXPECTED).map((name): [string, SelectAlertsOptions] => [name, {}]),
          ["point", { pageSize: 250 }],
          ["solar-system", { sinceMjd: latest - 2, limit: 30, pageSize: 7 }],
          ["recent", { days: 1 }],
          ["recent", { days: 0.25, pageSize: 5 }],
          ["object", { id: EDGE_OBJECT }],
          ["object", {
            id: tables.alerts.find((a) => a.dia_object_id !== null)!.dia_object_id as bigint,
          }],
          ["ss-object", { id: EDGE_SS }],
          ["ss-object", { id: SSOBJECT_A }],
          ["ss-object", { id: SSOBJECT_B }],
        ];
        // SSObjects with the richer histories: several DIASources, moved off, or history-only.
        const rich = ssObjects(tables).filter((ss) => {
          const rows = expectedSsObject(tables, ss);
          return rows.length > 1 ||
            rows.some((r) => r.unassociated_mjd !== null || r.midpoint_mjd_tai === null);
        });
        assert.ok(rich.length >= 10);
        for (const ss of rich.slice(0, 25)) cases.push(["ss-object", { id: ss, pageSize: 2 }]);
        for (const [name, options] of cases) {
          const sqlite = await select(db, name, options);
          assert.ok(sqlite.length > 0, `${name} ${options.id ?? ""}`);
          assert.deepEqual(await select(url, name, options), sqlite, name);
        }
      });
    });
  },
});

const CLI = join(REPO_ROOT, "cli.ts");

async function cli(
  args: string[],
  db?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-net",
      CLI,
      ...args,
      ...(db === undefined ? [] : ["--db", db]),
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

testWith(VENV_PYTHON !== null, NEED_VENV, {
  name: "query --select --format parquet: pyarrow reads the selection's rows, exact and typed",
  async fn() {
    await withSQLiteDatabase(async (db) => {
      const tables = readTables(db);
      const [ss] = ssObjects(tables);
      for (const [name, id] of [["minimoon-candidates", undefined], ["ss-object", ss]] as const) {
        const out = join(db, "..", `${name}.parquet`);
        const args = ["query", "--select", name, ...(id === undefined ? [] : [String(id)])];
        const written = await cli([...args, "--format", "parquet", "--out", out], db);
        assert.equal(written.code, 0, written.stderr);
        const read = await new Deno.Command(VENV_PYTHON as string, {
          args: [
            "-c",
            `import json, sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(json.dumps({"types": {f.name: str(f.type) for f in t.schema}, "rows": t.to_pylist()}))`,
            out,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(read.code, 0, new TextDecoder().decode(read.stderr));
        const file = parseExact(new TextDecoder().decode(read.stdout)) as {
          types: Record<string, string>;
          rows: Row[];
        };
        const selection = SCIENCE_SELECTIONS.find((s) => s.name === name);
        for (const [column, kind] of selection?.columns ?? []) {
          assert.equal(
            file.types[column],
            kind === "int64" ? "int64" : kind === "double" ? "double" : "string",
          );
        }
        const expected = await select(db, name, id === undefined ? {} : { id });
        assert.ok(expected.length > 0, name);
        // pyarrow gives ints (exact, bigint beyond 2^53 here) and the flag as 0/1.
        const asStored = (row: Row) =>
          Object.fromEntries(
            Object.entries(row).map(([k, v]) => [
              k,
              typeof v === "boolean"
                ? (v ? 1 : 0)
                : typeof v === "bigint" && Number.isSafeInteger(Number(v))
                ? Number(v)
                : v,
            ]),
          );
        assert.deepEqual(file.rows.map(asStored), expected.map(asStored), name);
      }
      const refused = await cli(["query", "--select", "point", "--format", "parquet"], db);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /needs --out FILE/);
    });
  },
});
