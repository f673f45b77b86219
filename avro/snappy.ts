/**
 * Snappy decompression of the raw format (a varint of the uncompressed length, then literals and
 * back-references), for the two places alerts arrive compressed with it: Avro container blocks
 * and Kafka record batches (Rubin's stream is snappy). Cutouts make these hundreds of megabytes a
 * minute, and npm's snappyjs copies every literal and back-reference a byte at a time: here a long
 * one is one native copy (`set`, `copyWithin`), and the output can be a view into a larger buffer,
 * so Kafka's framed chunks land in place without a copy to join them. Compression stays with
 * snappyjs (only tests and the benchmarks' producers compress).
 *
 * @module
 */

// Shorter copies run faster as a loop than as a native call.
const NATIVE_COPY = 24;
// The most output one byte of input can give: a 3-byte copy tag yields at most 64 bytes.
const MAX_EXPANSION = 64 / 3;
// The format's limit.
const MAX_LENGTH = 0xffffffff;

/**
 * The uncompressed length a snappy stream declares, and where its body starts.
 *
 * @param data The stream.
 * @returns The length and the body's offset.
 * @throws {RangeError} When the length is truncated or longer than 5 bytes.
 * @example
 * ```ts
 * import { snappyLength } from "./snappy.ts";
 * snappyLength(new Uint8Array([0x80, 0x01, 0x00])); // { length: 128, start: 2 }
 * ```
 */
export function snappyLength(data: Uint8Array): { length: number; start: number } {
  let length = 0;
  for (let i = 0; i < 5; i++) {
    const byte = data[i];
    if (byte === undefined) throw new RangeError("the uncompressed length is truncated");
    length += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return { length, start: i + 1 };
  }
  throw new RangeError("the uncompressed length is longer than 5 bytes");
}

/**
 * Decompress a snappy stream.
 *
 * @param data The stream.
 * @param max Largest uncompressed length accepted (checked before anything is allocated).
 * @returns The uncompressed bytes.
 * @throws {RangeError} When the stream is malformed or declares more than `max` bytes.
 * @example
 * ```ts
 * import { snappyUncompress } from "./snappy.ts";
 * // 6 bytes: the literal "ab", then 4 bytes copied from 2 back.
 * const bytes = snappyUncompress(new Uint8Array([6, 0x04, 0x61, 0x62, 0x01, 0x02]));
 * new TextDecoder().decode(bytes); // "ababab"
 * ```
 */
export function snappyUncompress(data: Uint8Array, max = MAX_LENGTH): Uint8Array {
  const { length, start } = snappyClaim(data, max);
  const out = new Uint8Array(length);
  _uncompress(data, start, out);
  return out;
}

/**
 * Decompress a snappy stream into `out`, which must be exactly its uncompressed length: a view
 * into a larger buffer takes it in place.
 *
 * @param data The stream.
 * @param out Where the bytes go.
 * @throws {RangeError} When the stream is malformed or its length is not `out`'s.
 */
export function snappyUncompressInto(data: Uint8Array, out: Uint8Array): void {
  const { length, start } = snappyClaim(data);
  if (length !== out.length) {
    throw new RangeError(`it claims ${length} bytes uncompressed, not ${out.length}`);
  }
  _uncompress(data, start, out);
}

/**
 * The uncompressed length a snappy stream declares, once it is known to be one that can be
 * allocated: no more than asked for, and no more than its body could hold (no tag yields more
 * than 64 bytes for its 3).
 *
 * @param data The stream.
 * @param max Largest uncompressed length accepted.
 * @returns The length and the body's offset.
 * @throws {RangeError} When the length is malformed or refused.
 */
export function snappyClaim(
  data: Uint8Array,
  max = MAX_LENGTH,
): { length: number; start: number } {
  const claim = snappyLength(data);
  const { length } = claim;
  const body = data.length - claim.start;
  if (length > max) throw new RangeError(`it claims ${length} bytes uncompressed`);
  if (length > body * MAX_EXPANSION) {
    throw new RangeError(
      `it claims ${length} bytes uncompressed from ${body}, beyond snappy's reach`,
    );
  }
  return claim;
}

function _uncompress(data: Uint8Array, start: number, out: Uint8Array): void {
  const end = data.length;
  const size = out.length;
  let at = start;
  let pos = 0;
  while (at < end) {
    const tag = data[at++] as number;
    let length: number;
    let offset: number;
    if ((tag & 3) === 0) {
      // A literal: its length - 1 in the tag's upper 6 bits, or in the next 1-4 bytes.
      length = (tag >>> 2) + 1;
      if (length > 60) {
        const bytes = length - 60;
        if (at + bytes > end) throw _error("a literal's length is truncated", at);
        length = 0;
        for (let i = 0; i < bytes; i++) length += (data[at + i] as number) * 2 ** (8 * i);
        length += 1;
        at += bytes;
      }
      if (at + length > end) throw _error("a literal runs past the end of the input", at);
      if (pos + length > size) throw _error("the output runs past its declared length", at);
      if (length < NATIVE_COPY) {
        for (let i = 0; i < length; i++) out[pos + i] = data[at + i] as number;
      } else {
        out.set(data.subarray(at, at + length), pos);
      }
      at += length;
      pos += length;
      continue;
    }
    // A copy of earlier output: 1, 2 or 4 offset bytes after the tag.
    if ((tag & 3) === 1) {
      if (at >= end) throw _error("a copy's offset is truncated", at);
      length = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | (data[at] as number);
      at += 1;
    } else if ((tag & 3) === 2) {
      if (at + 2 > end) throw _error("a copy's offset is truncated", at);
      length = (tag >>> 2) + 1;
      offset = (data[at] as number) | ((data[at + 1] as number) << 8);
      at += 2;
    } else {
      if (at + 4 > end) throw _error("a copy's offset is truncated", at);
      length = (tag >>> 2) + 1;
      offset = ((data[at] as number) | ((data[at + 1] as number) << 8) |
        ((data[at + 2] as number) << 16)) + (data[at + 3] as number) * 2 ** 24;
      at += 4;
    }
    if (offset === 0 || offset > pos) throw _error(`a copy reaches ${offset} bytes back`, at);
    if (pos + length > size) throw _error("the output runs past its declared length", at);
    const from = pos - offset;
    if (length < NATIVE_COPY) {
      // Overlapping copies repeat the last `offset` bytes: byte by byte does that.
      for (let i = 0; i < length; i++) out[pos + i] = out[from + i] as number;
      pos += length;
      continue;
    }
    // copyWithin reads before it writes: copy at most what lies between source and position,
    // a span that doubles each time, which repeats the pattern as a byte loop would.
    const stop = pos + length;
    while (pos < stop) {
      const n = Math.min(stop - pos, pos - from);
      out.copyWithin(pos, from, from + n);
      pos += n;
    }
  }
  if (pos !== size) throw _error(`the output ends at ${pos} of ${size} declared bytes`, at);
}

function _error(what: string, at: number): RangeError {
  return new RangeError(`${what} (input byte ${at})`);
}
