/**
 * Named science selections: the questions scientists ask of the alerts most often, each one SQL
 * statement documented here and run unchanged on SQLite and PostgreSQL (`query --select NAME`,
 * `query --list`, {@linkcode selectAlerts}).
 *
 * Extendedness, in every Rubin alert schema (7.0 … 11.1), is a score from 0 ("a high degree of
 * confidence that the source is point-like") to 1 ("… that the source is extended"); the schema
 * names no cut between them. These selections split it in three: below
 * {@linkcode POINT_BELOW} point-like, above {@linkcode EXTENDED_ABOVE} extended, and the band
 * between them, limits included, ambiguous, which is where `minimoon-candidates` looks. Alerts
 * without an extendedness (NULL: real packets often carry NaN, stored as NULL) are in none of
 * them. Packets carry 32-bit floats, so a packet's `0.3` is stored as 0.30000001192092896 and a
 * packet's `0.7` as 0.699999988079071: both are in the ambiguous band.
 *
 * @module
 */

import { openReadConnection, type SqlParam } from "./_read_connection.ts";
import type { Row } from "./_rows.ts";
import { type ParquetColumnKind, parquetColumnKinds } from "./parquet_export.ts";

/**
 * Extendedness below which an alert is point-like (`point`), limit excluded. With
 * {@linkcode EXTENDED_ABOVE} it leaves the middle 40 % of the scale to the ambiguous sources
 * that `minimoon-candidates` looks at, so each of `point` and `extended` holds only confident
 * classifications. A project choice: the alert schema defines only the ends, 0 and 1.
 */
export const POINT_BELOW = 0.3;

/**
 * Extendedness above which an alert is extended (`extended`), limit excluded; see
 * {@linkcode POINT_BELOW}.
 */
export const EXTENDED_ABOVE = 0.7;

/**
 * Lowest extendedness of a minimoon candidate, included. A temporarily captured object is close
 * to Earth and moves fast, so it trails during an exposure, and a moment-based extendedness
 * (source size against the PSF's) puts it between point-like and extended.
 */
export const MINIMOON_MIN_EXTENDEDNESS: number = POINT_BELOW;

/**
 * Highest extendedness of a minimoon candidate, included; see
 * {@linkcode MINIMOON_MIN_EXTENDEDNESS}.
 */
export const MINIMOON_MAX_EXTENDEDNESS: number = EXTENDED_ABOVE;

/**
 * Lowest SNR of a minimoon candidate, included: Rubin detects difference-image sources at 5σ,
 * so a weaker one is too faint for its shape to mean much. An alert without an SNR is kept.
 */
export const MINIMOON_MIN_SNR = 5;

/** What a selection needs besides the database: a 64-bit id, a number of days, or nothing. */
export type ScienceSelectionParameter = "id" | "days" | null;

/** A named selection and its SQL definition. */
export interface ScienceSelection {
  /** Its name, as `query --select` takes it. */
  readonly name: string;
  /** `id`: a DIAObject or SSObject id; `days`: a number of days; `null`: nothing. */
  readonly parameter: ScienceSelectionParameter;
  /** What it selects, and what its limits are. */
  readonly description: string;
  /**
   * The definition: one statement in SQL that SQLite and PostgreSQL both run, each `?` bound to
   * the parameter, rows in a fixed order (newest first, then the larger DIASource id).
   */
  readonly sql: string;
  /**
   * The time column `sinceMjd` compares and rows are ordered by: `midpoint_mjd_tai`, or
   * `last_associated_mjd` for `ss-object`.
   */
  readonly timeColumn: string;
  /** Its columns in order, and how each is typed in a Parquet file. */
  readonly columns: ReadonlyArray<readonly [string, ParquetColumnKind]>;
}

/** Options of {@linkcode selectAlerts}. */
export interface SelectAlertsOptions {
  /** The DIAObject (`object`) or SSObject (`ss-object`): required by those, refused by others. */
  id?: bigint;
  /**
   * How many days before the latest stored midpoint, fractions allowed: required by `recent`,
   * refused by the others.
   */
  days?: number;
  /**
   * Only rows whose time column (see {@linkcode ScienceSelection.timeColumn}) is at or after this
   * MJD (TAI). Default: no lower bound.
   */
  sinceMjd?: number;
  /** At most this many rows. Default: all. */
  limit?: number;
  /** Rows read per statement: memory stays bounded whatever the selection's size. Default 1000. */
  pageSize?: number;
}

// Ids go out as bigint and the flag as a boolean whichever driver read them.
const ID_COLUMNS = new Set([
  "dia_source_id",
  "dia_object_id",
  "ss_object_id",
  "alert_ss_object_id",
  "current_ss_object_id",
]);

const ALERT_COLUMNS = `dia_source_id, dia_object_id, ss_object_id, ss_object_name, ra, dec,
  midpoint_mjd_tai, band, psf_flux, psf_flux_err, snr, extendedness, reliability,
  is_reassociation, reassociation_reason, cutout_science, cutout_template, cutout_difference`;

const INT64_MAX = 2n ** 63n - 1n;

// The columns each kind of selection gives, typed as the table columns they come from are.
const KIND_OF = new Map<string, ParquetColumnKind>([
  ...parquetColumnKinds("processed_sources"),
  ...parquetColumnKinds("alerts"),
]);

function _kinds(
  names: readonly string[],
  renamed: Record<string, string> = {},
): ReadonlyArray<readonly [string, ParquetColumnKind]> {
  return names.map((name) => {
    const kind = KIND_OF.get(renamed[name] ?? name);
    if (kind === undefined) throw new TypeError(`Column "${name}" has no Parquet kind`);
    return [name, kind] as const;
  });
}

const ALERT_KINDS = _kinds(ALERT_COLUMNS.split(",").map((c) => c.trim()));

const SS_OBJECT_KINDS = _kinds([
  "dia_source_id",
  "dia_object_id",
  "first_associated_mjd",
  "last_associated_mjd",
  "unassociated_mjd",
  "current_ss_object_id",
  "alert_ss_object_id",
  "ra",
  "dec",
  "midpoint_mjd_tai",
  "band",
  "psf_flux",
  "psf_flux_err",
  "snr",
  "extendedness",
  "reliability",
], {
  first_associated_mjd: "first_seen_mjd",
  last_associated_mjd: "last_seen_mjd",
  unassociated_mjd: "last_seen_mjd",
  current_ss_object_id: "ss_object_id",
  alert_ss_object_id: "ss_object_id",
});

interface _Definition {
  name: string;
  parameter: ScienceSelectionParameter;
  description: string;
  /** The statement without its ORDER BY, which paging wraps. */
  body: string;
  timeColumn: string;
  /** Whether the time column can be NULL. */
  nullableTime: boolean;
}

function _alerts(
  name: string,
  parameter: ScienceSelectionParameter,
  description: string,
  where: string,
): _Definition {
  return {
    name,
    parameter,
    description,
    body: `SELECT ${ALERT_COLUMNS}\nFROM alerts\nWHERE ${where}`,
    timeColumn: "midpoint_mjd_tai",
    nullableTime: false,
  };
}

// An SSObject's DIASources come from every record of an association: their own alerts, the
// detections that linked them to it or moved them off it, and their tracked state. Each
// observation known to show the association gives a time; the first and last of them bound it.
const SS_OBJECT_BODY = `WITH shown AS (
  -- its own alert named the SSObject
  SELECT dia_source_id, midpoint_mjd_tai AS mjd FROM alerts WHERE ss_object_id = ?
  UNION ALL
  -- a detection linked it to the SSObject
  SELECT dia_source_id, observed_mjd FROM reassociations WHERE new_ss_object_id = ?
  UNION ALL
  -- still associated: its latest observation shows it
  SELECT dia_source_id, last_seen_mjd FROM processed_sources WHERE ss_object_id = ?
  UNION ALL
  -- associated from its first observation: its earliest detection started from the SSObject,
  -- or it has none and is still associated
  SELECT p.dia_source_id, p.first_seen_mjd FROM processed_sources p
  WHERE (p.ss_object_id = ?
      OR p.dia_source_id IN (SELECT dia_source_id FROM reassociations WHERE old_ss_object_id = ?))
    AND ? = CASE
      WHEN EXISTS (SELECT 1 FROM reassociations r WHERE r.dia_source_id = p.dia_source_id)
      THEN (SELECT r.old_ss_object_id FROM reassociations r WHERE r.dia_source_id = p.dia_source_id
            ORDER BY r.observed_mjd NULLS LAST, r.id LIMIT 1)
      ELSE p.ss_object_id END
), spans AS (
  SELECT dia_source_id, MIN(mjd) AS first_associated_mjd, MAX(mjd) AS last_associated_mjd
  FROM shown GROUP BY dia_source_id
)
SELECT s.dia_source_id AS dia_source_id,
  COALESCE(a.dia_object_id, p.dia_object_id) AS dia_object_id,
  s.first_associated_mjd, s.last_associated_mjd,
  (SELECT MAX(r.observed_mjd) FROM reassociations r
   WHERE r.dia_source_id = s.dia_source_id AND r.old_ss_object_id = ?
     AND r.reason IN ('changed_association', 'association_removed')) AS unassociated_mjd,
  p.ss_object_id AS current_ss_object_id, a.ss_object_id AS alert_ss_object_id,
  a.ra, a.dec, a.midpoint_mjd_tai, a.band, a.psf_flux, a.psf_flux_err, a.snr, a.extendedness,
  a.reliability
FROM spans s
LEFT JOIN alerts a ON a.dia_source_id = s.dia_source_id
LEFT JOIN processed_sources p ON p.dia_source_id = s.dia_source_id`;

const DEFINITIONS: readonly _Definition[] = [
  _alerts(
    "solar-system",
    null,
    "Alerts whose DIASource has an SSObject (ss_object_id set): solar-system detections, as " +
      "their own alert said",
    "ss_object_id IS NOT NULL",
  ),
  _alerts(
    "reassociated",
    null,
    "Alerts in which a reassociation was detected (is_reassociation = 1): a DIASource they " +
      "carry (their own, or one in their history) gained, changed or lost its SSObject, or its " +
      "reassociation time changed; reassociation_reason says which",
    "is_reassociation = 1",
  ),
  _alerts(
    "extended",
    null,
    `Alerts with extendedness above ${EXTENDED_ABOVE} (not included): confidently extended; ` +
      "alerts without extendedness are left out",
    `extendedness > ${EXTENDED_ABOVE}`,
  ),
  _alerts(
    "point",
    null,
    `Alerts with extendedness below ${POINT_BELOW} (not included): confidently point-like; ` +
      "alerts without extendedness are left out",
    `extendedness < ${POINT_BELOW}`,
  ),
  _alerts(
    "minimoon-candidates",
    null,
    `Solar-system alerts of ambiguous shape: extendedness from ${MINIMOON_MIN_EXTENDEDNESS} to ` +
      `${MINIMOON_MAX_EXTENDEDNESS} (both included) and SNR of at least ${MINIMOON_MIN_SNR} ` +
      "where known (alerts without SNR are kept, those without extendedness are not)",
    `ss_object_id IS NOT NULL\n  AND extendedness BETWEEN ${MINIMOON_MIN_EXTENDEDNESS} AND ` +
      `${MINIMOON_MAX_EXTENDEDNESS}\n  AND (snr IS NULL OR snr >= ${MINIMOON_MIN_SNR})`,
  ),
  _alerts(
    "recent",
    "days",
    "Alerts whose midpoint is at most N days before the latest stored midpoint: the last N " +
      "days of the data (not of the clock), so it gives the same rows for an archive, a mock " +
      "or a stream that stopped",
    "midpoint_mjd_tai >= (SELECT MAX(midpoint_mjd_tai) FROM alerts) - ?",
  ),
  _alerts("object", "id", "Every stored alert of one DIAObject", "dia_object_id = ?"),
  {
    name: "ss-object",
    parameter: "id",
    description: "Every DIASource ever associated with one SSObject, with when: " +
      "first_associated_mjd and last_associated_mjd are the first and last observations known " +
      "to show the association (its own alert, a detection linking it, its first observation " +
      "when associated from the start, its latest while still associated); unassociated_mjd is " +
      "when a detection last moved it off the SSObject; current_ss_object_id is its " +
      "association now, alert_ss_object_id what its own alert said; its own alert's columns " +
      "are NULL when that alert is not stored (seen only in other alerts' histories)",
    body: SS_OBJECT_BODY,
    timeColumn: "last_associated_mjd",
    nullableTime: true,
  },
];

function _order(definition: _Definition): string {
  return `${definition.timeColumn} DESC${
    definition.nullableTime ? " NULLS LAST" : ""
  }, dia_source_id DESC`;
}

/** Every named selection, in the order `query --list` prints them. */
export const SCIENCE_SELECTIONS: readonly ScienceSelection[] = DEFINITIONS.map((d) =>
  Object.freeze({
    name: d.name,
    parameter: d.parameter,
    description: d.description,
    sql: `${d.body}\nORDER BY ${_order(d)}`,
    timeColumn: d.timeColumn,
    columns: d.timeColumn === "midpoint_mjd_tai" ? ALERT_KINDS : SS_OBJECT_KINDS,
  })
);

/**
 * A selection by name.
 *
 * @param name Its name, such as `"solar-system"`.
 * @returns The selection.
 * @throws {RangeError} When no selection has that name.
 * @example
 * ```ts
 * import { findScienceSelection } from "./selections.ts";
 * findScienceSelection("ss-object").parameter; // "id"
 * ```
 */
export function findScienceSelection(name: string): ScienceSelection {
  const found = SCIENCE_SELECTIONS.find((s) => s.name === name);
  if (found === undefined) {
    throw new RangeError(
      `Unknown selection "${name}": expected one of ${
        SCIENCE_SELECTIONS.map((s) => s.name).join(", ")
      }`,
    );
  }
  return found;
}

/**
 * The rows of a named selection, read-only, a page at a time in the selection's order (newest
 * first): ids as exact `bigint`, `is_reassociation` as a boolean, the same values from SQLite and
 * PostgreSQL. Each page runs the selection's SQL as a subquery, narrowed by `sinceMjd` and by
 * the last row read, so large selections need neither all rows in memory nor offsets.
 *
 * The options are checked when it is called; the database is opened when the first row is
 * asked for, and closed when the rows end or the caller stops early.
 *
 * @param location A SQLite path or a `postgres://` URL.
 * @param name The selection (see {@linkcode SCIENCE_SELECTIONS}).
 * @param options Its id or days, and the since, limit and page size.
 * @returns The rows.
 * @throws {RangeError} For an unknown selection, a missing, unneeded or bad id or days, or a bad
 * since, limit or page size.
 * @example
 * ```ts ignore
 * import { selectAlerts } from "./selections.ts";
 * for await (const row of selectAlerts("data/alerts.db", "minimoon-candidates", { limit: 10 })) {
 *   row.dia_source_id; // bigint
 * }
 * ```
 */
export function selectAlerts(
  location: string,
  name: string,
  options: SelectAlertsOptions = {},
): AsyncGenerator<Record<string, unknown>, void, undefined> {
  return _read(location, _plan(name, options));
}

interface _Plan {
  definition: _Definition;
  parameter: SqlParam | null;
  sinceMjd: number | null;
  limit: number;
  pageSize: number;
}

function _plan(name: string, options: SelectAlertsOptions): _Plan {
  const selection = findScienceSelection(name);
  const definition = DEFINITIONS.find((d) => d.name === selection.name) as _Definition;
  const { id, days } = options;
  if (id !== undefined && definition.parameter !== "id") {
    throw new RangeError(`Selection "${name}" takes no id: "${id}"`);
  }
  if (days !== undefined && definition.parameter !== "days") {
    throw new RangeError(`Selection "${name}" takes no days: "${days}"`);
  }
  let parameter: SqlParam | null = null;
  if (definition.parameter === "id") {
    if (id === undefined) throw new RangeError(`Selection "${name}" needs an id`);
    if (typeof id !== "bigint" || id < 1n || id > INT64_MAX) {
      throw new RangeError(
        `Selection "${name}" needs an id from 1 to ${INT64_MAX}, not "${String(id)}"`,
      );
    }
    parameter = id;
  } else if (definition.parameter === "days") {
    if (days === undefined) throw new RangeError(`Selection "${name}" needs a number of days`);
    if (typeof days !== "number" || !Number.isFinite(days) || days <= 0) {
      throw new RangeError(
        `Selection "${name}" needs a number of days above 0, not "${String(days)}"`,
      );
    }
    parameter = days;
  }
  const sinceMjd = options.sinceMjd ?? null;
  if (sinceMjd !== null && (typeof sinceMjd !== "number" || !Number.isFinite(sinceMjd))) {
    throw new RangeError(`The since MJD must be a number, not "${String(sinceMjd)}"`);
  }
  return {
    definition,
    parameter,
    sinceMjd,
    limit: _positive(options.limit, Infinity, "limit"),
    pageSize: _positive(options.pageSize, 1000, "page size"),
  };
}

function _positive(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`The ${what} must be a whole number of at least 1, not "${value}"`);
  }
  return value;
}

async function* _read(
  location: string,
  plan: _Plan,
): AsyncGenerator<Record<string, unknown>, void, undefined> {
  const db = openReadConnection(location);
  try {
    let remaining = plan.limit;
    let last: Row | null = null;
    while (remaining > 0) {
      const size = Math.min(plan.pageSize, remaining);
      const page = _pageQuery(plan, last, size);
      const rows = await db.all(page.sql, page.params);
      for (const row of rows) yield _normalized(row);
      remaining -= rows.length;
      last = rows.at(-1) ?? null;
      if (rows.length < size) return;
    }
  } finally {
    await db.close();
  }
}

// The selection as a subquery, so one wrapping serves every definition, the WITH of ss-object
// included. Paging by the last row read (keyset) rather than OFFSET keeps each page as cheap as
// the first: the time column's index serves both.
function _pageQuery(
  plan: _Plan,
  last: Row | null,
  size: number,
): { sql: string; params: SqlParam[] } {
  const { definition } = plan;
  const time = `selected.${definition.timeColumn}`;
  const placeholders = definition.body.split("?").length - 1;
  const params: SqlParam[] = Array(placeholders).fill(plan.parameter);
  const conditions: string[] = [];
  if (plan.sinceMjd !== null) {
    conditions.push(`${time} >= ?`);
    params.push(plan.sinceMjd);
  }
  if (last !== null) {
    const lastTime = last[definition.timeColumn];
    const lastId = last.dia_source_id as bigint;
    if (lastTime === null || lastTime === undefined) {
      conditions.push(`${time} IS NULL AND selected.dia_source_id < ?`);
      params.push(lastId);
    } else if (definition.nullableTime) {
      conditions.push(
        `(${time} < ? OR (${time} = ? AND selected.dia_source_id < ?) OR ${time} IS NULL)`,
      );
      params.push(Number(lastTime), Number(lastTime), lastId);
    } else {
      conditions.push(`${time} <= ? AND (${time} < ? OR selected.dia_source_id < ?)`);
      params.push(Number(lastTime), Number(lastTime), lastId);
    }
  }
  params.push(size);
  const where = conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}\n`;
  return {
    sql: `SELECT * FROM (\n${definition.body}\n) selected\n${where}ORDER BY ${
      _order(definition)
    }\nLIMIT ?`,
    params,
  };
}

function _normalized(row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (value === null || value === undefined) out[key] = null;
    else if (key === "is_reassociation") out[key] = value === true || value === 1 || value === 1n;
    else if (ID_COLUMNS.has(key)) out[key] = BigInt(value as bigint | number | string);
    // SQLite gives integers as bigint; only ids need that, and PostgreSQL gives numbers.
    else if (typeof value === "bigint") out[key] = Number(value);
    else out[key] = value;
  }
  return out;
}
