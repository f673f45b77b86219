// deno-lint-ignore-file no-console
/**
 * `deno task bench [suite ...] [--json]`: runs each benchmark case in a fresh process (so peak
 * memory is the case's own) and prints a table, or one JSON object with every figure.
 *
 * Suites: `mock` (mock → SQLite with and without cutouts, and memory as the count grows).
 *
 * @module
 */

import { fileURLToPath } from "node:url";

type Figures = Record<string, string | number>;

interface Case {
  suite: string;
  script: string;
  args: string[];
}

const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net", "--allow-run"];

const CASES: Case[] = [
  ...[100_000, 250_000, 500_000, 1_000_000].map((count) => ({
    suite: "mock",
    script: "mock_ingest.ts",
    args: [String(count), "0"],
  })),
  { suite: "mock", script: "mock_ingest.ts", args: ["100000", "1"] },
];

const json = Deno.args.includes("--json");
const suites = Deno.args.filter((a) => !a.startsWith("--"));
const selected = CASES.filter((c) => suites.length === 0 || suites.includes(c.suite));
if (selected.length === 0) {
  console.error(`No benchmark suite named ${suites.join(", ")}: expected mock`);
  Deno.exit(2);
}

const results: Figures[] = [];
for (const c of selected) {
  const dir = await Deno.makeTempDir({ prefix: "lsst-bench-" });
  try {
    const script = fileURLToPath(new URL(c.script, import.meta.url));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, script, ...c.args, dir],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) throw new Error(`Benchmark ${c.script} ${c.args.join(" ")} failed`);
    const figures = JSON.parse(text.split("\n").at(-1) ?? "{}") as Figures;
    results.push(figures);
    if (!json) console.log(Object.entries(figures).map(([k, v]) => `${k}=${v}`).join("  "));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
if (json) {
  console.log(
    JSON.stringify({ machine: { cores: navigator.hardwareConcurrency }, results }, null, 2),
  );
}
