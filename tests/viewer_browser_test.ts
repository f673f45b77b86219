/**
 * The viewer in a real browser (Debian's Chromium driven by puppeteer-core) over a database of
 * mock alerts with known reassociations: every page loads with no console error and no failed
 * request, every cutout decodes and science differs from difference, the light curve has one
 * point per stored alert of the object, filters change the row counts to what SQL says (and the
 * back button restores them), and a reassociated alert's timeline shows its detection.
 * Screenshots of each page go to `.ci/work/screenshots/`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ingest } from "../pipeline/ingestion_pipeline.ts";
import { MockSource } from "../sources/mock/mock_source.ts";
import { CutoutProcessor } from "../cutouts/cutout_processor.ts";
import { SQLiteStorage } from "../storage/sqlite_storage.ts";
import { startViewer } from "../viewer/viewer_server.ts";
import {
  browserSkipReason,
  canvasSizes,
  imageWidths,
  launchBrowser,
  openPage,
  saveScreenshot,
  textOf,
} from "./_browser.ts";
import { queryDatabase, sized, testWith, withTempDir } from "./_support.ts";

const SKIP = browserSkipReason();
// Each page says when it has drawn (body[data-ready], #row-count[data-total]) and the tests wait
// for that: Chromium's network-idle wait would add a second a page.
const LOAD = { waitUntil: "load" } as const;

function count(db: string, sql: string): number {
  const [row] = queryDatabase(db, sql);
  return Number(row?.n);
}

testWith(SKIP === null, SKIP ?? "", {
  name: "viewer in Chromium: every page, cutout, chart, filter and timeline",
  async fn(t) {
    await withTempDir("lsst-viewer-browser-", async (dir) => {
      const db = join(dir, "alerts.db");
      const cutouts = join(dir, "cutouts");
      {
        await using storage = new SQLiteStorage(db);
        await ingest(
          new MockSource({
            count: sized(600, 1200),
            seed: 3,
            reassociationShare: 0.1,
            solarSystemShare: 0.05,
          }),
          storage,
          { cutouts: new CutoutProcessor({ outputDir: cutouts }) },
        );
      }
      const viewer = await startViewer(db, { cutoutsDir: cutouts, port: 0 });
      const browser = await launchBrowser();
      const url = (path: string) => new URL(path, viewer.url).toString();
      try {
        await t.step("overview: tables, runs, three charts", async () => {
          await using opened = await openPage(browser, url("/"), LOAD);
          const { page, problems } = opened;
          await page.waitForSelector("body[data-ready=true]");
          assert.deepEqual(problems, []);
          const total = count(db, "SELECT COUNT(*) AS n FROM alerts");
          const cells = async (selector: string) =>
            await page.evaluate(`[...document.querySelectorAll("${selector} tbody tr")]
              .map((tr) => [...tr.cells].map((td) => td.textContent))`) as string[][];
          const counts = Object.fromEntries(await cells("table.counts"));
          assert.equal(counts.alerts, total.toLocaleString("en"));
          assert.equal(
            counts.reassociations,
            count(db, "SELECT COUNT(*) AS n FROM reassociations").toLocaleString("en"),
          );
          const [run] = await cells("table.runs");
          assert.deepEqual(run?.slice(0, 3), ["1", "mock", "completed"]);
          for (const chart of ["#alerts-per-night", "#reassociations-per-night", "#sky-map"]) {
            const [canvas] = await canvasSizes(page, `${chart} canvas`);
            assert.ok(canvas !== undefined && canvas.width > 0 && canvas.height > 0, chart);
          }
          const plotted = await page.evaluate(
            `Number(document.querySelector("#sky-map").dataset.points)`,
          );
          assert.ok(Number(plotted) > 0);
          await saveScreenshot(page, "viewer-overview");
        });

        await t.step("alerts: thumbnails, filters in the URL, back button", async () => {
          await using opened = await openPage(browser, url("/alerts"), LOAD);
          const { page, problems } = opened;
          await page.waitForSelector("#row-count[data-total]");
          const shown = async () =>
            Number(await page.evaluate(`document.querySelector("#row-count").dataset.total`));
          assert.equal(await shown(), count(db, "SELECT COUNT(*) AS n FROM alerts"));
          const widths = await imageWidths(page, "img.thumb");
          assert.equal(widths.length, 150, "three thumbnails on each of 50 rows");
          assert.ok(widths.every((w) => w > 0), `thumbnail widths ${widths}`);
          assert.deepEqual(problems, []);
          await saveScreenshot(page, "viewer-alerts");

          // Filter through the form: the URL carries it and the count is SQL's.
          await page.select("select[name=solar_system]", "yes");
          await page.click("form.filters button[type=submit]");
          await page.waitForFunction(`location.search.includes("solar_system=yes")`);
          const solar = count(
            db,
            "SELECT COUNT(*) AS n FROM alerts WHERE ss_object_id IS NOT NULL",
          );
          await page.waitForFunction(
            `document.querySelector("#row-count").dataset.total === "${solar}"`,
          );
          await page.type("input[name=min_snr]", "20");
          await page.select("select[name=band]", "r");
          await page.click("form.filters button[type=submit]");
          const narrow = count(
            db,
            "SELECT COUNT(*) AS n FROM alerts WHERE ss_object_id IS NOT NULL AND snr >= 20 AND band = 'r'",
          );
          await page.waitForFunction(
            `document.querySelector("#row-count").dataset.total === "${narrow}"`,
          );
          assert.ok(narrow < solar);
          assert.equal(
            await page.evaluate("location.search"),
            "?band=r&solar_system=yes&min_snr=20",
          );
          const rows = Number(
            await page.evaluate(`document.querySelectorAll("table.alerts tbody tr").length`),
          );
          assert.equal(rows, Math.min(narrow, 50));
          // Back: the previous filter, its count and its form values.
          await page.goBack();
          await page.waitForFunction(
            `document.querySelector("#row-count").dataset.total === "${solar}"`,
          );
          assert.equal(
            await page.evaluate(`document.querySelector("input[name=min_snr]").value`),
            "",
          );
          await page.goBack();
          await page.waitForFunction(
            `document.querySelector("#row-count").dataset.total === "${
              count(db, "SELECT COUNT(*) AS n FROM alerts")
            }"`,
          );
          // A shared link opens with its filter applied.
          await using shared = await openPage(
            browser,
            url("/alerts?reassociated=yes&sort=snr"),
            LOAD,
          );
          await shared.page.waitForSelector("#row-count[data-total]");
          assert.equal(
            Number(
              await shared.page.evaluate(`document.querySelector("#row-count").dataset.total`),
            ),
            count(db, "SELECT COUNT(*) AS n FROM alerts WHERE is_reassociation = 1"),
          );
          assert.equal(
            await shared.page.evaluate(`document.querySelector("select[name=sort]").value`),
            "snr",
          );
          assert.deepEqual(problems, []);
          assert.deepEqual(shared.problems, []);
        });

        await t.step("alert: cutouts, light curve, timeline with its detection", async () => {
          // A reassociated alert of a DIAObject with several alerts.
          const [alert] = queryDatabase(
            db,
            `SELECT a.dia_source_id, a.dia_object_id FROM alerts a
             WHERE a.is_reassociation = 1 AND a.dia_object_id IS NOT NULL
             ORDER BY (SELECT COUNT(*) FROM alerts b WHERE b.dia_object_id = a.dia_object_id) DESC
             LIMIT 1`,
          );
          const id = alert?.dia_source_id as bigint;
          await using opened = await openPage(browser, url(`/alerts/${id}`), LOAD);
          const { page, problems } = opened;
          await page.waitForSelector("body[data-ready=true]");
          assert.equal(await textOf(page, "h1"), `Alert ${id}`);
          const widths = await imageWidths(page, "img.cutout");
          assert.equal(widths.length, 3);
          assert.ok(widths.every((w) => w > 0), `cutout widths ${widths}`);
          // Decoded pixels of science and difference differ.
          const differ = await page.evaluate(`(() => {
            const pixels = (kind) => {
              const img = document.querySelector('img.cutout[data-kind="' + kind + '"]');
              const canvas = document.createElement("canvas");
              canvas.width = img.naturalWidth;
              canvas.height = img.naturalHeight;
              const context = canvas.getContext("2d");
              context.drawImage(img, 0, 0);
              return context.getImageData(0, 0, canvas.width, canvas.height).data;
            };
            const a = pixels("science");
            const b = pixels("difference");
            let different = 0;
            for (let i = 0; i < a.length; i += 4) if (a[i] !== b[i]) different++;
            return different;
          })()`);
          assert.ok(Number(differ) > 0, "science and difference pixels differ");
          // One light-curve point per stored alert of the DIAObject, this alert marked.
          const points = await page.evaluate(
            `document.querySelector("#lightcurve").dataset.points`,
          );
          assert.equal(
            Number(points),
            count(
              db,
              `SELECT COUNT(*) AS n FROM alerts WHERE dia_object_id = ${alert?.dia_object_id}
               AND psf_flux IS NOT NULL`,
            ),
          );
          assert.ok(Number(points) > 1);
          assert.equal(
            await page.evaluate(`document.querySelector("#lightcurve").dataset.marked`),
            "true",
          );
          // Each detection found in this alert shows in a timeline, marked as found here.
          const found = count(
            db,
            `SELECT COUNT(*) AS n FROM reassociations WHERE alert_dia_source_id = ${id}`,
          );
          assert.ok(found > 0);
          const shownHere = await page.evaluate(
            `document.querySelectorAll('#timelines tr.detection[data-alert="${id}"]').length`,
          );
          assert.equal(Number(shownHere), found);
          // Another stretch: new images, still decoding.
          await page.select("#stretch", "asinh");
          await page.waitForFunction(
            `[...document.querySelectorAll("img.cutout")].every((i) => i.src.endsWith("stretch=asinh") && i.complete)`,
          );
          assert.ok((await imageWidths(page, "img.cutout")).every((w) => w > 0));
          assert.deepEqual(problems, []);
          await saveScreenshot(page, "viewer-alert");
        });

        await t.step("reassociations: filter by reason, thumbnails", async () => {
          await using opened = await openPage(
            browser,
            url("/reassociations?reason=new_association"),
            LOAD,
          );
          const { page, problems } = opened;
          await page.waitForSelector("#row-count[data-total]");
          assert.equal(
            Number(await page.evaluate(`document.querySelector("#row-count").dataset.total`)),
            count(db, "SELECT COUNT(*) AS n FROM reassociations WHERE reason = 'new_association'"),
          );
          assert.ok((await imageWidths(page, "img.thumb")).every((w) => w > 0));
          assert.deepEqual(problems, []);
          await saveScreenshot(page, "viewer-reassociations");
        });

        await t.step("SSObject: its DIASources and track", async () => {
          const [ss] = queryDatabase(
            db,
            `SELECT ss_object_id AS id FROM alerts WHERE ss_object_id IS NOT NULL
             GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 1`,
          );
          await using opened = await openPage(browser, url(`/ss-objects/${ss?.id}`), LOAD);
          const { page, problems } = opened;
          await page.waitForSelector("body[data-ready=true]");
          const rows = Number(
            await page.evaluate(`document.querySelectorAll("table.sources tbody tr").length`),
          );
          assert.ok(
            rows >= count(db, `SELECT COUNT(*) AS n FROM alerts WHERE ss_object_id = ${ss?.id}`),
          );
          const [canvas] = await canvasSizes(page, "#ss-track canvas");
          assert.ok(canvas !== undefined && canvas.width > 0);
          assert.deepEqual(problems, []);
          await saveScreenshot(page, "viewer-ss-object");
        });

        await t.step("a missing alert is a 404 page, not a broken one", async () => {
          await using opened = await openPage(browser, url("/alerts/5"), LOAD);
          assert.match(await textOf(opened.page, "main"), /Alert 5 is not stored/);
          assert.ok(opened.problems.some((p) => p.startsWith("HTTP 404")));
        });
      } finally {
        await browser.close();
        await viewer.shutdown();
      }
    });
  },
});
