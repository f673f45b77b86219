/**
 * Render an alert cutout to an 8-bit grayscale PNG for the web viewer and notebooks: take the
 * first 2-D image of the FITS file, apply its scaling keywords, choose display limits and
 * stretch the pixels between them.
 *
 * @module
 */

import { encode } from "npm:fast-png@8.0.0";
import { type FitsHdu, fitsImage, readFits } from "./fits_reader.ts";

/** The physical pixel values of a cutout. */
export interface CutoutPixels {
  /** Columns (`NAXIS1`). */
  width: number;
  /** Rows (`NAXIS2`). */
  height: number;
  /**
   * `width * height` values in FITS order: `NAXIS1` varies fastest and row 0 is FITS row 0,
   * the bottom row when displayed north up. Blank pixels are `NaN`.
   */
  values: Float64Array;
}

/**
 * How pixel values become grey levels.
 *
 * - `"zscale"`: linear between the IRAF zscale limits ({@linkcode zscaleLimits}), which show
 *   the noise and faint sources and saturate bright ones.
 * - `"asinh"`: from the zscale low limit to the brightest pixel, through
 *   `asinh(x / 0.1) / asinh(1 / 0.1)`, which keeps faint sources visible while showing the
 *   structure of bright ones.
 * - `"linear"`: linear from the faintest to the brightest pixel.
 */
export type CutoutStretch = "zscale" | "asinh" | "linear";

/** Display limits: values at or below `low` are black, at or above `high` white. */
export interface DisplayLimits {
  /** The value drawn black. */
  low: number;
  /** The value drawn white. */
  high: number;
}

/** Options of {@linkcode zscaleLimits}; the defaults are those of astropy's `ZScaleInterval`. */
export interface ZscaleOptions {
  /** How many finite pixels to sample, evenly spaced in file order. Default `1000`. */
  nSamples?: number;
  /**
   * How much of the fitted slope the limits span, from 0 (excluded) to 1; smaller values give
   * wider limits and less contrast. Default `0.25`.
   */
  contrast?: number;
  /**
   * The largest fraction of the samples the fit may reject (from 0 to 1) before the limits
   * fall back to the sample's minimum and maximum. Default `0.5`.
   */
  maxReject?: number;
  /** The fewest samples, at least 2, the fit must keep, else the same fallback. Default `5`. */
  minNpixels?: number;
  /** Samples further than `krej` standard deviations from the fitted line are rejected. Default `2.5`. */
  krej?: number;
  /** The most rounds of fitting and rejection. Default `5`. */
  maxIterations?: number;
}

/** Options of {@linkcode renderCutoutPng} and {@linkcode renderPixelsPng}. */
export interface RenderCutoutOptions {
  /** How pixel values become grey levels. Default `"zscale"`. */
  stretch?: CutoutStretch;
}

// Lupton-style softening of the asinh stretch: normalised values well below it look linear,
// values well above it logarithmic.
const ASINH_SOFTENING = 0.1;
// Pixels at limits that coincide (all of a constant image): grey, so that they stay
// distinguishable from missing pixels, which are black.
const FLAT_GREY = 128;
const STRETCHES: readonly string[] = ["zscale", "asinh", "linear"];

/**
 * The physical pixel values of the first 2-D image in a FITS file: the first HDU, primary or
 * `IMAGE` extension, with `NAXIS = 2` and both axes non-empty. This finds the image of a ZTF
 * cutout (in the primary HDU), of a Rubin cutout whether its primary HDU is empty or not, and
 * skips the mask and variance planes that follow it.
 *
 * `BSCALE` and `BZERO` are applied; in integer images the stored `BLANK` value becomes `NaN`.
 *
 * @param fits The FITS file.
 * @returns The image's size and values.
 * @throws {RangeError} When the bytes are not FITS or are truncated (the message names the
 * HDU), when no HDU holds a 2-D image, or when `BSCALE`, `BZERO` or `BLANK` is not a number.
 * @example
 * ```ts
 * import { encodeFits } from "./fits_writer.ts";
 * import { cutoutPixels } from "./cutout_image.ts";
 * const fits = encodeFits([{
 *   width: 2,
 *   height: 1,
 *   data: Int16Array.of(-32768, 7),
 *   cards: [{ key: "BZERO", value: 32768 }],
 * }]);
 * cutoutPixels(fits).values; // Float64Array [0, 32775]
 * ```
 */
export function cutoutPixels(fits: Uint8Array): CutoutPixels {
  const hdus = readFits(fits);
  const hdu = hdus.find(_isImage);
  if (hdu === undefined) {
    throw new RangeError(`No 2-D image in the FITS file: ${hdus.map(_whyNotImage).join(", ")}`);
  }
  const [width = 0, height = 0] = hdu.naxis;
  const stored = fitsImage(fits, hdu);
  const scale = _number(hdu, "BSCALE", 1);
  const zero = _number(hdu, "BZERO", 0);
  // The standard defines BLANK for integer data only; floating-point images use NaN.
  const blank = hdu.bitpix > 0 ? _number(hdu, "BLANK", NaN) : NaN;
  if (!Number.isNaN(blank) && !Number.isInteger(blank)) {
    throw new RangeError(`BLANK in FITS HDU ${hdu.index} is "${blank}", expected an integer`);
  }
  const values = new Float64Array(stored.length);
  for (let i = 0; i < stored.length; i++) {
    const value = stored[i]!;
    values[i] = value === blank ? NaN : zero + scale * value;
  }
  return { width, height, values };
}

/**
 * Display limits by the IRAF zscale algorithm, with the conventions of astropy's
 * `ZScaleInterval`: sample at most `nSamples` finite values evenly, sort them, fit a straight
 * line to the sorted samples by least squares while rejecting samples more than `krej`
 * standard deviations from it (and their neighbours, 1% of the samples wide), then take the
 * median plus and minus the line's slope divided by `contrast`, kept within the samples'
 * range. When the fit keeps too few samples the limits are the samples' minimum and maximum.
 *
 * @param values Pixel values in any order; `NaN` and infinities are ignored.
 * @param options Sampling and fitting parameters.
 * @returns The limits, `low <= high`.
 * @throws {RangeError} When no value is finite, or an option is out of range.
 * @example
 * ```ts
 * import { zscaleLimits } from "./cutout_image.ts";
 * zscaleLimits(Float64Array.from({ length: 100 }, (_, i) => i)); // { low: 0, high: 99 }
 * ```
 */
export function zscaleLimits(
  values: ArrayLike<number>,
  options: ZscaleOptions = {},
): DisplayLimits {
  const {
    nSamples = 1000,
    contrast = 0.25,
    maxReject = 0.5,
    minNpixels = 5,
    krej = 2.5,
    maxIterations = 5,
  } = options;
  _check("nSamples", nSamples, Number.isSafeInteger(nSamples) && nSamples >= 1, "an integer >= 1");
  _check("contrast", contrast, contrast > 0 && contrast <= 1, "a number above 0 and at most 1");
  _check("maxReject", maxReject, maxReject >= 0 && maxReject <= 1, "a number from 0 to 1");
  _check(
    "minNpixels",
    minNpixels,
    Number.isSafeInteger(minNpixels) && minNpixels >= 2,
    "an integer >= 2",
  );
  _check("krej", krej, krej > 0 && krej < Infinity, "a positive number");
  _check(
    "maxIterations",
    maxIterations,
    Number.isSafeInteger(maxIterations) && maxIterations >= 1,
    "an integer >= 1",
  );

  const samples = _sample(values, nSamples);
  const count = samples.length;
  if (count === 0) throw new RangeError("Cannot compute zscale limits: no value is finite");
  samples.sort();
  let low = samples[0]!;
  let high = samples[count - 1]!;

  const minKept = Math.max(minNpixels, Math.floor(count * maxReject));
  // Rejected samples take their neighbours with them: outliers come in runs in a sorted array.
  const grow = Math.max(1, Math.floor(count * 0.01));
  let rejected = new Uint8Array(count);
  let grown = new Uint8Array(count);
  let kept = count;
  let keptBefore = count + 1;
  let slope = 0;
  for (let round = 0; round < maxIterations && kept < keptBefore && kept >= minKept; round++) {
    // Least squares on the kept samples, with x centred so the sums stay well conditioned.
    let sumX = 0;
    let sumY = 0;
    for (let i = 0; i < count; i++) {
      if (rejected[i] === 0) {
        sumX += i;
        sumY += samples[i]!;
      }
    }
    const meanX = sumX / kept;
    const meanY = sumY / kept;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < count; i++) {
      if (rejected[i] === 0) {
        const dx = i - meanX;
        sxx += dx * dx;
        sxy += dx * (samples[i]! - meanY);
      }
    }
    slope = sxy / sxx;
    const intercept = meanY - slope * meanX;

    let sumResidual = 0;
    for (let i = 0; i < count; i++) {
      if (rejected[i] === 0) sumResidual += samples[i]! - (intercept + slope * i);
    }
    const meanResidual = sumResidual / kept;
    let sumSquares = 0;
    for (let i = 0; i < count; i++) {
      if (rejected[i] === 0) {
        const d = samples[i]! - (intercept + slope * i) - meanResidual;
        sumSquares += d * d;
      }
    }
    const threshold = krej * Math.sqrt(sumSquares / kept);
    for (let i = 0; i < count; i++) {
      const residual = samples[i]! - (intercept + slope * i);
      if (residual < -threshold || residual > threshold) rejected[i] = 1;
    }

    // Every rejected sample spreads over a window of `grow` samples; for an even length it
    // reaches one further forward than back, as astropy's (a centred convolution) does.
    const ahead = Math.floor(grow / 2);
    const back = grow - 1 - ahead;
    grown.fill(0);
    for (let i = 0; i < count; i++) {
      if (rejected[i] === 0) continue;
      const end = Math.min(count - 1, i + ahead);
      for (let j = Math.max(0, i - back); j <= end; j++) grown[j] = 1;
    }
    [rejected, grown] = [grown, rejected];
    keptBefore = kept;
    kept = 0;
    for (let i = 0; i < count; i++) kept += 1 - rejected[i]!;
  }

  if (kept >= minKept) {
    const half = count >> 1;
    const median = count % 2 === 1 ? samples[half]! : (samples[half - 1]! + samples[half]!) / 2;
    // astropy's 0-based centre with IRAF's 1-based offset: slightly asymmetric, but it is what
    // astropy and the notebooks beside this viewer draw.
    const centre = (count - 1) >> 1;
    const span = slope / contrast;
    low = Math.max(low, median - (centre - 1) * span);
    high = Math.min(high, median + (count - centre) * span);
  }
  return { low, high };
}

/**
 * Render a FITS cutout as an 8-bit grayscale PNG of the same size, north up: the FITS bottom
 * row (row 0) is the PNG's last row. `NaN` and infinite pixels are black. When the limits
 * coincide, as for a constant image or a flat sky with a few hot pixels under zscale, pixels
 * equal to them are mid-grey (128), brighter ones white and fainter ones black: the limit of a
 * stretch whose span shrinks to zero, without dividing by it.
 *
 * @param fits The FITS file; its first 2-D image is drawn (see {@linkcode cutoutPixels}).
 * @param options The stretch.
 * @returns The PNG file.
 * @throws {RangeError} As {@linkcode cutoutPixels} does, or for an unknown stretch.
 * @example
 * ```ts
 * import { encodeFits } from "./fits_writer.ts";
 * import { renderCutoutPng } from "./cutout_image.ts";
 * const fits = encodeFits([{ width: 63, height: 63, data: new Float32Array(63 * 63) }]);
 * const png = renderCutoutPng(fits, { stretch: "asinh" });
 * png.subarray(1, 4); // "PNG" in ASCII
 * ```
 */
export function renderCutoutPng(fits: Uint8Array, options: RenderCutoutOptions = {}): Uint8Array {
  return renderPixelsPng(cutoutPixels(fits), options);
}

/**
 * Render pixel values as an 8-bit grayscale PNG, as {@linkcode renderCutoutPng} does: for
 * callers that already hold the values (a notebook that masked or combined cutouts).
 *
 * @param pixels The size and values, row 0 at the bottom.
 * @param options The stretch.
 * @returns The PNG file.
 * @throws {RangeError} When the size does not match the number of values, or for an unknown
 * stretch.
 * @example
 * ```ts
 * import { renderPixelsPng } from "./cutout_image.ts";
 * const values = Float64Array.of(0, 1, 2, NaN);
 * const png = renderPixelsPng({ width: 2, height: 2, values }, { stretch: "linear" });
 * png.length > 0; // true
 * ```
 */
export function renderPixelsPng(
  pixels: CutoutPixels,
  options: RenderCutoutOptions = {},
): Uint8Array {
  const { width, height, values } = pixels;
  if (
    !Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1 ||
    values.length !== width * height
  ) {
    throw new RangeError(`Cannot render a ${width}x${height} cutout from ${values.length} values`);
  }
  const stretch = options.stretch ?? "zscale";
  if (!STRETCHES.includes(stretch)) {
    throw new RangeError(`Unknown stretch "${stretch}": expected zscale, asinh or linear`);
  }
  const grey = new Uint8Array(width * height);
  const limits = _limits(values, stretch);
  if (limits !== null) _paint(values, width, height, limits, stretch === "asinh", grey);
  return encode({ width, height, data: grey, channels: 1, depth: 8 });
}

// Null when no pixel is finite: the image is all black.
function _limits(values: Float64Array, stretch: CutoutStretch): DisplayLimits | null {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (value < min) min = value;
    if (value > max) max = value;
  }
  // NaN fails both comparisons, so only infinities can leave min or max non-finite; rare enough
  // to pay for a second pass.
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = Infinity;
    max = -Infinity;
    for (let i = 0; i < values.length; i++) {
      const value = values[i]!;
      if (Number.isFinite(value)) {
        if (value < min) min = value;
        if (value > max) max = value;
      }
    }
    if (min > max) return null;
  }
  if (stretch === "linear") return { low: min, high: max };
  const zscale = zscaleLimits(values);
  return stretch === "zscale" ? zscale : { low: zscale.low, high: max };
}

function _paint(
  values: Float64Array,
  width: number,
  height: number,
  limits: DisplayLimits,
  asinh: boolean,
  out: Uint8Array,
): void {
  // Halved so that the span of two finite doubles cannot overflow to Infinity.
  const lowHalf = limits.low / 2;
  const spanHalf = limits.high / 2 - lowHalf;
  const flat = !(spanHalf > 0);
  const toUnit = 1 / spanHalf;
  const asinhScale = 1 / Math.asinh(1 / ASINH_SOFTENING);
  for (let row = 0; row < height; row++) {
    // PNG rows run top to bottom, FITS rows bottom to top.
    const from = (height - 1 - row) * width;
    const to = row * width;
    for (let col = 0; col < width; col++) {
      const value = values[from + col]!;
      if (!Number.isFinite(value)) continue;
      if (flat) {
        out[to + col] = value > limits.high ? 255 : value < limits.low ? 0 : FLAT_GREY;
        continue;
      }
      let unit = (value / 2 - lowHalf) * toUnit;
      if (unit <= 0) continue;
      if (unit > 1) unit = 1;
      if (asinh) unit = Math.asinh(unit / ASINH_SOFTENING) * asinhScale;
      out[to + col] = Math.round(unit * 255);
    }
  }
}

// Every finite value, then every stride-th one of those, as astropy's ZScaleInterval samples.
function _sample(values: ArrayLike<number>, nSamples: number): Float64Array {
  let finite = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) finite++;
  const stride = Math.max(1, Math.floor(finite / nSamples));
  const samples = new Float64Array(Math.min(nSamples, Math.ceil(finite / stride)));
  let seen = 0;
  let taken = 0;
  for (let i = 0; i < values.length && taken < samples.length; i++) {
    const value = values[i]!;
    if (!Number.isFinite(value)) continue;
    if (seen % stride === 0) samples[taken++] = value;
    seen++;
  }
  return samples;
}

function _isImage(hdu: FitsHdu): boolean {
  return (hdu.xtension === null || hdu.xtension === "IMAGE") && hdu.naxis.length === 2 &&
    hdu.naxis[0]! > 0 && hdu.naxis[1]! > 0;
}

function _whyNotImage(hdu: FitsHdu): string {
  if (hdu.xtension !== null && hdu.xtension !== "IMAGE") {
    return `HDU ${hdu.index} is a "${hdu.xtension}" extension`;
  }
  if (hdu.naxis.length === 0 || hdu.naxis.includes(0)) return `HDU ${hdu.index} has no data`;
  return `HDU ${hdu.index} has NAXIS = ${hdu.naxis.length}`;
}

function _number(hdu: FitsHdu, key: string, fallback: number): number {
  const value = hdu.header.get(key);
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new RangeError(`${key} in FITS HDU ${hdu.index} is "${value}", expected a number`);
  }
  return value;
}

function _check(name: string, value: number, ok: boolean, expected: string): void {
  if (!ok) throw new RangeError(`Invalid zscale option ${name} "${value}": expected ${expected}`);
}
