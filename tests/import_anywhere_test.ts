/**
 * The module imports by path or URL from any folder: a script (or notebook) with no
 * `deno.json` near it can use `mod.ts`, because every third-party import in the module names
 * its npm package and version. Those versions are the ones `deno.json` pins, checked here, so
 * the pins stay in one place.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { REPO_ROOT, withTempDir } from "./_support.ts";

const PUBLISHED = ["model", "avro", "formats", "tracking", "cutouts", "storage", "sources"]
  .concat(["pipeline", "viewer"]);

async function* moduleFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* moduleFiles(path);
    else if (/\.(ts|ipynb)$/.test(entry.name) && !entry.name.endsWith("_test.ts")) yield path;
  }
}

Deno.test("every npm import of the module and the notebooks names the version deno.json pins", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(REPO_ROOT, "deno.json")));
  const pins = new Map(
    Object.values(config.imports as Record<string, string>)
      .filter((s) => s.startsWith("npm:"))
      .map((s) => [s.slice(4).replace(/@[^@]+$/, ""), s]),
  );
  let seen = 0;
  const roots = [...PUBLISHED.map((d) => join(REPO_ROOT, d)), join(REPO_ROOT, "examples")];
  for (const root of roots) {
    for await (const file of moduleFiles(root)) {
      const source = await Deno.readTextFile(file);
      const name = relative(REPO_ROOT, file);
      // A bare package name resolves only through the repository's deno.json.
      const imports = /(?:^|\\n)\s*(?:import|export)\b[^;]*?from \\?"([^"\\]+)/gm;
      for (const [, spec] of source.matchAll(imports)) {
        assert.ok(
          /^(npm:|node:|\.|\/|file:)/.test(spec as string),
          `${name} imports "${spec}" by a bare name`,
        );
      }
      for (
        const [, specifier] of source.matchAll(/\\?"(npm:(?:@[^/"\\]+\/)?[^@/"\\]+@[^/"\\]+)/g)
      ) {
        const pkg = (specifier as string).slice(4).replace(/@[^@]+$/, "");
        assert.equal(specifier, pins.get(pkg), `${name}: ${specifier} is not deno.json's pin`);
        seen++;
      }
    }
  }
  assert.ok(seen >= 15, `${seen} npm imports checked`);
});

Deno.test("mod.ts imports by absolute path from a folder with no deno.json", async () => {
  await withTempDir("lsst-import-anywhere-", async (dir) => {
    const script = join(dir, "use.ts");
    await Deno.writeTextFile(
      script,
      `import { CutoutProcessor, ingest, MockSource, openCatalog, renderCutoutPng, SQLiteStorage }
         from ${JSON.stringify(join(REPO_ROOT, "mod.ts"))};
       const db = ${JSON.stringify(join(dir, "alerts.db"))};
       {
         await using storage = new SQLiteStorage(db);
         const run = await ingest(new MockSource({ count: 200, seed: 2 }), storage, {
           cutouts: new CutoutProcessor({ outputDir: ${JSON.stringify(join(dir, "cutouts"))} }),
         });
         console.log(run.status, run.alertsIngested);
       }
       await using catalog = openCatalog(db);
       const [alert] = (await catalog.alerts({}, { limit: 1 })).rows;
       const files = await catalog.cutoutFiles(alert.diaSourceId);
       console.log(renderCutoutPng(await Deno.readFile(files.science)).length > 0);`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", "--allow-env", "--no-lock", script],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.equal(new TextDecoder().decode(out.stdout), "completed 200\ntrue\n");
  });
});
