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
 * 2. {@linkcode observedRecords}: what tracking observes. A storage may first settle the plain
 *    observations ({@linkcode plainObservations}) with set-based statements; it loads the states
 *    of the others ({@linkcode observedIds}), the stored snapshots of their DIASources and, when
 *    a snapshot has no reassociation time, the import time ({@linkcode importTime}); then
 *    `trackAlerts()` runs on what is not settled.
 * 3. The storage stores the batch's snapshots, reads each replayed DIASource's observations,
 *    and {@linkcode settleDetections} says which detections to remove and add and which alerts'
 *    flags to recompute.
 *
 * @module
 */

import type { AlertRecord, ReassociationDetection } from "../model/alert_record.ts";
import { historyColumns, historyLength } from "../model/history_columns.ts";
import type {
  SettledObservations,
  SourceState,
  StateLookup,
  TrackResult,
} from "./reassociation_tracker.ts";
import { compareIds } from "../model/id_map.ts";
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
 * @param settled Observations the storage settled, left out.
 * @returns Triggering and history DIASource ids.
 */
export function observedIds(
  records: readonly AlertRecord[],
  settled?: SettledObservations,
): bigint[] {
  const ids: bigint[] = [];
  for (const alert of records) {
    ids.push(alert.diaSourceId);
    if (alert.snapshot) continue;
    const skip = settled?.get(alert);
    const columns = historyColumns(alert);
    if (columns !== null) {
      const { start, length } = columns;
      for (let at = start; at < start + length; at++) {
        if (skip === undefined || skip[at - start] !== 1) ids.push(columns.ids[at] as bigint);
      }
    } else {
      for (const [i, entry] of alert.history.entries()) {
        if (skip === undefined || skip[i] !== 1) ids.push(entry.diaSourceId);
      }
    }
  }
  return ids;
}

/** History entries of one alert with one association, which a storage may settle as a set. */
export interface PlainGroup {
  /** The alert that carries them: its DIAObject, time and id. */
  alert: AlertRecord;
  /** Their SSObject in that alert (`null` = none). */
  ssObjectId: bigint | null;
  /** Their reassociation time in that alert (`null` = not provided). */
  reassocTime: number | null;
  /** The DIASources. */
  ids: bigint[];
  /** Their positions in the alert's history. */
  entries: number[];
}

/**
 * The history observations a storage may fold without states in memory, as sets: those of
 * DIASources observed exactly once by the records (as an alert's own DIASource or in a history;
 * snapshots count) and not `held` in memory, grouped by alert and association, in arrival
 * order. For such an observation the fold of `trackAlerts()` is, in two cases, a change a
 * set-based statement can make:
 *
 * - **first sighting** (no state stored): a new state with the alert's DIAObject, the group's
 *   association, the alert's time as first and latest sighting and its id as the latest alert,
 *   seen once, one segment, first and last run the run;
 * - **plain re-observation**: the stored state has the group's SSObject (both `null` counts), and
 *   its reassociation time when the group has one; a DIAObject, or the alert has none; and a
 *   latest observation before this one (earlier time, or the same time and an alert id not
 *   above the alert's; a state without a latest alert id is earliest). It takes times seen + 1,
 *   the alert's time and id as latest, the run as last run; association, first sighting and
 *   segments stay, and nothing is detected.
 *
 * Any other observation of them (association changed, late, DIAObject learnt) is left to
 * `trackAlerts()`: the storage passes what it settled as `settled`, and loads the states of the
 * rest. Observations of one DIASource never straddle the two paths, since it is observed once.
 * Alerts' own DIASources are left out: one an alert, and usually first sightings, they cost
 * tracking no more than a statement would.
 *
 * @param records What tracking observes, in arrival order.
 * @param held DIASources whose states the storage holds in memory (tracked as usual).
 * @param minGroup Smallest group worth a statement; smaller ones are left to tracking.
 * @returns The groups.
 * @example
 * ```ts
 * import { plainObservations } from "./_batch_plan.ts";
 * plainObservations([], new Set()).length; // 0
 * ```
 */
export function plainObservations(
  records: readonly AlertRecord[],
  held: { has(id: bigint): boolean },
  minGroup = 1,
): PlainGroup[] {
  const repeated = _repeated(records);
  const groups: PlainGroup[] = [];
  for (const alert of records) {
    if (alert.snapshot) continue;
    // An alert's entries share one association, as a rule: a short list to search.
    const own: PlainGroup[] = [];
    const add = (
      entry: number,
      id: bigint,
      ssObjectId: bigint | null,
      reassocTime: number | null,
    ) => {
      if ((repeated.size > 0 && repeated.has(id)) || held.has(id)) return;
      for (const group of own) {
        if (group.ssObjectId === ssObjectId && group.reassocTime === reassocTime) {
          group.ids.push(id);
          group.entries.push(entry);
          return;
        }
      }
      own.push({ alert, ssObjectId, reassocTime, ids: [id], entries: [entry] });
    };
    const columns = historyColumns(alert);
    if (columns !== null) {
      const { ids, ssObjectIds, reassocTimes, flags, start, length } = columns;
      for (let at = start; at < start + length; at++) {
        const flag = flags[at] as number;
        add(
          at - start,
          ids[at] as bigint,
          flag & 1 ? null : ssObjectIds[at] as bigint,
          flag & 2 ? null : reassocTimes[at] as number,
        );
      }
    } else {
      for (const [i, entry] of alert.history.entries()) {
        add(i, entry.diaSourceId, entry.ssObjectId, entry.ssObjectReassocTimeMjdTai);
      }
    }
    for (const group of own) if (group.ids.length >= minGroup) groups.push(group);
  }
  return groups;
}

// The DIASources observed more than once in the records (an alert's own, and its history's
// unless it is a snapshot). Nearly every id is observed once: a native sort of all of them and a
// comparison of neighbours by their 32-bit halves finds the others without allocating a bigint
// or hashing one per observation (a hash map of every id cost a sixth of a heavy batch's storing).
function _repeated(records: readonly AlertRecord[]): Set<bigint> {
  let observations = 0;
  for (const alert of records) observations += 1 + (alert.snapshot ? 0 : historyLength(alert));
  const all = new BigInt64Array(observations);
  let n = 0;
  const put = (id: bigint) => {
    // A wider id would be stored wrapped, as another.
    if (BigInt.asIntN(64, id) !== id) throw new RangeError(`Id ${id} is not a 64-bit integer`);
    all[n++] = id;
  };
  for (const alert of records) {
    put(alert.diaSourceId);
    if (alert.snapshot) continue;
    const columns = historyColumns(alert);
    if (columns !== null) {
      all.set(columns.ids.subarray(columns.start, columns.start + columns.length), n);
      n += columns.length;
    } else {
      for (const entry of alert.history) put(entry.diaSourceId);
    }
  }
  all.sort();
  const halves = new Int32Array(all.buffer);
  const repeated = new Set<bigint>();
  for (let i = 2; i < 2 * n; i += 2) {
    if (halves[i] === halves[i - 2] && halves[i + 1] === halves[i - 1]) {
      repeated.add(all[i >> 1] as bigint);
    }
  }
  return repeated;
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
  const flagAlerts = [...flagged].sort(compareIds);
  return { add, remove, flagAlerts };
}
