/**
 * End to end against a real Apache Kafka broker (`deno task kafka start`, then export the
 * `KAFKA_*` lines it prints): the Rubin wire format with a loopback schema registry, every
 * compression codec the broker writes, large and malformed messages, commit-after-store and
 * crash consistency, consumer groups, SASL, and the CLI's failures, `--duration` and
 * `kafka-lag`. Topics and groups are unique per test, so the broker may be shared and reused.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { type Admin, Kafka, logLevel } from "kafkajs";
import {
  createAvroType,
  CutoutProcessor,
  encodeFits,
  ingest,
  type IngestionRun,
  type IngestOptions,
  kafkaLag,
  KafkaSource,
  type KafkaSourceOptions,
  loadSchemaVersion,
  MockSource,
  SQLiteStorage,
} from "../mod.ts";
import { KafkaClient, peekRecordBatches } from "../sources/kafka/_kafka_client.ts";
import { framedSchemaId } from "../formats/_message_decoder.ts";
import { MessageReader } from "../sources/kafka/_message_reader.ts";
import { fixturesDir, queryDatabase, sized, testWith, withTempDir } from "./_support.ts";
import {
  BOOTSTRAP,
  cli,
  filesHolding,
  finished,
  kafkaClient,
  reap,
  SASL_PASSWORD,
  SASL_PLAIN_BOOTSTRAP,
  SASL_SCRAM_BOOTSTRAP,
  SASL_USER,
  spawnCli,
  unique,
} from "./_kafka.ts";

const HAVE_KAFKA = Boolean(Deno.env.get("KAFKA_BOOTSTRAP"));
const NEED_KAFKA =
  "a Kafka broker (run: deno task kafka start, then export the KAFKA_* lines it prints)";
const FIXTURES = fixturesDir();
const NEED_FIXTURES = "the shared fixtures (../shared/fixtures)";

/**
 * Register a test that needs the broker and, unless told otherwise, the fixtures (the official
 * schemas every produced alert is encoded with).
 */
function kafkaTest(
  name: string,
  fn: () => Promise<void>,
  options: { fixtures?: boolean } = {},
): void {
  const fixtures = options.fixtures ?? true;
  testWith(
    HAVE_KAFKA && (!fixtures || FIXTURES !== null),
    HAVE_KAFKA ? NEED_FIXTURES : NEED_KAFKA,
    { name, fn },
  );
}

// --- names, clients, framing -------------------------------------------------------------

function client(bootstrap = BOOTSTRAP): KafkaClient {
  return kafkaClient(bootstrap);
}

async function withAdmin<T>(work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({
    clientId: "lsst-kafka-test",
    brokers: [BOOTSTRAP],
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

async function createTopic(
  label: string,
  partitions: number,
  config: Record<string, string> = {},
): Promise<string> {
  const topic = unique(label);
  await client().createTopic(topic, partitions, config);
  return topic;
}

/** A Confluent wire-format message: 0x00, the big-endian schema id, schemaless Avro. */
function frame(schemaId: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setInt32(1, schemaId);
  out.set(body, 5);
  return out;
}

function schemaIdOf(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getInt32(1);
}

function versionOf(schemaId: number): string {
  return `${Math.floor(schemaId / 100)}.${schemaId % 100}`;
}

const schemaCache = new Map<string, Promise<unknown>>();

function officialSchema(version: string): Promise<unknown> {
  let schema = schemaCache.get(version);
  if (schema === undefined) {
    schema = loadSchemaVersion(join(FIXTURES as string, "lsst/schema"), version);
    schemaCache.set(version, schema);
  }
  return schema;
}

async function avroType(version: string): Promise<ReturnType<typeof createAvroType>> {
  return createAvroType(await officialSchema(version));
}

type Packet = Record<string, unknown>;

/** Decode a produced message with avsc alone: the expected side of the comparisons. */
async function decodeFrame(bytes: Uint8Array): Promise<{ version: string; packet: Packet }> {
  const version = versionOf(schemaIdOf(bytes));
  const type = await avroType(version);
  const { value, offset } = type.decode(Buffer.from(bytes), 5);
  assert.equal(offset, bytes.length, "the expected side decodes the whole message");
  return { version, packet: value as Packet };
}

/** Mock v11.0 alerts framed with schema id 1100, and their packets. */
async function mockMessages(
  count: number,
  seed: number,
  cutouts = false,
): Promise<{ packets: Packet[]; values: Uint8Array[] }> {
  const type = await avroType("11.0");
  const packets: Packet[] = [];
  const values: Uint8Array[] = [];
  for (const { packet } of new MockSource({ count, seed, cutouts }).packets()) {
    packets.push(packet as unknown as Packet);
    values.push(frame(1100, type.toBuffer(packet)));
  }
  return { packets, values };
}

function diaSourceIdOf(packet: Packet): bigint {
  return (packet.diaSource as Packet).diaSourceId as bigint;
}

// --- what the database must hold -----------------------------------------------------------

const ALERT_COLUMNS = "dia_source_id, alert_id, dia_object_id, ss_object_id, ra, dec, " +
  "midpoint_mjd_tai, band, visit, detector, schema_version, source, survey";

/** The `alerts` row a packet must give, read straight from the decoded packet. */
function expectedRow(packet: Packet, version: string, source = "kafka"): Record<string, unknown> {
  const s = packet.diaSource as Packet;
  const association = (v: unknown) => (v === null || v === undefined || v === 0n ? null : v);
  return {
    dia_source_id: s.diaSourceId,
    alert_id: packet.diaSourceId ?? packet.alertId,
    dia_object_id: association(s.diaObjectId),
    ss_object_id: association(s.ssObjectId),
    ra: s.ra,
    dec: s.dec,
    midpoint_mjd_tai: s.midpointMjdTai,
    band: s.band ?? null,
    visit: s.visit ?? null,
    detector: s.detector === null || s.detector === undefined ? null : BigInt(s.detector as number),
    schema_version: version,
    source,
    survey: "lsst",
  };
}

function storedRows(db: string): Array<Record<string, unknown>> {
  return queryDatabase(db, `SELECT ${ALERT_COLUMNS} FROM alerts ORDER BY dia_source_id`);
}

function sortedRows(rows: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return [...rows].sort((a, b) => {
    const x = a.dia_source_id as bigint;
    const y = b.dia_source_id as bigint;
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

function countAlerts(db: string): number {
  try {
    return Number(queryDatabase(db, "SELECT COUNT(*) AS n FROM alerts")[0]?.n);
  } catch {
    return 0; // Not created yet.
  }
}

function storedIds(db: string): string[] {
  return queryDatabase(db, "SELECT dia_source_id AS id FROM alerts").map((r) => String(r.id))
    .sort();
}

function idsOf(packets: Packet[]): string[] {
  return packets.map((p) => String(diaSourceIdOf(p))).sort();
}

// --- running the source and the CLI --------------------------------------------------------

/** One in-process run of a KafkaSource on the plaintext listener. */
async function ingestKafka(
  storage: SQLiteStorage,
  source: Omit<KafkaSourceOptions, "bootstrapServers"> & { bootstrapServers?: string },
  run: IngestOptions,
): Promise<IngestionRun> {
  // Schemas come from the fixtures' folder unless the test brings a registry.
  await using kafka = new KafkaSource({
    bootstrapServers: BOOTSTRAP,
    schemaStore: storage,
    ...(source.schemaRegistry === undefined
      ? { schemaDir: join(FIXTURES as string, "lsst/schema") }
      : {}),
    ...source,
  });
  // A consumer that never gets its records would wait forever: the time bound turns that into
  // a short run whose counts fail the test.
  return await ingest(kafka, storage, { durationSeconds: 30, ...run });
}

async function waitFor(
  what: string,
  timeoutMs: number,
  done: () => Promise<boolean> | boolean,
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function kafkaArgs(topic: string, group: string, db: string): string[] {
  return [
    "ingest",
    "--source",
    "kafka",
    "--bootstrap-servers",
    BOOTSTRAP,
    "--topic",
    topic,
    "--group-id",
    group,
    ...(FIXTURES === null ? [] : ["--schema-dir", join(FIXTURES, "lsst/schema")]),
    "--no-cutouts",
    "--db",
    db,
  ];
}

// --- a loopback Confluent Schema Registry --------------------------------------------------

interface Registry extends AsyncDisposable {
  /** Base URL, with a path prefix like Rubin's `…/schema-registry`. */
  url: string;
  /** GET requests answered, by schema id. */
  requests: Map<number, number>;
}

async function startRegistry(versions: string[]): Promise<Registry> {
  const bodies = new Map<number, string>();
  for (const version of versions) {
    const [major, minor] = version.split(".").map(Number) as [number, number];
    bodies.set(
      major * 100 + minor,
      JSON.stringify({ schema: JSON.stringify(await officialSchema(version)) }),
    );
  }
  const requests = new Map<number, number>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const match = /^\/schema-registry\/schemas\/ids\/(\d+)$/.exec(new URL(request.url).pathname);
    const id = Number(match?.[1]);
    const body = bodies.get(id);
    if (request.method !== "GET" || body === undefined) {
      return Response.json({ error_code: 40403, message: "Schema not found" }, { status: 404 });
    }
    requests.set(id, (requests.get(id) ?? 0) + 1);
    return new Response(body, {
      headers: { "content-type": "application/vnd.schemaregistry.v1+json" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/schema-registry`,
    requests,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

// The broker started by scripts/kafka.sh keeps its log segments here: reading the record
// batch headers shows which codec the broker really wrote.
function brokerDataDir(): string {
  const state = Deno.env.get("LSST_KAFKA_STATE") ??
    join(Deno.env.get("TMPDIR") ?? "/tmp", "lsst-extendedness-kafka");
  return join(state, "data");
}

/** Codec ids (1 gzip, 2 snappy, 3 lz4, 4 zstd) of the batches of a partition's first segment. */
async function segmentCodecs(topic: string, partition: number): Promise<Set<number> | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(
      join(brokerDataDir(), `${topic}-${partition}`, "00000000000000000000.log"),
    );
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null; // A broker on another machine.
    throw error;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const codecs = new Set<number>();
  // Record batch v2: baseOffset (8), batchLength (4), leaderEpoch (4), magic (1), crc (4),
  // attributes (2, the codec in the low 3 bits).
  for (let at = 0; at + 23 <= bytes.length; at += 12 + view.getInt32(at + 8)) {
    codecs.add(view.getInt16(at + 21) & 7);
  }
  return codecs;
}

function rowsOfRuns(db: string): Array<Record<string, unknown>> {
  return queryDatabase(
    db,
    "SELECT run_id, status, alerts_ingested, alerts_skipped, pid FROM ingestion_runs ORDER BY run_id",
  );
}

// --- the tests -------------------------------------------------------------------------------

kafkaTest(
  "Confluent-framed snappy alerts of schemas 9.0 to 11.1 are stored as produced, with their schemas, and committed",
  async () => {
    const fixtures = FIXTURES as string;
    const topic = await createTopic("rubin", 3);
    const group = unique("rubin-group");
    // The same sample alert in four schema versions (one DIASource id): on one partition, in
    // order, so the first one is the one stored and the others are replays.
    const samples = await Promise.all(
      ["v9_0", "v10_0", "v11_0", "v11_1"].map((v) =>
        Deno.readFile(join(fixtures, `lsst/cwf/lsst.${v}.avro`))
      ),
    );
    assert.deepEqual(samples.map(schemaIdOf), [900, 1000, 1100, 1101]);
    const heavy = await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        Deno.readFile(join(fixtures, `lsst/cwf-heavy/fink-real-v10_0-${i}.avro`))
      ),
    );
    const boom = await Deno.readFile(
      join(fixtures, "lsst/cwf/boom-7912941781254298-v9_0-cutouts.avro"),
    );
    const mock = await mockMessages(500, 11);
    const kafka = client();
    await kafka.produce(topic, samples, { compression: "snappy", partition: 0 });
    const spread = [boom, ...heavy, ...mock.values];
    await kafka.produce(topic, spread, { compression: "snappy" });
    const produced = [...samples, ...spread];

    // First occurrence of each DIASource wins, in produced order (replays share partition 0).
    const expected = new Map<string, Record<string, unknown>>();
    for (const value of produced) {
      const { version, packet } = await decodeFrame(value);
      const key = String(diaSourceIdOf(packet));
      if (!expected.has(key)) expected.set(key, expectedRow(packet, version));
    }
    assert.equal(expected.size, produced.length - 3);

    await using registry = await startRegistry(["9.0", "10.0", "11.0", "11.1"]);
    await withTempDir("lsst-kafka-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const source = { topics: [topic], groupId: group, schemaRegistry: registry.url };
      const run = await ingestKafka(storage, source, {
        limit: produced.length,
        batchSize: 100,
        keepRaw: true,
      });
      assert.equal(run.status, "completed");
      assert.equal(run.recordsRead, produced.length);
      assert.equal(run.alertsIngested, expected.size);
      // --keep-raw: each stored alert's payload is its message after the 5-byte frame.
      const payloads = new Map<string, string>();
      for (const value of produced) {
        const { packet } = await decodeFrame(value);
        const key = String(diaSourceIdOf(packet));
        if (!payloads.has(key)) payloads.set(key, Buffer.from(value.subarray(5)).toString("hex"));
      }
      const kept = queryDatabase(
        db,
        "SELECT dia_source_id, hex(payload) AS payload FROM raw_alerts",
      );
      assert.equal(kept.length, expected.size);
      for (const row of kept) {
        assert.equal(
          String(row.payload).toLowerCase(),
          payloads.get(String(row.dia_source_id)),
          `payload of ${row.dia_source_id}`,
        );
      }
      assert.equal(run.alertsSkipped, 3);
      assert.equal(run.alertsQuarantined, 0);
      assert.deepEqual(storedRows(db), sortedRows([...expected.values()]));
      const sample = queryDatabase(
        db,
        "SELECT schema_version FROM alerts WHERE dia_source_id = 281323062375219200",
      );
      assert.deepEqual(sample, [{ schema_version: "9.0" }]);

      // Every schema used is kept, fetched once per id (ids are immutable).
      assert.deepEqual(
        queryDatabase(db, "SELECT id, version FROM schemas ORDER BY id"),
        [
          { id: 900n, version: "9.0" },
          { id: 1000n, version: "10.0" },
          { id: 1100n, version: "11.0" },
          { id: 1101n, version: "11.1" },
        ],
      );
      assert.deepEqual(
        [...registry.requests].sort((a, b) => a[0] - b[0]),
        [[900, 1], [1000, 1], [1100, 1], [1101, 1]],
      );
      // The cursor of each partition is its last offset.
      const cursors = queryDatabase(
        db,
        "SELECT stream, position FROM source_cursors ORDER BY stream",
      );
      assert.deepEqual(
        cursors.map((c) => c.stream),
        [0, 1, 2].map((p) => `${topic}/${p}`),
      );

      const again = await ingestKafka(storage, source, { durationSeconds: 3 });
      assert.equal(again.status, "completed");
      assert.equal(again.recordsRead, 0);
      assert.equal(countAlerts(db), expected.size);

      const lag = await kafkaLag({ bootstrapServers: BOOTSTRAP, groupId: group });
      assert.equal(lag.length, 3);
      let end = 0;
      for (const partition of lag) {
        assert.equal(partition.topic, topic);
        assert.equal(partition.lag, 0);
        assert.equal(partition.committed, partition.end);
        const cursor = cursors.find((c) => c.stream === `${topic}/${partition.partition}`);
        assert.equal(BigInt(String(cursor?.position)) + 1n, BigInt(partition.end));
        end += Number(partition.end);
      }
      assert.equal(end, produced.length);
    });
  },
);

for (const codec of ["snappy", "lz4", "zstd", "gzip"] as const) {
  kafkaTest(`a topic the broker compresses with ${codec} is consumed whole`, async () => {
    const topic = await createTopic(`codec-${codec}`, 2, { "compression.type": codec });
    // Cutouts make batches span many of the codecs' blocks (32 KB snappy, 64 KB lz4 chunks).
    const plain = await mockMessages(300, 21);
    const heavy = await mockMessages(6, 22, true);
    const produced = [...plain.values, ...heavy.values];
    const packets = [...plain.packets, ...heavy.packets];
    await client().produce(topic, produced, { compression: "none" });

    const codecs = await segmentCodecs(topic, 0);
    if (codecs !== null) {
      const id = { gzip: 1, snappy: 2, lz4: 3, zstd: 4 }[codec];
      assert.deepEqual([...codecs], [id], `the broker wrote ${codec} batches`);
    }

    await withTempDir("lsst-kafka-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const run = await ingestKafka(storage, { topics: [topic], groupId: unique("codec") }, {
        limit: produced.length,
        cutouts: new CutoutProcessor({ outputDir: join(dir, "cutouts") }),
      });
      assert.equal(run.alertsIngested, produced.length);
      assert.equal(run.alertsQuarantined, 0);
      assert.deepEqual(
        storedRows(db),
        sortedRows(packets.map((p) => expectedRow(p, "11.0"))),
      );
      // The cutouts come out byte for byte.
      for (const packet of heavy.packets) {
        const [row] = queryDatabase(
          db,
          `SELECT cutout_science, cutout_template, cutout_difference FROM alerts
           WHERE dia_source_id = ${diaSourceIdOf(packet)}`,
        );
        assert.deepEqual(
          await Deno.readFile(String(row?.cutout_science)),
          new Uint8Array(packet.cutoutScience as Uint8Array),
        );
        assert.deepEqual(
          await Deno.readFile(String(row?.cutout_difference)),
          new Uint8Array(packet.cutoutDifference as Uint8Array),
        );
      }
    });
  });
}

kafkaTest("a 1.6 MB message is consumed whole and its cutout written byte for byte", async () => {
  const topic = await createTopic("large", 1);
  const type = await avroType("11.0");
  const packets = [...new MockSource({ count: 3, seed: 31, cutouts: true }).packets()].map((p) =>
    p.packet as unknown as Packet
  );
  // A 640×640 float32 image of noise: valid FITS that no codec shrinks.
  const pixels = new Float32Array(640 * 640).map(() => Math.random() * 1000);
  const big = encodeFits([{ width: 640, height: 640, data: pixels }]);
  const large = { ...packets[1], cutoutScience: Buffer.from(big) } as Packet;
  const values = [packets[0], large, packets[2]].map((p) => frame(1100, type.toBuffer(p)));
  assert.ok(values[1]!.length > 1_500_000, `${values[1]!.length} bytes`);
  await client().produce(topic, values);

  await withTempDir("lsst-kafka-", async (dir) => {
    const db = join(dir, "alerts.db");
    await using storage = new SQLiteStorage(db);
    const run = await ingestKafka(storage, { topics: [topic], groupId: unique("large") }, {
      limit: 3,
      cutouts: new CutoutProcessor({ outputDir: join(dir, "cutouts") }),
    });
    assert.equal(run.alertsIngested, 3);
    assert.equal(run.alertsQuarantined, 0);
    const [row] = queryDatabase(
      db,
      `SELECT cutout_science FROM alerts WHERE dia_source_id = ${diaSourceIdOf(large)}`,
    );
    assert.deepEqual(await Deno.readFile(String(row?.cutout_science)), big);
  });
});

kafkaTest(
  "malformed messages are quarantined with their offset and bytes while the partition goes on",
  async () => {
    const topic = await createTopic("malformed", 1);
    const { packets, values } = await mockMessages(40, 41);
    const garbage = crypto.getRandomValues(new Uint8Array(300));
    garbage[0] = 0x7b; // Neither 0x00 (framed) nor "O" (container).
    const unknownId = frame(4242, values[0]!.subarray(5));
    const truncated = values[1]!.subarray(0, Math.floor(values[1]!.length / 2));
    const bad = [garbage, unknownId, truncated];
    const messages = [
      ...values.slice(0, 10),
      garbage,
      ...values.slice(10, 20),
      unknownId,
      ...values.slice(20, 30),
      truncated,
      ...values.slice(30),
    ];
    await client().produce(topic, messages, { compression: "snappy" });

    await withTempDir("lsst-kafka-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const run = await ingestKafka(storage, { topics: [topic], groupId: unique("malformed") }, {
        limit: messages.length,
        batchSize: 7,
      });
      assert.equal(run.status, "completed");
      assert.equal(run.alertsIngested, 40);
      assert.equal(run.alertsQuarantined, 3);
      assert.deepEqual(storedIds(db), idsOf(packets));

      const rows = queryDatabase(
        db,
        "SELECT source, stream, position, error, raw, run_id FROM quarantine ORDER BY id",
      );
      assert.equal(rows.length, 3);
      const offsets = [10, 21, 32];
      const errors = [
        /neither Confluent-framed .* nor an Avro container/,
        /Unknown schema id 4242: .*no folder 42\.42/,
        /ends inside the record|Cannot decode it with schema 1100/,
      ];
      rows.forEach((row, i) => {
        assert.equal(row.source, "kafka");
        assert.equal(row.stream, `${topic}/0`);
        assert.equal(row.position, String(offsets[i]));
        assert.equal(row.run_id, BigInt(run.runId));
        assert.match(
          String(row.error),
          new RegExp(`partition 0 of topic "${topic}" at offset ${offsets[i]}`),
        );
        assert.match(String(row.error), errors[i]!);
        assert.deepEqual(new Uint8Array(row.raw as Uint8Array), bad[i]);
      });
      const [cursor] = queryDatabase(db, "SELECT position FROM source_cursors");
      assert.equal(cursor?.position, String(messages.length - 1));
    });
  },
);

kafkaTest(
  "the decode worker stores exactly what the consuming thread stores: alerts, payloads, quarantine, cursors",
  async () => {
    const topic = await createTopic("worker", 3);
    const { values } = await mockMessages(400, 61, true);
    // Each object's alerts on one partition, so both runs see them in the same order (the
    // worker interleaves partitions, and tracking depends on each object's order only).
    const partitions: Uint8Array[][] = [[], [], []];
    for (const value of values) {
      const { packet } = await decodeFrame(value);
      const source = packet.diaSource as Packet;
      const key = BigInt((source.diaObjectId as bigint | null) ?? 0n) || diaSourceIdOf(packet);
      partitions[Number(key % 3n)]!.push(value);
    }
    // ZTF container messages (decoded on the consuming thread) and broken messages among them.
    const ztf = await Promise.all(
      ["2019_01_10_739260766315010006.avro", "472263571115115000.avro"].map((name) =>
        Deno.readFile(join(FIXTURES as string, "ztf", name))
      ),
    );
    const garbage = new Uint8Array([0x7b, 1, 2, 3, 4, 5, 6, 7]);
    const unknownId = frame(4242, values[0]!.subarray(5));
    const truncated = values[1]!.subarray(0, 300);
    partitions[0]!.splice(20, 0, ztf[0]!, garbage);
    partitions[1]!.splice(40, 0, unknownId, new Uint8Array(0));
    partitions[2]!.splice(60, 0, truncated, ztf[1]!);
    for (const [partition, messages] of partitions.entries()) {
      await client().produce(topic, messages, { compression: "snappy", partition });
    }
    const total = partitions.reduce((n, p) => n + p.length, 0);

    await withTempDir("lsst-kafka-", async (dir) => {
      const tables: Record<string, string> = {};
      for (const decodeWorker of [false, true]) {
        const db = join(dir, `worker-${decodeWorker}.db`);
        const chunks = MessageReader.chunks;
        {
          await using storage = new SQLiteStorage(db);
          const run = await ingestKafka(
            storage,
            { topics: [topic], groupId: unique("worker"), decodeWorker },
            { limit: total, batchSize: 50, keepRaw: true },
          );
          assert.equal(run.status, "completed");
          assert.equal(run.recordsRead, total);
          assert.equal(run.alertsQuarantined, 4);
        }
        assert.equal(MessageReader.chunks > chunks, decodeWorker, "the worker ran only if asked");
        tables[String(decodeWorker)] = JSON.stringify(
          [
            "SELECT * FROM alerts ORDER BY dia_source_id",
            "SELECT * FROM processed_sources ORDER BY dia_source_id",
            "SELECT dia_source_id, alert_dia_source_id, reason FROM reassociations ORDER BY 1, 2",
            "SELECT dia_source_id, schema_fingerprint, hex(payload) FROM raw_alerts ORDER BY 1",
            "SELECT stream, position, error, hex(raw) FROM quarantine ORDER BY stream, position",
            "SELECT stream, position, identity FROM source_cursors ORDER BY stream",
          ].map((sql) =>
            queryDatabase(db, sql).map((row) => {
              const { run_id: _run, ingested_at: _at, updated_at: _updated, ...rest } = row;
              return rest;
            })
          ),
          (_, v) => typeof v === "bigint" ? `${v}n` : v,
        );
      }
      assert.equal(tables.true, tables.false);
      const stored = JSON.parse(tables.true!) as unknown[][];
      assert.equal(stored[0]!.length, 400 + 2, "every alert, the ZTF ones included");
      assert.equal(stored[3]!.length, 400 + 2, "a payload for each");
      assert.equal(stored[5]!.length, 3, "a cursor for each partition");
    });
  },
);

kafkaTest(
  "a backlog over 4 partitions reaches the pipeline in the order it was produced, whatever each fetch holds of each partition",
  async () => {
    const topic = await createTopic("order", 4);
    // Partition 1 carries alerts with cutouts (~79 KB), the others without (~1.4 KB): a fetch
    // of 1 MiB a partition brings ~13 of partition 1 and all 100 of each other one.
    const light = (await mockMessages(400, 71)).values;
    const heavy = (await mockMessages(400, 71, true)).values;
    const values = light.map((value, i) => (i % 4 === 1 ? heavy[i]! : value));
    for (let partition = 0; partition < 4; partition++) {
      // Message i on partition i % 4, as a producer without keys spreads a stream; sent 5 at a
      // time, as the broker returns whole record batches however large.
      const mine = values.filter((_, i) => i % 4 === partition);
      for (let at = 0; at < mine.length; at += 5) {
        await client().produce(topic, mine.slice(at, at + 5), { partition });
      }
    }
    await withTempDir("lsst-kafka-", async (dir) => {
      await using storage = new SQLiteStorage(join(dir, "order.db"));
      await using source = new KafkaSource({
        bootstrapServers: BOOTSTRAP,
        topics: [topic],
        groupId: unique("order"),
        schemaDir: join(FIXTURES as string, "lsst/schema"),
        schemaStore: storage,
        decodeWorker: true,
      });
      const chunks = MessageReader.chunks;
      const order: number[] = [];
      for await (const item of source.alerts({ limit: values.length })) {
        const partition = Number(item.cursor.stream.slice(topic.length + 1));
        order.push(4 * Number(item.cursor.position) + partition);
      }
      assert.ok(MessageReader.chunks > chunks, "the worker decoded them");
      assert.deepEqual([...order].sort((a, b) => a - b), values.map((_, i) => i));
      // How far a message came after one produced later: within one turn of the partitions
      // (sent as fetched, partition 1's 14th message would come ~340 behind).
      let latest = -1;
      let behind = 0;
      for (const i of order) {
        behind = Math.max(behind, latest - i);
        latest = Math.max(latest, i);
      }
      assert.ok(behind <= 3, `a message reached the pipeline ${behind} after a later one`);
    });
  },
);

kafkaTest(
  "offsets are committed only after storage and the database's cursors win over Kafka's",
  async () => {
    const topic = await createTopic("commit", 3);
    const group = unique("commit-group");
    const { packets, values } = await mockMessages(300, 51);
    await client().produce(topic, values);

    await withTempDir("lsst-kafka-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const first = await ingestKafka(storage, { topics: [topic], groupId: group }, {
        limit: 300,
        batchSize: 64,
      });
      assert.equal(first.alertsIngested, 300);
      const committed = async () =>
        (await kafkaLag({ bootstrapServers: BOOTSTRAP, groupId: group, topics: [topic] }))
          .map((p) => p.committed);
      assert.deepEqual(await committed(), ["100", "100", "100"]);

      // A new database, the same group: Kafka's commit says everything is done.
      {
        const otherDb = join(dir, "other.db");
        await using other = new SQLiteStorage(otherDb);
        const run = await ingestKafka(other, { topics: [topic], groupId: group }, {
          durationSeconds: 3,
        });
        assert.equal(run.recordsRead, 0);
        assert.equal(countAlerts(otherDb), 0);
      }

      // Kafka forgets (offsets reset to 0): the database's cursors still say what is stored.
      await withAdmin((admin) =>
        admin.setOffsets({
          groupId: group,
          topic,
          partitions: [0, 1, 2].map((partition) => ({ partition, offset: "0" })),
        })
      );
      assert.deepEqual(await committed(), ["0", "0", "0"]);
      const replay = await ingestKafka(storage, { topics: [topic], groupId: group }, {
        durationSeconds: 3,
      });
      assert.equal(replay.status, "completed");
      assert.equal(replay.recordsRead, 0);
      assert.equal(replay.alertsSkipped, 0);
      assert.equal(countAlerts(db), 300);

      // New messages after the stored ones, Kafka's commit still at 0: each is read once. The
      // seek past the cursors must land before any record fetched from Kafka's commit is handed
      // over, or those after the cursors come twice.
      const later = await mockMessages(30, 52);
      await client().produce(topic, later.values);
      const resumed = await ingestKafka(storage, { topics: [topic], groupId: group }, {
        durationSeconds: 3,
      });
      assert.equal(resumed.recordsRead, 30);
      assert.equal(resumed.alertsIngested, 30);
      assert.equal(resumed.alertsSkipped, 0);
      assert.deepEqual(await committed(), ["110", "110", "110"]);
      const all = [...packets, ...later.packets];

      // A new group asked to start at the earliest offset: the cursors still win.
      const fresh = await ingestKafka(
        storage,
        { topics: [topic], groupId: unique("commit-earliest"), startAt: "earliest" },
        { durationSeconds: 3 },
      );
      assert.equal(fresh.recordsRead, 0);

      // Without cursors (lost, or alerts stored by another route) everything is read again
      // and nothing is stored twice: the alerts are keyed by their DIASource.
      const detections = queryDatabase(db, "SELECT COUNT(*) AS n FROM reassociations")[0]?.n;
      const write = new DatabaseSync(db);
      write.exec("DELETE FROM source_cursors");
      write.close();
      const reread = await ingestKafka(
        storage,
        { topics: [topic], groupId: unique("commit-reread"), startAt: "earliest" },
        { limit: 330 },
      );
      assert.equal(reread.recordsRead, 330);
      assert.equal(reread.alertsIngested, 0);
      assert.equal(reread.alertsSkipped, 330);
      assert.deepEqual(storedIds(db), idsOf(all));
      assert.equal(
        queryDatabase(db, "SELECT COUNT(*) AS n FROM reassociations")[0]?.n,
        detections,
      );
    });
  },
);

kafkaTest(
  "ingest killed twice with SIGKILL resumes to every alert stored exactly once",
  async () => {
    const total = sized(8_000, 20_000);
    const topic = await createTopic("crash", 4);
    const group = unique("crash-group");
    const { packets, values } = await mockMessages(total, 61);
    await client().produce(topic, values, { compression: "snappy" });

    await withTempDir("lsst-kafka-", async (dir) => {
      const db = join(dir, "alerts.db");
      const args = [...kafkaArgs(topic, group, db), "--batch-size", "200"];
      // Each restart joins the group while the killed member is still in it: the broker waits
      // for that member's session (30 s) to expire before it assigns partitions again.
      for (const round of [1, 2]) {
        const before = countAlerts(db);
        const child = spawnCli([...args, "--quiet"]);
        try {
          await waitFor(
            `for run ${round} to store 2,000 alerts`,
            60_000,
            () => countAlerts(db) > before + 2000,
          );
          child.kill("SIGKILL");
        } finally {
          await reap(child);
        }
        const after = countAlerts(db);
        assert.ok(after < total, `run ${round} was killed mid-stream (${after} stored)`);
      }
      const stored = countAlerts(db);
      const remaining = total - stored;
      const last = await cli([...args, "--limit", String(remaining), "--json"]);
      assert.equal(last.code, 0, last.stderr);
      const run = JSON.parse(last.stdout);
      assert.equal(run.status, "completed");
      // Nothing already stored was read again: exactly the remaining records were.
      assert.equal(run.recordsRead, remaining);
      assert.equal(run.alertsIngested, remaining);
      assert.equal(run.alertsSkipped, 0);

      assert.equal(countAlerts(db), total);
      assert.deepEqual(storedIds(db), idsOf(packets));
      assert.equal(queryDatabase(db, "PRAGMA integrity_check")[0]?.integrity_check, "ok");
      const runs = rowsOfRuns(db);
      assert.deepEqual(runs.map((r) => r.status), ["interrupted", "interrupted", "completed"]);
      assert.equal(
        runs.reduce((sum, r) => sum + Number(r.alerts_ingested), 0),
        total,
        "each run's count matches its committed batches",
      );
      const lag = await kafkaLag({ bootstrapServers: BOOTSTRAP, groupId: group });
      assert.deepEqual(lag.map((p) => p.lag), [0, 0, 0, 0]);
    });
  },
);

kafkaTest(
  "two processes in one consumer group share the partitions and store every alert once",
  async () => {
    const total = 4000;
    const topic = await createTopic("group", 4);
    const group = unique("group-group");
    const { packets, values } = await mockMessages(total, 71);

    await withTempDir("lsst-kafka-", async (dir) => {
      const db = join(dir, "alerts.db");
      // Initialise first: two processes creating the schema at once is not under test here.
      const init = await cli(["db-init", "--db", db]);
      assert.equal(init.code, 0, init.stderr);
      const args = [...kafkaArgs(topic, group, db), "--duration", "120", "--batch-size", "100"];
      const started = performance.now();
      const children = [spawnCli(args), spawnCli(args)];
      try {
        // Produce once both are members, so the partitions are split before anything is read.
        await waitFor(
          "for both processes to join the group",
          30_000,
          () =>
            withAdmin(async (admin) => {
              const { groups } = await admin.describeGroups([group]);
              return groups[0]?.state === "Stable" && groups[0].members.length === 2;
            }),
          200,
        );
        await client().produce(topic, values);
        await waitFor("for every alert to be stored", 60_000, () => countAlerts(db) >= total);
        for (const child of children) child.kill("SIGINT");
        const results = await Promise.all(children.map((c) => finished(c, started)));
        for (const result of results) assert.equal(result.code, 130, result.stderr);
      } finally {
        await Promise.all(children.map(reap));
      }

      assert.equal(countAlerts(db), total);
      assert.deepEqual(storedIds(db), idsOf(packets));
      const runs = rowsOfRuns(db);
      assert.equal(runs.length, 2);
      assert.deepEqual(runs.map((r) => r.status), ["interrupted", "interrupted"]);
      assert.notEqual(runs[0]?.pid, runs[1]?.pid);
      for (const run of runs) {
        assert.ok(Number(run.alerts_ingested) > 0, `run ${run.run_id} read a share`);
      }
      assert.equal(runs.reduce((sum, r) => sum + Number(r.alerts_ingested), 0), total);
    });
  },
);

kafkaTest(
  "SASL PLAIN and SCRAM-SHA-512 work, a wrong password fails fast and is written nowhere",
  async () => {
    const topic = await createTopic("sasl", 1);
    const { packets, values } = await mockMessages(10, 81);
    await client().produce(topic, values);

    await withTempDir("lsst-kafka-", async (dir) => {
      // PLAIN, in process.
      const plainDb = join(dir, "plain.db");
      {
        await using storage = new SQLiteStorage(plainDb);
        const run = await ingestKafka(storage, {
          bootstrapServers: SASL_PLAIN_BOOTSTRAP,
          topics: [topic],
          groupId: unique("sasl-plain"),
          sasl: { mechanism: "plain", username: SASL_USER, password: SASL_PASSWORD },
        }, { limit: 10 });
        assert.equal(run.alertsIngested, 10);
        assert.equal(run.params.saslMechanism, "plain");
      }
      assert.deepEqual(storedIds(plainDb), idsOf(packets));

      // SCRAM-SHA-512 through the CLI, credentials from the environment (as Rubin users run it).
      const scramDb = join(dir, "scram.db");
      const scram = await cli(
        [
          ...kafkaArgs(topic, unique("sasl-scram"), scramDb),
          "--bootstrap-servers",
          SASL_SCRAM_BOOTSTRAP,
          "--sasl-mechanism",
          "scram-sha-512",
          "--limit",
          "10",
          "--json",
        ],
        { LSST_KAFKA_USERNAME: SASL_USER, LSST_KAFKA_PASSWORD: SASL_PASSWORD },
      );
      assert.equal(scram.code, 0, scram.stderr);
      assert.equal(JSON.parse(scram.stdout).alertsIngested, 10);
      assert.deepEqual(storedIds(scramDb), idsOf(packets));

      // Wrong passwords: SCRAM given on the command line, PLAIN from the environment.
      const wrong = `wrong-${crypto.randomUUID()}`;
      const outputs: string[] = [scram.stdout, scram.stderr];
      const cases = [
        { db: "wrong-scram.db", bootstrap: SASL_SCRAM_BOOTSTRAP, mechanism: "scram-sha-512" },
        { db: "wrong-plain.db", bootstrap: SASL_PLAIN_BOOTSTRAP, mechanism: "plain" },
      ];
      for (const [i, c] of cases.entries()) {
        const db = join(dir, c.db);
        const flags = [
          ...kafkaArgs(topic, unique("sasl-wrong"), db),
          "--bootstrap-servers",
          c.bootstrap,
          "--sasl-mechanism",
          c.mechanism,
        ];
        const result = i === 0
          ? await cli([...flags, "--username", SASL_USER, "--password", wrong])
          : await cli(flags, { LSST_KAFKA_USERNAME: SASL_USER, LSST_KAFKA_PASSWORD: wrong });
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /authentication failed/);
        assert.ok(result.seconds < 10, `${c.mechanism}: failed after ${result.seconds} s`);
        outputs.push(result.stdout, result.stderr);
        const [run] = queryDatabase(db, "SELECT status, params, error FROM ingestion_runs");
        assert.equal(run?.status, "failed");
        assert.match(String(run?.error), /authentication failed/);
        assert.doesNotMatch(String(run?.params), new RegExp(wrong));
        assert.equal(countAlerts(db), 0);
        for (const q of queryDatabase(db, "SELECT error, raw FROM quarantine")) {
          assert.doesNotMatch(String(q.error), new RegExp(wrong));
        }
      }

      // Neither password is in anything the runs printed or wrote (databases, WAL, locks).
      for (const secret of [wrong, SASL_PASSWORD]) {
        for (const text of outputs) assert.ok(!text.includes(secret), "printed a password");
        assert.deepEqual(await filesHolding(dir, secret), [], "files hold a password");
      }
    });
  },
);

kafkaTest(
  "SASL options reused with another password log in with that password",
  async () => {
    const sasl = { mechanism: "plain" as const, username: SASL_USER, password: SASL_PASSWORD };
    const connect = async (options: typeof sasl) => {
      const kafka = new KafkaClient({
        brokers: [SASL_PLAIN_BOOTSTRAP],
        clientId: "test",
        sasl: options,
      });
      await kafka.check();
    };
    await connect(sasl);
    // kafkajs attaches an authenticator holding the password to the object it is given: a copy
    // with another password would otherwise still log in with the first one.
    assert.deepEqual(Object.keys(sasl), ["mechanism", "username", "password"]);
    await assert.rejects(connect({ ...sasl, password: "wrong" }), /authentication failed/);
  },
  { fixtures: false },
);

kafkaTest(
  "an unreachable broker and a missing topic fail fast with clear messages",
  async () => {
    await withTempDir("lsst-kafka-", async (dir) => {
      const unreachable = await cli([
        ...kafkaArgs("alerts", unique("nowhere"), join(dir, "a.db")),
        "--bootstrap-servers",
        "127.0.0.1:1",
      ]);
      assert.equal(unreachable.code, 1, unreachable.stderr);
      assert.match(unreachable.stderr, /Kafka at "127\.0\.0\.1:1": the broker is unreachable/);
      assert.ok(unreachable.seconds < 15, `failed after ${unreachable.seconds} s`);

      const topic = unique("missing");
      const missing = await cli(kafkaArgs(topic, unique("missing"), join(dir, "b.db")));
      assert.equal(missing.code, 1, missing.stderr);
      assert.match(missing.stderr, new RegExp(`Topic "${topic}" does not exist`));
      assert.ok(missing.seconds < 15, `failed after ${missing.seconds} s`);
      // Asking for it did not create it (the broker auto-creates topics on request).
      const topics = await withAdmin((admin) => admin.listTopics());
      assert.ok(!topics.includes(topic));
    });
  },
  { fixtures: false },
);

kafkaTest(
  "each compressed batch's first message is shown before kafkajs hands the fetch over",
  async () => {
    const topic = await createTopic("peek", 1);
    const values = Array.from(
      { length: 12 },
      (_, i) => frame(1100 + i, new Uint8Array(50).fill(i)),
    );
    // Three produce calls: three record batches, compressed by the producer as Rubin's are.
    for (let i = 0; i < 12; i += 4) {
      await client().produce(topic, values.slice(i, i + 4), { compression: "snappy" });
    }
    // Then two uncompressed: no codec runs, so nothing is shown (a hint, not a guarantee).
    const plain = [frame(7, new Uint8Array(3)), frame(8, new Uint8Array(3))];
    await client().produce(topic, plain, { compression: "none" });

    const events: string[] = [];
    peekRecordBatches((value) => events.push(`peek ${framedSchemaId(value)}`));
    const stream = await client().consume({
      groupId: unique("peek"),
      topics: [topic],
      startAt: "earliest",
      stored: new Map(),
      maxMessageBytes: 1 << 20,
      sessionTimeoutMs: 10_000,
    });
    try {
      let taken = 0;
      while (taken < values.length + plain.length) {
        const batch = await stream.nextBatch(AbortSignal.timeout(20_000));
        assert.ok(batch !== null, `${taken} messages came`);
        events.push(`batch ${batch.map((r) => framedSchemaId(r.value as Uint8Array)).join(",")}`);
        taken += batch.length;
      }
    } finally {
      peekRecordBatches(null);
      await stream.close();
    }
    // Each compressed batch was shown by its first message, the first before any message was
    // handed over; the uncompressed were not shown.
    assert.deepEqual(events.filter((e) => e.startsWith("peek")), [
      "peek 1100",
      "peek 1104",
      "peek 1108",
    ]);
    assert.equal(events[0], "peek 1100");
    assert.deepEqual(
      events.filter((e) => e.startsWith("batch")).map((e) => e.slice(6)).join(","),
      [...values, ...plain].map((v) => framedSchemaId(v)).join(","),
    );
  },
  { fixtures: false },
);

Deno.test("a source prepared against an unreachable broker and released unread leaves nothing running", async () => {
  // No broker needed: nothing listens on port 1. What prepare() starts (the worker, the metadata
  // request that fails) must end with the release, without an unhandled rejection, and the
  // source must still read afresh (and fail as it would have).
  const source = new KafkaSource({
    bootstrapServers: "127.0.0.1:1",
    topics: ["alerts"],
    groupId: "prepared",
  });
  const running = MessageReader.running;
  const release = source.prepare();
  await new Promise((resolve) => setTimeout(resolve, 200));
  await release();
  assert.equal(MessageReader.running, running, "the prepared worker is closed");
  const read = async () => {
    for await (const _ of source.alerts()) break;
  };
  await assert.rejects(read(), /Kafka at "127\.0\.0\.1:1": the broker is unreachable/);
  await source[Symbol.asyncDispose]();
  assert.equal(MessageReader.running, running, "the second read's worker is closed");
});

kafkaTest("--duration 3 on an empty topic completes in about 3 s", async () => {
  const topic = await createTopic("empty", 2);
  await withTempDir("lsst-kafka-", async (dir) => {
    const db = join(dir, "alerts.db");
    const args = [...kafkaArgs(topic, unique("empty"), db), "--duration", "3", "--json"];
    const result = await cli(args);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.seconds >= 2.5 && result.seconds <= 8, `took ${result.seconds} s`);
    const run = JSON.parse(result.stdout);
    assert.equal(run.status, "completed");
    assert.equal(run.recordsRead, 0);
    assert.equal(run.alertsIngested, 0);
    assert.deepEqual(rowsOfRuns(db).map((r) => r.status), ["completed"]);
  });
}, { fixtures: false });

kafkaTest(
  "kafka-lag reports each partition's committed offset and the total lag after a partial ingest",
  async () => {
    const topic = await createTopic("lag", 3);
    const group = unique("lag-group");
    const { values } = await mockMessages(300, 91);
    await client().produce(topic, values);

    await withTempDir("lsst-kafka-", async (dir) => {
      const db = join(dir, "alerts.db");
      const ingested = await cli([
        ...kafkaArgs(topic, group, db),
        "--limit",
        "120",
        "--batch-size",
        "50",
        "--json",
      ]);
      assert.equal(ingested.code, 0, ingested.stderr);
      const run = JSON.parse(ingested.stdout);
      assert.equal(run.alertsIngested, 120);

      const result = await cli([
        "kafka-lag",
        "--bootstrap-servers",
        BOOTSTRAP,
        "--group-id",
        group,
        "--json",
      ]);
      assert.equal(result.code, 0, result.stderr);
      const lag = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
      assert.deepEqual(lag.map((p) => [p.topic, p.partition, p.end]), [
        [topic, 0, "100"],
        [topic, 1, "100"],
        [topic, 2, "100"],
      ]);
      // Committed offsets are the stored cursors + 1; a partition never committed has none.
      const cursors = new Map(
        queryDatabase(db, "SELECT stream, position FROM source_cursors")
          .map((c) => [String(c.stream), BigInt(String(c.position)) + 1n]),
      );
      for (const p of lag) {
        const cursor = cursors.get(`${topic}/${p.partition}`);
        assert.equal(p.committed, cursor === undefined ? null : String(cursor));
        assert.equal(p.lag, 100 - Number(cursor ?? 0n));
      }
      assert.equal(lag.reduce((sum, p) => sum + Number(p.committed ?? 0), 0), 120);
      assert.equal(lag.reduce((sum, p) => sum + Number(p.lag), 0), 180);
      // The ingest run's own report says the same.
      assert.deepEqual(run.lag, lag);

      const human = await cli([
        "kafka-lag",
        "--bootstrap-servers",
        BOOTSTRAP,
        "--group-id",
        group,
        "--topic",
        topic,
      ]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /^topic\s+partition\s+committed\s+end\s+lag$/m);
    });
  },
);

// --- cursors that point into another topic or past a partition's end ----------------------------

/** Delete a topic and create it again under the same name, empty. */
async function recreateTopic(topic: string, partitions: number): Promise<void> {
  await withAdmin(async (admin) => {
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 });
    // The broker removes a deleted topic's partitions in the background: until then the name
    // is taken.
    await waitFor(`for "${topic}" to be created again`, 30_000, async () => {
      if ((await admin.listTopics()).includes(topic)) return false;
      return await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
      }).catch(() => false);
    }, 200);
  });
}

function cursorRows(db: string): Array<Record<string, unknown>> {
  return queryDatabase(db, "SELECT stream, position, identity FROM source_cursors ORDER BY stream");
}

kafkaTest(
  "a topic deleted and created again stops the run until --reset-cursors reads it from the start",
  async () => {
    const topic = await createTopic("recreated", 2);
    const group = unique("recreated-group");
    const before = await mockMessages(20, 101);
    await client().produce(topic, before.values);

    await withTempDir("lsst-kafka-", async (dir) => {
      const db = join(dir, "alerts.db");
      const args = [...kafkaArgs(topic, group, db), "--json"];
      const first = await cli([...args, "--limit", "20"]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(JSON.parse(first.stdout).alertsIngested, 20);
      const stored = cursorRows(db);
      assert.equal(stored.length, 2);
      const identity = String(stored[0]?.identity);
      assert.match(identity, /^cluster=\S+ topic=\S+$/);
      assert.equal(stored[1]?.identity, identity, "one identity for a topic's partitions");

      // More messages than before, so every old cursor lies inside the new offsets: only the
      // topic's id tells the new messages from those already stored.
      await recreateTopic(topic, 2);
      const after = await mockMessages(40, 102);
      await client().produce(topic, after.values);

      const stopped = await cli([...args, "--duration", "20"]);
      assert.equal(stopped.code, 1, stopped.stderr);
      assert.match(
        stopped.stderr,
        new RegExp(
          `topic "${topic}" has id "[^"]+" but its cursors were stored for id "[^"]+" \\(it was deleted and created again\\).*--reset-cursors`,
        ),
      );
      assert.ok(stopped.seconds < 15, `stopped after ${stopped.seconds} s`);
      assert.equal(countAlerts(db), 20, "nothing was read");
      assert.deepEqual(cursorRows(db), stored);
      assert.deepEqual(rowsOfRuns(db).map((r) => r.status), ["completed", "failed"]);

      const reset = await cli([...args, "--reset-cursors", "--limit", "40"]);
      assert.equal(reset.code, 0, reset.stderr);
      const run = JSON.parse(reset.stdout);
      assert.equal(run.recordsRead, 40);
      assert.equal(run.alertsIngested, 40);
      assert.equal(run.params.resetCursors, true);
      assert.deepEqual(storedIds(db), idsOf([...before.packets, ...after.packets]));
      const now = cursorRows(db);
      assert.deepEqual(now.map((c) => c.position), ["19", "19"]);
      assert.notEqual(now[0]?.identity, identity);
      // The cluster is the same, the topic is not.
      assert.equal(
        String(now[0]?.identity).split(" ")[0],
        identity.split(" ")[0],
      );
      // The group committed what is stored.
      const lag = await kafkaLag({ bootstrapServers: BOOTSTRAP, groupId: group, topics: [topic] });
      assert.deepEqual(lag.map((p) => [p.committed, p.lag]), [["20", 0], ["20", 0]]);

      const again = await cli([...args, "--duration", "3"]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(JSON.parse(again.stdout).recordsRead, 0);
    });
  },
);

kafkaTest(
  "a stored offset past a partition's end stops the run, with or without a stored identity",
  async () => {
    const topic = await createTopic("past-end", 2);
    const group = unique("past-end-group");
    const { packets, values } = await mockMessages(10, 111);
    await client().produce(topic, values, { partition: 0 });

    await withTempDir("lsst-kafka-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const source = { topics: [topic], groupId: group };
      const first = await ingestKafka(storage, source, { limit: 10 });
      assert.equal(first.alertsIngested, 10);
      assert.deepEqual(cursorRows(db).map((c) => c.position), ["9"]);

      // As if the database had been pointed at a fresh topic of the same name with fewer
      // messages: the cursor lies past the partition's end. An empty partition counts too.
      const write = new DatabaseSync(db);
      write.exec("UPDATE source_cursors SET position = '57'");
      write.prepare(
        "INSERT INTO source_cursors (source, stream, position, run_id, updated_at) VALUES ('kafka', ?, '3', NULL, '')",
      ).run(`${topic}/1`);
      await assert.rejects(
        ingestKafka(storage, source, { durationSeconds: 20 }),
        new RegExp(
          `in topic "${topic}", partition 0 ends at offset 10 but its cursor is at offset 57, partition 1 ends at offset 0 but its cursor is at offset 3\\..*ingest again with --reset-cursors to read "${topic}" from the start`,
        ),
      );
      // Cursors of older versions have no identity: the partitions' ends still apply.
      write.exec("UPDATE source_cursors SET identity = NULL");
      await assert.rejects(
        ingestKafka(storage, source, { durationSeconds: 20 }),
        /partition 0 ends at offset 10 but its cursor is at offset 57/,
      );
      write.close();
      assert.deepEqual(
        rowsOfRuns(db).map((r) => r.status),
        ["completed", "failed", "failed"],
      );

      const reset = await ingestKafka(storage, source, { limit: 10, resetCursors: true });
      assert.equal(reset.recordsRead, 10);
      assert.equal(reset.alertsIngested, 0);
      assert.equal(reset.alertsSkipped, 10);
      assert.deepEqual(storedIds(db), idsOf(packets));
      const cursors = cursorRows(db);
      assert.deepEqual(cursors.map((c) => [c.stream, c.position]), [[`${topic}/0`, "9"]]);
      assert.match(String(cursors[0]?.identity), /^cluster=\S+ topic=\S+$/);
    });
  },
);

kafkaTest(
  "a partial batch stored at a --duration or abort stop is committed before the consumer closes",
  async () => {
    const topic = await createTopic("stop-commit", 2);
    const group = unique("stop-commit-group");
    const first = await mockMessages(25, 121);
    await client().produce(topic, first.values);

    await withTempDir("lsst-kafka-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const source = { topics: [topic], groupId: group };
      const committedMatchesCursors = async () => {
        const lag = await kafkaLag({
          bootstrapServers: BOOTSTRAP,
          groupId: group,
          topics: [topic],
        });
        const cursors = new Map(cursorRows(db).map((c) => [c.stream, String(c.position)]));
        assert.equal(cursors.size, 2);
        for (const p of lag) {
          const cursor = cursors.get(`${topic}/${p.partition}`);
          assert.equal(
            p.committed,
            String(BigInt(String(cursor)) + 1n),
            `partition ${p.partition}`,
          );
          assert.equal(p.lag, 0);
        }
      };

      // The batch never fills and never ages enough: only the stop stores it.
      const timed = await ingestKafka(storage, source, {
        durationSeconds: 6,
        maxBatchDelayMs: 60_000,
      });
      assert.equal(timed.status, "completed");
      assert.equal(timed.recordsRead, 25);
      assert.equal(timed.alertsIngested, 25);
      await committedMatchesCursors();

      // Ctrl-C does the same through the caller's signal.
      const second = await mockMessages(12, 122);
      await client().produce(topic, second.values);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort("SIGINT"), 6000);
      try {
        const interrupted = await ingestKafka(storage, source, {
          signal: controller.signal,
          maxBatchDelayMs: 60_000,
        });
        assert.equal(interrupted.status, "interrupted");
        assert.equal(interrupted.recordsRead, 12);
        assert.equal(interrupted.alertsIngested, 12);
      } finally {
        clearTimeout(timer);
      }
      await committedMatchesCursors();
      assert.deepEqual(storedIds(db), idsOf([...first.packets, ...second.packets]));
    });
  },
);
