/**
 * lsst-extendedness: ingest Rubin (LSST) alerts into SQLite, track every DIASource across
 * observations, detect reassociations with solar-system objects, and save the FITS cutouts.
 *
 * Sources yield alerts with their cursors; the pipeline writes cutout files, then stores each
 * batch with its cursors in one transaction; the tracker applies the reassociation rules to the
 * triggering DIASource and every history entry of each alert.
 *
 * @example
 * ```ts
 * import { CutoutProcessor, ingest, MockSource, SQLiteStorage } from "@lsst-ext/cli";
 *
 * await using storage = new SQLiteStorage("data/alerts.db");
 * await using source = new MockSource({ count: 1000, seed: 1 });
 * const run = await ingest(source, storage, {
 *   cutouts: new CutoutProcessor({ outputDir: "data/cutouts" }),
 * });
 * console.log(run.status, run.alertsIngested, run.reassociationsDetected);
 * ```
 *
 * @module
 */

export * from "./model/mod.ts";
export * from "./avro/mod.ts";
export * from "./formats/mod.ts";
export * from "./tracking/mod.ts";
export * from "./cutouts/mod.ts";
export * from "./storage/mod.ts";
export * from "./sources/mod.ts";
export * from "./pipeline/mod.ts";
export * from "./viewer/mod.ts";
