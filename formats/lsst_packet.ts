/**
 * Map a decoded Rubin (LSST) alert packet of any schema version 7.0–11.1 to an
 * {@linkcode AlertRecord}. Every LSST source (file, Kafka, mock) goes through
 * {@linkcode toAlertRecord}, so all of them agree on what an alert means.
 *
 * @module
 */

import { type AlertRecord, associationId, type HistoryObservation } from "../model/alert_record.ts";
import {
  asBytes,
  asFinite,
  asFloat,
  asId,
  asInt,
  asOptionalId,
  asString,
  fieldError,
  showValue,
} from "./_packet_fields.ts";
import type { Selection } from "../avro/avro_projection.ts";

/**
 * An Avro `long` as decoded: a `bigint` when the decoder is set up for 64-bit ids (as it must
 * be for real alerts), or a JS number when the value is a safe integer.
 */
export type AvroLong = bigint | number;

/**
 * The `diaSource` record fields {@linkcode toAlertRecord} reads, as an Avro decoder returns
 * them. Fields missing from older schema versions may be absent; all other fields are kept
 * but ignored.
 */
export interface LsstDiaSource {
  /** Unique id of the DIASource. */
  readonly diaSourceId: AvroLong;
  /** Visit id (v7+). */
  readonly visit?: AvroLong | null;
  /** Detector number. */
  readonly detector?: number | null;
  /** The DIAObject; 0 or null on solar-system sources. */
  readonly diaObjectId?: AvroLong | null;
  /** The SSObject; 0 or null when none. */
  readonly ssObjectId?: AvroLong | null;
  /** Observation midpoint (MJD TAI). */
  readonly midpointMjdTai: number;
  /** Right ascension (deg). */
  readonly ra: number;
  /** Declination (deg). */
  readonly dec: number;
  /** Uncertainty of `ra`. */
  readonly raErr?: number | null;
  /** Uncertainty of `dec`. */
  readonly decErr?: number | null;
  /** Filter band. */
  readonly band?: string | null;
  /** PSF flux on the difference image (nJy). */
  readonly psfFlux?: number | null;
  /** Uncertainty of `psfFlux` (nJy). */
  readonly psfFluxErr?: number | null;
  /** Signal-to-noise ratio. */
  readonly snr?: number | null;
  /** 0 point-like … 1 extended; often NaN in real alerts. */
  readonly extendedness?: number | null;
  /** Real/bogus score. */
  readonly reliability?: number | null;
  /**
   * APDB reassociation time (MJD TAI). Not in any official schema; inputs derived from APDB
   * exports may carry it.
   */
  readonly ssObjectReassocTimeMjdTai?: number | null;
  /** Every other field of the schema version. */
  readonly [field: string]: unknown;
}

/**
 * A decoded LSST alert packet (`lsst.vM_m.alert`), schema 7.0–11.1. Only the fields
 * {@linkcode toAlertRecord} reads are typed; the rest (`diaObject`, `ssSource`,
 * `mpc_orbits`, `MPCORB`, `ssObject`, `prvDiaForcedSources`…) pass through untouched.
 */
export interface LsstAlertPacket {
  /** Top-level id of v8+ packets: the triggering DIASource. */
  readonly diaSourceId?: AvroLong;
  /** Top-level id of v7 packets. */
  readonly alertId?: AvroLong;
  /** Scheduler reason for the image (v8+). */
  readonly observation_reason?: string | null;
  /** Scheduler target (v8+). */
  readonly target_name?: string | null;
  /** The triggering DIASource. */
  readonly diaSource: LsstDiaSource;
  /** Earlier DIASources of the same DIAObject; null on first detections and SSO alerts. */
  readonly prvDiaSources?: readonly LsstDiaSource[] | null;
  /** Difference image cutout (FITS bytes). */
  readonly cutoutDifference?: Uint8Array | null;
  /** Science image cutout (FITS bytes). */
  readonly cutoutScience?: Uint8Array | null;
  /** Template image cutout (FITS bytes). */
  readonly cutoutTemplate?: Uint8Array | null;
  /** Every other field of the schema version. */
  readonly [field: string]: unknown;
}

/**
 * The fields {@linkcode toAlertRecord} reads, for every schema version (fields a version lacks
 * are skipped): what a projected decode of an LSST packet keeps. Keep it in step with the
 * mapper.
 */
export const LSST_ALERT_SELECTION: Selection = {
  diaSourceId: true,
  alertId: true,
  observation_reason: true,
  target_name: true,
  diaSource: {
    diaSourceId: true,
    visit: true,
    detector: true,
    diaObjectId: true,
    ssObjectId: true,
    midpointMjdTai: true,
    ra: true,
    dec: true,
    raErr: true,
    decErr: true,
    band: true,
    psfFlux: true,
    psfFluxErr: true,
    snr: true,
    extendedness: true,
    reliability: true,
    ssObjectReassocTimeMjdTai: true,
  },
  prvDiaSources: {
    diaSourceId: true,
    ssObjectId: true,
    midpointMjdTai: true,
    ssObjectReassocTimeMjdTai: true,
  },
  cutoutDifference: true,
  cutoutScience: true,
  cutoutTemplate: true,
};

/**
 * The LSST schema versions {@linkcode toAlertRecord} maps, for messages. 5.0 renamed the fields
 * it reads (`decl` → `dec`, `midPointTai` → `midpointMjdTai`); 2.x–4.0 packets are refused.
 */
export const LSST_SUPPORTED_VERSIONS = "5.0–11.1";

/** Options of {@linkcode toAlertRecord}. */
export interface ToAlertRecordOptions {
  /**
   * Source name stored in {@linkcode AlertRecord.source} (`file`, `kafka`, `mock`). Default
   * `"file"`, the most common producer of LSST packets; streaming sources pass their own.
   */
  source?: string;
}

/**
 * Map one decoded LSST alert packet to an {@linkcode AlertRecord}.
 *
 * - Ids may be `bigint` or safe-integer numbers; a number beyond 2^53 has already lost
 *   precision, so it is rejected rather than stored wrong.
 * - Association ids 0 and null both become `null` ("none"), in the trigger and in history.
 * - Optional floats that are NaN (real alerts carry NaN `extendedness`) become `null`: SQLite
 *   stores NaN as NULL anyway, and `null` keeps "not measured" one value everywhere. Required
 *   `ra`, `dec` and `midpointMjdTai` must be finite.
 * - Cutouts are passed through without copying (a `Buffer` stays a `Buffer`).
 * - Nothing is copied beyond the fields read: one small object per history entry.
 *
 * @param packet The packet, as an Avro decoder returns it (`long` as `bigint` preferred).
 * @param schemaVersion The writer schema version, such as `"11.0"`; stored as given.
 * @param options Source name.
 * @returns The alert record, not yet tracked (`isReassociation` false, no detections).
 * @throws {TypeError} When a required field is missing or has the wrong type; the message
 * names the field and its value. When the packet is of a schema version before 5.0 (by
 * `schemaVersion`, or by its old field names when the version is unknown), the message says
 * so instead. Callers wrap it in an `AlertParseError` with the position.
 * @example
 * ```ts
 * import { toAlertRecord } from "./lsst_packet.ts";
 * const record = toAlertRecord({
 *   diaSourceId: 170094456272322680n,
 *   diaSource: {
 *     diaSourceId: 170094456272322680n,
 *     diaObjectId: 170028485706776685n,
 *     ssObjectId: 0n,
 *     midpointMjdTai: 61105.09,
 *     ra: 63.35,
 *     dec: -47.18,
 *   },
 *   prvDiaSources: null,
 * }, "10.0", { source: "kafka" });
 * record.ssObjectId; // null
 * ```
 */
export function toAlertRecord(
  packet: LsstAlertPacket,
  schemaVersion: string,
  options: ToAlertRecordOptions = {},
): AlertRecord {
  if (typeof packet !== "object" || packet === null) {
    throw new TypeError(`Alert packet is not a record: ${showValue(packet)}`);
  }
  const source = packet.diaSource;
  if (typeof source !== "object" || source === null) {
    throw fieldError("diaSource", "a record", source);
  }
  _refuseOldVersions(schemaVersion, source);
  // v8+ name the top-level id after the triggering DIASource; v7 calls it alertId.
  const alertId = packet.diaSourceId !== undefined
    ? asId(packet.diaSourceId, "diaSourceId")
    : asId(packet.alertId, "alertId");

  return {
    diaSourceId: asId(source.diaSourceId, "diaSource.diaSourceId"),
    alertId,
    diaObjectId: associationId(asOptionalId(source.diaObjectId, "diaSource.diaObjectId")),
    ssObjectId: associationId(asOptionalId(source.ssObjectId, "diaSource.ssObjectId")),
    ssObjectName: null,
    objectName: null,
    ssObjectReassocTimeMjdTai: asFloat(
      source.ssObjectReassocTimeMjdTai,
      "diaSource.ssObjectReassocTimeMjdTai",
    ),
    ra: asFinite(source.ra, "diaSource.ra"),
    dec: asFinite(source.dec, "diaSource.dec"),
    raErr: asFloat(source.raErr, "diaSource.raErr"),
    decErr: asFloat(source.decErr, "diaSource.decErr"),
    midpointMjdTai: asFinite(source.midpointMjdTai, "diaSource.midpointMjdTai"),
    band: asString(source.band, "diaSource.band"),
    psfFlux: asFloat(source.psfFlux, "diaSource.psfFlux"),
    psfFluxErr: asFloat(source.psfFluxErr, "diaSource.psfFluxErr"),
    snr: asFloat(source.snr, "diaSource.snr"),
    extendedness: asFloat(source.extendedness, "diaSource.extendedness"),
    reliability: asFloat(source.reliability, "diaSource.reliability"),
    visit: asOptionalId(source.visit, "diaSource.visit"),
    detector: asInt(source.detector, "diaSource.detector"),
    observationReason: asString(packet.observation_reason, "observation_reason"),
    targetName: asString(packet.target_name, "target_name"),
    schemaVersion,
    source: options.source ?? "file",
    survey: "lsst",
    history: _history(packet.prvDiaSources),
    properties: null,
    snapshot: false,
    cutoutScience: asBytes(packet.cutoutScience, "cutoutScience"),
    cutoutTemplate: asBytes(packet.cutoutTemplate, "cutoutTemplate"),
    cutoutDifference: asBytes(packet.cutoutDifference, "cutoutDifference"),
    isReassociation: false,
    reassociationReason: null,
    reassociations: [],
  };
}

// Packets before 5.0 would otherwise fail on a missing "diaSource.dec", which says nothing of
// the real cause.
function _refuseOldVersions(schemaVersion: string, source: LsstDiaSource): void {
  const major = /^(\d+)\./.exec(schemaVersion)?.[1];
  if (major !== undefined && Number(major) < 5) {
    throw new TypeError(
      `Unsupported LSST alert schema version "${schemaVersion}" (supported: ${LSST_SUPPORTED_VERSIONS})`,
    );
  }
  if (source.dec === undefined && ("decl" in source || "midPointTai" in source)) {
    throw new TypeError(
      `Unsupported LSST alert schema version "${schemaVersion}" (supported: ${LSST_SUPPORTED_VERSIONS}): ` +
        'diaSource has "decl" and "midPointTai", the field names of versions before 5.0',
    );
  }
}

// The history loop runs ~350 times for heavy alerts: fast paths are inlined and field names
// with indices are only built when a value is wrong.
function _history(entries: readonly LsstDiaSource[] | null | undefined): HistoryObservation[] {
  if (entries === null || entries === undefined) return [];
  if (!Array.isArray(entries)) throw fieldError("prvDiaSources", "an array", entries);
  const history: HistoryObservation[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    if (typeof entry !== "object" || entry === null) {
      throw fieldError(`prvDiaSources[${i}]`, "a record", entry);
    }
    const id = entry.diaSourceId;
    const ss = entry.ssObjectId;
    const midpoint = entry.midpointMjdTai;
    const reassoc = entry.ssObjectReassocTimeMjdTai;
    history[i] = {
      diaSourceId: typeof id === "bigint" ? id : asId(id, `prvDiaSources[${i}].diaSourceId`),
      ssObjectId: ss === null || ss === undefined || ss === 0n
        ? null
        : typeof ss === "bigint"
        ? ss
        : associationId(asOptionalId(ss, `prvDiaSources[${i}].ssObjectId`)),
      midpointMjdTai: typeof midpoint === "number" && Number.isFinite(midpoint)
        ? midpoint
        : asFinite(midpoint, `prvDiaSources[${i}].midpointMjdTai`),
      ssObjectReassocTimeMjdTai: reassoc === undefined || reassoc === null
        ? null
        : asFloat(reassoc, `prvDiaSources[${i}].ssObjectReassocTimeMjdTai`),
    };
  }
  return history;
}
