/**
 * Builds AlertRecords for tests that need precise control over ids, times and histories.
 *
 * @module
 */

import type { AlertRecord, HistoryObservation } from "../model/alert_record.ts";

/** A history entry: `[diaSourceId, ssObjectId (0 = none), reassociation time?]`. */
export type HistorySpec = readonly [bigint, bigint] | readonly [bigint, bigint, number];

/**
 * An alert with sensible defaults.
 *
 * @param diaSourceId The triggering DIASource.
 * @param fields Overrides; `history` may be given as compact specs.
 * @returns The record.
 */
export function makeAlert(
  diaSourceId: bigint,
  fields: Partial<Omit<AlertRecord, "history">> & { history?: readonly HistorySpec[] } = {},
): AlertRecord {
  const { history = [], ...rest } = fields;
  const midpoint = rest.midpointMjdTai ?? 61000.1;
  return {
    diaSourceId,
    alertId: diaSourceId,
    diaObjectId: 1_000_000_000_000_000_001n,
    ssObjectId: null,
    ssObjectName: null,
    objectName: null,
    ssObjectReassocTimeMjdTai: null,
    ra: 150.1,
    dec: -30.2,
    raErr: 0.0001,
    decErr: 0.0001,
    midpointMjdTai: midpoint,
    band: "r",
    psfFlux: 1234.5,
    psfFluxErr: 12.5,
    snr: 98.7,
    extendedness: 0.25,
    reliability: 0.9,
    visit: 2026112700123n,
    detector: 42,
    observationReason: "survey",
    targetName: "field-1",
    schemaVersion: "11.0",
    source: "test",
    survey: "lsst",
    cutoutScience: null,
    cutoutTemplate: null,
    cutoutDifference: null,
    isReassociation: false,
    reassociationReason: null,
    reassociations: [],
    properties: null,
    snapshot: false,
    ...rest,
    history: history.map(([id, ss, reassoc]): HistoryObservation => ({
      diaSourceId: id,
      ssObjectId: ss === 0n ? null : ss,
      midpointMjdTai: midpoint - 1,
      ssObjectReassocTimeMjdTai: reassoc ?? null,
    })),
  };
}
