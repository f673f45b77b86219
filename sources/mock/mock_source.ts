/**
 * A deterministic simulated Rubin alert stream with known reassociations, for tests, benchmarks
 * and demos without a broker.
 *
 * The simulation runs nights of visits. DIAObjects recur over nights, so each new DIASource's
 * alert carries the object's earlier DIASources (`prvDiaSources`), and histories grow. A
 * simulated APDB later links some DIASources to solar-system objects, changes some of those
 * links and removes others; later alerts show the DIASource's current `ssObjectId`, so the
 * reassociation tracker has real work to do, and {@linkcode MockSource.groundTruth} says what
 * it must find.
 *
 * Packets are v11.0-shaped (every field of the official schema, `long` as `bigint`, `float`
 * values already rounded to 32 bits) and go through the same {@linkcode toAlertRecord} as real
 * alerts.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { REASSOCIATION_REASONS, type ReassociationReason } from "../../model/alert_record.ts";
import { AlertParseError } from "../../model/errors.ts";
import { encodeFits, type FitsCard } from "../../cutouts/fits_writer.ts";
import type { AlertsOptions, AlertSource, SourcedAlert } from "../alert_source.ts";
import {
  type LsstAlertPacket,
  type LsstDiaSource,
  toAlertRecord,
} from "../../formats/lsst_packet.ts";
import { mixSeed, MockRandom, seedState } from "./_mock_random.ts";

/** The schema version of every mock packet. */
export const MOCK_SCHEMA_VERSION = "11.0";

/** Options of {@linkcode MockSource}. */
export interface MockSourceOptions {
  /** How many alerts the stream holds. */
  count: number;
  /** Seed of the simulation; the same seed gives the same alerts. Default `42`. */
  seed?: number;
  /** Start of the first night (MJD TAI). Default `61000` (2025-11-21 00:00, evening in Chile). */
  startMjd?: number;
  /**
   * Share of DIA DIASources the simulated APDB later links to an SSObject (some of those links
   * are later changed or removed). Default `0.05`.
   */
  reassociationShare?: number;
  /** Share of alerts that are solar-system alerts (`diaObjectId` 0). Default `0.03`. */
  solarSystemShare?: number;
  /** Attach science, template and difference cutouts (3-HDU FITS). Default `true`. */
  cutouts?: boolean;
  /** Most earlier DIASources (`prvDiaSources`) an alert carries, the newest ones. Default `30`. */
  historyLimit?: number;
}

/** One simulated packet and its index in the stream. */
export interface MockPacket {
  /** Index of the alert in the stream (its cursor position). */
  index: number;
  /**
   * The v11.0 packet. Records inside it (a DIASource appearing in later alerts' histories, an
   * SSObject's orbit) are shared between packets: treat packets as read-only.
   */
  packet: LsstAlertPacket;
}

/** Options of {@linkcode MockSource.packets}. */
export interface MockPacketsOptions {
  /** Attach cutouts. Default: the source's `cutouts` option. */
  cutouts?: boolean;
}

/** One reassociation the tracker must report. */
export interface MockDetection {
  /** The DIASource whose association changed. */
  diaSourceId: bigint;
  /** Which rule fires (`updated_timestamp` never does: mock alerts carry no reassociation time). */
  reason: ReassociationReason;
  /** Association last shown for it (`null` = none). */
  oldSsObjectId: bigint | null;
  /** Association shown now (`null` = none). */
  newSsObjectId: bigint | null;
  /** The triggering DIASource of the alert that shows the change. */
  alertDiaSourceId: bigint;
}

/**
 * What an in-order pass over the whole stream must find. Within one alert, the triggering
 * DIASource is observed first, then `prvDiaSources` in packet order (oldest first).
 */
export interface MockGroundTruth {
  /** Every detection, in stream order. */
  detections: readonly MockDetection[];
  /** Detections per reason (all four keys present). */
  byReason: Readonly<Record<ReassociationReason, number>>;
  /**
   * Distinct DIASources observed, as triggers or in histories (histories may hold DIASources
   * from before the stream began, so this exceeds `alerts`).
   */
  newSources: number;
  /** Alerts in the stream. */
  alerts: number;
  /** Solar-system alerts among them. */
  solarSystemAlerts: number;
}

/**
 * A simulated LSST alert stream. It pulls: each alert is generated only when the consumer asks
 * for it. Alert `i` depends only on the options other than `count`, so streams of different
 * lengths share their prefix.
 *
 * Cursor: stream `mock:<seed>`, position = alert index. Resuming regenerates (without cutouts)
 * the skipped alerts, because later alerts depend on earlier ones.
 *
 * @example
 * ```ts
 * import { MockSource } from "./mock_source.ts";
 * await using source = new MockSource({ count: 100, cutouts: false });
 * for await (const record of source.alerts({ limit: 10 })) {
 *   if (record.kind === "alert") record.alert.diaSourceId; // bigint
 * }
 * source.groundTruth().byReason.new_association; // detections the tracker must report
 * ```
 */
export class MockSource implements AlertSource {
  /** Always `"mock"`. */
  readonly name = "mock";
  /** The options in effect, defaults filled in. */
  readonly params: Readonly<Record<string, unknown>>;
  #settings: _Settings;
  #stream: string;
  #truth: MockGroundTruth | null = null;
  #disposed = false;

  /**
   * Describe a stream; nothing is generated until it is read.
   *
   * @param options Size, seed and shape of the simulated stream.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(options: MockSourceOptions) {
    const settings: _Settings = {
      count: _integer(options.count, "count"),
      seed: options.seed === undefined ? 42 : _integer(options.seed, "seed"),
      startMjd: options.startMjd ?? 61000,
      reassociationShare: _share(options.reassociationShare ?? 0.05, "reassociationShare"),
      solarSystemShare: _share(options.solarSystemShare ?? 0.03, "solarSystemShare"),
      cutouts: options.cutouts ?? true,
      historyLimit: _integer(options.historyLimit ?? 30, "historyLimit"),
    };
    if (!Number.isFinite(settings.startMjd)) {
      throw new RangeError(
        `Invalid mock option "startMjd": expected an MJD, got "${settings.startMjd}"`,
      );
    }
    this.#settings = settings;
    this.#stream = `mock:${settings.seed}`;
    this.params = Object.freeze({ ...settings });
  }

  /**
   * The cursor stream of this source, `mock:<seed>`.
   *
   * @returns The stream key used in cursors and `resumeFrom`.
   */
  get stream(): string {
    return this.#stream;
  }

  /**
   * Generate the raw v11.0 packets, for code that encodes mock alerts (Avro files, Kafka).
   *
   * @param options Whether to attach cutouts.
   * @returns Every packet of the stream in order, generated on demand.
   * @example
   * ```ts
   * import { MockSource } from "./mock_source.ts";
   * const source = new MockSource({ count: 3, cutouts: false });
   * for (const { index, packet } of source.packets()) packet.diaSourceId;
   * ```
   */
  *packets(options: MockPacketsOptions = {}): Generator<MockPacket, void, undefined> {
    const cutouts = options.cutouts ?? this.#settings.cutouts;
    const simulation = new _Simulation(this.#settings, false);
    for (let index = 0; index < this.#settings.count; index++) {
      yield { index, packet: simulation.next(cutouts) };
    }
  }

  /**
   * Yield the alerts, mapped by {@linkcode toAlertRecord} with source `"mock"`.
   *
   * @param options Signal and limit (both checked between records; an abort ends the
   * iteration quietly), and `resumeFrom` (alerts up to the stored position of `mock:<seed>`
   * are skipped).
   * @returns The alerts with cursors `{stream: "mock:<seed>", position: "<index>"}`.
   * @throws {RangeError} When the stored position is not an alert index.
   * @example
   * ```ts
   * import { MockSource } from "./mock_source.ts";
   * await using source = new MockSource({ count: 10, cutouts: false });
   * const resumeFrom = new Map([["mock:42", "4"]]);
   * for await (const record of source.alerts({ resumeFrom })) record.cursor.position; // "5" …
   * ```
   */
  async *alerts(options: AlertsOptions = {}): AsyncGenerator<SourcedAlert, void, undefined> {
    if (this.#disposed) throw new TypeError("Cannot read alerts from a disposed mock source");
    const { signal, limit = Infinity, resumeFrom } = options;
    if (!(limit >= 0)) throw new RangeError(`Invalid limit "${limit}": expected 0 or more`);
    const stored = resumeFrom?.get(this.#stream);
    const first = stored === undefined ? 0 : _resumeIndex(this.#stream, stored);
    const { count, cutouts } = this.#settings;
    const simulation = new _Simulation(this.#settings, false);
    let yielded = 0;
    for (let index = 0; index < count; index++) {
      if (this.#disposed || signal?.aborted || yielded >= limit) return;
      if (index < first) {
        simulation.next(false);
        continue;
      }
      const packet = simulation.next(cutouts);
      const cursor = { stream: this.#stream, position: String(index) };
      yielded++;
      try {
        const alert = toAlertRecord(packet, MOCK_SCHEMA_VERSION, { source: "mock" });
        yield { kind: "alert", alert, cursor };
      } catch (error) {
        if (!(error instanceof TypeError)) throw error;
        // Same contract as the file and Kafka sources, though the mock's packets always map.
        yield {
          kind: "rejected",
          error: new AlertParseError(`Cannot map mock alert ${index}: ${error.message}`, {
            stream: this.#stream,
            position: cursor.position,
            cause: error,
          }),
          raw: null,
          cursor,
        };
      }
    }
  }

  /**
   * What the reassociation tracker must find over the whole stream processed in order,
   * computed from the simulation's own state (it does not use any tracker code). Computed once
   * (a cutout-free pass over `count` alerts) and cached.
   *
   * @returns The expected detections and counts, frozen.
   * @example
   * ```ts
   * import { MockSource } from "./mock_source.ts";
   * const truth = new MockSource({ count: 3000, cutouts: false }).groundTruth();
   * truth.byReason.changed_association > 0; // true
   * ```
   */
  groundTruth(): MockGroundTruth {
    if (this.#truth === null) {
      const simulation = new _Simulation(this.#settings, true);
      for (let index = 0; index < this.#settings.count; index++) simulation.next(false);
      this.#truth = simulation.truth();
    }
    return this.#truth;
  }

  /**
   * Stop running iterations at their next record. Safe to call more than once.
   *
   * @returns A promise that resolves at once: the mock holds no resources.
   */
  [Symbol.asyncDispose](): Promise<void> {
    this.#disposed = true;
    return Promise.resolve();
  }
}

interface _Settings {
  count: number;
  seed: number;
  startMjd: number;
  reassociationShare: number;
  solarSystemShare: number;
  cutouts: boolean;
  historyLimit: number;
}

function _integer(value: number, name: string): number {
  if (Number.isSafeInteger(value) && value >= 0) return value;
  throw new RangeError(
    `Invalid mock option "${name}": expected a non-negative integer, got "${value}"`,
  );
}

function _share(value: number, name: string): number {
  if (value >= 0 && value <= 1) return value;
  throw new RangeError(`Invalid mock option "${name}": expected a share in 0…1, got "${value}"`);
}

function _resumeIndex(stream: string, position: string): number {
  if (/^\d{1,15}$/.test(position)) return Number(position) + 1;
  throw new RangeError(
    `Cannot resume mock stream "${stream}" from position "${position}": expected an alert index`,
  );
}

// ---------------------------------------------------------------------------------------------
// Simulation

/** Visits per simulated night: a sample of a real night's ~800, spread over the whole night. */
const VISITS_PER_NIGHT = 24;
/** Length of the observed part of a night (days). */
const NIGHT_LENGTH = 0.36;
/** Alerts per visit are uniform in 1…2×mean−1: far fewer than real, so objects recur soon. */
const MEAN_ALERTS_PER_VISIT = 8;
/** Share of DIA alerts from a new DIAObject; the rest revisit an active one. */
const NEW_OBJECT_SHARE = 0.2;
/** Active DIAObjects kept; beyond, a random one retires (bounds memory for long runs). */
const MAX_ACTIVE_OBJECTS = 300;
/** Share of new DIAObjects that already have DIASources from before the stream began. */
const PREEXISTING_SHARE = 0.2;
/** Of the DIASources the APDB links to an SSObject, the share later linked to another one. */
const CHANGE_SHARE = 0.35;
/** Of the linked DIASources, the share whose link is later removed. */
const REMOVE_SHARE = 0.3;
/** Size of the simulated SSObject catalogue. */
const SS_OBJECTS = 500;
/** Forced sources kept per DIAObject for `prvDiaForcedSources`. */
const FORCED_HISTORY = 4;
/** Processing delay between exposure and alert (days, ~3 min). */
const PROCESSING_DELAY = 0.002;
/** Detectors of the LSST camera science array. */
const DETECTORS = 189;

const BANDS = ["u", "g", "r", "i", "z", "y"] as const;
const BAND_CUMULATIVE = [0.07, 0.17, 0.39, 0.61, 0.81, 1];
const PROGRAMS: readonly { reason: string; target: string | null; weight: number }[] = [
  { reason: "wfd", target: "lowdust", weight: 0.6 },
  { reason: "pairs_gr_33.0", target: "lowdust", weight: 0.15 },
  { reason: "pairs_ri_33.0", target: "lowdust", weight: 0.12 },
  { reason: "ddf_edfs_b", target: "ddf_edfs_b, lowdust", weight: 0.08 },
  { reason: "template_blob", target: null, weight: 0.05 },
];

const DIA_SOURCE_ID_BASE = 170_000_000_000_000_000n;
const EARLIER_SOURCE_ID_BASE = 169_000_000_000_000_000n;
const FORCED_SOURCE_ID_BASE = 171_000_000_000_000_000n;
const SS_OBJECT_ID_BASE = 21_000_000_000_000_000n;
const DEG = Math.PI / 180;
const OBLIQUITY = 23.4393 * DEG;

interface _SourceState {
  /** The DIASource's packet record as currently shown; replaced (never mutated) on change. */
  record: LsstDiaSource;
  /** APDB events (time-ordered), or null for the ~95 % never linked. */
  events: _ApdbEvent[] | null;
  /** Index of the next event not yet applied. */
  nextEvent: number;
  /** For the ground truth: the ssObjectId last shown in an alert, `undefined` before the first. */
  shown: bigint | undefined;
}

interface _SourceShape {
  ra: number;
  dec: number;
  band: string;
  flux: number;
  fluxErr: number;
  diaObjectId: bigint;
  ssObjectId: bigint;
  extendedness: number;
}

interface _ApdbEvent {
  mjd: number;
  /** `0n` for "link removed". */
  ssObjectId: bigint;
}

interface _DiaObject {
  id: bigint;
  ra: number;
  dec: number;
  flux: number;
  extendedness: number;
  /** Newest `historyLimit` DIASources, oldest first. */
  sources: _SourceState[];
  forcedRecords: Record<string, unknown>[];
  nDiaSources: number;
  firstMjd: number;
  lastVisit: number;
  remaining: number;
  slot: number;
  ndata: number[];
  fluxSum: number[];
}

interface _SsObject {
  id: bigint;
  designation: string;
  orbit: Readonly<Record<string, unknown>>;
  h: number;
}

class _Simulation {
  #settings: _Settings;
  #random: MockRandom;
  #seedState: number;
  #collect: boolean;
  #index = 0;

  #night = -1;
  #nightStart = 0;
  #dayObs = 0;
  #visitInNight = VISITS_PER_NIGHT;
  #visitSeq = 0;
  #alertsLeft = 0;
  #visit = 0n;
  #mjd = 0;
  #bandIndex = 2;
  #reason = "wfd";
  #target: string | null = null;

  #objects: _DiaObject[] = [];
  #ssObjects: (_SsObject | undefined)[] = new Array(SS_OBJECTS);
  #nextSourceId: bigint;
  #nextEarlierId: bigint;
  #nextForcedId: bigint;

  #detections: MockDetection[] = [];
  #newSources = 0;
  #solarSystemAlerts = 0;

  constructor(settings: _Settings, collectTruth: boolean) {
    this.#settings = settings;
    this.#seedState = seedState(settings.seed);
    this.#random = new MockRandom(this.#seedState);
    this.#collect = collectTruth;
    // Seed-dependent id ranges, so streams of different seeds can share one database.
    const offset = BigInt(this.#seedState % 1_000_000) * 10_000_000_000n;
    this.#nextSourceId = DIA_SOURCE_ID_BASE + offset;
    this.#nextEarlierId = EARLIER_SOURCE_ID_BASE + offset;
    this.#nextForcedId = FORCED_SOURCE_ID_BASE + offset;
  }

  next(withCutouts: boolean): LsstAlertPacket {
    if (this.#alertsLeft === 0) this.#nextVisit();
    this.#alertsLeft--;
    const index = this.#index++;
    const random = this.#random;
    const packet = random.next() < this.#settings.solarSystemShare
      ? this.#solarSystemAlert()
      : this.#diaAlert();
    if (!withCutouts) return packet;
    const cutouts = _cutouts(new MockRandom(mixSeed(this.#seedState, index)), {
      psfFlux: packet.diaSource.psfFlux ?? 0,
      mjd: this.#mjd,
    });
    return { ...packet, ...cutouts };
  }

  truth(): MockGroundTruth {
    const byReason = Object.fromEntries(
      REASSOCIATION_REASONS.map((reason) => [reason, 0]),
    ) as Record<ReassociationReason, number>;
    for (const detection of this.#detections) {
      byReason[detection.reason]++;
      Object.freeze(detection);
    }
    return Object.freeze({
      detections: Object.freeze(this.#detections),
      byReason: Object.freeze(byReason),
      newSources: this.#newSources,
      alerts: this.#index,
      solarSystemAlerts: this.#solarSystemAlerts,
    });
  }

  #nextVisit(): void {
    const random = this.#random;
    if (this.#visitInNight >= VISITS_PER_NIGHT) {
      this.#night++;
      this.#visitInNight = 0;
      this.#nightStart = this.#settings.startMjd + this.#night;
      this.#dayObs = _dayObs(this.#nightStart);
    }
    const spacing = NIGHT_LENGTH / VISITS_PER_NIGHT;
    this.#mjd = this.#nightStart + this.#visitInNight * spacing + random.next() * spacing * 0.5;
    // Real visit ids are dayObs × 100000 + sequence number; the simulated visits are a sample.
    const sequence = this.#visitInNight * 16 + 1 + random.int(16);
    this.#visit = BigInt(this.#dayObs * 100000 + sequence);
    this.#visitInNight++;
    this.#visitSeq++;
    this.#alertsLeft = 1 + random.int(2 * MEAN_ALERTS_PER_VISIT - 1);
    const u = random.next();
    this.#bandIndex = BAND_CUMULATIVE.findIndex((limit) => u < limit);
    let w = random.next();
    for (const program of PROGRAMS) {
      w -= program.weight;
      if (w < 0 || program === PROGRAMS[PROGRAMS.length - 1]) {
        this.#reason = program.reason;
        this.#target = program.target;
        break;
      }
    }
  }

  #diaAlert(): LsstAlertPacket {
    const object = this.#pickObject();
    const mjd = this.#mjd;
    const id = this.#newSourceId();
    const band = BANDS[this.#bandIndex] ?? "r";
    const record = this.#diaSourceRecord(object, { id, band });
    const trigger: _SourceState = {
      record,
      events: this.#schedule(mjd),
      nextEvent: 0,
      shown: 0n,
    };
    if (this.#collect) this.#newSources++;

    const history = object.sources;
    let prvDiaSources: LsstDiaSource[] | null = null;
    if (history.length > 0) {
      prvDiaSources = new Array(history.length);
      for (let i = 0; i < history.length; i++) {
        prvDiaSources[i] = this.#show(history[i] as _SourceState, id);
      }
    }
    const prvDiaForcedSources = object.forcedRecords.length > 0
      ? object.forcedRecords.slice()
      : null;

    history.push(trigger);
    if (history.length > this.#settings.historyLimit) history.shift();
    object.nDiaSources++;
    object.lastVisit = this.#visitSeq;
    object.ndata[this.#bandIndex]!++;
    object.fluxSum[this.#bandIndex]! += record.psfFlux as number;
    object.forcedRecords.push(this.#forcedSource(object, band));
    if (object.forcedRecords.length > FORCED_HISTORY) object.forcedRecords.shift();
    const diaObject = this.#diaObjectRecord(object);
    if (--object.remaining <= 0) this.#retire(object);

    return {
      diaSourceId: id,
      observation_reason: this.#reason,
      target_name: this.#target,
      diaSource: record,
      prvDiaSources,
      prvDiaForcedSources,
      diaObject,
      ssSource: null,
      mpc_orbits: null,
      cutoutDifference: null,
      cutoutScience: null,
      cutoutTemplate: null,
    };
  }

  #solarSystemAlert(): LsstAlertPacket {
    const random = this.#random;
    const ss = this.#ssObject(random.int(SS_OBJECTS));
    const id = this.#newSourceId();
    const band = BANDS[this.#bandIndex] ?? "r";
    // Near the ecliptic, converted to equatorial and galactic coordinates.
    const lambda = random.next() * 360;
    const beta = random.normal() * 6;
    const [ra, dec] = _eclipticToEquatorial(lambda, beta);
    const [galLon, galLat] = _equatorialToGalactic(ra, dec);
    const flux = 2000 + random.next() * 20000;
    const fluxErr = 250 + random.next() * 300;
    const rateRa = random.normal() * 0.4;
    const rateDec = random.normal() * 0.2;
    // Trail of a 30 s exposure, in arcsec, from a rate in deg/day.
    const trailLength = Math.hypot(rateRa, rateDec) * 3600 * 30 / 86400;
    const extendedness = Math.fround(0.2 + random.next() * 0.6);
    const diaSource: LsstDiaSource = {
      ...this.#sourceRecord(id, {
        ra,
        dec,
        band,
        flux,
        fluxErr,
        diaObjectId: 0n,
        ssObjectId: ss.id,
        extendedness,
      }),
      trailFlux: Math.fround(flux * 1.05),
      trailFluxErr: Math.fround(fluxErr * 1.1),
      trailRa: ra,
      trailDec: dec,
      trailLength: Math.fround(trailLength),
      trailAngle: Math.fround(Math.atan2(rateDec, rateRa) / DEG),
    };
    if (this.#collect) {
      this.#newSources++;
      this.#solarSystemAlerts++;
    }
    const helioRange = 1.6 + random.next() * 2;
    const topoRange = Math.max(0.05, helioRange - 0.9 + random.next() * 0.4);
    const ssSource = {
      ...SS_SOURCE_TEMPLATE,
      diaSourceId: id,
      ssObjectId: ss.id,
      designation: ss.designation,
      eclLambda: lambda,
      eclBeta: beta,
      galLon,
      galLat,
      elongation: Math.fround(120 + random.next() * 60),
      phaseAngle: Math.fround(2 + random.next() * 25),
      topoRange: Math.fround(topoRange),
      topoRangeRate: Math.fround(random.normal() * 10),
      helioRange: Math.fround(helioRange),
      helioRangeRate: Math.fround(random.normal() * 3),
      ephRa: ra + random.normal() * 0.3 / 3600,
      ephDec: dec + random.normal() * 0.3 / 3600,
      ephVmag: Math.fround(ss.h + 5 * Math.log10(helioRange * topoRange) + 0.3),
      ephRate: Math.fround(Math.hypot(rateRa, rateDec)),
      ephRateRa: Math.fround(rateRa),
      ephRateDec: Math.fround(rateDec),
      ephOffset: Math.fround(Math.abs(random.normal()) * 0.3),
      diaDistanceRank: 1,
    };
    return {
      diaSourceId: id,
      observation_reason: this.#reason,
      target_name: this.#target,
      diaSource,
      prvDiaSources: null,
      prvDiaForcedSources: null,
      diaObject: null,
      ssSource,
      mpc_orbits: ss.orbit,
      cutoutDifference: null,
      cutoutScience: null,
      cutoutTemplate: null,
    };
  }

  /** Bring a DIASource up to the APDB state at the current time, and record what changed. */
  #show(state: _SourceState, alertDiaSourceId: bigint): LsstDiaSource {
    const events = state.events;
    if (events !== null) {
      while (state.nextEvent < events.length) {
        const event = events[state.nextEvent] as _ApdbEvent;
        if (event.mjd > this.#mjd) break;
        state.nextEvent++;
        if (event.ssObjectId !== state.record.ssObjectId) {
          state.record = { ...state.record, ssObjectId: event.ssObjectId };
        }
      }
    }
    if (this.#collect) {
      const now = state.record.ssObjectId as bigint;
      const last = state.shown;
      if (last === undefined) {
        this.#newSources++;
      } else if (last !== now) {
        this.#detections.push({
          diaSourceId: state.record.diaSourceId as bigint,
          reason: last === 0n
            ? "new_association"
            : now === 0n
            ? "association_removed"
            : "changed_association",
          oldSsObjectId: last === 0n ? null : last,
          newSsObjectId: now === 0n ? null : now,
          alertDiaSourceId,
        });
      }
      state.shown = now;
    }
    return state.record;
  }

  /** Decide at emission what the APDB will later do to this DIASource. */
  #schedule(mjd: number): _ApdbEvent[] | null {
    const random = this.#random;
    if (random.next() >= this.#settings.reassociationShare) return null;
    // Links come from daytime solar-system processing: from the next day on.
    let when = mjd + 0.3 + random.next() * 1.2;
    let ss = random.int(SS_OBJECTS);
    const events: _ApdbEvent[] = [{ mjd: when, ssObjectId: _ssObjectId(ss) }];
    if (random.next() < CHANGE_SHARE) {
      when += 0.3 + random.next() * 1.7;
      ss = (ss + 1 + random.int(SS_OBJECTS - 1)) % SS_OBJECTS;
      events.push({ mjd: when, ssObjectId: _ssObjectId(ss) });
    }
    if (random.next() < REMOVE_SHARE) {
      when += 0.3 + random.next() * 1.7;
      events.push({ mjd: when, ssObjectId: 0n });
    }
    return events;
  }

  #pickObject(): _DiaObject {
    const random = this.#random;
    const objects = this.#objects;
    if (objects.length > 0 && random.next() >= NEW_OBJECT_SHARE) {
      const object = objects[random.int(objects.length)] as _DiaObject;
      // One DIASource per object per visit.
      if (object.lastVisit !== this.#visitSeq) return object;
    }
    if (objects.length >= MAX_ACTIVE_OBJECTS) {
      this.#retire(objects[random.int(objects.length)] as _DiaObject);
    }
    return this.#newObject();
  }

  #newObject(): _DiaObject {
    const random = this.#random;
    const ra = random.next() * 360;
    // Rubin's sky: uniform on the sphere from the south pole to +10°.
    const dec = Math.asin(-1 + random.next() * (1 + Math.sin(10 * DEG))) / DEG;
    const object: _DiaObject = {
      id: 0n,
      ra,
      dec,
      flux: (random.next() < 0.5 ? -1 : 1) * (1500 + 30000 * random.next() ** 3),
      extendedness: random.next() < 0.7 ? 0.02 : 0.9,
      sources: [],
      forcedRecords: [],
      nDiaSources: 0,
      firstMjd: this.#mjd,
      lastVisit: -1,
      // Lifetimes in detections: mostly short transients, a tail of long-lived variables.
      remaining: 2 + Math.floor(-Math.log(1 - random.next()) * 12),
      slot: this.#objects.length,
      ndata: [0, 0, 0, 0, 0, 0],
      fluxSum: [0, 0, 0, 0, 0, 0],
    };
    if (random.next() < PREEXISTING_SHARE) {
      // One to three detections spaced over the month before, oldest first.
      const times = new Array<number>(1 + random.int(3));
      let time = this.#mjd;
      for (let i = times.length - 1; i >= 0; i--) times[i] = time -= 2 + random.next() * 8;
      for (const [i, mjd] of times.entries()) {
        const bandIndex = random.int(BANDS.length);
        this.#nextEarlierId += BigInt(1 + random.int(256));
        const id = this.#nextEarlierId;
        const record: LsstDiaSource = {
          ...this.#diaSourceRecord(object, { id, band: BANDS[bandIndex] ?? "r" }),
          midpointMjdTai: mjd,
          timeProcessedMjdTai: mjd + PROCESSING_DELAY,
          visit: BigInt(_dayObs(mjd) * 100000 + 1 + random.int(800)),
        };
        if (i === 0) object.firstMjd = mjd;
        object.sources.push({
          record,
          events: this.#schedule(mjd),
          nextEvent: 0,
          shown: undefined,
        });
        object.nDiaSources++;
        object.ndata[bandIndex]!++;
        object.fluxSum[bandIndex]! += record.psfFlux as number;
      }
      while (object.sources.length > this.#settings.historyLimit) object.sources.shift();
    }
    this.#objects.push(object);
    return object;
  }

  #retire(object: _DiaObject): void {
    const objects = this.#objects;
    const last = objects.pop() as _DiaObject;
    if (last !== object) {
      objects[object.slot] = last;
      last.slot = object.slot;
    }
    object.slot = -1;
  }

  #newSourceId(): bigint {
    // Real ids rise with time, with gaps.
    return this.#nextSourceId += BigInt(1 + this.#random.int(256));
  }

  #diaSourceRecord(object: _DiaObject, which: { id: bigint; band: string }): LsstDiaSource {
    const { id, band } = which;
    const random = this.#random;
    // A DIAObject is named after its first DIASource, as in Rubin's association.
    if (object.id === 0n) object.id = id;
    const ra = object.ra +
      random.normal() * 0.05 / 3600 / Math.max(0.05, Math.cos(object.dec * DEG));
    const dec = object.dec + random.normal() * 0.05 / 3600;
    const flux = object.flux * (0.6 + random.next() * 0.8);
    const fluxErr = 300 + random.next() * 500;
    // Real alerts often carry NaN extendedness; keep some so consumers handle it.
    const extendedness = random.next() < 0.05
      ? NaN
      : Math.fround(Math.min(1, Math.max(0, object.extendedness + random.normal() * 0.05)));
    return this.#sourceRecord(id, {
      ra,
      dec,
      band,
      flux,
      fluxErr,
      diaObjectId: object.id,
      ssObjectId: 0n,
      extendedness,
    });
  }

  /** A complete DIASource record, built in one spread of the template. */
  #sourceRecord(id: bigint, shape: _SourceShape): LsstDiaSource {
    const random = this.#random;
    const { ra, dec, flux, fluxErr } = shape;
    const science = Math.abs(flux) * (2 + random.next() * 8);
    const bbox = 20 + random.int(40);
    const seeing = 0.25 + random.next() * 0.1;
    return {
      ...DIA_SOURCE_TEMPLATE,
      diaSourceId: id,
      visit: this.#visit,
      detector: random.int(DETECTORS),
      diaObjectId: shape.diaObjectId,
      ssObjectId: shape.ssObjectId,
      midpointMjdTai: this.#mjd,
      ra,
      raErr: Math.fround(5e-6 + random.next() * 1e-5),
      dec,
      decErr: Math.fround(5e-6 + random.next() * 1e-5),
      ra_dec_Cov: Math.fround(random.normal() * 1e-11),
      x: Math.fround(random.next() * 4072),
      xErr: Math.fround(0.05 + random.next() * 0.2),
      y: Math.fround(random.next() * 4000),
      yErr: Math.fround(0.05 + random.next() * 0.2),
      apFlux: Math.fround(flux * 0.95),
      apFluxErr: Math.fround(fluxErr * 1.6),
      isNegative: flux < 0,
      snr: Math.fround(Math.abs(flux) / fluxErr),
      psfFlux: Math.fround(flux),
      psfFluxErr: Math.fround(fluxErr),
      psfChi2: Math.fround(bbox * bbox * (0.8 + random.next() * 0.6)),
      psfNdata: bbox * bbox,
      scienceFlux: Math.fround(science),
      scienceFluxErr: Math.fround(fluxErr * 1.02),
      templateFlux: Math.fround(science - flux),
      templateFluxErr: Math.fround(20 + random.next() * 20),
      ixx: Math.fround(seeing),
      iyy: Math.fround(seeing * (0.9 + random.next() * 0.2)),
      ixy: Math.fround(random.normal() * 0.02),
      ixxPSF: Math.fround(seeing),
      iyyPSF: Math.fround(seeing),
      ixyPSF: Math.fround(random.normal() * 0.005),
      extendedness: shape.extendedness,
      reliability: Math.fround(0.5 + random.next() * 0.5),
      band: shape.band,
      timeProcessedMjdTai: this.#mjd + PROCESSING_DELAY,
      bboxSize: bbox,
    };
  }

  #forcedSource(object: _DiaObject, band: string): Record<string, unknown> {
    const random = this.#random;
    const flux = object.flux * (0.5 + random.next());
    return {
      ...DIA_FORCED_SOURCE_TEMPLATE,
      diaForcedSourceId: this.#nextForcedId += BigInt(1 + random.int(256)),
      diaObjectId: object.id,
      ra: object.ra,
      dec: object.dec,
      visit: this.#visit,
      detector: random.int(DETECTORS),
      psfFlux: Math.fround(flux),
      psfFluxErr: Math.fround(300 + random.next() * 500),
      midpointMjdTai: this.#mjd,
      scienceFlux: Math.fround(Math.abs(flux) * 4),
      scienceFluxErr: Math.fround(500),
      band,
      timeProcessedMjdTai: this.#mjd + PROCESSING_DELAY,
    };
  }

  #diaObjectRecord(object: _DiaObject): Record<string, unknown> {
    const { ndata, fluxSum } = object;
    const mean = (b: number): number | null =>
      (ndata[b] as number) > 0 ? Math.fround((fluxSum[b] as number) / (ndata[b] as number)) : null;
    return {
      ...DIA_OBJECT_TEMPLATE,
      diaObjectId: object.id,
      validityStartMjdTai: this.#mjd + PROCESSING_DELAY,
      ra: object.ra,
      raErr: Math.fround(1e-5),
      dec: object.dec,
      decErr: Math.fround(1e-5),
      u_psfFluxMean: mean(0),
      u_psfFluxNdata: ndata[0],
      g_psfFluxMean: mean(1),
      g_psfFluxNdata: ndata[1],
      r_psfFluxMean: mean(2),
      r_psfFluxNdata: ndata[2],
      i_psfFluxMean: mean(3),
      i_psfFluxNdata: ndata[3],
      z_psfFluxMean: mean(4),
      z_psfFluxNdata: ndata[4],
      y_psfFluxMean: mean(5),
      y_psfFluxNdata: ndata[5],
      firstDiaSourceMjdTai: object.firstMjd,
      lastDiaSourceMjdTai: this.#mjd,
      nDiaSources: object.nDiaSources,
    };
  }

  #ssObject(k: number): _SsObject {
    const cached = this.#ssObjects[k];
    if (cached !== undefined) return cached;
    // Its own generator: an SSObject's orbit does not depend on when it is first seen.
    const random = new MockRandom(mixSeed(this.#seedState ^ 0x5f3759df, k));
    const halfMonth = "ABCDEFGHJKLMNOPQRSTUVWXY"[k % 24] ?? "A";
    const second = "ABCDEFGHJKLMNOPQRSTUVWXYZ"[Math.floor(k / 24) % 25] ?? "A";
    const cycle = Math.floor(k / 600);
    const designation = `2025 ${halfMonth}${second}${cycle === 0 ? "" : cycle}`;
    const packed = `K25${halfMonth}${String(cycle).padStart(2, "0")}${second}`;
    const a = 2.1 + random.next() * 1.2;
    const e = random.next() * 0.25;
    const h = 16 + random.next() * 6;
    const ss: _SsObject = {
      id: _ssObjectId(k),
      designation,
      h,
      orbit: Object.freeze({
        ...MPC_ORBITS_TEMPLATE,
        id: 1_000_000 + k,
        designation,
        packed_primary_provisional_designation: packed,
        unpacked_primary_provisional_designation: designation,
        orbit_type_int: 10,
        nopp: 1,
        arc_length_total: 5 + random.next() * 60,
        nobs_total: 10 + random.int(200),
        a,
        q: a * (1 - e),
        e,
        i: random.next() * 20,
        node: random.next() * 360,
        argperi: random.next() * 360,
        peri_time: 60500 + random.next() * 1500,
        mean_anomaly: random.next() * 360,
        period: 365.25 * a ** 1.5,
        mean_motion: 360 / (365.25 * a ** 1.5),
        epoch_mjd: 61000,
        h,
        g: 0.15,
        normalized_rms: 0.5 + random.next(),
      }),
    };
    this.#ssObjects[k] = ss;
    return ss;
  }
}

function _ssObjectId(k: number): bigint {
  return SS_OBJECT_ID_BASE + BigInt(k) * 7_919n;
}

/** Rubin's observing day: the UTC−12h date, as a number YYYYMMDD. */
function _dayObs(mjd: number): number {
  const date = new Date((mjd - 0.5 - 40587) * 86_400_000);
  return date.getUTCFullYear() * 10000 + (date.getUTCMonth() + 1) * 100 + date.getUTCDate();
}

function _eclipticToEquatorial(lambda: number, beta: number): [number, number] {
  const l = lambda * DEG;
  const b = beta * DEG;
  const sinDec = Math.sin(b) * Math.cos(OBLIQUITY) +
    Math.cos(b) * Math.sin(OBLIQUITY) * Math.sin(l);
  const y = Math.sin(l) * Math.cos(OBLIQUITY) - Math.tan(b) * Math.sin(OBLIQUITY);
  const ra = (Math.atan2(y, Math.cos(l)) / DEG + 360) % 360;
  return [ra, Math.asin(sinDec) / DEG];
}

/** ICRS → galactic with the standard rotation (pole RA 192.85948°, Dec 27.12825°). */
function _equatorialToGalactic(ra: number, dec: number): [number, number] {
  const poleRa = 192.85948 * DEG;
  const poleDec = 27.12825 * DEG;
  const lNcp = 122.93192;
  const r = ra * DEG;
  const d = dec * DEG;
  const sinB = Math.sin(d) * Math.sin(poleDec) +
    Math.cos(d) * Math.cos(poleDec) * Math.cos(r - poleRa);
  const y = Math.cos(d) * Math.sin(r - poleRa);
  const x = Math.sin(d) * Math.cos(poleDec) -
    Math.cos(d) * Math.sin(poleDec) * Math.cos(r - poleRa);
  const lon = ((lNcp - Math.atan2(y, x) / DEG) % 360 + 360) % 360;
  return [lon, Math.asin(sinB) / DEG];
}

// ---------------------------------------------------------------------------------------------
// Cutouts: 30×30 float32 image (nJy), UNCERT variance, 21×21 float64 PSF, as in real alerts.

const CUTOUT_SIZE = 30;
const PSF_SIZE = 21;
const NOISE_TABLE_SIZE = 4096;
const PSF_SIGMA = 2.2;

/** Unit-peak Gaussian at the cutout centre, shared by every cutout. */
const BLOB: Float32Array = Float32Array.from(_gaussian(CUTOUT_SIZE, PSF_SIGMA));
/** Normalised PSF, shared by every cutout (the writer only reads it). */
const PSF: Float64Array = (() => {
  const psf = _gaussian(PSF_SIZE, PSF_SIGMA);
  const sum = psf.reduce((total, value) => total + value, 0);
  return psf.map((value) => value / sum);
})();
/** Precomputed normal deviates: per-pixel Box–Muller would dominate the cutout cost. */
const NOISE: Float32Array = (() => {
  const random = new MockRandom(0x2545f491);
  const table = new Float32Array(NOISE_TABLE_SIZE);
  for (let i = 0; i < NOISE_TABLE_SIZE; i++) table[i] = random.normal();
  return table;
})();

const UNCERT_CARDS: readonly FitsCard[] = Object.freeze([
  { key: "EXTNAME", value: "UNCERT", comment: "extension name" },
  { key: "UTYPE", value: "VarianceUncertainty" },
]);
const PSF_CARDS: readonly FitsCard[] = Object.freeze([
  { key: "EXTNAME", value: "PSFIMAGE", comment: "extension name" },
]);

/** A unit-peak Gaussian centred in a size×size image. */
function _gaussian(size: number, sigma: number): Float64Array {
  const out = new Float64Array(size * size);
  const centre = (size - 1) / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      out[y * size + x] = Math.exp(-((x - centre) ** 2 + (y - centre) ** 2) / (2 * sigma * sigma));
    }
  }
  return out;
}

interface _Cutouts {
  cutoutDifference: Uint8Array;
  cutoutScience: Uint8Array;
  cutoutTemplate: Uint8Array;
}

function _cutouts(random: MockRandom, at: { psfFlux: number; mjd: number }): _Cutouts {
  const { psfFlux, mjd } = at;
  const pixels = CUTOUT_SIZE * CUTOUT_SIZE;
  const sigma = 150 + random.next() * 100;
  // Peak of a Gaussian holding psfFlux in total.
  const peak = psfFlux / (2 * Math.PI * PSF_SIGMA * PSF_SIGMA);
  const host = Math.abs(peak) * (1 + random.next() * 4);
  const difference = new Float32Array(pixels);
  const template = new Float32Array(pixels);
  const science = new Float32Array(pixels);
  const variance = new Float32Array(pixels);
  let a = random.uint32();
  let b = random.uint32();
  const strideA = (random.uint32() | 1) & (NOISE_TABLE_SIZE - 1) | 1;
  const strideB = (random.uint32() | 1) & (NOISE_TABLE_SIZE - 1) | 1;
  for (let i = 0; i < pixels; i++) {
    const blob = BLOB[i] as number;
    const noiseA = (NOISE[a & (NOISE_TABLE_SIZE - 1)] as number) * sigma;
    const noiseB = (NOISE[b & (NOISE_TABLE_SIZE - 1)] as number) * sigma * 0.3;
    a += strideA;
    b += strideB;
    template[i] = host * blob + noiseB;
    science[i] = host * blob + peak * blob + noiseA;
    difference[i] = peak * blob + noiseA - noiseB;
    variance[i] = sigma * sigma * 1.09;
  }
  const image = (data: Float32Array): Uint8Array => {
    const bytes = encodeFits([
      {
        width: CUTOUT_SIZE,
        height: CUTOUT_SIZE,
        data,
        cards: [
          { key: "BUNIT", value: "nJy", comment: "pixel unit" },
          { key: "MJD-OBS", value: mjd, comment: "observation midpoint (MJD TAI)" },
        ],
      },
      { width: CUTOUT_SIZE, height: CUTOUT_SIZE, data: variance, cards: UNCERT_CARDS },
      { width: PSF_SIZE, height: PSF_SIZE, data: PSF, cards: PSF_CARDS },
    ]);
    // avsc encodes `bytes` only from Buffers; a view keeps it copy-free.
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  return {
    cutoutDifference: image(difference),
    cutoutScience: image(science),
    cutoutTemplate: image(template),
  };
}

// ---------------------------------------------------------------------------------------------
// Templates: every field of the lsst.v11_0 records, in schema order. Nullable fields default to
// null and flags to false, as in real alerts; records are built by spreading a template and
// overriding the simulated fields, which keeps one hidden class per record type.

const DIA_SOURCE_TEMPLATE = {
  diaSourceId: 0n,
  visit: 0n,
  detector: 0,
  diaObjectId: null,
  ssObjectId: 0n,
  parentDiaSourceId: 0n,
  midpointMjdTai: 0,
  ra: 0,
  raErr: null,
  dec: 0,
  decErr: null,
  ra_dec_Cov: null,
  x: 0,
  xErr: null,
  y: 0,
  yErr: null,
  centroid_flag: false,
  apFlux: null,
  apFluxErr: null,
  apFlux_flag: false,
  apFlux_flag_apertureTruncated: false,
  isNegative: false,
  snr: null,
  psfFlux: null,
  psfFluxErr: null,
  psfLnL: null,
  psfChi2: null,
  psfNdata: 0,
  psfFlux_flag: false,
  psfFlux_flag_edge: false,
  psfFlux_flag_noGoodPixels: false,
  trailFlux: null,
  trailFluxErr: null,
  trailRa: null,
  trailRaErr: null,
  trailDec: null,
  trailDecErr: null,
  trailLength: null,
  trailLengthErr: null,
  trailAngle: null,
  trailAngleErr: null,
  trailChi2: null,
  trailNdata: 0,
  trail_flag_edge: false,
  dipoleMeanFlux: null,
  dipoleMeanFluxErr: null,
  dipoleFluxDiff: null,
  dipoleFluxDiffErr: null,
  dipoleLength: null,
  dipoleAngle: null,
  dipoleChi2: null,
  dipoleNdata: 0,
  scienceFlux: null,
  scienceFluxErr: null,
  forced_PsfFlux_flag: false,
  forced_PsfFlux_flag_edge: false,
  forced_PsfFlux_flag_noGoodPixels: false,
  templateFlux: null,
  templateFluxErr: null,
  ixx: null,
  iyy: null,
  ixy: null,
  ixxPSF: null,
  iyyPSF: null,
  ixyPSF: null,
  shape_flag: false,
  shape_flag_no_pixels: false,
  shape_flag_not_contained: false,
  shape_flag_parent_source: false,
  extendedness: null,
  reliability: null,
  band: null,
  isDipole: false,
  dipoleFitAttempted: false,
  timeProcessedMjdTai: 0,
  timeWithdrawnMjdTai: null,
  bboxSize: 0,
  pixelFlags: false,
  pixelFlags_bad: false,
  pixelFlags_cr: false,
  pixelFlags_crCenter: false,
  pixelFlags_edge: false,
  pixelFlags_nodata: false,
  pixelFlags_nodataCenter: false,
  pixelFlags_interpolated: false,
  pixelFlags_interpolatedCenter: false,
  pixelFlags_offimage: false,
  pixelFlags_saturated: false,
  pixelFlags_saturatedCenter: false,
  pixelFlags_suspect: false,
  pixelFlags_suspectCenter: false,
  pixelFlags_streak: false,
  pixelFlags_streakCenter: false,
  pixelFlags_injected: false,
  pixelFlags_injectedCenter: false,
  pixelFlags_injected_template: false,
  pixelFlags_injected_templateCenter: false,
  glint_trail: false,
};

const DIA_OBJECT_TEMPLATE = {
  diaObjectId: 0n,
  validityStartMjdTai: 0,
  ra: 0,
  raErr: null,
  dec: 0,
  decErr: null,
  ra_dec_Cov: null,
  u_psfFluxMean: null,
  u_psfFluxMeanErr: null,
  u_psfFluxSigma: null,
  u_psfFluxNdata: 0,
  u_fpFluxMean: null,
  u_fpFluxMeanErr: null,
  g_psfFluxMean: null,
  g_psfFluxMeanErr: null,
  g_psfFluxSigma: null,
  g_psfFluxNdata: 0,
  g_fpFluxMean: null,
  g_fpFluxMeanErr: null,
  r_psfFluxMean: null,
  r_psfFluxMeanErr: null,
  r_psfFluxSigma: null,
  r_psfFluxNdata: 0,
  r_fpFluxMean: null,
  r_fpFluxMeanErr: null,
  i_psfFluxMean: null,
  i_psfFluxMeanErr: null,
  i_psfFluxSigma: null,
  i_psfFluxNdata: 0,
  i_fpFluxMean: null,
  i_fpFluxMeanErr: null,
  z_psfFluxMean: null,
  z_psfFluxMeanErr: null,
  z_psfFluxSigma: null,
  z_psfFluxNdata: 0,
  z_fpFluxMean: null,
  z_fpFluxMeanErr: null,
  y_psfFluxMean: null,
  y_psfFluxMeanErr: null,
  y_psfFluxSigma: null,
  y_psfFluxNdata: 0,
  y_fpFluxMean: null,
  y_fpFluxMeanErr: null,
  u_scienceFluxMean: null,
  u_scienceFluxMeanErr: null,
  g_scienceFluxMean: null,
  g_scienceFluxMeanErr: null,
  r_scienceFluxMean: null,
  r_scienceFluxMeanErr: null,
  i_scienceFluxMean: null,
  i_scienceFluxMeanErr: null,
  z_scienceFluxMean: null,
  z_scienceFluxMeanErr: null,
  y_scienceFluxMean: null,
  y_scienceFluxMeanErr: null,
  u_psfFluxMin: null,
  u_psfFluxMax: null,
  u_psfFluxMaxSlope: null,
  u_psfFluxErrMean: null,
  g_psfFluxMin: null,
  g_psfFluxMax: null,
  g_psfFluxMaxSlope: null,
  g_psfFluxErrMean: null,
  r_psfFluxMin: null,
  r_psfFluxMax: null,
  r_psfFluxMaxSlope: null,
  r_psfFluxErrMean: null,
  i_psfFluxMin: null,
  i_psfFluxMax: null,
  i_psfFluxMaxSlope: null,
  i_psfFluxErrMean: null,
  z_psfFluxMin: null,
  z_psfFluxMax: null,
  z_psfFluxMaxSlope: null,
  z_psfFluxErrMean: null,
  y_psfFluxMin: null,
  y_psfFluxMax: null,
  y_psfFluxMaxSlope: null,
  y_psfFluxErrMean: null,
  firstDiaSourceMjdTai: null,
  lastDiaSourceMjdTai: null,
  nDiaSources: 0,
};

const DIA_FORCED_SOURCE_TEMPLATE = {
  diaForcedSourceId: 0n,
  diaObjectId: 0n,
  ra: 0,
  dec: 0,
  visit: 0n,
  detector: 0,
  psfFlux: null,
  psfFluxErr: null,
  midpointMjdTai: 0,
  scienceFlux: null,
  scienceFluxErr: null,
  band: null,
  timeProcessedMjdTai: 0,
  timeWithdrawnMjdTai: null,
};

const SS_SOURCE_TEMPLATE = {
  diaSourceId: 0n,
  ssObjectId: 0n,
  designation: null,
  eclLambda: 0,
  eclBeta: 0,
  galLon: 0,
  galLat: 0,
  elongation: null,
  phaseAngle: null,
  topoRange: null,
  topoRangeRate: null,
  helioRange: null,
  helioRangeRate: null,
  ephRa: null,
  ephDec: null,
  ephVmag: null,
  ephRate: null,
  ephRateRa: null,
  ephRateDec: null,
  ephOffset: null,
  ephOffsetRa: null,
  ephOffsetDec: null,
  ephOffsetAlongTrack: null,
  ephOffsetCrossTrack: null,
  helio_x: null,
  helio_y: null,
  helio_z: null,
  helio_vx: null,
  helio_vy: null,
  helio_vz: null,
  helio_vtot: null,
  topo_x: null,
  topo_y: null,
  topo_z: null,
  topo_vx: null,
  topo_vy: null,
  topo_vz: null,
  topo_vtot: null,
  diaDistanceRank: null,
};

const MPC_ORBITS_TEMPLATE = {
  id: 0,
  designation: "",
  packed_primary_provisional_designation: "",
  unpacked_primary_provisional_designation: "",
  mpc_orb_jsonb: null,
  created_at: null,
  updated_at: null,
  orbit_type_int: null,
  u_param: null,
  nopp: null,
  arc_length_total: null,
  arc_length_sel: null,
  nobs_total: null,
  nobs_total_sel: null,
  a: null,
  q: null,
  e: null,
  i: null,
  node: null,
  argperi: null,
  peri_time: null,
  yarkovsky: null,
  srp: null,
  a1: null,
  a2: null,
  a3: null,
  dt: null,
  mean_anomaly: null,
  period: null,
  mean_motion: null,
  a_unc: null,
  q_unc: null,
  e_unc: null,
  i_unc: null,
  node_unc: null,
  argperi_unc: null,
  peri_time_unc: null,
  yarkovsky_unc: null,
  srp_unc: null,
  a1_unc: null,
  a2_unc: null,
  a3_unc: null,
  dt_unc: null,
  mean_anomaly_unc: null,
  period_unc: null,
  mean_motion_unc: null,
  epoch_mjd: null,
  h: null,
  g: null,
  not_normalized_rms: null,
  normalized_rms: null,
  earth_moid: null,
  fitting_datetime: null,
};
