/**
 * The one shape every source produces and every later stage consumes.
 *
 * @module
 */

/** Why a DIASource observation counts as a reassociation (DOMAIN.md §3). */
export type ReassociationReason =
  | "new_association"
  | "changed_association"
  | "updated_timestamp"
  | "association_removed";

/** All reasons, in the order the rules are numbered. */
export const REASSOCIATION_REASONS: readonly ReassociationReason[] = [
  "new_association",
  "changed_association",
  "updated_timestamp",
  "association_removed",
];

/** Which survey an alert came from. */
export type Survey = "lsst" | "ztf";

/**
 * One sighting of an earlier DIASource inside an alert's history (`prvDiaSources`): only the
 * fields the reassociation tracker needs.
 */
export interface HistoryObservation {
  /** The earlier DIASource. */
  diaSourceId: bigint;
  /** Its solar-system object as the alert reports it; 0 is normalised to `null`. */
  ssObjectId: bigint | null;
  /** Its own observation time (MJD TAI). */
  midpointMjdTai: number;
  /** APDB reassociation time (MJD TAI), only when a source provides it (CSV exports). */
  ssObjectReassocTimeMjdTai: number | null;
}

/** One reassociation found while tracking an alert. */
export interface ReassociationDetection {
  /** The DIASource whose association changed. */
  diaSourceId: bigint;
  /** Which rule fired. */
  reason: ReassociationReason;
  /** Association before this observation (`null` = none). */
  oldSsObjectId: bigint | null;
  /** Association seen in this observation (`null` = none). */
  newSsObjectId: bigint | null;
  /** Reassociation time before this observation, when known. */
  oldReassocTime: number | null;
  /** Reassociation time seen in this observation, when known. */
  newReassocTime: number | null;
  /**
   * The triggering DIASource id of the alert that carried the observation, or `null` when a
   * snapshot (a CSV/APDB export row, an ANTARES re-send) fired it: no alert shows it then.
   */
  alertDiaSourceId: bigint | null;
  /**
   * Time of the observation that fired it (MJD TAI): the alert's midpoint, or the snapshot's
   * reassociation or import time. `null` on rows stored before schema version 6.
   */
  observedMjd: number | null;
}

/**
 * A decoded alert, independent of its wire format and schema version.
 *
 * Ids that can exceed 2^53 are `bigint`; "no association" is always `null`.
 */
export interface AlertRecord {
  /** The triggering DIASource (`diaSource.diaSourceId`); the alert's natural key. */
  diaSourceId: bigint;
  /** The packet's own top-level id (`diaSourceId` from v8, `alertId` in v7, `candid` for ZTF). */
  alertId: bigint;
  /** The DIAObject; `null` for solar-system alerts (`diaObjectId` 0). */
  diaObjectId: bigint | null;
  /** The SSObject the triggering DIASource is associated with; `null` when none (0). */
  ssObjectId: bigint | null;
  /** A solar-system object name when the survey gives one instead of an id (ZTF `ssnamenr`). */
  ssObjectName: string | null;
  /** The survey's object name when it has no integer object id (ZTF `objectId`). */
  objectName: string | null;
  /** APDB reassociation time of the triggering DIASource, when the source provides it. */
  ssObjectReassocTimeMjdTai: number | null;
  /** Right ascension (deg). */
  ra: number;
  /** Declination (deg). */
  dec: number;
  /** Uncertainty of `ra` (deg). */
  raErr: number | null;
  /** Uncertainty of `dec` (deg). */
  decErr: number | null;
  /** Observation midpoint (MJD TAI). */
  midpointMjdTai: number;
  /** Filter band (`u g r i z y`). */
  band: string | null;
  /** PSF flux on the difference image (nJy). */
  psfFlux: number | null;
  /** Uncertainty of `psfFlux` (nJy). */
  psfFluxErr: number | null;
  /** Signal-to-noise ratio. */
  snr: number | null;
  /** 0 for point-like, 1 for extended sources. */
  extendedness: number | null;
  /** Real/bogus score in 0…1. */
  reliability: number | null;
  /** Visit id. */
  visit: bigint | null;
  /** Detector number. */
  detector: number | null;
  /** Scheduler reason for the image (v8+). */
  observationReason: string | null;
  /** Scheduler target (v8+). */
  targetName: string | null;
  /** Writer schema version, such as `"11.0"`. */
  schemaVersion: string;
  /** Which source produced it: `mock`, `file`, `kafka`, `antares`. */
  source: string;
  /** Which survey produced it. */
  survey: Survey;
  /** Earlier DIASources of the same DIAObject carried by this alert. */
  history: HistoryObservation[];
  /**
   * Every property the source gave, as JSON text with exact 64-bit integers, when the source
   * has more than the columns above (ANTARES: `lsst_diaSource_*`, `lsst_diaObject_*`, `ant_*`),
   * so new Rubin columns are not lost. `null` otherwise.
   */
  properties: string | null;
  /**
   * A snapshot of a DIASource (a CSV/APDB export row, an ANTARES alert) rather than an alert
   * packet: it states the DIASource's current association and is observed at its reassociation
   * time, else at the time of the import. When no alert of its DIASource is stored, its fields
   * are also kept as the `alerts` row until the DIASource's own packet arrives.
   */
  snapshot: boolean;
  /** Science cutout bytes (FITS, possibly gzipped), or `null`. */
  cutoutScience: Uint8Array | null;
  /** Template cutout bytes, or `null`. */
  cutoutTemplate: Uint8Array | null;
  /** Difference cutout bytes, or `null`. */
  cutoutDifference: Uint8Array | null;
  /** Set by tracking: whether any DIASource observed in this alert was reassociated. */
  isReassociation: boolean;
  /** Set by tracking: the reason of the first detection in this alert. */
  reassociationReason: ReassociationReason | null;
  /** Set by tracking: every detection found in this alert. */
  reassociations: ReassociationDetection[];
}

/**
 * Normalise an association id: 0 and null both mean "none".
 *
 * @param id The id as decoded.
 * @returns The id, or `null` for none.
 * @example
 * ```ts
 * import { associationId } from "./alert_record.ts";
 * associationId(0n); // null
 * ```
 */
export function associationId(id: bigint | number | null | undefined): bigint | null {
  if (id === null || id === undefined) return null;
  const value = typeof id === "bigint" ? id : BigInt(id);
  return value === 0n ? null : value;
}
