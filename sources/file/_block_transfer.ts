/**
 * A decoded block as a message between threads. Structured cloning a heavy alert's history
 * (hundreds of small objects holding bigints) costs more than decoding it, so histories travel
 * as typed arrays, and cutouts as offsets into the block's bytes, whose buffer is transferred
 * back and forth rather than copied.
 *
 * @module
 */

import type { AlertRecord } from "../../model/alert_record.ts";
import {
  allocateHistoryColumns,
  attachHistoryColumns,
  packHistory,
} from "../../model/history_columns.ts";
import type { BlockDecoding } from "./_block_decoder.ts";
import { type CutoutRef, cutoutRef, cutoutView } from "../_cutout_ref.ts";

/** An alert without its history and cutouts, which travel apart. */
type AlertFields = Omit<
  AlertRecord,
  "history" | "cutoutScience" | "cutoutTemplate" | "cutoutDifference"
>;

/** One record in a message. */
interface PackedRecord {
  start: number;
  end: number;
  mapError: string | null;
  alert: AlertFields | null;
  /** Its history entries in the packed arrays: first index and count. */
  history: [number, number];
  cutouts: [CutoutRef, CutoutRef, CutoutRef];
}

/** The message. */
export interface PackedBlock {
  records: PackedRecord[];
  failure: BlockDecoding["failure"];
  end: number;
  /** Every history entry of the block, column by column. */
  ids: BigInt64Array;
  ssObjectIds: BigInt64Array;
  midpoints: Float64Array;
  reassocTimes: Float64Array;
  /** Bit 0: no SSObject (`null`); bit 1: no reassociation time. */
  flags: Uint8Array;
}

/**
 * Pack a decoding of `data` for `postMessage`.
 *
 * @param decoding The block's records.
 * @param data The bytes the records' cutouts are views of.
 * @returns The message and what to transfer (not `data`'s buffer: the caller adds it).
 */
export function packBlock(
  decoding: BlockDecoding,
  data: Uint8Array,
): { message: PackedBlock; transfer: ArrayBuffer[] } {
  let entries = 0;
  for (const r of decoding.records) entries += r.alert?.history.length ?? 0;
  const columns = allocateHistoryColumns(entries);
  let at = 0;
  const records = decoding.records.map(({ start, end, mapError, alert }): PackedRecord => {
    if (alert === null) {
      return { start, end, mapError, alert: null, history: [at, 0], cutouts: [null, null, null] };
    }
    const first = at;
    at = packHistory(columns, at, alert.history);
    const {
      history: _history,
      cutoutScience,
      cutoutTemplate,
      cutoutDifference,
      ...fields
    } = alert;
    return {
      start,
      end,
      mapError,
      alert: fields,
      history: [first, at - first],
      cutouts: [
        cutoutRef(cutoutScience, data),
        cutoutRef(cutoutTemplate, data),
        cutoutRef(cutoutDifference, data),
      ],
    };
  });
  return {
    message: {
      records,
      failure: decoding.failure,
      end: decoding.end,
      ...columns,
    },
    transfer: Object.values(columns).map((column) => column.buffer as ArrayBuffer),
  };
}

/**
 * Rebuild the decoding from a message.
 *
 * @param message The message.
 * @param data The block's bytes (its buffer transferred back), for cutout views.
 * @returns The decoding, equal to the one packed.
 */
export function unpackBlock(message: PackedBlock, data: Uint8Array): BlockDecoding {
  const { ids, ssObjectIds, midpoints, reassocTimes, flags } = message;
  const records = message.records.map(({ start, end, mapError, alert, history, cutouts }) => {
    if (alert === null) return { start, end, mapError, alert: null };
    const full: AlertRecord = {
      ...alert,
      history: [],
      cutoutScience: cutoutView(cutouts[0], data),
      cutoutTemplate: cutoutView(cutouts[1], data),
      cutoutDifference: cutoutView(cutouts[2], data),
    };
    // Built on demand: tracking and storage read the columns.
    attachHistoryColumns(full, {
      ids,
      ssObjectIds,
      midpoints,
      reassocTimes,
      flags,
      start: history[0],
      length: history[1],
    });
    return { start, end, mapError, alert: full };
  });
  return { records, failure: message.failure, end: message.end };
}
