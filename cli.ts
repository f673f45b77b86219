// deno-lint-ignore-file no-console
/**
 * The `lsst-extendedness` command line: parses arguments, calls the module, maps errors to exit
 * codes. The only place that prints or exits.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type AlertSource,
  ANTARESSource,
  CutoutProcessor,
  type DatabaseStats,
  decodeRawAlert,
  FileSource,
  IngestionPipeline,
  type IngestionProgress,
  type IngestionRunRecord,
  kafkaLag,
  type KafkaSasl,
  KafkaSource,
  type KafkaTls,
  MockSource,
  openStorage,
  type PartitionLag,
  type QuarantineRecord,
  type QuarantineReplayResult,
  queryReadOnly,
  REASSOCIATION_REASONS,
  type ReassociationReason,
  replayQuarantine,
  type Storage,
  stringifyExact,
  UsageError,
  writeExport,
} from "./mod.ts";
import denoJson from "./deno.json" with { type: "json" };

const USAGE =
  `lsst-extendedness ${denoJson.version}: ingest Rubin (LSST) alerts into SQLite and track
DIASource reassociations with solar-system objects.

Usage: lsst-extendedness <command> [options]

Commands:
  ingest           Ingest alerts from a source
  db-init          Create or migrate the database
  db-stats         Rows per table, solar-system alerts, reassociations by reason, MJD range, size
  runs             Recent ingestion runs
  reassociations   Recent reassociation detections
  export           Write alerts (or reassociation detections) as CSV or JSON
  kafka-lag        Committed offsets and lag of a Kafka consumer group
  query "SQL"      Run your own SQL on a read-only connection (--json, --format csv)
  show-alert ID    The whole packet of an alert ingested with --keep-raw, as exact JSON
  quarantine list  Quarantined records (oldest first), their raw bytes by size
  quarantine replay  Decode quarantined records again and ingest those that decode

Common options:
  --db PATH|URL    SQLite file, or postgres://user:password@host/db for PostgreSQL
                   (env LSST_DB; default data/alerts.db)
  --json           Machine-readable output on stdout
  -h, --help       This help

ingest options:
  --source NAME    mock | file | kafka | antares (default mock)
  --count N        mock: alerts to generate (default 1000)
  --seed N         mock: random seed (default 42)
  --path P         file: a file, directory (recursive) or glob of Avro containers,
                   Confluent-framed messages, gzip variants and CSV exports
  --schema-registry URL  Confluent Schema Registry for framed messages
  --schema-dir DIR Schemas for framed messages: <M.m>/*.avsc, Rubin's <M>/<m>/ tree
                   (lsst.v<M>_<m>.*.avsc), or one version's .avsc files
  --no-decode-worker  Read and decode containers on the main thread (default: in a worker
                   when the machine has more than one core)

ingest --source kafka options (also file's --schema-registry and --schema-dir):
  --bootstrap-servers H:P[,H:P]  Brokers
  --topic T        Topic to consume (repeat for several)
  --group-id G     Consumer group (Rubin: must start with your user name)
  --start-at S     committed (default; earliest for a new group) | earliest | latest
  --sasl-mechanism M  plain | scram-sha-256 | scram-sha-512 (Rubin: scram-sha-512)
  --username U     SASL user (env LSST_KAFKA_USERNAME)
  --password P     SASL password (env LSST_KAFKA_PASSWORD; prefer the environment)
  --tls            Connect with TLS (certificates verified)
  --ca-file F      CA certificate (PEM) for TLS; implies --tls
  --format F       auto (default) | confluent | ocf
  --session-timeout S  Seconds before the group reassigns a dead member's partitions (default 10)

ingest --source antares options (also --topic, --group-id, --bootstrap-servers, --ca-file,
--start-at, --session-timeout):
  --api-key K      ANTARES API key (env ANTARES_API_KEY)
  --api-secret S   ANTARES API secret (env ANTARES_API_SECRET; prefer the environment)
  --security-protocol P  sasl_ssl (default) | sasl_plaintext
  --no-verify-hostname   Accept a broker certificate for another name (insecure; warns)
  --api-base-url U ANTARES HTTP API (default https://api.antares.noirlab.edu/v1/)
  Topics are ANTARES filter names without "client." (e.g. extragalactic_staging); the default
  group is lsst-extendedness-antares, and brokers kafka.antares.noirlab.edu:9092
  --limit N        Stop after N records
  --duration S     Stop after S seconds (the run still completes)
  --batch-size N   Records per transaction (default 500)
  --batch-observations N  Also end a transaction at N DIASource observations, histories
                   included (default 25000: ~70 heavy-history alerts)
  --cutouts-dir D  Where FITS cutouts go (default data/cutouts)
  --no-cutouts     Do not write cutout files
  --keep-raw       file and kafka: also keep each new alert's Avro payload and writer schema
                   (table raw_alerts), for show-alert
  --reset-cursors  Forget the stored positions of this run's topics or files and read them
                   from the start (after a run stopped because a topic was created again or
                   the database points at another cluster); stored alerts are not duplicated
  --quiet          No progress line and no summary

export options:
  --format F       csv | json (default csv)
  --out FILE       Write to FILE (default stdout)
  --since-mjd X    Only alerts with midpoint_mjd_tai >= X (detections: found in such alerts)
  --reassociations Export reassociation detections instead of alerts

kafka-lag options: --bootstrap-servers, --group-id, --topic, --sasl-mechanism, --username,
  --password, --tls, --ca-file: committed offset and lag of a consumer group per partition

quarantine list options:
  --source S       Only records of this source (file, kafka, antares, file:cutout…)
  --limit N        At most N rows (default 100)

quarantine replay options (also ingest's --cutouts-dir, --no-cutouts, --keep-raw, --quiet):
  --source S       Only records of this source (file, kafka, antares)
  --schema-dir DIR, --schema-registry URL  Where framed messages' schemas are looked for
                   (after the database's schemas table)
  --api-base-url U ANTARES HTTP API, for loci whose alerts could not be fetched
  --batch-size N   Quarantine rows per transaction (default 100)
  Records that decode are ingested and leave the quarantine in the same transaction; those
  that still fail stay with their new error; damaged blocks, unreadable files and bad cutouts
  cannot be replayed and stay as they are.

runs / reassociations options:
  --limit N        At most N rows (default 10 / 20)
  --reason R       reassociations: only this reason (${REASSOCIATION_REASONS.join(", ")})
  --run-id N       reassociations: only this run

Exit codes: 0 done, 1 failed, 2 bad usage, 130 interrupted.`;

const COMMON = {
  db: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const KAFKA = {
  "bootstrap-servers": { type: "string" },
  topic: { type: "string", multiple: true },
  "group-id": { type: "string" },
  "sasl-mechanism": { type: "string" },
  username: { type: "string" },
  password: { type: "string" },
  tls: { type: "boolean" },
  "ca-file": { type: "string" },
} as const;

const OPTIONS = {
  ingest: {
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
    "reset-cursors": { type: "boolean" },
    quiet: { type: "boolean" },
  },
  "show-alert": COMMON,
  quarantine: {
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
  "db-init": COMMON,
  "db-stats": COMMON,
  query: { ...COMMON, format: { type: "string" }, limit: { type: "string" } },
  runs: { ...COMMON, limit: { type: "string" } },
  reassociations: {
    ...COMMON,
    limit: { type: "string" },
    reason: { type: "string" },
    "run-id": { type: "string" },
  },
  "kafka-lag": { ...COMMON, ...KAFKA },
  export: {
    ...COMMON,
    format: { type: "string" },
    out: { type: "string" },
    "since-mjd": { type: "string" },
    reassociations: { type: "boolean" },
  },
} as const;

type Command = keyof typeof OPTIONS;
type Flags = Record<string, string | boolean | string[] | undefined>;

/**
 * Run the command line.
 *
 * @param args Arguments after the program name.
 * @returns The process exit code.
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * await main(["db-stats", "--db", ":memory:", "--json"]);
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  try {
    const [command, ...rest] = args;
    if (command === undefined || command === "help" || command === "--help" || command === "-h") {
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    }
    if (command === "--version" || command === "version") {
      console.log(denoJson.version);
      return 0;
    }
    if (!Object.hasOwn(OPTIONS, command)) {
      throw new UsageError(
        `Unknown command "${command}": expected ${Object.keys(OPTIONS).join(", ")}`,
      );
    }
    const flags = _parse(command as Command, rest);
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    switch (command as Command) {
      case "ingest":
        return await _ingest(flags);
      case "db-init":
        return await _withStorage(flags, async (storage) => {
          await storage.initialize();
          _print(
            flags,
            { database: storage.location, initialized: true },
            () => `Database "${storage.location}" is ready`,
          );
          return 0;
        }, { create: true });
      case "query":
        return await _query(flags, rest);
      case "show-alert":
        return await _showAlert(flags, rest);
      case "quarantine":
        return await _quarantine(flags, rest);
      case "db-stats":
        return await _withStorage(flags, async (storage) => {
          await storage.initialize();
          const stats = await storage.stats();
          _print(flags, stats, () => _formatStats(stats));
          await _warnAboutData(storage);
          return 0;
        });
      case "runs":
        return await _withStorage(flags, async (storage) => {
          await storage.initialize();
          const runs = await storage.listRuns(_integer(flags, "limit", 10, 1));
          _print(flags, runs, () => _formatRuns(runs));
          return 0;
        });
      case "export":
        return await _export(flags);
      case "kafka-lag": {
        const lag = await kafkaLag({
          ..._kafkaConnection(flags),
          groupId: _required(flags, "group-id", "kafka-lag needs --group-id"),
          ...(_topics(flags).length === 0 ? {} : { topics: _topics(flags) }),
        });
        _print(flags, lag, () => _formatLag(lag));
        return 0;
      }
      case "reassociations":
        return await _withStorage(flags, async (storage) => {
          await storage.initialize();
          const reason = _reason(_text(flags, "reason"));
          const runId = flags["run-id"] === undefined ? undefined : _integer(flags, "run-id", 0, 1);
          const rows = await storage.listReassociations({
            limit: _integer(flags, "limit", 20, 1),
            ...(reason === undefined ? {} : { reason }),
            ...(runId === undefined ? {} : { runId }),
          });
          _print(flags, rows, () =>
            rows.length === 0 ? "No reassociations" : _table(
              [
                "id",
                "dia_source_id",
                "reason",
                "old_ss_object_id",
                "new_ss_object_id",
                "alert",
                "run",
              ],
              rows.map((r) => [
                r.id,
                r.diaSourceId,
                r.reason,
                r.oldSsObjectId ?? "-",
                r.newSsObjectId ?? "-",
                r.alertDiaSourceId ?? "snapshot",
                r.runId ?? "-",
              ]),
            ));
          return 0;
        });
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}\nRun "lsst-extendedness --help" for usage.`);
      return error.exitCode;
    }
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

function _parse(command: Command, args: string[]): Flags {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: OPTIONS[command],
      strict: true,
      allowPositionals: true,
    });
    const allowed = command === "query" || command === "show-alert" || command === "quarantine"
      ? 1
      : 0;
    if (positionals.length > allowed) {
      throw new UsageError(`Unexpected argument "${positionals[allowed]}" for "${command}"`);
    }
    return values as Flags;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`Invalid options for "${command}": ${(error as Error).message}`);
  }
}

function _integer(flags: Flags, name: string, fallback: number, min: number): number {
  const text = flags[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (
    typeof text !== "string" || !/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min
  ) {
    throw new UsageError(`Option --${name} needs an integer of at least ${min}: "${text}"`);
  }
  return value;
}

function _seconds(flags: Flags, name: string): number | undefined {
  const text = flags[name];
  if (text === undefined) return undefined;
  const value = Number(text);
  if (typeof text !== "string" || text.trim() === "" || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`Option --${name} needs a positive number of seconds: "${text}"`);
  }
  return value;
}

function _required(flags: Flags, name: string, message: string): string {
  const value = _text(flags, name);
  if (value === undefined) throw new UsageError(message);
  return value;
}

function _topics(flags: Flags): string[] {
  const topics = flags.topic;
  return Array.isArray(topics) ? topics.filter((t) => t !== "") : [];
}

// Credentials come from flags or the environment; they go to the client and nowhere else.
function _kafkaConnection(
  flags: Flags,
): { bootstrapServers: string; sasl?: KafkaSasl; tls?: KafkaTls } {
  const bootstrapServers = _required(
    flags,
    "bootstrap-servers",
    "Kafka needs --bootstrap-servers host:port",
  );
  const mechanism = _text(flags, "sasl-mechanism");
  const username = _text(flags, "username") ?? Deno.env.get("LSST_KAFKA_USERNAME");
  const password = _text(flags, "password") ?? Deno.env.get("LSST_KAFKA_PASSWORD");
  let sasl: KafkaSasl | undefined;
  if (mechanism !== undefined) {
    if (mechanism !== "plain" && mechanism !== "scram-sha-256" && mechanism !== "scram-sha-512") {
      throw new UsageError(
        `Unknown --sasl-mechanism "${mechanism}": expected plain, scram-sha-256 or scram-sha-512`,
      );
    }
    if (!username || !password) {
      throw new UsageError(
        "SASL needs a user name and a password: --username/--password or LSST_KAFKA_USERNAME/LSST_KAFKA_PASSWORD",
      );
    }
    sasl = { mechanism, username, password };
  } else if (username || password) {
    throw new UsageError("A user name or password was given without --sasl-mechanism");
  }
  const caFile = _text(flags, "ca-file");
  const tls: KafkaTls | undefined = caFile !== undefined ? { caFile } : flags.tls ? {} : undefined;
  return {
    bootstrapServers,
    ...(sasl === undefined ? {} : { sasl }),
    ...(tls === undefined ? {} : { tls }),
  };
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

function _formatLag(lag: PartitionLag[]): string {
  if (lag.length === 0) return "No committed offsets for this group";
  return _table(
    ["topic", "partition", "committed", "end", "lag"],
    lag.map((l) => [l.topic, l.partition, l.committed ?? "-", l.end, l.lag]),
  );
}

function _text(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new UsageError(`Option --${name} needs a value`);
  }
  return value;
}

async function _query(flags: Flags, args: readonly string[]): Promise<number> {
  const { positionals } = parseArgs({
    args: [...args],
    options: OPTIONS.query,
    strict: true,
    allowPositionals: true,
  });
  const sql = positionals[0];
  if (sql === undefined || sql.trim() === "") {
    throw new UsageError('query needs one SQL statement: lsst-extendedness query "SELECT …"');
  }
  const format = _text(flags, "format") ?? (flags.json ? "json" : "table");
  if (format !== "table" && format !== "json" && format !== "csv") {
    throw new UsageError(`Unknown query format "${format}": expected table, json or csv`);
  }
  const rows = queryReadOnly(_databasePath(flags), sql);
  if (format !== "table") {
    await writeExport(rows, Deno.stdout.writable, { format, preventClose: true });
    return 0;
  }
  const limit = _integer(flags, "limit", 100, 1);
  const shown: Array<Record<string, unknown>> = [];
  let more = false;
  for await (const row of rows) {
    if (shown.length === limit) {
      more = true;
      break;
    }
    shown.push(row);
  }
  const header = Object.keys(shown[0] ?? {});
  console.log(
    shown.length === 0 ? "No rows" : _table(
      header,
      shown.map((row) => header.map((key) => _cell(row[key]))),
    ),
  );
  if (more) {
    console.log(`(only the first ${limit} rows; --limit N, --json or --format csv for more)`);
  }
  return 0;
}

function _cell(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  return String(value);
}

async function _showAlert(flags: Flags, args: readonly string[]): Promise<number> {
  const { positionals } = parseArgs({
    args: [...args],
    options: OPTIONS["show-alert"],
    strict: true,
    allowPositionals: true,
  });
  const text = positionals[0];
  if (text === undefined || !/^-?\d+$/.test(text)) {
    throw new UsageError(
      "show-alert needs the alert's DIASource id: show-alert 170094456272322680",
    );
  }
  return await _withStorage(flags, async (storage) => {
    await storage.initialize();
    const raw = await storage.rawAlert(BigInt(text));
    if (raw === null) {
      console.error(
        `Alert ${text} has no kept payload in "${storage.location}": ingest it with --keep-raw`,
      );
      return 1;
    }
    console.log(stringifyExact(decodeRawAlert(raw), 2));
    return 0;
  });
}

// Which options each quarantine subcommand takes (they share one parser).
const QUARANTINE_FLAGS = {
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

async function _quarantine(flags: Flags, args: readonly string[]): Promise<number> {
  const { positionals } = parseArgs({
    args: [...args],
    options: OPTIONS.quarantine,
    strict: true,
    allowPositionals: true,
  });
  const sub = positionals[0];
  if (sub !== "list" && sub !== "replay") {
    throw new UsageError(
      sub === undefined
        ? "quarantine needs a subcommand: list or replay"
        : `Unknown quarantine subcommand "${sub}": expected list or replay`,
    );
  }
  const allowed: readonly string[] = QUARANTINE_FLAGS[sub];
  const other = Object.keys(flags).find((name) => !allowed.includes(name));
  if (other !== undefined) {
    throw new UsageError(`Option --${other} does not apply to "quarantine ${sub}"`);
  }
  const source = _text(flags, "source");
  if (sub === "list") {
    const limit = _integer(flags, "limit", 100, 1);
    return await _withStorage(flags, async (storage) => {
      await storage.initialize();
      const rows = await storage.listQuarantine({
        limit,
        ...(source === undefined ? {} : { source }),
      });
      _print(flags, rows, () => _formatQuarantine(rows));
      return 0;
    });
  }
  const batchSize = _integer(flags, "batch-size", 100, 1);
  const schemaDir = _text(flags, "schema-dir");
  const schemaRegistry = _text(flags, "schema-registry");
  const apiBaseUrl = _text(flags, "api-base-url");
  const cutoutsDir = flags["cutouts-dir"] ?? "data/cutouts";
  if (typeof cutoutsDir !== "string" || cutoutsDir === "") {
    throw new UsageError("Option --cutouts-dir needs a path");
  }
  return await _withStorage(flags, async (storage) => {
    using cutouts = flags["no-cutouts"] ? null : new CutoutProcessor({ outputDir: cutoutsDir });
    const controller = new AbortController();
    using _signals = _abortOnSignals(controller, flags.quiet === true);
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

// SIGINT/SIGTERM abort the signal (what was decoded is stored); a second one exits at once.
function _abortOnSignals(controller: AbortController, quiet: boolean): Disposable {
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = () => {
      if (controller.signal.aborted) Deno.exit(130);
      if (!quiet) console.error(`\n${signal}: storing what was decoded, then stopping`);
      controller.abort(signal);
    };
    try {
      Deno.addSignalListener(signal, handler);
    } catch {
      // SIGTERM cannot be listened to on every platform.
    }
    return [signal, handler] as const;
  });
  return {
    [Symbol.dispose]() {
      for (const [signal, handler] of handlers) {
        try {
          Deno.removeSignalListener(signal, handler);
        } catch {
          // Never added.
        }
      }
    },
  };
}

function _formatQuarantine(rows: QuarantineRecord[]): string {
  if (rows.length === 0) return "No quarantined records";
  return _table(
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
      _n(replay.rowsRead)
    } records read, ${_n(replay.rowsReplayed)} replayed (${
      _n(replay.alertsIngested)
    } alerts stored, ${_n(replay.alertsSkipped)} already stored), ${
      _n(replay.rowsStillFailing)
    } still failing, ${_n(replay.rowsNotReplayable)} cannot be replayed`,
  ];
  for (const [reason, n] of Object.entries(replay.notReplayable)) {
    lines.push(`  ${_n(n)} × ${reason}`);
  }
  lines.push(
    `${_n(replay.newSources)} new DIASources, ${
      _n(replay.reassociationsDetected)
    } reassociations, ${replay.elapsedSeconds.toFixed(2)} s`,
    `Database: ${database}`,
  );
  if (replay.error !== null) lines.push(`Note: ${replay.error}`);
  return lines.join("\n");
}

async function _export(flags: Flags): Promise<number> {
  const format = _text(flags, "format") ?? "csv";
  if (format !== "csv" && format !== "json") {
    throw new UsageError(`Unknown export format "${format}": expected csv or json`);
  }
  const sinceText = _text(flags, "since-mjd");
  const sinceMjd = sinceText === undefined ? undefined : Number(sinceText);
  if (sinceMjd !== undefined && !Number.isFinite(sinceMjd)) {
    throw new UsageError(`Option --since-mjd needs an MJD: "${sinceText}"`);
  }
  const out = _text(flags, "out");
  return await _withStorage(flags, async (storage) => {
    await storage.initialize();
    const rows = storage.iterateRows(
      flags.reassociations ? "reassociations" : "alerts",
      sinceMjd === undefined ? {} : { sinceMjd },
    );
    let written: number;
    if (out === undefined) {
      written = await writeExport(rows, Deno.stdout.writable, { format, preventClose: true });
    } else {
      // A temporary name, renamed when complete: a failed export never leaves half a file.
      const temp = `${out}.part`;
      const file = await Deno.open(temp, { write: true, create: true, truncate: true });
      try {
        written = await writeExport(rows, file.writable, { format });
      } catch (error) {
        await Deno.remove(temp).catch(() => {});
        throw error;
      }
      await Deno.rename(temp, out);
    }
    if (out !== undefined && !flags.json) console.error(`Wrote ${_n(written)} rows to ${out}`);
    return 0;
  });
}

function _reason(text: string | undefined): ReassociationReason | undefined {
  if (text === undefined) return undefined;
  if (!REASSOCIATION_REASONS.includes(text as ReassociationReason)) {
    throw new UsageError(
      `Unknown reason "${text}": expected ${REASSOCIATION_REASONS.join(", ")}`,
    );
  }
  return text as ReassociationReason;
}

function _databasePath(flags: Flags): string {
  const path = flags.db ?? Deno.env.get("LSST_DB") ?? "data/alerts.db";
  if (typeof path !== "string" || path === "") throw new UsageError("Option --db needs a path");
  return path;
}

// Limits of the stored data (an upgraded database) go to stderr whatever the output mode: they
// change what the numbers mean.
async function _warnAboutData(storage: Storage): Promise<void> {
  for (const warning of await storage.warnings?.() ?? []) console.error(`warning: ${warning}`);
}

// Only db-init and ingest create a database: a read command given a mistyped path says the file
// does not exist instead of leaving an empty database (and its folder) there.
async function _withStorage(
  flags: Flags,
  work: (storage: Storage) => Promise<number>,
  options: { create?: boolean } = {},
): Promise<number> {
  await using storage = openStorage(_databasePath(flags), { create: options.create ?? false });
  return await work(storage);
}

function _openSource(flags: Flags, storage: Storage): AlertSource {
  const name = flags.source ?? "mock";
  if (name === "file") {
    const path = _text(flags, "path");
    if (path === undefined) {
      throw new UsageError("The file source needs --path: a file, directory or glob");
    }
    const registry = _text(flags, "schema-registry");
    const schemaDir = _text(flags, "schema-dir");
    return new FileSource({
      path,
      schemaStore: storage,
      ...(flags["no-decode-worker"] ? { decodeWorker: false } : {}),
      ...(registry === undefined ? {} : { schemaRegistry: registry }),
      ...(schemaDir === undefined ? {} : { schemaDir }),
    });
  }
  if (name === "kafka") {
    const topics = _topics(flags);
    if (topics.length === 0) {
      throw new UsageError("The kafka source needs --topic (repeat for several)");
    }
    const startAt = _text(flags, "start-at") ?? "committed";
    if (startAt !== "committed" && startAt !== "earliest" && startAt !== "latest") {
      throw new UsageError(
        `Unknown --start-at "${startAt}": expected committed, earliest or latest`,
      );
    }
    const format = _text(flags, "format") ?? "auto";
    if (format !== "auto" && format !== "confluent" && format !== "ocf") {
      throw new UsageError(`Unknown --format "${format}": expected auto, confluent or ocf`);
    }
    const registry = _text(flags, "schema-registry");
    const schemaDir = _text(flags, "schema-dir");
    const session = _seconds(flags, "session-timeout");
    return new KafkaSource({
      ...(session === undefined ? {} : { sessionTimeoutMs: Math.round(session * 1000) }),
      ..._kafkaConnection(flags),
      topics,
      groupId: _required(flags, "group-id", "The kafka source needs --group-id"),
      startAt,
      format,
      schemaStore: storage,
      ...(registry === undefined ? {} : { schemaRegistry: registry }),
      ...(schemaDir === undefined ? {} : { schemaDir }),
    });
  }
  if (name === "antares") {
    const protocol = _text(flags, "security-protocol") ?? "sasl_ssl";
    if (protocol !== "sasl_ssl" && protocol !== "sasl_plaintext") {
      throw new UsageError(
        `Unknown --security-protocol "${protocol}": expected sasl_ssl or sasl_plaintext`,
      );
    }
    const startAt = _text(flags, "start-at") ?? "committed";
    if (startAt !== "committed" && startAt !== "earliest" && startAt !== "latest") {
      throw new UsageError(
        `Unknown --start-at "${startAt}": expected committed, earliest or latest`,
      );
    }
    const optional: Record<string, string | undefined> = {
      apiKey: _text(flags, "api-key"),
      apiSecret: _text(flags, "api-secret"),
      groupId: _text(flags, "group-id"),
      bootstrapServers: _text(flags, "bootstrap-servers"),
      caFile: _text(flags, "ca-file"),
      apiBaseUrl: _text(flags, "api-base-url"),
    };
    const session = _seconds(flags, "session-timeout");
    return new ANTARESSource({
      topics: _topics(flags),
      securityProtocol: protocol,
      startAt,
      verifyHostname: !flags["no-verify-hostname"],
      ...(session === undefined ? {} : { sessionTimeoutMs: Math.round(session * 1000) }),
      ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
    });
  }
  if (name === "mock") {
    return new MockSource({
      count: _integer(flags, "count", 1000, 0),
      seed: _integer(flags, "seed", 42, 0),
      cutouts: !flags["no-cutouts"],
    });
  }
  throw new UsageError(`Unknown source "${name}": expected mock, file, kafka or antares`);
}

async function _ingest(flags: Flags): Promise<number> {
  const limit = flags.limit === undefined ? undefined : _integer(flags, "limit", 0, 1);
  const durationSeconds = _seconds(flags, "duration");
  const batchSize = _integer(flags, "batch-size", 500, 1);
  const maxBatchObservations = _integer(flags, "batch-observations", 25_000, 1);
  const cutoutsDir = flags["cutouts-dir"] ?? "data/cutouts";
  if (typeof cutoutsDir !== "string" || cutoutsDir === "") {
    throw new UsageError("Option --cutouts-dir needs a path");
  }
  await using storage = openStorage(_databasePath(flags));
  await storage.initialize();
  await _warnAboutData(storage);
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
  let interrupts = 0;
  const onSignal = (signal: Deno.Signal) => () => {
    interrupts++;
    if (interrupts > 1) Deno.exit(130);
    if (!flags.quiet) console.error(`\n${signal}: storing what was read, then stopping`);
    controller.abort(signal);
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = onSignal(signal);
    try {
      Deno.addSignalListener(signal, handler);
    } catch {
      // SIGTERM cannot be listened to on every platform.
    }
    return [signal, handler] as const;
  });

  const tty = !flags.quiet && !flags.json && Deno.stderr.isTerminal();
  try {
    const keepRaw = flags["keep-raw"] === true;
    const run = await new IngestionPipeline(source, storage, {
      batchSize,
      maxBatchObservations,
      cutouts,
      keepRaw,
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
      if (lag !== null) console.log(_formatLag(lag));
    }
    return run.status === "interrupted" ? 130 : 0;
  } finally {
    for (const [signal, handler] of handlers) {
      try {
        Deno.removeSignalListener(signal, handler);
      } catch {
        // Never added.
      }
    }
  }
}

const encoder = new TextEncoder();

function _progressLine(p: IngestionProgress): void {
  const line = `${_n(p.recordsRead)} read · ${_n(p.alertsIngested)} stored · ${
    _n(Math.round(p.recordsPerSecond))
  } alerts/s · ${_n(p.reassociationsDetected)} reassociations · ${
    _n(p.alertsQuarantined)
  } quarantined`;
  Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
}

function _clearProgressLine(): void {
  Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
}

function _print(flags: Flags, value: unknown, human: () => string): void {
  console.log(flags.json ? stringifyExact(value, 2) : human());
}

function _n(value: number): string {
  return value.toLocaleString("en-US");
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
    `Run ${run.runId} ${run.status}: ${_n(run.recordsRead)} records read, ${
      _n(run.alertsIngested)
    } alerts stored, ${_n(run.alertsSkipped)} already stored, ${
      _n(run.alertsQuarantined)
    } quarantined`,
    `${_n(run.newSources)} new DIASources, ${_n(run.reassociationsDetected)} reassociations, ${
      run.elapsedSeconds.toFixed(2)
    } s (${_n(Math.round(run.recordsPerSecond))} records/s)`,
    `Database: ${database}`,
  ];
  if (run.error !== null) lines.push(`Note: ${run.error}`);
  return lines.join("\n");
}

function _formatStats(stats: DatabaseStats): string {
  const lines = [`Database: ${stats.location}`];
  if (stats.sizeBytes !== null) lines.push(`Size: ${(stats.sizeBytes / 1e6).toFixed(2)} MB`);
  lines.push("Rows:");
  for (const [table, rows] of Object.entries(stats.rows)) {
    lines.push(`  ${table.padEnd(18)} ${_n(rows)}`);
  }
  lines.push(`Solar-system alerts: ${_n(stats.solarSystemAlerts)}`);
  lines.push(`Alerts with reassociations: ${_n(stats.reassociationAlerts)}`);
  lines.push("Reassociations by reason:");
  for (const [reason, n] of Object.entries(stats.reassociationsByReason)) {
    lines.push(`  ${reason.padEnd(20)} ${_n(n)}`);
  }
  lines.push(
    stats.mjdRange === null
      ? "MJD range: none"
      : `MJD range (TAI): ${stats.mjdRange.min.toFixed(5)} – ${stats.mjdRange.max.toFixed(5)}`,
  );
  return lines.join("\n");
}

function _formatRuns(runs: IngestionRunRecord[]): string {
  if (runs.length === 0) return "No runs";
  return _table(
    [
      "run",
      "source",
      "status",
      "started_at",
      "alerts",
      "skipped",
      "new_sources",
      "reassoc",
      "quarantined",
    ],
    runs.map((r) => [
      r.runId,
      r.source,
      r.status,
      r.startedAt,
      r.alertsIngested,
      r.alertsSkipped,
      r.newSources,
      r.reassociationsDetected,
      r.alertsQuarantined,
    ]),
  );
}

function _table(header: string[], rows: Array<Array<string | number | bigint>>): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]?.length ?? 0)));
  return cells.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd())
    .join("\n");
}

if (import.meta.main) Deno.exit(await main(Deno.args));
