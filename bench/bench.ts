// deno-lint-ignore-file no-console
/**
 * `deno task bench [suite ...] [--json]`: runs each benchmark case in a fresh process (so peak
 * memory is the case's own) and prints a table, or one JSON object with every figure.
 *
 * Suites: `mock` (mock → SQLite with and without cutouts, and memory as the count grows),
 * `file` (a 20,000-alert v11 Avro container → SQLite with and without cutouts, and avsc's raw
 * decode rate of the same bytes, each ingest with its ratio to it; needs the shared fixtures for
 * the official schema), `kafka` (20,000 v11 alerts through the project's test broker, started
 * here when KAFKA_BOOTSTRAP is not set, against the file source on the same alerts, alternated
 * in fresh processes; see kafka_ingest.ts), `storage` (SQLite vs PostgreSQL batch writes, 100,000
 * alerts, and the decode suite's 3,000 real heavy-history alerts, new and re-observed, into
 * each; see storage_compare.ts), `scale` (a 40,000-alert burst through Kafka into PostgreSQL with 1 and with 3
 * workers, timed from its first message); the last two start the test PostgreSQL server when
 * LSST_TEST_POSTGRES_URL is not set. `decode` (real heavy-history Rubin alerts: avsc's full
 * decode against the projected decoder, and end to end into SQLite; see decode.ts). `cutouts`
 * (the ingest's cutout files per second against a minimal writer of the same files with the
 * same syncs, and mock ingest with and without cutouts, 20,000 alerts; see cutouts.ts).
 * `viewer` (every page and API answer of `serve` over 1,000,000 mock alerts, and cutout images;
 * see viewer.ts). `parquet` (Parquet export of 1,000,000 alerts against CSV of the same rows;
 * see parquet_export.ts). With one case, `--json` prints its figures as one flat object. Before
 * each case the disk is synced and let settle (see _settle.ts); each case's figures say how long
 * that took and how busy the disk was before it and in its last second
 * (`disk_settled_before_case`).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { ingestEnv, ingestV8Flags } from "./_ingest_flags.ts";
import { settleDisk } from "./_settle.ts";

type Figures = Record<string, unknown>;

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
  { suite: "storage", script: "storage_compare.ts", args: ["100000"] },
  { suite: "scale", script: "scale_out.ts", args: ["40000"] },
  { suite: "decode", script: "decode.ts", args: ["3000"] },
  { suite: "cutouts", script: "cutouts.ts", args: ["20000"] },
  { suite: "viewer", script: "viewer.ts", args: ["1000000"] },
  { suite: "parquet", script: "parquet_export.ts", args: ["1000000"] },
];

const json = Deno.args.includes("--json");
const suites = Deno.args.filter((a) => !a.startsWith("--"));
const selected = CASES.filter((c) => suites.length === 0 || suites.includes(c.suite));
if (selected.length === 0) {
  console.error(
    `No benchmark suite named ${
      suites.join(", ")
    }: expected mock, file, kafka, storage, scale, decode, cutouts, viewer or parquet`,
  );
  Deno.exit(2);
}

// Suites that need the test services start them for the run when none is given.
const started: string[] = [];
async function service(script: string, variable: string): Promise<void> {
  if (Deno.env.get(variable)) return;
  const path = fileURLToPath(new URL(`../scripts/${script}`, import.meta.url));
  const out = await new Deno.Command("bash", { args: [path, "start"], stderr: "inherit" }).output();
  if (!out.success) throw new Error(`Cannot start ${script}`);
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const at = line.indexOf("=");
    if (at > 0 && /^(KAFKA|LSST)_/.test(line)) Deno.env.set(line.slice(0, at), line.slice(at + 1));
  }
  started.push(path);
}
if (selected.some((c) => c.suite === "kafka" || c.suite === "scale")) {
  await service("kafka.sh", "KAFKA_BOOTSTRAP");
}
if (selected.some((c) => c.suite === "storage" || c.suite === "scale")) {
  await service("postgres.sh", "LSST_TEST_POSTGRES_URL");
}

const results: Figures[] = [];
// The file suite's first case is avsc's decode of the file the others ingest: their ratio to it
// is printed beside their figures, measured in the same run.
let avscRate: number | null = null;
function _againstAvsc(figures: Figures): void {
  const ratio = (rate: unknown) =>
    avscRate === null ? null : Math.round((Number(rate) / avscRate) * 100) / 100;
  if (figures.mode === "decode") avscRate = Number(figures.alerts_per_s);
  else if (figures.mode === "ingest-dir") {
    figures.read_over_avsc_decode = ratio(figures.records_read_per_s) ?? "n/a";
  } else figures.over_avsc_decode = ratio(figures.alerts_per_s) ?? "n/a";
}
// Inputs a suite's cases share (built by the first case that needs them).
const shared = await Deno.makeTempDir({ prefix: "lsst-bench-shared-" });
for (const c of selected) {
  // What the case before wrote (and deleted) is on the disk before this one starts its clock.
  const settled = await settleDisk();
  const dir = await Deno.makeTempDir({ prefix: "lsst-bench-" });
  try {
    const script = fileURLToPath(new URL(c.script, import.meta.url));
    const args = c.suite === "mock" ? [...c.args, dir] : [...c.args, shared, dir];
    const out = await new Deno.Command(Deno.execPath(), {
      // With the V8 flags and environment the ingest task runs with; every process a case
      // starts inherits that environment (references included, so they run alike).
      args: ["run", ...PERMISSIONS, ...ingestV8Flags(), script, ...args],
      env: ingestEnv(),
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) throw new Error(`Benchmark ${c.script} ${c.args.join(" ")} failed`);
    // A case prints one JSON line per measurement.
    for (const line of text.split("\n").filter((l) => l.startsWith("{"))) {
      const figures = { ...JSON.parse(line), disk_settled_before_case: settled } as Figures;
      if (c.suite === "file") _againstAvsc(figures);
      results.push(figures);
      if (!json) {
        console.log(
          Object.entries(figures)
            .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
            .join("  "),
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
await Deno.remove(shared, { recursive: true });
for (const path of started) await new Deno.Command("bash", { args: [path, "stop"] }).output();
if (json) {
  const machine = { cores: navigator.hardwareConcurrency };
  // One case (`bench decode --json`): its figures as one flat object.
  console.log(
    JSON.stringify(
      results.length === 1 ? { ...results[0], machine } : { machine, results },
      null,
      2,
    ),
  );
}
