/**
 * Kafka messages decoded in the message worker (`_message_worker.ts`) and sent to the consuming
 * thread, a chunk at a time. Structured cloning alerts' histories
 * (small objects holding bigints) costs more than decoding them, so histories travel as typed
 * arrays. A message in shared memory (a snappy batch, which this project decompresses into a
 * `SharedArrayBuffer`, see _kafka_client.ts) is not copied at all: its buffer is shared. The
 * other messages' bytes are copied into one buffer that is transferred, not copied again. Either
 * way cutouts and `--keep-raw` payloads are views into those bytes on arrival, as they were views
 * into the message.
 *
 * A message the worker cannot decode alone (a container message, whose embedded schema the
 * consuming thread resolves and stores; a schema id the consuming thread could not resolve) is
 * sent undecoded, and the consuming thread decodes it as it always has: same alerts, same
 * errors, in the same order.
 *
 * @module
 */

import type { AlertRecord } from "../../model/alert_record.ts";
import {
  allocateHistoryColumns,
  attachHistoryColumns,
  packHistory,
} from "../../model/history_columns.ts";
import type { RawPayload } from "../../model/raw_payload.ts";
import type { StoredSchema } from "../../model/stored_schema.ts";
import {
  decodeFramedRecord,
  framedSchemaId,
  type MessageFormat,
  messageFormat,
} from "../../formats/_message_decoder.ts";
import type { ResolvedSchema } from "../../formats/schema_resolver.ts";
import type { KafkaRecord } from "./_kafka_client.ts";
import { type CutoutRef, cutoutRef, cutoutView } from "../_cutout_ref.ts";

/** What the worker needs of a writer schema: its projection and identity. */
export type MessageSchema = Pick<ResolvedSchema, "project" | "survey" | "version">;

interface PackedAlert {
  /** The alert, its history empty and its cutouts `null`: they travel apart. */
  fields: AlertRecord;
  schemaId: number;
  /** Its history entries in the chunk's columns: first index and count. */
  history: [number, number];
  cutouts: [CutoutRef, CutoutRef, CutoutRef];
}

/** Why a message is not an alert: the error's name and message. */
interface PackedFailure {
  name: string;
  message: string;
}

/** Decoded messages, as a `postMessage` payload. */
export interface PackedChunk {
  topics: string[];
  partitions: number[];
  offsets: string[];
  /**
   * Where each message's value lies in its buffer (`data`, or one of `shared`); a start of -1 for
   * a message without one.
   */
  starts: number[];
  ends: number[];
  /** Per message: the index of its buffer in `shared`, or -1 for `data`. */
  buffers: number[];
  /** The shared buffers the messages lie in. */
  shared: SharedArrayBuffer[];
  /** Per message: the alert, why it is not one, or `null` to decode on the consuming thread. */
  outcomes: (PackedAlert | PackedFailure | null)[];
  /** The values, one after the other. */
  data: Uint8Array;
  /** Every history entry of the chunk, column by column. */
  ids: BigInt64Array;
  ssObjectIds: BigInt64Array;
  midpoints: Float64Array;
  reassocTimes: Float64Array;
  /** Bit 0: no SSObject (`null`); bit 1: no reassociation time. */
  flags: Uint8Array;
}

/** A message as the consuming thread gets it back. */
export interface ChunkMessage {
  /** The message; its value is a view into the chunk's bytes. */
  record: KafkaRecord;
  /**
   * Its alert with its payload, the error that rejects it, or `null`: not decoded (decode it
   * on this thread).
   */
  decoded: { alert: AlertRecord; raw: RawPayload } | Error | null;
}

/**
 * The schema ids of framed messages whose schema is not in `known`, in order of first use.
 *
 * @param records Messages.
 * @param known Ids whose schema is known (or known to be missing).
 * @param format The source's message format.
 * @returns The ids to ask for.
 */
export function wantedSchemaIds(
  records: readonly KafkaRecord[],
  known: { has(id: number): boolean },
  format: MessageFormat,
): number[] {
  const wanted = new Set<number>();
  for (const { value } of records) {
    const id = messageSchemaId(value, format);
    if (id !== null && !known.has(id)) wanted.add(id);
  }
  return [...wanted];
}

/**
 * The schema id a message names when it is Confluent-framed in a source of this format.
 *
 * @param value The message's value.
 * @param format The source's message format.
 * @returns The id, or `null` for a tombstone, a container or a message too short to be framed.
 */
export function messageSchemaId(value: Uint8Array | null, format: MessageFormat): number | null {
  if (value === null || value.length < 5 || value[0] !== 0 || format === "ocf") return null;
  return framedSchemaId(value);
}

/**
 * Decode messages and pack them for `postMessage`.
 *
 * @param records Messages, each partition's in offset order.
 * @param schemas Compiled writer schemas by id; a framed message of another id is left undecoded.
 * @param format The source's message format.
 * @param source Source name for the alerts.
 * @returns The chunk, the buffers to transfer with it, and its messages' bytes.
 */
export function decodeChunk(
  records: readonly KafkaRecord[],
  schemas: ReadonlyMap<number, MessageSchema | null>,
  format: MessageFormat,
  source: string,
): { chunk: PackedChunk; transfer: ArrayBuffer[]; bytes: number } {
  let size = 0;
  let total = 0;
  for (const { value } of records) {
    total += value?.length ?? 0;
    if (value !== null && !(value.buffer instanceof SharedArrayBuffer)) size += value.length;
  }
  const data = new Uint8Array(size);
  const starts: number[] = [];
  const ends: number[] = [];
  const buffers: number[] = [];
  const shared: SharedArrayBuffer[] = [];
  // Each shared buffer with the whole view of it that cutouts are placed in.
  const bases: Uint8Array[] = [];
  const decoded: (AlertRecord | PackedFailure | null)[] = [];
  const schemaIds: number[] = [];
  const baseOf: Uint8Array[] = [];
  let at = 0;
  let entries = 0;
  for (const { value } of records) {
    let bytes: Uint8Array | null = null;
    let base: Uint8Array = data;
    if (value === null) {
      starts.push(-1);
      ends.push(-1);
      buffers.push(-1);
    } else if (value.buffer instanceof SharedArrayBuffer) {
      let index = shared.indexOf(value.buffer);
      if (index < 0) {
        index = shared.push(value.buffer) - 1;
        bases.push(new Uint8Array(value.buffer));
      }
      base = bases[index]!;
      starts.push(value.byteOffset);
      ends.push(value.byteOffset + value.length);
      buffers.push(index);
      // A plain view (not kafkajs's Buffer), as for a copied message.
      bytes = new Uint8Array(value.buffer, value.byteOffset, value.length);
    } else {
      // Decoded from the copy, so cutouts are views into the bytes that travel.
      data.set(value, at);
      starts.push(at);
      at += value.length;
      ends.push(at);
      buffers.push(-1);
      bytes = data.subarray(at - value.length, at);
    }
    baseOf.push(base);
    let outcome: AlertRecord | PackedFailure | null = null;
    let schemaId = -1;
    try {
      if (bytes === null || bytes.length === 0) throw new RangeError("The message has no value");
      if (messageFormat(bytes, format) === "confluent") {
        const id = framedSchemaId(bytes);
        const schema = schemas.get(id);
        if (schema !== undefined && schema !== null) {
          outcome = decodeFramedRecord(bytes, id, schema, source);
          schemaId = id;
          entries += outcome.history.length;
        }
      }
    } catch (error) {
      outcome = error instanceof Error
        ? { name: error.name, message: error.message }
        : { name: "Error", message: String(error) };
    }
    decoded.push(outcome);
    schemaIds.push(schemaId);
  }

  const columns = allocateHistoryColumns(entries);
  let entry = 0;
  const outcomes = decoded.map((outcome, i): PackedAlert | PackedFailure | null => {
    if (outcome === null || !("diaSourceId" in outcome)) return outcome;
    const first = entry;
    entry = packHistory(columns, entry, outcome.history);
    const base = baseOf[i]!;
    const cutouts: PackedAlert["cutouts"] = [
      cutoutRef(outcome.cutoutScience, base),
      cutoutRef(outcome.cutoutTemplate, base),
      cutoutRef(outcome.cutoutDifference, base),
    ];
    // The alert itself travels, emptied of what travels apart: a copy without those fields
    // (object rest) cost a fifth of the worker's time.
    outcome.history = [];
    outcome.cutoutScience = null;
    outcome.cutoutTemplate = null;
    outcome.cutoutDifference = null;
    return { fields: outcome, schemaId: schemaIds[i]!, history: [first, entry - first], cutouts };
  });
  return {
    chunk: {
      topics: records.map((r) => r.topic),
      partitions: records.map((r) => r.partition),
      offsets: records.map((r) => r.offset),
      starts,
      ends,
      buffers,
      shared,
      outcomes,
      data,
      ...columns,
    },
    transfer: [
      data.buffer,
      ...Object.values(columns).map((column) => column.buffer as ArrayBuffer),
    ],
    bytes: total,
  };
}

/**
 * Rebuild the messages of a chunk on the consuming thread.
 *
 * @param chunk The chunk.
 * @param schemaOf The stored form of each schema id the worker decoded with (for payloads).
 * @returns The messages, in offset order.
 */
export function unpackChunk(
  chunk: PackedChunk,
  schemaOf: (id: number) => StoredSchema,
): ChunkMessage[] {
  const { data } = chunk;
  const shared = chunk.shared.map((buffer) => new Uint8Array(buffer));
  const columns = {
    ids: chunk.ids,
    ssObjectIds: chunk.ssObjectIds,
    midpoints: chunk.midpoints,
    reassocTimes: chunk.reassocTimes,
    flags: chunk.flags,
  };
  return chunk.outcomes.map((outcome, i): ChunkMessage => {
    const start = chunk.starts[i]!;
    const index = chunk.buffers[i]!;
    const base = index < 0 ? data : shared[index]!;
    const value = start < 0 ? null : base.subarray(start, chunk.ends[i]!);
    const record = {
      topic: chunk.topics[i]!,
      partition: chunk.partitions[i]!,
      offset: chunk.offsets[i]!,
      value,
    };
    if (outcome === null) return { record, decoded: null };
    if (!("fields" in outcome)) {
      const error = new Error(outcome.message);
      error.name = outcome.name;
      return { record, decoded: error };
    }
    // A fresh copy from the message: completed in place.
    const alert = outcome.fields;
    alert.cutoutScience = cutoutView(outcome.cutouts[0], base);
    alert.cutoutTemplate = cutoutView(outcome.cutouts[1], base);
    alert.cutoutDifference = cutoutView(outcome.cutouts[2], base);
    // Built on demand: tracking and storage read the columns.
    attachHistoryColumns(alert, {
      ...columns,
      start: outcome.history[0],
      length: outcome.history[1],
    });
    const payload = (value as Uint8Array).subarray(5);
    return { record, decoded: { alert, raw: { payload, schema: schemaOf(outcome.schemaId) } } };
  });
}
