/**
 * The tree shows the architecture: each top-level folder is a layer, and imports only point
 * down (ARCHITECTURE.md). A change that makes a lower layer import a higher one, or two folders
 * import each other, fails here.
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { REPO_ROOT } from "./_support.ts";

/** Layers from the bottom up; a file may import its own layer's files and lower layers'. */
const LAYERS = [
  "model",
  "avro",
  "formats",
  "tracking",
  "cutouts",
  "storage",
  "sources",
  "pipeline",
  "viewer",
] as const;

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) yield path;
  }
}

/** The relative specifiers a file imports or re-exports (type-only imports included). */
function specifiers(source: string): string[] {
  // Examples in doc comments import the root module; they are not the file's imports.
  const text = source.replaceAll(/\/\*[\s\S]*?\*\//g, "");
  const found: string[] = [];
  const pattern =
    /(?:import|export)\s[^;]*?from\s+"(\.{1,2}\/[^"]+)"|import\(\s*"(\.{1,2}\/[^"]+)"\s*\)|new URL\(\s*"(\.{1,2}\/[^"]+)",\s*import\.meta\.url/gs;
  for (const m of text.matchAll(pattern)) found.push((m[1] ?? m[2] ?? m[3]) as string);
  return found;
}

function layerOf(path: string): number {
  const top = relative(REPO_ROOT, path).split("/")[0] as string;
  return LAYERS.indexOf(top as typeof LAYERS[number]);
}

Deno.test("every import points down the layers, so no two folders import each other", async () => {
  const violations: string[] = [];
  const edges = new Set<string>();
  let files = 0;
  for (const layer of LAYERS) {
    for await (const file of sourceFiles(join(REPO_ROOT, layer))) {
      files++;
      const from = layerOf(file);
      for (const spec of specifiers(await Deno.readTextFile(file))) {
        const target = resolve(dirname(file), spec);
        const to = layerOf(target);
        const name = relative(REPO_ROOT, file);
        if (to < 0) {
          // Only the schema (a text import) may come from the top level.
          if (!target.endsWith(".sql")) {
            violations.push(`${name} imports ${spec} (outside the layers)`);
          }
          continue;
        }
        if (to !== from) edges.add(`${LAYERS[from]} -> ${LAYERS[to]}`);
        if (to > from) violations.push(`${name} (${LAYERS[from]}) imports ${spec} (${LAYERS[to]})`);
      }
    }
  }
  assert.ok(files > 60, `${files} files read`);
  assert.deepEqual(violations, []);
  for (const edge of edges) {
    const [a, b] = edge.split(" -> ");
    assert.ok(!edges.has(`${b} -> ${a}`), `${a} and ${b} import each other`);
  }
});

Deno.test("the avro codec knows nothing of alerts, and model imports nothing", async () => {
  for (const layer of ["model", "avro"]) {
    for await (const file of sourceFiles(join(REPO_ROOT, layer))) {
      const text = await Deno.readTextFile(file);
      for (const spec of specifiers(text)) {
        assert.ok(
          !spec.startsWith("../"),
          `${relative(REPO_ROOT, file)} imports ${spec} from another layer`,
        );
      }
    }
  }
});
