/**
 * Avro Object Container Files, read one block at a time: header, then blocks of records
 * separated by the file's sync marker, with the codecs `null`, `deflate` and `snappy`.
 *
 * Damaged input never stops the reader: a block that fails is reported with its raw bytes and
 * the reader resynchronises on the next sync marker. No length read from the file is trusted
 * before it is checked against a limit.
 *
 * @module
 */

import { crc32, inflateRawSync } from "node:zlib";
import { snappyUncompress } from "./snappy.ts";
import { type ByteStream, TruncatedInputError } from "./byte_stream.ts";

/** The four bytes every container file starts with. */
export const OCF_MAGIC: Uint8Array = new Uint8Array([0x4f, 0x62, 0x6a, 0x01]);

/** Block compression codecs this reader supports. */
export type OcfCodec = "null" | "deflate" | "snappy";

const SYNC_LENGTH = 16;
const CODECS: readonly OcfCodec[] = ["null", "deflate", "snappy"];

/** A container file's header. */
export interface OcfHeader {
  /** The embedded writer schema, as JSON text. */
  schemaJson: string;
  /** Compression of the blocks. */
  codec: OcfCodec;
  /** The 16-byte marker after every block. */
  sync: Uint8Array;
  /** Every metadata entry. */
  metadata: Map<string, Uint8Array>;
  /** Offset of the first block. */
  length: number;
}

/** A block whose records can be decoded. */
export interface OcfBlock {
  /** Discriminant. */
  kind: "block";
  /** Offset of the block's first byte (its record count). */
  offset: number;
  /** Records in it. */
  count: number;
  /** The records' bytes, decompressed. */
  data: Uint8Array;
}

/** A block that could not be read, with what was kept of its bytes. */
export interface OcfDamage {
  /** Discriminant. */
  kind: "damaged";
  /** Where the damage starts. */
  offset: number;
  /** What was wrong. */
  error: string;
  /** Raw bytes (at most `maxRawBytes`). */
  raw: Uint8Array;
}

/** Limits of {@linkcode readOcfBlocks}. */
export interface OcfLimits {
  /** Largest block accepted, compressed or not, in bytes. Default 256 MiB. */
  maxBlockBytes?: number;
  /** Most records one block may claim. Default 10,000,000. */
  maxBlockRecords?: number;
  /** Most raw bytes kept for a damaged region. Default 16 MiB. */
  maxRawBytes?: number;
}

/** The header could not be read: nothing in the file can be decoded. */
export class OcfHeaderError extends RangeError {
  /**
   * Create the error.
   *
   * @param message What was wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "OcfHeaderError";
  }
}

/**
 * Read the header of a container file.
 *
 * @param stream The file, at offset 0.
 * @returns The header.
 * @throws {OcfHeaderError} When the magic, metadata, schema, codec or sync marker is wrong.
 * @example
 * ```ts ignore
 * import { ByteStream } from "./byte_stream.ts";
 * import { readOcfHeader } from "./ocf_reader.ts";
 * const header = await readOcfHeader(await ByteStream.open("night.avro"));
 * header.codec; // "deflate"
 * ```
 */
export async function readOcfHeader(stream: ByteStream): Promise<OcfHeader> {
  try {
    const magic = await stream.read(4, "the file magic");
    if (!OCF_MAGIC.every((b, i) => magic[i] === b)) {
      throw new OcfHeaderError("Not an Avro container file: the magic bytes are not Obj\\x01");
    }
    const metadata = new Map<string, Uint8Array>();
    for (;;) {
      let count = await stream.readLong("the metadata block count");
      if (count === 0n) break;
      if (count < 0n) {
        count = -count;
        await stream.readLong("the metadata block size");
      }
      if (count > 1000n) throw new OcfHeaderError(`Metadata block claims ${count} entries`);
      for (let i = 0n; i < count; i++) {
        const key = new TextDecoder().decode(await _bytes(stream, "a metadata key", 1 << 20));
        metadata.set(key, (await _bytes(stream, `metadata "${key}"`, 64 << 20)).slice());
      }
    }
    const sync = (await stream.read(SYNC_LENGTH, "the sync marker")).slice();
    const schema = metadata.get("avro.schema");
    if (schema === undefined) throw new OcfHeaderError("The header has no avro.schema");
    const codecBytes = metadata.get("avro.codec");
    const codec = codecBytes === undefined ? "null" : new TextDecoder().decode(codecBytes);
    if (!(CODECS as readonly string[]).includes(codec)) {
      throw new OcfHeaderError(
        `Unsupported codec "${codec}": expected ${CODECS.join(", ")}`,
      );
    }
    return {
      schemaJson: new TextDecoder().decode(schema),
      codec: codec as OcfCodec,
      sync,
      metadata,
      length: stream.offset,
    };
  } catch (error) {
    if (error instanceof OcfHeaderError) throw error;
    throw new OcfHeaderError(`Cannot read the container header: ${(error as Error).message}`);
  }
}

/**
 * The blocks after the header, one at a time.
 *
 * @param stream The file, positioned at a block boundary (after the header or at a stored
 * block offset).
 * @param header Its header.
 * @param limits Size limits.
 * @returns Blocks and damaged regions, in file order.
 * @example
 * ```ts ignore
 * import { ByteStream } from "./byte_stream.ts";
 * import { readOcfBlocks, readOcfHeader } from "./ocf_reader.ts";
 * const stream = await ByteStream.open("night.avro");
 * const header = await readOcfHeader(stream);
 * for await (const block of readOcfBlocks(stream, header)) block.kind;
 * ```
 */
export async function* readOcfBlocks(
  stream: ByteStream,
  header: OcfHeader,
  limits: OcfLimits = {},
): AsyncGenerator<OcfBlock | OcfDamage, void, undefined> {
  const maxBlockBytes = limits.maxBlockBytes ?? 256 << 20;
  const maxRecords = BigInt(limits.maxBlockRecords ?? 10_000_000);
  const maxRaw = limits.maxRawBytes ?? 16 << 20;
  while (!(await stream.atEnd())) {
    const offset = stream.offset;
    let problem: string;
    try {
      const count = await stream.readLong("a block's record count");
      const size = await stream.readLong("a block's size");
      if (count < 0n || count > maxRecords) {
        problem = `Block at offset ${offset} claims ${count} records`;
      } else if (size < 0n || size > BigInt(maxBlockBytes)) {
        problem = `Block at offset ${offset} claims ${size} bytes (limit ${maxBlockBytes})`;
      } else {
        const data = await stream.read(Number(size), `the block at offset ${offset}`);
        const sync = await stream.read(
          SYNC_LENGTH,
          `the sync marker of the block at offset ${offset}`,
        ).catch((error) => {
          // Truncated inside the marker: the block's bytes belong in the damage report.
          stream.unread(data);
          throw error;
        });
        if (_equal(sync, header.sync)) {
          let decoded: Uint8Array | null = null;
          try {
            decoded = _decompress(data, header.codec, maxBlockBytes);
          } catch (error) {
            yield {
              kind: "damaged",
              offset,
              error: `Cannot decompress the ${header.codec} block at offset ${offset}: ${
                (error as Error).message
              }`,
              raw: data.slice(0, maxRaw),
            };
          }
          if (decoded !== null) {
            yield { kind: "block", offset, count: Number(count), data: decoded };
          }
          continue;
        }
        if (_differences(sync, header.sync) <= 4) {
          // A marker with a few bytes changed, exactly where the size puts it, is a damaged
          // marker, not a wrong size: resynchronising would also drop the good block after it.
          yield {
            kind: "damaged",
            offset,
            error:
              `Block at offset ${offset} ends with a damaged sync marker; reading resumes at offset ${stream.offset}`,
            raw: data.slice(0, maxRaw),
          };
          continue;
        }
        problem = `Block at offset ${offset} is not followed by the file's sync marker`;
        // The size may have been wrong: the next marker can lie inside what was just read.
        stream.unread(sync);
        stream.unread(data);
      }
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      problem = error instanceof TruncatedInputError
        ? `The file is truncated: ${error.message}`
        : `Block at offset ${offset}: ${error.message}`;
    }
    // Keep the damaged bytes up to the next sync marker, then go on after the marker.
    const resync = await stream.skipTo(header.sync, maxRaw);
    if (resync.found) await stream.skip(SYNC_LENGTH);
    yield {
      kind: "damaged",
      offset,
      error: resync.found ? `${problem}; reading resumes at offset ${stream.offset}` : problem,
      raw: resync.skipped,
    };
  }
}

async function _bytes(stream: ByteStream, what: string, max: number): Promise<Uint8Array> {
  const length = await stream.readLong(`the length of ${what}`);
  if (length < 0n || length > BigInt(max)) {
    throw new OcfHeaderError(`The length of ${what} is ${length}`);
  }
  return await stream.read(Number(length), what);
}

function _equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function _differences(a: Uint8Array, b: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) count++;
  return count;
}

function _decompress(data: Uint8Array, codec: OcfCodec, max: number): Uint8Array {
  if (codec === "null") return data;
  if (codec === "deflate") return new Uint8Array(inflateRawSync(data, { maxOutputLength: max }));
  // Avro's snappy blocks end with the CRC-32 of the uncompressed bytes, big-endian.
  if (data.length < 4) throw new RangeError("the block is shorter than its checksum");
  const out = snappyUncompress(data.subarray(0, data.length - 4), max);
  const expected = new DataView(data.buffer, data.byteOffset + data.length - 4, 4).getUint32(0);
  if (crc32(out) >>> 0 !== expected) throw new RangeError("the CRC-32 does not match");
  return out;
}
