/**
 * `serve` from the command line on the quick start's database (`data/alerts.db`, cutouts in
 * `data/cutouts`, the defaults of both commands): it prints where it answers, serves the pages
 * and cutouts, warns when it listens beyond this machine, and stops cleanly on SIGTERM.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { withTempDir } from "./_support.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];

async function serve(
  cwd: string,
  args: string[],
): Promise<{ url: string; child: Deno.ChildProcess; stderr: Promise<string> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, CLI, "serve", "--port", "0", "--json", ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  // The first line on stdout says where it answers; the rest is drained.
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const chunk = await reader.read();
    if (chunk.done) assert.fail(`serve printed no address: ${await stderr}`);
    text += chunk.value;
  }
  (async () => {
    while (!(await reader.read()).done);
  })();
  return { url: JSON.parse(text.slice(0, text.indexOf("\n"))).url, child, stderr };
}

Deno.test("serve: the quick start's database, its pages and cutouts, a clean stop", async () => {
  await withTempDir("lsst-serve-", async (dir) => {
    const ingested = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, CLI, "ingest", "--source", "mock", "--count", "300"],
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(ingested.code, 0, new TextDecoder().decode(ingested.stderr));
    const { url, child, stderr } = await serve(dir, []);
    try {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const stats = await (await fetch(new URL("/api/stats", url))).json();
      assert.equal(stats.tables.alerts, 300);
      const list = await (await fetch(new URL("/api/alerts?limit=1", url))).text();
      const id = /"diaSourceId":(\d+)/.exec(list)?.[1];
      for (const path of ["/", "/alerts", "/reassociations", `/alerts/${id}`]) {
        const page = await fetch(new URL(path, url));
        assert.equal(page.status, 200, path);
        assert.match(await page.text(), /<main id="main">/);
      }
      const png = await fetch(new URL(`/api/alerts/${id}/cutouts/difference.png`, url));
      assert.equal(png.status, 200);
      assert.equal(png.headers.get("content-type"), "image/png");
      await png.body?.cancel();
    } finally {
      child.kill("SIGTERM");
    }
    const status = await child.status;
    assert.equal(status.code, 0);
    assert.doesNotMatch(await stderr, /Warning/);
  });
});

Deno.test("serve: listening beyond this machine warns, a missing database fails", async () => {
  await withTempDir("lsst-serve-", async (dir) => {
    const missing = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, CLI, "serve", "--db", "nothing.db", "--port", "0"],
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(missing.code, 1);
    assert.match(new TextDecoder().decode(missing.stderr), /Database "nothing\.db" does not exist/);
    await Deno.stat(`${dir}/nothing.db`).then(
      () => assert.fail("serve created the database"),
      () => {},
    );

    const made = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, CLI, "ingest", "--count", "20", "--no-cutouts", "--quiet"],
      cwd: dir,
    }).output();
    assert.equal(made.code, 0);
    const { url, child, stderr } = await serve(dir, ["--host", "0.0.0.0"]);
    try {
      assert.match(url, /^http:\/\/0\.0\.0\.0:\d+\/$/);
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal((await child.status).code, 0);
    assert.match(await stderr, /Warning: listening on 0\.0\.0\.0, not only this machine/);
  });
});
