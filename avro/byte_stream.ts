/**
 * A pull-based byte reader over a file or a stream, for decoders that need "exactly N bytes",
 * Avro varints and a known offset, without ever holding more than the bytes asked for.
 *
 * @module
 */

/** Where the bytes come from: the next chunk, or `null` at the end. */
type Pull = () => Promise<Uint8Array | null>;

/** Thrown when the input ends inside something that needed more bytes. */
export class TruncatedInputError extends RangeError {
  /** Offset at which more bytes were needed. */
  readonly offset: number;

  /**
   * Create the error.
   *
   * @param message What was being read.
   * @param offset Where the input ended.
   */
  constructor(message: string, offset: number) {
    super(message);
    this.name = "TruncatedInputError";
    this.offset = offset;
  }
}

const CHUNK = 256 * 1024;
const GZIP_MAGIC = [0x1f, 0x8b];

/** Options of {@linkcode ByteStream.open}. */
export interface ByteStreamOpenOptions {
  /** Decompress when the file starts with the gzip magic bytes. Default `true`. */
  gunzip?: boolean;
}

/**
 * Buffered reader with an offset. File-backed streams that are not compressed can seek.
 *
 * @example
 * ```ts
 * import { ByteStream } from "./byte_stream.ts";
 * const stream = ByteStream.fromBytes(new Uint8Array([0x02, 0x41]));
 * await stream.readLong(); // 1n
 * stream.offset; // 1
 * ```
 */
export class ByteStream {
  #pull: Pull;
  #close: () => void;
  #file: Deno.FsFile | null;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #head = 0; // bytes of #chunks[0] already consumed
  #offset = 0;
  #ended = false;
  /** Whether the bytes are a decompressed gzip stream (offsets are then decompressed offsets). */
  readonly gzipped: boolean;

  private constructor(pull: Pull, close: () => void, file: Deno.FsFile | null, gzipped: boolean) {
    this.#pull = pull;
    this.#close = close;
    this.#file = file;
    this.gzipped = gzipped;
  }

  /**
   * Open a file, decompressing it when it is gzipped.
   *
   * @param path The file.
   * @param options Whether to gunzip.
   * @returns The stream at offset 0.
   */
  static async open(path: string, options: ByteStreamOpenOptions = {}): Promise<ByteStream> {
    const file = await Deno.open(path, { read: true });
    try {
      const magic = new Uint8Array(2);
      const n = await _readFull(file, magic);
      await file.seek(0, Deno.SeekMode.Start);
      if (
        (options.gunzip ?? true) && n === 2 && magic[0] === GZIP_MAGIC[0] &&
        magic[1] === GZIP_MAGIC[1]
      ) {
        const reader = file.readable.pipeThrough(new DecompressionStream("gzip")).getReader();
        return new ByteStream(
          async () => {
            const { done, value } = await reader.read();
            return done ? null : value;
          },
          () => {
            reader.cancel().catch(() => {});
          },
          null,
          true,
        );
      }
      return new ByteStream(
        async () => {
          const chunk = new Uint8Array(CHUNK);
          const read = await file.read(chunk);
          return read === null ? null : chunk.subarray(0, read);
        },
        () => file.close(),
        file,
        false,
      );
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /**
   * A stream over bytes already in memory.
   *
   * @param bytes The bytes.
   * @returns The stream.
   */
  static fromBytes(bytes: Uint8Array): ByteStream {
    let given = false;
    return new ByteStream(
      () => {
        if (given) return Promise.resolve(null);
        given = true;
        return Promise.resolve(bytes);
      },
      () => {},
      null,
      false,
    );
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.#offset;
  }

  /** Whether {@linkcode ByteStream.seek} works (a plain file). */
  get seekable(): boolean {
    return this.#file !== null;
  }

  /**
   * Whether no bytes are left.
   *
   * @returns `true` at the end.
   */
  async atEnd(): Promise<boolean> {
    await this.#fill(1);
    return this.#buffered === 0;
  }

  /**
   * Up to `n` next bytes without consuming them (fewer only at the end).
   *
   * @param n How many.
   * @returns The bytes.
   */
  async peek(n: number): Promise<Uint8Array> {
    await this.#fill(n);
    return this.#copy(Math.min(n, this.#buffered), false);
  }

  /**
   * Exactly `n` bytes.
   *
   * @param n How many; the caller bounds it before asking.
   * @param what What they are, for the error message.
   * @returns The bytes.
   * @throws {TruncatedInputError} When the input ends first.
   */
  async read(n: number, what = "bytes"): Promise<Uint8Array> {
    if (this.#file !== null && !this.#ended && n - this.#buffered > CHUNK) {
      return await this.#readLarge(n, what);
    }
    await this.#fill(n);
    if (this.#buffered < n) {
      throw this.#shortOf(n, what);
    }
    return this.#copy(n, true);
  }

  /**
   * Up to `n` bytes (fewer only at the end), for keeping what is left of a damaged input.
   *
   * @param n At most this many.
   * @returns The bytes.
   */
  async readUpTo(n: number): Promise<Uint8Array> {
    await this.#fill(n);
    return this.#copy(Math.min(n, this.#buffered), true);
  }

  /**
   * One Avro `long` (zig-zag varint, at most 10 bytes).
   *
   * @param what What it is, for error messages.
   * @returns The value.
   * @throws {TruncatedInputError} When the input ends inside it.
   * @throws {RangeError} When it runs past 10 bytes.
   */
  async readLong(what = "a varint"): Promise<bigint> {
    await this.#fill(10);
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (i >= this.#buffered) {
        throw new TruncatedInputError(
          `Input ends at offset ${this.#offset + i} inside ${what}`,
          this.#offset + i,
        );
      }
      const byte = this.#byteAt(i);
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) {
        this.#consume(i + 1);
        return (result >> 1n) ^ -(result & 1n);
      }
      shift += 7n;
    }
    throw new RangeError(`Invalid ${what} at offset ${this.#offset}: longer than 10 bytes`);
  }

  /**
   * Skip `n` bytes.
   *
   * @param n How many.
   * @returns How many were skipped (fewer only at the end).
   */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      await this.#fill(Math.min(left, CHUNK));
      if (this.#buffered === 0) break;
      const step = Math.min(left, this.#buffered);
      this.#consume(step);
      left -= step;
    }
    return n - left;
  }

  /**
   * Advance to the next occurrence of `pattern` (leaving it unread), keeping at most `keep`
   * of the skipped bytes.
   *
   * @param pattern The bytes to find.
   * @param keep Most skipped bytes to return.
   * @returns Whether it was found, and the first `keep` skipped bytes.
   */
  async skipTo(
    pattern: Uint8Array,
    keep: number,
  ): Promise<{ found: boolean; skipped: Uint8Array }> {
    const kept: Uint8Array[] = [];
    let keptLength = 0;
    const skip = (n: number): void => {
      const bytes = this.#copy(n, true);
      if (keptLength < keep) {
        const part = bytes.subarray(0, keep - keptLength);
        kept.push(part.slice());
        keptLength += part.length;
      }
    };
    for (;;) {
      await this.#fill(pattern.length + CHUNK);
      if (this.#buffered < pattern.length) {
        skip(this.#buffered);
        return { found: false, skipped: _join(kept, keptLength) };
      }
      const window = this.#copy(this.#buffered, false);
      const at = _indexOf(window, pattern);
      if (at >= 0) {
        skip(at);
        return { found: true, skipped: _join(kept, keptLength) };
      }
      // The marker may straddle this window's end: keep its possible start.
      skip(window.length - pattern.length + 1);
    }
  }

  /**
   * Put bytes just read back in front of the stream (to rescan them).
   *
   * @param bytes The bytes most recently read, in order.
   */
  unread(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const first = this.#chunks[0];
    if (first !== undefined && this.#head > 0) {
      this.#chunks[0] = first.subarray(this.#head);
      this.#head = 0;
    }
    this.#chunks.unshift(bytes);
    this.#buffered += bytes.length;
    this.#offset -= bytes.length;
  }

  /**
   * Move to an absolute offset of a plain file.
   *
   * @param offset The offset.
   * @throws {TypeError} When the stream is not a plain file.
   */
  async seek(offset: number): Promise<void> {
    if (this.#file === null) throw new TypeError("Cannot seek in a compressed or in-memory stream");
    await this.#file.seek(offset, Deno.SeekMode.Start);
    this.#chunks = [];
    this.#buffered = 0;
    this.#head = 0;
    this.#offset = offset;
    this.#ended = false;
  }

  /** Release the file. Safe to call twice. */
  close(): void {
    const close = this.#close;
    this.#close = () => {};
    close();
  }

  async #fill(n: number): Promise<void> {
    while (this.#buffered < n && !this.#ended) {
      const chunk = await this.#pull();
      if (chunk === null) this.#ended = true;
      else if (chunk.length > 0) {
        this.#chunks.push(chunk);
        this.#buffered += chunk.length;
      }
    }
  }

  // A large read (a whole Avro block) goes from the file straight into its own buffer: no
  // chunks to allocate and join, one copy of the bytes instead of two.
  async #readLarge(n: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    const have = this.#buffered;
    out.set(this.#copy(have, true));
    const got = await _readFull(this.#file as Deno.FsFile, out.subarray(have));
    if (have + got === n) {
      this.#offset += got;
      return out;
    }
    // Short: as if nothing had been consumed, with everything left buffered.
    this.#ended = true;
    this.#chunks = [out.subarray(0, have + got)];
    this.#head = 0;
    this.#buffered = have + got;
    this.#offset -= have;
    throw this.#shortOf(n, what);
  }

  // What is left is shorter than the n bytes `what` needs.
  #shortOf(n: number, what: string): TruncatedInputError {
    return new TruncatedInputError(
      `Input ends at offset ${
        this.#offset + this.#buffered
      } inside ${what} that needs ${n} bytes from offset ${this.#offset}`,
      this.#offset + this.#buffered,
    );
  }

  #byteAt(index: number): number {
    let i = index + this.#head;
    for (const chunk of this.#chunks) {
      if (i < chunk.length) return chunk[i] as number;
      i -= chunk.length;
    }
    throw new RangeError("Internal error: byte beyond the buffer");
  }

  #copy(n: number, consume: boolean): Uint8Array {
    const first = this.#chunks[0];
    // The common case, a read inside one chunk, needs no copy.
    if (first !== undefined && this.#head + n <= first.length) {
      const view = first.subarray(this.#head, this.#head + n);
      if (consume) this.#consume(n);
      return view;
    }
    const out = new Uint8Array(n);
    let written = 0;
    let head = this.#head;
    for (const chunk of this.#chunks) {
      if (written === n) break;
      const take = Math.min(chunk.length - head, n - written);
      out.set(chunk.subarray(head, head + take), written);
      written += take;
      head = 0;
    }
    if (consume) this.#consume(n);
    return out;
  }

  #consume(n: number): void {
    this.#buffered -= n;
    this.#offset += n;
    let left = n;
    while (left > 0) {
      const first = this.#chunks[0] as Uint8Array;
      const rest = first.length - this.#head;
      if (left < rest) {
        this.#head += left;
        return;
      }
      left -= rest;
      this.#chunks.shift();
      this.#head = 0;
    }
  }
}

async function _readFull(file: Deno.FsFile, into: Uint8Array): Promise<number> {
  let total = 0;
  while (total < into.length) {
    const n = await file.read(into.subarray(total));
    if (n === null) break;
    total += n;
  }
  return total;
}

function _indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  const first = needle[0] as number;
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(first); i >= 0 && i <= last; i = haystack.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

function _join(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
