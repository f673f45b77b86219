/**
 * Replay of one DIASource's stored observations after a late arrival, shared by the SQLite and
 * PostgreSQL storages: gather every observation (its own alert or snapshots, and every alert of
 * its DIAObject whose history carries it), sort them, fold them, and work out which stored
 * detections to remove and which to add.
 *
 * @module
 */

import type { ReassociationDetection } from "../model/alert_record.ts";
import {
  compareObservations,
  type Observation,
  replayObservations,
  type ReplayResult,
  type SourceState,
} from "./reassociation_tracker.ts";
import { findInHistory } from "./_history_blob.ts";

/** A stored detection, with its row id. */
export interface StoredDetection extends ReassociationDetection {
  /** Row id. */
  id: bigint;
}

/** What a storage reads for a replay (inside its batch transaction). */
export interface ReplayInput {
  /** The DIASource's own alert, when its packet is stored (not a row kept from a snapshot). */
  trigger: Observation | null;
  /** Its snapshot observations (CSV, ANTARES), in the order they were recorded. */
  snapshots: Observation[];
  /** Every stored alert of its DIAObject that has a history: id, time and packed history. */
  histories: Array<{ alertId: bigint; time: number; history: Uint8Array }>;
  /** Its stored detections. */
  detections: StoredDetection[];
}

/** What a replay changes. */
export interface ReplayPlan {
  /** The association after every observation. */
  result: ReplayResult;
  /** Stored detections that an in-order pass would not make. */
  remove: StoredDetection[];
  /** Detections an in-order pass makes that are not stored. */
  add: ReassociationDetection[];
}

/**
 * Every stored observation of one DIASource in time order: its own alert, its snapshots, and
 * each alert of its DIAObject whose history carries it (at that alert's time).
 *
 * @param id The DIASource.
 * @param input What storage read for it.
 * @returns The observations, sorted as tracking folds them.
 */
export function gatherObservations(id: bigint, input: ReplayInput): Observation[] {
  const observations: Observation[] = [...input.snapshots];
  if (input.trigger !== null) observations.push(input.trigger);
  for (const alert of input.histories) {
    if (alert.alertId === id) continue;
    const found = findInHistory(alert.history, id);
    if (found !== null) {
      observations.push({ diaSourceId: id, time: alert.time, alertId: alert.alertId, ...found });
    }
  }
  // Snapshots first, then a stable sort: snapshots of equal time keep the order they were
  // recorded in, after the alerts of that time (their alertId is the largest).
  observations.sort(compareObservations);
  return observations;
}

/**
 * Replay a DIASource from what storage read: its observations sorted and folded.
 *
 * @param state The DIASource's state.
 * @param input Its stored observations and detections.
 * @returns The association and the detection changes.
 */
export function planReplay(state: SourceState, input: ReplayInput): ReplayPlan {
  const observations = gatherObservations(state.diaSourceId, input);
  const result = replayObservations(observations);
  const key = (d: ReassociationDetection) =>
    [
      d.alertDiaSourceId,
      d.reason,
      d.oldSsObjectId,
      d.newSsObjectId,
      d.oldReassocTime,
      d.newReassocTime,
      d.observedMjd,
    ]
      .join("|");
  const wanted = new Map(result.detections.map((d) => [key(d), d]));
  const remove: StoredDetection[] = [];
  for (const d of input.detections) {
    if (wanted.has(key(d))) wanted.delete(key(d));
    else remove.push(d);
  }
  return { result, remove, add: [...wanted.values()] };
}
