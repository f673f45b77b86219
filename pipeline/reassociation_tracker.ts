/**
 * The reassociation rules of DOMAIN.md §3, applied to every DIASource an alert carries.
 *
 * The tracker is pure: storage loads the states of the DIASources a batch observes, the tracker
 * updates them in place and reports detections, and storage writes both in one transaction.
 *
 * @module
 */

import type { AlertRecord, ReassociationDetection, ReassociationReason } from "./alert_record.ts";

/** What the tracker remembers about one DIASource (a `processed_sources` row). */
export interface SourceState {
  /** The DIASource. */
  diaSourceId: bigint;
  /** Its DIAObject, when known. */
  diaObjectId: bigint | null;
  /** Last SSObject seen (`null` = none). */
  ssObjectId: bigint | null;
  /** Last reassociation time seen (MJD TAI), when a source provided one. */
  reassocTime: number | null;
  /** Time of the first alert that carried it (MJD TAI). */
  firstSeenMjd: number;
  /** Time of the latest alert that carried it (MJD TAI). */
  lastSeenMjd: number;
  /** How many stored alerts carried it. */
  timesSeen: number;
  /** Run that first saw it. */
  firstRunId: number;
  /** Run that last saw it. */
  lastRunId: number;
}

/** The association part of a state or an observation. */
export interface Association {
  /** SSObject, `null` = none. */
  ssObjectId: bigint | null;
  /** Reassociation time, `null` = not provided. */
  reassocTime: number | null;
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

/** What tracking one batch of alerts produced. */
export interface TrackResult {
  /** States that changed and must be written, in first-touched order. */
  changed: SourceState[];
  /** How many of them were seen for the first time. */
  newSources: number;
  /** Every detection, in observation order. */
  detections: ReassociationDetection[];
}

/**
 * Apply the rules to every DIASource the alerts carry (the triggering one, then each history
 * entry), in the order given, updating `states` in place and setting each alert's
 * `isReassociation`, `reassociationReason` and `reassociations`.
 *
 * Observations are timed by their alert's midpoint. One older than the latest already seen for
 * its DIASource (an out-of-order arrival) updates the counters but not the association: the
 * newest alert holds the APDB's newest view.
 *
 * A snapshot row (CSV export) whose DIASource is already stored is a later observation of it:
 * pass it in `reobserved`. It is tracked only when its association differs from the state, so
 * importing the same export twice changes nothing.
 *
 * @param alerts New alerts in order (replayed alerts must be left out: they detect nothing),
 * and the snapshot rows to observe again.
 * @param states Known states by DIASource id; absent ids are first sightings.
 * @param runId The run doing the tracking.
 * @param reobserved Which of `alerts` are snapshot rows of already stored DIASources.
 * @returns Changed states and detections.
 * @example
 * ```ts
 * import { trackAlerts } from "./reassociation_tracker.ts";
 * const states = new Map();
 * const result = trackAlerts([], states, 1);
 * result.detections.length; // 0
 * ```
 */
export function trackAlerts(
  alerts: readonly AlertRecord[],
  states: Map<bigint, SourceState>,
  runId: number,
  reobserved: ReadonlySet<AlertRecord> = new Set(),
): TrackResult {
  const changed = new Set<SourceState>();
  const detections: ReassociationDetection[] = [];
  let newSources = 0;

  const observe = (
    alert: AlertRecord,
    diaSourceId: bigint,
    ssObjectId: bigint | null,
    reassocTime: number | null,
  ): void => {
    const time = alert.midpointMjdTai;
    const state = states.get(diaSourceId);
    if (state === undefined) {
      const fresh: SourceState = {
        diaSourceId,
        diaObjectId: alert.diaObjectId,
        ssObjectId,
        reassocTime,
        firstSeenMjd: time,
        lastSeenMjd: time,
        timesSeen: 1,
        firstRunId: runId,
        lastRunId: runId,
      };
      states.set(diaSourceId, fresh);
      changed.add(fresh);
      newSources++;
      return;
    }
    changed.add(state);
    state.timesSeen++;
    state.lastRunId = runId;
    state.diaObjectId ??= alert.diaObjectId;
    if (time < state.firstSeenMjd) state.firstSeenMjd = time;
    if (time < state.lastSeenMjd) return;
    state.lastSeenMjd = time;

    const reason = classifyObservation(state, { ssObjectId, reassocTime });
    const sameObject = ssObjectId === state.ssObjectId;
    const nextReassocTime = reassocTime ?? (sameObject ? state.reassocTime : null);
    if (reason !== null) {
      const detection: ReassociationDetection = {
        diaSourceId,
        reason,
        oldSsObjectId: state.ssObjectId,
        newSsObjectId: ssObjectId,
        oldReassocTime: state.reassocTime,
        newReassocTime: nextReassocTime,
        alertDiaSourceId: alert.diaSourceId,
      };
      detections.push(detection);
      alert.reassociations.push(detection);
      alert.isReassociation = true;
      alert.reassociationReason ??= reason;
    }
    state.ssObjectId = ssObjectId;
    state.reassocTime = nextReassocTime;
  };

  for (const alert of alerts) {
    if (reobserved.has(alert) && _unchanged(states.get(alert.diaSourceId), alert)) continue;
    observe(alert, alert.diaSourceId, alert.ssObjectId, alert.ssObjectReassocTimeMjdTai);
    for (const entry of alert.history) {
      observe(alert, entry.diaSourceId, entry.ssObjectId, entry.ssObjectReassocTimeMjdTai);
    }
  }
  return { changed: [...changed], newSources, detections };
}

// A row that only repeats what is known (an export imported twice) is not a new observation.
function _unchanged(state: SourceState | undefined, row: AlertRecord): boolean {
  return state !== undefined && state.ssObjectId === row.ssObjectId &&
    (row.ssObjectReassocTimeMjdTai === null || row.ssObjectReassocTimeMjdTai === state.reassocTime);
}
