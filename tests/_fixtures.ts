/**
 * The shared fixtures as several tests read them, independently of the code under test: ZTF
 * packets decoded by avsc, and the FITS cutouts of the boom v9.0 alert found in the file's
 * bytes without any Avro decoder.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Readable } from "node:stream";
import avro from "avsc";
import { formatFitsCard } from "../cutouts/fits_writer.ts";
import { createAvroType } from "../avro/avro_schema.ts";
import type { ZtfAlertPacket } from "../formats/ztf_packet.ts";
import { relaxZtfSchema } from "../formats/ztf_schema.ts";
import { fixturesDir } from "./_support.ts";

// avsc's typings say parseHook returns a Type; it returns the schema to parse (containers.js).
const parseHook = relaxZtfSchema as unknown as (schema: avro.Schema) => avro.Type;

/**
 * Decode a ZTF alert file of the fixtures (OCF, schema embedded, one packet) with avsc: the
 * writer schema relaxed, `long` as `bigint` (ZTF candids are above 2^53).
 *
 * @param file The file name in the fixtures' `ztf/` folder.
 * @returns Its one packet.
 */
export async function readZtfFixture(file: string): Promise<ZtfAlertPacket> {
  const path = _fixture(join("ztf", file));
  const schema = relaxZtfSchema(avro.extractFileHeader(path).meta["avro.schema"]);
  const readerSchema = createAvroType(schema);
  const decoder: Readable = avro.createFileDecoder(path, { readerSchema, parseHook });
  const packets: ZtfAlertPacket[] = [];
  await new Promise<void>((resolve, reject) => {
    decoder.on("data", (packet: ZtfAlertPacket) => packets.push(packet));
    decoder.on("end", resolve);
    decoder.on("error", reject);
  });
  assert.equal(packets.length, 1, file);
  return packets[0]!;
}

/**
 * Where `needle` starts in `file`, every occurrence.
 *
 * @param file The bytes to search.
 * @param needle The bytes to find.
 * @returns Start offsets, ascending.
 */
export function indexesOf(file: Uint8Array, needle: Uint8Array): number[] {
  const found: number[] = [];
  for (let i = 0; i + needle.length <= file.length; i++) {
    if (needle.every((byte, j) => file[i + j] === byte)) found.push(i);
  }
  return found;
}

/**
 * The Avro `bytes` value whose content starts at `start`, sized by the zigzag varint just before
 * it. The varint's earlier bytes have the high bit set; the byte before the varint (a union
 * index or the last character of a string) does not.
 *
 * @param file An Avro file's bytes.
 * @param start Where the value's content starts.
 * @returns A view on the value's content.
 */
export function avroBytesAt(file: Uint8Array, start: number): Uint8Array {
  let first = start - 1;
  while (first > 0 && (file[first - 1]! & 0x80) !== 0) first--;
  let zigzag = 0;
  for (let i = start - 1; i >= first; i--) zigzag = zigzag * 128 + (file[i]! & 0x7f);
  assert.equal(zigzag % 2, 0, "a negative length");
  const length = zigzag / 2;
  assert.ok(start + length <= file.length, "a length past the end of the file");
  return file.subarray(start, start + length);
}

/**
 * The difference, science and template cutouts of the boom v9.0 alert, in stored order: each
 * FITS file that starts with a `SIMPLE = T` card in the fixture's bytes.
 *
 * @returns Views on the three cutouts (34,560, 34,560 and 69,120 bytes).
 */
export async function boomCutouts(): Promise<Uint8Array[]> {
  const file = await Deno.readFile(
    _fixture("lsst/cwf/boom-7912941781254298-v9_0-cutouts.avro"),
  );
  const simple = new TextEncoder().encode(
    formatFitsCard({ key: "SIMPLE", value: true }).slice(0, 30),
  );
  const cutouts = indexesOf(file, simple).map((start) => avroBytesAt(file, start));
  assert.deepEqual(cutouts.map((bytes) => bytes.length), [34_560, 34_560, 69_120]);
  return cutouts;
}

function _fixture(path: string): string {
  const dir = fixturesDir();
  if (dir === null) throw new Error("Cannot find the shared fixtures (../shared/fixtures)");
  return join(dir, path);
}
