/**
 * A small FITS file shaped like Rubin's cutouts, for the FITS tests: a float32 image with the
 * kinds of cards the reader and the conformance check parse (strings with quotes and leading
 * blanks, empty strings, integers, reals with comments, tiny reals, logicals, commentary), a
 * float32 `UNCERT` extension and a float64 `PSFIMAGE` extension.
 *
 * @module
 */

import { encodeFits } from "../cutouts/fits_writer.ts";

/**
 * The file's bytes, new on each call (tests mutate them).
 *
 * @returns The FITS file.
 */
export function rubinShapedFits(): Uint8Array {
  return encodeFits([
    {
      width: 4,
      height: 3,
      data: Float32Array.from({ length: 12 }, (_, i) => i - 5.5),
      cards: [
        { key: "BUNIT", value: "nJy" },
        { key: "OBSERVER", value: "O'Brien ''quoted''" },
        { key: "LEADING", value: "  two spaces" },
        { key: "EMPTY", value: "" },
        { key: "CUTMINX", value: -739 },
        { key: "PC1_1", value: -4.8390638600464e-05, comment: "a real / with a slash" },
        { key: "TINY", value: 1.25e-300 },
        { key: "FLAGGED", value: false },
        { key: "COMMENT", comment: "  commentary text" },
      ],
    },
    {
      width: 4,
      height: 3,
      data: new Float32Array(12).fill(0.25),
      cards: [{ key: "EXTNAME", value: "UNCERT" }],
    },
    {
      width: 2,
      height: 2,
      data: Float64Array.of(1e-12, -2, 3, Number.MAX_VALUE),
      cards: [{ key: "EXTNAME", value: "PSFIMAGE" }],
    },
  ]);
}
