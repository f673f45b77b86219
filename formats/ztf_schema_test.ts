import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Readable } from "node:stream";
import avro from "avsc";
import { fixturesDir, pythonWith, run, testWith } from "../tests/_support.ts";
import { createAvroType } from "../avro/avro_schema.ts";
import { relaxZtfSchema } from "./ztf_schema.ts";

const FIXTURES = fixturesDir();
const PYTHON = pythonWith("avro");
const ZTF_FILES = ["2019_01_10_739260766315010006.avro", "472263571115115000.avro"];

interface Decoded {
  schema: unknown;
  records: Record<string, unknown>[];
  /** Each record's bytes exactly as stored in the file. */
  raw: Buffer[];
}

// avsc's typings say parseHook returns a Type; it returns the schema to parse (containers.js).
const parseHook = relaxZtfSchema as unknown as (schema: avro.Schema) => avro.Type;

function drain<T>(stream: Readable): Promise<T[]> {
  const items: T[] = [];
  return new Promise((resolve, reject) => {
    stream.on("data", (item: T) => items.push(item));
    stream.on("end", () => resolve(items));
    stream.on("error", reject);
  });
}

/**
 * Decode a ZTF Object Container File with avsc: the embedded writer schema is relaxed through
 * `parseHook` (avsc parses it without a registry), the reader type has bigint longs.
 */
async function decodeZtf(path: string): Promise<Decoded> {
  const schema = avro.extractFileHeader(path).meta["avro.schema"];
  const readerSchema = createAvroType(relaxZtfSchema(schema));
  const records = await drain<Record<string, unknown>>(
    avro.createFileDecoder(path, { readerSchema, parseHook }),
  );
  const raw = await drain<Buffer>(
    avro.createFileDecoder(path, { noDecode: true, parseHook }),
  );
  return { schema, records, raw };
}

// Walks every record field of a schema, counting what the test needs independently of the
// implementation: defaults in total, and `null` defaults of unions whose first branch is not null.
function countDefaults(schema: unknown): { all: number; nullOnNonNullUnion: number } {
  const counts = { all: 0, nullOnNonNullUnion: 0 };
  const walk = (type: unknown): void => {
    if (Array.isArray(type)) return type.forEach(walk);
    if (typeof type !== "object" || type === null) return;
    const node = type as Record<string, unknown>;
    if (node.type === "array") walk(node.items);
    if (node.type === "map") walk(node.values);
    for (const field of (node.fields ?? []) as Record<string, unknown>[]) {
      if ("default" in field) {
        counts.all++;
        const first = Array.isArray(field.type) ? field.type[0] : field.type;
        if (field.default === null && first !== "null") counts.nullOnNonNullUnion++;
      }
      walk(field.type);
    }
  };
  walk(schema);
  return counts;
}

function record(fields: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: "record", name: "r", namespace: "test", fields, ...extra };
}

function defaultsOf(schema: unknown): Record<string, unknown> {
  const fields = (schema as { fields: { name: string; default?: unknown }[] }).fields;
  return Object.fromEntries(
    fields.filter((field) => "default" in field).map((field) => [field.name, field.default]),
  );
}

Deno.test("relaxZtfSchema() drops a null default on a union whose first branch is not null", () => {
  const schema = record([
    { name: "magpsf", type: ["float", "null"], default: null },
    { name: "ssnamenr", type: ["null", "string"], default: null },
    { name: "tooflag", type: ["int", "null"], default: 0 },
  ]);
  assert.throws(() => createAvroType(schema), /union defaults must match the first branch/);
  const relaxed = relaxZtfSchema(schema);
  assert.deepEqual(defaultsOf(relaxed), { ssnamenr: null, tooflag: 0 });
  const type = createAvroType(relaxed) as avro.types.RecordType;
  assert.deepEqual(type.fields.map((field) => field.defaultValue()), [undefined, null, 0]);
});

Deno.test("relaxZtfSchema() keeps every valid default, of every type, and avsc accepts them", () => {
  const fields = [
    { name: "n", type: "null", default: null },
    { name: "b", type: "boolean", default: true },
    { name: "i", type: "int", default: -(2 ** 31) },
    { name: "l", type: "long", default: 2 ** 60 },
    { name: "f", type: "float", default: 1.5 },
    { name: "d", type: { type: "double" }, default: -0.25 },
    { name: "s", type: "string", default: "" },
    { name: "by", type: "bytes", default: "\u0000\u00ff" },
    { name: "fx", type: { type: "fixed", name: "two", size: 2 }, default: "ab" },
    { name: "e", type: { type: "enum", name: "band", symbols: ["g", "r"] }, default: "r" },
    { name: "a", type: { type: "array", items: "int" }, default: [1, 2] },
    { name: "m", type: { type: "map", values: ["null", "long"] }, default: { x: null } },
    { name: "ts", type: { type: "long", logicalType: "timestamp-millis" }, default: 0 },
    {
      name: "rec",
      type: {
        type: "record",
        name: "inner",
        fields: [{ name: "x", type: "int" }, { name: "y", type: "string", default: "z" }],
      },
      default: { x: 1 },
    },
    { name: "u", type: ["string", "null"], default: "text" },
  ];
  const schema = record(fields);
  const relaxed = relaxZtfSchema(schema);
  assert.deepEqual(relaxed, schema);
  const type = createAvroType(relaxed) as avro.types.RecordType;
  assert.equal(type.fields.filter((field) => field.defaultValue() !== undefined).length, 15);
});

Deno.test("relaxZtfSchema() drops every default that is invalid for its type", () => {
  const fields = [
    { name: "i1", type: "int", default: 2 ** 31 },
    { name: "i2", type: "int", default: 1.5 },
    { name: "l", type: "long", default: "1" },
    { name: "f", type: "float", default: "NaN" },
    { name: "s", type: "string", default: null },
    { name: "bo", type: "boolean", default: 0 },
    { name: "by", type: "bytes", default: "\u0100" },
    { name: "fx", type: { type: "fixed", name: "two", size: 2 }, default: "abc" },
    { name: "e", type: { type: "enum", name: "band", symbols: ["g", "r"] }, default: "u" },
    { name: "a", type: { type: "array", items: "int" }, default: [1, "2"] },
    { name: "m", type: { type: "map", values: "long" }, default: { x: null } },
    { name: "ma", type: { type: "map", values: "long" }, default: [] },
    {
      name: "rec",
      type: {
        type: "record",
        name: "inner",
        fields: [{ name: "x", type: "int" }, { name: "y", type: ["int", "null"], default: null }],
      },
      // x is missing and has no default; y's own default is invalid, so neither can be filled.
      default: {},
    },
    { name: "rec2", type: "inner", default: { x: 1 } },
    { name: "u", type: ["long", "null"], default: null },
    { name: "ok", type: ["null", "long"], default: null },
  ];
  const relaxed = relaxZtfSchema(record(fields));
  assert.deepEqual(defaultsOf(relaxed), { ok: null });
  const inner = (relaxed as { fields: { type: { fields: unknown[] } }[] }).fields[12]!.type;
  assert.deepEqual(defaultsOf(inner), {});
  createAvroType(relaxed);
});

Deno.test("relaxZtfSchema() resolves named types through namespaces, as ZTF's cutout unions need", () => {
  const cutout = {
    type: "record",
    name: "cutout",
    namespace: "ztf.alert",
    fields: [{ name: "fileName", type: "string" }, { name: "stampData", type: "bytes" }],
  };
  const schema = {
    type: "record",
    name: "alert",
    namespace: "ztf",
    fields: [
      { name: "cutoutScience", type: [cutout, "null"], default: null },
      { name: "cutoutTemplate", type: ["ztf.alert.cutout", "null"], default: null },
      // Another namespace's short name: "cutout" alone does not resolve from "ztf".
      { name: "other", type: ["cutout", "null"], default: null },
      {
        name: "nested",
        type: {
          type: "record",
          name: "holder",
          namespace: "ztf.alert",
          fields: [
            { name: "short", type: ["cutout", "null"], default: null },
            { name: "filled", type: "cutout", default: { fileName: "a", stampData: "" } },
          ],
        },
      },
    ],
  };
  const relaxed = relaxZtfSchema(schema) as { fields: { type: unknown }[] };
  assert.deepEqual(defaultsOf(relaxed), { other: null });
  assert.deepEqual(defaultsOf(relaxed.fields[3]!.type), {
    filled: { fileName: "a", stampData: "" },
  });
});

Deno.test("relaxZtfSchema() drops an enum-level default that is not one of its symbols", () => {
  const schema = record([
    { name: "a", type: { type: "enum", name: "a", symbols: ["x", "y"], default: "z" } },
    { name: "b", type: { type: "enum", name: "b", symbols: ["x", "y"], default: "y" } },
  ]);
  assert.throws(() => createAvroType(schema), /invalid/);
  const relaxed = relaxZtfSchema(schema) as { fields: { type: Record<string, unknown> }[] };
  assert.equal("default" in relaxed.fields[0]!.type, false);
  assert.equal(relaxed.fields[1]!.type.default, "y");
  createAvroType(relaxed);
});

Deno.test("relaxZtfSchema() terminates on a record whose default refers to itself", () => {
  const schema = record([{ name: "self", type: "r", default: {} }]);
  assert.deepEqual(defaultsOf(relaxZtfSchema(schema)), {});
  const linked = record([
    { name: "value", type: "int", default: 1 },
    { name: "next", type: ["null", "r"], default: null },
  ]);
  assert.deepEqual(relaxZtfSchema(linked), linked);
});

Deno.test("relaxZtfSchema() keeps defaults it cannot judge: unknown named types", () => {
  const schema = record([{ name: "x", type: ["some.Unknown", "null"], default: null }]);
  assert.deepEqual(relaxZtfSchema(schema), schema);
});

Deno.test('relaxZtfSchema() copies a "__proto__" key of parsed JSON as data', () => {
  const schema = JSON.parse(
    '{"type": "record", "name": "r", "fields": [{"name": "a", "type": "int", ' +
      '"__proto__": {"default": "not an int"}}]}',
  );
  const relaxed = relaxZtfSchema(schema) as { fields: Record<string, unknown>[] };
  const field = relaxed.fields[0]!;
  assert.equal(Object.getPrototypeOf(field), Object.prototype);
  assert.equal("default" in field, false);
  assert.deepEqual(Object.keys(field), ["name", "type", "__proto__"]);
});

Deno.test("relaxZtfSchema() returns a deep copy and leaves its input untouched", () => {
  const schema = record([
    { name: "a", type: ["float", "null"], default: null, doc: "kept" },
    { name: "b", type: { type: "array", items: "string" }, default: ["x"] },
  ], { version: "3.3" });
  const before = structuredClone(schema);
  const relaxed = relaxZtfSchema(schema) as typeof schema & { fields: Record<string, unknown>[] };
  assert.deepEqual(schema, before);
  assert.notEqual(relaxed, schema);
  assert.notEqual(relaxed.fields, schema.fields);
  assert.notEqual(relaxed.fields[1], (schema.fields as unknown[])[1]);
  assert.notEqual(
    relaxed.fields[1]!.default,
    (schema.fields as { default: unknown }[])[1]!.default,
  );
  assert.equal(relaxed.version, "3.3");
  assert.equal(relaxed.fields[0]!.doc, "kept");
  assert.equal(relaxZtfSchema("long"), "long");
});

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "avsc rejects the embedded ZTF 3.2 and 3.3 schemas as they are and accepts them relaxed",
  fn() {
    for (const file of ZTF_FILES) {
      const schema = avro.extractFileHeader(join(FIXTURES!, "ztf", file)).meta["avro.schema"];
      assert.throws(
        () => createAvroType(schema),
        /incompatible field default null .*union defaults must match the first branch/,
        file,
      );
      const relaxed = relaxZtfSchema(schema);
      createAvroType(relaxed);
      const before = countDefaults(schema);
      const after = countDefaults(relaxed);
      // Only the invalid ones go: tooflag's ["int", "null"] default 0 stays.
      assert.ok(before.nullOnNonNullUnion >= 127, `${file}: ${before.nullOnNonNullUnion}`);
      assert.deepEqual(after, {
        all: before.all - before.nullOnNonNullUnion,
        nullOnNonNullUnion: 0,
      }, file);
      assert.ok(after.all >= 1, file);
    }
  },
});

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "re-encoding each decoded ZTF record with the relaxed schema gives the file's exact bytes",
  async fn() {
    for (const file of ZTF_FILES) {
      const { schema, records, raw } = await decodeZtf(join(FIXTURES!, "ztf", file));
      assert.equal(records.length, 1, file);
      assert.equal(raw.length, 1, file);
      const type = createAvroType(relaxZtfSchema(schema));
      assert.ok(type.toBuffer(records[0]).equals(raw[0]!), file);
    }
  },
});

// Prints what the test compares, with 64-bit ids as strings so JSON cannot round them.
const PYTHON_DUMP = `
import hashlib, json, sys
from avro.datafile import DataFileReader
from avro.io import DatumReader
reader = DataFileReader(open(sys.argv[1], "rb"), DatumReader())
out = []
for r in reader:
    c = r["candidate"]
    prv = r["prv_candidates"] or []
    out.append({
        "schemavsn": r["schemavsn"],
        "candid": str(r["candid"]),
        "objectId": r["objectId"],
        "jd": c["jd"],
        "fid": c["fid"],
        "magpsf": c["magpsf"],
        "isdiffpos": c["isdiffpos"],
        "ssnamenr": c["ssnamenr"],
        "prv": [None if p["candid"] is None else str(p["candid"]) for p in prv],
        "prvSsnamenr": [p["ssnamenr"] for p in prv],
        "stamps": [hashlib.sha256(r[k]["stampData"]).hexdigest()
                   for k in ("cutoutScience", "cutoutTemplate", "cutoutDifference")],
    })
reader.close()
print(json.dumps(out))
`;

testWith(FIXTURES !== null && PYTHON !== null, "the shared fixtures and python3-avro", {
  name: "avsc with the relaxed schema decodes the ZTF fixtures exactly as python3-avro does",
  async fn() {
    for (const file of ZTF_FILES) {
      const path = join(FIXTURES!, "ztf", file);
      const { code, stdout, stderr } = await run(PYTHON!, ["-c", PYTHON_DUMP, path]);
      assert.equal(code, 0, stderr);
      const { records } = await decodeZtf(path);
      const ours = records.map((r) => {
        const c = r.candidate as Record<string, unknown>;
        const prv = (r.prv_candidates ?? []) as Record<string, unknown>[];
        const stamp = (key: string) =>
          createHash("sha256").update((r[key] as { stampData: Buffer }).stampData).digest("hex");
        assert.equal(typeof r.candid, "bigint");
        return {
          schemavsn: r.schemavsn,
          candid: String(r.candid),
          objectId: r.objectId,
          jd: c.jd,
          fid: c.fid,
          magpsf: c.magpsf,
          isdiffpos: c.isdiffpos,
          ssnamenr: c.ssnamenr,
          prv: prv.map((p) => p.candid === null ? null : String(p.candid)),
          prvSsnamenr: prv.map((p) => p.ssnamenr),
          stamps: ["cutoutScience", "cutoutTemplate", "cutoutDifference"].map(stamp),
        };
      });
      assert.deepEqual(ours, JSON.parse(stdout), file);
    }
  },
});
