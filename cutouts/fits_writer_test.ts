import assert from "node:assert/strict";
import { join } from "node:path";
import { FITSVERIFY, pythonWith, run, testWith, withTempDir } from "../tests/_support.ts";
import { fitsImage, readFits } from "./fits_reader.ts";
import { encodeFits, FITS_BLOCK, type FitsImage, formatFitsCard } from "./fits_writer.ts";

const PYTHON = pythonWith("astropy");

// Prints each HDU's name, shape, dtype, valued header keys and every pixel (NaN as null).
const ASTROPY_DUMP = `
import json, math, sys
from astropy.io import fits
out = []
with fits.open(sys.argv[1]) as hdus:
    for hdu in hdus:
        pixels = hdu.data.ravel().astype(float).tolist()
        out.append({
            "name": hdu.name,
            "shape": list(hdu.data.shape),
            "dtype": hdu.data.dtype.str,
            "header": {k: v for k, v in hdu.header.items() if k not in ("", "COMMENT", "HISTORY")},
            "pixels": [None if math.isnan(p) else p for p in pixels],
        })
print(json.dumps(out))
`;

interface AstropyHdu {
  name: string;
  shape: number[];
  dtype: string;
  header: Record<string, string | number | boolean>;
  pixels: (number | null)[];
}

/** A Rubin-like file (float32 image, float32 variance, float64 PSF) plus the integer types. */
function sampleImages(): FitsImage[] {
  const science = Float32Array.from({ length: 30 * 20 }, (_, i) => (i - 300) * 0.37);
  science[7] = NaN;
  return [
    {
      width: 30,
      height: 20,
      data: science,
      cards: [
        { key: "BUNIT", value: "nJy" },
        { key: "CRPIX1", value: 15.232896835594, comment: "Pixel coordinate of reference point" },
        { key: "PC1_1", value: -4.8390638600464e-05 },
        { key: "OBSERVER", value: "O'Brien" },
        { key: "CUTMINX", value: -739 },
        { key: "BIGREAL", value: 1.5e300 },
        { key: "FLAGGED", value: false },
        { key: "COMMENT", comment: "made by fits_writer_test.ts" },
      ],
    },
    {
      width: 30,
      height: 20,
      data: Float32Array.from({ length: 600 }, (_, i) => i / 7),
      cards: [{ key: "EXTNAME", value: "UNCERT", comment: "extension name" }],
    },
    {
      width: 5,
      height: 3,
      data: Float64Array.from({ length: 15 }, (_, i) => Math.sin(i) * 1e-12),
      cards: [{ key: "EXTNAME", value: "PSFIMAGE" }],
    },
    { width: 3, height: 2, data: Int16Array.of(-32768, -1, 0, 1, 2, 32767) },
    { width: 2, height: 2, data: Int32Array.of(-2147483648, -5, 6, 2147483647) },
    { width: 4, height: 1, data: Uint8Array.of(0, 1, 128, 255) },
  ];
}

function withFile(bytes: Uint8Array, use: (path: string) => Promise<void>): Promise<void> {
  return withTempDir("fits-writer-test-", async (dir) => {
    const path = join(dir, "sample.fits");
    await Deno.writeFile(path, bytes);
    await use(path);
  });
}

function nullNaN(pixels: ArrayLike<number>): (number | null)[] {
  return Array.from(pixels, (value) => Number.isNaN(value) ? null : value);
}

Deno.test("encodeFits() output is read back by readFits() with the same structure and pixels", () => {
  const images = sampleImages();
  const bytes = encodeFits(images);
  assert.equal(bytes.length % FITS_BLOCK, 0);
  const hdus = readFits(bytes);
  assert.equal(hdus.length, images.length);
  hdus.forEach((hdu, i) => {
    const image = images[i]!;
    assert.deepEqual(hdu.naxis, [image.width, image.height]);
    assert.equal(hdu.xtension, i === 0 ? null : "IMAGE");
    assert.deepEqual(nullNaN(fitsImage(bytes, hdu)), nullNaN(image.data));
    assert.equal(fitsImage(bytes, hdu).constructor, image.data.constructor);
  });
});

testWith(FITSVERIFY !== null, "fitsverify (Debian package fitsverify)", {
  // -e: the sample carries WCS cards without CTYPE, which (as in real Rubin cutouts) is a warning.
  name: "encodeFits() output passes fitsverify without errors",
  async fn() {
    await withFile(encodeFits(sampleImages()), async (path) => {
      const { code, stdout, stderr } = await run(FITSVERIFY!, ["-q", "-e", path]);
      assert.equal(code, 0, stdout + stderr);
    });
  },
});

testWith(FITSVERIFY !== null, "fitsverify (Debian package fitsverify)", {
  name: "fitsverify rejects a broken file, so it can catch writer bugs",
  async fn() {
    const bytes = encodeFits(sampleImages());
    const end = new TextDecoder().decode(bytes.subarray(0, FITS_BLOCK)).indexOf("END    ");
    bytes.fill(0x20, end, end + 3);
    await withFile(bytes, async (path) => {
      const { code } = await run(FITSVERIFY!, ["-q", "-e", path]);
      assert.notEqual(code, 0);
    });
  },
});

testWith(PYTHON !== null, "python3-astropy", {
  name: "encodeFits() output opens in astropy with the same names, shapes, types, cards and pixels",
  async fn() {
    const images = sampleImages();
    await withFile(encodeFits(images), async (path) => {
      const { code, stdout, stderr } = await run(PYTHON!, ["-c", ASTROPY_DUMP, path]);
      assert.equal(code, 0, stderr);
      const hdus: AstropyHdu[] = JSON.parse(stdout);
      assert.deepEqual(hdus.map((hdu) => hdu.name), [
        "PRIMARY",
        "UNCERT",
        "PSFIMAGE",
        "",
        "",
        "",
      ]);
      assert.deepEqual(hdus.map((hdu) => hdu.dtype), [">f4", ">f4", ">f8", ">i2", ">i4", "|u1"]);
      hdus.forEach((hdu, i) => {
        const image = images[i]!;
        assert.deepEqual(hdu.shape, [image.height, image.width]);
        assert.deepEqual(hdu.pixels, nullNaN(image.data));
      });
      const header = hdus[0]!.header;
      assert.equal(header.BUNIT, "nJy");
      assert.equal(header.CRPIX1, 15.232896835594);
      assert.equal(header.PC1_1, -4.8390638600464e-05);
      assert.equal(header.OBSERVER, "O'Brien");
      assert.equal(header.CUTMINX, -739);
      assert.equal(header.BIGREAL, 1.5e300);
      assert.equal(header.FLAGGED, false);
      assert.equal(header.EXTEND, true);
    });
  },
});

Deno.test("encodeFits() refuses an empty list, a wrong pixel count and an invalid size", () => {
  assert.throws(() => encodeFits([]), RangeError);
  assert.throws(
    () => encodeFits([{ width: 2, height: 2, data: new Float32Array(3) }]),
    /3 pixels for a 2x2 image/,
  );
  assert.throws(
    () => encodeFits([{ width: 0, height: 2, data: new Float32Array(0) }]),
    /invalid size 0x2/,
  );
});

Deno.test("formatFitsCard() writes fixed-format cards and refuses what FITS cannot hold", () => {
  assert.equal(
    formatFitsCard({ key: "NAXIS", value: 2 }),
    "NAXIS   =" + "2".padStart(21) + " ".repeat(50),
  );
  assert.equal(formatFitsCard({ key: "A", value: "it's" }).trimEnd(), "A       = 'it''s   '");
  assert.equal(formatFitsCard({ key: "R", value: 1e-7 }).slice(10, 30).trim(), "1.0E-7");
  assert.throws(() => formatFitsCard({ key: "lower", value: 1 }), /Invalid FITS keyword "lower"/);
  assert.throws(() => formatFitsCard({ key: "S", value: "é" }), /outside printable ASCII/);
  assert.throws(() => formatFitsCard({ key: "S", value: "x".repeat(80) }), /longer than 80/);
  assert.throws(() => formatFitsCard({ key: "R", value: NaN }), /non-finite value NaN/);
});
