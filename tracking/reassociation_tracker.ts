/**
 * The reassociation rules of DOMAIN.md §3, applied to every DIASource an alert carries.
 *
 * Detections are defined on each DIASource's observations sorted by the time of the alert that
 * carried them (ties by that alert's id), whatever the order they arrive in. Observations that
 * arrive in that order are folded into the stored state one by one. One that arrives late is
 * folded into the counters only; when it could change the association sequence, its DIASource
 * is marked for a replay of all its stored observations, which storage performs in the same
 * transaction. Both paths use the same fold, so a late arrival ends in the same detections as an
 * in-order pass.
 *
 * @module
 */

import type {
  AlertRecord,
  ReassociationDetection,
  ReassociationReason,
} from "../model/alert_record.ts";
import { historyColumns, historyLength } from "../model/history_columns.ts";
import { IdMap } from "../model/id_map.ts";

/** What the tracker remembers about one DIASource (a `processed_sources` row). */
export interface SourceState {
  /** The DIASource. */
  diaSourceId: bigint;
  /** Its DIAObject, when known. */
  diaObjectId: bigint | null;
  /** SSObject of its latest observation (`null` = none). */
  ssObjectId: bigint | null;
  /** Reassociation time in force at its latest observation, when a source provided one. */
  reassocTime: number | null;
  /** Time of the first alert that carried it (MJD TAI). */
  firstSeenMjd: number;
  /** Time of the latest alert that carried it (MJD TAI). */
  lastSeenMjd: number;
  /** Triggering DIASource of that latest alert (orders observations of equal time). */
  lastAlertId: bigint;
  /** How many observations of it were stored. */
  timesSeen: number;
  /** Segments of constant association in its sequence: 1 while it never changed. */
  runs: number;
  /** Run that first saw it. */
  firstRunId: number;
  /** Run that last saw it. */
  lastRunId: number;
}

/** Where tracking finds and keeps states by DIASource id (a `Map` will do). */
export interface StateLookup {
  /** The state of a DIASource, `undefined` for one never seen. */
  get(id: bigint): SourceState | undefined;
  /** Keep the state of a DIASource seen for the first time. */
  set(id: bigint, state: SourceState): unknown;
}

/** The association part of a state or an observation. */
export interface Association {
  /** SSObject, `null` = none. */
  ssObjectId: bigint | null;
  /** Reassociation time, `null` = not provided. */
  reassocTime: number | null;
}

/** One sighting of a DIASource: in one alert, or in a snapshot. */
export interface Observation extends Association {
  /** The DIASource. */
  diaSourceId: bigint;
  /**
   * Time of the alert that carried it (its triggering midpoint, MJD TAI), or of the snapshot
   * (its reassociation time, else the time of its import).
   */
  time: number;
  /**
   * Triggering DIASource of that alert; {@linkcode SNAPSHOT_ALERT_ID} for a snapshot, which
   * orders it after every alert of the same time.
   */
  alertId: bigint;
}

/**
 * The `alertId` of a snapshot's observations: the largest 64-bit id, so that a snapshot
 * follows the alerts of its own time (it states the association after them). Also what
 * `processed_sources.last_alert_id` holds when a DIASource's latest observation is a snapshot.
 */
export const SNAPSHOT_ALERT_ID: bigint = 2n ** 63n - 1n;

// Two snapshots with the same key are the same statement (an export imported twice).
function _snapshotKey(o: Observation): string {
  return `${o.diaSourceId}|${o.time}|${o.ssObjectId ?? ""}|${o.reassocTime ?? ""}`;
}

/**
 * Which rule, if any, an observation fires against the previous state of its DIASource.
 *
 * A reassociation time only counts when both sides carry one: sources that do not provide it
 * (alert packets) must not look like they cleared it.
 *
 * @param previous The state before the observation.
 * @param next The observation.
 * @returns The reason, or `null` when nothing changed.
 * @example
 * ```ts
 * import { classifyObservation } from "./reassociation_tracker.ts";
 * classifyObservation({ ssObjectId: null, reassocTime: null }, { ssObjectId: 7n, reassocTime: null });
 * // "new_association"
 * ```
 */
export function classifyObservation(
  previous: Association,
  next: Association,
): ReassociationReason | null {
  if (previous.ssObjectId === null) return next.ssObjectId === null ? null : "new_association";
  if (next.ssObjectId === null) return "association_removed";
  if (previous.ssObjectId !== next.ssObjectId) return "changed_association";
  if (
    previous.reassocTime !== null && next.reassocTime !== null &&
    previous.reassocTime !== next.reassocTime
  ) {
    return "updated_timestamp";
  }
  return null;
}

/**
 * Order of observations: by alert time, then by the alert's triggering DIASource id.
 *
 * @param a One observation (or state: its latest alert).
 * @param b Another.
 * @returns Negative, zero or positive, like a sort comparator.
 * @example
 * ```ts
 * import { compareObservations } from "./reassociation_tracker.ts";
 * compareObservations({ time: 1, alertId: 5n }, { time: 1, alertId: 7n }); // -1
 * ```
 */
export function compareObservations(
  a: { time: number; alertId: bigint },
  b: { time: number; alertId: bigint },
): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  return a.alertId === b.alertId ? 0 : a.alertId < b.alertId ? -1 : 1;
}

/** The association of a DIASource after a replay of its observations. */
export interface ReplayResult extends Association {
  /** Segments of constant association. */
  runs: number;
  /** Every detection of the sequence, in order. */
  detections: ReassociationDetection[];
}

/**
 * Fold a DIASource's observations, sorted with {@linkcode compareObservations}, from nothing:
 * the detections an in-order pass finds.
 *
 * @param observations The DIASource's observations in order (at least one).
 * @returns The final association and every detection.
 * @example
 * ```ts
 * import { replayObservations } from "./reassociation_tracker.ts";
 * const o = { diaSourceId: 1n, reassocTime: null };
 * replayObservations([
 *   { ...o, time: 1, alertId: 1n, ssObjectId: null },
 *   { ...o, time: 2, alertId: 2n, ssObjectId: 9n },
 * ]).detections[0]?.reason; // "new_association"
 * ```
 */
export function replayObservations(observations: readonly Observation[]): ReplayResult {
  const [first, ...rest] = observations;
  if (first === undefined) throw new RangeError("Cannot replay a DIASource without observations");
  const state = { ssObjectId: first.ssObjectId, reassocTime: first.reassocTime, runs: 1 };
  const detections: ReassociationDetection[] = [];
  for (const observation of rest) {
    const detection = _fold(state, observation);
    if (detection !== null) detections.push(detection);
  }
  return { ...state, detections };
}

/**
 * The reason an alert shows for its detections: that of its triggering DIASource, else that of
 * the lowest DIASource id. A rule on the set, so it does not depend on arrival order.
 *
 * @param alertId The alert's triggering DIASource.
 * @param detections Its detections.
 * @returns The reason, or `null` when there are none.
 * @example
 * ```ts
 * import { alertReason } from "./reassociation_tracker.ts";
 * alertReason(1n, []); // null
 * ```
 */
export function alertReason(
  alertId: bigint,
  detections: readonly ReassociationDetection[],
): ReassociationReason | null {
  let best: ReassociationDetection | null = null;
  for (const d of detections) {
    if (d.diaSourceId === alertId) return d.reason;
    if (best === null || d.diaSourceId < best.diaSourceId) best = d;
  }
  return best?.reason ?? null;
}

/** What a state held before a batch touched it: enough for storage to write only the change. */
export type StoredState = Readonly<
  Pick<
    SourceState,
    "diaObjectId" | "ssObjectId" | "reassocTime" | "firstSeenMjd" | "timesSeen" | "runs"
  >
>;

/** What tracking one batch of alerts produced. */
export interface TrackResult {
  /** States that changed and must be written, in first-touched order. */
  changed: SourceState[];
  /**
   * The changed states that existed before the batch, with what they held then; the others
   * are new. A state whose association, first sighting and segments are as they were only
   * moved forward (times seen, latest sighting): storage can write that as one set-based bump.
   */
  previous: Map<SourceState, StoredState>;
  /** How many of them were seen for the first time. */
  newSources: number;
  /** Detections of in-order observations (those of `replay` DIASources excluded). */
  detections: ReassociationDetection[];
  /**
   * DIASources with a late observation that may change their association sequence: storage
   * replays all their stored observations (this batch's alerts included) and replaces their
   * detections.
   */
  replay: Set<bigint>;
  /** Observations of snapshots, which storage keeps (they are not alerts' histories). */
  snapshots: Observation[];
}

/**
 * History observations a storage folded itself before tracking (see `plainObservations()` in
 * `_batch_plan.ts`): first sightings and plain re-observations of DIASources observed once in
 * the batch, which need no state in memory. By alert, a mark (1) for each settled entry of its
 * history, by position.
 */
export type SettledObservations = ReadonlyMap<AlertRecord, Uint8Array>;

/** Options of {@linkcode trackAlerts}. */
export interface TrackOptions {
  /**
   * Observations the storage already folded into its stored states: they are skipped, their
   * states neither read nor reported. Default none.
   */
  settled?: SettledObservations;
  /**
   * When snapshots without a reassociation time are observed (MJD TAI): the time of the
   * import, after every alert already stored. Default: the latest time the batch observes.
   */
  importMjd?: number;
  /**
   * The snapshot observations already stored for the batch's snapshots' DIASources, in the
   * order they were recorded. A snapshot is not observed again when it repeats one of them
   * exactly, or, having no reassociation time, when it repeats the association of its
   * DIASource's latest snapshot: an export imported twice, or an ANTARES locus re-sent
   * unchanged, adds nothing. Default none.
   */
  storedSnapshots?: readonly Observation[];
}

/**
 * Apply the rules to every DIASource the records carry (an alert's triggering one, then each
 * history entry; a snapshot's one), updating `states` in place and setting each alert's
 * `isReassociation`, `reassociationReason` and `reassociations` for what it found in order.
 *
 * A snapshot (`alert.snapshot`: a CSV/APDB export row, an ANTARES alert) is one observation of
 * its DIASource at its reassociation time, else at `options.importMjd`, ordered after the
 * alerts of the same time. What it fires belongs to no alert (`alertDiaSourceId` is `null`),
 * so it flags none. One repeating a stored snapshot is not observed again, so importing the
 * same export twice changes nothing.
 *
 * @param alerts The records to observe, in arrival order: alert packets stored by this batch
 * (replayed ones must be left out: they detect nothing) and every snapshot.
 * @param states Known states by DIASource id; absent ids are first sightings.
 * @param runId The run doing the tracking.
 * @param options The import time and the stored snapshots.
 * @returns Changed states, detections, the snapshots to store, and the DIASources to replay.
 * @example
 * ```ts
 * import { trackAlerts } from "./reassociation_tracker.ts";
 * const result = trackAlerts([], new Map(), 1);
 * result.detections.length; // 0
 * ```
 */
export function trackAlerts(
  alerts: readonly AlertRecord[],
  states: StateLookup,
  runId: number,
  options: TrackOptions = {},
): TrackResult {
  // Changed states in first-touched order; `touched` marks them (faster than a Set of objects).
  const changed: SourceState[] = [];
  const settled = options.settled ?? null;
  // Sized for what is tracked here: with most of a batch settled, a few hundred states, not
  // tens of thousands.
  let observations = 0;
  for (const alert of alerts) {
    observations += 1 + historyLength(alert);
    for (const mark of settled?.get(alert) ?? []) observations -= mark;
  }
  const touched = new IdMap<true>(observations * 2);
  const previous = new Map<SourceState, StoredState>();
  const detections: ReassociationDetection[] = [];
  const replay = new Set<bigint>();
  const snapshots: Observation[] = [];
  let newSources = 0;

  // Called for every DIASource of every history: plain arguments, no object per call.
  const observe = (
    alert: AlertRecord,
    diaSourceId: bigint,
    time: number,
    alertId: bigint,
    ssObjectId: bigint | null,
    reassocTime: number | null,
  ): void => {
    const state = states.get(diaSourceId);
    if (state === undefined) {
      const fresh: SourceState = {
        diaSourceId,
        diaObjectId: alert.diaObjectId,
        ssObjectId,
        reassocTime,
        firstSeenMjd: time,
        lastSeenMjd: time,
        lastAlertId: alertId,
        timesSeen: 1,
        runs: 1,
        firstRunId: runId,
        lastRunId: runId,
      };
      states.set(diaSourceId, fresh);
      touched.set(diaSourceId, true);
      changed.push(fresh);
      newSources++;
      return;
    }
    if (!touched.has(diaSourceId)) {
      touched.set(diaSourceId, true);
      changed.push(state);
      previous.set(state, {
        diaObjectId: state.diaObjectId,
        ssObjectId: state.ssObjectId,
        reassocTime: state.reassocTime,
        firstSeenMjd: state.firstSeenMjd,
        timesSeen: state.timesSeen,
        runs: state.runs,
      });
    }
    state.timesSeen++;
    state.lastRunId = runId;
    state.diaObjectId ??= alert.diaObjectId;
    const firstSeen = state.firstSeenMjd;
    if (time < firstSeen) state.firstSeenMjd = time;
    // compareObservations(observation, latest) >= 0, written out: this runs per history entry.
    const inOrder = time !== state.lastSeenMjd
      ? !(time < state.lastSeenMjd)
      : alertId >= state.lastAlertId;
    if (inOrder) {
      state.lastSeenMjd = time;
      state.lastAlertId = alertId;
    }
    // Its replay covers every observation, this one included.
    if (replay.size > 0 && replay.has(diaSourceId)) return;
    if (!inOrder) {
      // Joining the only segment changes nothing when it has the segment's association: the
      // same reassociation time, or none after the segment's first observation (which then
      // carries it forward; before it, the first observation's time would start a new segment).
      if (
        state.runs === 1 && ssObjectId === state.ssObjectId &&
        (reassocTime === state.reassocTime || (reassocTime === null && time > firstSeen))
      ) return;
      replay.add(diaSourceId);
      return;
    }
    const detection = _fold(state, { diaSourceId, time, alertId, ssObjectId, reassocTime });
    if (detection !== null) {
      detections.push(detection);
      alert.reassociations.push(detection);
    }
  };

  let importMjd = options.importMjd;
  if (importMjd === undefined) {
    importMjd = -Infinity;
    for (const alert of alerts) importMjd = Math.max(importMjd, alert.midpointMjdTai);
  }
  // What the batch's snapshots are compared with: every stored one, and each one's latest.
  const snapshotKeys = new Set<string>();
  const latestSnapshots = new IdMap<Observation>(64);
  const remember = (o: Observation) => {
    snapshotKeys.add(_snapshotKey(o));
    const latest = latestSnapshots.get(o.diaSourceId);
    if (latest === undefined || !(o.time < latest.time)) latestSnapshots.set(o.diaSourceId, o);
  };
  for (const o of options.storedSnapshots ?? []) remember(o);

  for (const alert of alerts) {
    const time = alert.midpointMjdTai;
    const alertId = alert.diaSourceId;
    if (alert.snapshot) {
      const observation: Observation = {
        diaSourceId: alert.diaSourceId,
        time: alert.ssObjectReassocTimeMjdTai ?? importMjd,
        alertId: SNAPSHOT_ALERT_ID,
        ssObjectId: alert.ssObjectId,
        reassocTime: alert.ssObjectReassocTimeMjdTai,
      };
      if (snapshotKeys.has(_snapshotKey(observation))) continue;
      const latest = latestSnapshots.get(observation.diaSourceId);
      if (
        observation.reassocTime === null && latest !== undefined &&
        latest.reassocTime === null && latest.ssObjectId === observation.ssObjectId
      ) continue;
      remember(observation);
      snapshots.push(observation);
      const found = detections.length;
      observe(
        alert,
        observation.diaSourceId,
        observation.time,
        SNAPSHOT_ALERT_ID,
        observation.ssObjectId,
        observation.reassocTime,
      );
      // A snapshot's detection is its DIASource's, not the record's: no alert shows it.
      if (detections.length > found) alert.reassociations.pop();
      // Snapshots state one DIASource; a history they might carry is not theirs to observe.
      continue;
    }
    observe(
      alert,
      alert.diaSourceId,
      time,
      alertId,
      alert.ssObjectId,
      alert.ssObjectReassocTimeMjdTai,
    );
    const skip = settled?.get(alert);
    const columns = historyColumns(alert);
    if (columns !== null) {
      const { ids, ssObjectIds, reassocTimes, flags, start } = columns;
      for (let at = start, end = at + columns.length; at < end; at++) {
        if (skip !== undefined && skip[at - start] === 1) continue;
        const flag = flags[at] as number;
        observe(
          alert,
          ids[at] as bigint,
          time,
          alertId,
          flag & 1 ? null : ssObjectIds[at] as bigint,
          flag & 2 ? null : reassocTimes[at] as number,
        );
      }
      continue;
    }
    for (const [i, entry] of alert.history.entries()) {
      if (skip !== undefined && skip[i] === 1) continue;
      observe(
        alert,
        entry.diaSourceId,
        time,
        alertId,
        entry.ssObjectId,
        entry.ssObjectReassocTimeMjdTai,
      );
    }
  }

  // Detections of DIASources that will be replayed are superseded by the replay.
  const kept = replay.size === 0
    ? detections
    : detections.filter((d) => !replay.has(d.diaSourceId));
  for (const alert of alerts) {
    if (replay.size > 0) {
      alert.reassociations = alert.reassociations.filter((d) => !replay.has(d.diaSourceId));
    }
    // Flags a source gave (a CSV export's columns) stay unless tracking found something.
    if (alert.reassociations.length === 0) continue;
    alert.isReassociation = true;
    alert.reassociationReason = alertReason(alert.diaSourceId, alert.reassociations);
  }
  return { changed, previous, newSources, detections: kept, replay, snapshots };
}

// One step of the fold: the detection the observation fires, and the state after it. Shared by
// the in-order path and replays, so both find the same detections.
function _fold(
  state: Association & { runs: number },
  observation: Observation,
): ReassociationDetection | null {
  const reason = classifyObservation(state, observation);
  const sameObject = observation.ssObjectId === state.ssObjectId;
  const nextTime = observation.reassocTime ?? (sameObject ? state.reassocTime : null);
  const detection: ReassociationDetection | null = reason === null ? null : {
    diaSourceId: observation.diaSourceId,
    reason,
    oldSsObjectId: state.ssObjectId,
    newSsObjectId: observation.ssObjectId,
    oldReassocTime: state.reassocTime,
    newReassocTime: nextTime,
    alertDiaSourceId: observation.alertId === SNAPSHOT_ALERT_ID ? null : observation.alertId,
    observedMjd: observation.time,
  };
  if (!sameObject || nextTime !== state.reassocTime) state.runs++;
  state.ssObjectId = observation.ssObjectId;
  state.reassocTime = nextTime;
  return detection;
}
