import assert from "node:assert/strict";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { decode } from "fast-png";
import { avroBytesAt, boomCutouts, indexesOf } from "../tests/_fixtures.ts";
import { fixturesDir, pythonWith, run, testWith, withTempDir } from "../tests/_support.ts";
import { rubinShapedFits } from "../tests/_fits_sample.ts";
import {
  type CutoutPixels,
  cutoutPixels,
  type CutoutStretch,
  renderCutoutPng,
  renderPixelsPng,
  zscaleLimits,
  type ZscaleOptions,
} from "./cutout_image.ts";
import { readFits } from "./fits_reader.ts";
import { encodeFits, FITS_BLOCK, type FitsImage, type FitsPixels } from "./fits_writer.ts";

const FIXTURES = fixturesDir();
const PYTHON = pythonWith("astropy");
const STRETCHES: readonly CutoutStretch[] = ["zscale", "asinh", "linear"];

/** A seeded generator of standard normal deviates (mulberry32 and Box–Muller). */
function normals(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Background noise (mean 100, sigma 10) and a Gaussian star (peak 5000) off the centre. */
function starField(width: number, height: number, seed: number): Float64Array {
  const gauss = normals(seed);
  const values = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const r2 = (x - width * 0.6) ** 2 + (y - height * 0.4) ** 2;
      values[y * width + x] = 100 + 10 * gauss() + 5000 * Math.exp(-r2 / (2 * 1.5 ** 2));
    }
  }
  return values;
}

/** A file whose primary HDU is empty (`NAXIS = 0`), followed by these images as extensions. */
function withEmptyPrimary(images: FitsImage[]): Uint8Array {
  const primary = new Uint8Array(FITS_BLOCK).fill(0x20);
  const cards = ["SIMPLE  =                    T", "BITPIX  =                    8"]
    .concat(["NAXIS   =                    0", "EXTEND  =                    T", "END"]);
  cards.forEach((card, i) => primary.set(new TextEncoder().encode(card), i * 80));
  // encodeFits always writes a primary image; its extensions are what we keep.
  const bytes = encodeFits([{ width: 1, height: 1, data: new Uint8Array(1) }, ...images]);
  const rest = bytes.subarray(readFits(bytes)[1]?.headerOffset ?? bytes.length);
  const out = new Uint8Array(primary.length + rest.length);
  out.set(primary);
  out.set(rest, primary.length);
  return out;
}

function fits(width: number, height: number, data: FitsPixels): Uint8Array {
  return encodeFits([{ width, height, data }]);
}

/** The decoded grey levels, checking the PNG's shape on the way. */
function grey(png: Uint8Array, width: number, height: number): Uint8Array {
  const image = decode(png);
  assert.equal(image.width, width);
  assert.equal(image.height, height);
  assert.equal(image.channels, 1);
  assert.equal(image.depth, 8);
  assert.ok(image.data instanceof Uint8Array);
  assert.equal(image.data.length, width * height);
  return image.data;
}

/** What each stretch should draw, from the documented formulas. */
function expectedGrey(pixels: CutoutPixels, stretch: CutoutStretch): Uint8Array {
  const finite = pixels.values.filter(Number.isFinite);
  const max = finite.reduce((a, b) => Math.max(a, b), -Infinity);
  const min = finite.reduce((a, b) => Math.min(a, b), Infinity);
  const zscale = zscaleLimits(pixels.values);
  const [low, high] = stretch === "linear"
    ? [min, max]
    : stretch === "zscale"
    ? [zscale.low, zscale.high]
    : [zscale.low, max];
  const out = new Uint8Array(pixels.values.length);
  for (let y = 0; y < pixels.height; y++) {
    for (let x = 0; x < pixels.width; x++) {
      const value = pixels.values[y * pixels.width + x]!;
      if (!Number.isFinite(value)) continue;
      let unit = Math.min(1, Math.max(0, (value - low) / (high - low)));
      if (stretch === "asinh") unit = Math.asinh(unit / 0.1) / Math.asinh(1 / 0.1);
      out[(pixels.height - 1 - y) * pixels.width + x] = Math.round(unit * 255);
    }
  }
  return out;
}

Deno.test("renderCutoutPng() returns a PNG of the image's size with one 8-bit channel", () => {
  const values = starField(63, 45, 1);
  for (const stretch of [undefined, ...STRETCHES]) {
    const png = renderCutoutPng(
      fits(63, 45, Float32Array.from(values)),
      stretch === undefined ? {} : { stretch },
    );
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    grey(png, 63, 45);
  }
});

Deno.test("renderCutoutPng() puts FITS row 0 in the PNG's last row (north up)", () => {
  // Brightness grows with the FITS row, so the PNG must darken from top to bottom.
  const width = 5;
  const height = 4;
  const data = Float32Array.from({ length: width * height }, (_, i) => Math.floor(i / width));
  data[2] = 10; // One bright pixel in FITS row 0, column 2.
  const out = grey(renderCutoutPng(fits(width, height, data), { stretch: "linear" }), 5, 4);
  const at = (row: number, col: number) => out[row * width + col];
  assert.equal(at(height - 1, 2), 255);
  assert.deepEqual([0, 1, 3, 4].map((col) => at(height - 1, col)), [0, 0, 0, 0]);
  assert.deepEqual([0, 1, 2].map((row) => at(row, 0)), [77, 51, 26]);
});

Deno.test("renderCutoutPng() maps values to grey levels as each stretch documents", () => {
  const values = starField(40, 30, 2);
  values[7] = NaN;
  values[500] = -Infinity;
  const bytes = fits(40, 30, Float32Array.from(values));
  const pixels = cutoutPixels(bytes);
  for (const stretch of STRETCHES) {
    assert.deepEqual(
      grey(renderCutoutPng(bytes, { stretch }), 40, 30),
      expectedGrey(pixels, stretch),
      stretch,
    );
  }
});

Deno.test("renderCutoutPng() linear stretch maps a 0..255 ramp to the same grey levels", () => {
  const ramp = Float64Array.from({ length: 256 }, (_, i) => i);
  const out = grey(
    renderPixelsPng({ width: 16, height: 16, values: ramp }, { stretch: "linear" }),
    16,
    16,
  );
  // Flipped: the PNG's first row is the ramp's last.
  for (let row = 0; row < 16; row++) {
    assert.deepEqual([...out.subarray(row * 16, row * 16 + 16)], [
      ...ramp.subarray((15 - row) * 16, (16 - row) * 16),
    ]);
  }
});

Deno.test("renderCutoutPng() gives different pictures for the three stretches", () => {
  const bytes = fits(63, 63, Float32Array.from(starField(63, 63, 3)));
  const [zscale, asinh, linear] = STRETCHES.map((stretch) =>
    grey(renderCutoutPng(bytes, { stretch }), 63, 63)
  );
  assert.notDeepEqual(zscale, asinh);
  assert.notDeepEqual(zscale, linear);
  assert.notDeepEqual(asinh, linear);
  // The zscale limits lie inside the star field's range: more pixels saturate than in linear.
  const white = (image: Uint8Array | undefined) => image!.filter((v) => v === 255).length;
  assert.ok(white(zscale) > white(linear), `${white(zscale)} <= ${white(linear)}`);
});

Deno.test("renderCutoutPng() draws NaN and infinite pixels black in every stretch", () => {
  const data = new Float32Array(8 * 6).fill(100);
  data[0] = 0;
  data[47] = 200;
  data[9] = NaN;
  data[20] = Infinity;
  data[21] = -Infinity;
  for (const stretch of STRETCHES) {
    const out = grey(renderCutoutPng(fits(8, 6, data), { stretch }), 8, 6);
    // FITS (row, col) sits at PNG (5 - row, col).
    const at = (index: number) => out[(5 - Math.floor(index / 8)) * 8 + (index % 8)];
    assert.deepEqual([9, 20, 21].map(at), [0, 0, 0], stretch);
    assert.ok(at(47)! > 0, `${stretch}: the brightest pixel is drawn`);
  }
});

Deno.test("renderCutoutPng() draws a constant image mid-grey and an all-NaN image black", () => {
  const constant = new Float32Array(12).fill(42);
  constant[5] = NaN;
  const nan = new Float32Array(12).fill(NaN);
  for (const stretch of STRETCHES) {
    const out = grey(renderCutoutPng(fits(4, 3, constant), { stretch }), 4, 3);
    // FITS index 5 is row 1, column 1: PNG row 1.
    assert.deepEqual([...out], [128, 128, 128, 128, 128, 0, 128, 128, 128, 128, 128, 128]);
    assert.deepEqual(
      [...grey(renderCutoutPng(fits(4, 3, nan), { stretch }), 4, 3)],
      Array(12).fill(0),
    );
  }
});

Deno.test("cutoutPixels() applies BZERO and BSCALE and turns BLANK into NaN", () => {
  const int16 = encodeFits([{
    width: 3,
    height: 2,
    data: Int16Array.of(-32768, -1, 0, 32767, 99, 7),
    cards: [{ key: "BZERO", value: 32768 }, { key: "BLANK", value: 99 }],
  }]);
  assert.deepEqual(cutoutPixels(int16), {
    width: 3,
    height: 2,
    values: Float64Array.of(0, 32767, 32768, 65535, NaN, 32775),
  });
  const int32 = encodeFits([{
    width: 2,
    height: 2,
    data: Int32Array.of(-4, 0, 3, 1 << 30),
    cards: [{ key: "BSCALE", value: 0.5 }, { key: "BZERO", value: -10 }],
  }]);
  assert.deepEqual(cutoutPixels(int32).values, Float64Array.of(-12, -10, -8.5, 2 ** 29 - 10));
  // BLANK has no meaning for floating-point data, whose missing pixels are NaN already.
  const float = encodeFits([{
    width: 2,
    height: 1,
    data: Float32Array.of(99, NaN),
    cards: [{ key: "BLANK", value: 99 }, { key: "BZERO", value: 1 }],
  }]);
  assert.deepEqual(cutoutPixels(float).values, Float64Array.of(100, NaN));
  // Signed bytes, as FITS stores them.
  const int8 = encodeFits([{
    width: 2,
    height: 1,
    data: Uint8Array.of(0, 255),
    cards: [{ key: "BZERO", value: -128 }],
  }]);
  assert.deepEqual(cutoutPixels(int8).values, Float64Array.of(-128, 127));
});

Deno.test("renderCutoutPng() draws BLANK pixels of an integer image black", () => {
  const data = Int16Array.from({ length: 12 }, (_, i) => i * 1000 - 6000);
  data[4] = -32768;
  const bytes = encodeFits([{
    width: 4,
    height: 3,
    data,
    cards: [{ key: "BZERO", value: 32768 }, { key: "BLANK", value: -32768 }],
  }]);
  const out = grey(renderCutoutPng(bytes, { stretch: "linear" }), 4, 3);
  // Linear from 26768 to 37768. Were BLANK ignored, its pixel (0 after BZERO) would be the
  // minimum and FITS pixel 0 would be grey 181.
  assert.deepEqual([...out.subarray(4, 8)], [0, 116, 139, 162]); // FITS row 1, BLANK first.
  assert.deepEqual([...out.subarray(8, 12)], [0, 23, 46, 70]); // FITS row 0.
});

Deno.test("cutoutPixels() finds the image in an extension after an empty primary HDU", () => {
  const science = Float32Array.from({ length: 20 }, (_, i) => i - 3.5);
  const bytes = withEmptyPrimary([
    { width: 5, height: 4, data: science, cards: [{ key: "EXTNAME", value: "IMAGE" }] },
    {
      width: 5,
      height: 4,
      data: new Int32Array(20).fill(7),
      cards: [{ key: "EXTNAME", value: "MASK" }],
    },
    {
      width: 5,
      height: 4,
      data: new Float32Array(20).fill(2),
      cards: [{ key: "EXTNAME", value: "VARIANCE" }],
    },
  ]);
  assert.deepEqual(readFits(bytes).map((hdu) => hdu.naxis.length), [0, 2, 2, 2]);
  assert.deepEqual(cutoutPixels(bytes), {
    width: 5,
    height: 4,
    values: Float64Array.from(science),
  });
  const out = grey(renderCutoutPng(bytes, { stretch: "linear" }), 5, 4);
  assert.equal(out[15], 0); // FITS pixel 0, the minimum, in the PNG's last row.
  assert.equal(out[4], 255); // FITS pixel 19, the maximum, in the PNG's first row.
});

Deno.test("cutoutPixels() takes the first image of a Rubin-shaped file, not its extensions", () => {
  const pixels = cutoutPixels(rubinShapedFits());
  assert.deepEqual(pixels, {
    width: 4,
    height: 3,
    values: Float64Array.from({ length: 12 }, (_, i) => i - 5.5),
  });
});

Deno.test("cutoutPixels() and renderCutoutPng() name what is wrong with bad input", () => {
  const text = new TextEncoder().encode("not a FITS file at all".padEnd(FITS_BLOCK));
  assert.throws(() => renderCutoutPng(text), {
    name: "RangeError",
    message: "Not a FITS file: first card is not SIMPLE = T",
  });
  assert.throws(() => renderCutoutPng(new Uint8Array(0)), /Not a FITS file: the input is empty/);
  const good = fits(63, 63, new Float32Array(63 * 63));
  assert.throws(() => cutoutPixels(good.subarray(0, good.length - 100)), /not a multiple of 2880/);
  assert.throws(
    () => cutoutPixels(good.subarray(0, good.length - FITS_BLOCK)),
    {
      name: "RangeError",
      message: "Invalid FITS HDU 0: its data of 15876 bytes runs past the end of the file",
    },
  );

  const headerOnly = withEmptyPrimary([]).subarray(0, FITS_BLOCK);
  assert.throws(() => cutoutPixels(headerOnly), {
    name: "RangeError",
    message: "No 2-D image in the FITS file: HDU 0 has no data",
  });
  // A 2x3x1 cube: NAXIS (card 3) becomes 3 and NAXIS3 takes the END card's place after NAXIS2.
  const cube = fits(2, 3, new Float32Array(6));
  const ascii = new TextEncoder();
  cube.set(ascii.encode("NAXIS   =                    3"), 2 * 80);
  cube.set(ascii.encode("NAXIS3  =                    1"), 5 * 80);
  cube.set(ascii.encode("END"), 6 * 80);
  assert.throws(() => cutoutPixels(cube), /No 2-D image in the FITS file: HDU 0 has NAXIS = 3/);

  const badScale = encodeFits([{
    width: 1,
    height: 1,
    data: new Int16Array(1),
    cards: [{ key: "BSCALE", value: "two" }],
  }]);
  assert.throws(() => cutoutPixels(badScale), {
    name: "RangeError",
    message: 'BSCALE in FITS HDU 0 is "two", expected a number',
  });
  assert.throws(
    () => renderPixelsPng({ width: 3, height: 3, values: new Float64Array(8) }),
    { name: "RangeError", message: "Cannot render a 3x3 cutout from 8 values" },
  );
  assert.throws(
    () => renderCutoutPng(good, { stretch: "log" as CutoutStretch }),
    { name: "RangeError", message: 'Unknown stretch "log": expected zscale, asinh or linear' },
  );
});

Deno.test("zscaleLimits() rejects bad options and input without finite values", () => {
  assert.throws(() => zscaleLimits([NaN, Infinity]), {
    name: "RangeError",
    message: "Cannot compute zscale limits: no value is finite",
  });
  const bad: [ZscaleOptions, string][] = [
    [{ nSamples: 0 }, 'Invalid zscale option nSamples "0": expected an integer >= 1'],
    [
      { contrast: 0 },
      'Invalid zscale option contrast "0": expected a number above 0 and at most 1',
    ],
    [{ maxReject: 1.5 }, 'Invalid zscale option maxReject "1.5": expected a number from 0 to 1'],
    [{ minNpixels: 1 }, 'Invalid zscale option minNpixels "1": expected an integer >= 2'],
    [{ krej: NaN }, 'Invalid zscale option krej "NaN": expected a positive number'],
    [{ maxIterations: 0 }, 'Invalid zscale option maxIterations "0": expected an integer >= 1'],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => zscaleLimits([1, 2, 3], options), { name: "RangeError", message });
  }
});

Deno.test("zscaleLimits() falls back to the minimum and maximum of a tiny sample", () => {
  assert.deepEqual(zscaleLimits([3, NaN, -1, 8]), { low: -1, high: 8 });
  assert.deepEqual(zscaleLimits([5]), { low: 5, high: 5 });
});

Deno.test("zscaleLimits() gives an exactly flat sky equal limits, whatever its outliers", () => {
  // astropy's least squares leaves residuals of about 1e-14 here and its k-sigma rejection,
  // scaled to them, rejects samples until it falls back to the full range [50, 100000]. Our
  // fit of a flat run is exact: nothing is rejected and the limits are the sky's value.
  const values = new Float64Array(100 * 100).fill(50);
  for (let i = 0; i < values.length; i += 331) values[i] = i % 2 === 0 ? 1e5 : -1e4;
  assert.deepEqual(zscaleLimits(values), { low: 50, high: 50 });
  // Drawn: the sky grey, the hot pixels white and the cold ones black.
  const out = grey(renderPixelsPng({ width: 100, height: 100, values }), 100, 100);
  const at = (index: number) => out[(99 - Math.floor(index / 100)) * 100 + (index % 100)];
  assert.deepEqual([at(1), at(0), at(331)], [128, 255, 0]);
});

/** One array for the comparison with astropy. */
interface ZscaleCase {
  name: string;
  values: Float64Array;
  options: ZscaleOptions;
  /**
   * Whether the limits are the sample's minimum and maximum: the fallback when the fit rejects
   * too much, or a fit so steep it is clamped at both ends. Not checked when undefined.
   */
  wholeRange?: boolean;
}

function zscaleCases(): ZscaleCase[] {
  // Enough masked pixels (a third) that the sampling stride over the finite ones (6) is not
  // the stride over all of them (9).
  const withNans = starField(99, 99, 5);
  for (let i = 0; i < 99 * 30; i++) withNans[i] = NaN; // Masked rows at the bottom.
  for (let i = 3000; i < withNans.length; i += 37) withNans[i] = NaN;
  withNans[5000] = Infinity;
  withNans[5001] = -Infinity;
  // Exactly flat samples are compared below without astropy, which rejects rounding noise.
  const gauss = normals(11);
  const flat = Float64Array.from({ length: 100 * 100 }, () => 50 + 0.5 * gauss());
  for (let i = 0; i < flat.length; i += 331) flat[i] = i % 2 === 0 ? 1e5 : -1e4;
  const noisyFlat = starField(100, 100, 6).map((v, i) => i % 251 === 0 ? 1e6 : v);
  const twoValued = Float64Array.from({ length: 900 }, (_, i) => (i % 3 === 0 ? 0 : 1000));
  return [
    {
      name: "noise and a star, 63x63",
      values: starField(63, 63, 4),
      options: {},
      wholeRange: false,
    },
    {
      name: "noise and a star, 31x29 (an odd number of samples, fewer than nSamples)",
      values: starField(31, 29, 7),
      options: {},
      wholeRange: false,
    },
    { name: "a flat image with outliers", values: flat, options: {}, wholeRange: false },
    { name: "a noisy image with outliers", values: noisyFlat, options: {}, wholeRange: false },
    { name: "an image with NaNs and infinities", values: withNans, options: {}, wholeRange: false },
    {
      name: "a two-valued image (a fit clamped at both ends)",
      values: twoValued,
      options: {},
      wholeRange: true,
    },
    {
      name: "other options",
      values: starField(100, 100, 8),
      options: {
        nSamples: 600,
        contrast: 0.5,
        maxReject: 0.3,
        minNpixels: 10,
        krej: 1.5,
        maxIterations: 3,
      },
      wholeRange: false,
    },
    {
      name: "a fit that may reject only 1% (the fallback)",
      values: starField(63, 63, 10),
      options: { maxReject: 0.99 },
      wholeRange: true,
    },
  ];
}

const ZSCALE_SCRIPT = `
import json, sys
import numpy as np
from astropy.visualization import ZScaleInterval
names = {"nSamples": "n_samples", "contrast": "contrast", "maxReject": "max_reject",
         "minNpixels": "min_npixels", "krej": "krej", "maxIterations": "max_iterations"}
out = []
for case in json.loads(sys.argv[1]):
    values = np.fromfile(case["path"], dtype="<f8")
    options = {names[k]: v for k, v in case["options"].items()}
    interval = ZScaleInterval(**options)
    low, high = interval.get_limits(values)
    # The sample as astropy takes it, to tell its fallback from a fitted interval.
    finite = values[np.isfinite(values)]
    sample = finite[::int(max(1.0, finite.size / interval.n_samples))][:interval.n_samples]
    out.append([float(low), float(high), float(sample.min()), float(sample.max())])
print(json.dumps(out))
`;

/** astropy's limits and sample range for each array, passed bit for bit as float64 files. */
async function astropyLimits(cases: readonly ZscaleCase[]): Promise<number[][]> {
  return await withTempDir("cutout-image-test-", async (dir) => {
    const args = await Promise.all(cases.map(async ({ values, options }, i) => {
      const path = join(dir, `case${i}.f8`);
      const little = new Uint8Array(values.length * 8);
      const view = new DataView(little.buffer);
      values.forEach((value, j) => view.setFloat64(j * 8, value, true));
      await Deno.writeFile(path, little);
      return { path, options };
    }));
    const { code, stdout, stderr } = await run(PYTHON!, [
      "-c",
      ZSCALE_SCRIPT,
      JSON.stringify(args),
    ]);
    assert.equal(code, 0, stderr);
    return JSON.parse(stdout);
  });
}

// Both sides sample the same values (the same finite pixels at the same stride), so only the
// least-squares arithmetic differs: numpy solves through a scaled SVD, we through centred sums.
// On these arrays they agree to 2e-16 of the sample's range; the tolerance, 1e-12, leaves room
// for rounding on other platforms, while a different sample, rejection, median or slope would
// move the limits by far more. A sample lying exactly on the rejection threshold could flip;
// none of these arrays has one (an exactly flat run does: see the test above).
function assertClose(actual: number, expected: number, range: number, what: string): void {
  const tolerance = 1e-12 * Math.max(1, range);
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what}: ${actual} differs from astropy's ${expected} by more than ${tolerance}`,
  );
}

async function assertAstropyZscale(cases: readonly ZscaleCase[]): Promise<void> {
  const expected = await astropyLimits(cases);
  cases.forEach(({ name, values, options, wholeRange }, i) => {
    const [low, high, sampleMin, sampleMax] = expected[i]!;
    const ours = zscaleLimits(values, options);
    const range = sampleMax! - sampleMin!;
    assertClose(ours.low, low!, range, `${name}, low`);
    assertClose(ours.high, high!, range, `${name}, high`);
    assert.ok(ours.low <= ours.high, name);
    if (wholeRange !== undefined) {
      assert.equal(low === sampleMin && high === sampleMax, wholeRange, `${name}: whole range`);
    }
  });
}

testWith(PYTHON !== null, "python3-astropy", {
  name: "zscaleLimits() agrees with astropy's ZScaleInterval().get_limits()",
  async fn() {
    await assertAstropyZscale(zscaleCases());
  },
});

testWith(FIXTURES !== null && PYTHON !== null, "the shared fixtures and python3-astropy", {
  name: "zscaleLimits() agrees with astropy on the real Rubin and ZTF cutouts",
  async fn() {
    const cutouts = [...(await boomCutouts()), ...(await ztfCutouts())];
    await assertAstropyZscale(cutouts.map((bytes, i) => ({
      name: `real cutout ${i}`,
      values: cutoutPixels(bytes).values,
      options: {},
    })));
  },
});

testWith(PYTHON !== null, "python3-astropy", {
  name: "cutoutPixels() reads an int16 image with BZERO and BLANK as astropy.io.fits does",
  async fn() {
    const gauss = normals(9);
    const data = Int16Array.from({ length: 40 * 30 }, () => Math.round(3000 * gauss()));
    data[0] = -32768;
    data[1] = 32767;
    data[77] = data[500] = -999;
    const cards = [
      { key: "EXTNAME", value: "IMAGE" },
      { key: "BZERO", value: 32768 },
      { key: "BLANK", value: -999 },
    ];
    const cutout = withEmptyPrimary([{ width: 40, height: 30, data, cards }]);
    await withTempDir("cutout-image-test-", async (dir) => {
      const path = join(dir, "cutout.fits");
      await Deno.writeFile(path, cutout);
      // By default astropy reads int16 with BZERO = 32768 as uint16, which cannot hold NaN, and
      // so leaves BLANK pixels at their value; uint=False gives the float image with NaN that
      // the FITS standard describes (float32 holds these integers exactly).
      const script = "import json, math, sys\nfrom astropy.io import fits\n" +
        "data = fits.open(sys.argv[1], uint=False)[1].data\n" +
        "print(json.dumps([list(data.shape), " +
        "[None if math.isnan(v) else v for v in data.ravel().astype(float).tolist()]]))";
      const { code, stdout, stderr } = await run(PYTHON!, ["-c", script, path]);
      assert.equal(code, 0, stderr);
      const pixels = cutoutPixels(cutout);
      const ours = Array.from(pixels.values, (v) => Number.isNaN(v) ? null : v);
      assert.deepEqual(JSON.parse(stdout), [[pixels.height, pixels.width], ours]);
      assert.deepEqual([ours[0], ours[1], ours[77], ours[500]], [0, 65535, null, null]);
    });
  },
});

/** The three gunzipped 63x63 cutouts of a ZTF alert packet in the shared fixtures. */
async function ztfCutouts(): Promise<Uint8Array[]> {
  const file = await Deno.readFile(join(FIXTURES!, "ztf/472263571115115000.avro"));
  return indexesOf(file, Uint8Array.of(0x1f, 0x8b, 0x08)).map((start) =>
    new Uint8Array(gunzipSync(avroBytesAt(file, start)))
  );
}

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "renderCutoutPng() renders the real Rubin and ZTF cutouts at their size",
  async fn() {
    const cutouts = [
      ...(await boomCutouts()).map((bytes) => ({ bytes, size: 30 })),
      ...(await ztfCutouts()).map((bytes) => ({ bytes, size: 63 })),
    ];
    for (const { bytes, size } of cutouts) {
      for (const stretch of STRETCHES) {
        const out = grey(renderCutoutPng(bytes, { stretch }), size, size);
        // Real noise spreads over many grey levels; zscale, made for it, over most of them.
        const levels = new Set(out).size;
        assert.ok(levels > (stretch === "zscale" ? 100 : 30), `${stretch}: ${levels} grey levels`);
      }
    }
  },
});
