/**
 * What reaches the tables from packets at the edges of what is supported: a real-format v10
 * solar-system alert (diaObjectId 0), LSST packets older than 5.0, and ZTF 1.x packets, which
 * carry no `schemavsn`.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import avro from "avsc";
import {
  createAvroType,
  FileSource,
  ingest,
  loadSchemaVersion,
  relaxZtfSchema,
  SQLiteStorage,
  writeOcfFile,
} from "../mod.ts";
import { fixturesDir, queryDatabase, testWith, withTempDir } from "./_support.ts";

const FIXTURES = fixturesDir();
const NEED = "the shared fixtures (../shared/fixtures)";
const SS_OBJECT_ID = 21000000000011111n;

/** Ingest files into a new database and return it, for queries. */
async function ingestFiles(dir: string, path: string, schemaDir?: string): Promise<string> {
  const db = join(dir, "alerts.db");
  await using storage = new SQLiteStorage(db);
  const run = await ingest(
    new FileSource({ path, schemaStore: storage, ...(schemaDir ? { schemaDir } : {}) }),
    storage,
  );
  assert.equal(run.status, "completed", run.error ?? "");
  return db;
}

function framed(id: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setInt32(1, id);
  out.set(body, 5);
  return out;
}

testWith(FIXTURES !== null, NEED, {
  name: "a v10 solar-system alert with diaObjectId 0 is stored without a DIAObject in both tables",
  async fn() {
    await withTempDir("lsst-versions-", async (dir) => {
      const schemaDir = join(FIXTURES as string, "lsst/schema");
      const type = createAvroType(await loadSchemaVersion(schemaDir, "10.0"));
      const sample = await Deno.readFile(join(FIXTURES as string, "lsst/cwf/lsst.v10_0.avro"));
      const packet = type.fromBuffer(Buffer.from(sample.subarray(5)));
      // As Rubin sends them: "no DIAObject" is 0, not null, and such alerts carry no history.
      packet.diaSource.diaObjectId = 0n;
      packet.diaSource.ssObjectId = SS_OBJECT_ID;
      packet.prvDiaSources = null;
      packet.prvDiaForcedSources = null;
      packet.diaObject = null;
      const file = join(dir, "sso.avro");
      await Deno.writeFile(file, framed(1000, type.toBuffer(packet)));

      const db = await ingestFiles(dir, file, schemaDir);
      const id = BigInt(packet.diaSource.diaSourceId);
      assert.deepEqual(
        queryDatabase(db, "SELECT dia_source_id, dia_object_id, ss_object_id FROM alerts"),
        [{ dia_source_id: id, dia_object_id: null, ss_object_id: SS_OBJECT_ID }],
      );
      assert.deepEqual(
        queryDatabase(db, "SELECT dia_source_id, dia_object_id FROM processed_sources"),
        [{ dia_source_id: id, dia_object_id: null }],
      );
    });
  },
});

// A v4.0-style schema: the names Rubin used before 5.0 (`decl`, `midPointTai`, `alertId`).
const V4_DIA_SOURCE = {
  type: "record",
  name: "diaSource",
  namespace: "lsst.v4_0",
  fields: [
    { name: "diaSourceId", type: "long" },
    { name: "ccdVisitId", type: "long" },
    { name: "diaObjectId", type: ["null", "long"], default: null },
    { name: "midPointTai", type: "double" },
    { name: "ra", type: "double" },
    { name: "decl", type: "double" },
    { name: "psFlux", type: ["null", "float"], default: null },
  ],
};

function v4Schema(namespace: string): Record<string, unknown> {
  return {
    type: "record",
    name: "alert",
    namespace,
    fields: [
      { name: "alertId", type: "long" },
      { name: "diaSource", type: { ...V4_DIA_SOURCE, namespace } },
      {
        name: "prvDiaSources",
        type: ["null", { type: "array", items: `${namespace}.diaSource` }],
        default: null,
      },
    ],
  };
}

const V4_PACKET = {
  alertId: 41n,
  diaSource: {
    diaSourceId: 41n,
    ccdVisitId: 7n,
    diaObjectId: 12n,
    midPointTai: 59000.5,
    ra: 10.5,
    decl: -20.25,
    psFlux: 1.5,
  },
  prvDiaSources: null,
};

testWith(FIXTURES !== null, NEED, {
  name: "LSST packets older than 5.0 are quarantined as an unsupported schema version",
  async fn() {
    await withTempDir("lsst-versions-", async (dir) => {
      const inputs = join(dir, "in");
      await Deno.mkdir(inputs);
      // A container embedding lsst.v4_0.alert.
      const v4 = v4Schema("lsst.v4_0");
      await writeOcfFile(
        join(inputs, "a-container.avro"),
        JSON.stringify(v4),
        createAvroType(v4),
        [V4_PACKET],
      );
      // A framed message with id 400, its schema from --schema-dir (Rubin's one file a record).
      const schemaDir = join(dir, "schemas");
      await Deno.mkdir(join(schemaDir, "4.0"), { recursive: true });
      await Deno.writeTextFile(join(schemaDir, "4.0/lsst.v4_0.alert.avsc"), JSON.stringify(v4));
      await Deno.writeFile(
        join(inputs, "b-framed.avro"),
        framed(400, createAvroType(v4).toBuffer(V4_PACKET)),
      );
      // A schema that names no version at all: the old field names still tell.
      const anonymous = v4Schema("broker.export");
      await writeOcfFile(
        join(inputs, "c-unnamed.avro"),
        JSON.stringify(anonymous),
        createAvroType(anonymous),
        [V4_PACKET],
      );

      const db = await ingestFiles(dir, inputs, schemaDir);
      assert.deepEqual(queryDatabase(db, "SELECT COUNT(*) AS n FROM alerts"), [{ n: 0n }]);
      const errors = queryDatabase(db, "SELECT stream, error FROM quarantine ORDER BY stream")
        .map((r): [string, string] => [String(r.stream).slice(inputs.length + 1), String(r.error)]);
      assert.equal(errors.length, 3, JSON.stringify(errors));
      for (const [stream, error] of errors.slice(0, 2)) {
        assert.match(
          error,
          /Unsupported LSST alert schema version "4\.0" \(supported: 5\.0–11\.1\)/,
          stream,
        );
        assert.doesNotMatch(error, /diaSource\.dec is missing/, stream);
      }
      assert.match(
        errors[2]?.[1] ?? "",
        /Unsupported LSST alert schema version "unknown" \(supported: 5\.0–11\.1\): diaSource has "decl" and "midPointTai"/,
      );
    });
  },
});

testWith(FIXTURES !== null, NEED, {
  name: "a ZTF 1.x packet (no schemavsn) is stored with the version its schema names",
  async fn() {
    await withTempDir("lsst-versions-", async (dir) => {
      const fixture = join(FIXTURES as string, "ztf/472263571115115000.avro");
      const header = avro.extractFileHeader(fixture);
      // avsc parses the header's schema JSON.
      const embedded = header.meta["avro.schema"] as unknown as {
        version: string;
        fields: { name: string }[];
      };
      const reader = createAvroType(relaxZtfSchema(embedded));
      const packets: Record<string, unknown>[] = [];
      await new Promise<void>((resolve, reject) => {
        avro.createFileDecoder(fixture, {
          readerSchema: reader,
          parseHook: relaxZtfSchema as unknown as (schema: avro.Schema) => avro.Type,
        })
          .on("data", (p: Record<string, unknown>) => packets.push(p))
          .on("end", resolve)
          .on("error", reject);
      });
      // ZTF 1.x: the same alert record without the schemavsn field; the schema says "1.8".
      const old = {
        ...embedded,
        version: "1.8",
        fields: embedded.fields.filter((f) => f.name !== "schemavsn"),
      };
      const records = packets.map(({ schemavsn: _, ...rest }) => rest);
      const file = join(dir, "ztf-1.avro");
      await writeOcfFile(file, JSON.stringify(old), createAvroType(relaxZtfSchema(old)), records);

      const db = await ingestFiles(dir, file);
      assert.deepEqual(
        queryDatabase(db, "SELECT survey, schema_version FROM alerts"),
        [{ survey: "ztf", schema_version: "1.8" }],
      );
    });
  },
});
