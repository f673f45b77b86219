/**
 * Alerts from files: Avro Object Container Files (many alerts, codecs null/deflate/snappy),
 * single Confluent-framed messages, gzip-compressed variants of both, and CSV exports. The
 * format is told from the content, never from the name.
 *
 * @module
 */

import { AlertParseError, SourceError } from "../../model/errors.ts";
import type { SchemaStore, StoredSchema } from "../../model/stored_schema.ts";
import type { AlertsOptions, AlertSource, SourcedAlert } from "../alert_source.ts";
import type { SourceCursor } from "../../model/source_cursor.ts";
import { ByteStream } from "../../avro/byte_stream.ts";
import { readCsvAlerts } from "../../formats/csv_alerts.ts";
import { expandPaths } from "./_file_paths.ts";
import { decodeFramed, storedSchema } from "../../formats/_message_decoder.ts";
import {
  OCF_MAGIC,
  type OcfHeader,
  OcfHeaderError,
  type OcfLimits,
  readOcfHeader,
} from "../../avro/ocf_reader.ts";
import { type ResolvedSchema, SchemaResolver } from "../../formats/schema_resolver.ts";
import type { BlockDecoding } from "./_block_decoder.ts";
import { ContainerReader, ContainerReadError } from "./_container_reader.ts";
import { containerEvents } from "./_container_events.ts";

/** Options of {@linkcode FileSource}. */
export interface FileSourceOptions {
  /** A file, a directory (read recursively, in sorted order) or a glob. */
  path: string;
  /** Confluent Schema Registry URL, for framed files. Default: none. */
  schemaRegistry?: string;
  /**
   * Schema folder for framed messages: `<M.m>/*.avsc`, Rubin's `<M>/<m>/lsst.v<M>_<m>.*.avsc`
   * tree, or one version's `.avsc` files. Default: none.
   */
  schemaDir?: string;
  /** Where schemas are kept between runs; pass the storage. Default: memory only. */
  schemaStore?: SchemaStore;
  /** Largest single framed message accepted, in bytes. Default 64 MiB. */
  maxMessageBytes?: number;
  /** Limits for container blocks. Default: those of `readOcfBlocks`. */
  blockLimits?: OcfLimits;
  /**
   * Read and decode containers of 1 MiB and more in a Deno worker, on another core, while the
   * calling thread stores earlier alerts; `false` reads everything on the calling thread.
   * Default: `true` when the machine has more than one core.
   */
  decodeWorker?: boolean;
  /**
   * Most bytes of decoded blocks the decode worker reads ahead of the records handed over.
   * Memory for speed: the worker decodes far faster than alerts are stored, so a few blocks
   * keep it ahead; more only holds more blocks in memory. Default 32 MiB.
   */
  readAheadBytes?: number;
  /**
   * Most blocks the decode worker reads ahead, whatever their size: bounds the decoded records
   * held when blocks are small. Default 8.
   */
  readAheadBlocks?: number;
}

const KEEP_RAW = 1 << 20;
// Smaller files are read before a worker would have started.
const WORKER_MIN_BYTES = 1 << 20;
// How far a worker decodes ahead of the records handed over. A block of 100 heavy-history alerts
// is ~27 MB and a batch takes ~70 of them: a block or two ready is enough, as the worker decodes
// ten times faster than alerts are stored (measured on 3,000 heavy alerts: as fast as 256 MiB,
// ~250 MB less memory).
const AHEAD_BYTES = 32 << 20;
const AHEAD_BLOCKS = 8;
/** Position of a rejection that covers a whole file: a resumed run skips the file. */
const WHOLE_FILE = "0:all";
/** Bytes at a file's start that its identity covers. */
const HEAD_BYTES = 64 * 1024;
const SYNC_LENGTH = 16;

/**
 * Reads alert files one block, message or line at a time. Cursor streams are absolute file
 * paths; positions are `<blockOffset>:<record>` in container files (`<blockOffset>:all` for a
 * block that could not be decoded, `0:all` for a file that could not be read at all), `0` for a
 * framed message and the record index in CSV files.
 * Damaged input is yielded as rejected records with its bytes; only a path that does not exist
 * stops the source.
 *
 * Each cursor also records the file's identity, `size=<bytes> head=<SHA-256 of the first 64 KiB>`.
 * A file whose stored identity no longer matches (replaced under the same name, or cut shorter)
 * is read again from its start, and its alerts already stored are skipped as known; a file that
 * was only appended to keeps its first bytes and resumes. A container whose stored block offset
 * is not a block's start (no sync marker before it) is read from its start too, never resumed
 * in the middle of other bytes.
 *
 * @example
 * ```ts ignore
 * import { FileSource } from "./file_source.ts";
 * await using source = new FileSource({ path: "alerts/2026-03-14/", schemaDir: "schema/" });
 * for await (const record of source.alerts({ limit: 10 })) {
 *   if (record.kind === "alert") record.alert.diaSourceId;
 * }
 * ```
 */
export class FileSource implements AlertSource {
  /** Always `"file"`. */
  readonly name = "file";
  /** The path and schema sources. */
  readonly params: Readonly<Record<string, unknown>>;
  #options: FileSourceOptions;
  #resolver: SchemaResolver;
  #open = new Set<ByteStream>();
  // Blocks from the decode worker whose records were handed over, by file, in file order: their
  // bytes are released once the records are acknowledged (stored).
  #handed = new Map<string, Array<{ offset: number; last: number; data: Uint8Array }>>();
  #reader: Promise<ContainerReader | null> | null = null;

  /**
   * Describe what to read; nothing is opened until the alerts are read.
   *
   * @param options Path and schema sources.
   */
  constructor(options: FileSourceOptions) {
    for (const name of ["readAheadBytes", "readAheadBlocks"] as const) {
      const value = options[name];
      if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
        throw new RangeError(`Option ${name} must be a positive integer: ${value}`);
      }
    }
    this.#options = options;
    this.#resolver = new SchemaResolver({
      ...(options.schemaRegistry === undefined ? {} : { registryUrl: options.schemaRegistry }),
      ...(options.schemaDir === undefined ? {} : { schemaDir: options.schemaDir }),
      ...(options.schemaStore === undefined ? {} : { store: options.schemaStore }),
    });
    this.params = {
      path: options.path,
      schemaRegistry: this.#resolver.sources.registryUrl,
      schemaDir: options.schemaDir ?? null,
    };
  }

  /**
   * Yield every alert of every file, in path order.
   *
   * @param options Signal and limit (checked between records) and stored positions.
   * @returns Alerts and rejected records with their cursors.
   */
  async *alerts(options: AlertsOptions = {}): AsyncGenerator<SourcedAlert, void, undefined> {
    const { signal, limit = Infinity, resumeFrom, identities } = options;
    if (limit <= 0) return;
    let yielded = 0;
    try {
      // One large file: start the worker now (unless prepare() did), while the header is read
      // and its schema compiled.
      await this.#startEarly();
      for await (const path of expandPaths(this.#options.path)) {
        if (signal?.aborted) return;
        const stored = resumeFrom?.get(path);
        for await (const item of this.#readFile(path, stored, identities?.get(path))) {
          yield item;
          if (++yielded >= limit || signal?.aborted) return;
        }
      }
    } finally {
      // Records still unacknowledged keep their bytes: the caller may hold them.
      this.#handed.clear();
      await this.#closeReader();
    }
  }

  /**
   * Of the streams with stored cursors, the files this source reads.
   *
   * @param streams Streams with stored cursors (absolute paths).
   * @returns The files under this source's path.
   * @throws {SourceError} When nothing exists at the path.
   */
  async ownStreams(streams: readonly string[]): Promise<string[]> {
    const wanted = new Set(streams);
    const own: string[] = [];
    for await (const path of expandPaths(this.#options.path)) {
      if (wanted.has(path)) own.push(path);
    }
    return own;
  }

  /**
   * Called by the pipeline once the records up to these cursors are stored: the bytes of the
   * decode worker's blocks they came from are released at once, where the garbage collector
   * would keep block after block (tens of MB each for heavy-history alerts) until its next full
   * collection. The alerts of those blocks must not be read after this: their cutouts and raw
   * payloads are views of the released bytes, and read as empty.
   *
   * @param cursors The newest stored cursor of each stream.
   */
  acknowledge(cursors: readonly SourceCursor[]): Promise<void> {
    for (const { stream, position } of cursors) {
      const blocks = this.#handed.get(stream);
      const stored = _parseBlockPosition(position);
      if (blocks === undefined || stored === null) continue;
      while (blocks.length > 0) {
        const block = blocks[0] as { offset: number; last: number; data: Uint8Array };
        if (block.offset > stored.offset) break;
        if (block.offset === stored.offset && stored.record < block.last) break;
        blocks.shift();
        _release(block.data.buffer as ArrayBuffer);
      }
    }
    return Promise.resolve();
  }

  /** Close any file still open. Safe to call twice. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const stream of this.#open) stream.close();
    this.#open.clear();
    await this.#closeReader();
  }

  /**
   * Start loading the decode worker when the path is one large file, which the next
   * {@linkcode FileSource.alerts} takes over: the pipeline calls this before the storage starts.
   *
   * @returns Stops the worker, when `alerts()` will not be called.
   */
  prepare(): () => Promise<void> {
    const early = this.#startEarly().catch(() => {});
    return async () => {
      await early;
      await this.#closeReader();
    };
  }

  async #startEarly(): Promise<void> {
    const size = await Deno.stat(this.#options.path).then((s) => s.size, () => 0);
    if (size >= WORKER_MIN_BYTES) this.#containerReader().catch(() => {});
  }

  // Started for the first file large enough to pay for it, kept for the following ones.
  #containerReader(): Promise<ContainerReader | null> {
    if (this.#reader === null) {
      const wanted = this.#options.decodeWorker ?? navigator.hardwareConcurrency > 1;
      this.#reader = wanted ? ContainerReader.start() : Promise.resolve(null);
    }
    return this.#reader;
  }

  async #closeReader(): Promise<void> {
    const reader = this.#reader;
    this.#reader = null;
    (await reader)?.close();
  }

  async *#readFile(
    path: string,
    stored: string | undefined,
    known: string | undefined,
  ): AsyncGenerator<SourcedAlert> {
    const { identity, same } = await _fileIdentity(path, known);
    const items = this.#readContent(path, same ? stored : undefined);
    if (identity === null) {
      yield* items;
      return;
    }
    for await (const item of items) yield { ...item, cursor: { ...item.cursor, identity } };
  }

  async *#readContent(path: string, stored: string | undefined): AsyncGenerator<SourcedAlert> {
    if (stored === WHOLE_FILE) return;
    let stream: ByteStream;
    try {
      stream = await ByteStream.open(path);
    } catch (error) {
      yield _rejected(path, WHOLE_FILE, `Cannot open "${path}": ${_message(error)}`, null, error);
      return;
    }
    this.#open.add(stream);
    try {
      const head = await stream.peek(4);
      if (head.length === 0) {
        yield _rejected(path, WHOLE_FILE, `File "${path}" is empty`, null);
      } else if (OCF_MAGIC.every((b, i) => head[i] === b)) {
        yield* this.#readContainer(path, stream, stored);
      } else if (head[0] === 0x00) {
        if (stored === undefined) yield await this.#readFramed(path, stream);
      } else if (await _looksLikeCsv(stream)) {
        yield* this.#readCsv(path, stream, stored);
      } else {
        const raw = await stream.readUpTo(KEEP_RAW);
        yield _rejected(
          path,
          WHOLE_FILE,
          `Unrecognised file "${path}": not an Avro container file, a Confluent-framed message or a CSV file with a dia_source_id column`,
          raw,
        );
      }
    } catch (error) {
      if (error instanceof SourceError) throw error;
      // A broken gzip stream or a read error ends this file only (once: not again on resume).
      const offset = error instanceof ContainerReadError ? error.offset : stream.offset;
      const position = `${offset}:all`;
      if (position !== stored) {
        yield _rejected(
          path,
          position,
          `Cannot read "${path}" at offset ${offset}: ${_message(error)}`,
          null,
          error,
        );
      }
    } finally {
      this.#open.delete(stream);
      stream.close();
    }
  }

  async *#readContainer(
    path: string,
    stream: ByteStream,
    stored: string | undefined,
  ): AsyncGenerator<SourcedAlert> {
    let schema: ResolvedSchema;
    try {
      const header = await readOcfHeader(stream);
      schema = await this.#resolver.fromJson(header.schemaJson);
      let resume = _parseBlockPosition(stored);
      // A position inside a block is only meaningful if a block still starts there; the
      // position of damage (`<offset>:all`) is resumed by resynchronising, as reading does.
      if (
        resume !== null && resume.record !== Infinity &&
        !(await _blockStartsAt(path, stream, header, resume.offset))
      ) {
        resume = null;
      }
      const storedForm = storedSchema(schema);
      const reader = (await Deno.stat(path)).size >= WORKER_MIN_BYTES
        ? await this.#containerReader()
        : null;
      const events = reader === null
        ? containerEvents(stream, header, schema, this.#options.blockLimits, resume)
        : reader.read(path, resume, this.#options.blockLimits, {
          bytes: this.#options.readAheadBytes ?? AHEAD_BYTES,
          blocks: this.#options.readAheadBlocks ?? AHEAD_BLOCKS,
        });
      for await (const event of events) {
        if (event.kind === "damaged") {
          yield _rejected(path, `${event.offset}:all`, `${event.error} in "${path}"`, event.raw);
        } else {
          const { offset, count, data, done, decoding } = event;
          if (reader !== null) {
            let blocks = this.#handed.get(path);
            if (blocks === undefined) this.#handed.set(path, blocks = []);
            blocks.push({ offset, last: count - 1, data });
          }
          yield* this.#blockItems(path, storedForm, offset, count, data, done, decoding);
        }
      }
    } catch (error) {
      if (
        !(error instanceof OcfHeaderError || error instanceof SyntaxError || _isSchemaError(error))
      ) {
        throw error;
      }
      yield _rejected(
        path,
        WHOLE_FILE,
        `Cannot read the Avro container "${path}": ${_message(error)}`,
        await _head(path),
        error,
      );
    }
  }

  // The items of a decoded block, with the messages and positions reading has always given.
  *#blockItems(
    path: string,
    schema: StoredSchema,
    offset: number,
    count: number,
    data: Uint8Array,
    done: number,
    decoding: BlockDecoding,
  ): Generator<SourcedAlert> {
    // Taken before the records are handed over: once they are acknowledged the block's bytes
    // are released (see acknowledge()).
    const { failure, end: at } = decoding;
    const trailing = failure === null && at !== data.length && done !== Infinity
      ? { length: data.length - at, raw: data.slice(at, at + KEEP_RAW) }
      : null;
    for (const [record, { start, end, alert, mapError }] of decoding.records.entries()) {
      if (record <= done) continue;
      const position = `${offset}:${record}`;
      if (alert !== null) {
        const raw = { payload: data.subarray(start, end), schema };
        yield { kind: "alert", alert, raw, cursor: { stream: path, position } };
      } else {
        yield _rejected(
          path,
          position,
          `Cannot map record ${record} of the block at offset ${offset} in "${path}": ${mapError}`,
          data.slice(start, end),
          new TypeError(mapError ?? "not an alert"),
        );
      }
    }
    if (failure !== null) {
      if (done === Infinity) return;
      // Without this record's end the rest of the block cannot be found: keep it whole.
      yield _rejected(
        path,
        `${offset}:all`,
        `Cannot decode record ${failure.record} of the block at offset ${offset} in "${path}" (${
          count - failure.record
        } records to the block's end kept together): ${failure.message}`,
        data.slice(failure.start, failure.start + KEEP_RAW),
        new RangeError(failure.message),
      );
      return;
    }
    if (trailing !== null) {
      yield _rejected(
        path,
        `${offset}:all`,
        `The block at offset ${offset} in "${path}" has ${trailing.length} bytes after its last record`,
        trailing.raw,
      );
    }
  }

  async #readFramed(path: string, stream: ByteStream): Promise<SourcedAlert> {
    const max = this.#options.maxMessageBytes ?? 64 << 20;
    const bytes = await stream.readUpTo(max + 1);
    if (bytes.length > max) {
      return _rejected(
        path,
        "0",
        `Framed message "${path}" is larger than ${max} bytes`,
        bytes.subarray(0, KEEP_RAW),
      );
    }
    try {
      const { alert, raw } = await decodeFramed(bytes, this.#resolver, "file");
      return { kind: "alert", alert, raw, cursor: { stream: path, position: "0" } };
    } catch (error) {
      if (error instanceof SourceError) throw error;
      return _rejected(
        path,
        "0",
        `Cannot decode the framed message "${path}": ${_message(error)}`,
        bytes,
        error,
      );
    }
  }

  async *#readCsv(
    path: string,
    stream: ByteStream,
    stored: string | undefined,
  ): AsyncGenerator<SourcedAlert> {
    const skipThrough = stored === undefined ? undefined : Number(stored);
    const input = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const chunk = await stream.readUpTo(64 * 1024);
        if (chunk.length === 0) controller.close();
        else controller.enqueue(chunk.slice());
      },
    });
    try {
      for await (
        const row of readCsvAlerts(input, {
          stream: path,
          ...(skipThrough === undefined || !Number.isSafeInteger(skipThrough)
            ? {}
            : { skipThrough }),
        })
      ) {
        const cursor = { stream: path, position: String(row.index) };
        if (row.kind === "alert") {
          yield { kind: "alert", alert: row.alert, cursor, cutoutPaths: row.cutoutPaths };
        } else {
          yield { kind: "rejected", error: row.error, raw: row.raw, cursor };
        }
      }
    } catch (error) {
      if (!(error instanceof AlertParseError)) throw error;
      yield _rejected(path, WHOLE_FILE, error.message, await _head(path), error);
    }
  }
}

// The schema parsed as JSON but is not a valid Avro schema (avsc throws plain Errors).
function _isSchemaError(error: unknown): boolean {
  return error instanceof Error && error.constructor === Error;
}

// The start of a file that could not be read, for the quarantine.
async function _head(path: string): Promise<Uint8Array | null> {
  try {
    using file = await Deno.open(path);
    const buffer = new Uint8Array(KEEP_RAW);
    let total = 0;
    while (total < buffer.length) {
      const n = await file.read(buffer.subarray(total));
      if (n === null) break;
      total += n;
    }
    return buffer.slice(0, total);
  } catch {
    return null;
  }
}

// The identity of a file (see FileSource) and whether it is the file of the stored identity.
// Modification times tell neither: an append changes them, a copy may keep them.
async function _fileIdentity(
  path: string,
  known: string | undefined,
): Promise<{ identity: string | null; same: boolean }> {
  let size: number;
  let head: Uint8Array<ArrayBuffer>;
  try {
    using file = await Deno.open(path);
    size = (await file.stat()).size;
    head = new Uint8Array(Math.min(size, HEAD_BYTES));
    let total = 0;
    while (total < head.length) {
      const n = await file.read(head.subarray(total));
      if (n === null) break;
      total += n;
    }
    head = head.subarray(0, total);
  } catch {
    // Reading it fails again in a moment, with its own message.
    return { identity: null, same: true };
  }
  const digest = await _sha256(head);
  const identity = `size=${size} head=${digest}`;
  const was = /^size=(\d+) head=([0-9a-f]{64})$/.exec(known ?? "");
  // Stored by an older version: unknown, accepted, and recorded from now on.
  if (was === null) return { identity, same: true };
  const wasSize = Number(was[1]);
  if (wasSize > size) return { identity, same: false };
  // Appended to: the bytes it had then are the same.
  const covered = Math.min(wasSize, HEAD_BYTES);
  const then = covered === head.length ? digest : await _sha256(head.subarray(0, covered));
  return { identity, same: then === was[2] };
}

async function _sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Every block follows a sync marker (the first one the header's): the 16 bytes before a block's
// offset are the file's marker, or one damaged in a few bytes after which reading goes on too
// (see readOcfBlocks). The stream is left after the header.
async function _blockStartsAt(
  path: string,
  stream: ByteStream,
  header: OcfHeader,
  offset: number,
): Promise<boolean> {
  if (offset < header.length) return false;
  // A compressed stream cannot go back: another one is read up to the offset.
  const probe = stream.seekable ? stream : await ByteStream.open(path);
  try {
    if (probe.seekable) await probe.seek(offset - SYNC_LENGTH);
    else await probe.skip(offset - SYNC_LENGTH);
    const marker = await probe.readUpTo(SYNC_LENGTH);
    if (marker.length < SYNC_LENGTH) return false;
    let differences = 0;
    for (let i = 0; i < SYNC_LENGTH; i++) if (marker[i] !== header.sync[i]) differences++;
    return differences <= 4;
  } finally {
    if (probe === stream) await stream.seek(header.length);
    else probe.close();
  }
}

function _parseBlockPosition(
  stored: string | undefined,
): { offset: number; record: number } | null {
  if (stored === undefined) return null;
  const match = /^(\d+):(\d+|all)$/.exec(stored);
  if (match === null) return null;
  return { offset: Number(match[1]), record: match[2] === "all" ? Infinity : Number(match[2]) };
}

async function _looksLikeCsv(stream: ByteStream): Promise<boolean> {
  const head = await stream.peek(64 * 1024);
  const text = new TextDecoder("utf-8", { fatal: false }).decode(head);
  const firstLine = text.replace(/^\uFEFF/, "").split(/\r?\n/, 1)[0] ?? "";
  return /(^|,)\s*"?dia_source_id"?\s*(,|$)/.test(firstLine);
}

// Frees a block's bytes now: detaching its buffer drops the memory behind every view of it.
function _release(buffer: ArrayBuffer): void {
  if (!buffer.detached) {
    (buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
  }
}

function _rejected(
  stream: string,
  position: string,
  message: string,
  raw: Uint8Array | null,
  cause?: unknown,
): SourcedAlert {
  return {
    kind: "rejected",
    error: new AlertParseError(message, {
      stream,
      position,
      ...(cause === undefined ? {} : { cause }),
    }),
    raw,
    cursor: { stream, position },
  };
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
