// deno-lint-ignore-file no-console
/**
 * `lsst-extendedness quarantine list|replay`: the records that could not be ingested, and a
 * second attempt at those that can be decoded now.
 *
 * @module
 */

import {
  CutoutProcessor,
  type QuarantineRecord,
  type QuarantineReplayResult,
  replayQuarantine,
  stringifyExact,
  UsageError,
} from "../mod.ts";
import { type Command, COMMON, type Flags, integer, text } from "./_flags.ts";
import { formatCount, print, table } from "./_output.ts";
import { abortOnSignals } from "./_signals.ts";
import { withStorage } from "./_storage.ts";

// Which options each subcommand takes: they share one parser, so each checks its own.
const SUBCOMMAND_FLAGS = {
  list: ["db", "json", "help", "source", "limit"],
  replay: [
    "db",
    "json",
    "help",
    "source",
    "schema-dir",
    "schema-registry",
    "api-base-url",
    "batch-size",
    "cutouts-dir",
    "no-cutouts",
    "keep-raw",
    "quiet",
  ],
} as const;

/** The quarantine command; a replay that was interrupted exits with code 130. */
export const quarantineCommand: Command = {
  options: {
    ...COMMON,
    source: { type: "string" },
    limit: { type: "string" },
    "schema-dir": { type: "string" },
    "schema-registry": { type: "string" },
    "api-base-url": { type: "string" },
    "batch-size": { type: "string" },
    "cutouts-dir": { type: "string" },
    "no-cutouts": { type: "boolean" },
    "keep-raw": { type: "boolean" },
    quiet: { type: "boolean" },
  },
  positionals: 1,
  run: _quarantine,
};

async function _quarantine(flags: Flags, positionals: readonly string[]): Promise<number> {
  const sub = positionals[0];
  if (sub !== "list" && sub !== "replay") {
    throw new UsageError(
      sub === undefined
        ? "quarantine needs a subcommand: list or replay"
        : `Unknown quarantine subcommand "${sub}": expected list or replay`,
    );
  }
  const allowed: readonly string[] = SUBCOMMAND_FLAGS[sub];
  const other = Object.keys(flags).find((name) => !allowed.includes(name));
  if (other !== undefined) {
    throw new UsageError(`Option --${other} does not apply to "quarantine ${sub}"`);
  }
  return sub === "list" ? await _list(flags) : await _replay(flags);
}

async function _list(flags: Flags): Promise<number> {
  const source = text(flags, "source");
  const limit = integer(flags, "limit", 100, 1);
  return await withStorage(flags, async (storage) => {
    await storage.initialize();
    const rows = await storage.listQuarantine({
      limit,
      ...(source === undefined ? {} : { source }),
    });
    print(flags, rows, () => _formatQuarantine(rows));
    return 0;
  });
}

async function _replay(flags: Flags): Promise<number> {
  const source = text(flags, "source");
  const batchSize = integer(flags, "batch-size", 100, 1);
  const schemaDir = text(flags, "schema-dir");
  const schemaRegistry = text(flags, "schema-registry");
  const apiBaseUrl = text(flags, "api-base-url");
  const cutoutsDir = flags["cutouts-dir"] ?? "data/cutouts";
  if (typeof cutoutsDir !== "string" || cutoutsDir === "") {
    throw new UsageError("Option --cutouts-dir needs a path");
  }
  return await withStorage(flags, async (storage) => {
    using cutouts = flags["no-cutouts"] ? null : new CutoutProcessor({ outputDir: cutoutsDir });
    const controller = new AbortController();
    using _signals = abortOnSignals(controller, {
      quiet: flags.quiet === true,
      keeping: "decoded",
    });
    const replay = await replayQuarantine(storage, {
      batchSize,
      cutouts,
      keepRaw: flags["keep-raw"] === true,
      signal: controller.signal,
      ...(source === undefined ? {} : { source }),
      ...(schemaDir === undefined ? {} : { schemaDir }),
      ...(schemaRegistry === undefined ? {} : { schemaRegistry }),
      ...(apiBaseUrl === undefined ? {} : { antaresApiBaseUrl: apiBaseUrl }),
    });
    if (flags.json) console.log(stringifyExact(replay, 2));
    else if (!flags.quiet) console.log(_formatReplay(replay, storage.location));
    return replay.status === "interrupted" ? 130 : 0;
  });
}

function _formatQuarantine(rows: QuarantineRecord[]): string {
  if (rows.length === 0) return "No quarantined records";
  return table(
    ["id", "source", "stream", "position", "bytes", "run", "error"],
    rows.map((r) => [
      r.id,
      r.source,
      r.stream,
      r.position,
      r.rawBytes ?? "-",
      r.runId ?? "-",
      r.error,
    ]),
  );
}

function _formatReplay(replay: QuarantineReplayResult, database: string): string {
  const lines = [
    `Quarantine replay (run ${replay.runId}) ${replay.status}: ${
      formatCount(replay.rowsRead)
    } records read, ${formatCount(replay.rowsReplayed)} replayed (${
      formatCount(replay.alertsIngested)
    } alerts stored, ${formatCount(replay.alertsSkipped)} already stored), ${
      formatCount(replay.rowsStillFailing)
    } still failing, ${formatCount(replay.rowsNotReplayable)} cannot be replayed`,
  ];
  for (const [reason, n] of Object.entries(replay.notReplayable)) {
    lines.push(`  ${formatCount(n)} × ${reason}`);
  }
  lines.push(
    `${formatCount(replay.newSources)} new DIASources, ${
      formatCount(replay.reassociationsDetected)
    } reassociations, ${replay.elapsedSeconds.toFixed(2)} s`,
    `Database: ${database}`,
  );
  if (replay.error !== null) lines.push(`Note: ${replay.error}`);
  return lines.join("\n");
}
