/**
 * The whole packet of an alert kept with `--keep-raw`: its payload decoded in full by avsc with
 * the writer schema it was stored with, every field there, as plain JSON-ready values.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { AlertRecord } from "../model/alert_record.ts";
import type { RawPayload } from "../model/raw_payload.ts";
import { createAvroType } from "../avro/avro_schema.ts";
import { relaxZtfSchema } from "./ztf_schema.ts";
import { packetToAlertRecord } from "./_message_decoder.ts";

/**
 * Decode a kept payload in full. Longs stay exact `bigint`s; bytes (cutouts) become base64
 * strings; NaN and infinities, which JSON lacks, become the strings `"NaN"`, `"Infinity"` and
 * `"-Infinity"`; records become plain objects in schema field order.
 *
 * @param raw The payload and its writer schema.
 * @returns The packet.
 * @throws {RangeError} When the payload does not decode with its schema (or has bytes left).
 * @example
 * ```ts ignore
 * import { decodeRawAlert, openStorage, stringifyExact } from "../mod.ts";
 * await using storage = openStorage("data/alerts.db");
 * const raw = await storage.rawAlert(170094456272322680n);
 * if (raw !== null) console.log(stringifyExact(decodeRawAlert(raw), 2));
 * ```
 */
export function decodeRawAlert(raw: RawPayload): Record<string, unknown> {
  return _plain(_decode(raw)) as Record<string, unknown>;
}

/**
 * A kept payload as the alert ingest made of it, cutout bytes included: what the viewer shows
 * when no cutout files were written.
 *
 * @param raw The payload and its writer schema.
 * @returns The alert.
 * @throws {RangeError} When the payload does not decode with its schema (or has bytes left).
 * @throws {TypeError} When the packet is not a valid alert.
 * @example
 * ```ts ignore
 * import { openStorage, rawAlertRecord } from "../mod.ts";
 * await using storage = openStorage("data/alerts.db");
 * const raw = await storage.rawAlert(170094456272322680n);
 * if (raw !== null) rawAlertRecord(raw).cutoutScience; // FITS bytes or null
 * ```
 */
export function rawAlertRecord(raw: RawPayload): AlertRecord {
  const { survey, version } = raw.schema;
  // An unknown survey name is told from the packet's shape, as for a schema without one.
  return packetToAlertRecord(_decode(raw), {
    survey: survey === "lsst" || survey === "ztf" ? survey : null,
    version,
  }, "raw");
}

function _decode(raw: RawPayload): unknown {
  const type = createAvroType(relaxZtfSchema(JSON.parse(raw.schema.json)));
  const { payload } = raw;
  const buffer = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const { value, offset } = type.decode(buffer, 0);
  if (offset !== payload.length) {
    throw new RangeError(
      offset < 0
        ? `The kept payload (${payload.length} bytes) ends inside its record`
        : `The kept payload has ${payload.length - offset} bytes after its record`,
    );
  }
  return value;
}

function _plain(value: unknown): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(_plain);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) out[key] = _plain(field);
    return out;
  }
  return value;
}
