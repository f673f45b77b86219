// deno-lint-ignore-file no-console
/**
 * `deno task bench viewer [--json]`: how fast the viewer answers on a large database: every page
 * and every API route over real HTTP, with realistic and worst-case parameters, and cutout PNGs.
 * The budget: under 300 ms for each page and API answer, under 50 ms for a cutout image.
 *
 * deno run -A bench/viewer.ts [--count N (default 1000000)] [--runs K (default 5)]
 * [--dir DIR] [--db PATH] [--keep] [--json]
 * (from bench.ts: `<count> <shared dir> <work dir>`, one JSON line on stdout, the table on
 * stderr)
 *
 * The database is built by the CLI in child processes, as users run it (`cli.ts ingest` with the
 * ingest task's V8 flags): N mock alerts without cutouts (seed 42), then 2,000 more with cutouts
 * from another seed, whose ids do not collide, so cutout images can be timed. A database that
 * already exists at `--db` (or `DIR/viewer.db`) is reused when it holds those counts; one that
 * holds others is refused, never deleted. Its cutouts folder sits beside it (`viewer-cutouts/`
 * for `viewer.db`).
 *
 * The viewer runs in a child process (`cli.ts serve --port 0 --json`); this process times each
 * request with `fetch`, body read to the end: one warm-up, then K timed runs, reporting the
 * median and the max. Cutout figures pool 50 alerts' images per kind and stretch. A request is
 * over budget when its median is. `extra_indexes` names indexes of the database that
 * `schema.sql` does not create (someone added them to try a plan).
 *
 * Files made here are removed at the end unless `--keep` (a `--db` given is never removed).
 *
 * @module
 */

import { existsSync, statSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ingestV8Flags } from "./_ingest_flags.ts";
import { loadAverage } from "./_measure.ts";

type Kind = "page" | "api" | "cutout";

interface Probe {
  kind: Kind;
  /** Shown in the table and the JSON; for a pooled cutout figure, a path pattern. */
  path: string;
  /** The paths timed (one, or the pooled cutouts). */
  paths: string[];
}

interface Timing {
  kind: Kind;
  path: string;
  median_ms: number;
  max_ms: number;
}

const CUTOUT_RUN_ALERTS = 2_000;
const CUTOUT_ALERTS_TIMED = 50;
const API_BUDGET_MS = 300;
const CUTOUT_BUDGET_MS = 50;
const SEED = 42;
const CUTOUT_SEED = 43;
const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const SCHEMA = fileURLToPath(new URL("../schema.sql", import.meta.url));
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];

const { values: flags, positionals } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string" },
    runs: { type: "string" },
    dir: { type: "string" },
    db: { type: "string" },
    keep: { type: "boolean" },
    json: { type: "boolean" },
  },
  allowPositionals: true,
});
// Run by bench.ts: positionals, one JSON line for it to collect.
const fromRunner = positionals.length > 0;
const count = _whole(flags.count ?? positionals[0] ?? "1000000", "count");
const runs = _whole(flags.runs ?? "5", "runs");
const madeDir = flags.dir === undefined && positionals[2] === undefined;
const dir = flags.dir ?? positionals[2] ?? await Deno.makeTempDir({ prefix: "lsst-bench-viewer-" });
await Deno.mkdir(dir, { recursive: true });
const db = flags.db ?? join(dir, "viewer.db");
const cutoutsDir = join(dirname(db), `${basename(db, ".db")}-cutouts`);
const made: string[] = [];

let failed = false;
try {
  const build = await _prepare();
  const picks = _pick();
  const probes = _probes(picks);
  const loadBefore = await loadAverage();
  const viewer = await _startViewer();
  const timings: Timing[] = [];
  try {
    for (const probe of probes) timings.push(await _time(viewer.url, probe));
  } finally {
    await viewer.stop();
  }
  const figures = _figures(timings, build, picks, [loadBefore, await loadAverage()]);
  if (fromRunner || flags.json) console.log(JSON.stringify(figures));
  if (!flags.json) (fromRunner ? console.error : console.log)(_table(figures, timings));
  if (flags.keep) console.error(`Kept ${db} and ${cutoutsDir}`);
} catch (error) {
  console.error(`error: ${(error as Error).message}`);
  failed = true;
} finally {
  if (!flags.keep) {
    for (const path of made) await Deno.remove(path, { recursive: true }).catch(() => {});
    if (madeDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
if (failed) Deno.exit(1);

interface Build {
  seconds: number;
  reused: boolean;
}

/** Builds the database, or checks the one there holds what this run needs. */
async function _prepare(): Promise<Build> {
  if (existsSync(db)) {
    const held = _counts();
    if (held.alerts === count + CUTOUT_RUN_ALERTS && held.withCutouts === CUTOUT_RUN_ALERTS) {
      if (!existsSync(cutoutsDir)) throw new Error(`Cutouts folder "${cutoutsDir}" is missing`);
      console.error(`Reusing ${db}: ${held.alerts} alerts`);
      return { seconds: 0, reused: true };
    }
    throw new Error(
      `Database "${db}" holds ${held.alerts} alerts (${held.withCutouts} with cutouts), not ` +
        `${count} + ${CUTOUT_RUN_ALERTS}: remove it or give another --db`,
    );
  }
  // A database named by --db is a cache for later runs.
  if (flags.db === undefined) made.push(db, `${db}-wal`, `${db}-shm`, `${db}-runs`, cutoutsDir);
  const started = performance.now();
  console.error(`Ingesting ${count} mock alerts without cutouts into ${db}`);
  await _ingest(["--count", String(count), "--seed", String(SEED), "--no-cutouts", "--quiet"]);
  console.error(`Ingesting ${CUTOUT_RUN_ALERTS} mock alerts with cutouts into ${cutoutsDir}`);
  const second = JSON.parse(
    await _ingest([
      "--count",
      String(CUTOUT_RUN_ALERTS),
      "--seed",
      String(CUTOUT_SEED),
      "--cutouts-dir",
      cutoutsDir,
      "--json",
    ]),
  ) as { alertsIngested: number };
  const seconds = (performance.now() - started) / 1000;
  const held = _counts();
  if (
    second.alertsIngested !== CUTOUT_RUN_ALERTS || held.alerts !== count + CUTOUT_RUN_ALERTS ||
    held.withCutouts !== CUTOUT_RUN_ALERTS
  ) {
    throw new Error(
      `The second run stored ${second.alertsIngested} alerts: the database holds ${held.alerts} ` +
        `(${held.withCutouts} with cutouts), expected ${count} + ${CUTOUT_RUN_ALERTS} new ones`,
    );
  }
  return { seconds, reused: false };
}

async function _ingest(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, ...ingestV8Flags(), CLI, "ingest", "--source", "mock"]
      .concat(["--db", db, ...args]),
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`Ingest ${args.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout);
}

function _counts(): { alerts: number; withCutouts: number } {
  using sql = _open();
  const row = sql.db.prepare(
    `SELECT COUNT(*) AS alerts, COUNT(cutout_science) AS cutouts FROM alerts`,
  ).get() as { alerts: number; cutouts: number };
  return { alerts: row.alerts, withCutouts: row.cutouts };
}

function _open(): { db: DatabaseSync } & Disposable {
  const handle = new DatabaseSync(db, { readOnly: true });
  return { db: handle, [Symbol.dispose]: () => handle.close() };
}

/** Ids worth asking about, chosen by SQL. */
interface Picks {
  reassociatedAlert: bigint;
  solarSystemAlert: bigint;
  bigObject: { id: bigint; alerts: number; latestAlert: bigint };
  busySource: { id: bigint; detections: number };
  bigSsObject: { id: bigint; sources: number };
  mjd: { min: number; max: number };
  cutoutRun: number;
  cutoutAlerts: bigint[];
  extraIndexes: string[];
}

function _pick(): Picks {
  using sql = _open();
  const prepare = (text: string) => {
    const statement = sql.db.prepare(text);
    statement.setReadBigInts(true);
    return statement;
  };
  const one = (text: string, ...params: (bigint | number)[]) => {
    const row = prepare(text).get(...params) as Record<string, bigint> | undefined;
    if (row === undefined) throw new Error(`Nothing found by: ${text}`);
    return row;
  };
  const reassociated = one(
    `SELECT dia_source_id AS id FROM alerts WHERE is_reassociation = 1
     ORDER BY dia_source_id LIMIT 1`,
  );
  const solarSystem = one(
    "SELECT dia_source_id AS id FROM alerts WHERE ss_object_id IS NOT NULL LIMIT 1",
  );
  const object = one(
    `SELECT dia_object_id AS id, COUNT(*) AS n FROM alerts WHERE dia_object_id IS NOT NULL
     GROUP BY dia_object_id ORDER BY n DESC LIMIT 1`,
  );
  const latest = one(
    `SELECT dia_source_id AS id FROM alerts WHERE dia_object_id = ?
     ORDER BY midpoint_mjd_tai DESC LIMIT 1`,
    object.id as bigint,
  );
  const busy = one(
    `SELECT dia_source_id AS id, COUNT(*) AS n FROM reassociations
     GROUP BY dia_source_id ORDER BY n DESC LIMIT 1`,
  );
  const ss = one(
    `SELECT ss AS id, COUNT(*) AS n FROM (
       SELECT dia_source_id AS source, ss_object_id AS ss FROM alerts
       WHERE ss_object_id IS NOT NULL
       UNION SELECT dia_source_id, ss_object_id FROM processed_sources
       WHERE ss_object_id IS NOT NULL)
     GROUP BY ss ORDER BY n DESC LIMIT 1`,
  );
  const range = one(
    "SELECT MIN(midpoint_mjd_tai) AS min, MAX(midpoint_mjd_tai) AS max FROM alerts",
  );
  const run = one(
    `SELECT run_id AS id FROM ingestion_runs WHERE alerts_ingested = ?
     ORDER BY run_id DESC LIMIT 1`,
    CUTOUT_RUN_ALERTS,
  );
  const withCutouts = (prepare(
    `SELECT dia_source_id AS id FROM alerts WHERE cutout_science IS NOT NULL
     ORDER BY dia_source_id`,
  ).all() as { id: bigint }[]).map((r) => r.id);
  const step = Math.max(1, Math.floor(withCutouts.length / CUTOUT_ALERTS_TIMED));
  const schema = Deno.readTextFileSync(SCHEMA);
  const indexes = sql.db.prepare(
    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
  ).all() as { name: string; sql: string }[];
  return {
    reassociatedAlert: reassociated.id as bigint,
    solarSystemAlert: solarSystem.id as bigint,
    bigObject: {
      id: object.id as bigint,
      alerts: Number(object.n),
      latestAlert: latest.id as bigint,
    },
    busySource: { id: busy.id as bigint, detections: Number(busy.n) },
    bigSsObject: { id: ss.id as bigint, sources: Number(ss.n) },
    mjd: { min: Number(range.min), max: Number(range.max) },
    cutoutRun: Number(run.id),
    cutoutAlerts: withCutouts.filter((_, i) => i % step === 0).slice(0, CUTOUT_ALERTS_TIMED),
    extraIndexes: indexes.filter((i) => !schema.includes(` ${i.name} `)).map((i) => i.sql),
  };
}

function _probes(p: Picks): Probe[] {
  const single = (kind: Kind, path: string): Probe => ({ kind, path, paths: [path] });
  const api = (path: string) => single("api", path);
  const mid = Math.round((p.mjd.min + p.mjd.max) / 2);
  const list = [
    "",
    `?from_mjd=${Math.floor(p.mjd.max) - 1}`,
    `?to_mjd=${Math.floor(p.mjd.min) + 1}`,
    `?from_mjd=${mid}&to_mjd=${mid + 1}`,
    "?band=r",
    "?band=u",
    "?solar_system=yes",
    "?solar_system=no",
    "?reassociated=yes",
    "?reassociated=no",
    "?min_extendedness=0.5",
    "?max_extendedness=0.1",
    "?min_reliability=0.9",
    "?min_snr=10",
    `?dia_object_id=${p.bigObject.id}`,
    `?ss_object_id=${p.bigSsObject.id}`,
    "?run_id=1",
    `?run_id=${p.cutoutRun}`,
    // Filters nothing matches: every row is read.
    "?min_snr=1e9",
    "?band=x",
    "?solar_system=yes&min_reliability=2",
    ...["time", "snr", "extendedness", "reliability", "flux", "id"].flatMap((sort) =>
      ["desc", "asc"].map((order) => `?sort=${sort}&order=${order}`)
    ),
    "?offset=5000",
    "?sort=snr&offset=5000",
    "?limit=1000",
    "?band=r&min_snr=10&sort=snr&limit=100",
    "?solar_system=yes&sort=snr",
    "?min_snr=1e9&sort=flux&order=asc",
  ].map((query) => api(`/api/alerts${query}`));
  const cutouts = ["science", "template", "difference"].flatMap((kind) =>
    ["zscale", "asinh", "linear"].map((stretch): Probe => ({
      kind: "cutout",
      path: `/api/alerts/{id}/cutouts/${kind}.png?stretch=${stretch}`,
      paths: p.cutoutAlerts.map((id) => `/api/alerts/${id}/cutouts/${kind}.png?stretch=${stretch}`),
    }))
  );
  return [
    single("page", "/"),
    single("page", "/alerts"),
    single("page", "/reassociations"),
    single("page", `/alerts/${p.reassociatedAlert}`),
    single("page", `/ss-objects/${p.bigSsObject.id}`),
    api("/api/stats"),
    ...list,
    api(`/api/alerts/${p.reassociatedAlert}`),
    api(`/api/alerts/${p.solarSystemAlert}`),
    api(`/api/alerts/${p.bigObject.latestAlert}`),
    api(`/api/objects/${p.bigObject.id}/lightcurve`),
    api(`/api/sources/${p.bigObject.latestAlert}/timeline`),
    api(`/api/sources/${p.busySource.id}/timeline`),
    api("/api/reassociations"),
    ...["new_association", "changed_association", "updated_timestamp", "association_removed"]
      .map((reason) => api(`/api/reassociations?reason=${reason}`)),
    api("/api/reassociations?run_id=1"),
    api("/api/reassociations?offset=5000"),
    api(`/api/ss-objects/${p.bigSsObject.id}`),
    ...cutouts,
    {
      kind: "cutout",
      path: "/api/alerts/{id}/cutouts/science.fits",
      paths: p.cutoutAlerts.map((id) => `/api/alerts/${id}/cutouts/science.fits`),
    },
  ];
}

async function _startViewer(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, CLI, "serve", "--db", db, "--cutouts-dir", cutoutsDir]
      .concat(["--port", "0", "--json"]),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) {
      await child.status;
      throw new Error("The viewer stopped before saying where it listens");
    }
    text += value;
  }
  const { url } = JSON.parse(text.slice(0, text.indexOf("\n"))) as { url: string };
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await lines.cancel();
      await child.status;
    },
  };
}

async function _time(base: string, probe: Probe): Promise<Timing> {
  const once = async (path: string) => {
    const started = performance.now();
    const response = await fetch(new URL(path, base));
    const body = await response.arrayBuffer();
    const ms = performance.now() - started;
    if (!response.ok) {
      throw new Error(
        `Request "${path}" answered ${response.status}: ${new TextDecoder().decode(body)}`,
      );
    }
    return ms;
  };
  const all: number[] = [];
  for (const path of probe.paths) {
    await once(path);
    for (let i = 0; i < runs; i++) all.push(await once(path));
  }
  const timing = {
    kind: probe.kind,
    path: probe.path,
    median_ms: _round(_median(all)),
    max_ms: _round(Math.max(...all)),
  };
  console.error(`${timing.median_ms} ms (max ${timing.max_ms})  ${timing.path}`);
  return timing;
}

function _figures(
  timings: Timing[],
  build: Build,
  picks: Picks,
  [loadBefore, loadAfter]: [string, string],
): Record<string, unknown> {
  const of = (kind: Kind) => timings.filter((t) => t.kind === kind);
  const slowest = (list: Timing[]) =>
    list.reduce((a, b) => (b.median_ms > a.median_ms ? b : a), list[0]!);
  const pages = of("page");
  const apis = of("api");
  const pngs = of("cutout").filter((t) => t.path.includes(".png"));
  const slowestPage = slowest(pages);
  const slowestApi = slowest(apis);
  const over = timings.filter((t) =>
    t.median_ms > (t.kind === "cutout" ? CUTOUT_BUDGET_MS : API_BUDGET_MS)
  );
  const bytes = [db, `${db}-wal`].reduce(
    (sum, path) => sum + (existsSync(path) ? statSync(path).size : 0),
    0,
  );
  return {
    case: "viewer: pages and API over HTTP, mock alerts",
    date: new Date().toISOString(),
    alerts: count + CUTOUT_RUN_ALERTS,
    alerts_with_cutouts: CUTOUT_RUN_ALERTS,
    runs,
    slowest_page_ms: slowestPage.median_ms,
    slowest_page: slowestPage.path,
    slowest_api_ms: slowestApi.median_ms,
    slowest_api: slowestApi.path,
    slowest_api_max_ms: Math.max(...apis.map((t) => t.max_ms)),
    median_api_ms: _round(_median(apis.map((t) => t.median_ms))),
    cutout_png_median_ms: _round(_median(pngs.map((t) => t.median_ms))),
    cutout_png_max_ms: Math.max(...pngs.map((t) => t.max_ms)),
    over_budget: over.map((t) => t.path),
    db_mb: Math.round(bytes / 1e5) / 10,
    build_s: Math.round(build.seconds * 10) / 10,
    reused_db: build.reused,
    extra_indexes: picks.extraIndexes,
    big_dia_object_alerts: picks.bigObject.alerts,
    big_ss_object_sources: picks.bigSsObject.sources,
    busy_source_detections: picks.busySource.detections,
    cores: navigator.hardwareConcurrency,
    load_before: loadBefore,
    load_after: loadAfter,
    requests: timings.map(({ path, median_ms, max_ms }) => ({ path, median_ms, max_ms })),
  };
}

function _table(figures: Record<string, unknown>, timings: Timing[]): string {
  const width = Math.max(...timings.map((t) => t.path.length));
  const rows = timings.map((t) => {
    const budget = t.kind === "cutout" ? CUTOUT_BUDGET_MS : API_BUDGET_MS;
    return `${t.kind.padEnd(6)}  ${t.path.padEnd(width)}  ${String(t.median_ms).padStart(8)}  ${
      String(t.max_ms).padStart(8)
    }${t.median_ms > budget ? "  over budget" : ""}`;
  });
  const summary = Object.entries(figures)
    .filter(([key]) => key !== "requests")
    .map(([key, value]) => `${key}=${Array.isArray(value) ? JSON.stringify(value) : value}`);
  return [
    `${"kind".padEnd(6)}  ${"path".padEnd(width)}  ${"median".padStart(8)}  ${"max".padStart(8)}`,
    ...rows,
    "",
    ...summary,
  ].join("\n");
}

function _median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]!
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

function _round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function _whole(text: string, what: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`The ${what} must be a whole number of at least 1, not "${text}"`);
  }
  return value;
}
