/**
 * The viewer's query parameters, checked: numbers are finite, ids are 64-bit integers, flags
 * are yes or no, and an unknown parameter is refused, so a typo in a shared link says so
 * instead of silently showing everything. No value ever becomes SQL text: the catalog binds
 * them as parameters.
 *
 * @module
 */

import type { ReassociationReason } from "../model/alert_record.ts";
import {
  ALERT_SORTS,
  type AlertFilter,
  type AlertListOptions,
  type AlertSort,
  type ReassociationListOptions,
} from "../storage/alert_catalog.ts";
import { HttpError } from "./_http.ts";

const MAX_ID = (1n << 63n) - 1n;

const REASONS: readonly ReassociationReason[] = [
  "new_association",
  "changed_association",
  "updated_timestamp",
  "association_removed",
];

/**
 * A path segment as a 64-bit id.
 *
 * @param text The segment.
 * @returns The id, or `null` when it is not one (the caller answers 404).
 */
export function parseId(text: string): bigint | null {
  if (!/^-?\d{1,19}$/.test(text)) return null;
  const id = BigInt(text);
  return id > MAX_ID || id < -MAX_ID - 1n ? null : id;
}

/**
 * The alert list's filter, sort and page.
 *
 * @param params The query.
 * @returns The filter and the list options.
 * @throws {HttpError} 400 naming the first bad parameter.
 */
export function alertQuery(
  params: URLSearchParams,
): { filter: AlertFilter; options: AlertListOptions } {
  const reader = new _Reader(params);
  const filter: AlertFilter = {};
  const options: AlertListOptions = {};
  _set(filter, "fromMjd", reader.number("from_mjd"));
  _set(filter, "toMjd", reader.number("to_mjd"));
  const band = reader.text("band");
  if (band !== undefined) {
    if (!/^[a-zA-Z]{1,8}$/.test(band)) throw new HttpError(400, `Bad band "${band}"`);
    filter.band = band;
  }
  _set(filter, "solarSystem", reader.flag("solar_system"));
  _set(filter, "reassociated", reader.flag("reassociated"));
  _set(filter, "minExtendedness", reader.number("min_extendedness"));
  _set(filter, "maxExtendedness", reader.number("max_extendedness"));
  _set(filter, "minReliability", reader.number("min_reliability"));
  _set(filter, "minSnr", reader.number("min_snr"));
  _set(filter, "diaObjectId", reader.id("dia_object_id"));
  _set(filter, "ssObjectId", reader.id("ss_object_id"));
  _set(filter, "runId", reader.integer("run_id", 1));
  const sort = reader.text("sort");
  if (sort !== undefined) {
    if (!ALERT_SORTS.includes(sort as AlertSort)) {
      throw new HttpError(400, `Unknown sort "${sort}": expected one of ${ALERT_SORTS.join(", ")}`);
    }
    options.sort = sort as AlertSort;
  }
  const order = reader.text("order");
  if (order !== undefined) {
    if (order !== "asc" && order !== "desc") {
      throw new HttpError(400, `Unknown order "${order}": expected asc or desc`);
    }
    options.descending = order === "desc";
  }
  _page(reader, options);
  reader.finish();
  return { filter, options };
}

/**
 * The detection list's filter and page.
 *
 * @param params The query.
 * @returns The options.
 * @throws {HttpError} 400 naming the first bad parameter.
 */
export function reassociationQuery(params: URLSearchParams): ReassociationListOptions {
  const reader = new _Reader(params);
  const options: ReassociationListOptions = {};
  const reason = reader.text("reason");
  if (reason !== undefined) {
    if (!REASONS.includes(reason as ReassociationReason)) {
      throw new HttpError(400, `Unknown reason "${reason}": expected one of ${REASONS.join(", ")}`);
    }
    options.reason = reason as ReassociationReason;
  }
  _set(options, "runId", reader.integer("run_id", 1));
  _page(reader, options);
  reader.finish();
  return options;
}

/**
 * A query with no parameter allowed but the given ones.
 *
 * @param params The query.
 * @param allowed The names it may have.
 * @returns The reader of those.
 * @throws {HttpError} 400 for another parameter (on `finish()`).
 */
export function queryReader(params: URLSearchParams): {
  text(name: string): string | undefined;
  finish(): void;
} {
  return new _Reader(params);
}

function _page(reader: _Reader, options: { limit?: number; offset?: number }): void {
  const limit = reader.integer("limit", 1);
  if (limit !== undefined) {
    if (limit > 1000) throw new HttpError(400, `Bad limit "${limit}": at most 1000`);
    options.limit = limit;
  }
  _set(options, "offset", reader.integer("offset", 0));
}

function _set<T, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

class _Reader {
  #params: URLSearchParams;
  #used = new Set<string>();

  constructor(params: URLSearchParams) {
    this.#params = params;
  }

  // An empty value is an unset filter: an HTML form sends its empty fields.
  text(name: string): string | undefined {
    this.#used.add(name);
    const values = this.#params.getAll(name);
    if (values.length > 1) throw new HttpError(400, `Parameter "${name}" is given twice`);
    const value = values[0]?.trim();
    return value === undefined || value === "" ? undefined : value;
  }

  number(name: string): number | undefined {
    const text = this.text(name);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!Number.isFinite(value)) {
      throw new HttpError(400, `Bad ${name} "${text}": expected a number`);
    }
    return value;
  }

  integer(name: string, min: number): number | undefined {
    const text = this.text(name);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
      throw new HttpError(400, `Bad ${name} "${text}": expected a whole number of at least ${min}`);
    }
    return value;
  }

  id(name: string): bigint | undefined {
    const text = this.text(name);
    if (text === undefined) return undefined;
    const id = parseId(text);
    if (id === null) throw new HttpError(400, `Bad ${name} "${text}": expected a 64-bit id`);
    return id;
  }

  flag(name: string): boolean | undefined {
    const text = this.text(name)?.toLowerCase();
    if (text === undefined || text === "any") return undefined;
    if (["yes", "true", "1"].includes(text)) return true;
    if (["no", "false", "0"].includes(text)) return false;
    throw new HttpError(400, `Bad ${name} "${text}": expected yes or no`);
  }

  finish(): void {
    for (const name of this.#params.keys()) {
      if (!this.#used.has(name)) throw new HttpError(400, `Unknown parameter "${name}"`);
    }
  }
}
