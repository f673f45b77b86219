/**
 * Decoding of one alert message, wherever it comes from (a file, a Kafka message): the
 * Confluent wire format (Rubin) or a small Avro container (ZTF), mapped to AlertRecords by the
 * survey's mapper.
 *
 * @module
 */

import type { AlertRecord } from "../model/alert_record.ts";
import type { RawPayload } from "../model/raw_payload.ts";
import type { StoredSchema } from "../model/stored_schema.ts";
import { ByteStream } from "../avro/byte_stream.ts";
import { type LsstAlertPacket, toAlertRecord } from "./lsst_packet.ts";
import { OCF_MAGIC, readOcfBlocks, readOcfHeader } from "../avro/ocf_reader.ts";
import type { ProjectedDatum } from "../avro/avro_projection.ts";
import type { ResolvedSchema, SchemaResolver } from "./schema_resolver.ts";
import { toZtfAlertRecord, type ZtfAlertPacket } from "./ztf_packet.ts";

/** How a message is encoded. */
export type MessageFormat = "auto" | "confluent" | "ocf";

/**
 * Map a decoded packet with the mapper of its schema's survey (told from the packet's shape
 * when the schema does not say).
 *
 * @param value The decoded record.
 * @param schema Its writer schema.
 * @param source Source name for the record.
 * @returns The alert.
 * @throws {TypeError} When the packet is not a valid alert.
 */
export function packetToAlertRecord(
  value: unknown,
  schema: Pick<ResolvedSchema, "survey" | "version">,
  source: string,
): AlertRecord {
  if (typeof value !== "object" || value === null) {
    throw new TypeError("The record is not an alert packet");
  }
  const packet = value as Record<string, unknown>;
  const survey = schema.survey ?? ("candidate" in packet ? "ztf" : "lsst");
  if (survey === "ztf") {
    // ZTF 1.x packets have no schemavsn: their schema says which version they are.
    const version = typeof packet.schemavsn === "string"
      ? packet.schemavsn
      : schema.version ?? "unknown";
    return toZtfAlertRecord(packet as unknown as ZtfAlertPacket, version, { source });
  }
  return toAlertRecord(packet as unknown as LsstAlertPacket, schema.version ?? "unknown", {
    source,
  });
}

/** A decoded alert with the bytes it came from. */
export interface DecodedPacket {
  /** The alert. */
  alert: AlertRecord;
  /** Its Avro payload and writer schema. */
  raw: RawPayload;
}

/**
 * A resolved schema as the `schemas` table keeps it.
 *
 * @param schema The schema.
 * @returns Its stored form.
 */
export function storedSchema(schema: ResolvedSchema): StoredSchema {
  const { fingerprint, id, version, survey, json } = schema;
  return { fingerprint, id, version, survey, json };
}

/**
 * The schema id of a Confluent-framed message: `0x00`, then a big-endian 32-bit id.
 *
 * @param bytes The message.
 * @returns The id.
 * @throws {RangeError} When the message is shorter than the header or lacks the magic byte.
 */
export function framedSchemaId(bytes: Uint8Array): number {
  if (bytes.length < 5) {
    throw new RangeError(`The message is ${bytes.length} bytes, shorter than its 5-byte header`);
  }
  if (bytes[0] !== 0) {
    throw new RangeError(`The message starts with ${bytes[0]}, not the magic byte 0`);
  }
  // Big-endian and signed, read byte by byte: a DataView for each message cost more than this.
  return (bytes[1]! << 24) | (bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!;
}

/**
 * Decode the record of a Confluent-framed message with its writer schema, found by the caller:
 * the part of {@linkcode decodeFramed} that needs no resolver, so a decode worker holding only
 * compiled projections gives the same alerts and the same errors.
 *
 * @param bytes The message.
 * @param id Its schema id ({@linkcode framedSchemaId}).
 * @param schema The writer schema's projection and identity.
 * @param source Source name for the record.
 * @returns The alert; its payload is `bytes.subarray(5)`.
 * @throws {RangeError} When the record is malformed.
 * @throws {TypeError} When the packet is not a valid alert.
 */
export function decodeFramedRecord(
  bytes: Uint8Array,
  id: number,
  schema: Pick<ResolvedSchema, "project" | "survey" | "version">,
  source: string,
): AlertRecord {
  let decoded: ProjectedDatum;
  try {
    decoded = schema.project(bytes, 5);
  } catch (error) {
    throw new RangeError(`Cannot decode it with schema ${id}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (decoded.end !== bytes.length) {
    throw new RangeError(`${bytes.length - decoded.end} bytes follow the record (schema ${id})`);
  }
  return packetToAlertRecord(decoded.value, schema, source);
}

/**
 * Decode one Confluent-framed message: `0x00`, a big-endian schema id, schemaless Avro.
 *
 * @param bytes The message.
 * @param resolver Finds the writer schema by id.
 * @param source Source name for the record.
 * @returns The alert, and its payload with the writer schema (for `--keep-raw`).
 * @throws {RangeError} When the frame or the record is malformed (or the schema id unknown).
 * @throws {TypeError} When the packet is not a valid alert.
 * @throws {SourceError} When the schema registry cannot be reached.
 */
export async function decodeFramed(
  bytes: Uint8Array,
  resolver: SchemaResolver,
  source: string,
): Promise<DecodedPacket> {
  const id = framedSchemaId(bytes);
  const schema = await resolver.byId(id);
  return {
    alert: decodeFramedRecord(bytes, id, schema, source),
    raw: { payload: bytes.subarray(5), schema: storedSchema(schema) },
  };
}

/**
 * Decode every record of an Avro container held in memory (a ZTF Kafka message).
 *
 * @param bytes The container.
 * @param resolver Parses (and keeps) its embedded schema.
 * @param source Source name for the records.
 * @returns The alerts, each with its payload and the writer schema.
 * @throws {RangeError} When the container is damaged, its embedded schema included.
 * @throws {TypeError} When a packet is not a valid alert.
 */
export async function decodeContainer(
  bytes: Uint8Array,
  resolver: SchemaResolver,
  source: string,
): Promise<DecodedPacket[]> {
  const stream = ByteStream.fromBytes(bytes);
  const header = await readOcfHeader(stream);
  let schema: ResolvedSchema;
  try {
    schema = await resolver.fromJson(header.schemaJson);
  } catch (error) {
    // Not JSON, or not an Avro schema: a damaged container like any other.
    throw new RangeError(`Cannot use the container's schema: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const stored = storedSchema(schema);
  const alerts: DecodedPacket[] = [];
  for await (const block of readOcfBlocks(stream, header)) {
    if (block.kind === "damaged") throw new RangeError(block.error);
    let at = 0;
    for (let i = 0; i < block.count; i++) {
      const decoded = schema.project(block.data, at);
      alerts.push({
        alert: packetToAlertRecord(decoded.value, schema, source),
        raw: { payload: block.data.subarray(at, decoded.end), schema: stored },
      });
      at = decoded.end;
    }
  }
  return alerts;
}

/**
 * Which format a message is in.
 *
 * @param bytes The message.
 * @param format What the caller expects; `auto` tells from the first bytes.
 * @returns `confluent` or `ocf`.
 * @throws {RangeError} When `auto` recognises neither.
 */
export function messageFormat(bytes: Uint8Array, format: MessageFormat): "confluent" | "ocf" {
  if (format !== "auto") return format;
  if (bytes[0] === 0x00) return "confluent";
  if (OCF_MAGIC.every((b, i) => bytes[i] === b)) return "ocf";
  throw new RangeError(
    "The message is neither Confluent-framed (first byte 0) nor an Avro container (Obj\\x01)",
  );
}
