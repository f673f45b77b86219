/**
 * Reading what ingest found, without SQL: alerts with filters, one alert with its cutouts'
 * locations, a DIAObject's light curve, a DIASource's association timeline, reassociation
 * detections, an SSObject's DIASources and a summary of the database. The same questions on
 * SQLite and PostgreSQL, through a read-only connection (SQLite reads while an ingest writes).
 * The `serve` viewer and notebooks use it.
 *
 * @module
 */

import { parseExact } from "../model/exact_json.ts";
import { compareIds } from "../model/id_map.ts";
import type { ReassociationReason } from "../model/alert_record.ts";
import type { CutoutPaths } from "../model/cutout_paths.ts";
import type { RawPayload } from "../model/raw_payload.ts";
import { gatherObservations } from "../tracking/_replay_plan.ts";
import { historyIds } from "../tracking/_history_blob.ts";
import { SNAPSHOT_ALERT_ID } from "../tracking/reassociation_tracker.ts";
import { openReadConnection, type ReadConnection, type SqlParam } from "./_read_connection.ts";
import { detectionFromRow, type Row, runRecordFromRow, schemaFromRow } from "./_rows.ts";
import type { IngestionRunRecord, ReassociationRecord } from "./storage.ts";

/** Which alerts to read; every field narrows, none given reads all. */
export interface AlertFilter {
  /** Midpoint (MJD TAI) at or after. */
  fromMjd?: number;
  /** Midpoint (MJD TAI) at or before. */
  toMjd?: number;
  /** Band (`u g r i z y`). */
  band?: string;
  /** `true`: alerts with an SSObject; `false`: without. */
  solarSystem?: boolean;
  /** `true`: alerts flagged as showing a reassociation; `false`: the others. */
  reassociated?: boolean;
  /** Extendedness at least (alerts without one are left out). */
  minExtendedness?: number;
  /** Extendedness at most (alerts without one are left out). */
  maxExtendedness?: number;
  /** Reliability at least (alerts without one are left out). */
  minReliability?: number;
  /** SNR at least (alerts without one are left out). */
  minSnr?: number;
  /** Only this DIAObject's alerts. */
  diaObjectId?: bigint;
  /** Only alerts associated with this SSObject. */
  ssObjectId?: bigint;
  /** Only alerts stored by this run. */
  runId?: number;
}

/** What alert lists can be sorted by. */
export type AlertSort = "time" | "snr" | "extendedness" | "reliability" | "flux" | "id";

/** The alert sort keys, for validating user input. */
export const ALERT_SORTS: readonly AlertSort[] = [
  "time",
  "snr",
  "extendedness",
  "reliability",
  "flux",
  "id",
];

/** A page of a list. */
export interface PageOptions {
  /** Rows at most, 1–1000. Default 50. */
  limit?: number;
  /** Rows to skip. Default 0. */
  offset?: number;
}

/** Options of {@linkcode AlertCatalog.alerts}. */
export interface AlertListOptions extends PageOptions {
  /** Sort key. Default `"time"`. */
  sort?: AlertSort;
  /** Largest first. Default `true`. Rows without the key come last either way. */
  descending?: boolean;
}

/** Rows of a list and how many there are in all. */
export interface CatalogPage<T> {
  /** The page. */
  rows: T[];
  /** Rows matching, counted up to {@linkcode COUNT_LIMIT}. */
  total: number;
  /** `false` when there are more than {@linkcode COUNT_LIMIT} (then `total` is that limit). */
  totalIsExact: boolean;
}

/** Lists count their rows up to this many: counting millions would cost more than the page. */
export const COUNT_LIMIT = 10_000;

/** One alert in a list. */
export interface AlertSummary {
  /** The triggering DIASource. */
  diaSourceId: bigint;
  /** Its DIAObject (`null`: none, as for solar-system alerts). */
  diaObjectId: bigint | null;
  /** Its SSObject (`null`: none). */
  ssObjectId: bigint | null;
  /** The SSObject's designation. */
  ssObjectName: string | null;
  /** Right ascension (degrees). */
  ra: number;
  /** Declination (degrees). */
  dec: number;
  /** Midpoint (MJD TAI). */
  midpointMjdTai: number;
  /** Band. */
  band: string | null;
  /** PSF flux (nJy). */
  psfFlux: number | null;
  /** PSF flux error (nJy). */
  psfFluxErr: number | null;
  /** Signal to noise. */
  snr: number | null;
  /** Extendedness (0 point-like … 1 extended). */
  extendedness: number | null;
  /** Real/bogus reliability. */
  reliability: number | null;
  /** The alert shows a reassociation. */
  isReassociation: boolean;
  /** Why, when it does. */
  reassociationReason: ReassociationReason | null;
  /** Cutout files were written for it. */
  hasCutoutFiles: boolean;
  /** Its whole packet was kept (`--keep-raw`), cutouts included. */
  hasRawPayload: boolean;
  /** A row kept from a snapshot (CSV, ANTARES) until its packet arrives. */
  snapshot: boolean;
  /** The run that stored it. */
  runId: number | null;
}

/** One alert with every stored field. */
export interface AlertDetail extends AlertSummary {
  /** The packet's id. */
  alertId: bigint;
  /** ZTF object name. */
  objectName: string | null;
  /** RA error (degrees). */
  raErr: number | null;
  /** Dec error (degrees). */
  decErr: number | null;
  /** Visit. */
  visit: bigint | null;
  /** Detector. */
  detector: number | null;
  /** Observation reason. */
  observationReason: string | null;
  /** Target name. */
  targetName: string | null;
  /** Alert schema version. */
  schemaVersion: string;
  /** Source it came from. */
  source: string;
  /** Survey (`lsst`, `ztf`). */
  survey: string;
  /** Reassociation time of its SSObject association (MJD TAI). */
  ssObjectReassocTimeMjdTai: number | null;
  /** Written cutout files. */
  cutouts: CutoutPaths;
  /** Every source property the packet carried, ids exact. */
  properties: Record<string, unknown> | null;
  /** When it was stored (ISO-8601 UTC). */
  ingestedAt: string;
  /** Detections this alert shows. */
  detections: ReassociationRecord[];
}

/** One point of a light curve: a stored alert of the DIAObject. */
export interface LightCurvePoint {
  /** The alert's DIASource. */
  diaSourceId: bigint;
  /** Midpoint (MJD TAI). */
  midpointMjdTai: number;
  /** Band. */
  band: string | null;
  /** PSF flux (nJy). */
  psfFlux: number | null;
  /** PSF flux error (nJy). */
  psfFluxErr: number | null;
  /** Signal to noise. */
  snr: number | null;
  /** SSObject of the alert. */
  ssObjectId: bigint | null;
  /** Kept from a snapshot. */
  snapshot: boolean;
}

/** A DIAObject's light curve. */
export interface LightCurve {
  /** The DIAObject. */
  diaObjectId: bigint;
  /** Its stored alerts in time order. */
  points: LightCurvePoint[];
  /**
   * DIASources its alerts' histories carry that have no stored alert (earlier detections whose
   * packet was not ingested): their fluxes are not stored, only that they were seen.
   */
  historyOnly: bigint[];
}

/** One observation of a DIASource's association. */
export interface TimelineObservation {
  /** Time (MJD TAI): of the alert that carried it, or of the snapshot. */
  time: number;
  /** `alert`: its own alert; `history`: another alert's history; `snapshot`: CSV/ANTARES. */
  kind: "alert" | "history" | "snapshot";
  /** The alert that carried it (`null` for a snapshot). */
  alertDiaSourceId: bigint | null;
  /** SSObject it was associated with (`null`: none). */
  ssObjectId: bigint | null;
  /** Reassociation time it carried. */
  reassocTime: number | null;
}

/** A DIASource's association over time. */
export interface SourceTimeline {
  /** The DIASource. */
  diaSourceId: bigint;
  /** Its DIAObject. */
  diaObjectId: bigint | null;
  /** Its tracked state, `null` when never observed. */
  state: SourceStateSummary | null;
  /** Every stored observation, in the order tracking folds them. */
  observations: TimelineObservation[];
  /** Its detections, in time order. */
  detections: ReassociationRecord[];
}

/** The tracked state of a DIASource (`processed_sources`). */
export interface SourceStateSummary {
  /** Current SSObject. */
  ssObjectId: bigint | null;
  /** Current reassociation time. */
  reassocTime: number | null;
  /** First observation (MJD TAI). */
  firstSeenMjd: number;
  /** Latest observation (MJD TAI). */
  lastSeenMjd: number;
  /** Observations. */
  timesSeen: number;
  /** Segments of constant association. */
  runs: number;
}

/** Options of {@linkcode AlertCatalog.reassociations}. */
export interface ReassociationListOptions extends PageOptions {
  /** Only this rule. */
  reason?: ReassociationReason;
  /** Only this run. */
  runId?: number;
}

/** A detection with the alert that shows it. */
export interface ReassociationListRow extends ReassociationRecord {
  /** The alert it was found in has cutouts (files, or a kept packet). */
  alertHasCutouts: boolean;
}

/** A DIASource ever associated with an SSObject. */
export interface SsObjectSource {
  /** The DIASource. */
  diaSourceId: bigint;
  /** Its DIAObject. */
  diaObjectId: bigint | null;
  /** Its own alert's midpoint, when stored. */
  midpointMjdTai: number | null;
  /** Its own alert's position. */
  ra: number | null;
  /** Its own alert's position. */
  dec: number | null;
  /** Its own alert's band. */
  band: string | null;
  /** SSObject its own alert named. */
  alertSsObjectId: bigint | null;
  /** SSObject it is associated with now (tracked state). */
  currentSsObjectId: bigint | null;
  /** First time it was seen with this SSObject (MJD TAI): its alert or a detection. */
  firstAssociatedMjd: number | null;
}

/** An SSObject and its DIASources. */
export interface SsObjectSummary {
  /** The SSObject. */
  ssObjectId: bigint;
  /** Its designation, when an alert gave one. */
  ssObjectName: string | null;
  /** Its DIASources, in time order. */
  sources: SsObjectSource[];
  /** Detections moving a DIASource to or from it, in time order. */
  detections: ReassociationRecord[];
}

/** A summary of the database. */
export interface CatalogStats {
  /** Rows per table. */
  tables: Record<string, number>;
  /** Alerts with an SSObject. */
  solarSystemAlerts: number;
  /** Midpoint range of the alerts (MJD TAI), `null` when empty. */
  mjdRange: { min: number; max: number } | null;
  /** The latest runs, newest first, with their rate. */
  runs: Array<IngestionRunRecord & { alertsPerSecond: number | null }>;
  /** Alerts per night and band, for the latest {@linkcode NIGHTS} nights of the data. */
  alertsPerNight: Array<{ night: number; band: string | null; alerts: number }>;
  /** Detections per night and rule, for the same nights. */
  reassociationsPerNight: Array<{ night: number; reason: ReassociationReason; detections: number }>;
  /** Positions of the latest alerts and of the latest solar-system alerts, for a sky map. */
  sky: Array<{ ra: number; dec: number; solarSystem: boolean }>;
}

/** Latest alerts drawn on the sky map. */
export const SKY_SAMPLE = 5_000;

/** Nights {@linkcode AlertCatalog.stats} counts alerts and detections of, up to the latest. */
export const NIGHTS = 366;

const TABLES = [
  "alerts",
  "processed_sources",
  "reassociations",
  "snapshot_observations",
  "quarantine",
  "ingestion_runs",
  "raw_alerts",
] as const;

const SORT_COLUMNS: Record<AlertSort, string> = {
  time: "midpoint_mjd_tai",
  snr: "snr",
  extendedness: "extendedness",
  reliability: "reliability",
  flux: "psf_flux",
  id: "dia_source_id",
};

const SUMMARY_COLUMNS = `dia_source_id, dia_object_id, ss_object_id, ss_object_name, ra, dec,
  midpoint_mjd_tai, band, psf_flux, psf_flux_err, snr, extendedness, reliability,
  is_reassociation, reassociation_reason, snapshot, run_id,
  (cutout_science IS NOT NULL OR cutout_template IS NOT NULL OR cutout_difference IS NOT NULL)
    AS has_cutout_files,
  EXISTS (SELECT 1 FROM raw_alerts r WHERE r.dia_source_id = alerts.dia_source_id) AS has_raw`;

const DETECTION_COLUMNS = `id, dia_source_id, reason, old_ss_object_id, new_ss_object_id,
  old_reassoc_time, new_reassoc_time, alert_dia_source_id, run_id, detected_at, observed_mjd`;

/**
 * Open a catalog on a database, read-only.
 *
 * @param location A SQLite path or a `postgres://` URL.
 * @returns The catalog; close it with `await using` or {@linkcode AlertCatalog.close}.
 * @throws {StorageError} When a SQLite file does not exist or cannot be opened.
 * @example
 * ```ts ignore
 * import { openCatalog } from "./alert_catalog.ts";
 * await using catalog = openCatalog("data/alerts.db");
 * const { rows } = await catalog.alerts({ solarSystem: true }, { limit: 10 });
 * ```
 */
export function openCatalog(location: string): AlertCatalog {
  return new AlertCatalog(openReadConnection(location));
}

/**
 * Read-only questions on a database of ingested alerts; every id is an exact `bigint`.
 *
 * @example
 * ```ts ignore
 * import { openCatalog } from "./alert_catalog.ts";
 * await using catalog = openCatalog("data/alerts.db");
 * const curve = await catalog.lightCurve(170094456272322560n);
 * ```
 */
export class AlertCatalog implements AsyncDisposable {
  #db: ReadConnection;

  /**
   * Wrap a read-only connection (use {@linkcode openCatalog}).
   *
   * @param connection The connection, closed with the catalog.
   */
  constructor(connection: ReadConnection) {
    this.#db = connection;
  }

  /**
   * A page of alerts matching a filter, and how many match.
   *
   * @param filter Which alerts.
   * @param options Page, sort key and direction.
   * @returns The page.
   * @throws {RangeError} For a bad filter value, page or sort key.
   */
  async alerts(
    filter: AlertFilter = {},
    options: AlertListOptions = {},
  ): Promise<CatalogPage<AlertSummary>> {
    const { limit, offset } = _page(options);
    const sort = options.sort ?? "time";
    const column = SORT_COLUMNS[sort];
    if (column === undefined) {
      throw new RangeError(`Unknown sort "${sort}": expected one of ${ALERT_SORTS.join(", ")}`);
    }
    const direction = options.descending === false ? "ASC" : "DESC";
    const where = _alertWhere(filter);
    const order = `ORDER BY ${column} ${direction} NULLS LAST, dia_source_id ${direction}`;
    // The page's ids first, from an index holding the filter and sort columns; then only those
    // rows are read whole.
    const rows = await this.#db.all(
      `SELECT ${SUMMARY_COLUMNS} FROM alerts WHERE dia_source_id IN (
         SELECT dia_source_id FROM alerts ${where.sql} ${order} LIMIT ? OFFSET ?)
       ${order}`,
      [...where.params, limit, offset],
    );
    const counted = await this.#pageCount(rows.length, limit, offset, "alerts", where);
    return { rows: rows.map(_summary), ...counted };
  }

  /**
   * Every alert matching a filter, read a page at a time in the list's order (for exports and
   * notebooks: memory stays bounded).
   *
   * @param filter Which alerts.
   * @param options Sort key and direction; `limit` is the page size read at a time.
   * @returns The alerts.
   */
  async *iterateAlerts(
    filter: AlertFilter = {},
    options: Omit<AlertListOptions, "offset"> = {},
  ): AsyncGenerator<AlertSummary, void, undefined> {
    const limit = options.limit ?? 1000;
    for (let offset = 0;; offset += limit) {
      const { rows } = await this.alerts(filter, { ...options, limit, offset });
      yield* rows;
      if (rows.length < limit) return;
    }
  }

  /**
   * One alert with every stored field and the detections it shows.
   *
   * @param diaSourceId The alert's triggering DIASource.
   * @returns The alert, or `null` when it is not stored.
   */
  async alert(diaSourceId: bigint): Promise<AlertDetail | null> {
    const [row] = await this.#db.all(
      `SELECT ${SUMMARY_COLUMNS}, alert_id, object_name, ra_err, dec_err, visit, detector,
         observation_reason, target_name, schema_version, source, survey,
         ss_object_reassoc_time_mjd_tai, cutout_science, cutout_template, cutout_difference,
         properties, ingested_at
       FROM alerts WHERE dia_source_id = ?`,
      [diaSourceId],
    );
    if (row === undefined) return null;
    const detections = await this.#db.all(
      `SELECT ${DETECTION_COLUMNS} FROM reassociations WHERE alert_dia_source_id = ?
       ORDER BY id`,
      [diaSourceId],
    );
    return {
      ..._summary(row),
      alertId: row.alert_id as bigint,
      objectName: _text(row.object_name),
      raErr: _number(row.ra_err),
      decErr: _number(row.dec_err),
      visit: row.visit === null ? null : BigInt(row.visit as bigint),
      detector: row.detector === null ? null : Number(row.detector),
      observationReason: _text(row.observation_reason),
      targetName: _text(row.target_name),
      schemaVersion: String(row.schema_version),
      source: String(row.source),
      survey: String(row.survey),
      ssObjectReassocTimeMjdTai: _number(row.ss_object_reassoc_time_mjd_tai),
      cutouts: {
        science: _text(row.cutout_science),
        template: _text(row.cutout_template),
        difference: _text(row.cutout_difference),
      },
      properties: row.properties === null
        ? null
        : parseExact(String(row.properties)) as Record<string, unknown>,
      ingestedAt: String(row.ingested_at),
      detections: detections.map(_detection),
    };
  }

  /**
   * Where an alert's cutout files were written.
   *
   * @param diaSourceId The alert's triggering DIASource.
   * @returns The paths (`null` each where none was written), or `null` when the alert is not
   * stored.
   */
  async cutoutFiles(diaSourceId: bigint): Promise<CutoutPaths | null> {
    const [row] = await this.#db.all(
      `SELECT cutout_science, cutout_template, cutout_difference FROM alerts
       WHERE dia_source_id = ?`,
      [diaSourceId],
    );
    if (row === undefined) return null;
    return {
      science: _text(row.cutout_science),
      template: _text(row.cutout_template),
      difference: _text(row.cutout_difference),
    };
  }

  /**
   * Whether an SSObject is named anywhere (an alert, a tracked state, a detection).
   *
   * @param ssObjectId The SSObject.
   * @returns `true` when it is.
   */
  async hasSsObject(ssObjectId: bigint): Promise<boolean> {
    const [row] = await this.#db.all(
      `SELECT EXISTS (SELECT 1 FROM alerts WHERE ss_object_id = ?)
         OR EXISTS (SELECT 1 FROM reassociations WHERE new_ss_object_id = ? OR old_ss_object_id = ?)
         AS found`,
      [ssObjectId, ssObjectId, ssObjectId],
    );
    return _flag(row?.found);
  }

  /**
   * The whole packet kept for an alert (`--keep-raw`), to decode its cutouts when no files were
   * written.
   *
   * @param diaSourceId The alert's triggering DIASource.
   * @returns The payload and its writer schema, or `null`.
   */
  async rawAlert(diaSourceId: bigint): Promise<RawPayload | null> {
    const [row] = await this.#db.all(
      `SELECT r.payload, s.* FROM raw_alerts r
       JOIN schemas s ON s.fingerprint = r.schema_fingerprint WHERE r.dia_source_id = ?`,
      [diaSourceId],
    );
    if (row === undefined) return null;
    return { payload: row.payload as Uint8Array, schema: schemaFromRow(row) };
  }

  /**
   * A DIAObject's light curve: each stored alert's PSF flux in time order.
   *
   * @param diaObjectId The DIAObject.
   * @returns The curve (no points when nothing of it is stored).
   */
  async lightCurve(diaObjectId: bigint): Promise<LightCurve> {
    const rows = await this.#db.all(
      `SELECT dia_source_id, midpoint_mjd_tai, band, psf_flux, psf_flux_err, snr, ss_object_id,
         snapshot, history
       FROM alerts WHERE dia_object_id = ? ORDER BY midpoint_mjd_tai, dia_source_id`,
      [diaObjectId],
    );
    const stored = new Set(rows.map((r) => r.dia_source_id as bigint));
    const historyOnly = new Set<bigint>();
    for (const r of rows) {
      if (r.history === null) continue;
      for (const id of historyIds(r.history as Uint8Array)) {
        if (!stored.has(id)) historyOnly.add(id);
      }
    }
    return {
      diaObjectId,
      points: rows.map((r) => ({
        diaSourceId: r.dia_source_id as bigint,
        midpointMjdTai: Number(r.midpoint_mjd_tai),
        band: _text(r.band),
        psfFlux: _number(r.psf_flux),
        psfFluxErr: _number(r.psf_flux_err),
        snr: _number(r.snr),
        ssObjectId: r.ss_object_id as bigint | null,
        snapshot: _flag(r.snapshot),
      })),
      historyOnly: [...historyOnly].sort(compareIds),
    };
  }

  /**
   * A DIASource's association over time: every stored observation (its own alert, other
   * alerts' histories, snapshots) as tracking orders them, and its detections.
   *
   * @param diaSourceId The DIASource.
   * @returns The timeline, or `null` when nothing of it is stored.
   */
  async timeline(diaSourceId: bigint): Promise<SourceTimeline | null> {
    const [state] = await this.#db.all(
      `SELECT dia_object_id, ss_object_id, ss_object_reassoc_time_mjd_tai, first_seen_mjd,
         last_seen_mjd, times_seen, runs
       FROM processed_sources WHERE dia_source_id = ?`,
      [diaSourceId],
    );
    const [own] = await this.#db.all(
      `SELECT dia_object_id, midpoint_mjd_tai, ss_object_id, ss_object_reassoc_time_mjd_tai,
         snapshot
       FROM alerts WHERE dia_source_id = ?`,
      [diaSourceId],
    );
    if (state === undefined && own === undefined) return null;
    const diaObjectId = (state?.dia_object_id ?? own?.dia_object_id ?? null) as bigint | null;
    const snapshots = await this.#db.all(
      `SELECT observed_mjd, ss_object_id, reassoc_time FROM snapshot_observations
       WHERE dia_source_id = ? ORDER BY id`,
      [diaSourceId],
    );
    const histories = diaObjectId === null ? [] : await this.#db.all(
      `SELECT dia_source_id, midpoint_mjd_tai, history FROM alerts
       WHERE dia_object_id = ? AND history IS NOT NULL`,
      [diaObjectId],
    );
    const detections = await this.#db.all(
      `SELECT ${DETECTION_COLUMNS} FROM reassociations WHERE dia_source_id = ?
       ORDER BY observed_mjd NULLS LAST, id`,
      [diaSourceId],
    );
    const trigger = own !== undefined && !_flag(own.snapshot)
      ? {
        diaSourceId,
        time: own.midpoint_mjd_tai as number,
        alertId: diaSourceId,
        ssObjectId: own.ss_object_id as bigint | null,
        reassocTime: _number(own.ss_object_reassoc_time_mjd_tai),
      }
      : null;
    const observations = gatherObservations(diaSourceId, {
      trigger,
      snapshots: snapshots.map((r) => ({
        diaSourceId,
        time: r.observed_mjd as number,
        alertId: SNAPSHOT_ALERT_ID,
        ssObjectId: r.ss_object_id as bigint | null,
        reassocTime: _number(r.reassoc_time),
      })),
      histories: histories.map((r) => ({
        alertId: r.dia_source_id as bigint,
        time: r.midpoint_mjd_tai as number,
        history: r.history as Uint8Array,
      })),
      detections: [],
    });
    return {
      diaSourceId,
      diaObjectId,
      state: state === undefined ? null : {
        ssObjectId: state.ss_object_id as bigint | null,
        reassocTime: _number(state.ss_object_reassoc_time_mjd_tai),
        firstSeenMjd: state.first_seen_mjd as number,
        lastSeenMjd: state.last_seen_mjd as number,
        timesSeen: Number(state.times_seen),
        runs: Number(state.runs),
      },
      observations: observations.map((o) => ({
        time: o.time,
        kind: o.alertId === SNAPSHOT_ALERT_ID
          ? "snapshot"
          : o.alertId === diaSourceId
          ? "alert"
          : "history",
        alertDiaSourceId: o.alertId === SNAPSHOT_ALERT_ID ? null : o.alertId,
        ssObjectId: o.ssObjectId,
        reassocTime: o.reassocTime,
      })),
      detections: detections.map(_detection),
    };
  }

  /**
   * A page of reassociation detections, newest first.
   *
   * @param options Rule, run and page.
   * @returns The page.
   * @throws {RangeError} For a bad page.
   */
  async reassociations(
    options: ReassociationListOptions = {},
  ): Promise<CatalogPage<ReassociationListRow>> {
    const { limit, offset } = _page(options);
    const conditions: string[] = [];
    const params: SqlParam[] = [];
    if (options.reason !== undefined) {
      conditions.push("d.reason = ?");
      params.push(options.reason);
    }
    if (options.runId !== undefined) {
      conditions.push("d.run_id = ?");
      params.push(_integer(options.runId, "run id"));
    }
    const where = {
      sql: conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`,
      params,
    };
    const rows = await this.#db.all(
      `SELECT ${DETECTION_COLUMNS.replaceAll(/(\w+)/g, "d.$1")},
         (a.cutout_science IS NOT NULL OR a.cutout_template IS NOT NULL
           OR a.cutout_difference IS NOT NULL
           OR EXISTS (SELECT 1 FROM raw_alerts r WHERE r.dia_source_id = d.alert_dia_source_id))
           AS alert_has_cutouts
       FROM reassociations d LEFT JOIN alerts a ON a.dia_source_id = d.alert_dia_source_id
       ${where.sql} ORDER BY d.id DESC LIMIT ? OFFSET ?`,
      [...where.params, limit, offset],
    );
    const counted = await this.#pageCount(rows.length, limit, offset, "reassociations d", where);
    return {
      rows: rows.map((r) => ({ ..._detection(r), alertHasCutouts: _flag(r.alert_has_cutouts) })),
      ...counted,
    };
  }

  /**
   * An SSObject's DIASources: those whose alert named it, whose tracked state names it, or that a
   * detection moved to or from it.
   *
   * @param ssObjectId The SSObject.
   * @returns Its DIASources and detections, or `null` when nothing names it.
   */
  async ssObject(ssObjectId: bigint): Promise<SsObjectSummary | null> {
    const detections = (await this.#db.all(
      `SELECT ${DETECTION_COLUMNS} FROM reassociations
       WHERE new_ss_object_id = ? OR old_ss_object_id = ?
       ORDER BY observed_mjd NULLS LAST, id`,
      [ssObjectId, ssObjectId],
    )).map(_detection);
    const ids = await this.#db.all(
      `SELECT dia_source_id FROM alerts WHERE ss_object_id = ?
       UNION SELECT dia_source_id FROM processed_sources WHERE ss_object_id = ?`,
      [ssObjectId, ssObjectId],
    );
    const all = new Set<bigint>(ids.map((r) => r.dia_source_id as bigint));
    for (const d of detections) all.add(d.diaSourceId);
    if (all.size === 0) return null;
    const list = `[${[...all].join(",")}]`;
    const rows = await this.#db.all(
      `SELECT p.dia_source_id AS id, p.dia_object_id AS state_object, p.ss_object_id AS current,
         a.dia_object_id AS alert_object, a.midpoint_mjd_tai, a.ra, a.dec, a.band,
         a.ss_object_id AS alert_ss, a.ss_object_name
       FROM ${this.#idList()} ids
       LEFT JOIN processed_sources p ON p.dia_source_id = ids.id
       LEFT JOIN alerts a ON a.dia_source_id = ids.id`,
      [list],
    );
    let name: string | null = null;
    const sources: SsObjectSource[] = rows.map((r) => {
      name ??= r.alert_ss === ssObjectId ? _text(r.ss_object_name) : null;
      const id = (r.id ?? null) as bigint;
      const firstDetection = detections.find((d) =>
        d.diaSourceId === id && d.newSsObjectId === ssObjectId
      );
      const midpoint = _number(r.midpoint_mjd_tai);
      const times = [
        r.alert_ss === ssObjectId ? midpoint : null,
        firstDetection?.observedMjd ?? null,
      ].filter((t): t is number => t !== null);
      return {
        diaSourceId: id,
        diaObjectId: (r.state_object ?? r.alert_object ?? null) as bigint | null,
        midpointMjdTai: midpoint,
        ra: _number(r.ra),
        dec: _number(r.dec),
        band: _text(r.band),
        alertSsObjectId: (r.alert_ss ?? null) as bigint | null,
        currentSsObjectId: (r.current ?? null) as bigint | null,
        firstAssociatedMjd: times.length === 0 ? null : Math.min(...times),
      };
    });
    sources.sort((a, b) =>
      (a.midpointMjdTai ?? Infinity) - (b.midpointMjdTai ?? Infinity) ||
      (a.diaSourceId < b.diaSourceId ? -1 : 1)
    );
    return { ssObjectId, ssObjectName: name, sources, detections };
  }

  /**
   * A summary of the database: rows per table, latest runs, alerts per night and band and
   * detections per night and rule (the latest {@linkcode NIGHTS} nights of the data), and
   * positions for a sky map. A night is Rubin's observing day: the integer MJD of the midpoint
   * 12 hours earlier (nights roll over at noon UTC−12).
   *
   * @param runs How many of the latest runs. Default 10.
   * @returns The summary.
   */
  async stats(runs = 10): Promise<CatalogStats> {
    const tables: Record<string, number> = {};
    for (const table of TABLES) {
      const [row] = await this.#db.all(`SELECT COUNT(*) AS n FROM ${table}`);
      tables[table] = Number(row?.n ?? 0);
    }
    const [ss] = await this.#db.all(
      "SELECT COUNT(*) AS n FROM alerts WHERE ss_object_id IS NOT NULL",
    );
    // Apart, each is one index seek; together they scan the index.
    const [range] = await this.#db.all(
      `SELECT (SELECT MIN(midpoint_mjd_tai) FROM alerts) AS min,
         (SELECT MAX(midpoint_mjd_tai) FROM alerts) AS max`,
    );
    const runRows = await this.#db.all(
      "SELECT * FROM ingestion_runs ORDER BY run_id DESC LIMIT ?",
      [_integer(runs, "run count")],
    );
    const night = (column: string) =>
      this.#db.dialect === "sqlite"
        ? `CAST(${column} - 0.5 AS INTEGER)`
        : `CAST(floor(${column} - 0.5) AS BIGINT)`;
    // The latest NIGHTS nights of the data: counting every night of a survey would take
    // longer with every night stored. The range is an index range (alerts_night_band).
    const last = range?.max === null || range?.max === undefined
      ? 0
      : Math.floor(Number(range.max) - 0.5);
    const first = last - NIGHTS + 1;
    const perNight = await this.#db.all(
      `SELECT ${night("midpoint_mjd_tai")} AS night, band, COUNT(*) AS n FROM alerts
       WHERE ${night("midpoint_mjd_tai")} >= ? GROUP BY 1, 2 ORDER BY 1, 2`,
      [first],
    );
    const detectionsPerNight = await this.#db.all(
      `SELECT ${night("observed_mjd")} AS night, reason, COUNT(*) AS n FROM reassociations
       WHERE observed_mjd >= ? GROUP BY 1, 2 ORDER BY 1, 2`,
      [first + 0.5],
    );
    const sky = await this.#db.all(
      `SELECT ra, dec, CASE WHEN ss_object_id IS NULL THEN 0 ELSE 1 END AS ss FROM (
         SELECT ra, dec, ss_object_id FROM alerts ORDER BY midpoint_mjd_tai DESC LIMIT ?) latest
       UNION ALL
       SELECT ra, dec, 1 FROM (
         SELECT ra, dec FROM alerts WHERE ss_object_id IS NOT NULL
         ORDER BY ss_object_id DESC LIMIT ?) solar`,
      [SKY_SAMPLE, SKY_SAMPLE / 5],
    );
    return {
      tables,
      solarSystemAlerts: Number(ss?.n ?? 0),
      mjdRange: range === undefined || range.min === null
        ? null
        : { min: range.min as number, max: range.max as number },
      runs: runRows.map((r) => {
        const run = runRecordFromRow(r);
        const seconds = run.finishedAt === null
          ? null
          : (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000;
        return {
          ...run,
          alertsPerSecond: seconds === null || seconds <= 0
            ? null
            : Math.round(run.alertsIngested / seconds),
        };
      }),
      alertsPerNight: perNight.map((r) => ({
        night: Number(r.night),
        band: _text(r.band),
        alerts: Number(r.n),
      })),
      reassociationsPerNight: detectionsPerNight.map((r) => ({
        night: Number(r.night),
        reason: r.reason as ReassociationReason,
        detections: Number(r.n),
      })),
      sky: sky.map((r) => ({
        ra: Number(r.ra),
        dec: Number(r.dec),
        solarSystem: _flag(r.ss),
      })),
    };
  }

  /** Close the connection. */
  async close(): Promise<void> {
    await this.#db.close();
  }

  /** Close the connection. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // A page's total: a short page ends the list, so its total is known without counting.
  #pageCount(
    rows: number,
    limit: number,
    offset: number,
    from: string,
    where: { sql: string; params: SqlParam[] },
  ): Promise<{ total: number; totalIsExact: boolean }> {
    return rows < limit && (rows > 0 || offset === 0)
      ? Promise.resolve(_counted(offset + rows))
      : this.#count(from, where);
  }

  async #count(
    from: string,
    where: { sql: string; params: SqlParam[] },
  ): Promise<{ total: number; totalIsExact: boolean }> {
    const [row] = await this.#db.all(
      `SELECT COUNT(*) AS n FROM (SELECT 1 FROM ${from} ${where.sql} LIMIT ?) counted`,
      [...where.params, COUNT_LIMIT + 1],
    );
    return _counted(Number(row?.n ?? 0));
  }

  // A JSON array of ids as a table with one column `id`, one parameter whatever its length.
  #idList(): string {
    return this.#db.dialect === "sqlite"
      ? "(SELECT CAST(value AS INTEGER) AS id FROM json_each(?))"
      // Typed as text first: a parameter typed jsonb would be sent as a JSON string.
      : `(SELECT CAST(value AS BIGINT) AS id
         FROM jsonb_array_elements_text(CAST(CAST(? AS text) AS jsonb)))`;
  }
}

function _alertWhere(filter: AlertFilter): { sql: string; params: SqlParam[] } {
  const conditions: string[] = [];
  const params: SqlParam[] = [];
  const add = (condition: string, value: SqlParam) => {
    conditions.push(condition);
    params.push(value);
  };
  if (filter.fromMjd !== undefined) add("midpoint_mjd_tai >= ?", _finite(filter.fromMjd, "from"));
  if (filter.toMjd !== undefined) add("midpoint_mjd_tai <= ?", _finite(filter.toMjd, "to"));
  if (filter.band !== undefined) add("band = ?", filter.band);
  if (filter.solarSystem !== undefined) {
    conditions.push(`ss_object_id IS ${filter.solarSystem ? "NOT " : ""}NULL`);
  }
  if (filter.reassociated !== undefined) {
    add("is_reassociation = ?", filter.reassociated ? 1 : 0);
  }
  if (filter.minExtendedness !== undefined) {
    add("extendedness >= ?", _finite(filter.minExtendedness, "minimum extendedness"));
  }
  if (filter.maxExtendedness !== undefined) {
    add("extendedness <= ?", _finite(filter.maxExtendedness, "maximum extendedness"));
  }
  if (filter.minReliability !== undefined) {
    add("reliability >= ?", _finite(filter.minReliability, "minimum reliability"));
  }
  if (filter.minSnr !== undefined) add("snr >= ?", _finite(filter.minSnr, "minimum SNR"));
  if (filter.diaObjectId !== undefined) add("dia_object_id = ?", filter.diaObjectId);
  if (filter.ssObjectId !== undefined) add("ss_object_id = ?", filter.ssObjectId);
  if (filter.runId !== undefined) add("run_id = ?", _integer(filter.runId, "run id"));
  return { sql: conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`, params };
}

function _counted(n: number): { total: number; totalIsExact: boolean } {
  return n > COUNT_LIMIT
    ? { total: COUNT_LIMIT, totalIsExact: false }
    : { total: n, totalIsExact: true };
}

function _page(options: PageOptions): { limit: number; offset: number } {
  const limit = options.limit ?? 50;
  const offset = options.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new RangeError(`Page size must be a whole number from 1 to 1000, not "${limit}"`);
  }
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`Offset must be a whole number of at least 0, not "${offset}"`);
  }
  return { limit, offset };
}

function _finite(value: number, what: string): number {
  if (!Number.isFinite(value)) throw new RangeError(`The ${what} must be a number, not "${value}"`);
  return value;
}

function _integer(value: number, what: string): number {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`The ${what} must be a whole number, not "${value}"`);
  }
  return value;
}

function _summary(r: Row): AlertSummary {
  return {
    diaSourceId: r.dia_source_id as bigint,
    diaObjectId: r.dia_object_id as bigint | null,
    ssObjectId: r.ss_object_id as bigint | null,
    ssObjectName: _text(r.ss_object_name),
    ra: Number(r.ra),
    dec: Number(r.dec),
    midpointMjdTai: Number(r.midpoint_mjd_tai),
    band: _text(r.band),
    psfFlux: _number(r.psf_flux),
    psfFluxErr: _number(r.psf_flux_err),
    snr: _number(r.snr),
    extendedness: _number(r.extendedness),
    reliability: _number(r.reliability),
    isReassociation: _flag(r.is_reassociation),
    reassociationReason: _text(r.reassociation_reason) as ReassociationReason | null,
    hasCutoutFiles: _flag(r.has_cutout_files),
    hasRawPayload: _flag(r.has_raw),
    snapshot: _flag(r.snapshot),
    runId: r.run_id === null ? null : Number(r.run_id),
  };
}

function _detection(r: Row): ReassociationRecord {
  return {
    id: Number(r.id),
    ...detectionFromRow(r),
    runId: r.run_id === null ? null : Number(r.run_id),
    detectedAt: String(r.detected_at),
  };
}

// SQLite gives 0/1 integers (bigint here), PostgreSQL booleans or integers.
function _flag(value: unknown): boolean {
  return value === true || value === 1 || value === 1n;
}

function _text(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

// REAL columns come back as numbers, but a SQLite REAL column may hold an integer value,
// which reads as bigint.
function _number(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}
