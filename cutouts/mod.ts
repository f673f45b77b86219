/**
 * FITS cutouts: a minimal reader and writer, and the processor that saves alert cutouts.
 *
 * @module
 */

export * from "./cutout_image.ts";
export * from "./cutout_processor.ts";
export * from "./fits_normalizer.ts";
export * from "./fits_reader.ts";
export * from "./fits_writer.ts";
