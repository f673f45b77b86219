/**
 * Quarantined records decoded again with what is known now (schemas added since, a fixed
 * mapper, an ANTARES API that answers again), with the decoders the sources use, so a replayed
 * record becomes exactly what it would have become when it was first read.
 *
 * @module
 */

import { AlertParseError, SourceError } from "../model/errors.ts";
import type { QuarantineRecord } from "../storage/storage.ts";
import type { SchemaStore } from "../model/stored_schema.ts";
import type { DecodedAlert, SourcedAlert } from "../sources/alert_source.ts";
import type { SourceCursor } from "../model/source_cursor.ts";
import { AntaresApi } from "../sources/antares/antares_api.ts";
import { ANTARES_API } from "../sources/antares/antares_source.ts";
import { ByteStream } from "../avro/byte_stream.ts";
import { readCsvAlerts } from "../formats/csv_alerts.ts";
import { readOcfHeader } from "../avro/ocf_reader.ts";
import { type ResolvedSchema, SchemaResolver } from "../formats/schema_resolver.ts";
import { decodeBlockRecords } from "../sources/file/_block_decoder.ts";
import { locusItems } from "../sources/antares/_antares_locus_items.ts";
import {
  decodeContainer,
  type DecodedPacket,
  decodeFramed,
  messageFormat,
  storedSchema,
} from "../formats/_message_decoder.ts";

/** Options of {@linkcode QuarantineDecoder}. */
export interface QuarantineDecoderOptions {
  /**
   * Schema folder for framed messages: `<M.m>/*.avsc`, Rubin's `<M>/<m>/lsst.v<M>_<m>.*.avsc`
   * tree, or one version's `.avsc` files. Default: none.
   */
  schemaDir?: string;
  /** Confluent Schema Registry URL, for framed messages. Default: none. */
  schemaRegistry?: string;
  /** Where schemas are kept between runs; pass the storage. Default: memory only. */
  schemaStore?: SchemaStore;
  /** ANTARES HTTP API, for loci whose alerts could not be fetched. Default: ANTARES's own. */
  antaresApiBaseUrl?: string;
}

/** What a quarantined record gives now. */
export type QuarantineDecoding =
  | {
    /** It decodes. */
    kind: "decoded";
    /**
     * What reading it first would have given: alerts, an ANTARES locus, and parts rejected on
     * their own (alerts of a locus that do not map), each with the row's stream and position.
     */
    items: SourcedAlert[];
  }
  | {
    /** It still fails. */
    kind: "failed";
    /** Why, worded as when it was first read. */
    error: string;
  }
  | {
    /** Its row does not hold a record that can be decoded on its own. */
    kind: "unsupported";
    /** Why. */
    reason: string;
  };

const CSV_HEADER_MAX = 1 << 20;

/**
 * Decodes quarantine rows again, by the source that quarantined them:
 *
 * - `file`: a Confluent-framed message (position `0`) with the schema resolver (the database's
 *   `schemas`, then the schema folder, then the registry); a container record that did not map
 *   (`<blockOffset>:<record>`) with the writer schema in its file's header (the file must still
 *   be there); a CSV record (the record index) after its file's header row.
 * - `kafka`: the message, framed or an Avro container.
 * - `antares`: the locus message; its alerts are fetched when it does not include them.
 *
 * Not replayable: damaged blocks and unreadable files (`<blockOffset>:all`, `0:all`: the bytes
 * kept are not whole records), bad cutouts (`<source>:cutout`: their alert is stored), ANTARES
 * alerts that did not map (only their id and time were kept), rows without raw bytes (the mock)
 * and other sources.
 *
 * @example
 * ```ts ignore
 * import { openStorage, QuarantineDecoder } from "../mod.ts";
 * await using storage = openStorage("data/alerts.db");
 * const decoder = new QuarantineDecoder({ schemaDir: "schema/", schemaStore: storage });
 * for (const row of await storage.listQuarantine()) {
 *   const result = await decoder.decode(row, await storage.quarantineRaw(row.id));
 *   console.log(row.id, result.kind);
 * }
 * ```
 */
export class QuarantineDecoder {
  /** Where schemas and loci's alerts are looked for (no credentials). */
  readonly params: Readonly<Record<string, unknown>>;
  #resolver: SchemaResolver;
  #api: AntaresApi;
  #containers = new Map<string, Promise<ResolvedSchema>>();
  #csvHeaders = new Map<string, Promise<Uint8Array>>();

  /**
   * Describe where schemas and alerts may come from.
   *
   * @param options Schema folder, registry and store; ANTARES API.
   */
  constructor(options: QuarantineDecoderOptions = {}) {
    this.#resolver = new SchemaResolver({
      ...(options.schemaRegistry === undefined ? {} : { registryUrl: options.schemaRegistry }),
      ...(options.schemaDir === undefined ? {} : { schemaDir: options.schemaDir }),
      ...(options.schemaStore === undefined ? {} : { store: options.schemaStore }),
    });
    const apiBaseUrl = options.antaresApiBaseUrl ?? ANTARES_API;
    this.#api = new AntaresApi({ baseUrl: apiBaseUrl });
    this.params = { ...this.#resolver.sources, antaresApiBaseUrl: apiBaseUrl };
  }

  /**
   * Decode one quarantine row's record again.
   *
   * @param row The row.
   * @param raw Its raw bytes.
   * @param signal Aborts an ANTARES fetch.
   * @returns Its items, why it still fails, or why it cannot be replayed.
   * @throws {SourceError} When the schema registry cannot be reached.
   */
  async decode(
    row: QuarantineRecord,
    raw: Uint8Array | null,
    signal?: AbortSignal,
  ): Promise<QuarantineDecoding> {
    if (row.source.endsWith(":cutout")) {
      return _unsupported("a bad cutout (its alert is stored)");
    }
    if (raw === null) return _unsupported("no raw bytes were kept");
    const cursor: SourceCursor = { stream: row.stream, position: row.position };
    switch (row.source) {
      case "file":
        return await this.#file(row, raw, cursor);
      case "kafka":
        return await this.#kafka(raw, cursor);
      case "antares":
        return await this.#antares(raw, cursor, signal);
      default:
        return _unsupported(`records of source "${row.source}" cannot be replayed`);
    }
  }

  #file(row: QuarantineRecord, raw: Uint8Array, cursor: SourceCursor): Promise<QuarantineDecoding> {
    const { stream: path, position } = cursor;
    if (/^\d+:all$/.test(position)) {
      return Promise.resolve(_unsupported("a damaged block or file (not whole records)"));
    }
    const record = /^(\d+):(\d+)$/.exec(position);
    if (record !== null) {
      return this.#containerRecord(raw, cursor, Number(record[1]), Number(record[2]));
    }
    // A framed file's only position is 0; a CSV record never starts with a NUL byte.
    if (position === "0" && raw[0] === 0x00) return this.#framed(raw, cursor);
    if (/^\d+$/.test(position)) return this.#csvRecord(row, raw, cursor);
    return Promise.resolve(_unsupported(`position "${position}" in "${path}" is not a record`));
  }

  async #framed(raw: Uint8Array, cursor: SourceCursor): Promise<QuarantineDecoding> {
    try {
      return _decoded([await decodeFramed(raw, this.#resolver, "file")], cursor);
    } catch (error) {
      if (error instanceof SourceError) throw error;
      return _failed(`Cannot decode the framed message "${cursor.stream}": ${_message(error)}`);
    }
  }

  async #containerRecord(
    raw: Uint8Array,
    cursor: SourceCursor,
    offset: number,
    record: number,
  ): Promise<QuarantineDecoding> {
    const path = cursor.stream;
    let schema: ResolvedSchema;
    try {
      schema = await this.#containerSchema(path);
    } catch (error) {
      if (error instanceof SourceError) throw error;
      return _failed(`Cannot read the Avro container "${path}": ${_message(error)}`);
    }
    const where = `record ${record} of the block at offset ${offset} in "${path}"`;
    const decoding = decodeBlockRecords(schema, raw, 1, -1);
    if (decoding.failure !== null) {
      return _failed(`Cannot decode ${where}: ${decoding.failure.message}`);
    }
    if (decoding.end !== raw.length) {
      return _failed(`Cannot decode ${where}: ${raw.length - decoding.end} bytes follow it`);
    }
    const { alert, mapError } = decoding.records[0] ?? { alert: null, mapError: null };
    if (alert === null) return _failed(`Cannot map ${where}: ${mapError ?? "not an alert"}`);
    return _decoded([{ alert, raw: { payload: raw, schema: storedSchema(schema) } }], cursor);
  }

  async #csvRecord(
    row: QuarantineRecord,
    raw: Uint8Array,
    cursor: SourceCursor,
  ): Promise<QuarantineDecoding> {
    const path = cursor.stream;
    let header: Uint8Array;
    try {
      header = await this.#csvHeader(path);
    } catch (error) {
      return _failed(`Cannot read the header row of "${path}": ${_message(error)}`);
    }
    const text = new Uint8Array(header.length + raw.length + 2);
    text.set(header);
    text[header.length] = 0x0a;
    text.set(raw, header.length + 1);
    text[text.length - 1] = 0x0a;
    const input = ReadableStream.from([text]);
    try {
      for await (const item of readCsvAlerts(input, { stream: path })) {
        if (item.kind === "rejected") return _failed(_onLine(item.error.message, row.error));
        const { alert, cutoutPaths } = item;
        return { kind: "decoded", items: [{ kind: "alert", alert, cutoutPaths, cursor }] };
      }
    } catch (error) {
      if (!(error instanceof AlertParseError)) throw error;
      return _failed(error.message);
    }
    return _failed(`Cannot import record ${cursor.position} of "${path}": it is blank`);
  }

  async #kafka(raw: Uint8Array, cursor: SourceCursor): Promise<QuarantineDecoding> {
    try {
      const alerts = messageFormat(raw, "auto") === "confluent"
        ? [await decodeFramed(raw, this.#resolver, "kafka")]
        : await decodeContainer(raw, this.#resolver, "kafka");
      return _decoded(alerts, cursor);
    } catch (error) {
      if (error instanceof SourceError) throw error;
      return _failed(`Cannot decode the message in ${_where(cursor, "")}: ${_message(error)}`);
    }
  }

  async #antares(
    raw: Uint8Array,
    cursor: SourceCursor,
    signal?: AbortSignal,
  ): Promise<QuarantineDecoding> {
    // Such a row holds `{"id", "mjd"}` of an alert that did not map, not a locus message.
    if (raw[0] === 0x7b) {
      return _unsupported("an ANTARES alert that did not map (only its id and time were kept)");
    }
    const items = await locusItems(raw, cursor, _where(cursor, "ANTARES "), this.#api, signal);
    if (items === null) signal?.throwIfAborted();
    const locus = items?.some((item) => item.kind === "locus") ?? false;
    if (!locus) {
      const first = items?.[0];
      return _failed(first?.kind === "rejected" ? first.error.message : "The locus has no items");
    }
    return { kind: "decoded", items: items as SourcedAlert[] };
  }

  // Read once per file: a file's rows share its header.
  #containerSchema(path: string): Promise<ResolvedSchema> {
    let pending = this.#containers.get(path);
    if (pending === undefined) {
      pending = (async () => {
        const stream = await ByteStream.open(path);
        try {
          const header = await readOcfHeader(stream);
          return await this.#resolver.fromJson(header.schemaJson);
        } finally {
          stream.close();
        }
      })();
      pending.catch(() => this.#containers.delete(path));
      this.#containers.set(path, pending);
    }
    return pending;
  }

  #csvHeader(path: string): Promise<Uint8Array> {
    let pending = this.#csvHeaders.get(path);
    if (pending === undefined) {
      pending = _readCsvHeader(path);
      pending.catch(() => this.#csvHeaders.delete(path));
      this.#csvHeaders.set(path, pending);
    }
    return pending;
  }
}

// The file's bytes through its header row (blank lines before it included), found by the first
// line break outside quotes that ends a non-blank line.
async function _readCsvHeader(path: string): Promise<Uint8Array> {
  const stream = await ByteStream.open(path);
  try {
    const head = await stream.peek(CSV_HEADER_MAX);
    let quoted = false;
    let lineStart = 0;
    for (let i = 0; i < head.length; i++) {
      const byte = head[i];
      if (byte === 0x22) quoted = !quoted;
      if (byte !== 0x0a || quoted) continue;
      const line = head.subarray(lineStart, i);
      if (line.some((b) => b !== 0x0d)) return head.slice(0, i);
      lineStart = i + 1;
    }
    throw new RangeError(`no header row ends in its first ${CSV_HEADER_MAX} bytes`);
  } finally {
    stream.close();
  }
}

// The record is read after the header alone, so on line 2: the message names its real line.
function _onLine(message: string, original: string): string {
  const line = /^Cannot import line (\d+) of /.exec(original)?.[1];
  return line === undefined
    ? message
    : message.replace(/^Cannot import line \d+ of /, `Cannot import line ${line} of `);
}

// A Kafka cursor in words, as the Kafka and ANTARES sources word it.
function _where(cursor: SourceCursor, kind: string): string {
  const slash = cursor.stream.lastIndexOf("/");
  return `partition ${cursor.stream.slice(slash + 1)} of ${kind}topic "${
    cursor.stream.slice(0, slash)
  }" at offset ${cursor.position}`;
}

function _decoded(
  packets: ReadonlyArray<Pick<DecodedPacket, "alert"> & Partial<Pick<DecodedPacket, "raw">>>,
  cursor: SourceCursor,
): QuarantineDecoding {
  const items = packets.map(({ alert, raw }): DecodedAlert =>
    raw === undefined ? { kind: "alert", alert, cursor } : { kind: "alert", alert, raw, cursor }
  );
  return { kind: "decoded", items };
}

function _failed(error: string): QuarantineDecoding {
  return { kind: "failed", error };
}

function _unsupported(reason: string): QuarantineDecoding {
  return { kind: "unsupported", reason };
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
