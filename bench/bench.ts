// deno-lint-ignore-file no-console
/**
 * `deno task bench [suite ...] [--json]`: runs each benchmark case in a fresh process (so peak
 * memory is the case's own) and prints a table, or one JSON object with every figure.
 *
 * Suites: `mock` (mock → SQLite with and without cutouts, and memory as the count grows),
 * `file` (a 20,000-alert v11 Avro container → SQLite with and without cutouts, and avsc's raw
 * decode rate of the same bytes; needs the shared fixtures for the official schema), `kafka`
 * (20,000 v11 alerts through the project's test broker, started here when KAFKA_BOOTSTRAP is
 * not set, against the file source on the same alerts).
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
  { suite: "kafka", script: "kafka_ingest.ts", args: ["20000"] },
];

const json = Deno.args.includes("--json");
const suites = Deno.args.filter((a) => !a.startsWith("--"));
const selected = CASES.filter((c) => suites.length === 0 || suites.includes(c.suite));
if (selected.length === 0) {
  console.error(`No benchmark suite named ${suites.join(", ")}: expected mock, file or kafka`);
  Deno.exit(2);
}

// The Kafka suite needs the test broker: start it for the run when none is given.
let startedBroker = false;
if (selected.some((c) => c.suite === "kafka") && !Deno.env.get("KAFKA_BOOTSTRAP")) {
  const script = fileURLToPath(new URL("../scripts/kafka.sh", import.meta.url));
  const out = await new Deno.Command("bash", { args: [script, "start"], stderr: "inherit" })
    .output();
  if (!out.success) throw new Error("Cannot start the test Kafka broker");
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [key, value] = line.split("=");
    if (key?.startsWith("KAFKA_") && value) Deno.env.set(key, value);
  }
  startedBroker = true;
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
if (startedBroker) {
  const script = fileURLToPath(new URL("../scripts/kafka.sh", import.meta.url));
  await new Deno.Command("bash", { args: [script, "stop"] }).output();
}
if (json) {
  console.log(
    JSON.stringify({ machine: { cores: navigator.hardwareConcurrency }, results }, null, 2),
  );
}
