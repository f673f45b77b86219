import assert from "node:assert/strict";
import { join } from "node:path";
import snappy from "npm:snappyjs@0.7.0";
import { fixturesDir, testWith } from "../tests/_support.ts";
import { snappyClaim, snappyLength, snappyUncompress, snappyUncompressInto } from "./snappy.ts";

// The reference here is snappyjs (compressing, and decompressing what it compressed); the real
// one, the C++ library through snappy-java, is the Kafka broker recompressing a topic with snappy
// (tests/kafka_test.ts, "a topic the broker compresses with snappy is consumed whole").
const FIXTURES = fixturesDir();

function compress(bytes: Uint8Array): Uint8Array {
  return snappy.compress(bytes) as Uint8Array;
}

// A seeded generator, so that a failure can be replayed.
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

// Bytes of every texture snappy meets: noise, runs, short and long repeating patterns.
function sample(length: number, next: () => number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const kind = Math.floor(next() * 4);
    const run = Math.min(length - at, 1 + Math.floor(next() * 3000));
    const period = 1 + Math.floor(next() * 80);
    for (let i = 0; i < run; i++) {
      out[at + i] = kind === 0
        ? Math.floor(next() * 256)
        : kind === 1
        ? 7
        : kind === 2
        ? (i % period) * 13
        : at > 100
        ? out[at + i - 100]!
        : i;
    }
    at += run;
  }
  return out;
}

Deno.test("snappyUncompress() gives back what snappyjs compressed, of every length and texture", () => {
  const next = random(1);
  const lengths = [0, 1, 2, 3, 4, 59, 60, 61, 64, 65, 255, 256, 257, 65535, 65536, 65537, 300_000];
  for (let i = 0; i < 200; i++) lengths.push(Math.floor(next() * 5000));
  for (const length of lengths) {
    const bytes = sample(length, next);
    assert.deepEqual(snappyUncompress(compress(bytes)), bytes, `${length} bytes`);
  }
  // Long overlapping copies: a run of one byte, and patterns of 2 to 70 bytes.
  for (const period of [1, 2, 3, 7, 23, 24, 25, 64, 70]) {
    const bytes = new Uint8Array(100_000).map((_, i) => (i % period) + 1);
    assert.deepEqual(snappyUncompress(compress(bytes)), bytes, `period ${period}`);
  }
});

testWith(FIXTURES !== null, "the shared fixtures", {
  name: "snappyUncompress() gives back real alerts, cutouts and all, as snappyjs does",
  fn: async () => {
    const dir = join(FIXTURES as string, "lsst", "cwf-heavy");
    let files = 0;
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile) continue;
      const bytes = await Deno.readFile(join(dir, entry.name));
      const compressed = compress(bytes);
      assert.ok(compressed.length < bytes.length, entry.name);
      assert.deepEqual(snappyUncompress(compressed), bytes, entry.name);
      files++;
    }
    assert.ok(files >= 3, `${files} files`);
  },
});

Deno.test("snappyUncompress() reads each kind of tag written by hand", () => {
  const text = (bytes: number[]) =>
    new TextDecoder().decode(snappyUncompress(new Uint8Array(bytes)));
  // A literal "ab", then copies with 1-, 2- and 4-byte offsets (lengths 4, 3 and 2).
  assert.equal(
    text([11, 0x04, 0x61, 0x62, 0x01, 0x02, 0x0a, 0x03, 0x00, 0x07, 0x02, 0x00, 0x00, 0x00]),
    "abababbabab",
  );
  // A literal whose length sits in 1 to 4 bytes after the tag.
  for (const [tag, bytes] of [[0xf0, 1], [0xf4, 2], [0xf8, 3], [0xfc, 4]] as const) {
    const length = new Uint8Array(bytes);
    length[0] = 99; // 100 bytes
    const body = new Uint8Array(100).fill(0x7a);
    const stream = new Uint8Array([100, tag, ...length, ...body]);
    assert.deepEqual(snappyUncompress(stream), body, `tag ${tag}`);
  }
  assert.deepEqual(snappyLength(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])), {
    length: 0xffffffff,
    start: 5,
  });
});

Deno.test("snappyUncompressInto() writes in place, and only the view it is given", () => {
  const bytes = sample(50_000, random(2));
  const compressed = compress(bytes);
  const buffer = new Uint8Array(bytes.length + 20).fill(0xee);
  snappyUncompressInto(compressed, buffer.subarray(10, 10 + bytes.length));
  assert.deepEqual(buffer.subarray(10, 10 + bytes.length), bytes);
  assert.ok(buffer.subarray(0, 10).every((b) => b === 0xee));
  assert.ok(buffer.subarray(10 + bytes.length).every((b) => b === 0xee));
  assert.throws(
    () => snappyUncompressInto(compressed, new Uint8Array(bytes.length - 1)),
    { name: "RangeError", message: `it claims 50000 bytes uncompressed, not 49999` },
  );
});

Deno.test("snappyUncompress() refuses a malformed stream, saying what and where", () => {
  const cases: [string, number[], RegExp][] = [
    ["no length", [], /^the uncompressed length is truncated$/],
    ["a cut length", [0x80], /^the uncompressed length is truncated$/],
    ["a 6-byte length", [0x80, 0x80, 0x80, 0x80, 0x80, 0x01], /longer than 5 bytes/],
    ["less than declared", [4, 0x04, 0x61, 0x62], /^the output ends at 2 of 4 declared bytes/],
    ["more than declared", [1, 0x04, 0x61, 0x62], /runs past its declared length \(input byte 2\)/],
    ["a literal past the input", [3, 0x08, 0x61], /a literal runs past the end of the input/],
    ["a cut literal length", [3, 0xf4, 0x01], /a literal's length is truncated/],
    ["offset 0", [6, 0x04, 0x61, 0x62, 0x01, 0x00], /a copy reaches 0 bytes back/],
    ["before the start", [6, 0x04, 0x61, 0x62, 0x01, 0x03], /a copy reaches 3 bytes back/],
    ["a cut 1-byte offset", [6, 0x04, 0x61, 0x62, 0x01], /a copy's offset is truncated/],
    ["a cut 2-byte offset", [6, 0x04, 0x61, 0x62, 0x0a, 0x01], /a copy's offset is truncated/],
    ["a cut 4-byte offset", [6, 0x04, 0x61, 0x62, 0x07, 0x02, 0, 0], /a copy's offset is/],
    ["beyond snappy's reach", [0xe8, 0x07, 0x00], /claims 1000 bytes uncompressed from 1, beyond/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(
      () => snappyUncompress(new Uint8Array(bytes)),
      { name: "RangeError", message },
      what,
    );
  }
  // Claims are checked before anything is allocated: beyond what the body could give, or above
  // the caller's limit.
  assert.deepEqual(snappyClaim(new Uint8Array([64, 0x02, 1, 0])), { length: 64, start: 1 });
  assert.throws(() => snappyClaim(new Uint8Array([65, 0x02, 1, 0])), {
    message: "it claims 65 bytes uncompressed from 3, beyond snappy's reach",
  });
  const big = new Uint8Array(20);
  big.set([0x80, 0x80, 0x80, 0x80, 0x08]);
  assert.throws(() => snappyUncompress(big, 1 << 20), {
    message: "it claims 2147483648 bytes uncompressed",
  });
});

Deno.test("snappyUncompress() agrees with snappyjs on 3,000 damaged streams, or refuses them", () => {
  const next = random(3);
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    const stream = compress(sample(Math.floor(next() * 3000), next)).slice();
    for (let flips = 1 + Math.floor(next() * 3); flips > 0; flips--) {
      stream[Math.floor(next() * stream.length)] = Math.floor(next() * 256);
    }
    let ours: Uint8Array | null = null;
    try {
      ours = snappyUncompress(stream);
    } catch (error) {
      assert.ok(error instanceof RangeError, String(error));
      refused++;
    }
    // snappyjs checks less (it leaves a short output zero-filled, drops writes past its end),
    // so what this decoder accepts it must decode the same way.
    if (ours !== null) assert.deepEqual(ours, snappy.uncompress(stream) as Uint8Array, `case ${i}`);
  }
  assert.ok(refused > 300 && refused < 3000, `${refused} refused`);
});
