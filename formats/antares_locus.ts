/**
 * ANTARES locus messages: the value of a message on an ANTARES Kafka topic (`client.<name>`)
 * is zlib (RFC 1950) of BSON of a JSON:API document `{data: {type: "locus", id, attributes:
 * {ra, dec, htm16, properties, tags, catalogs, …}}, included?: [alert resources]}`. One
 * message is an update of a locus (an object on the sky), not an alert; its alerts come with
 * it in `included` or from the HTTP API (`antares_api.ts`).
 *
 * @module
 */

import { deflateSync, inflateSync } from "node:zlib";
import { BSON } from "npm:bson@7.3.4";
import { stringifyExact } from "../model/exact_json.ts";
import type { LocusRecord } from "../model/locus_record.ts";
import { type AntaresAlertResource, parseAlertResource } from "./antares_alert.ts";
import { showValue } from "./_packet_fields.ts";

/** A decoded locus message: the locus and the alert resources it included. */
export interface AntaresLocusMessage {
  /** ANTARES locus id, such as `ANT2026rq61krn5dipt`. */
  locusId: string;
  /** Right ascension (deg). */
  ra: number;
  /** Declination (deg). */
  dec: number;
  /** HTM level-16 index, when given. */
  htm16: bigint | null;
  /** ANTARES tags (the filters the locus passed). */
  tags: string[];
  /** Names of the catalogs the locus matched; empty when not given. */
  catalogs: string[];
  /** Every locus property, integers beyond 2^53 as `bigint`. */
  properties: Record<string, unknown>;
  /** The `included` resources of type `alert`, in document order; other types are skipped. */
  included: AntaresAlertResource[];
}

/** Options of {@linkcode decodeLocusMessage}. */
export interface DecodeLocusMessageOptions {
  /**
   * Most bytes a message may have, compressed and inflated: inflating stops as soon as the
   * output passes it, so a zlib bomb costs at most this much memory. Default 64 MiB (real
   * locus messages are tens of KB).
   */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

// Longer than any ANTARES id (`ANT` + year + ~12 characters) by far, short enough for a URL.
const MAX_LOCUS_ID_LENGTH = 256;

/**
 * Decode one ANTARES locus message (a Kafka message value): zlib-inflate it with a hard cap on
 * the output, deserialize the BSON with 64-bit integers as `bigint`, and check the JSON:API
 * shape.
 *
 * `ra` and `dec` must be finite numbers; `properties` a record and `tags` a list of strings
 * (both required, as every real locus has them); `catalogs` may be absent, a list of names or
 * a record keyed by catalog name; `htm16` may be absent. The locus id must be safe to put in an
 * API URL (see {@linkcode assertLocusId}).
 *
 * @param bytes The message value.
 * @param options The size cap.
 * @returns The locus and its included alert resources.
 * @throws {RangeError} When the message, compressed or inflated, is larger than `maxBytes`.
 * @throws {TypeError} When it is not zlib, not a BSON document, not a JSON:API locus, or a
 * field is missing or has the wrong type; the message names the field. Callers quarantine the
 * message.
 * @example
 * ```ts
 * import { decodeLocusMessage, encodeLocusMessage } from "./antares_locus.ts";
 * const bytes = encodeLocusMessage({
 *   data: {
 *     type: "locus",
 *     id: "ANT2026rq61krn5dipt",
 *     attributes: { ra: 62.4576, dec: -48.4815, properties: {}, tags: ["in_LSSTDDF"] },
 *   },
 * });
 * decodeLocusMessage(bytes).locusId; // "ANT2026rq61krn5dipt"
 * ```
 */
export function decodeLocusMessage(
  bytes: Uint8Array,
  options: DecodeLocusMessageOptions = {},
): AntaresLocusMessage {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new RangeError(`Option "maxBytes" is not a positive integer: ${showValue(maxBytes)}`);
  }
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Locus message is not bytes: ${showValue(bytes)}`);
  }
  if (bytes.length > maxBytes) {
    throw new RangeError(
      `Locus message is too large: "${bytes.length}" bytes, more than "${maxBytes}"`,
    );
  }
  const document = _deserialize(_inflate(bytes, maxBytes));

  const data = document.data;
  if (!_isRecord(data)) throw _locusError("data", "a record", data);
  if (data.type !== "locus") throw _locusError("data.type", `"locus"`, data.type);
  const locusId = data.id;
  if (typeof locusId !== "string") throw _locusError("data.id", "a string", locusId);
  assertLocusId(locusId);
  const attributes = data.attributes;
  if (!_isRecord(attributes)) throw _locusError("data.attributes", "a record", attributes);

  const properties = attributes.properties;
  if (!_isRecord(properties)) {
    throw _locusError("data.attributes.properties", "a record", properties);
  }
  return {
    locusId,
    ra: _finite(attributes.ra, "data.attributes.ra"),
    dec: _finite(attributes.dec, "data.attributes.dec"),
    htm16: _htm16(attributes.htm16),
    tags: _strings(attributes.tags, "data.attributes.tags"),
    catalogs: _catalogs(attributes.catalogs),
    properties,
    included: _included(document.included),
  };
}

/**
 * Encode a document as an ANTARES locus message: BSON, then zlib (RFC 1950). The inverse of
 * {@linkcode decodeLocusMessage}, for tests, test producers and replays. `bigint` values are
 * written as BSON int64, whole numbers that fit as int32, other numbers as doubles; `undefined`
 * fields are left out.
 *
 * @param document The JSON:API document, a record (BSON has no other top-level value).
 * @returns The message value.
 * @throws {TypeError} When the document is not a record or BSON cannot hold it (over 16 MiB).
 * @example
 * ```ts
 * import { encodeLocusMessage } from "./antares_locus.ts";
 * const bytes = encodeLocusMessage({ data: { type: "locus", id: "ANT2026x", attributes: {} } });
 * bytes[0]; // 0x78, the zlib header
 * ```
 */
export function encodeLocusMessage(document: unknown): Uint8Array {
  if (!_isRecord(document)) {
    throw new TypeError(`Locus document is not a record: ${showValue(document)}`);
  }
  let bson: Uint8Array;
  try {
    bson = BSON.serialize(document, { ignoreUndefined: true });
  } catch (error) {
    throw new TypeError(`Cannot encode locus document as BSON: ${_message(error)}`, {
      cause: error,
    });
  }
  return deflateSync(bson);
}

/**
 * The locus summary a batch stores (`loci` table).
 *
 * @param locus The decoded locus.
 * @param newestAlertId The newest alert id known for it (`lsst:<diaSourceId>`), or `null`.
 * @returns The record, with the properties as JSON text that keeps 64-bit integers exact.
 * @example
 * ```ts
 * import { toLocusRecord } from "./antares_locus.ts";
 * const record = toLocusRecord({
 *   locusId: "ANT2026rq61krn5dipt",
 *   ra: 62.4576,
 *   dec: -48.4815,
 *   htm16: null,
 *   tags: [],
 *   catalogs: [],
 *   properties: { newest_alert_id: "lsst:170666304474710039" },
 *   included: [],
 * }, "lsst:170666304474710039");
 * record.properties; // '{"newest_alert_id":"lsst:170666304474710039"}'
 * ```
 */
export function toLocusRecord(
  locus: AntaresLocusMessage,
  newestAlertId: string | null,
): LocusRecord {
  return {
    locusId: locus.locusId,
    ra: locus.ra,
    dec: locus.dec,
    htm16: locus.htm16,
    tags: [...locus.tags],
    catalogs: [...locus.catalogs],
    properties: stringifyExact(locus.properties),
    newestAlertId,
  };
}

/**
 * Check that a locus id is safe to put in an ANTARES API path: not empty, at most 256
 * characters, no `/` or `\`, no `..`, not `.`, no control characters or whitespace. Percent
 * encoding alone is not enough: URL parsers resolve `..` and `%2E%2E` segments, so a crafted id
 * could otherwise steer a request to another endpoint.
 *
 * @param locusId The id, such as `ANT2026rq61krn5dipt`.
 * @returns The id, unchanged.
 * @throws {TypeError} When the id is unsafe; the message quotes it.
 * @example
 * ```ts
 * import { assertLocusId } from "./antares_locus.ts";
 * assertLocusId("ANT2026rq61krn5dipt"); // "ANT2026rq61krn5dipt"
 * ```
 */
export function assertLocusId(locusId: string): string {
  if (typeof locusId !== "string") {
    throw new TypeError(`Locus id is not a string: ${showValue(locusId)}`);
  }
  if (
    locusId === "" || locusId === "." || locusId.length > MAX_LOCUS_ID_LENGTH ||
    locusId.includes("..") || /[/\\\s\p{Cc}]/u.test(locusId)
  ) {
    // JSON.stringify shows control characters as escapes instead of writing them raw.
    throw new TypeError(`Locus id is not a plain ANTARES id: ${JSON.stringify(locusId)}`);
  }
  return locusId;
}

function _inflate(bytes: Uint8Array, maxBytes: number): Uint8Array {
  try {
    return inflateSync(bytes, { maxOutputLength: maxBytes });
  } catch (error) {
    // node:zlib reports the output cap as a RangeError (ERR_BUFFER_TOO_LARGE); everything
    // else (bad header, bad checksum, truncated stream) is a plain Error with a zlib code.
    if (error instanceof RangeError) {
      throw new RangeError(`Locus message inflates to more than "${maxBytes}" bytes`, {
        cause: error,
      });
    }
    throw new TypeError(`Locus message is not zlib data: ${_message(error)}`, { cause: error });
  }
}

function _deserialize(bytes: Uint8Array): Record<string, unknown> {
  try {
    return BSON.deserialize(bytes, { useBigInt64: true });
  } catch (error) {
    // Includes a RangeError from the stack on absurdly nested documents: still a bad message.
    throw new TypeError(`Locus message is not a BSON document: ${_message(error)}`, {
      cause: error,
    });
  }
}

function _finite(value: unknown, field: string): number {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  // A whole coordinate can come as a BSON int64 from Python.
  if (typeof value === "bigint") return Number(value);
  throw _locusError(field, "a finite number", value);
}

function _htm16(value: unknown): bigint | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  throw _locusError("data.attributes.htm16", "an exact integer", value);
}

function _strings(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) throw _locusError(field, "a list", value);
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== "string") throw _locusError(`${field}[${i}]`, "a string", value[i]);
  }
  return value as string[];
}

// The JSON:API attribute is a list of catalog names; some ANTARES answers give the matches
// keyed by catalog instead, whose keys are the same names.
function _catalogs(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (_isRecord(value)) return Object.keys(value);
  return _strings(value, "data.attributes.catalogs");
}

function _included(value: unknown): AntaresAlertResource[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) throw _locusError("included", "a list", value);
  const alerts: AntaresAlertResource[] = [];
  for (let i = 0; i < value.length; i++) {
    const alert = parseAlertResource(value[i], `included[${i}]`);
    if (alert !== null) alerts.push(alert);
  }
  return alerts;
}

function _isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}

function _locusError(field: string, expected: string, value: unknown): TypeError {
  if (value === undefined) return new TypeError(`Locus message field "${field}" is missing`);
  return new TypeError(`Locus message field "${field}" is not ${expected}: ${showValue(value)}`);
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
