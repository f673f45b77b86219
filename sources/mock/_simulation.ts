/**
 * The mock's simulated sky: nights of visits, recurring DIAObjects whose DIASources pile up in
 * later alerts' histories, solar-system alerts with their SSObjects' orbits, and a simulated
 * APDB that links, relinks and unlinks DIASources over time. Apart from `MockSource` so that
 * the source's contract (options, cursors, resume) reads on its own, and so the model of the sky
 * can change without touching it.
 *
 * The alerts draw from one seeded generator in a fixed order (SSObject orbits and cutouts from
 * generators of their own), so reordering any draw here changes every later alert of every seed.
 *
 * @module
 */

import { REASSOCIATION_REASONS, type ReassociationReason } from "../../model/alert_record.ts";
import type { LsstAlertPacket, LsstDiaSource } from "../../formats/lsst_packet.ts";
import { mixSeed, MockRandom, seedState } from "./_mock_random.ts";
import {
  DIA_FORCED_SOURCE_TEMPLATE,
  DIA_OBJECT_TEMPLATE,
  DIA_SOURCE_TEMPLATE,
  MPC_ORBITS_TEMPLATE,
  SS_SOURCE_TEMPLATE,
} from "./_packet_templates.ts";
import { drawCutouts } from "./_stamps.ts";
// Type-only and erased at run time: the ground truth is part of the source's public contract,
// so its types are documented beside MockSource.
import type { MockDetection, MockGroundTruth } from "./mock_source.ts";

/** The options of `MockSource`, checked and with defaults filled in. */
export interface SimulationSettings {
  /** Alerts in the stream. */
  count: number;
  /** Seed of every generator. */
  seed: number;
  /** Start of the first night (MJD TAI). */
  startMjd: number;
  /** Share of DIA DIASources the simulated APDB later links to an SSObject. */
  reassociationShare: number;
  /** Share of solar-system alerts. */
  solarSystemShare: number;
  /** Whether `MockSource` attaches cutouts when not told; {@linkcode Simulation.next} is told. */
  cutouts: boolean;
  /** Most earlier DIASources an alert carries. */
  historyLimit: number;
}

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

/** Options of the {@linkcode Simulation} constructor. */
export interface SimulationOptions {
  /** Record the reassociations an in-order pass must detect. Default `false`. */
  collectTruth?: boolean;
}

/** Options of {@linkcode Simulation.next}. */
export interface SimulationNextOptions {
  /**
   * Attach the three cutouts. Default `false`. Either way the rest of the stream is the same:
   * cutouts draw from a generator of their own.
   */
  cutouts?: boolean;
}

/**
 * One pass over the simulated stream, alert by alert. Each pass starts from the seed, so
 * packets, alerts and the ground truth each run their own.
 *
 * @example
 * ```ts
 * import { Simulation } from "./_simulation.ts";
 * const settings = {
 *   count: 10,
 *   seed: 42,
 *   startMjd: 61000,
 *   reassociationShare: 0.05,
 *   solarSystemShare: 0.03,
 *   cutouts: false,
 *   historyLimit: 30,
 * };
 * const simulation = new Simulation(settings, { collectTruth: true });
 * for (let i = 0; i < settings.count; i++) simulation.next();
 * simulation.truth().alerts; // 10
 * ```
 */
export class Simulation {
  #settings: SimulationSettings;
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

  /**
   * Start a pass at the first alert.
   *
   * @param settings The stream to simulate.
   * @param options `collectTruth`: record what the tracker must find, for
   * {@linkcode Simulation.truth}.
   * Default `false`: packet passes skip that bookkeeping.
   */
  constructor(settings: SimulationSettings, options: SimulationOptions = {}) {
    this.#settings = settings;
    this.#seedState = seedState(settings.seed);
    this.#random = new MockRandom(this.#seedState);
    this.#collect = options.collectTruth ?? false;
    // Seed-dependent id ranges, so streams of different seeds can share one database.
    const offset = BigInt(this.#seedState % 1_000_000) * 10_000_000_000n;
    this.#nextSourceId = DIA_SOURCE_ID_BASE + offset;
    this.#nextEarlierId = EARLIER_SOURCE_ID_BASE + offset;
    this.#nextForcedId = FORCED_SOURCE_ID_BASE + offset;
  }

  /**
   * Simulate the next alert.
   *
   * @param options Whether to attach the three cutouts.
   * @returns The alert's v11.0 packet.
   */
  next(options: SimulationNextOptions = {}): LsstAlertPacket {
    if (this.#alertsLeft === 0) this.#nextVisit();
    this.#alertsLeft--;
    const index = this.#index++;
    const random = this.#random;
    const packet = random.next() < this.#settings.solarSystemShare
      ? this.#solarSystemAlert()
      : this.#diaAlert();
    if (!options.cutouts) return packet;
    const cutouts = drawCutouts(new MockRandom(mixSeed(this.#seedState, index)), {
      psfFlux: packet.diaSource.psfFlux ?? 0,
      mjd: this.#mjd,
    });
    return { ...packet, ...cutouts };
  }

  /**
   * What an in-order pass over the alerts simulated so far must find. Call it once, at the end:
   * it freezes the collected detections.
   *
   * @returns The ground truth, frozen; without `collectTruth`, empty but for the alert count.
   */
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
