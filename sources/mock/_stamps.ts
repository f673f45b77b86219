/**
 * The mock's FITS cutouts: a 30×30 float32 image (nJy), its UNCERT variance and a 21×21 float64
 * PSF, the three HDUs of a real Rubin cutout, around a Gaussian source of the alert's flux.
 * Apart from the simulation because it is the costly part of a mock alert and draws from its
 * own generator: whether cutouts are made never changes the rest of the stream.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { encodeFits, type FitsCard } from "../../cutouts/fits_writer.ts";
import { MockRandom } from "./_mock_random.ts";

const CUTOUT_SIZE = 30;
const PSF_SIZE = 21;
const NOISE_TABLE_SIZE = 4096;
const PSF_SIGMA = 2.2;

/** Unit-peak Gaussian at the cutout centre, shared by every cutout. */
const BLOB: Float32Array = Float32Array.from(_gaussian(CUTOUT_SIZE, PSF_SIGMA));
/** Normalised PSF, shared by every cutout (the writer only reads it). */
const PSF: Float64Array = (() => {
  const psf = _gaussian(PSF_SIZE, PSF_SIGMA);
  const sum = psf.reduce((total, value) => total + value, 0);
  return psf.map((value) => value / sum);
})();
/** Precomputed normal deviates: per-pixel Box–Muller would dominate the cutout cost. */
const NOISE: Float32Array = (() => {
  const random = new MockRandom(0x2545f491);
  const table = new Float32Array(NOISE_TABLE_SIZE);
  for (let i = 0; i < NOISE_TABLE_SIZE; i++) table[i] = random.normal();
  return table;
})();

const UNCERT_CARDS: readonly FitsCard[] = Object.freeze([
  { key: "EXTNAME", value: "UNCERT", comment: "extension name" },
  { key: "UTYPE", value: "VarianceUncertainty" },
]);
const PSF_CARDS: readonly FitsCard[] = Object.freeze([
  { key: "EXTNAME", value: "PSFIMAGE", comment: "extension name" },
]);

/** A unit-peak Gaussian centred in a size×size image. */
function _gaussian(size: number, sigma: number): Float64Array {
  const out = new Float64Array(size * size);
  const centre = (size - 1) / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      out[y * size + x] = Math.exp(-((x - centre) ** 2 + (y - centre) ** 2) / (2 * sigma * sigma));
    }
  }
  return out;
}

/** The three cutouts of one alert, as packet fields. */
export interface Cutouts {
  /** Difference image: the source, with the science noise minus the template noise. */
  cutoutDifference: Uint8Array;
  /** Science image: host, source and noise. */
  cutoutScience: Uint8Array;
  /** Template image: host, and noise at 0.3 of the science image's. */
  cutoutTemplate: Uint8Array;
}

/**
 * Draw the science, template and difference cutouts of one alert.
 *
 * @param random The alert's own generator; it is advanced.
 * @param at The alert's PSF flux (nJy), the total flux of the drawn source, and its MJD.
 * @returns Three 3-HDU FITS files, as Buffers (which avsc can encode).
 * @example
 * ```ts
 * import { drawCutouts } from "./_stamps.ts";
 * import { MockRandom } from "./_mock_random.ts";
 * const { cutoutScience } = drawCutouts(new MockRandom(1), { psfFlux: 5000, mjd: 61000.1 });
 * cutoutScience.length % 2880; // 0
 * ```
 */
export function drawCutouts(random: MockRandom, at: { psfFlux: number; mjd: number }): Cutouts {
  const { psfFlux, mjd } = at;
  const pixels = CUTOUT_SIZE * CUTOUT_SIZE;
  const sigma = 150 + random.next() * 100;
  // Peak of a Gaussian holding psfFlux in total.
  const peak = psfFlux / (2 * Math.PI * PSF_SIGMA * PSF_SIGMA);
  const host = Math.abs(peak) * (1 + random.next() * 4);
  const difference = new Float32Array(pixels);
  const template = new Float32Array(pixels);
  const science = new Float32Array(pixels);
  const variance = new Float32Array(pixels);
  let a = random.uint32();
  let b = random.uint32();
  const strideA = (random.uint32() | 1) & (NOISE_TABLE_SIZE - 1) | 1;
  const strideB = (random.uint32() | 1) & (NOISE_TABLE_SIZE - 1) | 1;
  for (let i = 0; i < pixels; i++) {
    const blob = BLOB[i] as number;
    const noiseA = (NOISE[a & (NOISE_TABLE_SIZE - 1)] as number) * sigma;
    const noiseB = (NOISE[b & (NOISE_TABLE_SIZE - 1)] as number) * sigma * 0.3;
    a += strideA;
    b += strideB;
    template[i] = host * blob + noiseB;
    science[i] = host * blob + peak * blob + noiseA;
    difference[i] = peak * blob + noiseA - noiseB;
    variance[i] = sigma * sigma * 1.09;
  }
  const image = (data: Float32Array): Uint8Array => {
    const bytes = encodeFits([
      {
        width: CUTOUT_SIZE,
        height: CUTOUT_SIZE,
        data,
        cards: [
          { key: "BUNIT", value: "nJy", comment: "pixel unit" },
          { key: "MJD-OBS", value: mjd, comment: "observation midpoint (MJD TAI)" },
        ],
      },
      { width: CUTOUT_SIZE, height: CUTOUT_SIZE, data: variance, cards: UNCERT_CARDS },
      { width: PSF_SIZE, height: PSF_SIZE, data: PSF, cards: PSF_CARDS },
    ]);
    // avsc encodes `bytes` only from Buffers; a view keeps it copy-free.
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  return {
    cutoutDifference: image(difference),
    cutoutScience: image(science),
    cutoutTemplate: image(template),
  };
}
