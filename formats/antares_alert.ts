/**
 * ANTARES alerts: read a JSON:API `alert` resource (from a locus message's `included` list or
 * from the HTTP API) and map an LSST one to an {@linkcode AlertRecord}.
 *
 * ANTARES flattens a Rubin alert into one `properties` dict: Rubin column names prefixed
 * `lsst_diaSource_` / `lsst_diaObject_`, the scheduler fields `lsst_observation_reason` and
 * `lsst_target_name`, and ANTARES's own `ant_*` keys. It carries no history
 * (`prvDiaSources`) and no cutouts.
 *
 * @module
 */

import { type AlertRecord, associationId } from "../model/alert_record.ts";
import { stringifyExact } from "../model/exact_json.ts";
import {
  asFinite,
  asFloat,
  asId,
  asInt,
  asOptionalId,
  asString,
  fieldError,
  showValue,
} from "./_packet_fields.ts";

/**
 * One ANTARES alert as a JSON:API `alert` resource carries it, with its id and the attributes
 * the mapping reads. Integers beyond 2^53 in `properties` are `bigint` (read with `parseExact`
 * or BSON `useBigInt64`).
 */
export interface AntaresAlertResource {
  /** ANTARES alert id: `lsst:<diaSourceId>` for Rubin, `ztf:<candid>` and others for ZTF. */
  id: string;
  /** Observation time (MJD) as ANTARES reports it. */
  mjd: number;
  /** Every alert property (`lsst_diaSource_*`, `lsst_diaObject_*`, `ant_*`, …). */
  properties: Record<string, unknown>;
  /** When ANTARES processed the alert (ISO-8601 text as given), or `null`. */
  processedAt: string | null;
}

/** Options of {@linkcode toAntaresAlertRecord}. */
export interface ToAntaresAlertRecordOptions {
  /** Source name stored in {@linkcode AlertRecord.source}. Default `"antares"`. */
  source?: string;
}

/** ANTARES's survey code for Rubin (`ant_survey`); ZTF is 1. */
const LSST_SURVEY = 4;

const INT64_MAX = (1n << 63n) - 1n;

/**
 * Read one JSON:API resource as an {@linkcode AntaresAlertResource}: `{type: "alert", id,
 * attributes: {mjd, properties, processed_at}}`. Resources of another type (such as the locus
 * itself) give `null`, so a caller can skip them. A `processed_at` BSON datetime becomes ISO
 * text.
 *
 * @param value The resource, as JSON (`parseExact`) or BSON (`useBigInt64`) decoding gives it.
 * @param path Where it is in its document, for messages (such as `"included[3]"`). Default
 * `"resource"`.
 * @returns The alert resource, or `null` when the resource is not an alert.
 * @throws {TypeError} When an alert resource lacks its id, `mjd` or `properties`, or one has
 * the wrong type; the message names the field.
 * @example
 * ```ts
 * import { parseAlertResource } from "./antares_alert.ts";
 * const resource = parseAlertResource({
 *   type: "alert",
 *   id: "lsst:170587117485817955",
 *   attributes: { mjd: 61217.42, properties: { ant_survey: 4 }, processed_at: null },
 * });
 * resource?.id; // "lsst:170587117485817955"
 * ```
 */
export function parseAlertResource(value: unknown, path = "resource"): AntaresAlertResource | null {
  if (!_isRecord(value)) throw _resourceError(path, "a record", value);
  if (value.type !== "alert") {
    if (typeof value.type !== "string") {
      throw _resourceError(`${path}.type`, "a string", value.type);
    }
    return null;
  }
  const id = value.id;
  if (typeof id !== "string" || id === "") throw _resourceError(`${path}.id`, "a string", id);
  const attributes = value.attributes;
  if (!_isRecord(attributes)) throw _resourceError(`${path}.attributes`, "a record", attributes);
  const mjd = _measure(attributes.mjd);
  if (typeof mjd !== "number" || !Number.isFinite(mjd)) {
    throw _resourceError(`${path}.attributes.mjd`, "a finite number", attributes.mjd);
  }
  const properties = attributes.properties;
  if (!_isRecord(properties)) {
    throw _resourceError(`${path}.attributes.properties`, "a record", properties);
  }
  return { id, mjd, properties, processedAt: _timestamp(attributes.processed_at, path) };
}

/**
 * Map one ANTARES alert to an {@linkcode AlertRecord}, or `null` when it is not a Rubin alert.
 *
 * - Which alerts are LSST: the id decides. `lsst:<diaSourceId>` is Rubin; every other id
 *   (`ztf:…`, `ztf_candidate:…`) gives `null`, since a locus may mix surveys. An `lsst:` id whose
 *   `ant_survey` is present and not 4 contradicts itself and is rejected, like a `lsst:` id
 *   that differs from `lsst_diaSource_diaSourceId`.
 * - `diaSourceId` and `alertId` are the digits after `lsst:`, exact. `diaObjectId` is
 *   `lsst_diaSource_diaObjectId` (else `lsst_diaObject_diaObjectId`); 0 means none.
 *   `ssObjectId` 0, null or absent means none.
 * - `midpointMjdTai` is `lsst_diaSource_midpointMjdTai` (MJD TAI), else the resource's `mjd`.
 * - `schemaVersion` is `"antares"`: ANTARES does not say which Rubin schema the alert was
 *   written with.
 * - `snapshot` is true: ANTARES re-sends a locus's alerts with every locus update, so a
 *   re-sent alert is a later observation of its DIASource (tracked when its association
 *   changed), not a replay to skip.
 * - `properties` keeps the whole dict as exact JSON, so Rubin columns this tool does not map
 *   are not lost. There is no history and there are no cutouts.
 * - Ids may be `bigint` or safe-integer numbers; a number beyond 2^53 has lost precision and is
 *   rejected. Optional floats that are NaN or null become `null`; `ra`, `dec` and the midpoint
 *   must be finite.
 *
 * @param resource The alert, as {@linkcode parseAlertResource} returns it.
 * @param options Source name.
 * @returns The alert record, not yet tracked, or `null` for a non-LSST alert.
 * @throws {TypeError} When the id or a property is invalid; the message names the field.
 * @example
 * ```ts
 * import { toAntaresAlertRecord } from "./antares_alert.ts";
 * const record = toAntaresAlertRecord({
 *   id: "lsst:170587117485817955",
 *   mjd: 61217.42118006405,
 *   processedAt: null,
 *   properties: {
 *     ant_survey: 4,
 *     lsst_diaSource_diaSourceId: 170587117485817955n,
 *     lsst_diaSource_ssObjectId: 0,
 *     lsst_diaSource_ra: 62.45761131986638,
 *     lsst_diaSource_dec: -48.48149141631282,
 *   },
 * });
 * record?.diaSourceId; // 170587117485817955n
 * ```
 */
export function toAntaresAlertRecord(
  resource: AntaresAlertResource,
  options: ToAntaresAlertRecordOptions = {},
): AlertRecord | null {
  if (!_isRecord(resource)) {
    throw new TypeError(`ANTARES alert is not a record: ${showValue(resource)}`);
  }
  const id = resource.id;
  if (typeof id !== "string") throw fieldError("id", "a string", id);
  if (!id.startsWith("lsst:")) return null;
  const p = resource.properties;
  if (!_isRecord(p)) throw fieldError("properties", "a record", p);

  const survey = _number(p.ant_survey);
  if (survey !== undefined && survey !== null && survey !== LSST_SURVEY) {
    throw new TypeError(
      `ANTARES alert "${id}" is not an LSST alert: "ant_survey" is ${showValue(p.ant_survey)}, ` +
        `not "${LSST_SURVEY}"`,
    );
  }
  const diaSourceId = _lsstId(id);
  const declared = p.lsst_diaSource_diaSourceId;
  if (declared !== undefined && declared !== null) {
    const value = asId(declared, "properties.lsst_diaSource_diaSourceId");
    if (value !== diaSourceId) {
      throw new TypeError(
        `ANTARES alert id "${id}" differs from "properties.lsst_diaSource_diaSourceId": ` +
          `"${value}"`,
      );
    }
  }
  const objectId = p.lsst_diaSource_diaObjectId ?? p.lsst_diaObject_diaObjectId;
  const objectField = p.lsst_diaSource_diaObjectId === undefined ||
      p.lsst_diaSource_diaObjectId === null
    ? "properties.lsst_diaObject_diaObjectId"
    : "properties.lsst_diaSource_diaObjectId";
  const midpoint = p.lsst_diaSource_midpointMjdTai ?? resource.mjd;

  return {
    diaSourceId,
    alertId: diaSourceId,
    diaObjectId: associationId(asOptionalId(objectId, objectField)),
    ssObjectId: associationId(
      asOptionalId(p.lsst_diaSource_ssObjectId, "properties.lsst_diaSource_ssObjectId"),
    ),
    ssObjectName: null,
    objectName: null,
    // Not in any Rubin schema; kept for parity with lsst_packet.ts should a broker add it.
    ssObjectReassocTimeMjdTai: _float(p, "lsst_diaSource_ssObjectReassocTimeMjdTai"),
    ra: asFinite(_measure(p.lsst_diaSource_ra), "properties.lsst_diaSource_ra"),
    dec: asFinite(_measure(p.lsst_diaSource_dec), "properties.lsst_diaSource_dec"),
    raErr: _float(p, "lsst_diaSource_raErr"),
    decErr: _float(p, "lsst_diaSource_decErr"),
    midpointMjdTai: asFinite(
      _measure(midpoint),
      p.lsst_diaSource_midpointMjdTai === undefined || p.lsst_diaSource_midpointMjdTai === null
        ? "mjd"
        : "properties.lsst_diaSource_midpointMjdTai",
    ),
    band: asString(p.lsst_diaSource_band, "properties.lsst_diaSource_band"),
    psfFlux: _float(p, "lsst_diaSource_psfFlux"),
    psfFluxErr: _float(p, "lsst_diaSource_psfFluxErr"),
    snr: _float(p, "lsst_diaSource_snr"),
    extendedness: _float(p, "lsst_diaSource_extendedness"),
    reliability: _float(p, "lsst_diaSource_reliability"),
    visit: asOptionalId(p.lsst_diaSource_visit, "properties.lsst_diaSource_visit"),
    detector: asInt(_number(p.lsst_diaSource_detector), "properties.lsst_diaSource_detector"),
    observationReason: asString(p.lsst_observation_reason, "properties.lsst_observation_reason"),
    targetName: asString(p.lsst_target_name, "properties.lsst_target_name"),
    schemaVersion: "antares",
    source: options.source ?? "antares",
    survey: "lsst",
    history: [],
    properties: stringifyExact(p),
    snapshot: true,
    cutoutScience: null,
    cutoutTemplate: null,
    cutoutDifference: null,
    isReassociation: false,
    reassociationReason: null,
    reassociations: [],
  };
}

// The id is the one place ANTARES states the DIASource for sure (properties may be trimmed),
// so it is parsed strictly: digits only, a positive signed 64-bit integer.
function _lsstId(id: string): bigint {
  const digits = /^lsst:(\d{1,19})$/.exec(id)?.[1];
  const value = digits === undefined ? null : BigInt(digits);
  if (value === null || value === 0n || value > INT64_MAX) {
    throw new TypeError(`ANTARES alert id is not "lsst:<diaSourceId>": ${showValue(id)}`);
  }
  return value;
}

function _float(properties: Record<string, unknown>, key: string): number | null {
  return asFloat(_measure(properties[key]), `properties.${key}`);
}

// BSON int64 and JSON integers beyond 2^53 arrive as bigint even in float columns (a Python
// int that happened to be whole); as a measurement such a value is fine as a number.
function _measure(value: unknown): unknown {
  return typeof value === "bigint" ? Number(value) : value;
}

// Small integer columns (detector, ant_survey) may arrive as int64 bigints too. Unsafe ones
// stay bigint so the integer checks reject them instead of rounding.
function _number(value: unknown): unknown {
  if (typeof value !== "bigint") return value;
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : value;
}

function _timestamp(value: unknown, path: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  // BSON datetimes decode as Date; an invalid one would make toISOString throw a RangeError.
  if (value instanceof Date && Number.isFinite(value.getTime())) return value.toISOString();
  throw _resourceError(`${path}.attributes.processed_at`, "a timestamp", value);
}

function _isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}

function _resourceError(field: string, expected: string, value: unknown): TypeError {
  if (value === undefined) return new TypeError(`ANTARES resource field "${field}" is missing`);
  return new TypeError(`ANTARES resource field "${field}" is not ${expected}: ${showValue(value)}`);
}
