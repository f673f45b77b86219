/**
 * The viewer's JSON API over real databases: every answer equals what SQL says of the same
 * database (filters, counts, order, exact ids), cutouts render to PNGs only from inside the
 * cutouts folder (or from kept packets), bad requests get 400/404/405 with a message, nothing
 * is ever written, an ingest writing the same SQLite file does not disturb it, and PostgreSQL
 * gives the same answers as SQLite for the same alerts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decode } from "fast-png";
import { parseExact, stringifyExact } from "../model/exact_json.ts";
import { ingest } from "../pipeline/ingestion_pipeline.ts";
import { MockSource } from "../sources/mock/mock_source.ts";
import { CutoutProcessor } from "../cutouts/cutout_processor.ts";
import { cutoutPixels } from "../cutouts/cutout_image.ts";
import { SQLiteStorage } from "../storage/sqlite_storage.ts";
import { PostgresStorage } from "../storage/postgres_storage.ts";
import { type RunningViewer, startViewer } from "../viewer/viewer_server.ts";
import { NEED_POSTGRES, POSTGRES_URL, withPostgresDatabase } from "./_postgres.ts";
import { fixturesDir, queryDatabase, sized, testWith, withTempDir } from "./_support.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const FIXTURES = fixturesDir();
const MOCK = { count: sized(800, 1500), seed: 7, reassociationShare: 0.08, solarSystemShare: 0.05 };
const WRITER_ALERTS = sized(10_000, 30_000);

type Json = Record<string, unknown>;

async function get(viewer: RunningViewer, path: string): Promise<{ status: number; body: Json }> {
  const response = await fetch(new URL(path, viewer.url));
  const text = await response.text();
  return { status: response.status, body: parseExact(text) as Json };
}

async function ok(viewer: RunningViewer, path: string): Promise<Json> {
  const { status, body } = await get(viewer, path);
  assert.equal(status, 200, `${path}: ${stringifyExact(body)}`);
  return body;
}

// One mock database (with its cutouts) for the whole file, copied for each test: building it
// is most of a test's time.
let shared: Promise<{ db: string; cutouts: string }> | null = null;

function sharedMock(): Promise<{ db: string; cutouts: string }> {
  shared ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "lsst-viewer-shared-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const db = join(dir, "alerts.db");
    const cutouts = join(dir, "cutouts");
    await using storage = new SQLiteStorage(db);
    await ingest(new MockSource(MOCK), storage, {
      cutouts: new CutoutProcessor({ outputDir: cutouts }),
    });
    return { db, cutouts };
  })();
  return shared;
}

async function mockDatabase(dir: string): Promise<{ db: string; cutouts: string }> {
  const base = await sharedMock();
  const db = join(dir, "alerts.db");
  await Deno.copyFile(base.db, db);
  return { db, cutouts: base.cutouts };
}

function count(db: string, where: string): number {
  const [row] = queryDatabase(db, `SELECT COUNT(*) AS n FROM alerts ${where}`);
  return Number(row?.n);
}

// Each API filter and the SQL it must mean.
const FILTERS: Array<[string, string]> = [
  ["", ""],
  ["solar_system=yes", "WHERE ss_object_id IS NOT NULL"],
  ["solar_system=no", "WHERE ss_object_id IS NULL"],
  ["reassociated=yes", "WHERE is_reassociation = 1"],
  ["band=r", "WHERE band = 'r'"],
  ["from_mjd=61000.5&to_mjd=61001.5", "WHERE midpoint_mjd_tai BETWEEN 61000.5 AND 61001.5"],
  ["min_extendedness=0.3&max_extendedness=0.7", "WHERE extendedness BETWEEN 0.3 AND 0.7"],
  ["min_reliability=0.8&min_snr=20", "WHERE reliability >= 0.8 AND snr >= 20"],
  ["band=g&solar_system=no&min_snr=10", "WHERE band = 'g' AND ss_object_id IS NULL AND snr >= 10"],
  ["min_snr=1e9", "WHERE snr >= 1e9"],
];

Deno.test("viewer API: lists, counts, order and exact ids equal SQL on the same SQLite file", async () => {
  await withTempDir("lsst-viewer-", async (dir) => {
    const { db, cutouts } = await mockDatabase(dir);
    const viewer = await startViewer(db, { cutoutsDir: cutouts, port: 0 });
    try {
      assert.match(viewer.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.equal(viewer.exposed, false);
      for (const [query, where] of FILTERS) {
        const page = await ok(viewer, `/api/alerts?${query}&limit=1000`);
        const expected = queryDatabase(
          db,
          `SELECT dia_source_id FROM alerts ${where}
           ORDER BY midpoint_mjd_tai DESC, dia_source_id DESC LIMIT 1000`,
        ).map((r) => r.dia_source_id);
        assert.equal(page.total, count(db, where), `count for "${query}"`);
        assert.deepEqual(
          (page.rows as Json[]).map((r) => BigInt(r.diaSourceId as bigint)),
          expected,
          `rows for "${query}"`,
        );
      }
      // Ids above 2^53 come back exact, not rounded.
      const [big] = queryDatabase(db, "SELECT MAX(dia_source_id) AS id FROM alerts");
      assert.ok((big?.id as bigint) > 2n ** 53n);
      const detail = await ok(viewer, `/api/alerts/${big?.id}`);
      assert.equal(detail.diaSourceId, big?.id);

      // Every sort key, both ways, NULLs last; pages join up into the whole ordered list.
      for (
        const [sort, column] of [
          ["snr", "snr"],
          ["extendedness", "extendedness"],
          [
            "reliability",
            "reliability",
          ],
          ["flux", "psf_flux"],
          ["id", "dia_source_id"],
          ["time", "midpoint_mjd_tai"],
        ]
      ) {
        for (const order of ["asc", "desc"]) {
          const expected = queryDatabase(
            db,
            `SELECT dia_source_id FROM alerts WHERE band = 'i'
             ORDER BY ${column} ${order} NULLS LAST, dia_source_id ${order}`,
          ).map((r) => r.dia_source_id);
          const got: bigint[] = [];
          for (let offset = 0; offset < expected.length; offset += 37) {
            const page = await ok(
              viewer,
              `/api/alerts?band=i&sort=${sort}&order=${order}&limit=37&offset=${offset}`,
            );
            got.push(...(page.rows as Json[]).map((r) => BigInt(r.diaSourceId as bigint)));
          }
          assert.deepEqual(got, expected, `${sort} ${order}`);
        }
      }

      // Counting stops at 10,000: the answer says so instead of pretending.
      const stats = await ok(viewer, "/api/stats");
      const tables = stats.tables as Record<string, number>;
      for (const table of ["alerts", "processed_sources", "reassociations", "ingestion_runs"]) {
        const [row] = queryDatabase(db, `SELECT COUNT(*) AS n FROM ${table}`);
        assert.equal(tables[table], Number(row?.n), table);
      }
      const perNight = stats.alertsPerNight as Json[];
      assert.equal(perNight.reduce((n, r) => n + (r.alerts as number), 0), tables.alerts);
      const nights = queryDatabase(
        db,
        `SELECT CAST(midpoint_mjd_tai - 0.5 AS INTEGER) AS night, band, COUNT(*) AS n
         FROM alerts GROUP BY 1, 2 ORDER BY 1, 2`,
      ).map((r) => ({ night: Number(r.night), band: r.band, alerts: Number(r.n) }));
      assert.deepEqual(perNight, nights);
      const detections = queryDatabase(
        db,
        `SELECT CAST(observed_mjd - 0.5 AS INTEGER) AS night, reason, COUNT(*) AS n
         FROM reassociations GROUP BY 1, 2 ORDER BY 1, 2`,
      ).map((r) => ({ night: Number(r.night), reason: r.reason, detections: Number(r.n) }));
      assert.deepEqual(stats.reassociationsPerNight, detections);
      assert.ok(detections.length > 0, "the mock made reassociations");
      const sky = stats.sky as Json[];
      assert.equal(sky.filter((s) => s.solarSystem).length > 0, true);
      assert.equal(stats.solarSystemAlerts, count(db, "WHERE ss_object_id IS NOT NULL"));

      // Detections: filters and counts.
      for (const reason of ["new_association", "changed_association", "updated_timestamp"]) {
        const page = await ok(viewer, `/api/reassociations?reason=${reason}&limit=1000`);
        const expected = queryDatabase(
          db,
          `SELECT id FROM reassociations WHERE reason = '${reason}' ORDER BY id DESC`,
        ).map((r) => Number(r.id));
        assert.deepEqual((page.rows as Json[]).map((r) => r.id), expected, reason);
        assert.equal(page.total, expected.length);
      }
    } finally {
      await viewer.shutdown();
    }
  });
});

Deno.test("viewer API: light curves, timelines and SSObjects hold every stored observation", async () => {
  await withTempDir("lsst-viewer-", async (dir) => {
    const { db, cutouts } = await mockDatabase(dir);
    const viewer = await startViewer(db, { cutoutsDir: cutouts, port: 0 });
    try {
      // The DIAObject with the most alerts: one point per stored alert, in time order.
      const [busy] = queryDatabase(
        db,
        `SELECT dia_object_id, COUNT(*) AS n FROM alerts WHERE dia_object_id IS NOT NULL
         GROUP BY 1 ORDER BY 2 DESC LIMIT 1`,
      );
      const curve = await ok(viewer, `/api/objects/${busy?.dia_object_id}/lightcurve`);
      const points = curve.points as Json[];
      assert.ok(Number(busy?.n) > 3);
      assert.equal(points.length, Number(busy?.n));
      const expected = queryDatabase(
        db,
        `SELECT dia_source_id, psf_flux, band FROM alerts WHERE dia_object_id = ${busy?.dia_object_id}
         ORDER BY midpoint_mjd_tai, dia_source_id`,
      );
      assert.deepEqual(
        points.map((p) => [BigInt(p.diaSourceId as bigint), p.psfFlux, p.band]),
        expected.map((r) => [r.dia_source_id, r.psf_flux, r.band]),
      );

      // Every detection appears in its DIASource's timeline, after the observation that fired it.
      const all = queryDatabase(
        db,
        "SELECT id, dia_source_id, alert_dia_source_id, observed_mjd FROM reassociations",
      );
      assert.ok(all.length > 10);
      for (const d of all.slice(0, 25)) {
        const timeline = await ok(viewer, `/api/sources/${d.dia_source_id}/timeline`);
        const ids = (timeline.detections as Json[]).map((x) => BigInt(x.id as number));
        assert.ok(ids.includes(d.id as bigint), `detection ${d.id} in its timeline`);
        const fired = (timeline.observations as Json[]).find((o) =>
          o.time === d.observed_mjd &&
          BigInt(o.alertDiaSourceId as bigint) === d.alert_dia_source_id
        );
        assert.ok(fired, `the observation that fired detection ${d.id}`);
        // Observations come in time order.
        const times = (timeline.observations as Json[]).map((o) => o.time as number);
        assert.deepEqual(times, [...times].sort((a, b) => a - b));
        const [state] = queryDatabase(
          db,
          `SELECT times_seen FROM processed_sources WHERE dia_source_id = ${d.dia_source_id}`,
        );
        assert.equal((timeline.state as Json).timesSeen, Number(state?.times_seen));
      }

      // An SSObject: every DIASource a detection moved to it is listed.
      const [ss] = queryDatabase(
        db,
        `SELECT new_ss_object_id AS id FROM reassociations WHERE new_ss_object_id IS NOT NULL
         GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 1`,
      );
      const summary = await ok(viewer, `/api/ss-objects/${ss?.id}`);
      const listed = (summary.sources as Json[]).map((s) => BigInt(s.diaSourceId as bigint));
      const moved = queryDatabase(
        db,
        `SELECT DISTINCT dia_source_id FROM reassociations WHERE new_ss_object_id = ${ss?.id}
         UNION SELECT dia_source_id FROM alerts WHERE ss_object_id = ${ss?.id}`,
      ).map((r) => r.dia_source_id as bigint);
      for (const id of moved) assert.ok(listed.includes(id), `DIASource ${id} listed`);
      const page = await fetch(new URL(`/ss-objects/${ss?.id}`, viewer.url));
      assert.equal(page.status, 200);
      await page.body?.cancel();
    } finally {
      await viewer.shutdown();
    }
  });
});

Deno.test("viewer API: cutouts render from files inside the cutouts folder only", async () => {
  await withTempDir("lsst-viewer-", async (dir) => {
    const { db, cutouts } = await mockDatabase(dir);
    const [row] = queryDatabase(
      db,
      "SELECT dia_source_id, cutout_science FROM alerts WHERE cutout_science IS NOT NULL LIMIT 1",
    );
    const id = row?.dia_source_id as bigint;
    const viewer = await startViewer(db, { cutoutsDir: cutouts, port: 0 });
    try {
      const images: Uint8Array[] = [];
      for (const kind of ["science", "template", "difference"]) {
        const response = await fetch(new URL(`/api/alerts/${id}/cutouts/${kind}.png`, viewer.url));
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("content-type"), "image/png");
        const png = new Uint8Array(await response.arrayBuffer());
        const image = decode(png);
        const fits = await Deno.readFile(String(row?.cutout_science).replace("science", kind));
        const pixels = cutoutPixels(fits);
        assert.equal(image.width, pixels.width);
        assert.equal(image.height, pixels.height);
        assert.equal(image.channels, 1);
        images.push(image.data as Uint8Array);
      }
      assert.notDeepEqual(images[0], images[2], "science and difference differ");
      // Each stretch gives its own image; the FITS download is the file itself.
      const stretched = await Promise.all(
        ["zscale", "asinh", "linear"].map(async (s) =>
          new Uint8Array(
            await (await fetch(
              new URL(`/api/alerts/${id}/cutouts/science.png?stretch=${s}`, viewer.url),
            )).arrayBuffer(),
          )
        ),
      );
      // zscale falls back to the whole range on some images, where it equals linear.
      assert.notDeepEqual(stretched[0], stretched[1], "zscale and asinh differ");
      const fits = new Uint8Array(
        await (await fetch(new URL(`/api/alerts/${id}/cutouts/science.fits`, viewer.url)))
          .arrayBuffer(),
      );
      assert.deepEqual(fits, await Deno.readFile(String(row?.cutout_science)));
    } finally {
      await viewer.shutdown();
    }

    // Paths that lead outside the folder are never read, even through a symbolic link.
    const outside = join(dir, "outside.fits");
    await Deno.copyFile(String(row?.cutout_science), outside);
    const link = join(cutouts, "link.fits");
    await Deno.symlink(outside, link);
    const [other] = queryDatabase(
      db,
      `SELECT dia_source_id FROM alerts WHERE cutout_science IS NOT NULL AND dia_source_id <> ${id}
       LIMIT 1`,
    );
    const { DatabaseSync } = await import("node:sqlite");
    const writer = new DatabaseSync(db);
    writer.prepare("UPDATE alerts SET cutout_science = ? WHERE dia_source_id = ?").run(outside, id);
    writer.prepare("UPDATE alerts SET cutout_science = ? WHERE dia_source_id = ?")
      .run(link, other?.dia_source_id as bigint);
    writer.close();
    const again = await startViewer(db, { cutoutsDir: cutouts, port: 0 });
    try {
      for (const alert of [id, other?.dia_source_id]) {
        const { status, body } = await get(again, `/api/alerts/${alert}/cutouts/science.png`);
        assert.equal(status, 404, `alert ${alert}`);
        assert.match(String(body.error), /has no science cutout/);
      }
      // Its other cutouts, inside the folder, still render.
      const template = await fetch(new URL(`/api/alerts/${id}/cutouts/template.png`, again.url));
      assert.equal(template.status, 200);
      await template.body?.cancel();
    } finally {
      await again.shutdown();
    }
  });
});

Deno.test("viewer API: bad requests get a status and a message, and nothing is written", async () => {
  await withTempDir("lsst-viewer-", async (dir) => {
    const { db, cutouts } = await mockDatabase(dir);
    const digest = async () => {
      const hash = createHash("sha256");
      for (const file of [db, `${db}-wal`]) {
        // Opening a WAL database read-only may create an empty WAL file: no data in it.
        try {
          hash.update(await Deno.readFile(file));
        } catch {
          hash.update("");
        }
      }
      return hash.digest("hex");
    };
    const before = await digest();
    const viewer = await startViewer(db, { cutoutsDir: cutouts, port: 0 });
    try {
      const cases: Array<[string, number, RegExp]> = [
        ["/api/alerts?min_snr=abc", 400, /Bad min_snr "abc"/],
        ["/api/alerts?band=r;DROP", 400, /Bad band/],
        ["/api/alerts?sort=ra", 400, /Unknown sort "ra"/],
        ["/api/alerts?limit=5000", 400, /at most 1000/],
        ["/api/alerts?offset=-1", 400, /Bad offset/],
        ["/api/alerts?solar_system=maybe", 400, /expected yes or no/],
        ["/api/alerts?colour=red", 400, /Unknown parameter "colour"/],
        ["/api/alerts?band=r&band=g", 400, /given twice/],
        ["/api/alerts?dia_object_id=1e5", 400, /64-bit id/],
        ["/api/reassociations?reason=moved", 400, /Unknown reason "moved"/],
        ["/api/alerts/12ab", 404, /ids are 64-bit integers/],
        ["/api/alerts/99999999999999999999", 404, /ids are 64-bit integers/],
        ["/api/alerts/5", 404, /Alert 5 is not stored/],
        ["/api/alerts/5/cutouts/science.png", 404, /Alert 5 is not stored/],
        ["/api/objects/5/lightcurve", 404, /has no alerts/],
        ["/api/sources/5/timeline", 404, /not stored/],
        ["/api/ss-objects/5", 404, /not named anywhere/],
        ["/api/nothing", 404, /No page/],
      ];
      const [row] = queryDatabase(db, "SELECT dia_source_id FROM alerts LIMIT 1");
      cases.push(
        [`/api/alerts/${row?.dia_source_id}/cutouts/mask.png`, 404, /No cutout "mask"/],
        [`/api/alerts/${row?.dia_source_id}/cutouts/science.png?stretch=log`, 400, /stretch/],
      );
      for (const [path, status, message] of cases) {
        const answer = await get(viewer, path);
        assert.equal(answer.status, status, path);
        assert.match(String(answer.body.error), message, path);
      }
      const pageMissing = await fetch(new URL("/alerts/5", viewer.url));
      assert.equal(pageMissing.status, 404);
      assert.match(await pageMissing.text(), /Alert 5 is not stored/);
      const posted = await fetch(new URL("/api/alerts", viewer.url), { method: "POST" });
      assert.equal(posted.status, 405);
      await posted.body?.cancel();
      // Every answer forbids scripts from elsewhere.
      const home = await fetch(viewer.url);
      assert.match(String(home.headers.get("content-security-policy")), /default-src 'self'/);
      await home.body?.cancel();
    } finally {
      await viewer.shutdown();
    }
    assert.equal(await digest(), before, "the database files are unchanged");
  });
});

Deno.test("viewer: answers while an ingest writes the same SQLite file", async () => {
  await withTempDir("lsst-viewer-", async (dir) => {
    const { db, cutouts } = await mockDatabase(dir);
    const viewer = await startViewer(db, { cutoutsDir: cutouts, port: 0 });
    try {
      const writer = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          "--allow-net",
          CLI,
          "ingest",
          "--count",
          String(WRITER_ALERTS),
          "--seed",
          "8",
          "--batch-size",
          "100",
          // Alerts without files: the writer is quick and still commits 100 times a second.
          "--no-cutouts",
          "--db",
          db,
          "--cutouts-dir",
          cutouts,
          "--quiet",
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const seen: number[] = [];
      let done = false;
      const finished = writer.output().then((out) => {
        done = true;
        return out;
      });
      while (!done) {
        const stats = await ok(viewer, "/api/stats");
        seen.push((stats.tables as Record<string, number>).alerts as number);
        await ok(viewer, "/api/alerts?sort=snr&limit=100");
        const latest = await ok(viewer, "/api/alerts?limit=1");
        const id = (latest.rows as Json[])[0]?.diaSourceId;
        await ok(viewer, `/api/alerts/${id}`);
      }
      const out = await finished;
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const final = await ok(viewer, "/api/stats");
      assert.equal((final.tables as Record<string, number>).alerts, MOCK.count + WRITER_ALERTS);
      assert.ok(seen.length > 3, `${seen.length} polls during the ingest`);
      assert.ok(
        seen.some((n) => n > MOCK.count && n < MOCK.count + WRITER_ALERTS),
        `saw the ingest in progress: ${seen.join(", ")}`,
      );
    } finally {
      await viewer.shutdown();
    }
  });
});

testWith(POSTGRES_URL !== "", NEED_POSTGRES, {
  name: "viewer API: PostgreSQL answers as SQLite does for the same alerts",
  async fn() {
    await withTempDir("lsst-viewer-", async (dir) => {
      const { db, cutouts } = await mockDatabase(dir);
      await withPostgresDatabase(async (url) => {
        {
          await using storage = new PostgresStorage(url);
          await storage.initialize();
          await ingest(new MockSource(MOCK), storage, {
            cutouts: new CutoutProcessor({ outputDir: cutouts }),
          });
        }
        const lite = await startViewer(db, { cutoutsDir: cutouts, port: 0 });
        const pg = await startViewer(url, { cutoutsDir: cutouts, port: 0 });
        try {
          const [busy] = queryDatabase(
            db,
            `SELECT dia_object_id FROM alerts WHERE dia_object_id IS NOT NULL
             GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 1`,
          );
          const [d] = queryDatabase(
            db,
            `SELECT dia_source_id, alert_dia_source_id, new_ss_object_id FROM reassociations
             WHERE new_ss_object_id IS NOT NULL LIMIT 1`,
          );
          const paths = [
            ...FILTERS.map(([query]) => `/api/alerts?${query}&limit=200`),
            "/api/alerts?sort=snr&order=asc&limit=300&offset=100",
            "/api/alerts?sort=extendedness&limit=300",
            `/api/objects/${busy?.dia_object_id}/lightcurve`,
            `/api/sources/${d?.dia_source_id}/timeline`,
            `/api/alerts/${d?.alert_dia_source_id}`,
            `/api/ss-objects/${d?.new_ss_object_id}`,
            "/api/reassociations?limit=500",
            "/api/reassociations?reason=changed_association",
            "/api/stats",
          ];
          // What differs between two runs by design: when rows were written.
          const stable = (value: unknown): unknown => {
            if (Array.isArray(value)) return value.map(stable);
            if (value !== null && typeof value === "object") {
              return Object.fromEntries(
                Object.entries(value)
                  .filter(([k]) => !["detectedAt", "ingestedAt", "runs", "source"].includes(k))
                  .map(([k, v]) => [k, stable(v)]),
              );
            }
            return value;
          };
          for (const path of paths) {
            const a = await ok(lite, path);
            const b = await ok(pg, path);
            if (path === "/api/stats") {
              // PostgreSQL has no raw_alerts rows here either; every table counts the same.
              assert.deepEqual(b.tables, a.tables);
              assert.deepEqual(b.alertsPerNight, a.alertsPerNight);
              assert.deepEqual(b.reassociationsPerNight, a.reassociationsPerNight);
              continue;
            }
            assert.deepEqual(stable(b), stable(a), path);
          }
        } finally {
          await lite.shutdown();
          await pg.shutdown();
        }
      });
    });
  },
});

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures or $LSST_FIXTURES)", {
  name: "viewer API: cutouts of an alert kept with --keep-raw and no files come from its packet",
  async fn() {
    await withTempDir("lsst-viewer-", async (dir) => {
      const db = join(dir, "alerts.db");
      const path = join(FIXTURES as string, "lsst/cwf-heavy/fink-real-v10_0-2.avro");
      const ingested = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-net", CLI]
          .concat(["ingest", "--source", "file", "--path", path, "--schema-dir"])
          .concat([join(FIXTURES as string, "lsst/schema"), "--keep-raw", "--no-cutouts"])
          .concat(["--db", db, "--quiet"]),
      }).output();
      assert.equal(ingested.code, 0, new TextDecoder().decode(ingested.stderr));
      const [row] = queryDatabase(db, "SELECT dia_source_id, cutout_science FROM alerts");
      assert.equal(row?.cutout_science, null);
      const viewer = await startViewer(db, { cutoutsDir: join(dir, "none"), port: 0 });
      try {
        const list = await ok(viewer, "/api/alerts");
        assert.equal((list.rows as Json[])[0]?.hasRawPayload, true);
        const sizes: number[] = [];
        for (const kind of ["science", "template", "difference"]) {
          const response: Response = await fetch(
            new URL(`/api/alerts/${row?.dia_source_id}/cutouts/${kind}.png`, viewer.url),
          );
          assert.equal(response.status, 200, kind);
          const image = decode(new Uint8Array(await response.arrayBuffer()));
          sizes.push(image.width);
        }
        assert.ok(sizes.every((w) => w > 0), `widths ${sizes}`);
      } finally {
        await viewer.shutdown();
      }
    });
  },
});

Deno.test("viewer API: the per-night charts count the latest 366 nights of the data", async () => {
  await withTempDir("lsst-viewer-", async (dir) => {
    const db = join(dir, "alerts.db");
    {
      await using storage = new SQLiteStorage(db);
      // Two seasons 500 nights apart: only the second is within the window.
      await ingest(new MockSource({ count: 400, seed: 21, startMjd: 61000 }), storage, {
        cutouts: null,
      });
      await ingest(new MockSource({ count: 400, seed: 22, startMjd: 61500 }), storage, {
        cutouts: null,
      });
    }
    const viewer = await startViewer(db, { port: 0 });
    try {
      const stats = await ok(viewer, "/api/stats");
      const [last] = queryDatabase(
        db,
        "SELECT CAST(MAX(midpoint_mjd_tai) - 0.5 AS INTEGER) AS night FROM alerts",
      );
      const first = Number(last?.night) - 365;
      const nights = (stats.alertsPerNight as Json[]).map((r) => r.night as number);
      assert.ok(nights.length > 0 && nights.every((n) => n >= first), `nights ${nights}`);
      assert.equal(
        (stats.alertsPerNight as Json[]).reduce((n, r) => n + (r.alerts as number), 0),
        count(db, `WHERE CAST(midpoint_mjd_tai - 0.5 AS INTEGER) >= ${first}`),
      );
      assert.ok(count(db, `WHERE CAST(midpoint_mjd_tai - 0.5 AS INTEGER) < ${first}`) > 0);
      assert.equal((stats.tables as Record<string, number>).alerts, 800, "tables count everything");
    } finally {
      await viewer.shutdown();
    }
  });
});
