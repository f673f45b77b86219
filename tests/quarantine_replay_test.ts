/**
 * Quarantine replay end to end: framed messages quarantined for a schema id nobody knew, then
 * replayed with `--schema-dir` (Rubin's `<M>/<m>/` tree), leave the database exactly as an ingest
 * that knew the schema from the start, on SQLite and on PostgreSQL; and each kind of quarantine
 * row is replayed, kept with its new error, or left alone, as documented.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import {
  createAvroType,
  encodeLocusMessage,
  loadSchemaVersion,
  MockSource,
  parseExact,
  type QuarantineEntry,
  replayQuarantine,
  SQLiteStorage,
  stringifyExact,
  writeOcfFile,
} from "../mod.ts";
import { fixturesDir, queryDatabase, REPO_ROOT, run, testWith, withTempDir } from "./_support.ts";
import { NEED_POSTGRES, POSTGRES_URL, withPostgresDatabase } from "./_postgres.ts";

const FIXTURES = fixturesDir();
const NEED_FIXTURES = "the shared fixtures (../shared/fixtures)";
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];
const COMPARED = ["alerts", "processed_sources", "reassociations"] as const;

/** Run the command line; its exit code must be 0. */
async function cli(...args: string[]): Promise<string> {
  const out = await run(Deno.execPath(), [
    "run",
    ...PERMISSIONS,
    join(REPO_ROOT, "cli.ts"),
    ...args,
  ]);
  assert.equal(out.code, 0, `${args.join(" ")}\n${out.stderr}`);
  return out.stdout;
}

/** A Confluent frame: 0x00, the schema id (big-endian), the record. */
function framed(id: number, record: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(5 + record.length);
  new DataView(bytes.buffer).setInt32(1, id);
  bytes.set(record, 5);
  return bytes;
}

/** A copy of the fixtures' schemas laid out as Rubin's alert_packet repository: `<M>/<m>/`. */
async function rubinTree(root: string): Promise<string> {
  const flat = join(FIXTURES as string, "lsst/schema");
  const tree = join(root, "schema");
  for (const version of Deno.readDirSync(flat)) {
    const [major, minor] = version.name.split(".") as [string, string];
    await Deno.mkdir(join(tree, major, minor), { recursive: true });
    for (const entry of Deno.readDirSync(join(flat, version.name))) {
      await Deno.copyFile(
        join(flat, version.name, entry.name),
        join(tree, major, minor, entry.name),
      );
    }
  }
  return tree;
}

interface Night {
  /** The input folder. */
  input: string;
  /** Rubin's schema tree. */
  schemaDir: string;
  /** Triggering ids of the framed (schema id 1100) alerts. */
  framedIds: Set<bigint>;
  /** Alerts in all. */
  alerts: number;
}

/**
 * A night of v11.0 mock alerts with linked histories: every third one as a framed message
 * named to be read first, the others in one container read last; plus a message with schema
 * id 1203 (no such version) and a file that is no alert at all.
 */
async function night(root: string): Promise<Night> {
  const schema = await loadSchemaVersion(join(FIXTURES as string, "lsst/schema"), "11.0");
  const type = createAvroType(schema);
  const packets = [...new MockSource({ count: 600, seed: 12, cutouts: false }).packets()]
    .map((p) => p.packet);
  const input = join(root, "in");
  await Deno.mkdir(input);
  const framedIds = new Set<bigint>();
  for (const [i, packet] of packets.entries()) {
    if (i % 3 !== 1) continue;
    framedIds.add(BigInt(packet.diaSource.diaSourceId));
    const name = `a-${String(i).padStart(4, "0")}.avro`;
    await Deno.writeFile(join(input, name), framed(1100, new Uint8Array(type.toBuffer(packet))));
  }
  await writeOcfFile(
    join(input, "b-night.avro"),
    JSON.stringify(schema),
    type,
    packets.filter((_, i) => i % 3 !== 1),
  );
  await Deno.writeFile(
    join(input, "c-unknown.avro"),
    framed(1203, new Uint8Array(type.toBuffer(packets[0]))),
  );
  await Deno.writeTextFile(join(input, "d-garbage.avro"), "not an alert\n");
  return { input, schemaDir: await rubinTree(root), framedIds, alerts: packets.length };
}

/** Read rows of a database, SQLite file or PostgreSQL URL. */
type Reader = (sql: string) => Promise<Array<Record<string, unknown>>>;

function sqliteReader(path: string): Reader {
  return (sql) => Promise.resolve(queryDatabase(path, sql));
}

async function withPostgresReader<T>(url: string, work: (read: Reader) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, types: { bigint: postgres.BigInt } });
  try {
    return await work(async (query) => (await sql.unsafe(query)).map((row) => ({ ...row })));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Every row of a table, whole, but for run ids, row ids and write times (which differ between
 * two databases by construction); bytes as hex; in a stable order.
 */
async function tableRows(read: Reader, table: string): Promise<string[]> {
  const rows = await read(`SELECT * FROM ${table}`);
  return rows.map((row) => {
    const kept = Object.entries(row)
      .filter(([column]) => !/(^|_)run_id$|_at$|^id$/.test(column))
      .map(([column, value]) => [
        column,
        value instanceof Uint8Array
          ? Array.from(value, (b) => b.toString(16).padStart(2, "0")).join("")
          : value,
      ]);
    return stringifyExact(Object.fromEntries(kept));
  }).sort();
}

interface Listed {
  id: number;
  source: string;
  stream: string;
  position: string;
  error: string;
  rawBytes: number | null;
  runId: number | null;
  quarantinedAt: string;
}

/** The whole scenario on one backend: `db` and `ref` are SQLite paths or PostgreSQL URLs. */
async function replayScenario(
  root: string,
  db: string,
  ref: string,
  readDb: Reader,
  readRef: Reader,
): Promise<void> {
  const n = await night(root);
  const ingestArgs = ["ingest", "--source", "file", "--path", n.input, "--no-cutouts", "--json"];

  // The reference knew the schema from the start.
  const known = JSON.parse(
    await cli(...ingestArgs, "--schema-dir", n.schemaDir, "--db", ref),
  );
  assert.equal(known.alertsIngested, n.alerts);
  assert.equal(known.alertsQuarantined, 2);
  const detections = await readRef("SELECT alert_dia_source_id FROM reassociations");
  assert.ok(
    detections.some((d) => n.framedIds.has(BigInt(d.alert_dia_source_id as bigint))),
    "some detections are found in framed alerts, so the replay must find them too",
  );

  // Without it, every framed message is quarantined and its file's cursor stored.
  const first = JSON.parse(await cli(...ingestArgs, "--db", db));
  assert.equal(first.alertsIngested, n.alerts - n.framedIds.size);
  assert.equal(first.alertsQuarantined, n.framedIds.size + 2);
  const again = JSON.parse(await cli(...ingestArgs, "--schema-dir", n.schemaDir, "--db", db));
  assert.equal(again.recordsRead, 0, "a rerun skips the quarantined files for good");

  const stored = await readDb(
    "SELECT id, stream, error, raw, run_id FROM quarantine ORDER BY id",
  );
  const listed = JSON.parse(
    await cli("quarantine", "list", "--json", "--limit", "1000", "--db", db),
  ) as Listed[];
  assert.deepEqual(listed.map((r) => BigInt(r.id)), stored.map((r) => BigInt(r.id as bigint)));
  assert.deepEqual(
    listed.map((r) => r.rawBytes),
    stored.map((r) => (r.raw as Uint8Array).length),
  );
  for (const row of listed) {
    assert.deepEqual(Object.keys(row).sort(), [
      "error",
      "id",
      "position",
      "quarantinedAt",
      "rawBytes",
      "runId",
      "source",
      "stream",
    ]);
    assert.equal(row.source, "file");
    assert.equal(row.runId, first.runId);
  }
  const unknown = listed.find((r) => r.stream.endsWith("c-unknown.avro")) as Listed;
  const garbage = listed.find((r) => r.stream.endsWith("d-garbage.avro")) as Listed;
  assert.match(unknown.error, /Unknown schema id 1203: .*no --schema-dir given/);
  assert.equal(garbage.position, "0:all");
  const page = JSON.parse(
    await cli("quarantine", "list", "--json", "--limit", "3", "--source", "file", "--db", db),
  ) as Listed[];
  assert.deepEqual(page, listed.slice(0, 3));
  const cursors = "SELECT source, stream, position FROM source_cursors ORDER BY stream";
  const cursorsBefore = await readDb(cursors);

  const replay = JSON.parse(
    await cli(
      "quarantine",
      "replay",
      "--schema-dir",
      n.schemaDir,
      "--no-cutouts",
      "--json",
      "--db",
      db,
    ),
  );
  assert.equal(replay.source, "quarantine-replay");
  assert.equal(replay.status, "completed");
  assert.equal(replay.rowsRead, n.framedIds.size + 2);
  assert.equal(replay.rowsReplayed, n.framedIds.size);
  assert.equal(replay.rowsStillFailing, 1);
  assert.equal(replay.rowsNotReplayable, 1);
  assert.deepEqual(replay.notReplayable, { "a damaged block or file (not whole records)": 1 });
  assert.equal(replay.alertsIngested, n.framedIds.size);
  assert.equal(replay.alertsQuarantined, 1);

  for (const table of COMPARED) {
    const [got, want] = [await tableRows(readDb, table), await tableRows(readRef, table)];
    assert.equal(got.length, want.length, table);
    assert.deepEqual(got, want, table);
  }
  assert.deepEqual(await readDb(cursors), cursorsBefore, "no cursor moves");
  const runs = await readDb(
    "SELECT source, status, alerts_ingested, alerts_quarantined FROM ingestion_runs ORDER BY run_id",
  );
  assert.deepEqual(runs.at(-1), {
    source: "quarantine-replay",
    status: "completed",
    alerts_ingested: BigInt(n.framedIds.size),
    alerts_quarantined: 1n,
  });

  // The record that still fails keeps its row and id, with the error of this attempt.
  const left = JSON.parse(await cli("quarantine", "list", "--json", "--db", db)) as Listed[];
  assert.deepEqual(left.map((r) => r.id), [unknown.id, garbage.id]);
  assert.equal(
    left[0]?.error,
    `Cannot decode the framed message "${unknown.stream}": Unknown schema id 1203: not stored in the database, not in --schema-dir "${n.schemaDir}" (no folder 12.3 or 12/3, no lsst.v12_3.*.avsc), no --schema-registry given`,
  );
  assert.deepEqual(left[1], garbage);

  // Replaying again changes nothing but the attempt's error, which is the same.
  const twice = JSON.parse(
    await cli(
      "quarantine",
      "replay",
      "--schema-dir",
      n.schemaDir,
      "--no-cutouts",
      "--json",
      "--db",
      db,
    ),
  );
  assert.deepEqual(
    [twice.rowsRead, twice.rowsReplayed, twice.rowsStillFailing, twice.alertsIngested],
    [2, 0, 1, 0],
  );
  assert.deepEqual(JSON.parse(await cli("quarantine", "list", "--json", "--db", db)), left);
  for (const table of COMPARED) {
    assert.deepEqual(await tableRows(readDb, table), await tableRows(readRef, table), table);
  }
}

testWith(FIXTURES !== null, NEED_FIXTURES, {
  name:
    "framed messages quarantined for an unknown schema id, replayed with --schema-dir, give the rows an informed ingest gives (SQLite)",
  async fn() {
    await withTempDir("lsst-replay-", async (root) => {
      const db = join(root, "alerts.db");
      const ref = join(root, "reference.db");
      await replayScenario(root, db, ref, sqliteReader(db), sqliteReader(ref));
    });
  },
});

testWith(FIXTURES !== null && POSTGRES_URL !== "", `${NEED_FIXTURES} and ${NEED_POSTGRES}`, {
  name:
    "framed messages quarantined for an unknown schema id, replayed with --schema-dir, give the rows an informed ingest gives (PostgreSQL)",
  async fn() {
    await withTempDir("lsst-replay-", async (root) => {
      await withPostgresDatabase(async (db) => {
        await withPostgresDatabase(async (ref) => {
          await withPostgresReader(db, async (readDb) => {
            await withPostgresReader(ref, async (readRef) => {
              await replayScenario(root, db, ref, readDb, readRef);
            });
          });
        });
      });
    });
  },
});

// --- each kind of row, through the module ----------------------------------------------------

/** The JSON:API answer ANTARES gives for a locus's alerts, integers exact on the wire. */
function alertsAnswer(alerts: Array<Record<string, unknown>>): Response {
  return new Response(
    stringifyExact({
      data: alerts.map((a) => ({
        type: "alert",
        id: a.alert_id,
        attributes: {
          mjd: a.mjd,
          properties: a.properties,
          processed_at: a.processed_at,
          grav_wave_events: [],
        },
      })),
    }),
    { headers: { "content-type": "application/vnd.api+json" } },
  );
}

testWith(FIXTURES !== null, NEED_FIXTURES, {
  name:
    "replayQuarantine() replays container records, CSV records, Kafka messages and ANTARES loci, and leaves what holds no record",
  async fn() {
    const schema = await loadSchemaVersion(join(FIXTURES as string, "lsst/schema"), "11.0");
    const type = createAvroType(schema);
    const packets = [...new MockSource({ count: 6, seed: 5, cutouts: false }).packets()]
      .map((p) => p.packet);
    const record = (i: number) => new Uint8Array(type.toBuffer(packets[i]));
    const antares = join(FIXTURES as string, "antares/lsst");
    const captured = parseExact(await Deno.readTextFile(join(antares, "alerts.json"))) as Array<
      Record<string, unknown>
    >;
    const locus = parseExact(await Deno.readTextFile(join(antares, "locus.json"))) as Record<
      string,
      unknown
    >;
    const locusId = String(locus.locus_id);
    let answering = false;
    await using api = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      const path = new URL(request.url).pathname;
      if (!answering || path !== `/v1/loci/${locusId}/alerts`) {
        return new Response(stringifyExact({ errors: [{ status: "404" }] }), { status: 404 });
      }
      return alertsAnswer(captured);
    });
    const apiBaseUrl = `http://127.0.0.1:${api.addr.port}/v1/`;

    await withTempDir("lsst-replay-", async (dir) => {
      const container = join(dir, "night.avro");
      await writeOcfFile(container, JSON.stringify(schema), type, packets.slice(0, 2));
      const csv = join(dir, "apdb.csv");
      await Deno.writeTextFile(
        csv,
        "\uFEFFdia_source_id,ra,dec,midpoint_mjd_tai,ss_object_id\n" +
          "1001,10.5,-5.25,61000.5,0\n1002,10.6,-5.35,61000.6,0\n",
      );
      const line = (text: string) => new TextEncoder().encode(text);
      const rows: QuarantineEntry[] = [
        // A container record: its file's header has the schema.
        { source: "file", stream: container, position: "1234:1", error: "old", raw: record(2) },
        // CSV records, one good now, one still bad (its real line is 9).
        {
          source: "file",
          stream: csv,
          position: "4",
          error: "old",
          raw: line("1005,11,-6,61001,7"),
        },
        {
          source: "file",
          stream: csv,
          position: "7",
          error: `Cannot import line 9 of "${csv}": old`,
          raw: line("1008,abc,-6,61001,0"),
        },
        // A Kafka message with an id the schema folder knows.
        {
          source: "kafka",
          stream: "lsst-alerts-v11/3",
          position: "42",
          error: "old",
          raw: framed(1100, record(3)),
        },
        // An ANTARES locus whose alerts could not be fetched.
        {
          source: "antares",
          stream: "extragalactic_staging/0",
          position: "7",
          error: "old",
          raw: new Uint8Array(encodeLocusMessage({
            data: {
              type: "locus",
              id: locusId,
              attributes: {
                ra: locus.ra,
                dec: locus.dec,
                properties: locus.properties,
                tags: locus.tags,
                catalogs: locus.catalogs,
              },
            },
          })),
        },
        // What holds no record.
        { source: "file", stream: container, position: "99:all", error: "damaged", raw: record(4) },
        { source: "file", stream: container, position: "0:all", error: "unreadable", raw: null },
        {
          source: "file:cutout",
          stream: container,
          position: "1234:0",
          error: "bad",
          raw: line("x"),
        },
        {
          source: "antares",
          stream: "extragalactic_staging/0",
          position: "8",
          error: "unmapped",
          raw: line('{"id":"lsst:1"}'),
        },
        { source: "mock", stream: "seed-1", position: "3", error: "mock", raw: line("x") },
      ];
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      await storage.initialize();
      const runId = await storage.beginRun("file", {});
      await storage.writeBatch(runId, {
        source: "file",
        alerts: [],
        quarantine: rows,
        cursors: [],
      });
      await storage.finishRun(runId, "completed", null);
      const ids = (await storage.listQuarantine()).map((r) => r.id);
      assert.equal(ids.length, rows.length);

      // The API does not answer yet: the locus stays, with the error of this attempt.
      const schemaDir = await rubinTree(dir);
      const options = { schemaDir, antaresApiBaseUrl: apiBaseUrl };
      const first = await replayQuarantine(storage, options);
      assert.deepEqual(
        [first.rowsRead, first.rowsReplayed, first.rowsStillFailing, first.rowsNotReplayable],
        [10, 3, 2, 5],
      );
      assert.deepEqual(first.notReplayable, {
        "a damaged block or file (not whole records)": 1,
        "no raw bytes were kept": 1,
        "a bad cutout (its alert is stored)": 1,
        "an ANTARES alert that did not map (only its id and time were kept)": 1,
        'records of source "mock" cannot be replayed': 1,
      });
      const alerts = queryDatabase(
        db,
        "SELECT dia_source_id, source, ss_object_id FROM alerts ORDER BY dia_source_id",
      );
      const expected = [
        { dia_source_id: 1005n, source: "file", ss_object_id: 7n },
        ...[2, 3].map((i) => {
          const source = packets[i]!.diaSource;
          return {
            dia_source_id: BigInt(source.diaSourceId),
            source: i === 2 ? "file" : "kafka",
            ss_object_id: source.ssObjectId ? BigInt(source.ssObjectId) : null,
          };
        }),
      ].sort((a, b) => (a.dia_source_id < b.dia_source_id ? -1 : 1));
      assert.deepEqual(alerts, expected);
      const kept = await storage.listQuarantine();
      assert.deepEqual(kept.map((r) => r.id), [ids[2], ids[4], ...ids.slice(5)]);
      assert.match(
        kept[0]?.error ?? "",
        new RegExp(`^Cannot import line 9 of "${csv.replaceAll(".", "\\.")}": .*"abc"`),
      );
      assert.match(
        kept[1]?.error ?? "",
        new RegExp(
          `^Cannot fetch the alerts of locus "${locusId}" in partition 0 of ANTARES topic "extragalactic_staging" at offset 7: `,
        ),
      );
      assert.deepEqual(kept.slice(2).map((r) => r.error), rows.slice(5).map((r) => r.error));

      // Now it answers: the locus's alerts and the locus are stored, its row removed.
      answering = true;
      const second = await replayQuarantine(storage, { ...options, source: "antares" });
      assert.deepEqual([second.rowsRead, second.rowsReplayed, second.alertsIngested], [2, 1, 16]);
      assert.deepEqual(queryDatabase(db, "SELECT locus_id FROM loci"), [{ locus_id: locusId }]);
      assert.equal(
        queryDatabase(db, "SELECT COUNT(*) AS n FROM alerts WHERE source = 'antares'")[0]?.n,
        16n,
      );
      assert.deepEqual((await storage.listQuarantine()).map((r) => r.id), [
        ids[2],
        ...ids.slice(5),
      ]);
      assert.deepEqual(queryDatabase(db, "SELECT * FROM source_cursors"), []);
    });
  },
});
