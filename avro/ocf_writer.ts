/**
 * Writes Avro Object Container Files: used to save alerts for replay and to build test and
 * benchmark inputs with the official schemas.
 *
 * @module
 */

import type avro from "npm:avsc@5.7.9";
import { Buffer } from "node:buffer";
import { crc32, deflateRawSync } from "node:zlib";
import snappy from "npm:snappyjs@0.7.0";
import { OCF_MAGIC } from "./ocf_reader.ts";

/** Options of {@linkcode encodeOcf}. */
export interface OcfWriteOptions {
  /** Block compression. Default `"null"`. */
  codec?: "null" | "deflate" | "snappy";
  /** Records per block. Default 100. */
  recordsPerBlock?: number;
  /** The 16-byte sync marker. Default: random. */
  sync?: Uint8Array;
}

/**
 * Encode records as a container file, one chunk per block (after a header chunk), so a large
 * file can be streamed to disk.
 *
 * @param schemaJson The writer schema as JSON text (embedded in the header).
 * @param type The same schema parsed (see `createAvroType`).
 * @param records The records, valid for `type`.
 * @param options Codec, block size and sync marker.
 * @returns The header chunk, then one chunk per block.
 * @example
 * ```ts
 * import { createAvroType } from "./avro_schema.ts";
 * import { encodeOcf } from "./ocf_writer.ts";
 * const schema = { type: "record", name: "r", fields: [{ name: "id", type: "long" }] };
 * const chunks = [...encodeOcf(JSON.stringify(schema), createAvroType(schema), [{ id: 1n }])];
 * chunks.length; // 2
 * ```
 */
export function* encodeOcf(
  schemaJson: string,
  type: avro.Type,
  records: Iterable<unknown>,
  options: OcfWriteOptions = {},
): Generator<Uint8Array, void, undefined> {
  const codec = options.codec ?? "null";
  const perBlock = options.recordsPerBlock ?? 100;
  const sync = options.sync ?? crypto.getRandomValues(new Uint8Array(16));
  if (sync.length !== 16) throw new RangeError("An Avro sync marker has 16 bytes");
  yield _header(schemaJson, codec, sync);
  let pending: Buffer[] = [];
  for (const record of records) {
    pending.push(type.toBuffer(record));
    if (pending.length >= perBlock) {
      yield _block(pending, codec, sync);
      pending = [];
    }
  }
  if (pending.length > 0) yield _block(pending, codec, sync);
}

/**
 * Write records to a container file.
 *
 * @param path The file (replaced).
 * @param schemaJson The writer schema as JSON text.
 * @param type The same schema parsed.
 * @param records The records.
 * @param options Codec, block size, sync marker.
 * @returns Bytes written.
 * @example
 * ```ts ignore
 * import { writeOcfFile } from "./ocf_writer.ts";
 * await writeOcfFile("alerts.avro", json, type, packets, { codec: "snappy" });
 * ```
 */
export async function writeOcfFile(
  path: string,
  schemaJson: string,
  type: avro.Type,
  records: Iterable<unknown>,
  options: OcfWriteOptions = {},
): Promise<number> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  let written = 0;
  for (const chunk of encodeOcf(schemaJson, type, records, options)) {
    let at = 0;
    while (at < chunk.length) at += await file.write(chunk.subarray(at));
    written += chunk.length;
  }
  return written;
}

function _long(value: number): Buffer {
  const bytes: number[] = [];
  let n = BigInt(value);
  n = (n << 1n) ^ (n >> 63n);
  do {
    let byte = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0n);
  return Buffer.from(bytes);
}

function _bytes(value: Uint8Array): Buffer {
  return Buffer.concat([_long(value.length), value]);
}

function _header(schemaJson: string, codec: string, sync: Uint8Array): Uint8Array {
  const text = new TextEncoder();
  return Buffer.concat([
    OCF_MAGIC,
    _long(2),
    _bytes(text.encode("avro.schema")),
    _bytes(text.encode(schemaJson)),
    _bytes(text.encode("avro.codec")),
    _bytes(text.encode(codec)),
    _long(0),
    sync,
  ]);
}

function _block(records: Buffer[], codec: string, sync: Uint8Array): Uint8Array {
  const raw = Buffer.concat(records);
  let data: Uint8Array = raw;
  if (codec === "deflate") data = deflateRawSync(raw);
  else if (codec === "snappy") {
    const checksum = Buffer.alloc(4);
    checksum.writeUInt32BE(crc32(raw) >>> 0);
    data = Buffer.concat([snappy.compress(raw) as Uint8Array, checksum]);
  }
  return Buffer.concat([_long(records.length), _long(data.length), data, sync]);
}
