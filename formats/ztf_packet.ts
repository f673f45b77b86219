/**
 * Map a decoded ZTF alert packet (schema 3.x/4.x, `ztf.alert`) to an {@linkcode AlertRecord},
 * so that ZTF alerts are stored and tracked like Rubin's.
 *
 * @module
 */

import type { AlertRecord, HistoryObservation } from "../model/alert_record.ts";
import type { AvroLong } from "./lsst_packet.ts";
import { asFinite, asFloat, asId, fieldError, showValue } from "./_packet_fields.ts";
import type { Selection } from "../avro/avro_projection.ts";

/**
 * The fields {@linkcode toZtfAlertRecord} reads: what a projected decode of a ZTF packet keeps.
 * Keep it in step with the mapper.
 */
export const ZTF_ALERT_SELECTION: Selection = {
  schemavsn: true,
  objectId: true,
  candid: true,
  candidate: {
    candid: true,
    jd: true,
    exptime: true,
    fid: true,
    ra: true,
    dec: true,
    magpsf: true,
    sigmapsf: true,
    isdiffpos: true,
    rb: true,
    drb: true,
    ssnamenr: true,
  },
  prv_candidates: { candid: true, jd: true, exptime: true },
  cutoutScience: { stampData: true },
  cutoutTemplate: { stampData: true },
  cutoutDifference: { stampData: true },
};

/**
 * The `candidate` record fields {@linkcode toZtfAlertRecord} reads (the triggering detection),
 * as an Avro decoder returns them. All other fields are kept but ignored.
 */
export interface ZtfCandidate {
  /** UTC Julian date of the start of the exposure. */
  readonly jd: number;
  /** Filter id: 1 g, 2 r, 3 i. */
  readonly fid: number;
  /** The detection's id; the same as the packet's `candid`. */
  readonly candid?: AvroLong | null;
  /** Right ascension (deg). */
  readonly ra: number;
  /** Declination (deg). */
  readonly dec: number;
  /** `t`/`1`: positive difference (science minus reference); `f`/`0`: negative. */
  readonly isdiffpos?: string | null;
  /** PSF-fit magnitude on the difference image (AB mag). */
  readonly magpsf?: number | null;
  /** 1-sigma uncertainty of `magpsf` (mag). */
  readonly sigmapsf?: number | null;
  /** RealBogus score in 0…1. */
  readonly rb?: number | null;
  /** Deep-learning RealBogus score in 0…1 (schema 3.3+). */
  readonly drb?: number | null;
  /** Nearest known solar-system object within 30″; the string `"null"` when none. */
  readonly ssnamenr?: string | null;
  /** Exposure time (s), when the schema has it. */
  readonly exptime?: number | null;
  /** Every other field of the schema version. */
  readonly [field: string]: unknown;
}

/**
 * One `prv_candidates` entry: an earlier detection (non-null `candid`) or a non-detection upper
 * limit (`candid` null).
 */
export interface ZtfPrvCandidate {
  /** UTC Julian date of the start of the exposure. */
  readonly jd: number;
  /** The earlier detection's id; null for an upper limit. */
  readonly candid?: AvroLong | null;
  /** Exposure time (s); no schema so far has it here, so 30 s is assumed. */
  readonly exptime?: number | null;
  /** Every other field of the schema version. */
  readonly [field: string]: unknown;
}

/** A ZTF cutout: a file name and the gzipped FITS bytes. */
export interface ZtfCutout {
  /** The original file name (`…_sci.fits.gz`). */
  readonly fileName?: string;
  /** Gzipped FITS bytes. */
  readonly stampData: Uint8Array;
  /** Every other field of the schema version. */
  readonly [field: string]: unknown;
}

/**
 * A decoded ZTF alert packet (`ztf.alert`). Only the fields {@linkcode toZtfAlertRecord} reads
 * are typed; the rest pass through untouched.
 */
export interface ZtfAlertPacket {
  /** Schema version, such as `"3.3"`. */
  readonly schemavsn?: string;
  /** ZTF object name, such as `"ZTF17aaajnnn"`. */
  readonly objectId: string;
  /** The triggering detection's id. */
  readonly candid: AvroLong;
  /** The triggering detection. */
  readonly candidate: ZtfCandidate;
  /** Earlier detections and upper limits of the same position (30 days); null when none. */
  readonly prv_candidates?: readonly ZtfPrvCandidate[] | null;
  /** Science image cutout. */
  readonly cutoutScience?: ZtfCutout | null;
  /** Reference image cutout. */
  readonly cutoutTemplate?: ZtfCutout | null;
  /** Difference image cutout. */
  readonly cutoutDifference?: ZtfCutout | null;
  /** Every other field of the schema version. */
  readonly [field: string]: unknown;
}

/** Options of {@linkcode toZtfAlertRecord}. */
export interface ToZtfAlertRecordOptions {
  /**
   * Source name stored in {@linkcode AlertRecord.source} (`file`, `kafka`). Default `"file"`,
   * as for LSST packets; streaming sources pass their own.
   */
  source?: string;
}

const JD_MJD_OFFSET = 2_400_000.5;
const DAY_S = 86_400;
// TAI - UTC since 2017-01-01, before ZTF's first alert (2018); no leap second since.
const TAI_MINUS_UTC_S = 37;
// ZTF's survey exposures are 30 s; older schemas do not carry `exptime`.
const DEFAULT_EXPOSURE_S = 30;
// ZTF magnitudes are AB: 0 mag = 3631 Jy, so m = 31.4 - 2.5 log10(flux in nJy).
const AB_ZERO_POINT_NJY = 31.4;
const MAG_TO_FLUX_ERROR = Math.LN10 / 2.5;
const BANDS: Readonly<Record<number, string>> = { 1: "g", 2: "r", 3: "i" };

/**
 * Map one decoded ZTF alert packet to an {@linkcode AlertRecord}.
 *
 * - Ids: `candid` becomes both `alertId` and `diaSourceId` (`candidate.candid`, the same
 *   number, when present); `objectId` becomes `objectName`, since ZTF has no integer object id
 *   (`diaObjectId` null). Ids may be `bigint` or safe-integer numbers; a number beyond 2^53 has
 *   lost precision and is rejected.
 * - Time: `jd` is the UTC Julian date of the exposure start, so `midpointMjdTai` =
 *   `jd` − 2400000.5 + (`exptime` / 2 + 37 s) / 86400: half the exposure (`exptime` when the
 *   schema has it, else ZTF's standard 30 s) to reach the midpoint, plus TAI − UTC (37 s since
 *   2017, before ZTF began). History entries get the same conversion.
 * - Photometry: `fid` 1/2/3 becomes band `g`/`r`/`i` (others `null`). `magpsf` ± `sigmapsf`
 *   (AB) become `psfFlux` = 10^((31.4 − magpsf)/2.5) nJy and `psfFluxErr` = `psfFlux` · ln 10
 *   / 2.5 · `sigmapsf`; `isdiffpos` `f` or `0` (reference brighter than science) makes the
 *   flux negative. `snr` = |`psfFlux`| / `psfFluxErr`, positive for both signs like Rubin's
 *   detection S/N. `reliability` is `drb` when present, else `rb`.
 * - Solar system: `ssnamenr` becomes `ssObjectName`; ZTF writes the string `"null"` (or null,
 *   or an empty string) for none. `ssObjectId` is `null`: ZTF has no integer SSObject ids.
 * - Not in ZTF alerts, so `null`: `extendedness` (`sgscore1`/`classtar` describe other
 *   quantities), `visit` and `detector` (`pid` and `rcid` identify a processed CCD quadrant,
 *   not a visit or detector), `raErr`/`decErr` (no positional errors), `observationReason` and
 *   `targetName` (no scheduler fields).
 * - History: each `prv_candidates` entry with a `candid` (null is a non-detection upper limit,
 *   skipped), with `ssObjectId` and `ssObjectReassocTimeMjdTai` `null`.
 * - Cutouts: `stampData` (gzipped FITS) is passed through without copying; the
 *   `CutoutProcessor` decompresses it.
 *
 * @param packet The packet, as an Avro decoder returns it (`long` as `bigint` preferred).
 * @param schemaVersion The writer schema version, normally the packet's `schemavsn` (`"3.3"`);
 * stored as given.
 * @param options Source name.
 * @returns The alert record, not yet tracked (`isReassociation` false, no detections).
 * @throws {TypeError} When a required field is missing or has the wrong type; the message
 * names the field and its value. Callers wrap it in an `AlertParseError` with the position.
 * @example
 * ```ts
 * import { toZtfAlertRecord } from "./ztf_packet.ts";
 * const record = toZtfAlertRecord({
 *   objectId: "ZTF17aaajnnn",
 *   candid: 472263571115115000n,
 *   candidate: {
 *     jd: 2458226.7635764,
 *     fid: 2,
 *     ra: 179.6402013,
 *     dec: 52.0297203,
 *     isdiffpos: "t",
 *     magpsf: 18.36,
 *     sigmapsf: 0.094,
 *     ssnamenr: "null",
 *   },
 *   prv_candidates: null,
 * }, "3.3", { source: "kafka" });
 * record.band; // "r"
 * ```
 */
export function toZtfAlertRecord(
  packet: ZtfAlertPacket,
  schemaVersion: string,
  options: ToZtfAlertRecordOptions = {},
): AlertRecord {
  if (typeof packet !== "object" || packet === null) {
    throw new TypeError(`Alert packet is not a record: ${showValue(packet)}`);
  }
  const candidate = packet.candidate;
  if (typeof candidate !== "object" || candidate === null) {
    throw fieldError("candidate", "a record", candidate);
  }
  const alertId = asId(packet.candid, "candid");
  const objectName = packet.objectId;
  if (typeof objectName !== "string") throw fieldError("objectId", "a string", objectName);
  const fid = candidate.fid;
  if (!Number.isInteger(fid)) throw fieldError("candidate.fid", "an integer", fid);

  const { psfFlux, psfFluxErr } = _photometry(candidate);
  const reliability = asFloat(candidate.drb, "candidate.drb") ??
    asFloat(candidate.rb, "candidate.rb");

  return {
    diaSourceId: candidate.candid === undefined || candidate.candid === null
      ? alertId
      : asId(candidate.candid, "candidate.candid"),
    alertId,
    diaObjectId: null,
    ssObjectId: null,
    ssObjectName: _ssName(candidate.ssnamenr, "candidate.ssnamenr"),
    objectName,
    ssObjectReassocTimeMjdTai: null,
    ra: asFinite(candidate.ra, "candidate.ra"),
    dec: asFinite(candidate.dec, "candidate.dec"),
    raErr: null,
    decErr: null,
    midpointMjdTai: _midpointMjdTai(candidate, "candidate"),
    band: BANDS[fid] ?? null,
    psfFlux,
    psfFluxErr,
    snr: psfFlux === null || psfFluxErr === null || psfFluxErr === 0
      ? null
      : Math.abs(psfFlux) / psfFluxErr,
    extendedness: null,
    reliability,
    visit: null,
    detector: null,
    observationReason: null,
    targetName: null,
    schemaVersion,
    source: options.source ?? "file",
    survey: "ztf",
    history: _history(packet.prv_candidates),
    properties: null,
    snapshot: false,
    cutoutScience: _stamp(packet.cutoutScience, "cutoutScience"),
    cutoutTemplate: _stamp(packet.cutoutTemplate, "cutoutTemplate"),
    cutoutDifference: _stamp(packet.cutoutDifference, "cutoutDifference"),
    isReassociation: false,
    reassociationReason: null,
    reassociations: [],
  };
}

function _photometry(
  candidate: ZtfCandidate,
): { psfFlux: number | null; psfFluxErr: number | null } {
  const magpsf = asFloat(candidate.magpsf, "candidate.magpsf");
  const sigmapsf = asFloat(candidate.sigmapsf, "candidate.sigmapsf");
  if (magpsf === null) return { psfFlux: null, psfFluxErr: null };
  const isdiffpos = candidate.isdiffpos;
  let sign: number;
  if (isdiffpos === "t" || isdiffpos === "1") sign = 1;
  else if (isdiffpos === "f" || isdiffpos === "0") sign = -1;
  else throw fieldError("candidate.isdiffpos", `"t", "f", "1" or "0"`, isdiffpos);
  const flux = 10 ** ((AB_ZERO_POINT_NJY - magpsf) / 2.5);
  return {
    psfFlux: sign * flux,
    psfFluxErr: sigmapsf === null ? null : flux * MAG_TO_FLUX_ERROR * sigmapsf,
  };
}

function _midpointMjdTai(detection: ZtfCandidate | ZtfPrvCandidate, path: string): number {
  const jd = asFinite(detection.jd, `${path}.jd`);
  const exptime = asFloat(detection.exptime, `${path}.exptime`) ?? DEFAULT_EXPOSURE_S;
  if (exptime < 0) throw fieldError(`${path}.exptime`, "a duration >= 0", exptime);
  return jd - JD_MJD_OFFSET + (exptime / 2 + TAI_MINUS_UTC_S) / DAY_S;
}

function _history(entries: readonly ZtfPrvCandidate[] | null | undefined): HistoryObservation[] {
  if (entries === null || entries === undefined) return [];
  if (!Array.isArray(entries)) throw fieldError("prv_candidates", "an array", entries);
  const history: HistoryObservation[] = [];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    if (typeof entry !== "object" || entry === null) {
      throw fieldError(`prv_candidates[${i}]`, "a record", entry);
    }
    if (entry.candid === null || entry.candid === undefined) continue;
    history.push({
      diaSourceId: asId(entry.candid, `prv_candidates[${i}].candid`),
      ssObjectId: null,
      midpointMjdTai: _midpointMjdTai(entry, `prv_candidates[${i}]`),
      ssObjectReassocTimeMjdTai: null,
    });
  }
  return history;
}

function _ssName(value: unknown, field: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string") throw fieldError(field, "a string", value);
  const name = value.trim();
  return name === "" || name === "null" ? null : name;
}

function _stamp(value: unknown, field: string): Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array) {
    throw fieldError(field, "a record", value);
  }
  const bytes = (value as { stampData?: unknown }).stampData;
  if (bytes instanceof Uint8Array) return bytes;
  throw fieldError(`${field}.stampData`, "bytes", bytes);
}
