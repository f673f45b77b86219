/**
 * The cutout step of storing a batch: each new alert's cutout files are written (and synced)
 * before the batch that points at them commits.
 *
 * @module
 */

import type { CutoutProcessor } from "../cutouts/cutout_processor.ts";
import type { DecodedAlert } from "../sources/alert_source.ts";
import type { QuarantineEntry, Storage } from "../storage/storage.ts";
import type { CutoutPaths } from "../model/cutout_paths.ts";
import type { StoredAlert } from "../model/stored_alert.ts";

/** Options of {@linkcode writeAlertCutouts}. */
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

/**
 * Write the cutout files of a batch's new alerts. Files first, rows second: a stored row never
 * points at a file that was not written, even after a power loss (the files and their folders
 * are synced before the batch commits).
 *
 * @param decoded The batch's alerts.
 * @param quarantine Receives a row for each cutout that cannot be written.
 * @param options Processor, storage, payloads and source names.
 * @returns The alerts to store, with their cutout paths.
 */
export async function writeAlertCutouts(
  decoded: readonly DecodedAlert[],
  quarantine: QuarantineEntry[],
  options: CutoutStepOptions,
): Promise<StoredAlert[]> {
  const { processor, storage, keepRaw, sourceOf } = options;
  if (processor === null) {
    return decoded.map(({ alert, cutoutPaths, raw }) => ({
      alert,
      cutouts: cutoutPaths ?? NO_CUTOUTS,
      raw: keepRaw ? raw ?? null : null,
    }));
  }
  const known = await storage.knownAlertIds(decoded.map((d) => d.alert.diaSourceId));
  const stored = await Promise.all(decoded.map(async (item): Promise<StoredAlert> => {
    const { alert, cursor } = item;
    const given = item.cutoutPaths ?? NO_CUTOUTS;
    const raw = keepRaw ? item.raw ?? null : null;
    if (known.has(alert.diaSourceId)) return { alert, cutouts: given, raw };
    const result = await processor.process(alert);
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
  }));
  await processor.sync();
  return stored;
}
