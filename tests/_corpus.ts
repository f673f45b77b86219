/**
 * Generates the bad-input corpus of `corpus_test.ts` at test time (no binary file is
 * committed): one folder per case, each holding a damaged file between good neighbours, with the
 * exact outcome an ingest of the folder must have. Good alerts are mock v11.0 packets written
 * with the official schema; the damage is done by byte surgery at offsets found in the encoded
 * bytes (sync markers for block boundaries, two encodings of one record that differ in one field
 * for that field's position), never guessed.
 *
 * @module
 */

import type avro from "avsc";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { createAvroType, loadSchemaVersion } from "../avro/avro_schema.ts";
import type { LsstAlertPacket } from "../formats/lsst_packet.ts";
import { MockSource } from "../sources/mock/mock_source.ts";
import { encodeOcf, writeOcfFile } from "../avro/ocf_writer.ts";

/** One row the run must have put in the `quarantine` table. */
export interface ExpectedQuarantine {
  /** File name inside the case folder (the row's `stream` is its absolute path). */
  file: string;
  /** The row's exact `position`. */
  position: string;
  /** `file` for a record, `file:cutout` for a cutout that was not written. */
  source: "file" | "file:cutout";
  /** What was wrong, as the message must say it (offsets included where they apply). */
  error: RegExp;
}

/** A cutout that must not have been written. */
export interface ExpectedMissingCutout {
  /** The alert, which is stored nevertheless. */
  diaSourceId: bigint;
  /** Which cutout. */
  kind: "science" | "template" | "difference";
}

/** One corpus case: a folder, and what an ingest of it must give. */
export interface CorpusCase {
  /** Folder name, also the case's name in the test output. */
  name: string;
  /** What is damaged, in words. */
  description: string;
  /** Absolute path of the folder. */
  dir: string;
  /** Whether the folder is ingested with a `CutoutProcessor`. */
  cutouts: boolean;
  /** Alerts the run must store: the neighbours and the good records of the damaged file. */
  alerts: number;
  /** Quarantine rows, in the order they are written. */
  quarantine: ExpectedQuarantine[];
  /** Cutout files written by the run (only for cases with cutouts). */
  cutoutFiles: number;
  /** Cutouts that must be absent from the stored row and from the disk. */
  missingCutouts: ExpectedMissingCutout[];
}

const SYNC_LENGTH = 16;
const SCHEMA_VERSION = "11.0";
const SCHEMA_ID = 1100;
/** A prefix of the bad file's name, sorted between the neighbours `a-` and `z-`. */
const BAD = "m-bad";
/** Ids of generated alerts: unique per case, realistic (above 2^53). */
const ID_BASE = 171_000_000_000_000_000n;

/** The official v11.0 schema and mock packets without cutouts, for building alert bytes. */
export interface AlertFactory {
  /** The schema as JSON text, as a container embeds it. */
  json: string;
  /** The schema parsed, `long` as `bigint`. */
  type: avro.Type;
  /**
   * A good packet with the given triggering id.
   *
   * @param id The `diaSourceId`.
   * @param options `history`: it carries `prvDiaSources` (at least one); `cutouts`: it carries
   * three valid FITS cutouts. Default: neither.
   * @returns A shallow copy of a mock packet, safe to change at the top level and in
   * `diaSource`.
   */
  packet(id: bigint, options?: { history?: boolean; cutouts?: boolean }): LsstAlertPacket;
}

/**
 * Load the official v11.0 schema and prepare mock packets.
 *
 * @param fixtures The shared fixtures folder.
 * @returns The factory.
 */
export async function alertFactory(fixtures: string): Promise<AlertFactory> {
  const schema = await loadSchemaVersion(join(fixtures, "lsst/schema"), SCHEMA_VERSION);
  const type = createAvroType(schema);
  const plain = [...new MockSource({ count: 40, seed: 7, cutouts: false }).packets()]
    .map((p) => p.packet);
  const withCutouts = [...new MockSource({ count: 4, seed: 7, cutouts: true }).packets()]
    .map((p) => p.packet);
  const historied = plain.filter((p) => (p.prvDiaSources?.length ?? 0) > 0);
  const bare = plain.filter((p) => p.prvDiaSources === null);
  if (historied.length === 0 || bare.length === 0) throw new Error("The mock stream changed");
  let n = 0;
  return {
    json: JSON.stringify(schema),
    type,
    packet(id, options = {}) {
      const pool = options.cutouts ? withCutouts : options.history ? historied : bare;
      const base = pool[n++ % pool.length] as LsstAlertPacket;
      return { ...base, diaSourceId: id, diaSource: { ...base.diaSource, diaSourceId: id } };
    },
  };
}

/**
 * Write every case of the corpus under `root` (created if needed).
 *
 * @param root The corpus folder.
 * @param fixtures The shared fixtures folder.
 * @returns The cases, in a stable order.
 */
export async function buildCorpus(root: string, fixtures: string): Promise<CorpusCase[]> {
  const factory = await alertFactory(fixtures);
  const framedFixtures = [...Deno.readDirSync(join(fixtures, "lsst/cwf"))]
    .map((e) => e.name)
    .filter((name) => /^lsst\.v\d+_\d+\.avro$/.test(name))
    .sort();
  const random = _random(0xc0ffee);
  const cases: CorpusCase[] = [];
  const builders = _builders(factory, fixtures, random);
  for (const [index, builder] of builders.entries()) {
    const dir = join(root, builder.name);
    await Deno.mkdir(dir, { recursive: true });
    const base = ID_BASE + BigInt(index) * 1000n;
    // Neighbours: a deflate container of two generated alerts, and a real framed fixture
    // (rotating through the schema versions 7.0–11.1).
    const neighbour = [factory.packet(base + 900n), factory.packet(base + 901n)];
    await writeOcfFile(join(dir, "a-neighbour.avro"), factory.json, factory.type, neighbour, {
      codec: "deflate",
    });
    const fixture = framedFixtures[index % framedFixtures.length] as string;
    await Deno.copyFile(join(fixtures, "lsst/cwf", fixture), join(dir, "z-neighbour.avro"));
    const made = await builder.build(dir, base);
    cases.push({
      name: builder.name,
      description: builder.description,
      dir,
      cutouts: made.cutouts ?? false,
      alerts: 3 + made.alerts,
      quarantine: made.quarantine.map((q) => ({ source: "file", ...q })),
      cutoutFiles: made.cutoutFiles ?? 0,
      missingCutouts: made.missingCutouts ?? [],
    });
  }
  return cases;
}

interface _Built {
  alerts: number;
  quarantine: Array<Omit<ExpectedQuarantine, "source"> & { source?: "file" | "file:cutout" }>;
  cutouts?: boolean;
  cutoutFiles?: number;
  missingCutouts?: ExpectedMissingCutout[];
}

interface _Builder {
  name: string;
  description: string;
  build(dir: string, base: bigint): Promise<_Built>;
}

function _builders(f: AlertFactory, fixtures: string, random: () => number): _Builder[] {
  const enc = (packet: LsstAlertPacket): Uint8Array => new Uint8Array(f.type.toBuffer(packet));
  const records = (base: bigint, from: number, count: number): Uint8Array[] =>
    Array.from({ length: count }, (_, i) => enc(f.packet(base + BigInt(from + i))));
  const sync = (): Uint8Array => {
    const bytes = new Uint8Array(SYNC_LENGTH);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    return bytes;
  };
  /** A good container: header, then blocks of `perBlock` records, laid out by encodeOcf. */
  const goodOcf = (
    base: bigint,
    blocks: number,
    perBlock: number,
    codec: "null" | "deflate" = "null",
  ) => {
    const marker = sync();
    const packets = Array.from({ length: blocks * perBlock }, (_, i) => f.packet(base + BigInt(i)));
    const bytes = _concat([
      ...encodeOcf(f.json, f.type, packets, { codec, recordsPerBlock: perBlock, sync: marker }),
    ]);
    // Block boundaries: every block ends with the marker, and so does the header.
    const ends = _indexesOf(bytes, marker).map((at) => at + SYNC_LENGTH);
    if (ends.length !== blocks + 1) throw new Error("A sync marker occurs inside the data");
    return { bytes, marker, starts: ends.slice(0, blocks), end: bytes.length };
  };
  const write = (dir: string, name: string, bytes: Uint8Array) =>
    Deno.writeFile(join(dir, name), bytes);
  const framed = (record: Uint8Array, id = SCHEMA_ID): Uint8Array => {
    const header = new Uint8Array(5);
    new DataView(header.buffer).setInt32(1, id);
    return _concat([header, record]);
  };

  // Where a nullable field starts in a record: its union index is the first byte that differs
  // between the record with the field null and with it set, everything else equal.
  const fieldAt = (packet: LsstAlertPacket, field: string, value: unknown): number => {
    const off = enc({ ...packet, [field]: null });
    const on = enc({ ...packet, [field]: value });
    const at = off.findIndex((b, i) => on[i] !== b);
    if (at < 0 || off[at] !== 0x00 || on[at] !== 0x02) throw new Error(`Cannot find ${field}`);
    return at;
  };
  /** A record whose length or count after the union index of `field` is replaced. */
  const lying = (
    id: bigint,
    field: "observation_reason" | "cutoutTemplate" | "prvDiaSources",
    replacement: Uint8Array,
  ): { record: Uint8Array; at: number } => {
    const base = f.packet(id, { history: field === "prvDiaSources" });
    const value = field === "observation_reason"
      ? "survey"
      : field === "cutoutTemplate"
      ? Buffer.from([1, 2, 3, 4])
      : (base.prvDiaSources as unknown[]).slice(0, 1);
    const packet = { ...base, [field]: value };
    const at = fieldAt(packet, field, value);
    const bytes = enc(packet);
    const old = _readVarint(bytes, at + 1);
    return {
      record: _concat([bytes.subarray(0, at + 1), replacement, bytes.subarray(old.end)]),
      at: at + 1,
    };
  };
  // `error` gets the offset of the lying varint as the decoder counts it and returns the
  // message's regular expression source. Both lengths take 5 varint bytes: the string or bytes
  // start 5 bytes after the varint.
  const gigabytes: Array<{
    name: string;
    what: string;
    field: "observation_reason" | "cutoutTemplate" | "prvDiaSources";
    replacement: Uint8Array;
    error: (varintAt: number) => string;
    honest?: boolean;
  }> = [
    {
      name: "huge-string-length",
      what: "observation_reason string whose length claims 4 GB",
      field: "observation_reason",
      replacement: varint(4_000_000_000n),
      error: (at) => `Data ends inside string of 4000000000 bytes at byte ${at + 5} `,
    },
    {
      name: "huge-bytes-length",
      what: "cutoutTemplate bytes whose length claims 3 GB",
      field: "cutoutTemplate",
      replacement: varint(3_000_000_000n),
      error: (at) => `Data ends inside bytes of 3000000000 bytes at byte ${at + 5} `,
    },
    {
      name: "huge-array-count",
      what: "prvDiaSources array whose block count is 2^31",
      field: "prvDiaSources",
      replacement: varint(2n ** 31n),
      error: (at) => `Block at byte ${at} claims 2147483648 items but only \\d+ bytes remain`,
    },
    {
      name: "negative-count-lying-size",
      what: "prvDiaSources block with count -2^31 and a block size of 24 bytes",
      field: "prvDiaSources",
      replacement: _concat([varint(-(2n ** 31n)), varint(24n)]),
      error: (at) => `Block at byte ${at} claims 2147483648 items but only \\d+ bytes remain`,
    },
    {
      // Avro readers use a block's size only to skip the block; the items are still checked
      // one by one, so an honest count under a lying size decodes, as with Apache Avro's own
      // readers.
      name: "negative-count-huge-size",
      what: "prvDiaSources block with count -1 and a block size claiming 1 TB (items honest)",
      field: "prvDiaSources",
      replacement: _concat([varint(-1n), varint(2n ** 40n)]),
      error: () => "",
      honest: true,
    },
  ];

  const builders: _Builder[] = [
    {
      name: "empty-file",
      description: "a file of zero bytes",
      async build(dir) {
        await write(dir, `${BAD}.avro`, new Uint8Array(0));
        return {
          alerts: 0,
          quarantine: [{ file: `${BAD}.avro`, position: "0:all", error: /^File ".*" is empty$/ }],
        };
      },
    },
    {
      name: "ocf-truncated-header",
      description: "a container cut inside its header's schema",
      async build(dir, base) {
        const { bytes, starts } = goodOcf(base, 1, 2);
        const cut = Math.floor((starts[0] as number) / 2);
        await write(dir, `${BAD}.avro`, bytes.subarray(0, cut));
        return {
          alerts: 0,
          quarantine: [{
            file: `${BAD}.avro`,
            position: "0:all",
            error: new RegExp(
              `^Cannot read the Avro container ".*": Cannot read the container header: Input ends at offset ${cut} inside metadata "avro.schema"`,
            ),
          }],
        };
      },
    },
    {
      name: "ocf-truncated-block",
      description: "a container of three blocks cut in the middle of the third block",
      async build(dir, base) {
        const { bytes, starts, end } = goodOcf(base, 3, 2);
        const third = starts[2] as number;
        const cut = Math.floor((third + end) / 2);
        await write(dir, `${BAD}.avro`, bytes.subarray(0, cut));
        return {
          alerts: 4,
          quarantine: [{
            file: `${BAD}.avro`,
            position: `${third}:all`,
            error: new RegExp(
              `^The file is truncated: Input ends at offset ${cut} inside the block at offset ${third} .* in ".*"$`,
            ),
          }],
        };
      },
    },
    {
      name: "ocf-truncated-record",
      description: "a block whose count claims three records where its bytes hold two",
      async build(dir, base) {
        const { bytes, starts } = goodOcf(base, 3, 2);
        const second = starts[1] as number;
        if (bytes[second] !== 0x04) throw new Error("Expected a count of 2");
        const damaged = bytes.slice();
        damaged[second] = 0x06;
        await write(dir, `${BAD}.avro`, damaged);
        return {
          alerts: 6,
          quarantine: [{
            file: `${BAD}.avro`,
            position: `${second}:all`,
            error: new RegExp(
              `^Cannot decode record 2 of the block at offset ${second} in ".*" \\(1 records to the block's end kept together\\): Data ends inside a varint`,
            ),
          }],
        };
      },
    },
    {
      name: "ocf-truncated-record-bytes",
      description:
        "a block of two records whose second record is cut short (size and marker fixed)",
      async build(dir, base) {
        const header = goodOcf(base, 1, 1);
        const [r0, r1] = records(base, 0, 2) as [Uint8Array, Uint8Array];
        const cutRecord = r1.subarray(0, Math.floor(r1.length / 2));
        const blocks = [
          _block([r0, cutRecord], header.marker),
          _block(records(base, 2, 2), header.marker),
        ];
        const head = header.bytes.subarray(0, header.starts[0]);
        await write(dir, `${BAD}.avro`, _concat([head, ...blocks]));
        return {
          alerts: 3,
          quarantine: [{
            file: `${BAD}.avro`,
            position: `${head.length}:all`,
            error: new RegExp(
              `^Cannot decode record 1 of the block at offset ${head.length} in ".*" \\(1 records to the block's end kept together\\): Data ends inside`,
            ),
          }],
        };
      },
    },
    {
      name: "ocf-flipped-header-byte",
      description: "a container whose embedded schema has its first byte flipped",
      async build(dir, base) {
        const { bytes } = goodOcf(base, 2, 2);
        const at = _indexesOf(bytes, new TextEncoder().encode(f.json.slice(0, 24)))[0];
        if (at === undefined) throw new Error("Cannot find the schema");
        const damaged = bytes.slice();
        damaged[at] = (damaged[at] as number) ^ 0xff;
        await write(dir, `${BAD}.avro`, damaged);
        return {
          alerts: 0,
          quarantine: [{
            file: `${BAD}.avro`,
            position: "0:all",
            error: /^Cannot read the Avro container ".*": .*JSON/,
          }],
        };
      },
    },
    {
      name: "ocf-flipped-block-byte",
      description: "a deflate container whose middle block's first byte has the reserved type",
      async build(dir, base) {
        const { bytes, starts } = goodOcf(base, 3, 2, "deflate");
        const second = starts[1] as number;
        const count = _readVarint(bytes, second);
        const size = _readVarint(bytes, count.end);
        const damaged = bytes.slice();
        // Bits 1-2 of a deflate block header are its type; 11 is reserved, so never valid.
        damaged[size.end] = (damaged[size.end] as number) | 0x06;
        await write(dir, `${BAD}.avro`, damaged);
        return {
          alerts: 4,
          quarantine: [{
            file: `${BAD}.avro`,
            position: `${second}:all`,
            error: new RegExp(
              `^Cannot decompress the deflate block at offset ${second}: .* in ".*"$`,
            ),
          }],
        };
      },
    },
    {
      name: "ocf-flipped-record-value",
      description: "a record whose diaSource.ra is overwritten with NaN bytes",
      async build(dir, base) {
        const header = goodOcf(base, 1, 1);
        const ra = 211.12345678901234;
        const packets = [0, 1, 2].map((i) => f.packet(base + BigInt(i)));
        packets[1] = { ...packets[1]!, diaSource: { ...packets[1]!.diaSource, ra } };
        const recs = packets.map(enc);
        const pattern = new Uint8Array(new Float64Array([ra]).buffer);
        const at = _indexesOf(recs[1]!, pattern)[0];
        if (at === undefined) throw new Error("Cannot find ra");
        recs[1]!.fill(0xff, at, at + 8);
        const head = header.bytes.subarray(0, header.starts[0]);
        const blocks = [_block(recs, header.marker), _block(records(base, 3, 2), header.marker)];
        await write(dir, `${BAD}.avro`, _concat([head, ...blocks]));
        return {
          alerts: 4,
          quarantine: [{
            file: `${BAD}.avro`,
            position: `${head.length}:1`,
            error: new RegExp(
              `^Cannot map record 1 of the block at offset ${head.length} in ".*": .*diaSource\\.ra.*NaN`,
            ),
          }],
        };
      },
    },
    {
      name: "ocf-flipped-record-structure",
      description: "a record whose observation_reason union index is flipped to branch 63",
      async build(dir, base) {
        const header = goodOcf(base, 1, 1);
        const packets = [0, 1, 2].map((i) => f.packet(base + BigInt(i)));
        const recs = packets.map(enc);
        const at = fieldAt(packets[1]!, "observation_reason", packets[1]!.observation_reason);
        recs[1]![at] = 0x7e;
        const head = header.bytes.subarray(0, header.starts[0]);
        const blocks = [_block(recs, header.marker), _block(records(base, 3, 2), header.marker)];
        await write(dir, `${BAD}.avro`, _concat([head, ...blocks]));
        // Guard offsets count from the start of the block's data.
        const byte = recs[0]!.length + at;
        return {
          alerts: 3,
          quarantine: [{
            file: `${BAD}.avro`,
            position: `${head.length}:all`,
            error: new RegExp(
              `^Cannot decode record 1 of the block at offset ${head.length} in ".*" \\(2 records to the block's end kept together\\): Union branch 63 at byte ${byte} does not exist`,
            ),
          }],
        };
      },
    },
    {
      name: "ocf-wrong-magic",
      description: "a container whose magic is Obj\\x02",
      async build(dir, base) {
        const { bytes } = goodOcf(base, 1, 2);
        const damaged = bytes.slice();
        damaged[3] = 0x02;
        await write(dir, `${BAD}.avro`, damaged);
        return {
          alerts: 0,
          quarantine: [{
            file: `${BAD}.avro`,
            position: "0:all",
            error: /^Unrecognised file ".*": not an Avro container file/,
          }],
        };
      },
    },
    {
      name: "ocf-wrong-sync-marker",
      description: "the second of four blocks ends with a marker that is not the file's",
      async build(dir, base) {
        const { bytes, starts } = goodOcf(base, 4, 2);
        const [second, third, fourth] = [starts[1]!, starts[2]!, starts[3]!];
        const damaged = bytes.slice();
        for (let i = third - SYNC_LENGTH; i < third; i++) damaged[i] = damaged[i]! ^ 0xff;
        await write(dir, `${BAD}.avro`, damaged);
        // Resynchronising skips to the next real marker: the third block goes with the second.
        return {
          alerts: 4,
          quarantine: [{
            file: `${BAD}.avro`,
            position: `${second}:all`,
            error: new RegExp(
              `^Block at offset ${second} is not followed by the file's sync marker; reading resumes at offset ${fourth} in ".*"$`,
            ),
          }],
        };
      },
    },
    {
      name: "ocf-damaged-sync-marker",
      description: "the second of four blocks ends with a marker with two bytes flipped",
      async build(dir, base) {
        const { bytes, starts } = goodOcf(base, 4, 2);
        const [second, third] = [starts[1]!, starts[2]!];
        const damaged = bytes.slice();
        damaged[third - 3] = damaged[third - 3]! ^ 0x01;
        damaged[third - 9] = damaged[third - 9]! ^ 0x80;
        await write(dir, `${BAD}.avro`, damaged);
        return {
          alerts: 6,
          quarantine: [{
            file: `${BAD}.avro`,
            position: `${second}:all`,
            error: new RegExp(
              `^Block at offset ${second} ends with a damaged sync marker; reading resumes at offset ${third} in ".*"$`,
            ),
          }],
        };
      },
    },
    {
      name: "ocf-unknown-codec",
      description: 'a container whose codec is "zstandard"',
      async build(dir, base) {
        const { bytes, marker, starts } = goodOcf(base, 2, 2);
        const header = _ocfHeader(f.json, "zstandard", marker);
        await write(dir, `${BAD}.avro`, _concat([header, bytes.subarray(starts[0])]));
        return {
          alerts: 0,
          quarantine: [{
            file: `${BAD}.avro`,
            position: "0:all",
            error: /^Cannot read the Avro container ".*": Unsupported codec "zstandard"/,
          }],
        };
      },
    },
    {
      name: "ocf-schema-not-avro",
      description: "a container whose schema is JSON but not Avro (its first field has no type)",
      async build(dir, base) {
        const { bytes, marker, starts } = goodOcf(base, 2, 2);
        const schema = JSON.parse(f.json) as { fields: Array<Record<string, unknown>> };
        const { type, ...untyped } = schema.fields[0]!;
        schema.fields[0] = { ...untyped, typo: type };
        const header = _ocfHeader(JSON.stringify(schema), "null", marker);
        await write(dir, `${BAD}.avro`, _concat([header, bytes.subarray(starts[0])]));
        return {
          alerts: 0,
          quarantine: [{
            file: `${BAD}.avro`,
            position: "0:all",
            error: /^Cannot read the Avro container ".*": Invalid Avro schema: /,
          }],
        };
      },
    },
    {
      name: "framed-unknown-schema-id",
      description: "a Confluent frame with schema id 1203 (no such version)",
      async build(dir, base) {
        await write(dir, `${BAD}.avro`, framed(enc(f.packet(base)), 1203));
        return {
          alerts: 0,
          quarantine: [{
            file: `${BAD}.avro`,
            position: "0",
            error:
              /^Cannot decode the framed message ".*": Unknown schema id 1203: .*no folder 12\.3/,
          }],
        };
      },
    },
    {
      name: "framed-short-header",
      description: "a Confluent frame of 3 bytes",
      async build(dir) {
        await write(dir, `${BAD}.avro`, new Uint8Array([0x00, 0x00, 0x04]));
        return {
          alerts: 0,
          quarantine: [{
            file: `${BAD}.avro`,
            position: "0",
            error:
              /^Cannot decode the framed message ".*": The message is 3 bytes, shorter than its 5-byte header$/,
          }],
        };
      },
    },
    {
      name: "framed-trailing-garbage",
      description: "the real v11.0 framed fixture followed by 7 bytes",
      async build(dir) {
        const bytes = await Deno.readFile(join(fixtures, "lsst/cwf/lsst.v11_0.avro"));
        const garbage = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02]);
        await write(dir, `${BAD}.avro`, _concat([bytes, garbage]));
        return {
          alerts: 0,
          quarantine: [{
            file: `${BAD}.avro`,
            position: "0",
            error:
              /^Cannot decode the framed message ".*": 7 bytes follow the record \(schema 1100\)$/,
          }],
        };
      },
    },
    ...gigabytes.map((g): _Builder => ({
      name: `framed-${g.name}`,
      description: `a Confluent frame with a ${g.what}`,
      async build(dir, base) {
        const { record, at } = lying(base, g.field, g.replacement);
        await write(dir, `${BAD}.avro`, framed(record));
        if (g.honest) return { alerts: 1, quarantine: [] };
        return {
          alerts: 0,
          quarantine: [{
            file: `${BAD}.avro`,
            position: "0",
            // Guard offsets count from the message's first byte: the record starts at byte 5.
            error: new RegExp(
              `^Cannot decode the framed message ".*": Cannot decode it with schema 1100: ${
                g.error(at + 5)
              }`,
            ),
          }],
        };
      },
    })),
    ...gigabytes.map((g): _Builder => ({
      name: `ocf-${g.name}`,
      description: `the middle record of a container block holds a ${g.what}`,
      async build(dir, base) {
        const header = goodOcf(base, 1, 1);
        const { record, at } = lying(base + 1n, g.field, g.replacement);
        const first = records(base, 0, 1)[0]!;
        const blocks = [
          _block([first, record, ...records(base, 2, 1)], header.marker),
          _block(records(base, 3, 2), header.marker),
        ];
        const head = header.bytes.subarray(0, header.starts[0]);
        await write(dir, `${BAD}.avro`, _concat([head, ...blocks]));
        if (g.honest) return { alerts: 5, quarantine: [] };
        // Guard offsets count from the start of the block's data.
        const varintAt = first.length + at;
        return {
          alerts: 3,
          quarantine: [{
            file: `${BAD}.avro`,
            position: `${head.length}:all`,
            error: new RegExp(
              `^Cannot decode record 1 of the block at offset ${head.length} in ".*" \\(2 records to the block's end kept together\\): ${
                g.error(varintAt)
              }`,
            ),
          }],
        };
      },
    })),
    {
      name: "csv-missing-required-columns",
      description: 'a CSV export whose header lacks "dec" and "midpoint_mjd_tai"',
      async build(dir, base) {
        const text = `dia_source_id,ra,band\n${base},150.1,r\n${base + 1n},150.2,g\n`;
        await Deno.writeTextFile(join(dir, `${BAD}.csv`), text);
        return {
          alerts: 0,
          quarantine: [{
            file: `${BAD}.csv`,
            position: "0:all",
            error:
              /^Cannot import ".*": the header lacks required columns "dec", "midpoint_mjd_tai"$/,
          }],
        };
      },
    },
    ...([
      ["csv-non-numeric-id", "an id that is not a number", "17100000000000x001"],
      ["csv-id-above-2^64", "an id of 2^64 + 1", (2n ** 64n + 1n).toString()],
      [
        "csv-id-above-2^63",
        "an id of 2^63, one past the largest 64-bit integer",
        "9223372036854775808",
      ],
      ["csv-negative-id-below-2^63", "an id of -2^63 - 1", (-(2n ** 63n) - 1n).toString()],
    ] as const).map(([name, what, id]): _Builder => ({
      name,
      description: `CSV rows around one whose dia_source_id is ${what}`,
      async build(dir, base) {
        const rows = [
          `${base},150.1,-30.2,61000.5,r`,
          `${id},150.2,-30.3,61000.6,g`,
          // The largest id SQLite can hold: valid.
          `9223372036854775807,150.3,-30.4,61000.7,i`,
          `${base + 1n},150.4,-30.5,61000.8,z`,
        ];
        const text = `dia_source_id,ra,dec,midpoint_mjd_tai,band\n${rows.join("\n")}\n`;
        await Deno.writeTextFile(join(dir, `${BAD}.csv`), text);
        return {
          alerts: 3,
          quarantine: [{
            file: `${BAD}.csv`,
            position: "1",
            error: new RegExp(
              `^Cannot import line 3 of ".*": column "dia_source_id" is not a 64-bit integer: "${id}"$`,
            ),
          }],
        };
      },
    })),
    {
      name: "csv-ragged-rows",
      description: "CSV rows with one field too few and two too many between good rows",
      async build(dir, base) {
        const rows = [
          `${base},150.1,-30.2,61000.5,r`,
          `${base + 1n},150.2,-30.3,61000.6`,
          `${base + 2n},150.3,-30.4,61000.7,i`,
          `${base + 3n},150.4,-30.5,61000.8,z,extra,more`,
          `${base + 4n},150.5,-30.6,61000.9,y`,
        ];
        const text = `dia_source_id,ra,dec,midpoint_mjd_tai,band\r\n${rows.join("\r\n")}\r\n`;
        await Deno.writeTextFile(join(dir, `${BAD}.csv`), text);
        return {
          alerts: 3,
          quarantine: [
            {
              file: `${BAD}.csv`,
              position: "1",
              error: /^Cannot import line 3 of ".*": expected 5 fields as in the header, found 4$/,
            },
            {
              file: `${BAD}.csv`,
              position: "3",
              error: /^Cannot import line 5 of ".*": expected 5 fields as in the header, found 7$/,
            },
          ],
        };
      },
    },
    {
      name: "csv-deeply-nested-properties",
      description: "a CSV row whose properties column nests arrays 100,000 deep",
      async build(dir, base) {
        const deep = "[".repeat(100_000) + "]".repeat(100_000);
        const rows = [
          `${base},150.1,-30.2,61000.5,"{""k"":${base}}"`,
          `${base + 1n},150.2,-30.3,61000.6,${deep}`,
          `${base + 2n},150.3,-30.4,61000.7,`,
        ];
        const text = `dia_source_id,ra,dec,midpoint_mjd_tai,properties\n${rows.join("\n")}\n`;
        await Deno.writeTextFile(join(dir, `${BAD}.csv`), text);
        return {
          alerts: 2,
          quarantine: [{
            file: `${BAD}.csv`,
            position: "1",
            error:
              /^Cannot import line 3 of ".*": column "properties" is not a JSON object: "\[\[\[/,
          }],
        };
      },
    },
    ...([
      ["cutout-random-bytes", "random bytes", /Not a FITS file/],
      ["cutout-truncated-fits", "a FITS file cut after its first 2880-byte blocks", /FITS HDU/],
      ["cutout-gzip-of-garbage", "a gzip of random bytes", /Not a FITS file/],
      [
        "cutout-gzip-bomb",
        "a gzip that inflates to 100 MiB",
        /Cannot decompress cutout: it is larger than 67108864 bytes once decompressed/,
      ],
    ] as const).map(([name, what, error]): _Builder => ({
      name,
      description: `a valid alert between two others whose science cutout is ${what}`,
      async build(dir, base) {
        const header = goodOcf(base, 1, 1);
        const packets = [0, 1, 2].map((i) => f.packet(base + BigInt(i), { cutouts: true }));
        const science = packets[1]!.cutoutScience as Uint8Array;
        let bad: Uint8Array;
        if (name === "cutout-random-bytes") bad = _randomBytes(random, 4000, 0x42);
        else if (name === "cutout-truncated-fits") {
          bad = science.slice(0, 2880 * Math.floor(science.length / 2880 / 2));
        } else if (name === "cutout-gzip-of-garbage") {
          bad = new Uint8Array(gzipSync(_randomBytes(random, 4000, 0x42)));
        } else bad = await _gzipOfZeros(100 << 20);
        // avsc writes `bytes` from Buffers only.
        packets[1] = { ...packets[1]!, cutoutScience: Buffer.from(bad) };
        const head = header.bytes.subarray(0, header.starts[0]);
        await write(
          dir,
          `${BAD}.avro`,
          _concat([head, _block(packets.map(enc), header.marker)]),
        );
        return {
          alerts: 3,
          cutouts: true,
          cutoutFiles: 8,
          missingCutouts: [{ diaSourceId: base + 1n, kind: "science" }],
          quarantine: [{
            file: `${BAD}.avro`,
            position: `${head.length}:1`,
            source: "file:cutout",
            error: new RegExp(
              `^Cutout "science" of alert ${base + 1n} is not stored: .*${error.source}`,
            ),
          }],
        };
      },
    })),
    {
      name: "cutout-unplaceable-alert",
      description: "an alert with three valid cutouts whose midpointMjdTai is not a usable MJD",
      async build(dir, base) {
        const header = goodOcf(base, 1, 1);
        const packets = [0, 1, 2].map((i) => f.packet(base + BigInt(i), { cutouts: true }));
        // A Unix time where an MJD belongs, as in the official v7 sample alerts: year > 9999.
        packets[1] = {
          ...packets[1]!,
          diaSource: { ...packets[1]!.diaSource, midpointMjdTai: 1480360995 },
        };
        const head = header.bytes.subarray(0, header.starts[0]);
        await write(dir, `${BAD}.avro`, _concat([head, _block(packets.map(enc), header.marker)]));
        const error = new RegExp(
          `^Cutout "\\w+" of alert ${base + 1n} is not stored: Cannot place cutouts of DIASource ${
            base + 1n
          }: midpointMjdTai "1480360995" is not a usable MJD$`,
        );
        const position = `${head.length}:1`;
        return {
          alerts: 3,
          cutouts: true,
          cutoutFiles: 6,
          missingCutouts: (["science", "template", "difference"] as const).map((kind) => ({
            diaSourceId: base + 1n,
            kind,
          })),
          quarantine: [0, 1, 2].map(() => ({
            file: `${BAD}.avro`,
            position,
            source: "file:cutout" as const,
            error,
          })),
        };
      },
    },
  ];
  return builders;
}

/**
 * An Avro `long`: zig-zag, then 7 bits per byte, low bits first.
 *
 * @param value Any 64-bit value.
 * @returns Its encoding (1 to 10 bytes).
 */
export function varint(value: bigint): Uint8Array {
  let n = value >= 0n ? value << 1n : ((-value) << 1n) - 1n;
  const out: number[] = [];
  do {
    const low = Number(n & 0x7fn);
    n >>= 7n;
    out.push(n > 0n ? low | 0x80 : low);
  } while (n > 0n);
  return new Uint8Array(out);
}

function _readVarint(bytes: Uint8Array, at: number): { value: bigint; end: number } {
  let n = 0n;
  for (let i = 0; i < 10; i++) {
    const byte = bytes[at + i];
    if (byte === undefined) throw new RangeError("Varint past the end");
    n |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) return { value: (n >> 1n) ^ -(n & 1n), end: at + i + 1 };
  }
  throw new RangeError("Varint longer than 10 bytes");
}

/** A container header written by hand, so that its codec and schema can be anything. */
function _ocfHeader(schemaJson: string, codec: string, marker: Uint8Array): Uint8Array {
  const text = new TextEncoder();
  return _concat([
    new Uint8Array([0x4f, 0x62, 0x6a, 0x01]),
    varint(2n),
    _avroBytes(text.encode("avro.schema")),
    _avroBytes(text.encode(schemaJson)),
    _avroBytes(text.encode("avro.codec")),
    _avroBytes(text.encode(codec)),
    varint(0n),
    marker,
  ]);
}

function _avroBytes(bytes: Uint8Array): Uint8Array {
  return _concat([varint(BigInt(bytes.length)), bytes]);
}

/** A null-codec block: count, size, the records, the marker. */
function _block(recs: Uint8Array[], marker: Uint8Array): Uint8Array {
  const data = _concat(recs);
  return _concat([varint(BigInt(recs.length)), varint(BigInt(data.length)), data, marker]);
}

function _concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function _indexesOf(haystack: Uint8Array, needle: Uint8Array): number[] {
  const found: number[] = [];
  const first = needle[0] as number;
  for (let i = haystack.indexOf(first); i >= 0; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) break;
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) found.push(i);
  }
  return found;
}

function _random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function _randomBytes(random: () => number, length: number, first: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  bytes[0] = first;
  return bytes;
}

/** A small gzip stream of `length` zero bytes, compressed chunk by chunk (never all in memory). */
async function _gzipOfZeros(length: number): Promise<Uint8Array> {
  const chunk = new Uint8Array(1 << 20);
  let left = length;
  const input = new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull(controller) {
      if (left <= 0) return controller.close();
      const n = Math.min(left, chunk.length);
      left -= n;
      controller.enqueue(chunk.subarray(0, n));
    },
  });
  const out = input.pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(out).arrayBuffer());
}
