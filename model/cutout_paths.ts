/**
 * Where an alert's cutout files were written.
 *
 * @module
 */

/** Paths of an alert's written cutout files (`null` = none). */
export interface CutoutPaths {
  /** Science cutout path. */
  science: string | null;
  /** Template cutout path. */
  template: string | null;
  /** Difference cutout path. */
  difference: string | null;
}
