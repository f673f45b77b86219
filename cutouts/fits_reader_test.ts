import assert from "node:assert/strict";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { avroBytesAt, boomCutouts, indexesOf } from "../tests/_fixtures.ts";
import { fixturesDir, pythonWith, run, testWith, withTempDir } from "../tests/_support.ts";
import { fitsImage, readFits } from "./fits_reader.ts";
import { encodeFits, FITS_BLOCK, type FitsCard, formatFitsCard } from "./fits_writer.ts";
import { rubinShapedFits as sample } from "../tests/_fits_sample.ts";

const FIXTURES = fixturesDir();
const PYTHON = pythonWith("astropy");
const ascii = new TextEncoder();

/** Replace the n-th card with this keyword (at an 80-byte boundary) by `card`. */
function withCard(bytes: Uint8Array, key: string, card: FitsCard | string, nth = 0): Uint8Array {
  const out = bytes.slice();
  const text = typeof card === "string" ? card.padEnd(80) : formatFitsCard(card);
  const prefix = key.padEnd(8);
  let seen = 0;
  for (let at = 0; at < out.length; at += 80) {
    if (String.fromCharCode(...out.subarray(at, at + 8)) === prefix && seen++ === nth) {
      out.set(ascii.encode(text), at);
      return out;
    }
  }
  throw new Error(`No card "${key}" number ${nth}`);
}

/** A header-only file from raw card texts, padded with spaces to whole blocks. */
function headerOnly(cards: string[]): Uint8Array {
  const text = cards.map((card) => card.padEnd(80)).join("");
  const out = new Uint8Array(Math.ceil(text.length / FITS_BLOCK) * FITS_BLOCK).fill(0x20);
  out.set(ascii.encode(text));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

Deno.test("readFits() reads back the structure, EXTNAMEs and pixels that encodeFits() wrote", () => {
  const bytes = sample();
  const hdus = readFits(bytes);
  assert.deepEqual(hdus.map((hdu) => hdu.index), [0, 1, 2]);
  assert.deepEqual(hdus.map((hdu) => hdu.extname), [null, "UNCERT", "PSFIMAGE"]);
  assert.deepEqual(hdus.map((hdu) => hdu.xtension), [null, "IMAGE", "IMAGE"]);
  assert.deepEqual(hdus.map((hdu) => hdu.bitpix), [-32, -32, -64]);
  assert.deepEqual(hdus.map((hdu) => hdu.naxis), [[4, 3], [4, 3], [2, 2]]);
  assert.deepEqual(hdus.map((hdu) => hdu.dataLength), [48, 48, 32]);
  assert.deepEqual(hdus.map((hdu) => hdu.headerOffset), [0, 5760, 11520]);
  assert.deepEqual(hdus.map((hdu) => hdu.dataOffset), [2880, 8640, 14400]);
  const [primary, uncert, psf] = hdus.map((hdu) => fitsImage(bytes, hdu));
  assert.deepEqual(primary, Float32Array.from({ length: 12 }, (_, i) => i - 5.5));
  assert.deepEqual(uncert, new Float32Array(12).fill(0.25));
  assert.deepEqual(psf, Float64Array.of(1e-12, -2, 3, Number.MAX_VALUE));
});

Deno.test("readFits() parses quoted strings, negative numbers, exponents, logicals and comments", () => {
  const [primary] = readFits(sample());
  const header = primary!.header;
  assert.equal(header.get("SIMPLE"), true);
  assert.equal(header.get("EXTEND"), true);
  assert.equal(header.get("BUNIT"), "nJy");
  assert.equal(header.get("OBSERVER"), "O'Brien ''quoted''");
  assert.equal(header.get("LEADING"), "  two spaces");
  assert.equal(header.get("EMPTY"), "");
  assert.equal(header.get("CUTMINX"), -739);
  assert.equal(header.get("PC1_1"), -4.8390638600464e-05);
  assert.equal(header.get("TINY"), 1.25e-300);
  assert.equal(header.get("FLAGGED"), false);
  assert.deepEqual([...header.keys()].slice(0, 6), [
    "SIMPLE",
    "BITPIX",
    "NAXIS",
    "NAXIS1",
    "NAXIS2",
    "EXTEND",
  ]);
  const cards = primary!.cards;
  assert.deepEqual(cards.find((card) => card.key === "PC1_1")?.comment, "a real / with a slash");
  assert.deepEqual(cards.at(-1), { key: "COMMENT", value: null, comment: "  commentary text" });
  assert.equal(cards.find((card) => card.key === "BITPIX")?.comment, "array data type");
});

Deno.test("readFits() parses free-format values such as ZTF's SIMPLE  =  T and D exponents", () => {
  const bytes = concat(
    headerOnly([
      "SIMPLE  =  T",
      "BITPIX  = 8",
      "NAXIS   = 1",
      "NAXIS1  = 3",
      "REAL    = -1.5D+02 / Fortran exponent",
      "INT     = +42",
      "CPLX    = (1.0, -2.5)",
      "UNDEF   =",
      "HISTORY   keeps its text",
      "END",
    ]),
    new Uint8Array(FITS_BLOCK),
  );
  const [hdu] = readFits(bytes);
  assert.deepEqual(hdu!.naxis, [3]);
  assert.equal(hdu!.header.get("REAL"), -150);
  assert.equal(hdu!.header.get("INT"), 42);
  assert.equal(hdu!.header.get("CPLX"), "(1.0, -2.5)");
  assert.equal(hdu!.header.has("UNDEF"), false);
  assert.deepEqual(hdu!.cards[7], { key: "UNDEF", value: null, comment: null });
  assert.deepEqual(hdu!.cards[8], { key: "HISTORY", value: null, comment: "  keeps its text" });
  assert.deepEqual(fitsImage(bytes, hdu!), new Uint8Array(3));
});

Deno.test("fitsImage() decodes big-endian pixels of every BITPIX the writer supports", () => {
  const data = [
    Uint8Array.of(0, 1, 128, 255),
    Int16Array.of(-32768, -1, 256, 32767),
    Int32Array.of(-2147483648, -1, 65536, 2147483647),
    Float32Array.of(-0.5, 1e-30, 3.4e38, -Infinity),
    Float64Array.of(5e-324, -1, Math.PI, 1.7976931348623157e308),
  ];
  const bytes = encodeFits(data.map((pixels) => ({ width: 2, height: 2, data: pixels })));
  readFits(bytes).forEach((hdu, i) => assert.deepEqual(fitsImage(bytes, hdu), data[i]));
});

Deno.test("fitsImage() refuses non-image extensions, 64-bit integers and HDUs of other bytes", () => {
  const bytes = sample();
  const [primary] = readFits(bytes);
  assert.throws(() => fitsImage(bytes, { ...primary!, xtension: "BINTABLE" }), /not an image/);
  assert.throws(() => fitsImage(bytes, { ...primary!, bitpix: 64 }), /64-bit integer/);
  assert.throws(() => fitsImage(bytes.subarray(0, 2880), primary!), /outside the given bytes/);
});

const MALFORMED: [string, () => Uint8Array, RegExp][] = [
  ["an empty input", () => new Uint8Array(0), /^Not a FITS file: the input is empty$/],
  [
    "a length that is not a multiple of 2880",
    () => sample().subarray(0, 2881),
    /^Not a FITS file: its length 2881 is not a multiple of 2880$/,
  ],
  [
    "a file truncated at a block boundary",
    () => sample().subarray(0, FITS_BLOCK),
    /^Invalid FITS HDU 0: its data of 48 bytes runs past the end of the file$/,
  ],
  [
    "SIMPLE = F",
    () => withCard(sample(), "SIMPLE", { key: "SIMPLE", value: false }),
    /^Not a FITS file: first card is not SIMPLE = T$/,
  ],
  [
    "bytes that are not FITS at all",
    () => new Uint8Array(FITS_BLOCK).fill(0x89),
    /^Not a FITS file: first card is not SIMPLE = T$/,
  ],
  [
    "a missing END card",
    () => headerOnly(["SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 0"]),
    /^Invalid FITS HDU 0: no END card before the end of the file$/,
  ],
  [
    "an END card followed by text",
    () => headerOnly(["SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 0", "END     here"]),
    /^Invalid FITS HDU 0: the END card has text after the keyword$/,
  ],
  [
    "non-blank bytes after END",
    () => {
      const bytes = headerOnly(["SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 0", "END"]);
      bytes[FITS_BLOCK - 1] = 0x41;
      return bytes;
    },
    /^Invalid FITS HDU 0: the header has non-blank bytes after the END card$/,
  ],
  [
    "a missing BITPIX",
    () => withCard(sample(), "BITPIX", { key: "COMMENT", comment: "no BITPIX" }),
    /^Invalid FITS HDU 0: card 2 is "COMMENT", expected "BITPIX"$/,
  ],
  [
    "an invalid BITPIX",
    () => withCard(sample(), "BITPIX", { key: "BITPIX", value: 12 }, 1),
    /^Invalid FITS HDU 1: BITPIX is "12", expected one of 8, 16, 32, 64, -32, -64$/,
  ],
  [
    "NAXIS above 999",
    () => withCard(sample(), "NAXIS", { key: "NAXIS", value: 1000 }),
    /^Invalid FITS HDU 0: NAXIS is "1000", expected an integer from 0 to 999$/,
  ],
  [
    "a missing NAXIS2",
    () => withCard(sample(), "NAXIS2", { key: "BUNIT", value: "nJy" }),
    /^Invalid FITS HDU 0: card 5 is "BUNIT", expected "NAXIS2"$/,
  ],
  [
    "a negative NAXIS1",
    () => withCard(sample(), "NAXIS1", { key: "NAXIS1", value: -5 }, 2),
    /^Invalid FITS HDU 2: NAXIS1 is "-5", expected an integer >= 0$/,
  ],
  [
    "a real NAXIS1",
    () => withCard(sample(), "NAXIS1", { key: "NAXIS1", value: 4.5 }),
    /^Invalid FITS HDU 0: NAXIS1 is "4.5", expected an integer >= 0$/,
  ],
  [
    "a huge NAXIS1 whose data would run past the buffer",
    () => withCard(sample(), "NAXIS1", { key: "NAXIS1", value: 2 ** 40 }),
    /^Invalid FITS HDU 0: its data of 13194139533312 bytes runs past the end of the file$/,
  ],
  [
    "axes whose product is beyond any buffer",
    () =>
      withCard(
        withCard(sample(), "NAXIS1", { key: "NAXIS1", value: 2 ** 52 }),
        "NAXIS2",
        { key: "NAXIS2", value: 2 ** 52 },
      ),
    /^Invalid FITS HDU 0: its data of .* bytes runs past the end of the file$/,
  ],
  [
    "an extension without XTENSION",
    () => withCard(sample(), "XTENSION", { key: "SIMPLE", value: true }),
    /^Invalid FITS HDU 1: the extension does not start with an XTENSION card$/,
  ],
  [
    "trailing zero blocks after the last HDU",
    () => concat(sample(), new Uint8Array(FITS_BLOCK)),
    /^Invalid FITS HDU 3: the extension does not start with an XTENSION card$/,
  ],
  [
    "a non-ASCII header byte",
    () => {
      const bytes = sample();
      bytes[5 * 80 + 70] = 0xe9;
      return bytes;
    },
    /^Invalid FITS HDU 0: card 6 holds the byte 0xE9, which is not printable ASCII$/,
  ],
  [
    "a missing PCOUNT",
    () => withCard(sample(), "PCOUNT", { key: "COMMENT" }),
    /^Invalid FITS HDU 1: card 6 is "COMMENT", expected "PCOUNT"$/,
  ],
  [
    "a negative PCOUNT",
    () => withCard(sample(), "PCOUNT", { key: "PCOUNT", value: -1 }),
    /^Invalid FITS HDU 1: PCOUNT is "-1", expected an integer >= 0$/,
  ],
  [
    "GCOUNT 0",
    () => withCard(sample(), "GCOUNT", { key: "GCOUNT", value: 0 }, 1),
    /^Invalid FITS HDU 2: GCOUNT is "0", expected an integer >= 1$/,
  ],
  [
    "PCOUNT 1 in an IMAGE extension",
    () => withCard(sample(), "PCOUNT", { key: "PCOUNT", value: 1 }),
    /^Invalid FITS HDU 1: an IMAGE extension needs PCOUNT = 0 and GCOUNT = 1, not 1 and 1$/,
  ],
  [
    "an unterminated string",
    () => withCard(sample(), "BUNIT", "BUNIT   = 'nJy"),
    /^Invalid FITS HDU 0: card 7 "BUNIT" has an invalid value: "'nJy"$/,
  ],
  [
    "an unparseable value",
    () => withCard(sample(), "CUTMINX", "CUTMINX = 12abc"),
    /^Invalid FITS HDU 0: card 11 "CUTMINX" has an invalid value: "12abc"$/,
  ],
  [
    "a lower-case keyword",
    () => withCard(sample(), "BUNIT", "bunit   = 'nJy'"),
    /^Invalid FITS HDU 0: card 7 has the invalid keyword "bunit"$/,
  ],
  [
    "a non-string EXTNAME",
    () => withCard(sample(), "EXTNAME", { key: "EXTNAME", value: 5 }),
    /^Invalid FITS HDU 1: EXTNAME is "5", expected a string$/,
  ],
];

Deno.test("readFits() rejects malformed files with a RangeError naming the HDU and the problem", async (t) => {
  assert.doesNotThrow(() => readFits(sample()));
  for (const [what, make, message] of MALFORMED) {
    await t.step(`it rejects ${what}`, () => {
      assert.throws(() => readFits(make()), (error: unknown) => {
        assert.ok(error instanceof RangeError, `not a RangeError: ${error}`);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("readFits() throws nothing but RangeError for any truncation or corrupted header byte", () => {
  const good = sample();
  const headers = readFits(good).map((hdu) => hdu.headerOffset);
  const values = [0x00, 0x27, 0x2f, 0x3d, 0x39, 0x54, 0xff];
  let rejected = 0;
  const check = (bytes: Uint8Array) => {
    try {
      for (const hdu of readFits(bytes)) {
        if (hdu.bitpix !== 64 && hdu.xtension === "IMAGE") fitsImage(bytes, hdu);
      }
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      rejected++;
    }
  };
  for (const offset of headers) {
    for (let i = offset; i < offset + FITS_BLOCK; i++) {
      const original = good[i]!;
      for (const value of values) {
        good[i] = value;
        check(good);
      }
      good[i] = original;
    }
  }
  for (let length = 0; length < good.length; length += 97) check(good.subarray(0, length));
  assert.ok(rejected > 10_000, `only ${rejected} corruptions were rejected`);
});

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "readFits() reads the three real Rubin cutouts of the boom v9.0 alert",
  async fn() {
    const cutouts = await boomCutouts();
    assert.deepEqual(cutouts.map((bytes) => bytes.length), [34_560, 34_560, 69_120]);
    const psf = [[41, 41], [41, 41], [77, 77]];
    cutouts.forEach((bytes, i) => {
      const hdus = readFits(bytes);
      assert.deepEqual(hdus.map((hdu) => hdu.extname), [null, "UNCERT", "PSFIMAGE"]);
      assert.deepEqual(hdus.map((hdu) => hdu.bitpix), [-32, -32, -64]);
      assert.deepEqual(hdus.map((hdu) => hdu.naxis), [[30, 30], [30, 30], psf[i]]);
      assert.equal(hdus[0]!.header.get("BUNIT"), "nJy");
      assert.equal(hdus[1]!.header.get("UTYPE"), "VarianceUncertainty");
      hdus.forEach((hdu) => assert.equal(fitsImage(bytes, hdu).length, hdu.naxis[0]! ** 2));
    });
    const [difference] = readFits(cutouts[0]!);
    assert.equal(difference!.header.get("CRPIX1"), 15.232896835594);
    assert.equal(difference!.header.get("PC1_1"), -4.8390638600464e-05);
    assert.equal(difference!.header.get("CUTMINY"), 3331);
  },
});

testWith(FIXTURES !== null && PYTHON !== null, "the shared fixtures and python3-astropy", {
  name: "fitsImage() agrees with astropy on every pixel of the real Rubin cutouts",
  async fn() {
    await withTempDir("fits-reader-test-", async (dir) => {
      for (const bytes of await boomCutouts()) {
        const path = join(dir, "cutout.fits");
        await Deno.writeFile(path, bytes);
        const script = "import json,sys,math\nfrom astropy.io import fits\n" +
          "print(json.dumps([[None if math.isnan(v) else v for v in h.data.ravel().astype(float)" +
          ".tolist()] for h in fits.open(sys.argv[1])]))";
        const { code, stdout, stderr } = await run(PYTHON!, ["-c", script, path]);
        assert.equal(code, 0, stderr);
        const ours = readFits(bytes).map((hdu) =>
          Array.from(fitsImage(bytes, hdu), (v) => Number.isNaN(v) ? null : v)
        );
        assert.deepEqual(ours, JSON.parse(stdout));
      }
    });
  },
});

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "readFits() reads the gunzipped ZTF cutouts despite their free-format SIMPLE card",
  async fn() {
    const file = await Deno.readFile(join(FIXTURES!, "ztf/472263571115115000.avro"));
    const starts = indexesOf(file, Uint8Array.of(0x1f, 0x8b, 0x08));
    assert.equal(starts.length, 3);
    for (const start of starts) {
      const bytes = new Uint8Array(gunzipSync(avroBytesAt(file, start)));
      const [hdu, ...rest] = readFits(bytes);
      assert.equal(rest.length, 0);
      assert.equal(hdu!.cards[0]!.key, "SIMPLE");
      assert.deepEqual(hdu!.naxis, [63, 63]);
      assert.equal(hdu!.bitpix, -32);
      assert.equal(hdu!.header.get("BUNIT"), "DN");
      assert.ok(fitsImage(bytes, hdu!).some((pixel) => pixel !== 0));
    }
  },
});
