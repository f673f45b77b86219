/**
 * The help text, and the version it shows.
 *
 * @module
 */

import {
  EXTENDED_ABOVE,
  MINIMOON_MAX_EXTENDEDNESS,
  MINIMOON_MIN_EXTENDEDNESS,
  MINIMOON_MIN_SNR,
  POINT_BELOW,
  REASSOCIATION_REASONS,
} from "../mod.ts";
import denoJson from "../deno.json" with { type: "json" };

/** The package version, from `deno.json`. */
export const VERSION: string = denoJson.version;

/** What `lsst-extendedness --help` prints: every command, its options and the exit codes. */
export const USAGE: string =
  `lsst-extendedness ${VERSION}: ingest Rubin (LSST) alerts into SQLite and track
DIASource reassociations with solar-system objects.

Usage: lsst-extendedness <command> [options]

Commands:
  ingest           Ingest alerts from a source
  db-init          Create or migrate the database
  db-stats         Rows per table, solar-system alerts, reassociations by reason, MJD range, size
  runs             Recent ingestion runs
  reassociations   Recent reassociation detections
  export           Write a table (alerts, reassociations, processed sources, runs) as CSV,
                   JSON or Parquet
  kafka-lag        Committed offsets and lag of a Kafka consumer group
  query "SQL"      Run your own SQL on a read-only connection (--json, --format csv)
  query --select NAME [ID]  A named science selection; query --list shows them with their SQL
  show-alert ID    The whole packet of an alert ingested with --keep-raw, as exact JSON
  quarantine list  Quarantined records (oldest first), their raw bytes by size
  quarantine replay  Decode quarantined records again and ingest those that decode
  serve            A local web viewer of alerts, cutouts, light curves and reassociations

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
  --read-ahead MB  Most MB of blocks the decode worker reads ahead (default 32): memory
                   for speed, the worker decodes far faster than alerts are stored

ingest --source kafka options (also file's --schema-registry, --schema-dir and
  --no-decode-worker, which consumes and decodes messages on the main thread):
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
  --format F       csv | json | parquet (default csv); parquet needs --out
  --out FILE       Write to FILE (default stdout)
  --table T        alerts (default) | reassociations | processed-sources | runs
  --since-mjd X    Only alerts with midpoint_mjd_tai >= X (detections: found in such alerts;
                   processed sources: last seen since X; not for runs)
  --reassociations Same as --table reassociations

kafka-lag options: --bootstrap-servers, --group-id, --topic, --sasl-mechanism, --username,
  --password, --tls, --ca-file: committed offset and lag of a consumer group per partition

query options (read-only; SQLite while an ingest writes, or PostgreSQL):
  --select NAME    A named selection instead of SQL: solar-system, reassociated, extended
                   (extendedness > ${EXTENDED_ABOVE}), point (< ${POINT_BELOW}), minimoon-candidates (solar-system,
                   ${MINIMOON_MIN_EXTENDEDNESS}-${MINIMOON_MAX_EXTENDEDNESS}, SNR >= ${MINIMOON_MIN_SNR} where known), recent --days N, object ID, ss-object ID
  --list           Every selection with its description and SQL definition
  --days N         recent: alerts at most N days before the latest stored midpoint
  --since-mjd X    --select: only rows at or after MJD X (TAI; ss-object: last associated)
  --limit N        Rows at most in a table (default 100); with --select, in every format
  --format F       table (default) | json (same as --json) | csv | parquet (--select only,
                   with --out FILE: typed columns, ids INT64)
  --out FILE       Where --format parquet writes

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

serve options (read-only; SQLite while an ingest writes, or PostgreSQL):
  --cutouts-dir D  Folder cutout files are read from, never outside it (default data/cutouts)
  --host H         Address to listen on (default 127.0.0.1; another one warns: anyone who
                   reaches it reads the database)
  --port N         Port (default 8700; 0 picks a free one, printed with --json)

runs / reassociations options:
  --limit N        At most N rows (default 10 / 20)
  --reason R       reassociations: only this reason (${REASSOCIATION_REASONS.join(", ")})
  --run-id N       reassociations: only this run

Exit codes: 0 done, 1 failed, 2 bad usage, 130 interrupted.`;
