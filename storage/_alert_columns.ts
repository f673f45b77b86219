/**
 * The `alerts` columns a batch writes, with their PostgreSQL array types and where each value
 * comes from: one list for both storages, so a new column cannot be written by one and
 * forgotten by the other.
 *
 * @module
 */

import { packAlertHistory } from "../tracking/_history_blob.ts";
import type { StoredAlert } from "../model/stored_alert.ts";

/** One written column of `alerts`. */
export interface AlertColumn {
  /** Column name. */
  name: string;
  /** PostgreSQL array type its values are sent as. */
  pgArray: string;
  /** Its value for a record. */
  value(stored: StoredAlert): unknown;
}

/** Every column a batch writes, in table order (`run_id` and `ingested_at` come from the run). */
export const ALERT_COLUMNS: readonly AlertColumn[] = [
  { name: "dia_source_id", pgArray: "int8[]", value: (s) => s.alert.diaSourceId },
  { name: "alert_id", pgArray: "int8[]", value: (s) => s.alert.alertId },
  { name: "dia_object_id", pgArray: "int8[]", value: (s) => s.alert.diaObjectId },
  { name: "ss_object_id", pgArray: "int8[]", value: (s) => s.alert.ssObjectId },
  { name: "ss_object_name", pgArray: "text[]", value: (s) => s.alert.ssObjectName },
  { name: "object_name", pgArray: "text[]", value: (s) => s.alert.objectName },
  { name: "ra", pgArray: "float8[]", value: (s) => s.alert.ra },
  { name: "dec", pgArray: "float8[]", value: (s) => s.alert.dec },
  { name: "ra_err", pgArray: "float8[]", value: (s) => s.alert.raErr },
  { name: "dec_err", pgArray: "float8[]", value: (s) => s.alert.decErr },
  { name: "midpoint_mjd_tai", pgArray: "float8[]", value: (s) => s.alert.midpointMjdTai },
  { name: "band", pgArray: "text[]", value: (s) => s.alert.band },
  { name: "psf_flux", pgArray: "float8[]", value: (s) => s.alert.psfFlux },
  { name: "psf_flux_err", pgArray: "float8[]", value: (s) => s.alert.psfFluxErr },
  { name: "snr", pgArray: "float8[]", value: (s) => s.alert.snr },
  { name: "extendedness", pgArray: "float8[]", value: (s) => s.alert.extendedness },
  { name: "reliability", pgArray: "float8[]", value: (s) => s.alert.reliability },
  { name: "visit", pgArray: "int8[]", value: (s) => s.alert.visit },
  { name: "detector", pgArray: "int4[]", value: (s) => s.alert.detector },
  { name: "observation_reason", pgArray: "text[]", value: (s) => s.alert.observationReason },
  { name: "target_name", pgArray: "text[]", value: (s) => s.alert.targetName },
  { name: "schema_version", pgArray: "text[]", value: (s) => s.alert.schemaVersion },
  { name: "source", pgArray: "text[]", value: (s) => s.alert.source },
  { name: "survey", pgArray: "text[]", value: (s) => s.alert.survey },
  // What the source said; tracking recomputes the flags of alerts it finds detections in.
  {
    name: "is_reassociation",
    pgArray: "int4[]",
    value: (s) => (s.alert.isReassociation ? 1 : 0),
  },
  { name: "reassociation_reason", pgArray: "text[]", value: (s) => s.alert.reassociationReason },
  { name: "cutout_science", pgArray: "text[]", value: (s) => s.cutouts.science },
  { name: "cutout_template", pgArray: "text[]", value: (s) => s.cutouts.template },
  { name: "cutout_difference", pgArray: "text[]", value: (s) => s.cutouts.difference },
  { name: "properties", pgArray: "text[]", value: (s) => s.alert.properties },
  {
    name: "ss_object_reassoc_time_mjd_tai",
    pgArray: "float8[]",
    value: (s) => s.alert.ssObjectReassocTimeMjdTai,
  },
  { name: "history", pgArray: "bytea[]", value: (s) => packAlertHistory(s.alert) },
  { name: "snapshot", pgArray: "int4[]", value: (s) => (s.alert.snapshot ? 1 : 0) },
];

/** The written column names, comma-separated, for an `INSERT` statement. */
export const ALERT_COLUMN_LIST: string = ALERT_COLUMNS.map((c) => c.name).join(", ");

/** One `?` placeholder per written column (SQLite). */
export const ALERT_PLACEHOLDERS: string = ALERT_COLUMNS.map(() => "?").join(", ");

/**
 * The `ON CONFLICT` clause shared by both dialects: an alert packet replaces a row kept from a
 * snapshot (the packet is what the alert said), and nothing else replaces a stored row.
 */
export const ALERT_UPSERT: string = `ON CONFLICT (dia_source_id) DO UPDATE SET ${
  ALERT_COLUMNS.slice(1).map((c) => `${c.name} = excluded.${c.name}`)
    .concat(["run_id = excluded.run_id", "ingested_at = excluded.ingested_at"]).join(", ")
} WHERE alerts.snapshot = 1 AND excluded.snapshot = 0`;
