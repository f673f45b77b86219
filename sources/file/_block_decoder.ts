/**
 * Decoding the records of one Avro container block into alert records: the pure part of reading
 * a container, run on the reading thread or in a decode worker with the same result.
 *
 * @module
 */

import type { AlertRecord } from "../../model/alert_record.ts";
import { packetToAlertRecord } from "../../formats/_message_decoder.ts";
import type { ResolvedSchema } from "../../formats/schema_resolver.ts";

/** One record of a block. */
export interface DecodedRecord {
  /** Offset of its first byte in the block. */
  start: number;
  /** Offset after it. */
  end: number;
  /** The alert; `null` for records skipped on resume and records that could not be mapped. */
  alert: AlertRecord | null;
  /** Why the packet is not a valid alert (a `TypeError` of the mapper), else `null`. */
  mapError: string | null;
}

/** What became of a block. */
export interface BlockDecoding {
  /** Its records, in order, up to the first that could not be decoded. */
  records: DecodedRecord[];
  /** The record that could not be decoded: its index, start and what was wrong. */
  failure: { record: number; start: number; message: string } | null;
  /** Offset after the last record decoded. */
  end: number;
}

/**
 * Decode a block's records. A record that cannot be decoded ends the block (the next one cannot
 * be found); a decoded record that is not a valid alert is reported and the block goes on.
 *
 * @param schema The writer schema's projection and identity.
 * @param data The block's bytes, decompressed; alerts' cutouts are views into it.
 * @param count Records in it.
 * @param skipThrough Records up to this index are only decoded (already stored); -1 for none.
 * @returns The records.
 * @throws {Error} Whatever the mapper throws other than a `TypeError` (a bug, not bad input).
 */
export function decodeBlockRecords(
  schema: Pick<ResolvedSchema, "project" | "survey" | "version">,
  data: Uint8Array,
  count: number,
  skipThrough: number,
): BlockDecoding {
  const records: DecodedRecord[] = [];
  let at = 0;
  for (let record = 0; record < count; record++) {
    const start = at;
    let value: unknown;
    try {
      const decoded = schema.project(data, at);
      value = decoded.value;
      at = decoded.end;
    } catch (error) {
      return { records, failure: { record, start, message: _message(error) }, end: start };
    }
    if (record <= skipThrough) {
      records.push({ start, end: at, alert: null, mapError: null });
      continue;
    }
    try {
      const alert = packetToAlertRecord(value, schema, "file");
      records.push({ start, end: at, alert, mapError: null });
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      records.push({ start, end: at, alert: null, mapError: error.message });
    }
  }
  return { records, failure: null, end: at };
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
