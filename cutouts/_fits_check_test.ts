import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { drawCutouts } from "../sources/mock/_stamps.ts";
import { MockRandom } from "../sources/mock/_mock_random.ts";
import { boomCutouts, readZtfFixture } from "../tests/_fixtures.ts";
import { fixturesDir, testWith } from "../tests/_support.ts";
import { isConformingFits } from "./_fits_check.ts";
import { normalizeFits } from "./fits_normalizer.ts";
import { readFits } from "./fits_reader.ts";
import { encodeFits, FITS_BLOCK } from "./fits_writer.ts";
import { rubinShapedFits as sample } from "../tests/_fits_sample.ts";

const FIXTURES = fixturesDir();
const ascii = new TextEncoder();

/** What the check promises: a file it accepts comes back from normalizeFits as itself. */
function agrees(bytes: Uint8Array): boolean {
  if (!isConformingFits(bytes)) return false;
  let normalized: Uint8Array;
  try {
    normalized = normalizeFits(bytes);
  } catch (error) {
    assert.fail(`accepted a file normalizeFits rejects: ${(error as Error).message}`);
  }
  assert.equal(normalized, bytes, "accepted a file normalizeFits rewrites");
  return true;
}

Deno.test("isConformingFits() accepts the files encodeFits() and the mock write", () => {
  assert.ok(agrees(sample()));
  const stamps = drawCutouts(new MockRandom(3), { psfFlux: 4000, mjd: 61000.25 });
  for (const bytes of Object.values(stamps)) assert.ok(agrees(bytes));
  assert.ok(agrees(encodeFits([{ width: 1, height: 1, data: new Int16Array(1) }])));
});

Deno.test("isConformingFits() accepts nothing that normalizeFits() would reject or rewrite", () => {
  const good = sample();
  const headers = readFits(good).map((hdu) => hdu.headerOffset);
  // Quotes, slashes, equals, digits, letters, signs, dots, blanks and unprintable bytes: each
  // one at every position of every header block.
  const values = [
    0x00,
    0x20,
    0x27,
    0x2b,
    0x2d,
    0x2e,
    0x2f,
    0x3d,
    0x30,
    0x39,
    0x44,
    0x54,
    0x61,
    0xff,
  ];
  let accepted = 0;
  let tried = 0;
  for (const offset of headers) {
    for (let i = offset; i < offset + FITS_BLOCK; i++) {
      const original = good[i]!;
      for (const value of values) {
        if (value === original) continue;
        good[i] = value;
        tried++;
        if (agrees(good)) accepted++;
      }
      good[i] = original;
    }
  }
  for (let length = 0; length < good.length; length += 97) agrees(good.subarray(0, length));
  // Changes inside comments and values stay conforming; changes to the structure do not.
  assert.ok(accepted > 5_000 && accepted < tried - 5_000, `${accepted} of ${tried} accepted`);
});

Deno.test("isConformingFits() leaves free-format mandatory cards and unusual files to normalizeFits()", () => {
  const card = (bytes: Uint8Array, at: number, text: string) => {
    const out = bytes.slice();
    out.set(ascii.encode(text.padEnd(80)), at);
    return out;
  };
  const good = sample();
  const [, second] = readFits(good);
  assert.equal(isConformingFits(card(good, 0, "SIMPLE  =  T")), false);
  assert.equal(isConformingFits(card(good, 80, "BITPIX  = -32")), false);
  assert.equal(isConformingFits(card(good, 400, "EXTEND  = T")), false);
  assert.equal(isConformingFits(card(good, second!.headerOffset, "XTENSION= 'IMAGE'")), false);
  assert.equal(isConformingFits(card(good, 80 * 9, "CPLX    = (1.0, 2.0)")), false);
  assert.equal(isConformingFits(card(good, 80 * 9, "GROUPS  =                    F")), false);
  assert.equal(isConformingFits(new Uint8Array(0)), false);
  assert.equal(isConformingFits(new Uint8Array(FITS_BLOCK).fill(0x20)), false);
});

testWith(FIXTURES !== null, "the shared fixtures (../shared/fixtures)", {
  name: "isConformingFits() accepts the real Rubin cutouts and not ZTF's free-format ones",
  async fn() {
    for (const bytes of await boomCutouts()) assert.ok(agrees(bytes));
    const packet = await readZtfFixture("472263571115115000.avro");
    const stamp = packet.cutoutScience!.stampData;
    const ztf = new Uint8Array(gunzipSync(stamp));
    assert.equal(isConformingFits(ztf), false);
    assert.ok(agrees(normalizeFits(ztf)));
  },
});
