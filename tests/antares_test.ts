/**
 * End to end against ANTARES emulated on loopback: the real Kafka broker (`deno task kafka
 * start`) stands in for ANTARES's, with the SASL_PLAINTEXT PLAIN listener (or, like ANTARES, the
 * SASL_SSL one with its own CA) and topics named `client.<name>` created up front, carrying
 * zlib-compressed BSON locus documents built from the real captures in the shared fixtures; a
 * `Deno.serve` server answers `GET /v1/loci/{id}/alerts` with those captures as JSON:API, exact
 * 64-bit integers on the wire. Topics and groups are unique per test, so the broker may be
 * shared and reused.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  type AlertsOptions,
  type AlertSource,
  ANTARESSource,
  type ANTARESSourceOptions,
  encodeLocusMessage,
  ingest,
  type IngestionRun,
  type IngestOptions,
  parseExact,
  type SourceCursor,
  type SourcedAlert,
  SQLiteStorage,
  stringifyExact,
} from "../mod.ts";
import { fixturesDir, queryDatabase, testWith, withTempDir } from "./_support.ts";
import {
  CA_FILE,
  cli,
  filesHolding,
  kafkaClient,
  SASL_PASSWORD,
  SASL_PLAIN_BOOTSTRAP,
  SASL_SSL_BOOTSTRAP,
  SASL_USER,
  unique,
} from "./_kafka.ts";

const FIXTURES = fixturesDir();

function antaresTest(name: string, fn: () => Promise<void>): void {
  testWith(
    Boolean(Deno.env.get("KAFKA_SASL_PLAIN_BOOTSTRAP")) && FIXTURES !== null,
    "a Kafka broker (deno task kafka start) and the shared fixtures",
    { name, fn },
  );
}

// --- the captures, read independently of the code under test -------------------------------

/** One alert as the client-normalised capture holds it. */
interface CapturedAlert {
  alert_id: string;
  mjd: number;
  processed_at: string | null;
  properties: Record<string, unknown>;
}

/** The locus as the client-normalised capture holds it. */
interface CapturedLocus {
  locus_id: string;
  ra: number;
  dec: number;
  properties: Record<string, unknown>;
  tags: string[];
  catalogs: string[];
}

let captures: Promise<{ locus: CapturedLocus; alerts: CapturedAlert[] }> | null = null;

/** The 16 LSST alerts of one locus and the locus, ids above 2^53 as `bigint`. */
function captured(): Promise<{ locus: CapturedLocus; alerts: CapturedAlert[] }> {
  captures ??= (async () => {
    const read = async (name: string) =>
      parseExact(await Deno.readTextFile(join(FIXTURES as string, "antares/lsst", name)));
    const alerts = await read("alerts.json") as CapturedAlert[];
    const locus = await read("locus.json") as CapturedLocus;
    // What the assertions below rely on: real ids beyond 2^53, no association yet.
    assert.equal(alerts.length, 16);
    for (const alert of alerts) {
      assert.equal(alert.properties.lsst_diaSource_diaSourceId, diaSourceIdOf(alert));
      assert.ok(diaSourceIdOf(alert) > 2n ** 53n);
      assert.equal(alert.properties.lsst_diaSource_ssObjectId, 0);
    }
    return { locus, alerts };
  })();
  return captures;
}

function diaSourceIdOf(alert: CapturedAlert): bigint {
  return BigInt(alert.alert_id.slice("lsst:".length));
}

/** The capture with one property changed, the others shared. */
function withProperty(alert: CapturedAlert, key: string, value: unknown): CapturedAlert {
  return { ...alert, properties: { ...alert.properties, [key]: value } };
}

// ANTARES sends one; the capture has none. Small enough for a JS number, unlike the ids.
const HTM16 = 61983245826n;

/** A Kafka message value as ANTARES writes it: zlib of BSON of a JSON:API locus document. */
function locusMessage(
  locus: CapturedLocus,
  options: { omit?: string; included?: CapturedAlert[] } = {},
): Uint8Array {
  const attributes: Record<string, unknown> = {
    ra: locus.ra,
    dec: locus.dec,
    htm16: HTM16,
    properties: locus.properties,
    tags: locus.tags,
    catalogs: locus.catalogs,
  };
  if (options.omit !== undefined) delete attributes[options.omit];
  const value = encodeLocusMessage({
    data: { type: "locus", id: locus.locus_id, attributes },
    ...(options.included === undefined ? {} : { included: options.included.map(alertResource) }),
  });
  // A plain Uint8Array (it is a Buffer), to compare with what SQLite gives back.
  return new Uint8Array(value);
}

function alertResource(alert: CapturedAlert): Record<string, unknown> {
  return {
    type: "alert",
    id: alert.alert_id,
    attributes: {
      mjd: alert.mjd,
      properties: alert.properties,
      processed_at: alert.processed_at,
      grav_wave_events: [],
    },
  };
}

// --- what the database must hold -----------------------------------------------------------

const ALERT_COLUMNS = "dia_source_id, alert_id, dia_object_id, ss_object_id, ra, dec, " +
  "midpoint_mjd_tai, band, psf_flux, visit, detector, schema_version, source, survey";

/** The `alerts` row an alert must give, read straight from its captured properties. */
function expectedRow(alert: CapturedAlert): Record<string, unknown> {
  const p = alert.properties;
  const id = diaSourceIdOf(alert);
  const none = (v: unknown) => (v === 0 || v === 0n || v === null ? null : BigInt(v as bigint));
  return {
    dia_source_id: id,
    alert_id: id,
    dia_object_id: none(p.lsst_diaSource_diaObjectId),
    ss_object_id: none(p.lsst_diaSource_ssObjectId),
    ra: p.lsst_diaSource_ra,
    dec: p.lsst_diaSource_dec,
    midpoint_mjd_tai: p.lsst_diaSource_midpointMjdTai,
    band: p.lsst_diaSource_band,
    psf_flux: p.lsst_diaSource_psfFlux,
    visit: BigInt(p.lsst_diaSource_visit as number),
    detector: BigInt(p.lsst_diaSource_detector as number),
    schema_version: "antares",
    source: "antares",
    survey: "lsst",
  };
}

function byId(a: CapturedAlert, b: CapturedAlert): number {
  const x = diaSourceIdOf(a);
  const y = diaSourceIdOf(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Every stored alert equals its capture: mapped columns and the whole property dict. */
function assertStoredAlerts(db: string, alerts: CapturedAlert[]): void {
  const expected = [...alerts].sort(byId);
  const rows = queryDatabase(
    db,
    `SELECT ${ALERT_COLUMNS}, properties FROM alerts ORDER BY dia_source_id`,
  );
  assert.deepEqual(
    rows.map(({ properties: _, ...row }) => row),
    expected.map(expectedRow),
  );
  rows.forEach((row, i) => {
    assert.deepEqual(parseExact(String(row.properties)), expected[i]!.properties);
  });
}

function count(db: string, table: string): number {
  return Number(queryDatabase(db, `SELECT COUNT(*) AS n FROM ${table}`)[0]?.n);
}

function cursors(db: string): Array<Record<string, unknown>> {
  return queryDatabase(db, "SELECT source, stream, position FROM source_cursors ORDER BY stream");
}

// --- the ANTARES HTTP API on loopback ------------------------------------------------------

type Answer = (locusId: string, attempt: number) => Response | Promise<Response>;

interface AntaresApiServer extends AsyncDisposable {
  /** Base URL, `http://127.0.0.1:<port>/v1/`. */
  url: string;
  /** GET requests for each locus's alerts, answered or not. */
  requests: Map<string, number>;
  /** How a request is answered; `attempt` counts that locus's requests from 1. */
  answer: Answer;
}

/** The JSON:API answer ANTARES gives for a locus's alerts, integers exact on the wire. */
function alertsAnswer(alerts: CapturedAlert[]): Response {
  return new Response(stringifyExact({ data: alerts.map(alertResource) }), {
    headers: { "content-type": "application/vnd.api+json" },
  });
}

function failure(status: number): Response {
  return new Response(stringifyExact({ errors: [{ status: String(status) }] }), {
    status,
    headers: { "content-type": "application/vnd.api+json" },
  });
}

function startApi(answer: Answer): AntaresApiServer {
  const server: AntaresApiServer = {
    url: "",
    requests: new Map(),
    answer,
    async [Symbol.asyncDispose]() {
      await http.shutdown();
    },
  };
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const match = /^\/v1\/loci\/([^/]+)\/alerts$/.exec(new URL(request.url).pathname);
    if (request.method !== "GET" || match === null) return failure(404);
    const locusId = decodeURIComponent(match[1]!);
    const attempt = (server.requests.get(locusId) ?? 0) + 1;
    server.requests.set(locusId, attempt);
    return server.answer(locusId, attempt);
  });
  server.url = `http://127.0.0.1:${http.addr.port}/v1/`;
  return server;
}

function totalRequests(api: AntaresApiServer): number {
  return [...api.requests.values()].reduce((sum, n) => sum + n, 0);
}

// --- ANTARES's Kafka side --------------------------------------------------------------------

/** A topic `client.<name>` with one partition; returns `<name>`, as users give it. */
async function createAntaresTopic(label: string): Promise<string> {
  const name = unique(label);
  await kafkaClient(SASL_PLAIN_BOOTSTRAP, true).createTopic(`client.${name}`, 1);
  return name;
}

async function produce(name: string, values: Uint8Array[]): Promise<void> {
  await kafkaClient(SASL_PLAIN_BOOTSTRAP, true).produce(`client.${name}`, values, {
    partition: 0,
  });
}

/** The source as a test broker serves it: SASL_PLAINTEXT, PLAIN, the test user. */
function sourceOptions(
  name: string,
  api: AntaresApiServer,
  options: Partial<ANTARESSourceOptions> = {},
): ANTARESSourceOptions {
  return {
    topics: [name],
    apiKey: SASL_USER,
    apiSecret: SASL_PASSWORD,
    groupId: unique("antares-group"),
    bootstrapServers: SASL_PLAIN_BOOTSTRAP,
    securityProtocol: "sasl_plaintext",
    apiBaseUrl: api.url,
    httpBackoffMs: 10,
    ...options,
  };
}

/**
 * The source, ended after `messages` Kafka messages once the pipeline has stored and
 * acknowledged the last one. `limit` cannot do this: it counts alerts, and a run stopped at a
 * message's last alert never stores the locus or the cursor, which follow it.
 */
class UntilMessages implements AlertSource {
  readonly name: string;
  readonly params: Readonly<Record<string, unknown>>;
  #source: ANTARESSource;
  #messages: number;
  #acknowledged: SourceCursor[] = [];
  #wake: (() => void) | null = null;

  constructor(source: ANTARESSource, messages: number) {
    this.#source = source;
    this.#messages = messages;
    this.name = source.name;
    this.params = source.params;
  }

  async *alerts(options: AlertsOptions = {}): AsyncGenerator<SourcedAlert, void, undefined> {
    let seen = 0;
    for await (const item of this.#source.alerts(options)) {
      yield item;
      if (item.cursor.more || ++seen < this.#messages) continue;
      // Keep the stream open until the message is stored and committed.
      const { stream, position } = item.cursor;
      while (
        !options.signal?.aborted &&
        !this.#acknowledged.some((c) => c.stream === stream && c.position === position)
      ) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          options.signal?.addEventListener("abort", () => resolve(), { once: true });
        });
      }
      return;
    }
  }

  async acknowledge(cursors: readonly SourceCursor[]): Promise<void> {
    await this.#source.acknowledge(cursors);
    this.#acknowledged.push(...cursors);
    this.#wake?.();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#source[Symbol.asyncDispose]();
  }
}

/** One in-process run that reads `messages` messages (time-bounded, so a hang fails the counts). */
async function ingestMessages(
  storage: SQLiteStorage,
  options: ANTARESSourceOptions,
  messages: number,
  run: IngestOptions = {},
): Promise<IngestionRun> {
  await using source = new UntilMessages(new ANTARESSource(options), messages);
  return await ingest(source, storage, { durationSeconds: 30, maxBatchDelayMs: 50, ...run });
}

function antaresArgs(name: string, api: AntaresApiServer, db: string): string[] {
  return [
    "ingest",
    "--source",
    "antares",
    "--topic",
    name,
    "--group-id",
    unique("antares-cli"),
    "--bootstrap-servers",
    SASL_PLAIN_BOOTSTRAP,
    "--security-protocol",
    "sasl_plaintext",
    "--api-base-url",
    api.url,
    "--no-cutouts",
    "--db",
    db,
  ];
}

// --- the tests -------------------------------------------------------------------------------

antaresTest(
  "a locus message gives exactly its 16 LSST alerts, exact ids and values, and the locus row",
  async () => {
    const { locus, alerts } = await captured();
    const name = await createAntaresTopic("locus");
    await produce(name, [locusMessage(locus)]);
    await using api = startApi(() => alertsAnswer(alerts));

    await withTempDir("lsst-antares-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const run = await ingestMessages(storage, sourceOptions(name, api), 1);
      assert.equal(run.status, "completed");
      assert.equal(run.recordsRead, 16);
      assert.equal(run.alertsIngested, 16);
      assert.equal(run.newSources, 16);
      assert.equal(run.alertsQuarantined, 0);
      assert.equal(run.reassociationsDetected, 0);

      assertStoredAlerts(db, alerts);
      const newest = alerts.reduce((a, b) =>
        Number(a.properties.lsst_diaSource_midpointMjdTai) >=
            Number(b.properties.lsst_diaSource_midpointMjdTai)
          ? a
          : b
      );
      assert.equal(locus.properties.newest_alert_id, newest.alert_id);
      const rows = queryDatabase(
        db,
        "SELECT locus_id, ra, dec, htm16, tags, catalogs, properties, newest_alert_id, run_id FROM loci",
      );
      assert.equal(rows.length, 1);
      const { properties, tags, catalogs, ...row } = rows[0]!;
      assert.deepEqual(row, {
        locus_id: locus.locus_id,
        ra: locus.ra,
        dec: locus.dec,
        htm16: HTM16,
        newest_alert_id: newest.alert_id,
        run_id: BigInt(run.runId),
      });
      assert.deepEqual(JSON.parse(String(tags)), locus.tags);
      assert.deepEqual(JSON.parse(String(catalogs)), locus.catalogs);
      assert.deepEqual(parseExact(String(properties)), locus.properties);
      assert.deepEqual([...api.requests], [[locus.locus_id, 1]]);
    });
  },
);

antaresTest(
  "later runs, in the same group or a new one from the earliest offset, add no alerts and detect nothing",
  async () => {
    const { locus, alerts } = await captured();
    const name = await createAntaresTopic("rerun");
    await produce(name, [locusMessage(locus)]);
    await using api = startApi(() => alertsAnswer(alerts));

    await withTempDir("lsst-antares-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const options = sourceOptions(name, api);
      const first = await ingestMessages(storage, options, 1);
      assert.equal(first.alertsIngested, 16);
      const stored = queryDatabase(db, "SELECT * FROM alerts ORDER BY dia_source_id");
      const states = () =>
        queryDatabase(
          db,
          "SELECT dia_source_id, ss_object_id, times_seen, first_run_id FROM processed_sources ORDER BY dia_source_id",
        );
      const statesBefore = states();
      const unchanged = (run: IngestionRun, records: number) => {
        assert.equal(run.status, "completed");
        assert.equal(run.recordsRead, records);
        assert.equal(run.alertsIngested, 0);
        assert.equal(run.alertsSkipped, records);
        assert.equal(run.newSources, 0);
        assert.equal(run.reassociationsDetected, 0);
        assert.equal(run.alertsQuarantined, 0);
        assert.deepEqual(queryDatabase(db, "SELECT * FROM alerts ORDER BY dia_source_id"), stored);
        assert.deepEqual(states(), statesBefore);
        assert.equal(count(db, "reassociations"), 0);
      };

      // The locus is sent again unchanged. The same group resumes after the stored message:
      // it reads only the new one (offset 1), whose alerts are all known.
      await produce(name, [locusMessage(locus)]);
      unchanged(await ingestMessages(storage, options, 1), 16);
      assert.deepEqual(cursors(db), [{ source: "antares", stream: `${name}/0`, position: "1" }]);
      assert.equal(api.requests.get(locus.locus_id), 2);

      // A new group from the earliest offset: the database's cursor still wins, so it too reads
      // only the message after it (offset 2).
      await produce(name, [locusMessage(locus)]);
      const earliest = {
        ...options,
        groupId: unique("antares-earliest"),
        startAt: "earliest" as const,
      };
      unchanged(await ingestMessages(storage, earliest, 1), 16);
      assert.deepEqual(cursors(db), [{ source: "antares", stream: `${name}/0`, position: "2" }]);

      // Without the cursor, another new group from the earliest offset re-reads every message,
      // the first one included, and still changes nothing.
      const write = new DatabaseSync(db);
      write.exec("DELETE FROM source_cursors");
      write.close();
      const again = { ...options, groupId: unique("antares-reread"), startAt: "earliest" as const };
      unchanged(await ingestMessages(storage, again, 3), 48);
      assert.deepEqual(cursors(db), [{ source: "antares", stream: `${name}/0`, position: "2" }]);
      assert.equal(api.requests.get(locus.locus_id), 6);
      assert.equal(count(db, "loci"), 1);
    });
  },
);

antaresTest(
  "a locus update whose alert has a new ssObjectId is a new association, then a changed one",
  async () => {
    const { locus, alerts } = await captured();
    const name = await createAntaresTopic("reassociation");
    await produce(name, [locusMessage(locus)]);
    const target = alerts[5]!;
    const targetId = diaSourceIdOf(target);
    const answerWith = (ssObjectId: bigint) => () =>
      alertsAnswer(
        alerts.map((a) =>
          a === target ? withProperty(a, "lsst_diaSource_ssObjectId", ssObjectId) : a
        ),
      );
    await using api = startApi(() => alertsAnswer(alerts));

    await withTempDir("lsst-antares-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const options = sourceOptions(name, api);
      const state = () =>
        queryDatabase(
          db,
          `SELECT ss_object_id, times_seen FROM processed_sources WHERE dia_source_id = ${targetId}`,
        );
      const detections = () =>
        queryDatabase(
          db,
          `SELECT dia_source_id, reason, old_ss_object_id, new_ss_object_id,
             alert_dia_source_id, run_id FROM reassociations ORDER BY id`,
        );
      const first = await ingestMessages(storage, options, 1);
      assert.equal(first.alertsIngested, 16);
      assert.deepEqual(state(), [{ ss_object_id: null, times_seen: 1n }]);

      // ANTARES re-sends the locus; the APDB has meanwhile linked one DIASource to an SSObject.
      api.answer = answerWith(21000000000000123n);
      await produce(name, [locusMessage(locus)]);
      const second = await ingestMessages(storage, options, 1);
      assert.equal(second.recordsRead, 16);
      assert.equal(second.alertsIngested, 0);
      assert.equal(second.reassociationsDetected, 1);
      const found = {
        dia_source_id: targetId,
        reason: "new_association",
        old_ss_object_id: null,
        new_ss_object_id: 21000000000000123n,
        // A re-sent alert is a snapshot: what it fires belongs to no alert.
        alert_dia_source_id: null,
        run_id: BigInt(second.runId),
      };
      assert.deepEqual(detections(), [found]);
      assert.deepEqual(state(), [{ ss_object_id: 21000000000000123n, times_seen: 2n }]);

      // And then to another one.
      api.answer = answerWith(21000000000000456n);
      await produce(name, [locusMessage(locus)]);
      const third = await ingestMessages(storage, options, 1);
      assert.equal(third.reassociationsDetected, 1);
      assert.deepEqual(detections(), [found, {
        dia_source_id: targetId,
        reason: "changed_association",
        old_ss_object_id: 21000000000000123n,
        new_ss_object_id: 21000000000000456n,
        alert_dia_source_id: null,
        run_id: BigInt(third.runId),
      }]);
      assert.deepEqual(state(), [{ ss_object_id: 21000000000000456n, times_seen: 3n }]);
      // The other 15 DIASources were seen once: unchanged snapshots are not observations.
      assert.deepEqual(
        queryDatabase(
          db,
          "SELECT DISTINCT times_seen FROM processed_sources WHERE ss_object_id IS NULL",
        ),
        [{ times_seen: 1n }],
      );
      assert.equal(count(db, "alerts"), 16);
      assert.equal(api.requests.get(locus.locus_id), 3);
    });
  },
);

antaresTest(
  "wrong credentials fail within seconds and the secret is written nowhere; missing ones fail before connecting",
  async () => {
    const name = await createAntaresTopic("credentials");
    await using api = startApi(() => failure(500));

    await withTempDir("lsst-antares-", async (dir) => {
      const wrong = `wrong-${crypto.randomUUID()}`;
      const outputs: string[] = [];
      // The secret on the command line, then from the environment.
      const cases = [
        { db: "flags.db", flags: ["--api-key", SASL_USER, "--api-secret", wrong], env: {} },
        { db: "env.db", flags: [], env: { ANTARES_API_KEY: SASL_USER, ANTARES_API_SECRET: wrong } },
      ];
      for (const c of cases) {
        const db = join(dir, c.db);
        const result = await cli([...antaresArgs(name, api, db), ...c.flags], c.env);
        assert.equal(result.code, 1, result.stderr);
        assert.match(
          result.stderr,
          /Kafka at "127\.0\.0\.1:\d+": authentication failed/,
        );
        assert.ok(result.seconds < 10, `failed after ${result.seconds} s`);
        outputs.push(result.stdout, result.stderr);
        const [run] = queryDatabase(db, "SELECT source, status, params, error FROM ingestion_runs");
        assert.equal(run?.source, "antares");
        assert.equal(run?.status, "failed");
        assert.match(String(run?.error), /authentication failed/);
        assert.equal(count(db, "alerts"), 0);
      }
      for (const text of outputs) assert.ok(!text.includes(wrong), "printed the secret");
      assert.deepEqual(await filesHolding(dir, wrong), [], "files hold the secret");
      assert.equal(totalRequests(api), 0);

      // No secret (or no key): a usage error before any connection, naming both ways to give it.
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      let connections = 0;
      const accepting = (async () => {
        for await (const conn of listener) {
          connections++;
          conn.close();
        }
      })();
      try {
        const broker = `127.0.0.1:${listener.addr.port}`;
        const missing = [
          { flags: [], env: {} },
          { flags: ["--api-key", SASL_USER], env: {} },
          { flags: [], env: { ANTARES_API_SECRET: SASL_PASSWORD } },
        ];
        for (const [i, c] of missing.entries()) {
          const db = join(dir, `missing-${i}.db`);
          const result = await cli(
            [...antaresArgs(name, api, db), "--bootstrap-servers", broker, ...c.flags],
            // Whatever the caller's environment holds.
            { ANTARES_API_KEY: "", ANTARES_API_SECRET: "", ...c.env },
          );
          assert.equal(result.code, 2, result.stderr);
          assert.match(
            result.stderr,
            /--api-key\/--api-secret or ANTARES_API_KEY\/ANTARES_API_SECRET/,
          );
          assert.equal(count(db, "ingestion_runs"), 0);
        }
      } finally {
        listener.close();
        await accepting.catch(() => {});
      }
      assert.equal(connections, 0);
    });
  },
);

antaresTest(
  "an HTTP 500 is retried, then the locus is quarantined with its message and the partition goes on",
  async () => {
    const { locus, alerts } = await captured();
    const failing = { ...locus, locus_id: "ANT2026failing0500" };
    const flaky = { ...locus, locus_id: "ANT2026flaky000503" };
    const name = await createAntaresTopic("http-500");
    const failingMessage = locusMessage(failing);
    await produce(name, [failingMessage, locusMessage(locus)]);
    await using api = startApi((locusId, attempt) => {
      if (locusId === failing.locus_id) return failure(500);
      if (locusId === flaky.locus_id && attempt <= 2) return failure(attempt === 1 ? 500 : 503);
      return alertsAnswer(alerts);
    });

    await withTempDir("lsst-antares-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const options = sourceOptions(name, api, { httpRetries: 2, httpBackoffMs: 20 });
      const run = await ingestMessages(storage, options, 2);
      assert.equal(run.status, "completed");
      assert.equal(run.alertsQuarantined, 1);
      assert.equal(run.alertsIngested, 16);
      assert.equal(api.requests.get(failing.locus_id), 3);
      assert.equal(api.requests.get(locus.locus_id), 1);

      const rows = queryDatabase(
        db,
        "SELECT source, stream, position, error, raw, run_id FROM quarantine",
      );
      assert.equal(rows.length, 1);
      const row = rows[0]!;
      assert.deepEqual(
        { source: row.source, stream: row.stream, position: row.position, run_id: row.run_id },
        { source: "antares", stream: `${name}/0`, position: "0", run_id: BigInt(run.runId) },
      );
      assert.match(
        String(row.error),
        new RegExp(
          `Cannot fetch the alerts of locus "${failing.locus_id}" in partition 0 of ANTARES ` +
            `topic "${name}" at offset 0: .*failed after 3 attempts: 500`,
        ),
      );
      assert.deepEqual(new Uint8Array(row.raw as Uint8Array), failingMessage);
      assertStoredAlerts(db, alerts);
      assert.deepEqual(queryDatabase(db, "SELECT locus_id FROM loci"), [{
        locus_id: locus.locus_id,
      }]);
      assert.deepEqual(cursors(db), [{ source: "antares", stream: `${name}/0`, position: "1" }]);

      // A server that fails twice, then answers: the third attempt succeeds.
      const flakyName = await createAntaresTopic("http-503");
      await produce(flakyName, [locusMessage(flaky)]);
      const flakyDb = join(dir, "flaky.db");
      await using flakyStorage = new SQLiteStorage(flakyDb);
      const flakyRun = await ingestMessages(flakyStorage, {
        ...options,
        topics: [flakyName],
        groupId: unique("antares-flaky"),
      }, 1);
      assert.equal(flakyRun.status, "completed");
      assert.equal(flakyRun.alertsIngested, 16);
      assert.equal(api.requests.get(flaky.locus_id), 3);
      assert.equal(count(flakyDb, "quarantine"), 0);
      assertStoredAlerts(flakyDb, alerts);
      assert.deepEqual(queryDatabase(flakyDb, "SELECT locus_id FROM loci"), [{
        locus_id: flaky.locus_id,
      }]);
    });
  },
);

antaresTest(
  "SASL_SSL with the broker's CA ingests when hostname verification is relaxed, and fails otherwise",
  async () => {
    assert.ok(
      SASL_SSL_BOOTSTRAP !== "" && CA_FILE !== "",
      "KAFKA_SASL_SSL_BOOTSTRAP and KAFKA_CA_FILE are unset: export every line deno task kafka start prints",
    );
    const { locus, alerts } = await captured();
    const name = await createAntaresTopic("sasl-ssl");
    await produce(name, [locusMessage(locus)]);
    await using api = startApi(() => alertsAnswer(alerts));
    const tls = {
      bootstrapServers: SASL_SSL_BOOTSTRAP,
      securityProtocol: "sasl_ssl" as const,
      caFile: CA_FILE,
    };

    await withTempDir("lsst-antares-", async (dir) => {
      // The certificate is made out to "kafka.test", not 127.0.0.1.
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const run = await ingestMessages(
        storage,
        sourceOptions(name, api, { ...tls, verifyHostname: false }),
        1,
      );
      assert.equal(run.alertsIngested, 16);
      assert.equal(run.params.securityProtocol, "sasl_ssl");
      assert.equal(run.params.verifyHostname, false);
      assertStoredAlerts(db, alerts);
      assert.equal(count(db, "loci"), 1);

      // Verification on, then without the CA: both refuse the broker, naming TLS.
      const refusals: Array<{ options: Partial<ANTARESSourceOptions>; error: RegExp }> = [
        { options: tls, error: /TLS verification failed .*certificate's altnames/ },
        {
          options: {
            bootstrapServers: SASL_SSL_BOOTSTRAP,
            securityProtocol: "sasl_ssl",
            verifyHostname: false,
          },
          error: /TLS verification failed .*self-signed certificate/,
        },
      ];
      for (const [i, refusal] of refusals.entries()) {
        const refusedDb = join(dir, `refused-${i}.db`);
        await using refused = new SQLiteStorage(refusedDb);
        const started = performance.now();
        await assert.rejects(
          ingestMessages(refused, sourceOptions(name, api, refusal.options), 1),
          refusal.error,
        );
        assert.ok(performance.now() - started < 10_000);
        assert.equal(count(refusedDb, "alerts"), 0);
        const [failed] = queryDatabase(refusedDb, "SELECT status, error FROM ingestion_runs");
        assert.equal(failed?.status, "failed");
        assert.match(String(failed?.error), refusal.error);
      }

      // The CLI, as ANTARES users run it (credentials from the environment), warns.
      const cliDb = join(dir, "cli.db");
      const result = await cli([
        ...antaresArgs(name, api, cliDb),
        "--bootstrap-servers",
        SASL_SSL_BOOTSTRAP,
        "--security-protocol",
        "sasl_ssl",
        "--ca-file",
        CA_FILE,
        "--no-verify-hostname",
        "--limit",
        "16",
        "--json",
      ], { ANTARES_API_KEY: SASL_USER, ANTARES_API_SECRET: SASL_PASSWORD });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /warning: TLS hostname verification is off/);
      assert.equal((parseExact(result.stdout) as IngestionRun).alertsIngested, 16);
      assertStoredAlerts(cliDb, alerts);
    });
  },
);

antaresTest(
  "loci missing ra, dec, properties or tags and non-zlib messages are quarantined, not fatal",
  async () => {
    const { locus, alerts } = await captured();
    const name = await createAntaresTopic("bad-loci");
    const missing = ["ra", "dec", "properties", "tags"];
    const garbage = crypto.getRandomValues(new Uint8Array(200));
    garbage[0] = 0x00; // Not a zlib header (0x78).
    const bad = [
      ...missing.map((omit) => locusMessage({ ...locus, locus_id: `ANT2026no${omit}` }, { omit })),
      garbage,
    ];
    await produce(name, [...bad, locusMessage(locus)]);
    await using api = startApi(() => alertsAnswer(alerts));

    await withTempDir("lsst-antares-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const run = await ingestMessages(storage, sourceOptions(name, api), bad.length + 1);
      assert.equal(run.status, "completed");
      assert.equal(run.alertsQuarantined, bad.length);
      assert.equal(run.alertsIngested, 16);

      const rows = queryDatabase(
        db,
        "SELECT stream, position, error, raw FROM quarantine ORDER BY id",
      );
      const errors = [
        ...missing.map((field) => new RegExp(`field "data\\.attributes\\.${field}" is missing`)),
        /is not zlib data/,
      ];
      assert.equal(rows.length, bad.length);
      rows.forEach((row, i) => {
        assert.equal(row.stream, `${name}/0`);
        assert.equal(row.position, String(i));
        assert.match(
          String(row.error),
          new RegExp(
            `Cannot decode the locus in partition 0 of ANTARES topic "${name}" at offset ${i}`,
          ),
        );
        assert.match(String(row.error), errors[i]!);
        assert.deepEqual(new Uint8Array(row.raw as Uint8Array), bad[i]);
      });
      assertStoredAlerts(db, alerts);
      assert.deepEqual(queryDatabase(db, "SELECT locus_id FROM loci"), [{
        locus_id: locus.locus_id,
      }]);
      assert.deepEqual([...api.requests], [[locus.locus_id, 1]]);
      assert.deepEqual(cursors(db), [{
        source: "antares",
        stream: `${name}/0`,
        position: String(bad.length),
      }]);
    });
  },
);

antaresTest("alerts included in the locus message are used without any HTTP request", async () => {
  const { locus, alerts } = await captured();
  const name = await createAntaresTopic("included");
  // A locus may mix surveys: the ZTF alert is not an LSST alert and is left out.
  const ztf: CapturedAlert = {
    alert_id: "ztf:2712345678915015001",
    mjd: 61217.4,
    processed_at: null,
    properties: { ant_survey: 1, ztf_candid: 2712345678915015001n, ztf_ra: 62.4576 },
  };
  await produce(name, [locusMessage(locus, { included: [ztf, ...alerts] })]);
  await using api = startApi(() => alertsAnswer(alerts));

  await withTempDir("lsst-antares-", async (dir) => {
    const db = join(dir, "alerts.db");
    await using storage = new SQLiteStorage(db);
    const run = await ingestMessages(storage, sourceOptions(name, api), 1);
    assert.equal(run.alertsIngested, 16);
    assert.equal(run.alertsQuarantined, 0);
    assert.equal(totalRequests(api), 0);
    assertStoredAlerts(db, alerts);
    assert.equal(count(db, "loci"), 1);
  });
});

antaresTest(
  "topics are reported without the client. prefix and the CLI names its group at start",
  async () => {
    const { locus, alerts } = await captured();
    const name = await createAntaresTopic("prefix");
    await produce(name, [locusMessage(locus)]);
    await using api = startApi(() => alertsAnswer(alerts));

    // Without a group, the stable default, so a restart resumes.
    const bare = new ANTARESSource({ topics: [name], apiKey: "key", apiSecret: "secret" });
    assert.equal(bare.groupId, "lsst-extendedness-antares");
    assert.equal(bare.params.groupId, "lsst-extendedness-antares");

    await withTempDir("lsst-antares-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      // Given with the prefix, as ANTARES's own client names the topic.
      const options = sourceOptions(name, api, { topics: [`client.${name}`] });
      const run = await ingestMessages(storage, options, 1);
      assert.equal(run.alertsIngested, 16);
      assert.deepEqual(run.params.topics, [name]);
      assert.deepEqual(cursors(db), [{ source: "antares", stream: `${name}/0`, position: "0" }]);
      const [params] = queryDatabase(db, "SELECT params FROM ingestion_runs");
      assert.deepEqual(JSON.parse(String(params?.params)).topics, [name]);
      assert.ok(!String(params?.params).includes(SASL_PASSWORD));

      const cliDb = join(dir, "cli.db");
      const args = antaresArgs(name, api, cliDb);
      const group = args[args.indexOf("--group-id") + 1]!;
      const result = await cli([
        ...args,
        "--api-key",
        SASL_USER,
        "--api-secret",
        SASL_PASSWORD,
        "--limit",
        "16",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        result.stderr.split("\n")[0],
        `ANTARES: consuming client.${name} as group "${group}" from ${SASL_PLAIN_BOOTSTRAP}`,
      );
      assert.match(result.stdout, /16 alerts stored/);
      assert.ok(!result.stdout.includes(SASL_PASSWORD) && !result.stderr.includes(SASL_PASSWORD));
      assert.deepEqual(await filesHolding(dir, SASL_PASSWORD), []);
    });
  },
);

antaresTest(
  "a run whose duration ends during an HTTP request completes and leaves that locus for the next run",
  async () => {
    const { locus, alerts } = await captured();
    const name = await createAntaresTopic("duration");
    await produce(name, [locusMessage(locus)]);
    // The first request is answered only after the run's time is up.
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    await using api = startApi(async (_locusId, attempt) => {
      if (attempt === 1) await held;
      return alertsAnswer(alerts);
    });

    await withTempDir("lsst-antares-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const options = sourceOptions(name, api);
      try {
        await using source = new ANTARESSource(options);
        const run = await ingest(source, storage, { durationSeconds: 3 });
        assert.equal(api.requests.get(locus.locus_id), 1, "the request was made in time");
        assert.equal(run.status, "completed");
        assert.equal(run.error, null);
        assert.equal(run.recordsRead, 0);
        assert.equal(count(db, "alerts"), 0);
        assert.equal(count(db, "quarantine"), 0);
        assert.deepEqual(cursors(db), []);
      } finally {
        release();
      }

      const next = await ingestMessages(storage, options, 1);
      assert.equal(next.alertsIngested, 16);
      assert.equal(api.requests.get(locus.locus_id), 2);
      assertStoredAlerts(db, alerts);
      assert.deepEqual(cursors(db), [{ source: "antares", stream: `${name}/0`, position: "0" }]);
    });
  },
);
