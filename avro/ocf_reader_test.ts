import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { deflateRawSync, gzipSync } from "node:zlib";
import type avro from "avsc";
import { fixturesDir, pythonWith, run, testWith } from "../tests/_support.ts";
import { createAvroType } from "./avro_schema.ts";
import { ByteStream } from "./byte_stream.ts";
import {
  type OcfBlock,
  type OcfDamage,
  type OcfHeader,
  OcfHeaderError,
  type OcfLimits,
  readOcfBlocks,
  readOcfHeader,
} from "./ocf_reader.ts";
import { encodeOcf, type OcfWriteOptions, writeOcfFile } from "./ocf_writer.ts";
import { relaxZtfSchema } from "../formats/ztf_schema.ts";

const FIXTURES = fixturesDir();
const AVRO_PYTHON = pythonWith("avro");
const MAX_INT64 = 2n ** 63n - 1n;
const MIN_INT64 = -(2n ** 63n);
const MB = 2 ** 20;
const CODECS = ["null", "deflate", "snappy"] as const;
const SYNC = new Uint8Array([
  0xc3,
  0x17,
  0x5e,
  0x90,
  0x2b,
  0xf4,
  0x61,
  0x0d,
  0xa8,
  0x33,
  0x7c,
  0xe1,
  0x46,
  0x9f,
  0x02,
  0xbd,
]);

const SCHEMA = {
  type: "record",
  name: "Probe",
  namespace: "test.ocf",
  fields: [
    { name: "id", type: "long" },
    { name: "name", type: "string" },
    { name: "payload", type: "bytes" },
    { name: "flux", type: ["null", "double"], default: null },
    { name: "note", type: ["null", "string"], default: null },
    { name: "history", type: { type: "array", items: "long" } },
  ],
};
const SCHEMA_JSON = JSON.stringify(SCHEMA);
const TYPE = createAvroType(SCHEMA);

interface Probe {
  id: bigint;
  name: string;
  payload: Buffer;
  flux: number | null;
  note: string | null;
  history: bigint[];
}

/** Records covering every field kind; ids above 2^53 in both signs and at the int64 ends. */
function makeRecords(n: number, options: { largePayloadAt?: number } = {}): Probe[] {
  const records: Probe[] = [];
  for (let i = 0; i < n; i++) {
    const id = i === 0
      ? MAX_INT64
      : i === 1
      ? MIN_INT64
      : (i % 2 === 0 ? 1n : -1n) * (2n ** 53n + 1n + BigInt(i) * 1_000_000_007n);
    const payloadLength = i === options.largePayloadAt ? 300_000 : (i * 37) % 200;
    const payload = Buffer.alloc(payloadLength);
    for (let j = 0; j < payloadLength; j++) payload[j] = (i * 7 + j * 13 + (j >> 9)) & 0xff;
    records.push({
      id,
      name: `source ${i} Ωmega ☄`,
      payload,
      flux: i % 3 === 0 ? null : i * 0.5 - 3.25e-7,
      note: i % 4 === 0 ? null : "n".repeat(i % 5),
      history: Array.from({ length: i % 6 }, (_, k) => BigInt(i) * 2n ** 40n + BigInt(k)),
    });
  }
  return records;
}

/** A record as plain data, so records decoded by avsc compare with the originals. */
function plain(record: unknown): Record<string, unknown> {
  const r = record as Probe;
  return {
    id: r.id,
    name: r.name,
    payload: new Uint8Array(r.payload),
    flux: r.flux,
    note: r.note,
    history: [...r.history],
  };
}

/** Byte equality that reports the first difference (a deep-equal diff of 300 KB never ends). */
function assertBytes(actual: Uint8Array, expected: Uint8Array, what = "bytes"): void {
  const length = Math.min(actual.length, expected.length);
  let i = 0;
  while (i < length && actual[i] === expected[i]) i++;
  if (i < length || actual.length !== expected.length) {
    assert.fail(
      `${what} differ from index ${i} (lengths ${actual.length} and ${expected.length}, ` +
        `bytes ${actual[i]} and ${expected[i]})`,
    );
  }
}

function assertRecords(actual: unknown[], expected: Probe[]): void {
  assert.equal(actual.length, expected.length, "record count");
  actual.forEach((record, i) => {
    const { payload, ...rest } = plain(record);
    const { payload: expectedPayload, ...expectedRest } = plain(expected[i]);
    assert.deepEqual(rest, expectedRest, `record ${i}`);
    assertBytes(payload as Uint8Array, expectedPayload as Uint8Array, `payload of record ${i}`);
  });
}

function decodeBlock(type: avro.Type, block: OcfBlock): unknown[] {
  const buffer = Buffer.from(block.data.buffer, block.data.byteOffset, block.data.length);
  const records: unknown[] = [];
  let position = 0;
  for (let i = 0; i < block.count; i++) {
    const { value, offset } = type.decode(buffer, position);
    assert.ok(offset > position, `record ${i} of the block at ${block.offset} decodes`);
    records.push(value);
    position = offset;
  }
  assert.equal(position, block.data.length, `the block at ${block.offset} has no bytes left`);
  return records;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Avro's zig-zag varint, from the specification. */
function long(value: bigint): Uint8Array {
  return unsignedVarint(BigInt.asUintN(64, (value << 1n) ^ (value >> 63n)));
}

function unsignedVarint(value: bigint): Uint8Array {
  const out: number[] = [];
  let n = value;
  do {
    const low = Number(n & 0x7fn);
    n >>= 7n;
    out.push(n > 0n ? low | 0x80 : low);
  } while (n > 0n);
  return new Uint8Array(out);
}

function readVarint(bytes: Uint8Array, at: number): { value: bigint; next: number } {
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    const byte = bytes[at + i]!;
    value |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) return { value, next: at + i + 1 };
  }
  throw new RangeError("varint longer than 10 bytes");
}

function zigzag(raw: bigint): bigint {
  return (raw >> 1n) ^ -(raw & 1n);
}

interface WrittenBlock {
  offset: number;
  count: bigint;
  data: Uint8Array;
}

/** A container as encodeOcf writes it, split into header and blocks so tests can damage it. */
interface Container {
  header: Uint8Array;
  blocks: WrittenBlock[];
}

function encode(records: Probe[], options: OcfWriteOptions): Container {
  // Plain copies: the writer yields Buffers, which never deep-equal a Uint8Array.
  const [header, ...chunks] = [...encodeOcf(SCHEMA_JSON, TYPE, records, { sync: SYNC, ...options })]
    .map((chunk) => new Uint8Array(chunk));
  let offset = header!.length;
  const blocks = chunks.map((chunk) => {
    const count = readVarint(chunk, 0);
    const size = readVarint(chunk, count.next);
    const data = chunk.subarray(size.next, chunk.length - 16);
    assert.equal(Number(zigzag(size.value)), data.length);
    assert.deepEqual(chunk.subarray(chunk.length - 16), SYNC);
    const block = { offset, count: zigzag(count.value), data };
    offset += chunk.length;
    return block;
  });
  return { header: header!, blocks };
}

function blockBytes(count: bigint, size: bigint, data: Uint8Array, sync = SYNC): Uint8Array {
  return concat(long(count), long(size), data, sync);
}

/** The container's bytes, with some blocks replaced by other bytes. */
function assemble(container: Container, replace: Map<number, Uint8Array> = new Map()): Uint8Array {
  return concat(
    container.header,
    ...container.blocks.map((block, i) =>
      replace.get(i) ?? blockBytes(block.count, BigInt(block.data.length), block.data)
    ),
  );
}

/** Offset of block `i` once the blocks before it have been replaced. */
function offsetIn(container: Container, replace: Map<number, Uint8Array>, i: number): number {
  let offset = container.header.length;
  for (let j = 0; j < i; j++) {
    const block = container.blocks[j]!;
    offset += replace.get(j)?.length ??
      blockBytes(block.count, BigInt(block.data.length), block.data).length;
  }
  return offset;
}

async function withTempDir(work: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lsst-ocf-reader-" });
  try {
    await work(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function readFile(
  path: string,
  limits: OcfLimits = {},
): Promise<{ header: OcfHeader; items: (OcfBlock | OcfDamage)[]; end: number }> {
  const stream = await ByteStream.open(path);
  try {
    const header = await readOcfHeader(stream);
    const items: (OcfBlock | OcfDamage)[] = [];
    for await (const item of readOcfBlocks(stream, header, limits)) {
      // Blocks may be views into the stream's buffers: keep copies.
      items.push(item.kind === "block" ? { ...item, data: item.data.slice() } : item);
    }
    return { header, items, end: stream.offset };
  } finally {
    stream.close();
  }
}

async function readBytes(
  dir: string,
  bytes: Uint8Array,
  limits: OcfLimits = {},
): Promise<{ header: OcfHeader; items: (OcfBlock | OcfDamage)[]; end: number }> {
  const path = join(dir, "damaged.avro");
  await Deno.writeFile(path, bytes);
  return await readFile(path, limits);
}

function blocksOf(items: (OcfBlock | OcfDamage)[]): OcfBlock[] {
  return items.filter((item): item is OcfBlock => item.kind === "block");
}

function damageOf(items: (OcfBlock | OcfDamage)[]): OcfDamage[] {
  return items.filter((item): item is OcfDamage => item.kind === "damaged");
}

/** The ids of the records in the blocks that came out. */
function idsOf(items: (OcfBlock | OcfDamage)[]): bigint[] {
  return blocksOf(items).flatMap((block) => decodeBlock(TYPE, block).map((r) => (r as Probe).id));
}

/** The ids of the records written, without those of the given blocks. */
function idsWithout(container: Container, records: Probe[], lost: number[]): bigint[] {
  let at = 0;
  const ids: bigint[] = [];
  container.blocks.forEach((block, i) => {
    const inBlock = records.slice(at, at + Number(block.count)).map((r) => r.id);
    if (!lost.includes(i)) ids.push(...inBlock);
    at += Number(block.count);
  });
  return ids;
}

/** Six blocks of three records: enough to damage one and still see good blocks on both sides. */
function sixBlocks(codec: OcfWriteOptions["codec"] = "null"): {
  records: Probe[];
  container: Container;
} {
  const records = makeRecords(18);
  const container = encode(records, { codec, recordsPerBlock: 3 });
  assert.equal(container.blocks.length, 6);
  return { records, container };
}

function assertDamage(
  damage: OcfDamage | undefined,
  expected: { offset: number; message: RegExp; raw?: Uint8Array; maxRawBytes?: number },
): void {
  assert.ok(damage, "a damaged region is reported");
  assert.equal(damage.kind, "damaged");
  assert.equal(damage.offset, expected.offset);
  assert.match(damage.error, expected.message);
  assert.ok(damage.raw.length <= (expected.maxRawBytes ?? 16 * MB), "raw is bounded");
  if (expected.raw !== undefined) assertBytes(damage.raw, expected.raw, "raw");
}

for (const codec of CODECS) {
  for (const recordsPerBlock of [1, 7, 100, 1000]) {
    Deno.test(`readOcfBlocks() gives back exactly the records encodeOcf() wrote with the ${codec} codec, ${recordsPerBlock} per block`, async () => {
      await withTempDir(async (dir) => {
        const records = makeRecords(250, { largePayloadAt: 5 });
        const container = encode(records, { codec, recordsPerBlock });
        const path = join(dir, `probe-${codec}.avro`);
        const written = await writeOcfFile(path, SCHEMA_JSON, TYPE, records, {
          codec,
          recordsPerBlock,
          sync: SYNC,
        });
        assertBytes(await Deno.readFile(path), assemble(container), "the file");

        const { header, items, end } = await readFile(path);
        assert.equal(header.codec, codec);
        assert.equal(header.schemaJson, SCHEMA_JSON);
        assert.deepEqual(header.sync, SYNC);
        assert.equal(header.length, container.header.length);
        assert.equal(end, written);
        assert.deepEqual(damageOf(items), []);
        assert.deepEqual(
          items.map((item) => item.kind === "block" && [item.offset, item.count]),
          container.blocks.map((block) => [block.offset, Number(block.count)]),
        );
        assert.equal(items.length, Math.ceil(250 / recordsPerBlock));
        const decoded = blocksOf(items).flatMap((block) => decodeBlock(TYPE, block));
        assertRecords(decoded, records);
      });
    });
  }
}

testWith(
  AVRO_PYTHON !== null,
  "python3-avro (apt install python3-avro)",
  {
    name:
      "python3-avro reads the null and deflate containers encodeOcf() writes, record for record",
    async fn() {
      const script = [
        "import json, sys, avro.datafile, avro.io",
        "with avro.datafile.DataFileReader(open(sys.argv[1], 'rb'), avro.io.DatumReader()) as r:",
        "    print(r.get_meta('avro.codec').decode())",
        "    for x in r:",
        "        print(json.dumps([str(x['id']), x['name'], x['payload'].hex(), x['flux'],",
        "                          x['note'], [str(h) for h in x['history']]]))",
      ].join("\n");
      await withTempDir(async (dir) => {
        const records = makeRecords(60, { largePayloadAt: 5 });
        for (const codec of ["null", "deflate"] as const) {
          const path = join(dir, `probe-${codec}.avro`);
          await writeOcfFile(path, SCHEMA_JSON, TYPE, records, { codec, recordsPerBlock: 7 });
          const out = await run(AVRO_PYTHON!, ["-c", script, path]);
          assert.equal(out.code, 0, out.stderr);
          const [writtenCodec, ...lines] = out.stdout.trimEnd().split("\n");
          assert.equal(writtenCodec, codec);
          assert.equal(lines.length, records.length);
          assert.equal(JSON.parse(lines[0]!)[0], "9223372036854775807");
          records.forEach((r, i) => {
            // Parsed, not compared as text: Python and JavaScript print floats differently.
            const [id, name, payloadHex, flux, note, history] = JSON.parse(lines[i]!);
            assert.deepEqual(
              [id, name, flux, note, history],
              [String(r.id), r.name, r.flux, r.note, r.history.map(String)],
              `record ${i} (${codec})`,
            );
            assert.ok(
              payloadHex === r.payload.toString("hex"),
              `payload of record ${i} (${codec})`,
            );
          });
        }
      });
    },
  },
);

testWith(FIXTURES !== null, "the shared fixtures (set LSST_FIXTURES)", {
  name: "readOcfBlocks() reads every real fixture container as one undamaged block of one record",
  async fn() {
    const files = [
      ...[...Deno.readDirSync(join(FIXTURES!, "lsst", "ocf"))].map((e) => ["lsst", "ocf", e.name]),
      ...[...Deno.readDirSync(join(FIXTURES!, "ztf"))].map((e) => ["ztf", e.name]),
    ].filter((parts) => parts.at(-1)!.endsWith(".avro"));
    assert.ok(files.length >= 11, `found ${files.length} fixture containers`);
    for (const parts of files) {
      const path = join(FIXTURES!, ...parts);
      const { header, items, end } = await readFile(path);
      assert.equal(header.codec, "null", path);
      assert.equal(items.length, 1, path);
      const [block] = blocksOf(items);
      assert.ok(block, `${path} has an undamaged block`);
      assert.equal(block.count, 1, path);
      assert.equal(block.offset, header.length, path);
      assert.equal(end, (await Deno.stat(path)).size, path);

      // The block's bytes are exactly one record of the embedded schema.
      const survey = parts[0];
      const schema = JSON.parse(header.schemaJson);
      const type = createAvroType(survey === "ztf" ? relaxZtfSchema(schema) : schema);
      const [record] = decodeBlock(type, block) as Record<string, unknown>[];
      if (survey === "ztf") {
        assert.equal(
          (record!.candidate as { candid: bigint }).candid,
          BigInt(/(\d+)\.avro$/.exec(path)![1]!),
        );
      } else {
        assert.equal(
          (record!.diaSource as { diaSourceId: bigint }).diaSourceId,
          281323062375219200n,
          path,
        );
      }
    }
  },
});

Deno.test("readOcfBlocks() reads a gzipped container like the plain one", async () => {
  await withTempDir(async (dir) => {
    const records = makeRecords(40);
    const container = encode(records, { codec: "deflate", recordsPerBlock: 6 });
    const path = join(dir, "probe.avro.gz");
    await Deno.writeFile(path, gzipSync(assemble(container)));
    const { items } = await readFile(path);
    assert.deepEqual(
      items.map((item) => item.kind === "block" && item.offset),
      container.blocks.map((block) => block.offset),
    );
    assert.deepEqual(idsOf(items), records.map((r) => r.id));
  });
});

Deno.test("readOcfBlocks() yields nothing for a container with a header and no blocks", async () => {
  await withTempDir(async (dir) => {
    const { header, items, end } = await readBytes(dir, encode([], {}).header);
    assert.equal(end, header.length);
    assert.deepEqual(items, []);
  });
});

Deno.test("readOcfBlocks() reports a block whose sync marker has a flipped byte and reads the block after it", async () => {
  await withTempDir(async (dir) => {
    const { records, container } = sixBlocks();
    const bad = container.blocks[2]!;
    const badSync = SYNC.slice();
    badSync[7]! ^= 0x40;
    const replace = new Map([[
      2,
      blockBytes(bad.count, BigInt(bad.data.length), bad.data, badSync),
    ]]);
    const { items } = await readBytes(dir, assemble(container, replace), { maxRawBytes: 20 });
    const damage = damageOf(items);
    assert.equal(damage.length, 1);
    // Sixteen bytes exactly where the size puts the marker, nearly equal to it: the marker is
    // damaged, not the size, so only this block is lost.
    assertDamage(damage[0], {
      offset: bad.offset,
      message: new RegExp(
        `^Block at offset ${bad.offset} ends with a damaged sync marker; reading resumes at offset ${
          container.blocks[3]!.offset
        }$`,
      ),
      raw: bad.data.subarray(0, 20),
      maxRawBytes: 20,
    });
    assert.equal(items[2], damage[0]);
    assert.deepEqual(
      blocksOf(items).map((block) => block.offset),
      [0, 1, 3, 4, 5].map((i) => container.blocks[i]!.offset),
    );
    assert.deepEqual(idsOf(items), idsWithout(container, records, [2]));
  });
});

Deno.test("readOcfBlocks() keeps a block's bytes, a foreign marker and the next block as one damaged region", async () => {
  await withTempDir(async (dir) => {
    const { records, container } = sixBlocks();
    const bad = container.blocks[2]!;
    const otherSync = SYNC.map((b) => b ^ 0xff);
    const replace = new Map([[
      2,
      blockBytes(bad.count, BigInt(bad.data.length), bad.data, otherSync),
    ]]);
    const { items } = await readBytes(dir, assemble(container, replace));
    const damage = damageOf(items);
    assert.equal(damage.length, 1);
    const three = container.blocks[3]!;
    assertDamage(damage[0], {
      offset: bad.offset,
      message: new RegExp(
        `^Block at offset ${bad.offset} is not followed by the file's sync marker; reading resumes at offset ${
          container.blocks[4]!.offset
        }$`,
      ),
      raw: concat(
        bad.data,
        otherSync,
        blockBytes(three.count, BigInt(three.data.length), three.data).subarray(0, -16),
      ),
    });
    assert.deepEqual(idsOf(items), idsWithout(container, records, [2, 3]));
  });
});

Deno.test("readOcfBlocks() reports a block claiming 2^40 bytes without allocating them and resumes after its sync marker", async () => {
  await withTempDir(async (dir) => {
    const { records, container } = sixBlocks();
    const bad = container.blocks[2]!;
    const replace = new Map([[2, blockBytes(bad.count, 2n ** 40n, bad.data)]]);
    const before = Deno.memoryUsage().rss;
    const { items } = await readBytes(dir, assemble(container, replace), { maxRawBytes: 50 });
    const grown = Deno.memoryUsage().rss - before;
    assert.ok(grown < 100 * MB, `rss grew by ${grown} bytes`);
    const damage = damageOf(items);
    assert.equal(damage.length, 1);
    assertDamage(damage[0], {
      offset: bad.offset,
      message: new RegExp(
        `^Block at offset ${bad.offset} claims 1099511627776 bytes \\(limit 268435456\\); reading resumes at offset ${
          offsetIn(container, replace, 3)
        }$`,
      ),
      raw: bad.data.subarray(0, 50),
      maxRawBytes: 50,
    });
    assert.deepEqual(idsOf(items), idsWithout(container, records, [2]));
  });
});

Deno.test("readOcfBlocks() reports a block claiming 2^40 records and resumes after its sync marker", async () => {
  await withTempDir(async (dir) => {
    const { records, container } = sixBlocks();
    const bad = container.blocks[1]!;
    const replace = new Map([[1, blockBytes(2n ** 40n, BigInt(bad.data.length), bad.data)]]);
    const { items } = await readBytes(dir, assemble(container, replace));
    const damage = damageOf(items);
    assert.equal(damage.length, 1);
    assertDamage(damage[0], {
      offset: bad.offset,
      message: new RegExp(`^Block at offset ${bad.offset} claims 1099511627776 records; reading`),
      raw: bad.data,
    });
    assert.deepEqual(idsOf(items), idsWithout(container, records, [1]));
  });
});

Deno.test("readOcfBlocks() reports a negative record count or size as damage", async () => {
  await withTempDir(async (dir) => {
    const { records, container } = sixBlocks();
    const one = container.blocks[1]!;
    const four = container.blocks[4]!;
    const replace = new Map([
      [1, blockBytes(-3n, BigInt(one.data.length), one.data)],
      [4, blockBytes(four.count, -1n, four.data)],
    ]);
    const { items } = await readBytes(dir, assemble(container, replace));
    const damage = damageOf(items);
    assert.equal(damage.length, 2);
    assertDamage(damage[0], { offset: one.offset, message: /claims -3 records/, raw: one.data });
    assertDamage(damage[1], {
      offset: offsetIn(container, replace, 4),
      message: /claims -1 bytes/,
      raw: four.data,
    });
    assert.deepEqual(idsOf(items), idsWithout(container, records, [1, 4]));
  });
});

Deno.test("readOcfBlocks() reports a file truncated inside its last block with the bytes left, after the good blocks", async () => {
  await withTempDir(async (dir) => {
    const { records, container } = sixBlocks();
    const bytes = assemble(container);
    const last = container.blocks[5]!;
    const dataStart = last.offset + long(last.count).length + long(BigInt(last.data.length)).length;
    // Inside the size varint is impossible (one byte), so: after the count, mid-data, mid-marker.
    for (const cut of [last.offset + 1, dataStart + 10, bytes.length - 5]) {
      const { items, end } = await readBytes(dir, bytes.subarray(0, cut));
      assert.equal(end, cut);
      const damage = damageOf(items);
      assert.equal(damage.length, 1, `cut at ${cut}`);
      assert.equal(items.at(-1), damage[0]);
      assertDamage(damage[0], {
        offset: last.offset,
        message: new RegExp(`^The file is truncated: Input ends at offset ${cut} inside `),
        raw: cut > dataStart ? bytes.subarray(dataStart, cut) : new Uint8Array(0),
      });
      assert.deepEqual(idsOf(items), idsWithout(container, records, [5]));
    }
  });
});

Deno.test("readOcfHeader() throws OcfHeaderError for a file truncated inside its header", async () => {
  await withTempDir(async (dir) => {
    const { header } = encode([], {});
    for (const cut of [0, 3, 4, 5, 30, header.length - 16, header.length - 1]) {
      await assert.rejects(
        readBytes(dir, header.subarray(0, cut)),
        (error: unknown) => {
          assert.ok(error instanceof OcfHeaderError, `cut at ${cut}: ${error}`);
          assert.match(
            error.message,
            new RegExp(`^Cannot read the container header: Input ends at offset ${cut} inside`),
          );
          return true;
        },
      );
    }
  });
});

Deno.test("readOcfHeader() rejects a file whose magic is not Obj\\x01", async () => {
  await withTempDir(async (dir) => {
    const { container } = sixBlocks();
    const bytes = assemble(container);
    bytes[3] = 0x02;
    await assert.rejects(readBytes(dir, bytes), (error: unknown) => {
      assert.ok(error instanceof OcfHeaderError);
      assert.match(error.message, /^Not an Avro container file: the magic bytes are not Obj/);
      return true;
    });
  });
});

function handWrittenHeader(metadata: Record<string, string>): Uint8Array {
  const text = new TextEncoder();
  const entries = Object.entries(metadata).flatMap(([key, value]) => {
    const k = text.encode(key);
    const v = text.encode(value);
    return [long(BigInt(k.length)), k, long(BigInt(v.length)), v];
  });
  return concat(
    new Uint8Array([0x4f, 0x62, 0x6a, 0x01]),
    long(BigInt(Object.keys(metadata).length)),
    ...entries,
    long(0n),
    SYNC,
  );
}

Deno.test("readOcfHeader() rejects the unknown codec zstandard by name", async () => {
  await withTempDir(async (dir) => {
    const header = handWrittenHeader({ "avro.schema": SCHEMA_JSON, "avro.codec": "zstandard" });
    await assert.rejects(readBytes(dir, header), (error: unknown) => {
      assert.ok(error instanceof OcfHeaderError);
      assert.match(
        error.message,
        /^Unsupported codec "zstandard": expected null, deflate, snappy$/,
      );
      return true;
    });

    // The same hand-written header with a known codec reads: only the codec was wrong.
    const good = handWrittenHeader({ "avro.schema": SCHEMA_JSON, "avro.codec": "deflate" });
    const { header: read } = await readBytes(dir, good);
    assert.equal(read.codec, "deflate");
    assert.equal(read.length, good.length);
  });
});

Deno.test("readOcfBlocks() reports a deflate block of garbage as not decompressible, keeping at most maxRawBytes", async () => {
  await withTempDir(async (dir) => {
    const { records, container } = sixBlocks("deflate");
    const bad = container.blocks[3]!;
    const garbage = new Uint8Array(bad.data.length).fill(0xff);
    const replace = new Map([[3, blockBytes(bad.count, BigInt(garbage.length), garbage)]]);
    const { items } = await readBytes(dir, assemble(container, replace), { maxRawBytes: 10 });
    const damage = damageOf(items);
    assert.equal(damage.length, 1);
    assertDamage(damage[0], {
      offset: bad.offset,
      message: new RegExp(`^Cannot decompress the deflate block at offset ${bad.offset}: `),
      raw: garbage.subarray(0, 10),
      maxRawBytes: 10,
    });
    assert.equal(items[3], damage[0]);
    assert.deepEqual(idsOf(items), idsWithout(container, records, [3]));
  });
});

Deno.test("readOcfBlocks() reports a deflate block that inflates past maxBlockBytes", async () => {
  await withTempDir(async (dir) => {
    const { records, container } = sixBlocks("deflate");
    const bomb = deflateRawSync(new Uint8Array(4 * MB));
    assert.ok(bomb.length < 10_000);
    const replace = new Map([[2, blockBytes(3n, BigInt(bomb.length), bomb)]]);
    const { items } = await readBytes(dir, assemble(container, replace), {
      maxBlockBytes: MB,
      maxRawBytes: 100,
    });
    const damage = damageOf(items);
    assert.equal(damage.length, 1);
    assertDamage(damage[0], {
      offset: container.blocks[2]!.offset,
      message: /^Cannot decompress the deflate block at offset \d+: /,
      raw: new Uint8Array(bomb).subarray(0, 100),
      maxRawBytes: 100,
    });
    assert.deepEqual(idsOf(items), idsWithout(container, records, [2]));
  });
});

Deno.test("readOcfBlocks() reports a snappy block whose CRC-32 does not match", async () => {
  await withTempDir(async (dir) => {
    const { records, container } = sixBlocks("snappy");
    const bad = container.blocks[4]!;
    const data = bad.data.slice();
    data[data.length - 1]! ^= 0x01;
    const replace = new Map([[4, blockBytes(bad.count, BigInt(data.length), data)]]);
    const { items } = await readBytes(dir, assemble(container, replace));
    const damage = damageOf(items);
    assert.equal(damage.length, 1);
    assertDamage(damage[0], {
      offset: bad.offset,
      message: new RegExp(
        `^Cannot decompress the snappy block at offset ${bad.offset}: the CRC-32 does not match$`,
      ),
      raw: data,
    });
    assert.deepEqual(idsOf(items), idsWithout(container, records, [4]));
  });
});

Deno.test("readOcfBlocks() reports a snappy block claiming 4 GB uncompressed without allocating it", async () => {
  await withTempDir(async (dir) => {
    const { records, container } = sixBlocks("snappy");
    const bad = container.blocks[1]!;
    const length = readVarint(bad.data, 0);
    const data = concat(unsignedVarint(2n ** 32n), bad.data.subarray(length.next));
    assert.deepEqual(data.subarray(0, 5), new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x10]));
    const replace = new Map([[1, blockBytes(bad.count, BigInt(data.length), data)]]);
    const before = Deno.memoryUsage().rss;
    const { items } = await readBytes(dir, assemble(container, replace), { maxRawBytes: 8 });
    const grown = Deno.memoryUsage().rss - before;
    assert.ok(grown < 100 * MB, `rss grew by ${grown} bytes`);
    const damage = damageOf(items);
    assert.equal(damage.length, 1);
    assertDamage(damage[0], {
      offset: bad.offset,
      message: new RegExp(
        `^Cannot decompress the snappy block at offset ${bad.offset}: it claims 4294967296 bytes uncompressed$`,
      ),
      raw: data.subarray(0, 8),
      maxRawBytes: 8,
    });
    assert.deepEqual(idsOf(items), idsWithout(container, records, [1]));
  });
});

for (const delta of [-5, -16, -60, 8, 40]) {
  Deno.test(`readOcfBlocks() recovers every following block when a block's size is off by ${delta}`, async () => {
    await withTempDir(async (dir) => {
      const { records, container } = sixBlocks();
      const bad = container.blocks[2]!;
      const size = bad.data.length + delta;
      const replace = new Map([[2, blockBytes(bad.count, BigInt(size), bad.data)]]);
      const { items } = await readBytes(dir, assemble(container, replace));
      const damage = damageOf(items);
      assert.equal(damage.length, 1);
      assertDamage(damage[0], {
        offset: bad.offset,
        message: new RegExp(
          `^Block at offset ${bad.offset} is not followed by the file's sync marker; reading resumes at offset ${
            offsetIn(container, replace, 3)
          }$`,
        ),
        raw: bad.data,
      });
      assert.deepEqual(
        blocksOf(items).map((block) => block.offset),
        [0, 1, 3, 4, 5].map((i) => offsetIn(container, replace, i)),
      );
      assert.deepEqual(idsOf(items), idsWithout(container, records, [2]));
    });
  });
}
