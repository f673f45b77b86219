/**
 * The decisions of one batch, shared by the SQLite and PostgreSQL storages so that a rule can
 * never hold in one and not the other: which record each `alerts` row takes, which records
 * tracking observes, when snapshots are observed, and which detections a batch adds, removes
 * and shows on which alerts. Pure functions: each storage reads what they ask for inside its
 * transaction and writes what they return in its own dialect.
 *
 * The order of one batch:
 * 1. {@linkcode rowCandidates}: the record each DIASource's `alerts` row takes. The storage
 *    upserts them — a new row, or an alert packet replacing a row kept from a snapshot — and
 *    says which it wrote.
 * 2. {@linkcode observedRecords}: what tracking observes. The storage loads their states, the
 *    stored snapshots of their DIASources and, when a snapshot has no reassociation time, the
 *    import time ({@linkcode importTime}); then `trackAlerts()` runs.
 * 3. The storage stores the batch's snapshots, reads each replayed DIASource's observations,
 *    and {@linkcode settleDetections} says which detections to remove and add and which alerts'
 *    flags to recompute.
 *
 * @module
 */

import type { AlertRecord, ReassociationDetection } from "../model/alert_record.ts";
import { historyColumns } from "../model/history_columns.ts";
import type { SourceState, StateLookup, TrackResult } from "./reassociation_tracker.ts";
import { planReplay, type ReplayInput, type StoredDetection } from "./_replay_plan.ts";
import type { StoredAlert } from "../model/stored_alert.ts";

/**
 * The record each `alerts` row takes: per DIASource, its first alert packet in the batch,
 * else its first snapshot. In id order, the order PostgreSQL takes row locks in.
 *
 * A storage writes each as a new row, or over a row kept from a snapshot when the candidate is
 * an alert packet (the packet is what the alert said); any other existing row stays.
 *
 * @param alerts The batch's records in arrival order.
 * @returns One record per DIASource.
 */
export function rowCandidates(alerts: readonly StoredAlert[]): StoredAlert[] {
  const chosen = new Map<bigint, StoredAlert>();
  for (const stored of alerts) {
    const id = stored.alert.diaSourceId;
    const current = chosen.get(id);
    if (current === undefined || (current.alert.snapshot && !stored.alert.snapshot)) {
      chosen.set(id, stored);
    }
  }
  return [...chosen.values()].sort((a, b) =>
    a.alert.diaSourceId < b.alert.diaSourceId
      ? -1
      : a.alert.diaSourceId > b.alert.diaSourceId
      ? 1
      : 0
  );
}

/**
 * What tracking observes, in arrival order: each alert packet whose row this batch wrote
 * (once: a packet already stored is a replay and detects nothing), and every snapshot (a
 * snapshot is an observation whether or not its row was written).
 *
 * @param alerts The batch's records in arrival order.
 * @param written The DIASources whose `alerts` row the batch wrote.
 * @returns The records to pass to `trackAlerts()`.
 */
export function observedRecords(
  alerts: readonly StoredAlert[],
  written: ReadonlySet<bigint>,
): AlertRecord[] {
  const observed: AlertRecord[] = [];
  const done = new Set<bigint>();
  for (const { alert } of alerts) {
    if (alert.snapshot) {
      observed.push(alert);
      continue;
    }
    const id = alert.diaSourceId;
    if (written.has(id) && !done.has(id)) {
      done.add(id);
      observed.push(alert);
    }
  }
  return observed;
}

/**
 * Every DIASource id the records observe (duplicates possible), for loading their states.
 *
 * @param records What tracking observes.
 * @returns Triggering and history DIASource ids.
 */
export function observedIds(records: readonly AlertRecord[]): bigint[] {
  const ids: bigint[] = [];
  for (const alert of records) {
    ids.push(alert.diaSourceId);
    if (alert.snapshot) continue;
    const columns = historyColumns(alert);
    if (columns !== null) {
      for (let at = columns.start; at < columns.start + columns.length; at++) {
        ids.push(columns.ids[at] as bigint);
      }
    } else {
      for (const entry of alert.history) ids.push(entry.diaSourceId);
    }
  }
  return ids;
}

/**
 * Whether the records hold a snapshot without a reassociation time, which is observed at the
 * import time (so the storage must find the latest stored alert time).
 *
 * @param records What tracking observes.
 * @returns `true` when one does.
 */
export function needsImportTime(records: readonly AlertRecord[]): boolean {
  return records.some((a) => a.snapshot && a.ssObjectReassocTimeMjdTai === null);
}

/**
 * When a snapshot without a reassociation time is observed: at the time of the import, and
 * after every alert already stored even when their times run ahead of the clock (simulations).
 *
 * @param importMjd The import's time (MJD TAI), `null` for now.
 * @param latestAlertMjd The latest `midpoint_mjd_tai` stored, `null` when none is.
 * @returns MJD TAI.
 */
export function importTime(importMjd: number | null, latestAlertMjd: number | null): number {
  return Math.max(importMjd ?? mjdTaiNow(), latestAlertMjd ?? -Infinity);
}

/**
 * The current time as MJD TAI (UTC + 37 s, the offset since 2017).
 *
 * @returns MJD TAI.
 */
export function mjdTaiNow(): number {
  return (Date.now() + 37_000) / 86_400_000 + 40_587;
}

/** What a batch changes in `reassociations` and `alerts` flags. */
export interface SettledDetections {
  /** Detections to insert. */
  add: ReassociationDetection[];
  /** Stored detections to delete. */
  remove: StoredDetection[];
  /** Alerts whose flags follow their detections, in id order (lock order). */
  flagAlerts: bigint[];
}

/**
 * Settle a batch's detections: the in-order ones, and for each replayed DIASource the change
 * from its stored detections to those of an in-order pass. The replayed states take the
 * replay's association.
 *
 * @param tracked What `trackAlerts()` returned.
 * @param states The states it worked on.
 * @param replays What the storage read for each DIASource in `tracked.replay`.
 * @returns The detections to add and remove, and the alerts to re-flag.
 */
export function settleDetections(
  tracked: TrackResult,
  states: StateLookup,
  replays: ReadonlyMap<bigint, ReplayInput>,
): SettledDetections {
  const add = [...tracked.detections];
  const remove: StoredDetection[] = [];
  for (const id of tracked.replay) {
    const state = states.get(id) as SourceState;
    const input = replays.get(id);
    if (input === undefined) throw new RangeError(`No replay input for DIASource ${id}`);
    const plan = planReplay(state, input);
    state.ssObjectId = plan.result.ssObjectId;
    state.reassocTime = plan.result.reassocTime;
    state.runs = plan.result.runs;
    remove.push(...plan.remove);
    add.push(...plan.add);
  }
  const flagged = new Set<bigint>();
  for (const d of [...add, ...remove]) {
    if (d.alertDiaSourceId !== null) flagged.add(d.alertDiaSourceId);
  }
  const flagAlerts = [...flagged].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { add, remove, flagAlerts };
}
