/**
 * The vendored chart assets: `viewer/_vendor_assets.ts` is exactly what
 * `scripts/viewer_assets.ts` makes from the uPlot version `deno.json` pins.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT, withTempDir } from "./_support.ts";
import { UPLOT_CSS, UPLOT_JS, UPLOT_LICENSE, UPLOT_VERSION } from "../viewer/_vendor_assets.ts";

const SCRIPT = join(REPO_ROOT, "scripts", "viewer_assets.ts");
const COMMITTED = join(REPO_ROOT, "viewer", "_vendor_assets.ts");

async function script(...args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", SCRIPT, ...args],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

async function pinnedUplotVersion(): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(join(REPO_ROOT, "deno.json")));
  const specifier = String(config.imports?.uplot);
  const version = specifier.match(/^npm:uplot@(\d+\.\d+\.\d+)$/)?.[1];
  assert.ok(version, `deno.json pins uplot exactly, not "${specifier}"`);
  return version;
}

Deno.test("viewer_assets.ts --check passes on the committed viewer/_vendor_assets.ts", async () => {
  const { code, stderr } = await script("--check");
  assert.equal(code, 0, stderr);
});

Deno.test("viewer_assets.ts --check fails on a stale file, and regenerating it gives the committed file", async () => {
  await withTempDir("lsst-viewer-assets-", async (dir) => {
    const out = join(dir, "_vendor_assets.ts");
    const committed = await Deno.readTextFile(COMMITTED);
    await Deno.writeTextFile(out, committed.replace(UPLOT_VERSION, "0.0.0"));

    const stale = await script("--check", "--out", out);
    assert.equal(stale.code, 1, stale.stderr);
    assert.match(stale.stderr, /is not what uplot@\d+\.\d+\.\d+ gives: run `deno run .*--out /);

    const written = await script("--out", out);
    assert.equal(written.code, 0, written.stderr);
    assert.equal(await Deno.readTextFile(out), committed);
    assert.equal((await script("--check", "--out", out)).code, 0);
  });
});

Deno.test("the vendored uPlot is the pinned version's browser build, stylesheet and MIT license", async () => {
  assert.equal(UPLOT_VERSION, await pinnedUplotVersion());
  // The minified IIFE build starts with its banner, then assigns the global a classic script
  // gets: the viewer loads it with <script src>, not as a module.
  assert.ok(
    UPLOT_JS.startsWith(`/*! https://github.com/leeoniya/uPlot (v${UPLOT_VERSION}) */\n`),
    UPLOT_JS.slice(0, 80),
  );
  assert.match(UPLOT_JS, /^var uPlot=function\(\)\{"use strict";/m);
  assert.ok(UPLOT_JS.length > 20_000, `only ${UPLOT_JS.length} characters of script`);
  assert.match(UPLOT_CSS, /^\.uplot\s*[,{]/);
  assert.match(UPLOT_CSS, /\.u-legend/);
  assert.match(UPLOT_LICENSE, /^The MIT License/);
  assert.match(UPLOT_LICENSE, /Leon Sorokin/);
});

Deno.test("viewer/_client_assets.ts holds exactly viewer/client/app.js and app.css", async () => {
  const { APP_CSS, APP_JS } = await import("../viewer/_client_assets.ts");
  assert.equal(APP_JS, await Deno.readTextFile(join(REPO_ROOT, "viewer", "client", "app.js")));
  assert.equal(APP_CSS, await Deno.readTextFile(join(REPO_ROOT, "viewer", "client", "app.css")));
});
