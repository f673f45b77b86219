/**
 * Cutouts as PNG images for the viewer: the FITS file ingest wrote (only ever read from inside
 * the cutouts folder, symbolic links resolved first), else the cutout inside the packet kept
 * with `--keep-raw`, rendered with a zscale, asinh or linear stretch.
 *
 * @module
 */

import { readFile, realpath } from "node:fs/promises";
import { sep } from "node:path";
import { gunzipSync } from "node:zlib";
import type { CutoutPaths } from "../model/cutout_paths.ts";
import { rawAlertRecord } from "../formats/raw_alert.ts";
import { type CutoutStretch, renderCutoutPng } from "../cutouts/cutout_image.ts";
import type { AlertCatalog } from "../storage/alert_catalog.ts";
import { HttpError } from "./_http.ts";

/** The three cutouts of an alert. */
export type CutoutKind = keyof CutoutPaths;

/** The cutout kinds, for validating a URL. */
export const CUTOUT_KINDS: readonly CutoutKind[] = ["science", "template", "difference"];

/** The stretches, for validating a URL. */
export const STRETCHES: readonly CutoutStretch[] = ["zscale", "asinh", "linear"];

// A gzipped cutout (ZTF) larger than this once decompressed is refused, as ingest does.
const MAX_FITS_BYTES = 64 * 1024 * 1024;

/** Renders an alert's cutouts, reading files only from inside one folder. */
export class CutoutImages {
  #catalog: AlertCatalog;
  #root: Promise<string | null>;

  /**
   * @param catalog Where the alerts' cutout paths and kept packets are.
   * @param cutoutsDir The folder cutout files may be read from.
   */
  constructor(catalog: AlertCatalog, cutoutsDir: string) {
    this.#catalog = catalog;
    // A folder that does not exist (yet) serves no file; kept packets still render.
    this.#root = realpath(cutoutsDir).catch(() => null);
  }

  /**
   * One cutout of an alert as a PNG.
   *
   * @param diaSourceId The alert.
   * @param kind Which cutout.
   * @param stretch How pixel values map to grey levels.
   * @returns The PNG bytes.
   * @throws {HttpError} 404 when the alert, or this cutout of it, is not stored.
   */
  async png(diaSourceId: bigint, kind: CutoutKind, stretch: CutoutStretch): Promise<Uint8Array> {
    const fits = await this.fits(diaSourceId, kind);
    try {
      return renderCutoutPng(fits, { stretch });
    } catch (error) {
      throw new HttpError(
        404,
        `The ${kind} cutout of alert ${diaSourceId} cannot be shown: ${(error as Error).message}`,
      );
    }
  }

  /**
   * One cutout of an alert as FITS bytes: its file, else its kept packet's.
   *
   * @param diaSourceId The alert.
   * @param kind Which cutout.
   * @returns The FITS bytes (decompressed).
   * @throws {HttpError} 404 when the alert, or this cutout of it, is not stored.
   */
  async fits(diaSourceId: bigint, kind: CutoutKind): Promise<Uint8Array> {
    const paths = await this.#catalog.cutoutFiles(diaSourceId);
    if (paths === null) throw new HttpError(404, `Alert ${diaSourceId} is not stored`);
    const path = paths[kind];
    if (path !== null) {
      const bytes = await this.#readInside(path);
      if (bytes !== null) return bytes;
    }
    const raw = await this.#catalog.rawAlert(diaSourceId);
    const field = kind === "science"
      ? "cutoutScience"
      : kind === "template"
      ? "cutoutTemplate"
      : "cutoutDifference";
    const bytes = raw === null ? null : rawAlertRecord(raw)[field];
    if (bytes === null || bytes === undefined || bytes.length === 0) {
      throw new HttpError(404, `Alert ${diaSourceId} has no ${kind} cutout`);
    }
    // ZTF's cutouts are gzipped FITS.
    return bytes[0] === 0x1f && bytes[1] === 0x8b
      ? gunzipSync(bytes, { maxOutputLength: MAX_FITS_BYTES })
      : bytes;
  }

  // The file, when it resolves to a place inside the cutouts folder and can be read.
  async #readInside(path: string): Promise<Uint8Array | null> {
    const root = await this.#root;
    if (root === null) return null;
    let resolved: string;
    try {
      resolved = await realpath(path);
    } catch {
      return null;
    }
    if (!resolved.startsWith(root + sep)) return null;
    try {
      return await readFile(resolved);
    } catch {
      return null;
    }
  }
}
