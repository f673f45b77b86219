/**
 * End to end on real files: the shared fixtures (real Rubin and ZTF alerts, the official
 * schemas), checked against independent readers (Apache Avro's Python library, fitsverify,
 * astropy), and files built here with the official v11 schema.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { gzipSync } from "node:zlib";
import {
  createAvroType,
  CutoutProcessor,
  encodeOcf,
  FileSource,
  ingest,
  loadSchemaVersion,
  MockSource,
  SQLiteStorage,
  writeOcfFile,
} from "../mod.ts";
import {
  FITSVERIFY,
  fixturesDir,
  pythonWith,
  queryDatabase,
  REPO_ROOT,
  run,
  testWith,
  withTempDir,
} from "./_support.ts";

const FIXTURES = fixturesDir();
const HAVE_FIXTURES = FIXTURES !== null;
const NEED_FIXTURES = "the shared fixtures (../shared/fixtures)";
const PYTHON_AVRO = pythonWith("avro");
const PYTHON_ASTROPY = pythonWith("astropy");
const ALERT_FOLDERS = ["lsst/ocf", "lsst/cwf", "lsst/cwf-heavy", "ztf"];

// Apache Avro's own Python reader, given the same files: ids printed as strings so nothing
// passes through a float.
const ORACLE = `
import glob, io, json, os, struct, sys
import avro.datafile, avro.io, avro.schema
root, folders = sys.argv[1], sys.argv[2:]
def rubin_schema(version):
    names = avro.schema.Names()
    files = sorted(glob.glob(os.path.join(root, "lsst/schema", version, "*.avsc")),
                   key=lambda f: f.endswith(".alert.avsc"))
    for f in files:
        schema = avro.schema.make_avsc_object(json.load(open(f)), names)
    return schema
def s(v):
    return None if v is None else str(v)
def describe(record):
    if "candidate" in record:
        prv = [p["candid"] for p in (record["prv_candidates"] or []) if p["candid"] is not None]
        return {"diaSourceId": s(record["candid"]), "alertId": s(record["candid"]),
                "ssObjectId": None, "history": [s(p) for p in prv], "historySs": [None] * len(prv)}
    source = record["diaSource"]
    top = record.get("diaSourceId", record.get("alertId"))
    prv = record.get("prvDiaSources") or []
    return {"diaSourceId": s(source["diaSourceId"]), "alertId": s(top),
            "ssObjectId": s(source["ssObjectId"] or None),
            "history": [s(p["diaSourceId"]) for p in prv],
            "historySs": [s(p["ssObjectId"] or None) for p in prv]}
out = {}
for folder in folders:
    for path in sorted(glob.glob(os.path.join(root, folder, "*.avro"))):
        data = open(path, "rb").read()
        if data[:4] == b"Obj\\x01":
            records = list(avro.datafile.DataFileReader(io.BytesIO(data), avro.io.DatumReader()))
        else:
            schema_id = struct.unpack(">i", data[1:5])[0]
            schema = rubin_schema("%d.%d" % (schema_id // 100, schema_id % 100))
            decoder = avro.io.BinaryDecoder(io.BytesIO(data[5:]))
            records = [avro.io.DatumReader(schema).read(decoder)]
        out[path] = [describe(r) for r in records]
print(json.dumps(out))
`;

testWith(HAVE_FIXTURES && PYTHON_AVRO !== null, `${NEED_FIXTURES} and python3-avro`, {
  name: "every fixture alert ingests with the ids, associations and histories Apache Avro reads",
  async fn() {
    const fixtures = FIXTURES as string;
    const oracle = await run(PYTHON_AVRO as string, ["-c", ORACLE, fixtures, ...ALERT_FOLDERS]);
    assert.equal(oracle.code, 0, oracle.stderr);
    const expected = JSON.parse(oracle.stdout) as Record<string, Array<Record<string, unknown>>>;
    assert.equal(Object.keys(expected).length, 9 + 11 + 5 + 2);

    await withTempDir("lsst-file-e2e-", async (dir) => {
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      await storage.initialize();
      const seen: Record<string, Array<Record<string, unknown>>> = {};
      for (const folder of ALERT_FOLDERS) {
        const source = new FileSource({
          path: join(fixtures, folder),
          schemaDir: join(fixtures, "lsst/schema"),
          schemaStore: storage,
        });
        for await (const item of source.alerts()) {
          assert.equal(item.kind, "alert", item.kind === "rejected" ? item.error.message : "");
          if (item.kind !== "alert") continue;
          const a = item.alert;
          (seen[item.cursor.stream] ??= []).push({
            diaSourceId: String(a.diaSourceId),
            alertId: String(a.alertId),
            ssObjectId: a.ssObjectId === null ? null : String(a.ssObjectId),
            history: a.history.map((h) => String(h.diaSourceId)),
            historySs: a.history.map((h) => (h.ssObjectId === null ? null : String(h.ssObjectId))),
          });
        }
      }
      assert.deepEqual(seen, expected);

      // Stored too, through the pipeline: the sample alerts of all versions share ids, so
      // the database keeps one row per distinct triggering DIASource.
      const run = await ingest(
        new FileSource({
          path: fixtures,
          schemaDir: join(fixtures, "lsst/schema"),
          schemaStore: storage,
        }),
        storage,
      );
      const distinct = new Set(Object.values(expected).flat().map((r) => r.diaSourceId));
      assert.equal(run.alertsIngested, distinct.size);
      const rows = queryDatabase(
        db,
        "SELECT dia_source_id, alert_id, survey, schema_version FROM alerts",
      );
      for (const row of rows) assert.ok(distinct.has(String(row.dia_source_id)));
      const surveys = new Set(rows.map((r) => r.survey));
      assert.deepEqual([...surveys].sort(), ["lsst", "ztf"]);
      // The README, the ANTARES captures and the .avsc files are not alerts: quarantined.
      assert.ok(run.alertsQuarantined > 0);
      // Every schema used is kept: ten LSST versions (7.0–11.1) and two ZTF ones.
      const schemas = queryDatabase(db, "SELECT id, version, survey FROM schemas");
      const versions = new Set(schemas.map((s) => `${s.survey} ${s.version}`));
      for (const v of ["7.0", "7.1", "7.2", "7.3", "7.4", "8.0", "9.0", "10.0", "11.0", "11.1"]) {
        assert.ok(versions.has(`lsst ${v}`), `schema ${v} stored`);
      }
      assert.ok(schemas.some((s) => s.survey === "ztf"));
      assert.ok(schemas.some((s) => s.id === 1101n));
    });
  },
});

testWith(
  HAVE_FIXTURES && FITSVERIFY !== null && PYTHON_ASTROPY !== null,
  `${NEED_FIXTURES}, fitsverify and python3-astropy`,
  {
    name: "real Rubin and ZTF cutouts are written as FITS files that fitsverify and astropy accept",
    async fn() {
      const fixtures = FIXTURES as string;
      await withTempDir("lsst-file-e2e-", async (dir) => {
        const db = join(dir, "alerts.db");
        await using storage = new SQLiteStorage(db);
        const files = join(dir, "in");
        await Deno.mkdir(files);
        await Deno.copyFile(
          join(fixtures, "lsst/cwf/boom-7912941781254298-v9_0-cutouts.avro"),
          join(files, "boom.avro"),
        );
        for (const name of await Array.fromAsync(Deno.readDir(join(fixtures, "ztf")))) {
          await Deno.copyFile(join(fixtures, "ztf", name.name), join(files, name.name));
        }
        const result = await ingest(
          new FileSource({
            path: files,
            schemaDir: join(fixtures, "lsst/schema"),
            schemaStore: storage,
          }),
          storage,
          { cutouts: new CutoutProcessor({ outputDir: join(dir, "cutouts") }) },
        );
        assert.equal(result.alertsIngested, 3);
        assert.equal(result.alertsQuarantined, 0);

        const rows = queryDatabase(
          db,
          "SELECT dia_source_id, survey, cutout_science, cutout_template, cutout_difference FROM alerts ORDER BY survey",
        );
        const boom = rows.find((r) => r.survey === "lsst");
        assert.equal(boom?.dia_source_id, 7912941781254298n);
        const sizes = await Promise.all(
          [boom?.cutout_difference, boom?.cutout_science, boom?.cutout_template].map(async (p) =>
            (await Deno.stat(String(p))).size
          ),
        );
        assert.deepEqual(sizes, [34_560, 34_560, 69_120]);
        const paths = rows.flatMap((
          r,
        ) => [r.cutout_science, r.cutout_template, r.cutout_difference]).map(String);
        assert.equal(paths.length, 9);
        for (const path of paths) {
          assert.ok(path.endsWith(".fits") && path.startsWith(join(dir, "cutouts")));
        }

        const verify = await run(FITSVERIFY as string, ["-q", "-e", ...paths]);
        assert.equal(verify.code, 0, verify.stdout + verify.stderr);
        const astropy = await run(PYTHON_ASTROPY as string, [
          "-c",
          `import sys, json
from astropy.io import fits
out = []
for p in sys.argv[1:]:
    with fits.open(p) as h:
        out.append([len(h), list(h[0].data.shape), str(h[0].data.dtype)])
print(json.dumps(out))`,
          ...paths,
        ]);
        assert.equal(astropy.code, 0, astropy.stderr);
        const opened = JSON.parse(astropy.stdout) as Array<[number, number[], string]>;
        // Rows are ordered lsst, ztf. Rubin: image, UNCERT and PSFIMAGE; ZTF: one image.
        assert.deepEqual(opened.map((o) => o[0]), [3, 3, 3, 1, 1, 1, 1, 1, 1]);
        assert.deepEqual(opened[0]?.slice(1), [[30, 30], ">f4"]);
        assert.deepEqual(opened[3]?.[1], [63, 63]);
      });
    },
  },
);

testWith(HAVE_FIXTURES, NEED_FIXTURES, {
  name: "v11 files whose histories link DIASources over time give exactly the expected detections",
  async fn() {
    const schema = await loadSchemaVersion(join(FIXTURES as string, "lsst/schema"), "11.0");
    const type = createAvroType(schema);
    const json = JSON.stringify(schema);
    const mock = new MockSource({ count: 3000, seed: 3, cutouts: false });
    const truth = mock.groundTruth();
    const packets = [...mock.packets()].map((p) => p.packet);
    await withTempDir("lsst-file-e2e-", async (dir) => {
      const files = join(dir, "night");
      await Deno.mkdir(files);
      // Three files, in name order; one gzipped, each with a different codec.
      await writeOcfFile(join(files, "a.avro"), json, type, packets.slice(0, 1000), {
        codec: "deflate",
      });
      const middle = join(dir, "b.avro");
      await writeOcfFile(middle, json, type, packets.slice(1000, 2000), { codec: "snappy" });
      await Deno.writeFile(join(files, "b.avro.gz"), gzipSync(await Deno.readFile(middle)));
      await writeOcfFile(join(files, "c.avro"), json, type, packets.slice(2000), { codec: "null" });

      await using storage = new SQLiteStorage(join(dir, "alerts.db"));
      const result = await ingest(new FileSource({ path: files }), storage, { batchSize: 400 });
      assert.equal(result.alertsIngested, 3000);
      assert.equal(result.alertsQuarantined, 0);
      assert.equal(result.newSources, truth.newSources);
      const stats = await storage.stats();
      assert.deepEqual(stats.reassociationsByReason, truth.byReason);
      assert.ok(truth.byReason.changed_association > 0 && truth.byReason.association_removed > 0);
      const stored = (await storage.listReassociations({ limit: 100_000 }))
        .map((d) => `${d.diaSourceId} ${d.reason} ${d.alertDiaSourceId}`).sort();
      const expected = truth.detections.map((d) =>
        `${d.diaSourceId} ${d.reason} ${d.alertDiaSourceId}`
      )
        .sort();
      assert.deepEqual(stored, expected);
    });
  },
});

testWith(HAVE_FIXTURES, NEED_FIXTURES, {
  name: "a truncated container and a garbage file are quarantined while their neighbours ingest",
  async fn() {
    const schema = await loadSchemaVersion(join(FIXTURES as string, "lsst/schema"), "11.0");
    const type = createAvroType(schema);
    const packets = [...new MockSource({ count: 300, seed: 9, cutouts: false }).packets()].map((
      p,
    ) => p.packet);
    await withTempDir("lsst-file-e2e-", async (dir) => {
      const files = join(dir, "in");
      await Deno.mkdir(files);
      await writeOcfFile(
        join(files, "1.avro"),
        JSON.stringify(schema),
        type,
        packets.slice(0, 100),
        {
          recordsPerBlock: 10,
        },
      );
      const whole = join(dir, "whole.avro");
      await writeOcfFile(whole, JSON.stringify(schema), type, packets.slice(100, 200), {
        recordsPerBlock: 10,
      });
      const bytes = await Deno.readFile(whole);
      await Deno.writeFile(
        join(files, "2-truncated.avro"),
        bytes.subarray(0, Math.floor(bytes.length * 0.55)),
      );
      await Deno.writeFile(
        join(files, "3-garbage.avro"),
        crypto.getRandomValues(new Uint8Array(5000)),
      );
      await writeOcfFile(join(files, "4.avro"), JSON.stringify(schema), type, packets.slice(200), {
        recordsPerBlock: 10,
      });
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const result = await ingest(new FileSource({ path: files }), storage);
      assert.equal(result.status, "completed");
      assert.equal(result.alertsQuarantined, 2);
      // Every complete block of the truncated file ingests: a multiple of 10 records.
      const fromTruncated = result.alertsIngested - 200;
      assert.ok(
        fromTruncated >= 40 && fromTruncated < 100 && fromTruncated % 10 === 0,
        String(fromTruncated),
      );
      const quarantine = queryDatabase(
        db,
        "SELECT stream, position, error, length(raw) AS n FROM quarantine ORDER BY id",
      );
      assert.match(String(quarantine[0]?.error), /The file is truncated: .*2-truncated\.avro/);
      assert.match(String(quarantine[0]?.position), /^\d+:all$/);
      assert.ok(Number(quarantine[0]?.n) > 0);
      assert.match(String(quarantine[1]?.error), /Unrecognised file|Avro container/);
      assert.equal(Number(quarantine[1]?.n), 5000);
      assert.equal(queryDatabase(db, "PRAGMA integrity_check")[0]?.integrity_check, "ok");

      // A second run resumes: nothing is read again, nothing quarantined twice.
      const again = await ingest(new FileSource({ path: files }), storage);
      assert.equal(again.recordsRead, 0);
    });
  },
});

Deno.test("a CSV export re-imported into an empty database gives the same alerts rows", async () => {
  await withTempDir("lsst-file-e2e-", async (dir) => {
    const cli = join(REPO_ROOT, "cli.ts");
    const permissions = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];
    const deno = (...args: string[]) => run(Deno.execPath(), ["run", ...permissions, cli, ...args]);
    const first = join(dir, "first.db");
    const second = join(dir, "second.db");
    const csv = join(dir, "alerts.csv");
    const ingested = await deno(
      "ingest",
      "--count",
      "800",
      "--db",
      first,
      "--cutouts-dir",
      join(dir, "c"),
      "--quiet",
    );
    assert.equal(ingested.code, 0, ingested.stderr);
    const exported = await deno("export", "--db", first, "--format", "csv", "--out", csv);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stderr, /Wrote 800 rows/);
    const imported = await deno(
      "ingest",
      "--source",
      "file",
      "--path",
      csv,
      "--db",
      second,
      "--json",
    );
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(JSON.parse(imported.stdout).alertsIngested, 800);

    const columns = queryDatabase(first, "PRAGMA table_info(alerts)").map((c) => String(c.name))
      // `snapshot` marks rows kept from snapshots (the import's rows are), not alert data.
      .filter((c) => !["run_id", "ingested_at", "history", "snapshot"].includes(c));
    const select = `SELECT ${columns.join(", ")} FROM alerts ORDER BY dia_source_id`;
    const before = queryDatabase(first, select);
    assert.deepEqual(queryDatabase(second, select), before);
    assert.ok(before.some((r) => r.is_reassociation === 1n), "flags survive the round trip");

    const json = await deno("export", "--db", first, "--format", "json", "--since-mjd", "61003");
    assert.equal(json.code, 0, json.stderr);
    const recent = before.filter((r) => Number(r.midpoint_mjd_tai) >= 61003);
    assert.equal(JSON.parse(json.stdout).length, recent.length);
    assert.match(json.stdout, new RegExp(`"dia_source_id":${recent[0]?.dia_source_id}[,}]`));
    const detections = await deno("export", "--db", first, "--reassociations");
    const lines = detections.stdout.trim().split(/\r?\n/);
    assert.equal(
      lines.length - 1,
      Number(queryDatabase(first, "SELECT COUNT(*) AS n FROM reassociations")[0]?.n),
    );
    assert.match(lines[0] ?? "", /^id,dia_source_id,reason,/);
  });
});

// --- files replaced, appended to, or whose stored block is gone ----------------------------------

/** The official v11.0 schema, parsed, and `count` mock packets of a seed. */
async function v11Packets(count: number, seed: number) {
  const schema = await loadSchemaVersion(join(FIXTURES as string, "lsst/schema"), "11.0");
  const packets = [...new MockSource({ count, seed, cutouts: false }).packets()].map((p) =>
    p.packet
  );
  return { json: JSON.stringify(schema), type: createAvroType(schema), packets };
}

/** A Confluent-framed message (schema id 1100) of a packet. */
function framed(type: ReturnType<typeof createAvroType>, packet: unknown): Uint8Array {
  const body = type.toBuffer(packet);
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setInt32(1, 1100);
  out.set(body, 5);
  return out;
}

function idsOfPackets(packets: readonly unknown[]): string[] {
  return packets.map((p) =>
    String((p as { diaSource: { diaSourceId: bigint } }).diaSource.diaSourceId)
  )
    .sort();
}

function storedAlertIds(db: string): string[] {
  return queryDatabase(db, "SELECT dia_source_id AS id FROM alerts").map((r) => String(r.id))
    .sort();
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function fileCursors(db: string): Array<Record<string, unknown>> {
  return queryDatabase(db, "SELECT stream, position, identity FROM source_cursors ORDER BY stream");
}

testWith(HAVE_FIXTURES, NEED_FIXTURES, {
  name:
    "a framed file and a container replaced under the same name with other alerts are read again",
  async fn() {
    const { json, type, packets } = await v11Packets(72, 31);
    const schemaDir = join(FIXTURES as string, "lsst/schema");
    await withTempDir("lsst-file-e2e-", async (dir) => {
      const files = join(dir, "in");
      await Deno.mkdir(files);
      const container = join(files, "night.avro");
      const message = join(files, "one.avro");
      await writeOcfFile(container, json, type, packets.slice(0, 30), { recordsPerBlock: 10 });
      await Deno.writeFile(message, framed(type, packets[30]));
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const source = () => new FileSource({ path: files, schemaDir, schemaStore: storage });
      const first = await ingest(source(), storage);
      assert.equal(first.alertsIngested, 31);
      const cursors = fileCursors(db);
      assert.match(String(cursors[0]?.position), /^\d+:9$/);
      assert.equal(cursors[1]?.position, "0");
      for (const c of cursors) assert.match(String(c.identity), /^size=\d+ head=[0-9a-f]{64}$/);

      // Other alerts under the same names: the container has more of them than before.
      await writeOcfFile(container, json, type, packets.slice(31, 71), { recordsPerBlock: 10 });
      await Deno.writeFile(message, framed(type, packets[71]));
      const second = await ingest(source(), storage);
      assert.equal(second.status, "completed");
      assert.equal(second.alertsQuarantined, 0);
      assert.equal(second.recordsRead, 41);
      assert.equal(second.alertsIngested, 41);
      assert.deepEqual(storedAlertIds(db), idsOfPackets(packets));
      const now = fileCursors(db);
      assert.notEqual(now[0]?.identity, cursors[0]?.identity);
      assert.notEqual(now[1]?.identity, cursors[1]?.identity);

      // Unchanged, they are not read again.
      const third = await ingest(source(), storage);
      assert.equal(third.recordsRead, 0);
    });
  },
});

testWith(HAVE_FIXTURES, NEED_FIXTURES, {
  name:
    "an appended-to container resumes after its stored block; one whose stored block is gone is read from its start",
  async fn() {
    const { json, type, packets } = await v11Packets(120, 32);
    await withTempDir("lsst-file-e2e-", async (dir) => {
      const files = join(dir, "in");
      await Deno.mkdir(files);
      const path = join(files, "growing.avro");
      const sync = crypto.getRandomValues(new Uint8Array(16));
      // Under 64 KiB at first: the identity's hash then covers the whole file, and still the
      // appended file is the same one.
      await Deno.writeFile(
        path,
        concat([...encodeOcf(json, type, packets.slice(0, 4), { recordsPerBlock: 2, sync })]),
      );
      assert.ok((await Deno.stat(path)).size < 64 * 1024);
      const db = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(db);
      const first = await ingest(new FileSource({ path: files }), storage);
      assert.equal(first.alertsIngested, 4);

      const more = [...encodeOcf(json, type, packets.slice(4, 40), { recordsPerBlock: 6, sync })];
      // The same sync marker, without a second header: blocks written on to the file.
      await Deno.writeFile(path, concat(more.slice(1)), { append: true });
      assert.ok((await Deno.stat(path)).size > 64 * 1024);
      const appended = await ingest(new FileSource({ path: files }), storage);
      assert.equal(appended.recordsRead, 36, "only the new blocks were read");
      assert.equal(appended.alertsIngested, 36);
      assert.equal(appended.alertsSkipped, 0);

      // A cursor of an older version (no identity) into a file replaced since: its stored block
      // offset lands inside another file's bytes.
      const write = new DatabaseSync(db);
      write.exec("UPDATE source_cursors SET identity = NULL");
      await writeOcfFile(path, json, type, packets.slice(40, 100), { recordsPerBlock: 7 });
      const replaced = await ingest(new FileSource({ path: files }), storage);
      assert.equal(replaced.alertsQuarantined, 0, "no bytes mistaken for a damaged block");
      assert.equal(replaced.recordsRead, 60);
      assert.equal(replaced.alertsIngested, 60);

      // A stored position that is no block's start (the identity still matches), also in a
      // gzipped copy, which cannot seek: read from the start, the stored alerts skipped.
      const gzipped = join(files, "replayed.avro.gz");
      await Deno.writeFile(gzipped, gzipSync(await Deno.readFile(path)));
      const both = await ingest(new FileSource({ path: files }), storage);
      assert.equal(both.alertsSkipped, 60);
      for (const c of fileCursors(db)) {
        const [offset, record] = String(c.position).split(":");
        write.prepare("UPDATE source_cursors SET position = ? WHERE stream = ?")
          .run(`${Number(offset) + 5}:${record}`, String(c.stream));
      }
      write.close();
      const misplaced = await ingest(new FileSource({ path: files }), storage);
      assert.equal(misplaced.alertsQuarantined, 0);
      assert.equal(misplaced.recordsRead, 120);
      assert.equal(misplaced.alertsSkipped, 120);
      assert.equal(queryDatabase(db, "SELECT COUNT(*) AS n FROM quarantine")[0]?.n, 0n);
      assert.deepEqual(storedAlertIds(db), idsOfPackets(packets.slice(0, 100)));
    });
  },
});
