/**
 * The browser harness itself, on a tiny local server: it sees a uPlot chart drawn from the
 * vendored assets and a PNG, and it reports broken pages, so viewer tests built on it can fail.
 */

import assert from "node:assert/strict";
import { decode, encode } from "fast-png";
import {
  browserSkipReason,
  canvasSizes,
  imageWidths,
  launchBrowser,
  openPage,
  saveScreenshot,
  textOf,
} from "./_browser.ts";
import { testWith } from "./_support.ts";
import { UPLOT_CSS, UPLOT_JS } from "../viewer/_vendor_assets.ts";

/** An 8 × 4 RGB gradient: small, but a real PNG the browser has to decode. */
function tinyPng(): Uint8Array<ArrayBuffer> {
  const width = 8;
  const height = 4;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set([i * 8, 255 - i * 8, 128], i * 3);
  // A copy, because Response wants a buffer that cannot be shared.
  return new Uint8Array(encode({ width, height, data, channels: 3 }));
}

const CHART_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Harness</title>
<link rel="stylesheet" href="/uplot.css">
<script src="/uplot.js"></script>
</head><body>
<div id="chart"></div>
<img id="tiny" src="/tiny.png" alt="gradient">
<script>
new uPlot({
  title: "Light curve",
  width: 480,
  height: 240,
  scales: { x: { time: false } },
  series: [{}, { label: "mag", stroke: "red" }],
}, [[1, 2, 3, 4], [20.1, 19.8, 20.4, 20.0]], document.getElementById("chart"));
</script>
</body></html>`;

/** A port nothing listens on (Chromium refuses low ports such as 1 as unsafe before connecting). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return listener.addr.port;
}

/** One of each kind of problem the harness must report. */
function brokenPage(refusedPort: number): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Broken</title></head><body>
<img src="/missing.png" alt="missing">
<img src="http://127.0.0.1:${refusedPort}/refused.png" alt="refused">
<script>console.error("deliberate console error");</script>
<script>throw new Error("deliberate page error");</script>
</body></html>`;
}

function serve(): Deno.HttpServer<Deno.NetAddr> {
  const png = tinyPng();
  const broken = brokenPage(closedPort());
  const routes: Record<string, () => Response> = {
    "/": () => new Response(CHART_PAGE, { headers: { "content-type": "text/html" } }),
    "/broken": () => new Response(broken, { headers: { "content-type": "text/html" } }),
    "/uplot.js": () =>
      new Response(UPLOT_JS, { headers: { "content-type": "text/javascript; charset=utf-8" } }),
    "/uplot.css": () =>
      new Response(UPLOT_CSS, { headers: { "content-type": "text/css; charset=utf-8" } }),
    "/tiny.png": () => new Response(png, { headers: { "content-type": "image/png" } }),
    // Chromium asks for it on every page; a 404 here would be a problem no page caused.
    "/favicon.ico": () => new Response(null, { status: 204 }),
  };
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const route = routes[new URL(request.url).pathname];
    return route ? route() : new Response("Not found", { status: 404 });
  });
}

testWith(browserSkipReason() === null, browserSkipReason() ?? "", {
  name: "the browser harness sees a uPlot chart and a PNG, and reports a broken page's problems",
  async fn(t) {
    await using server = serve();
    const base = `http://127.0.0.1:${server.addr.port}`;
    await using browser = await launchBrowser();

    await t.step("a chart from the vendored uPlot and a PNG load with no problems", async () => {
      await using opened = await openPage(browser, `${base}/`);
      const { page, problems } = opened;
      assert.deepEqual(problems, []);
      const [chart, ...more] = await canvasSizes(page, "#chart .uplot canvas");
      assert.ok(chart && chart.width > 0 && chart.height > 0, JSON.stringify(chart));
      assert.equal(more.length, 0);
      assert.equal(await textOf(page, "#chart .u-title"), "Light curve");
      // The stylesheet applied: unstyled, a div's text is left-aligned and normal weight.
      const titleStyle = await page.evaluate(
        `(({ textAlign, fontWeight }) => ({ textAlign, fontWeight }))(
          getComputedStyle(document.querySelector("#chart .u-title")))`,
      );
      assert.deepEqual(titleStyle, { textAlign: "center", fontWeight: "700" });
      assert.deepEqual(await imageWidths(page, "#tiny"), [8]);

      const path = await saveScreenshot(page, "browser-harness");
      const shot = decode(await Deno.readFile(path));
      assert.equal(shot.width, 1024);
      assert.ok(shot.height >= 240, `screenshot only ${shot.height} px high`);
    });

    await t.step(
      "a 404, a refused request, a console error and a thrown error are reported",
      async () => {
        await using opened = await openPage(browser, `${base}/broken`);
        const { page, problems } = opened;
        const expected = [
          /^HTTP 404 Not Found: http:\/\/127\.0\.0\.1:\d+\/missing\.png$/,
          /^request failed \(net::ERR_CONNECTION_REFUSED\): http:\/\/127\.0\.0\.1:\d+\/refused\.png$/,
          /^console error: deliberate console error \(at http:\/\/127\.0\.0\.1:\d+\/broken\)$/,
          /^page error: .*deliberate page error/,
        ];
        for (const pattern of expected) {
          assert.ok(problems.some((p) => pattern.test(p)), `${pattern} in ${problems.join("\n")}`);
        }
        assert.deepEqual(await imageWidths(page, "img"), [0, 0]);
      },
    );

    await t.step("names that would leave the screenshot folder are refused", async () => {
      await using opened = await openPage(browser, `${base}/`, { waitUntil: "load" });
      await assert.rejects(saveScreenshot(opened.page, "../escape"), RangeError);
    });
  },
});
