/**
 * The cutout step of storing a batch: each new alert's cutout files are written (and synced)
 * before the batch that points at them commits, starting as the batch fills.
 *
 * @module
 */

import type { CutoutProcessor, CutoutResult } from "../cutouts/cutout_processor.ts";
import type { DecodedAlert } from "../sources/alert_source.ts";
import type { QuarantineEntry, Storage } from "../storage/storage.ts";
import type { CutoutPaths } from "../model/cutout_paths.ts";
import type { StoredAlert } from "../model/stored_alert.ts";

/** Options of {@linkcode CutoutStep} and {@linkcode writeAlertCutouts}. */
export interface CutoutStepOptions {
  /** Writes the cutouts; `null` writes none. */
  processor: CutoutProcessor | null;
  /** Tells which alerts are already stored (their cutouts were written then). */
  storage: Storage;
  /** Keep each alert's Avro payload. */
  keepRaw: boolean;
  /** The source name of an alert, for the quarantine rows of its bad cutouts. */
  sourceOf: (item: DecodedAlert) => string;
}

const NO_CUTOUTS: CutoutPaths = { science: null, template: null, difference: null };
// Alerts checked against the storage and handed to the processor at once while a batch fills.
const CHUNK = 64;

/** What became of an alert's cutouts: written (or not, with problems), or stored before. */
type _Outcome = CutoutResult | "known";

/**
 * The cutout step of one run: it starts on each alert's cutouts as the alert joins the batch
 * being collected ({@linkcode CutoutStep.add}), so the writer thread works while the source
 * produces the rest of the batch, and {@linkcode CutoutStep.finish} waits for the files, syncs
 * them and returns the alerts to store. Files first, rows second: a stored row never points at
 * a file that was not written, even after a power loss (the files and their folders are synced
 * before the batch commits). The source is still not read past the batch: only the alerts it
 * has handed over are written ahead.
 */
export class CutoutStep {
  #options: CutoutStepOptions;
  #added = new Set<DecodedAlert>();
  #waiting: DecodedAlert[] = [];
  #started: Promise<Map<DecodedAlert, _Outcome>>[] = [];

  /**
   * @param options Processor, storage, payloads and source names.
   */
  constructor(options: CutoutStepOptions) {
    this.#options = options;
  }

  /**
   * Start on the cutouts of an alert that joined the batch.
   *
   * @param item The alert.
   */
  add(item: DecodedAlert): void {
    if (this.#options.processor === null) return;
    this.#added.add(item);
    this.#waiting.push(item);
    if (this.#waiting.length >= CHUNK) this.#start();
  }

  /**
   * Wait for the cutouts of the batch's alerts (writing those not added yet), sync them, and
   * return the alerts to store; the step is then empty for the next batch.
   *
   * @param decoded The batch's alerts.
   * @param quarantine Receives a row for each cutout that cannot be written.
   * @returns The alerts to store, with their cutout paths.
   * @throws The processor's file-system error, once every write of the batch has ended.
   */
  async finish(
    decoded: readonly DecodedAlert[],
    quarantine: QuarantineEntry[],
  ): Promise<StoredAlert[]> {
    const { processor, keepRaw, sourceOf } = this.#options;
    if (processor === null) {
      return decoded.map(({ alert, cutoutPaths, raw }) => ({
        alert,
        cutouts: cutoutPaths ?? NO_CUTOUTS,
        raw: keepRaw ? raw ?? null : null,
      }));
    }
    // Alerts the caller did not add are written now, with the last chunk.
    for (const item of decoded) if (!this.#added.has(item)) this.#waiting.push(item);
    this.#added.clear();
    this.#start();
    const started = this.#started;
    this.#started = [];
    const outcomes = new Map<DecodedAlert, _Outcome>();
    // Every chunk has ended (no write still holds a temporary file) before a failure is thrown.
    for (const settled of await Promise.allSettled(started)) {
      if (settled.status === "rejected") throw settled.reason;
      for (const [item, outcome] of settled.value) outcomes.set(item, outcome);
    }
    const stored = decoded.map((item): StoredAlert => {
      const { alert, cursor } = item;
      const given = item.cutoutPaths ?? NO_CUTOUTS;
      const raw = keepRaw ? item.raw ?? null : null;
      const result = outcomes.get(item);
      if (result === undefined || result === "known") return { alert, cutouts: given, raw };
      for (const problem of result.problems) {
        quarantine.push({
          source: `${sourceOf(item)}:cutout`,
          stream: cursor.stream,
          position: cursor.position,
          error:
            `Cutout "${problem.kind}" of alert ${alert.diaSourceId} is not stored: ${problem.error}`,
          raw: problem.bytes,
        });
      }
      return {
        alert,
        raw,
        cutouts: {
          science: result.science ?? given.science,
          template: result.template ?? given.template,
          difference: result.difference ?? given.difference,
        },
      };
    });
    await processor.sync();
    return stored;
  }

  // Alerts already stored had their cutouts written then: only the others are written.
  #start(): void {
    const items = this.#waiting;
    this.#waiting = [];
    if (items.length === 0) return;
    const { processor, storage } = this.#options;
    const chunk = (async () => {
      const known = await storage.knownAlertIds(items.map((item) => item.alert.diaSourceId));
      const fresh = items.filter((item) => !known.has(item.alert.diaSourceId));
      const results = await processor!.processAll(fresh.map((item) => item.alert));
      const outcomes = new Map<DecodedAlert, _Outcome>(items.map((item) => [item, "known"]));
      for (const [i, item] of fresh.entries()) outcomes.set(item, results[i]!);
      return outcomes;
    })();
    // Thrown by finish(); until then a failed chunk must not count as an unhandled rejection.
    chunk.catch(() => {});
    this.#started.push(chunk);
  }
}

/**
 * Write the cutout files of a batch's new alerts, all at once (see {@linkcode CutoutStep}).
 *
 * @param decoded The batch's alerts.
 * @param quarantine Receives a row for each cutout that cannot be written.
 * @param options Processor, storage, payloads and source names.
 * @returns The alerts to store, with their cutout paths.
 */
export function writeAlertCutouts(
  decoded: readonly DecodedAlert[],
  quarantine: QuarantineEntry[],
  options: CutoutStepOptions,
): Promise<StoredAlert[]> {
  return new CutoutStep(options).finish(decoded, quarantine);
}
