/**
 * The projected decoder against avsc's full decode, which is the reference: every Avro fixture,
 * mock alerts made to fit every schema version 7.0–11.1, and thousands of seeded random alerts.
 * For each, the projection with the survey's selection must equal the same fields taken from
 * avsc's value (ids exact as `bigint`, bytes byte for byte), the projection of everything must
 * equal avsc's whole value, and every projection must end where avsc ends.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import type avro from "avsc";
import { createAvroType, loadSchemaVersion, versionOfSchemaId } from "../avro/avro_schema.ts";
import { compileProjection, type Projection, type Selection } from "../avro/avro_projection.ts";
import { ByteStream } from "../avro/byte_stream.ts";
import { LSST_ALERT_SELECTION, toAlertRecord } from "../formats/lsst_packet.ts";
import { MockSource } from "../sources/mock/mock_source.ts";
import { readOcfBlocks, readOcfHeader } from "../avro/ocf_reader.ts";
import { ZTF_ALERT_SELECTION } from "../formats/ztf_packet.ts";
import { relaxZtfSchema } from "../formats/ztf_schema.ts";
import { conformDatum, randomDatum } from "./_avro_random.ts";
import { mulberry32 } from "./_fuzz.ts";
import { fixturesDir, testWith } from "./_support.ts";

const FIXTURES = fixturesDir();
const HAVE = FIXTURES !== null;
const WHY = "the shared fixtures (../shared/fixtures or $LSST_FIXTURES)";
const VERSIONS = ["7.0", "7.1", "7.2", "7.3", "7.4", "8.0", "9.0", "10.0", "11.0", "11.1"];

/** One schema with its three decoders. */
interface Decoders {
  type: avro.Type;
  selected: Projection;
  all: Projection;
  skip: Projection;
  selection: Selection;
}

function decoders(schema: unknown, selection: Selection): Decoders {
  return {
    type: createAvroType(schema),
    selected: compileProjection(schema, selection),
    all: compileProjection(schema, true),
    skip: compileProjection(schema, null),
    selection,
  };
}

const schemas = new Map<string, Promise<unknown>>();
function lsstSchema(version: string): Promise<unknown> {
  let schema = schemas.get(version);
  if (schema === undefined) {
    schema = loadSchemaVersion(join(FIXTURES as string, "lsst/schema"), version);
    schemas.set(version, schema);
  }
  return schema;
}

/**
 * Check one datum at `offset` of `bytes`; returns avsc's value.
 */
function assertEquivalent(d: Decoders, bytes: Uint8Array, offset: number, label: string): unknown {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reference = d.type.decode(buffer, offset);
  assert.ok(reference.offset > 0, `${label}: avsc could not decode it`);
  const selected = d.selected(bytes, offset);
  const all = d.all(bytes, offset);
  const skipped = d.skip(bytes, offset);
  assert.equal(selected.end, reference.offset, `${label}: end of the selected projection`);
  assert.equal(all.end, reference.offset, `${label}: end of the whole projection`);
  assert.equal(skipped.end, reference.offset, `${label}: end of the structural check`);
  assert.equal(skipped.value, undefined);
  assert.deepStrictEqual(
    plain(selected.value),
    plain(pick(reference.value, d.selection)),
    `${label}: selected fields`,
  );
  assert.deepStrictEqual(plain(all.value), plain(reference.value), `${label}: whole datum`);
  return reference.value;
}

/** The fields of `value` a selection names, through nullable unions and arrays. */
function pick(value: unknown, selection: Selection | true): unknown {
  if (selection === true || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => pick(item, selection));
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [name, sub] of Object.entries(selection)) {
    if (name in record) out[name] = pick(record[name], sub);
  }
  return out;
}

/**
 * A comparable copy: bytes as hex (avsc gives Buffers, the projection views), records as plain
 * objects (avsc gives class instances); numbers and bigints kept exactly (`-0`, NaN included).
 */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return `bytes:${Buffer.from(value).toString("hex")}`;
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = plain((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return value;
}

function encode(type: avro.Type, value: unknown): Uint8Array {
  const buffer = type.toBuffer(value);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

testWith(HAVE, WHY, {
  name: "projection: every framed Rubin fixture (cwf, cwf-heavy) equals avsc",
  async fn() {
    let checked = 0;
    for (const folder of ["lsst/cwf", "lsst/cwf-heavy"]) {
      for await (const entry of Deno.readDir(join(FIXTURES as string, folder))) {
        const bytes = await Deno.readFile(join(FIXTURES as string, folder, entry.name));
        const id = new DataView(bytes.buffer).getUint32(1);
        const d = decoders(await lsstSchema(versionOfSchemaId(id)), LSST_ALERT_SELECTION);
        assertEquivalent(d, bytes, 5, `${folder}/${entry.name}`);
        checked++;
      }
    }
    assert.ok(checked >= 16, `only ${checked} framed fixtures`);
  },
});

testWith(HAVE, WHY, {
  name: "projection: every container fixture (Rubin OCF, ZTF relaxed) equals avsc",
  async fn() {
    const files: Array<{ path: string; ztf: boolean }> = [];
    for await (const entry of Deno.readDir(join(FIXTURES as string, "lsst/ocf"))) {
      files.push({ path: join(FIXTURES as string, "lsst/ocf", entry.name), ztf: false });
    }
    for await (const entry of Deno.readDir(join(FIXTURES as string, "ztf"))) {
      files.push({ path: join(FIXTURES as string, "ztf", entry.name), ztf: true });
    }
    let records = 0;
    for (const { path, ztf } of files) {
      const stream = await ByteStream.open(path);
      try {
        const header = await readOcfHeader(stream);
        const parsed = JSON.parse(header.schemaJson);
        const d = ztf
          ? decoders(relaxZtfSchema(parsed), ZTF_ALERT_SELECTION)
          : decoders(parsed, LSST_ALERT_SELECTION);
        for await (const block of readOcfBlocks(stream, header)) {
          assert.equal(block.kind, "block", path);
          if (block.kind !== "block") continue;
          let offset = 0;
          for (let i = 0; i < block.count; i++) {
            assertEquivalent(d, block.data, offset, `${path} record ${i}`);
            offset = d.skip(block.data, offset).end;
            records++;
          }
          assert.equal(offset, block.data.length, `${path}: block fully read`);
        }
      } finally {
        stream.close();
      }
    }
    assert.ok(records >= 11, `only ${records} container records`);
  },
});

testWith(HAVE, WHY, {
  name: "projection: mock alerts made to fit every schema version 7.0-11.1 equal avsc",
  async fn() {
    const random = mulberry32(7011);
    const mocks = [...new MockSource({ count: 40, seed: 70, cutouts: true }).packets()];
    for (const version of VERSIONS) {
      const d = decoders(await lsstSchema(version), LSST_ALERT_SELECTION);
      for (const { index, packet } of mocks) {
        const value = conformDatum(d.type, packet, random);
        assert.ok(d.type.isValid(value), `${version} mock ${index} conforms`);
        const bytes = encode(d.type, value);
        const reference = assertEquivalent(d, bytes, 0, `v${version} mock ${index}`);
        // The mapper sees the same packet either way.
        const projected = d.selected(bytes, 0).value;
        assert.deepStrictEqual(
          plain(toAlertRecord(projected as never, version, { source: "mock" })),
          plain(toAlertRecord(reference as never, version, { source: "mock" })),
          `v${version} mock ${index}: alert record`,
        );
      }
    }
  },
});

testWith(HAVE, WHY, {
  name: "projection: 3,000 seeded random alerts across every version equal avsc",
  async fn() {
    const random = mulberry32(20261127);
    let checked = 0;
    for (const version of VERSIONS) {
      const d = decoders(await lsstSchema(version), LSST_ALERT_SELECTION);
      for (let i = 0; i < 300; i++) {
        const value = randomDatum(d.type, random, { maxItems: 4 });
        assertEquivalent(d, encode(d.type, value), 0, `v${version} random ${i}`);
        checked++;
      }
    }
    assert.equal(checked, 3000);
  },
});

testWith(HAVE, WHY, {
  name: "projection: a history with reassociation times (a future field) equals avsc",
  async fn() {
    // Writers may add ssObjectReassocTimeMjdTai to diaSource; the tracker must read it from
    // every history entry when it is there.
    const schema = structuredClone(await lsstSchema("11.0")) as Record<string, unknown>;
    let added = 0;
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(visit);
      if (node === null || typeof node !== "object") return;
      const record = node as Record<string, unknown>;
      if (record.type === "record" && String(record.name).endsWith("diaSource")) {
        (record.fields as unknown[]).push({
          name: "ssObjectReassocTimeMjdTai",
          type: ["null", "double"],
          default: null,
        });
        added++;
      }
      Object.values(record).forEach(visit);
    };
    visit(schema);
    assert.ok(added >= 1, "the 11.0 schema defines diaSource");
    const d = decoders(schema, LSST_ALERT_SELECTION);
    const random = mulberry32(11);
    let withTimes = 0;
    for (let i = 0; i < 300; i++) {
      const value = randomDatum(d.type, random, { maxItems: 5 }) as Record<string, unknown>;
      const bytes = encode(d.type, value);
      assertEquivalent(d, bytes, 0, `reassoc random ${i}`);
      const history = (d.selected(bytes, 0).value as { prvDiaSources: unknown[] | null })
        .prvDiaSources;
      if (
        history?.some((s) =>
          typeof (s as Record<string, unknown>).ssObjectReassocTimeMjdTai === "number"
        )
      ) {
        withTimes++;
      }
    }
    assert.ok(withTimes > 50, `only ${withTimes} histories carried reassociation times`);
  },
});

testWith(HAVE, WHY, {
  name: "projection: ids keep all 64 bits where a double would not",
  async fn() {
    const d = decoders(await lsstSchema("11.0"), LSST_ALERT_SELECTION);
    const mock = [...new MockSource({ count: 1, seed: 3, cutouts: false }).packets()][0]!.packet;
    const ids = [(1n << 63n) - 1n, -(1n << 63n), (1n << 53n) + 1n, 9007199254740993n];
    for (const id of ids) {
      const packet = {
        ...mock,
        diaSourceId: id,
        diaSource: { ...mock.diaSource, diaSourceId: id, ssObjectId: id ^ 1n },
      };
      const value = d.selected(encode(d.type, packet), 0).value as {
        diaSourceId: bigint;
        diaSource: { diaSourceId: bigint; ssObjectId: bigint };
      };
      assert.equal(value.diaSourceId, id);
      assert.equal(value.diaSource.diaSourceId, id);
      assert.equal(value.diaSource.ssObjectId, id ^ 1n);
    }
  },
});

testWith(HAVE, WHY, {
  name: "projection: a cut anywhere in a heavy alert is a RangeError naming where, never garbage",
  async fn() {
    const bytes = await Deno.readFile(
      join(FIXTURES as string, "lsst/cwf-heavy/fink-real-v10_0-0.avro"),
    );
    const d = decoders(await lsstSchema("10.0"), LSST_ALERT_SELECTION);
    const full = d.skip(bytes, 5).end;
    assert.equal(full, bytes.length);
    // Every cut in the first and last 2 KiB, and every 97th byte between.
    for (let cut = 5; cut < bytes.length; cut++) {
      if (cut > 2048 && cut < bytes.length - 2048 && cut % 97 !== 0) continue;
      const view = bytes.subarray(0, cut);
      for (const project of [d.selected, d.skip]) {
        assert.throws(
          () => project(view, 5),
          (error: unknown) =>
            error instanceof RangeError && /at byte \d+|ends inside/.test(error.message),
          `cut at ${cut}`,
        );
      }
    }
  },
});

Deno.test("projection: corrupt structure raises the documented errors", () => {
  const schema = {
    type: "record",
    name: "r",
    fields: [
      { name: "id", type: "long" },
      { name: "u", type: ["null", "string"] },
      { name: "items", type: { type: "array", items: "null" } },
      { name: "e", type: { type: "enum", name: "E", symbols: ["a", "b"] } },
      { name: "f", type: "boolean" },
    ],
  };
  const project = compileProjection(schema, { id: true, u: true, items: true, e: true, f: true }, {
    maxItems: 1000,
  });
  // id 1, u = "x", items = [], e = b, f = true.
  const good = [0x02, 0x02, 0x02, 0x78, 0x00, 0x02, 0x01];
  assert.deepStrictEqual(project(new Uint8Array(good), 0), {
    value: { id: 1n, u: "x", items: [], e: "b", f: true },
    end: 7,
  });
  const bad = (bytes: number[], pattern: RegExp) =>
    assert.throws(() => project(new Uint8Array(bytes), 0), (error: unknown) => {
      assert.ok(error instanceof RangeError, String(error));
      assert.match(error.message, pattern);
      return true;
    });
  bad([0x02, 0x06, 0x02, 0x78, 0x00, 0x02, 0x01], /union branch 3/i);
  bad([0x02, 0x02, 0x05, 0x78, 0x00, 0x02, 0x01], /negative|length -3/i);
  bad([0x02, 0x02, 0x7e, 0x78, 0x00, 0x02, 0x01], /ends inside|length 63/i);
  bad([0x02, 0x00, 0xd2, 0x0f, 0x00, 0x02, 0x01], /1001/);
  bad([0x02, 0x00, 0x00, 0x04, 0x01], /enum|symbol|index 2/i);
  bad([0x02, 0x00, 0x00, 0x02, 0x07], /boolean/i);
  bad([0x02, 0x00, 0x00, 0x02], /ends inside|truncat/i);
});

testWith(HAVE, WHY, {
  name: "projection: 3,000 seeded byte mutants agree with avsc or fail with a RangeError",
  async fn() {
    const original = await Deno.readFile(join(FIXTURES as string, "lsst/cwf/lsst.v11_0.avro"));
    const d = decoders(await lsstSchema("11.0"), LSST_ALERT_SELECTION);
    const random = mulberry32(4242);
    let agreed = 0;
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = original.slice();
      for (let k = 1 + Math.floor(random() * 3); k > 0; k--) {
        bytes[5 + Math.floor(random() * (bytes.length - 5))] = Math.floor(random() * 256);
      }
      let projected: { value: unknown; end: number };
      try {
        projected = d.selected(bytes, 5);
      } catch (error) {
        assert.ok(error instanceof RangeError, `mutant ${i}: ${error}`);
        rejected++;
        continue;
      }
      // Whatever the projection accepts, avsc reads the same way.
      const reference = d.type.decode(Buffer.from(bytes), 5);
      assert.equal(projected.end, reference.offset, `mutant ${i}: end`);
      assert.deepStrictEqual(
        plain(projected.value),
        plain(pick(reference.value, d.selection)),
        `mutant ${i}`,
      );
      agreed++;
    }
    assert.ok(agreed > 100 && rejected > 100, `agreed ${agreed}, rejected ${rejected}`);
  },
});

Deno.test("projection: strings short and long, ASCII or not, valid UTF-8 or not, in memory shared or not, decode as UTF-8 does", () => {
  const schema = { type: "record", name: "s", fields: [{ name: "t", type: "string" }] };
  const type = createAvroType(schema);
  const project = compileProjection(schema, true);
  const texts = [
    "",
    "r",
    "\x7f",
    "é",
    "日本語",
    "a".repeat(31) + "é",
    "x".repeat(32),
    "y".repeat(33),
    "ü".repeat(40),
    "🪐 minimoon",
  ];
  const utf8 = new TextDecoder();
  const cases: { label: string; bytes: Uint8Array; expected: string }[] = texts.map((t) => {
    const bytes = new Uint8Array(type.toBuffer({ t }));
    return { label: JSON.stringify(t), bytes, expected: t };
  });
  // Bytes that are not UTF-8 (a lone continuation byte, a cut sequence, 0xff), short and long:
  // the replacement character where UTF-8 decoding puts it.
  for (
    const body of [[0x61, 0xff], [0x80], [0x61, 0xe6, 0x97], new Array(40).fill(0x62).concat(0xc3)]
  ) {
    const bytes = new Uint8Array([body.length * 2, ...body]);
    cases.push({
      label: `bytes ${body.length}`,
      bytes,
      expected: utf8.decode(new Uint8Array(body)),
    });
  }
  for (const { label, bytes, expected } of cases) {
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length + 3), 3);
    shared.set(bytes);
    for (const [memory, view] of [["plain", bytes], ["shared", shared]] as const) {
      assert.deepStrictEqual(
        project(view, 0),
        { value: { t: expected }, end: bytes.length },
        `${label}, ${memory}`,
      );
    }
    if (!label.startsWith("bytes")) {
      const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      assert.equal((type.decode(buffer, 0).value as { t: string }).t, expected, `${label}: avsc`);
    }
  }
  assert.ok(cases.some((c) => c.expected.includes("\ufffd")), "a case decodes to U+FFFD");
});
