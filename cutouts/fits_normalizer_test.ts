import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { toZtfAlertRecord } from "../formats/ztf_packet.ts";
import { boomCutouts, readZtfFixture } from "../tests/_fixtures.ts";
import {
  FITSVERIFY,
  fixturesDir,
  pythonWith,
  run,
  testWith,
  withTempDir,
} from "../tests/_support.ts";
import { CutoutProcessor } from "./cutout_processor.ts";
import { normalizeFits } from "./fits_normalizer.ts";
import { fitsImage, readFits } from "./fits_reader.ts";
import { encodeFits } from "./fits_writer.ts";

const FIXTURES = fixturesDir();
const PYTHON = pythonWith("astropy");
const ZTF_FILES = ["2019_01_10_739260766315010006.avro", "472263571115115000.avro"];
const KINDS = ["cutoutScience", "cutoutTemplate", "cutoutDifference"] as const;
const ascii = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** The six real ZTF cutouts of the fixtures, gunzipped: still in their free format. */
async function ztfCutouts(): Promise<{ name: string; fits: Uint8Array }[]> {
  const cutouts: { name: string; fits: Uint8Array }[] = [];
  for (const file of ZTF_FILES) {
    const packet = await readZtfFixture(file);
    for (const kind of KINDS) {
      const stamp = packet[kind]!.stampData;
      cutouts.push({ name: `${file} ${kind}`, fits: new Uint8Array(gunzipSync(stamp)) });
    }
  }
  assert.equal(cutouts.length, 6);
  return cutouts;
}

function withFiles<T>(files: Uint8Array[], use: (paths: string[]) => Promise<T>): Promise<T> {
  return withTempDir("fits-normalizer-test-", async (dir) => {
    const paths = files.map((_, i) => join(dir, `${i}.fits`));
    await Promise.all(files.map((bytes, i) => Deno.writeFile(paths[i]!, bytes)));
    return await use(paths);
  });
}

// -q prints one line per file; without it fitsverify says what is wrong.
async function fitsverify(path: string, quiet = true): Promise<{ code: number; stdout: string }> {
  const { code, stdout, stderr } = await run(FITSVERIFY!, [...(quiet ? ["-q"] : []), "-e", path]);
  return { code, stdout: stdout + stderr };
}

function cardAt(bytes: Uint8Array, offset: number): string {
  return latin1.decode(bytes.subarray(offset, offset + 80));
}

/** A 3-HDU file whose mandatory cards are then rewritten in free format. */
function sample(): Uint8Array {
  return encodeFits([
    {
      width: 4,
      height: 3,
      data: Float32Array.from({ length: 12 }, (_, i) => i - 5.5),
      cards: [{ key: "BUNIT", value: "DN" }, { key: "COMMENT", comment: "kept as it is" }],
    },
    {
      width: 4,
      height: 3,
      data: new Int16Array(12).fill(-7),
      cards: [{ key: "EXTNAME", value: "A" }],
    },
    {
      width: 2,
      height: 1,
      data: Float64Array.of(1e-12, -2),
      cards: [{ key: "EXTNAME", value: "B" }],
    },
  ]);
}

/** Overwrite cards: `[hdu index, card index, text]`. */
function withCards(bytes: Uint8Array, cards: [number, number, string][]): Uint8Array {
  const out = bytes.slice();
  const hdus = readFits(bytes);
  for (const [hdu, card, text] of cards) {
    assert.ok(text.length <= 80, text);
    out.set(ascii.encode(text.padEnd(80)), hdus[hdu]!.headerOffset + card * 80);
  }
  return out;
}

// Fits after a free-format value (column 16 on) but not after column 33.
const LONG_COMMENT = "a comment that fits after the free value, not the fixed one";

// Free format everywhere the standard demands fixed format, yet readable by readFits().
const FREE: [number, number, string][] = [
  [0, 0, "SIMPLE  =  T / conforms to FITS standard"],
  [0, 1, "BITPIX  = -32 / " + LONG_COMMENT],
  [0, 2, "NAXIS   = 2"],
  [0, 3, "NAXIS1  =    4 /"],
  [0, 4, "NAXIS2  = 3.0 / a real where an integer belongs"],
  [0, 5, "EXTEND  = T"],
  [1, 0, "XTENSION= 'IMAGE' / Image extension"],
  [1, 3, "NAXIS1  =                     4"],
  [1, 5, "PCOUNT  = 0"],
  [1, 6, "GCOUNT  =  1 / one group"],
  [2, 0, "XTENSION= 'IMAGE     '"],
];

const FIXED: [number, number, string][] = [
  [0, 0, "SIMPLE  =                    T / conforms to FITS standard"],
  [0, 1, ("BITPIX  =                  -32 / " + LONG_COMMENT).slice(0, 80)],
  [0, 2, "NAXIS   =                    2"],
  [0, 3, "NAXIS1  =                    4"],
  [0, 4, "NAXIS2  =                    3 / a real where an integer belongs"],
  [0, 5, "EXTEND  =                    T"],
  [1, 0, "XTENSION= 'IMAGE   '           / Image extension"],
  [1, 3, "NAXIS1  =                    4"],
  [1, 5, "PCOUNT  =                    0"],
  [1, 6, "GCOUNT  =                    1 / one group"],
  [2, 0, "XTENSION= 'IMAGE   '"],
];

Deno.test("normalizeFits() rewrites every free-format mandatory card and nothing else", () => {
  const original = sample();
  const free = withCards(original, FREE);
  const before = free.slice();
  const fixed = normalizeFits(free);
  assert.deepEqual(free, before, "the input is not modified");
  assert.notEqual(fixed, free);
  assert.equal(fixed.length, free.length);
  const hdus = readFits(fixed);
  const rewritten = new Set<number>();
  for (const [hdu, card, text] of FIXED) {
    const offset = hdus[hdu]!.headerOffset + card * 80;
    assert.equal(cardAt(fixed, offset), text.padEnd(80), `HDU ${hdu} card ${card}`);
    rewritten.add(offset);
  }
  for (let offset = 0; offset < fixed.length; offset += 80) {
    if (rewritten.has(offset)) continue;
    assert.equal(cardAt(fixed, offset), cardAt(free, offset), `bytes ${offset}-${offset + 79}`);
  }
  // Same structure and pixels as the file before it was put into free format.
  assert.deepEqual(
    hdus.map((
      hdu,
    ) => [hdu.headerOffset, hdu.dataOffset, hdu.naxis, Array.from(fitsImage(fixed, hdu))]),
    readFits(original).map((hdu) => [
      hdu.headerOffset,
      hdu.dataOffset,
      hdu.naxis,
      Array.from(fitsImage(original, hdu)),
    ]),
  );
  assert.equal(normalizeFits(fixed), fixed, "normalising twice changes nothing");
});

Deno.test("normalizeFits() copies a Node Buffer input instead of writing through it", () => {
  // gunzip() returns a Buffer, whose slice() is a view on the same memory.
  const free = Buffer.from(withCards(sample(), FREE));
  const before = Uint8Array.from(free);
  const fixed = normalizeFits(free);
  assert.deepEqual(Uint8Array.from(free), before);
  assert.notDeepEqual(Uint8Array.from(fixed), before);
  assert.equal(cardAt(fixed, 0), FIXED[0]![2].padEnd(80));
});

Deno.test("normalizeFits() returns encodeFits() output itself: it is already fixed format", () => {
  const single = encodeFits([{ width: 3, height: 2, data: new Float32Array(6) }]);
  const multi = sample();
  const copy = multi.slice();
  assert.equal(normalizeFits(single), single);
  assert.equal(normalizeFits(multi), multi);
  assert.deepEqual(multi, copy);
});

Deno.test("normalizeFits() leaves fixed-format cards alone whatever their comment spacing", () => {
  const bytes = withCards(sample(), [
    [0, 2, "NAXIS   =                    2 /no space before the comment"],
    [0, 3, "NAXIS1  =                   +4          / a sign and a distant comment"],
    [1, 0, "XTENSION= 'IMAGE   '/ right after the quote"],
  ]);
  assert.equal(normalizeFits(bytes), bytes);
});

Deno.test("normalizeFits() refuses what is not FITS with readFits()'s RangeError", () => {
  assert.throws(() => normalizeFits(new Uint8Array(0)), RangeError);
  assert.throws(() => normalizeFits(new Uint8Array(2880).fill(0x41)), RangeError);
  const truncated = sample().subarray(0, 2880);
  assert.throws(() => normalizeFits(truncated), /Invalid FITS HDU 0: its data/);
});

testWith(FITSVERIFY !== null, "fitsverify (Debian package fitsverify)", {
  name: "fitsverify rejects the free-format samples and accepts them once normalised",
  async fn() {
    const free = withCards(sample(), FREE);
    // CFITSIO stops at NAXIS2 = 3.0 before checking formats; without it each card is reported.
    const integral = withCards(sample(), FREE.filter(([hdu, card]) => hdu !== 0 || card !== 4));
    const files = [sample(), free, integral, normalizeFits(free), normalizeFits(integral)];
    await withFiles(files, async ([clean, fatal, reported, ...fixed]) => {
      assert.equal((await fitsverify(clean!)).code, 0, "the sample itself is valid");
      const aborted = await fitsverify(fatal!, false);
      assert.notEqual(aborted.code, 0);
      assert.match(aborted.stdout, /Expected positive integer keyword NAXIS2/);
      const rejected = await fitsverify(reported!, false);
      assert.notEqual(rejected.code, 0);
      assert.match(rejected.stdout, /SIMPLE {3}mandatory keyword is not in logical fixed format/);
      assert.match(rejected.stdout, /BITPIX {3}mandatory keyword is not in integer fixed format/);
      assert.match(rejected.stdout, /PCOUNT {3}mandatory keyword is not in integer fixed format/);
      assert.match(rejected.stdout, /XTENSION mandatory string keyword ends before column 20/);
      for (const path of fixed) {
        const accepted = await fitsverify(path);
        assert.equal(accepted.code, 0, accepted.stdout);
      }
    });
  },
});

testWith(
  FIXTURES !== null && FITSVERIFY !== null,
  "the shared fixtures and fitsverify (Debian package fitsverify)",
  {
    name:
      "fitsverify rejects the real ZTF cutouts for their SIMPLE card and accepts them normalised",
    async fn() {
      const cutouts = await ztfCutouts();
      const files = cutouts.flatMap(({ fits }) => [fits, normalizeFits(fits)]);
      await withFiles(files, async (paths) => {
        for (const [i, { name }] of cutouts.entries()) {
          const before = await fitsverify(paths[2 * i]!, false);
          assert.notEqual(before.code, 0, name);
          assert.match(before.stdout, /SIMPLE {3}mandatory keyword is not in logical fixed format/);
          assert.match(before.stdout, /found 0 warning\(s\) and 1 error\(s\)/, name);
          const after = await fitsverify(paths[2 * i + 1]!);
          assert.equal(after.code, 0, `${name}: ${after.stdout}`);
        }
      });
    },
  },
);

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "normalizeFits() changes only the SIMPLE card of the real ZTF cutouts",
  async fn() {
    for (const { name, fits } of await ztfCutouts()) {
      assert.equal(cardAt(fits, 0).trimEnd(), "SIMPLE  =  T", name);
      const fixed = normalizeFits(fits);
      assert.notEqual(fixed, fits, name);
      assert.equal(cardAt(fixed, 0), "SIMPLE  =                    T".padEnd(80), name);
      assert.deepEqual(fixed.subarray(80), fits.subarray(80), name);
      assert.equal(normalizeFits(fixed), fixed, name);
    }
  },
});

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "normalizeFits() returns the real Rubin cutouts themselves",
  async fn() {
    for (const bytes of await boomCutouts()) {
      const copy = bytes.slice();
      assert.equal(normalizeFits(bytes), bytes);
      assert.deepEqual(bytes, copy);
    }
  },
});

// Every HDU's valued header cards and every pixel (NaN as null), for each file given.
const ASTROPY_DUMP = `
import json, math, sys
from astropy.io import fits
out = []
for path in sys.argv[1:]:
    with fits.open(path) as hdus:
        out.append([{
            "header": {k: v for k, v in h.header.items() if k not in ("", "COMMENT", "HISTORY")},
            "dtype": h.data.dtype.str,
            "pixels": [None if math.isnan(p) else p for p in h.data.ravel().astype(float).tolist()],
        } for h in hdus])
print(json.dumps(out))
`;

testWith(FIXTURES !== null && PYTHON !== null, "the shared fixtures and python3-astropy", {
  name: "normalised ZTF cutouts open in astropy with the header and pixels of the originals",
  async fn() {
    const cutouts = await ztfCutouts();
    const originals = cutouts.map(({ fits }) => fits);
    const fixed = originals.map(normalizeFits);
    const dump = (files: Uint8Array[]) =>
      withFiles(files, async (paths) => {
        const { code, stdout, stderr } = await run(PYTHON!, ["-c", ASTROPY_DUMP, ...paths]);
        assert.equal(code, 0, stderr);
        return JSON.parse(stdout) as { header: Record<string, unknown>; pixels: unknown[] }[][];
      });
    const before = await dump(originals);
    const after = await dump(fixed);
    assert.deepEqual(after, before);
    for (const [i, hdus] of after.entries()) {
      assert.equal(hdus.length, 1);
      assert.equal(hdus[0]!.header.SIMPLE, true);
      assert.equal(hdus[0]!.pixels.length, 63 * 63);
      // And our own reader sees the same pixels as astropy.
      const [hdu] = readFits(fixed[i]!);
      assert.deepEqual(
        Array.from(fitsImage(fixed[i]!, hdu!), (v) => Number.isNaN(v) ? null : v),
        hdus[0]!.pixels,
      );
    }
  },
});

testWith(
  FIXTURES !== null && FITSVERIFY !== null,
  "the shared fixtures and fitsverify (Debian package fitsverify)",
  {
    name:
      "CutoutProcessor.process() saves a real ZTF alert's three cutouts as files that pass fitsverify",
    async fn() {
      const packet = await readZtfFixture("2019_01_10_739260766315010006.avro");
      const alert = toZtfAlertRecord(packet, packet.schemavsn as string);
      await withTempDir("fits-normalizer-test-", async (dir) => {
        const result = await new CutoutProcessor({ outputDir: dir }).process(alert);
        assert.deepEqual(result.problems, []);
        const saved = [result.science, result.template, result.difference];
        assert.deepEqual(
          saved,
          ["science", "template", "difference"].map((kind) =>
            join(dir, "2019-01-10", "739260766315010006", `${kind}.fits`)
          ),
        );
        for (const [i, path] of saved.entries()) {
          const { code, stdout } = await fitsverify(path!);
          assert.equal(code, 0, `${path}: ${stdout}`);
          const gunzipped = new Uint8Array(gunzipSync(packet[KINDS[i]!]!.stampData));
          const written = await Deno.readFile(path!);
          assert.equal(cardAt(gunzipped, 0).trimEnd(), "SIMPLE  =  T");
          assert.equal(cardAt(written, 0).trimEnd(), "SIMPLE  =                    T");
          assert.deepEqual(written.subarray(80), gunzipped.subarray(80));
        }
      });
    },
  },
);
