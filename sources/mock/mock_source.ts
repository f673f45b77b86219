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

import type { ReassociationReason } from "../../model/alert_record.ts";
import { AlertParseError } from "../../model/errors.ts";
import type { AlertsOptions, AlertSource, SourcedAlert } from "../alert_source.ts";
import { type LsstAlertPacket, toAlertRecord } from "../../formats/lsst_packet.ts";
import { Simulation, type SimulationSettings } from "./_simulation.ts";

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
  #settings: SimulationSettings;
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
    const settings: SimulationSettings = {
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
    const simulation = new Simulation(this.#settings);
    for (let index = 0; index < this.#settings.count; index++) {
      yield { index, packet: simulation.next({ cutouts }) };
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
    const simulation = new Simulation(this.#settings);
    let yielded = 0;
    for (let index = 0; index < count; index++) {
      if (this.#disposed || signal?.aborted || yielded >= limit) return;
      if (index < first) {
        simulation.next();
        continue;
      }
      const packet = simulation.next({ cutouts });
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
      const simulation = new Simulation(this.#settings, { collectTruth: true });
      for (let index = 0; index < this.#settings.count; index++) simulation.next();
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
