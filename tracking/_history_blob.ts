/**
 * An alert's history (`prvDiaSources`) packed into one BLOB: what a replay of a DIASource needs
 * to find every alert that observed it, at one column per alert instead of one row per
 * observation. 24 bytes an entry: id (int64), SSObject id (int64, 0 = none), reassociation time
 * (float64, NaN = none), little-endian.
 *
 * @module
 */

import type { AlertRecord, HistoryObservation } from "../model/alert_record.ts";
import { historyColumns } from "../model/history_columns.ts";

const ENTRY = 24;

/**
 * Pack a history.
 *
 * @param history The alert's history.
 * @returns The bytes, or `null` for an empty history.
 */
export function packHistory(history: readonly HistoryObservation[]): Uint8Array | null {
  if (history.length === 0) return null;
  const bytes = new Uint8Array(history.length * ENTRY);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < history.length; i++) {
    const entry = history[i] as HistoryObservation;
    view.setBigInt64(i * ENTRY, entry.diaSourceId, true);
    view.setBigInt64(i * ENTRY + 8, entry.ssObjectId ?? 0n, true);
    view.setFloat64(i * ENTRY + 16, entry.ssObjectReassocTimeMjdTai ?? Number.NaN, true);
  }
  return bytes;
}

/**
 * Pack an alert's history, from its columns when it has them (no entry objects built).
 *
 * @param alert The alert.
 * @returns The bytes, or `null` for an empty history.
 */
export function packAlertHistory(alert: AlertRecord): Uint8Array | null {
  const columns = historyColumns(alert);
  if (columns === null) return packHistory(alert.history);
  const { ids, ssObjectIds, reassocTimes, flags, start, length } = columns;
  if (length === 0) return null;
  const bytes = new Uint8Array(length * ENTRY);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < length; i++) {
    const at = start + i;
    const flag = flags[at] as number;
    view.setBigInt64(i * ENTRY, ids[at] as bigint, true);
    view.setBigInt64(i * ENTRY + 8, flag & 1 ? 0n : ssObjectIds[at] as bigint, true);
    view.setFloat64(i * ENTRY + 16, flag & 2 ? Number.NaN : reassocTimes[at] as number, true);
  }
  return bytes;
}

/**
 * Find one DIASource in a packed history.
 *
 * @param bytes The packed history.
 * @param diaSourceId The DIASource.
 * @returns Its association in that alert, or `null` when the alert did not carry it.
 */
export function findInHistory(
  bytes: Uint8Array,
  diaSourceId: bigint,
): { ssObjectId: bigint | null; reassocTime: number | null } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + ENTRY <= bytes.length; at += ENTRY) {
    if (view.getBigInt64(at, true) !== diaSourceId) continue;
    const ss = view.getBigInt64(at + 8, true);
    const time = view.getFloat64(at + 16, true);
    return { ssObjectId: ss === 0n ? null : ss, reassocTime: Number.isNaN(time) ? null : time };
  }
  return null;
}

/**
 * The DIASource ids of a packed history, in the order the alert carried them.
 *
 * @param bytes The packed history.
 * @returns The ids.
 */
export function historyIds(bytes: Uint8Array): bigint[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ids: bigint[] = [];
  for (let at = 0; at + ENTRY <= bytes.length; at += ENTRY) ids.push(view.getBigInt64(at, true));
  return ids;
}
