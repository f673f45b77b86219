/**
 * The whole packet of an alert kept with `--keep-raw`: its payload decoded in full by avsc with
 * the writer schema it was stored with, every field there, as plain JSON-ready values.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { RawPayload } from "../model/raw_payload.ts";
import { createAvroType } from "../avro/avro_schema.ts";
import { relaxZtfSchema } from "./ztf_schema.ts";

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
  return _plain(value) as Record<string, unknown>;
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
