// deno-lint-ignore-file no-console
/**
 * `deno task bench [suite ...] [--json]`: runs each benchmark case in a fresh process (so peak
 * memory is the case's own) and prints a table, or one JSON object with every figure.
 *
 * Suites: `mock` (mock → SQLite with and without cutouts, and memory as the count grows),
 * `file` (a 20,000-alert v11 Avro container → SQLite with and without cutouts, and avsc's raw
 * decode rate of the same bytes; needs the shared fixtures for the official schema).
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
  ...["decode", "ingest", "ingest-cutouts", "ingest-dir"].map((mode) => ({
    suite: "file",
    script: "file_ingest.ts",
    args: ["20000", mode],
  })),
];

const json = Deno.args.includes("--json");
const suites = Deno.args.filter((a) => !a.startsWith("--"));
const selected = CASES.filter((c) => suites.length === 0 || suites.includes(c.suite));
if (selected.length === 0) {
  console.error(`No benchmark suite named ${suites.join(", ")}: expected mock or file`);
  Deno.exit(2);
}

const results: Figures[] = [];
// Inputs a suite's cases share (built by the first case that needs them).
const shared = await Deno.makeTempDir({ prefix: "lsst-bench-shared-" });
for (const c of selected) {
  const dir = await Deno.makeTempDir({ prefix: "lsst-bench-" });
  try {
    const script = fileURLToPath(new URL(c.script, import.meta.url));
    const args = c.suite === "mock" ? [...c.args, dir] : [...c.args, shared, dir];
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, script, ...args],
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
await Deno.remove(shared, { recursive: true });
if (json) {
  console.log(
    JSON.stringify({ machine: { cores: navigator.hardwareConcurrency }, results }, null, 2),
  );
}
