// deno-lint-ignore-file no-console
/**
 * `lsst-extendedness ingest`: read alerts from the source --source names into the database, with
 * their cutouts.
 *
 * @module
 */

import {
  type AlertSource,
  ANTARESSource,
  CutoutProcessor,
  FileSource,
  IngestionPipeline,
  type IngestionProgress,
  type IngestionRunRecord,
  KafkaSource,
  MockSource,
  openStorage,
  type Storage,
  stringifyExact,
  UsageError,
} from "../mod.ts";
import {
  type Command,
  COMMON,
  type Flags,
  integer,
  KAFKA,
  required,
  seconds,
  text,
  topics,
} from "./_flags.ts";
import { kafkaConnection } from "./_kafka_connection.ts";
import { formatCount, formatLag } from "./_output.ts";
import { abortOnSignals } from "./_signals.ts";
import { databasePath, warnAboutData } from "./_storage.ts";

/** The ingest command: exit code 0 when the run completes, 130 when it was interrupted. */
export const ingestCommand: Command = {
  options: {
    ...COMMON,
    source: { type: "string" },
    count: { type: "string" },
    seed: { type: "string" },
    path: { type: "string" },
    "schema-registry": { type: "string" },
    "schema-dir": { type: "string" },
    ...KAFKA,
    "start-at": { type: "string" },
    "session-timeout": { type: "string" },
    format: { type: "string" },
    "api-key": { type: "string" },
    "api-secret": { type: "string" },
    "api-base-url": { type: "string" },
    "security-protocol": { type: "string" },
    "no-verify-hostname": { type: "boolean" },
    limit: { type: "string" },
    duration: { type: "string" },
    "batch-size": { type: "string" },
    "batch-observations": { type: "string" },
    "cutouts-dir": { type: "string" },
    "no-cutouts": { type: "boolean" },
    "keep-raw": { type: "boolean" },
    "no-decode-worker": { type: "boolean" },
    "read-ahead": { type: "string" },
    "reset-cursors": { type: "boolean" },
    quiet: { type: "boolean" },
  },
  positionals: 0,
  run: _ingest,
};

async function _ingest(flags: Flags): Promise<number> {
  const limit = flags.limit === undefined ? undefined : integer(flags, "limit", 0, 1);
  const durationSeconds = seconds(flags, "duration");
  const batchSize = integer(flags, "batch-size", 500, 1);
  const maxBatchObservations = integer(flags, "batch-observations", 25_000, 1);
  const cutoutsDir = flags["cutouts-dir"] ?? "data/cutouts";
  if (typeof cutoutsDir !== "string" || cutoutsDir === "") {
    throw new UsageError("Option --cutouts-dir needs a path");
  }
  await using storage = openStorage(databasePath(flags));
  await storage.initialize();
  await warnAboutData(storage);
  await using source = _openSource(flags, storage);
  // A security warning, not progress: --json and --quiet keep it (it goes to stderr).
  if (flags["no-verify-hostname"]) {
    console.error(
      "warning: TLS hostname verification is off: the broker's identity is not checked",
    );
  }
  if (!flags.quiet && !flags.json) _announce(source);
  using cutouts = flags["no-cutouts"] ? null : new CutoutProcessor({ outputDir: cutoutsDir });
  const controller = new AbortController();
  using _signals = abortOnSignals(controller, { quiet: flags.quiet === true, keeping: "read" });

  const tty = !flags.quiet && !flags.json && Deno.stderr.isTerminal();
  const run = await new IngestionPipeline(source, storage, {
    batchSize,
    maxBatchObservations,
    cutouts,
    keepRaw: flags["keep-raw"] === true,
  }).run({
    signal: controller.signal,
    ...(limit === undefined ? {} : { limit }),
    ...(durationSeconds === undefined ? {} : { durationSeconds }),
    ...(flags["reset-cursors"] ? { resetCursors: true } : {}),
    ...(tty ? { onProgress: _progressLine } : {}),
  });
  if (tty) _clearProgressLine();
  // A Kafka run ends with where the group stands: committed offset and lag per partition.
  const lag = source instanceof KafkaSource ? await source.lag().catch(() => null) : null;
  if (flags.json) console.log(stringifyExact(lag === null ? run : { ...run, lag }, 2));
  else if (!flags.quiet) {
    console.log(_formatRun(run, storage.location));
    if (lag !== null) console.log(formatLag(lag));
  }
  return run.status === "interrupted" ? 130 : 0;
}

// The source --source names (default mock); adding a transport adds a branch here.
function _openSource(flags: Flags, storage: Storage): AlertSource {
  const name = flags.source ?? "mock";
  if (name === "file") {
    const path = text(flags, "path");
    if (path === undefined) {
      throw new UsageError("The file source needs --path: a file, directory or glob");
    }
    const registry = text(flags, "schema-registry");
    const schemaDir = text(flags, "schema-dir");
    const readAhead = flags["read-ahead"] === undefined
      ? undefined
      : integer(flags, "read-ahead", 32, 1);
    return new FileSource({
      path,
      schemaStore: storage,
      ...(flags["no-decode-worker"] ? { decodeWorker: false } : {}),
      ...(readAhead === undefined ? {} : { readAheadBytes: readAhead * 1024 * 1024 }),
      ...(registry === undefined ? {} : { schemaRegistry: registry }),
      ...(schemaDir === undefined ? {} : { schemaDir }),
    });
  }
  if (name === "kafka") {
    const topicNames = topics(flags);
    if (topicNames.length === 0) {
      throw new UsageError("The kafka source needs --topic (repeat for several)");
    }
    const startAt = _startAt(flags);
    const format = text(flags, "format") ?? "auto";
    if (format !== "auto" && format !== "confluent" && format !== "ocf") {
      throw new UsageError(`Unknown --format "${format}": expected auto, confluent or ocf`);
    }
    const registry = text(flags, "schema-registry");
    const schemaDir = text(flags, "schema-dir");
    const session = seconds(flags, "session-timeout");
    return new KafkaSource({
      ...(session === undefined ? {} : { sessionTimeoutMs: Math.round(session * 1000) }),
      ...kafkaConnection(flags),
      topics: topicNames,
      groupId: required(flags, "group-id", "The kafka source needs --group-id"),
      startAt,
      format,
      schemaStore: storage,
      ...(flags["no-decode-worker"] ? { decodeWorker: false } : {}),
      ...(registry === undefined ? {} : { schemaRegistry: registry }),
      ...(schemaDir === undefined ? {} : { schemaDir }),
    });
  }
  if (name === "antares") {
    const protocol = text(flags, "security-protocol") ?? "sasl_ssl";
    if (protocol !== "sasl_ssl" && protocol !== "sasl_plaintext") {
      throw new UsageError(
        `Unknown --security-protocol "${protocol}": expected sasl_ssl or sasl_plaintext`,
      );
    }
    const startAt = _startAt(flags);
    // Options not given are left out, so the source's defaults and environment variables apply.
    const optional: Record<string, string | undefined> = {
      apiKey: text(flags, "api-key"),
      apiSecret: text(flags, "api-secret"),
      groupId: text(flags, "group-id"),
      bootstrapServers: text(flags, "bootstrap-servers"),
      caFile: text(flags, "ca-file"),
      apiBaseUrl: text(flags, "api-base-url"),
    };
    const session = seconds(flags, "session-timeout");
    return new ANTARESSource({
      topics: topics(flags),
      securityProtocol: protocol,
      startAt,
      verifyHostname: !flags["no-verify-hostname"],
      ...(session === undefined ? {} : { sessionTimeoutMs: Math.round(session * 1000) }),
      ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
    });
  }
  if (name === "mock") {
    return new MockSource({
      count: integer(flags, "count", 1000, 0),
      seed: integer(flags, "seed", 42, 0),
      cutouts: !flags["no-cutouts"],
    });
  }
  throw new UsageError(`Unknown source "${name}": expected mock, file, kafka or antares`);
}

function _startAt(flags: Flags): "committed" | "earliest" | "latest" {
  const startAt = text(flags, "start-at") ?? "committed";
  if (startAt !== "committed" && startAt !== "earliest" && startAt !== "latest") {
    throw new UsageError(`Unknown --start-at "${startAt}": expected committed, earliest or latest`);
  }
  return startAt;
}

// What a streaming run connects to, so an operator can find the group again.
function _announce(source: AlertSource): void {
  if (source instanceof ANTARESSource) {
    const p = source.params;
    console.error(
      `ANTARES: consuming ${
        (p.topics as string[]).map((t) => `client.${t}`).join(", ")
      } as group "${source.groupId}" from ${p.bootstrapServers}`,
    );
  } else if (source instanceof KafkaSource) {
    const p = source.params;
    console.error(
      `Kafka: consuming ${(p.topics as string[]).join(", ")} as group "${p.groupId}" from ${
        (p.bootstrapServers as string[]).join(",")
      }`,
    );
  }
}

const encoder = new TextEncoder();

function _progressLine(p: IngestionProgress): void {
  const line = `${formatCount(p.recordsRead)} read · ${formatCount(p.alertsIngested)} stored · ${
    formatCount(Math.round(p.recordsPerSecond))
  } alerts/s · ${formatCount(p.reassociationsDetected)} reassociations · ${
    formatCount(p.alertsQuarantined)
  } quarantined`;
  Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
}

function _clearProgressLine(): void {
  Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
}

function _formatRun(
  run: IngestionRunRecord & {
    recordsRead: number;
    elapsedSeconds: number;
    recordsPerSecond: number;
  },
  database: string,
): string {
  const lines = [
    `Run ${run.runId} ${run.status}: ${formatCount(run.recordsRead)} records read, ${
      formatCount(run.alertsIngested)
    } alerts stored, ${formatCount(run.alertsSkipped)} already stored, ${
      formatCount(run.alertsQuarantined)
    } quarantined`,
    `${formatCount(run.newSources)} new DIASources, ${
      formatCount(run.reassociationsDetected)
    } reassociations, ${run.elapsedSeconds.toFixed(2)} s (${
      formatCount(Math.round(run.recordsPerSecond))
    } records/s)`,
    `Database: ${database}`,
  ];
  if (run.error !== null) lines.push(`Note: ${run.error}`);
  return lines.join("\n");
}
