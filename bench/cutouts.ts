// deno-lint-ignore-file no-console
/**
 * `deno task bench cutouts [--json]`: how fast the ingest writes cutout files, against a minimal
 * writer of the same files on the same disk, measured in one run. Prints one JSON line.
 *
 * deno run -A bench/cutouts.ts [count (default 20000)] [shared dir] [work dir]
 *
 * Every figure comes from a fresh process (this script run again with `--figure`), in turn:
 * - `cutout_files_per_s`: the ingest's cutout step (`writeAlertCutouts`: validation, temporary
 *   file, fdatasync, rename, folder fsyncs) over the cutouts of `count` mock alerts, in batches
 *   of 500 (the CLI's default); only the step is timed, not the mock's synthesis of the stamps.
 * - `minimal_writer_files_per_s`: the same bytes and layout
 *   (`<dir>/<YYYY-MM-DD>/<diaSourceId>/{science,template,difference}.fits`) written by a trivial
 *   single-thread loop of synchronous calls: one mkdir per alert, then per file open, write,
 *   fdatasync, close and rename from `.tmp/`, and once a batch an fsync of every folder it
 *   touched. It has the cutout path's durability, so the comparison is fair.
 * - `minimal_writer_nosync_files_per_s`: that loop without any sync, for context: what the disk
 *   does when nothing has to survive a power loss.
 * - `alerts_per_s_with_cutouts` / `alerts_per_s_without_cutouts`: `ingest()` of the same `count`
 *   mock alerts into a new SQLite file, end to end (synthesis included), with and without
 *   cutouts.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CutoutProcessor } from "../cutouts/cutout_processor.ts";
import { ingest } from "../pipeline/ingestion_pipeline.ts";
import { writeAlertCutouts } from "../pipeline/_cutout_step.ts";
import type { DecodedAlert } from "../sources/alert_source.ts";
import { MockSource } from "../sources/mock/mock_source.ts";
import type { QuarantineEntry } from "../storage/storage.ts";
import { SQLiteStorage } from "../storage/sqlite_storage.ts";
import { loadAverage, samplePeakMemory } from "./_measure.ts";
import { ingestV8Flags } from "./_ingest_flags.ts";

type Figure = "cutouts" | "minimal" | "minimal-nosync" | "ingest-cutouts" | "ingest";

const BATCH = 500;
const SEED = 7;
const KINDS = ["science", "template", "difference"] as const;
const FIELDS = {
  science: "cutoutScience",
  template: "cutoutTemplate",
  difference: "cutoutDifference",
} as const;

async function runAll(count: number, work: string): Promise<Record<string, unknown>> {
  const figures: Record<string, unknown> = {
    case: "cutouts: mock alerts' FITS cutouts, 3 files per alert",
    date: new Date().toISOString(),
    alerts: count,
    files: 3 * count,
    load_before: await loadAverage(),
  };
  const script = fileURLToPath(import.meta.url);
  const order: [Figure, string][] = [
    ["minimal", "minimal_writer"],
    ["cutouts", "cutout"],
    ["minimal-nosync", "minimal_writer_nosync"],
    ["ingest-cutouts", "with_cutouts"],
    ["ingest", "without_cutouts"],
  ];
  try {
    for (const [figure, name] of order) {
      const dir = join(work, figure);
      await Deno.mkdir(dir, { recursive: true });
      // Dirty pages of the previous figure must not be written back during this one.
      await new Deno.Command("sync").output();
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          ...ingestV8Flags(),
          script,
          "--figure",
          figure,
          String(count),
          dir,
        ],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      if (!out.success) throw new Error(`Benchmark figure "${figure}" failed`);
      const result = JSON.parse(new TextDecoder().decode(out.stdout)) as {
        rate: number;
        peakRssMb: number;
      };
      if (figure.startsWith("ingest")) {
        figures[`alerts_per_s_${name}`] = result.rate;
        figures[`alerts_${name}_peak_rss_mb`] = result.peakRssMb;
      } else {
        figures[`${name}_files_per_s`] = result.rate;
        figures[`${name}_peak_rss_mb`] = result.peakRssMb;
      }
    }
  } finally {
    // Only after the last figure: on ext4 without a journal, creating files soon after tens of
    // thousands were deleted is several times slower (the allocator skips recently freed
    // inodes), which would slow whichever figure came next.
    for (const [figure] of order) {
      await Deno.remove(join(work, figure), { recursive: true }).catch(() => {});
    }
  }
  const ratio = (a: unknown, b: unknown) => Math.round((a as number) / (b as number) * 100) / 100;
  figures.cutout_vs_minimal_writer = ratio(
    figures.cutout_files_per_s,
    figures.minimal_writer_files_per_s,
  );
  figures.with_vs_without_cutouts = ratio(
    figures.alerts_per_s_with_cutouts,
    figures.alerts_per_s_without_cutouts,
  );
  figures.load_after = await loadAverage();
  figures.note = "minimal_writer_files_per_s syncs as the cutout path does (fdatasync per file " +
    "before its rename, fsync of each touched folder per batch of 500 alerts), so the ratio " +
    "compares like with like; minimal_writer_nosync_files_per_s skips every sync (context only)";
  figures.cores = navigator.hardwareConcurrency;
  return figures;
}

async function measure(
  figure: Figure,
  count: number,
  dir: string,
): Promise<{ rate: number; peakRssMb: number }> {
  const memory = samplePeakMemory();
  if (figure === "ingest" || figure === "ingest-cutouts") {
    const cutouts = figure === "ingest-cutouts";
    await using storage = new SQLiteStorage(join(dir, "bench.db"));
    await using source = new MockSource({ count, seed: SEED, cutouts });
    using processor = cutouts ? new CutoutProcessor({ outputDir: join(dir, "cutouts") }) : null;
    const started = performance.now();
    const run = await ingest(source, storage, { batchSize: BATCH, cutouts: processor });
    const seconds = (performance.now() - started) / 1000;
    if (run.alertsIngested !== count) throw new Error(`Stored ${run.alertsIngested} alerts`);
    return { rate: Math.round(count / seconds), peakRssMb: memory.stop() };
  }
  let write: (batch: DecodedAlert[]) => Promise<number>;
  await using storage = new SQLiteStorage(":memory:");
  await storage.initialize();
  using processor = new CutoutProcessor({ outputDir: join(dir, "cutouts") });
  if (figure === "cutouts") {
    write = async (batch) => {
      const quarantine: QuarantineEntry[] = [];
      const stored = await writeAlertCutouts(batch, quarantine, {
        processor,
        storage,
        keepRaw: false,
        sourceOf: () => "mock",
      });
      if (quarantine.length > 0) throw new Error(quarantine[0]?.error);
      return stored.length * 3;
    };
  } else {
    const writer = new _MinimalWriter(join(dir, "cutouts"), figure === "minimal");
    write = (batch) => Promise.resolve(writer.write(batch, processor));
  }
  let seconds = 0;
  let files = 0;
  await using source = new MockSource({ count, seed: SEED, cutouts: true });
  let batch: DecodedAlert[] = [];
  const flush = async () => {
    const started = performance.now();
    files += await write(batch);
    seconds += (performance.now() - started) / 1000;
    batch = [];
  };
  for await (const item of source.alerts()) {
    if (item.kind !== "alert") continue;
    batch.push(item);
    if (batch.length === BATCH) await flush();
  }
  await flush();
  if (files !== 3 * count) throw new Error(`Wrote ${files} files, expected ${3 * count}`);
  return { rate: Math.round(files / seconds), peakRssMb: memory.stop() };
}

// The reference: what a script that only has to put these bytes on disk durably would do.
class _MinimalWriter {
  #root: string;
  #temp: string;
  #sync: boolean;
  #next = 0;

  constructor(root: string, sync: boolean) {
    this.#root = root;
    this.#temp = join(root, ".tmp");
    this.#sync = sync;
    Deno.mkdirSync(this.#temp, { recursive: true });
  }

  write(batch: DecodedAlert[], paths: CutoutProcessor): number {
    const touched = new Set<string>([this.#root]);
    let files = 0;
    for (const { alert } of batch) {
      // Only the path arithmetic is borrowed, so both writers use the same layout.
      const place = paths.cutoutPaths(alert);
      const folder = join(place.science, "..");
      Deno.mkdirSync(folder, { recursive: true });
      touched.add(folder).add(join(folder, ".."));
      for (const kind of KINDS) {
        const bytes = alert[FIELDS[kind]];
        if (bytes === null) continue;
        const temp = join(this.#temp, `${++this.#next}.part`);
        const file = Deno.openSync(temp, { write: true, create: true, truncate: true });
        for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
        if (this.#sync) file.syncDataSync();
        file.close();
        Deno.renameSync(temp, place[kind]);
        files++;
      }
    }
    if (this.#sync) {
      for (const folder of touched) {
        const handle = Deno.openSync(folder, { read: true });
        handle.syncSync();
        handle.close();
      }
    }
    return files;
  }
}

// Last: the class above must be initialised before the top-level await runs.
if (Deno.args[0] === "--figure") {
  const [, figure, countText, dir] = Deno.args as [string, Figure, string, string];
  console.log(JSON.stringify(await measure(figure, Number(countText), dir)));
} else {
  const positional = Deno.args.filter((arg) => !arg.startsWith("--"));
  const count = Number(positional[0] ?? 20_000);
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(`Invalid alert count "${positional[0]}": expected an integer >= 1`);
  }
  const work = positional[2] ?? await Deno.makeTempDir({ prefix: "lsst-bench-cutouts-" });
  console.log(JSON.stringify(await runAll(count, work)));
  if (positional[2] === undefined) await Deno.remove(work, { recursive: true });
}
