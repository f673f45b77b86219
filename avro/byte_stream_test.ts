import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { createAvroType } from "./avro_schema.ts";
import { ByteStream, TruncatedInputError } from "./byte_stream.ts";

/** The stream's internal chunk size for files (256 KiB): the boundary the tests cross. */
const CHUNK = 256 * 1024;
const FILE_LENGTH = 600_000 + 1234;
const MAX_INT64 = 2n ** 63n - 1n;
const MIN_INT64 = -(2n ** 63n);

async function withTempDir(work: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lsst-byte-stream-" });
  try {
    await work(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Bytes whose value depends on the whole offset, so a shifted or repeated read shows. */
function pattern(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i ^ (i >>> 8) ^ (i >>> 16) ^ (i >>> 5)) & 0xff;
  return bytes;
}

/** Avro's zig-zag varint, written out from the specification. */
function referenceLong(value: bigint): Uint8Array {
  let n = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
  const out: number[] = [];
  for (;;) {
    const low = Number(n & 0x7fn);
    n >>= 7n;
    if (n === 0n) {
      out.push(low);
      return new Uint8Array(out);
    }
    out.push(low | 0x80);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Byte equality that reports the first difference (a deep-equal diff of 600 KB never ends). */
function assertBytes(actual: Uint8Array, expected: Uint8Array, what = "bytes"): void {
  const length = Math.min(actual.length, expected.length);
  let i = 0;
  while (i < length && actual[i] === expected[i]) i++;
  if (i < length || actual.length !== expected.length) {
    assert.fail(
      `${what} differ from index ${i} (lengths ${actual.length} and ${expected.length}, ` +
        `bytes ${actual[i]} and ${expected[i]})`,
    );
  }
}

function isTruncation(offset: number, ...fragments: string[]): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof TruncatedInputError, String(error));
    assert.equal(error.offset, offset);
    for (const fragment of fragments) assert.match(error.message, new RegExp(fragment));
    return true;
  };
}

const LONGS = [
  0n,
  -1n,
  1n,
  2n,
  -64n,
  63n,
  64n,
  300n,
  -8193n,
  2n ** 31n,
  2n ** 53n + 1n,
  170587117485817955n,
  MAX_INT64,
  MIN_INT64,
  MIN_INT64 + 1n,
];

Deno.test("readLong() decodes zig-zag varints exactly as the Avro reference encoding writes them", async () => {
  const longType = createAvroType("long");
  for (const value of LONGS) {
    // Two independent encoders must agree before either is used as the reference.
    assert.deepEqual(
      new Uint8Array(longType.toBuffer(value)),
      referenceLong(value),
      `encoding of ${value}`,
    );
  }
  assertBytes(referenceLong(0n), new Uint8Array([0x00]));
  assertBytes(referenceLong(-1n), new Uint8Array([0x01]));
  assertBytes(referenceLong(1n), new Uint8Array([0x02]));
  assertBytes(referenceLong(64n), new Uint8Array([0x80, 0x01]));
  assert.equal(referenceLong(MAX_INT64).length, 10);
  assert.equal(referenceLong(MIN_INT64).length, 10);

  const encoded = LONGS.map(referenceLong);
  const stream = ByteStream.fromBytes(concat(...encoded, new Uint8Array([0x7f])));
  let offset = 0;
  for (const [i, value] of LONGS.entries()) {
    assert.equal(await stream.readLong(), value);
    offset += encoded[i]!.length;
    assert.equal(stream.offset, offset, `offset after ${value}`);
  }
  // The byte after the last varint is still there.
  assertBytes(await stream.read(1), new Uint8Array([0x7f]));
  assert.equal(await stream.atEnd(), true);
});

Deno.test("readLong() rejects a varint longer than 10 bytes with a RangeError and consumes nothing", async () => {
  const bytes = new Uint8Array([...new Array(10).fill(0xff), 0x01]);
  const stream = ByteStream.fromBytes(bytes);
  await assert.rejects(stream.readLong("the block count"), (error: unknown) => {
    assert.ok(error instanceof RangeError);
    assert.ok(!(error instanceof TruncatedInputError), "not a truncation");
    assert.match(error.message, /the block count at offset 0: longer than 10 bytes/);
    return true;
  });
  assert.equal(stream.offset, 0);
  assertBytes(await stream.read(11), bytes);
});

Deno.test("readLong() reports a varint cut off by the end of the input as truncated", async () => {
  const stream = ByteStream.fromBytes(new Uint8Array([0x02, 0x80, 0x80]));
  assert.equal(await stream.readLong(), 1n);
  await assert.rejects(stream.readLong("a size"), isTruncation(3, "offset 3 inside a size"));
  assert.equal(stream.offset, 1);
});

Deno.test("read() on a file returns exact bytes across the 256 KiB chunk boundaries", async () => {
  await withTempDir(async (dir) => {
    const expected = pattern(FILE_LENGTH);
    const path = join(dir, "pattern.bin");
    await Deno.writeFile(path, expected);
    const stream = await ByteStream.open(path);
    try {
      assert.equal(stream.gzipped, false);
      // Odd-sized reads land on every alignment relative to the chunk boundaries.
      const sizes = [1, 7, 4093, 65_537, 300_001, 13];
      let offset = 0;
      for (let i = 0; offset < FILE_LENGTH; i++) {
        const size = Math.min(sizes[i % sizes.length]!, FILE_LENGTH - offset);
        const bytes = await stream.read(size);
        assert.equal(bytes.length, size);
        assert.ok(
          bytes.every((b, j) => b === expected[offset + j]),
          `bytes ${offset}..${offset + size}`,
        );
        offset += size;
        assert.equal(stream.offset, offset);
      }
      assert.equal(await stream.atEnd(), true);

      // A read that straddles exactly one boundary, after a seek.
      await stream.seek(CHUNK - 5);
      assertBytes(await stream.read(10), expected.subarray(CHUNK - 5, CHUNK + 5));
      assertBytes(await stream.peek(3), expected.subarray(CHUNK + 5, CHUNK + 8));
      assert.equal(stream.offset, CHUNK + 5);
    } finally {
      stream.close();
    }
  });
});

Deno.test("read() past the end throws TruncatedInputError naming both offsets and consumes nothing", async () => {
  const bytes = pattern(10);
  const stream = ByteStream.fromBytes(bytes);
  assertBytes(await stream.read(4), bytes.subarray(0, 4));
  await assert.rejects(
    stream.read(10, "the block at offset 4"),
    isTruncation(
      10,
      "Input ends at offset 10 inside the block at offset 4",
      "10 bytes from offset 4",
    ),
  );
  assert.equal(stream.offset, 4);
  assertBytes(await stream.peek(100), bytes.subarray(4));
  assertBytes(await stream.read(6), bytes.subarray(4));
  assert.equal(stream.offset, 10);
  await assert.rejects(stream.read(1), isTruncation(10));
  assertBytes(await stream.readUpTo(5), new Uint8Array(0));
});

Deno.test("read() past the end of a file keeps the buffered bytes for the next read", async () => {
  await withTempDir(async (dir) => {
    const expected = pattern(FILE_LENGTH);
    const path = join(dir, "pattern.bin");
    await Deno.writeFile(path, expected);
    const stream = await ByteStream.open(path);
    try {
      await stream.skip(CHUNK - 100);
      await assert.rejects(
        stream.read(FILE_LENGTH),
        isTruncation(FILE_LENGTH, `from offset ${CHUNK - 100}`),
      );
      assert.equal(stream.offset, CHUNK - 100);
      assertBytes(await stream.readUpTo(FILE_LENGTH), expected.subarray(CHUNK - 100));
    } finally {
      stream.close();
    }
  });
});

for (const at of [CHUNK - 8, 2 * CHUNK - 8, 2 * CHUNK - 15, 2 * CHUNK - 1]) {
  Deno.test(`skipTo() finds a 16-byte marker at offset ${at}, across a chunk boundary, keeping at most the bytes asked for`, async () => {
    await withTempDir(async (dir) => {
      const marker = new Uint8Array([
        0xde,
        0xad,
        0xbe,
        0xef,
        ...new Array(10).fill(0x5a),
        0x01,
        0x02,
      ]);
      // Zeros and near misses (the marker's first 15 bytes) everywhere else.
      const bytes = new Uint8Array(FILE_LENGTH);
      for (let i = 1000; i < FILE_LENGTH - 16; i += 40_000) bytes.set(marker.subarray(0, 15), i);
      bytes.fill(0, at - 16, at + 32);
      bytes.set(marker, at);
      bytes[3] = 0x77;
      const path = join(dir, "marker.bin");
      await Deno.writeFile(path, bytes);
      const stream = await ByteStream.open(path);
      try {
        const first = await stream.skipTo(marker, 100);
        assert.equal(first.found, true);
        assert.equal(stream.offset, at);
        assertBytes(first.skipped, bytes.subarray(0, 100));
        assertBytes(await stream.read(16), marker);

        const rest = await stream.skipTo(marker, 1 << 30);
        assert.equal(rest.found, false);
        assert.equal(stream.offset, FILE_LENGTH);
        assertBytes(rest.skipped, bytes.subarray(at + 16));
        assert.equal(await stream.atEnd(), true);
      } finally {
        stream.close();
      }
    });
  });
}

Deno.test("skipTo() with nothing to find skips to the end and keeps only the first bytes asked for", async () => {
  const bytes = pattern(1000);
  const stream = ByteStream.fromBytes(bytes);
  await stream.skip(10);
  const result = await stream.skipTo(new Uint8Array(16).fill(0xee), 7);
  assert.equal(result.found, false);
  assertBytes(result.skipped, bytes.subarray(10, 17));
  assert.equal(stream.offset, 1000);

  const empty = await stream.skipTo(new Uint8Array(16).fill(0xee), 7);
  assert.equal(empty.found, false);
  assert.equal(empty.skipped.length, 0);
});

Deno.test("unread() puts bytes back so the next read returns them again at the same offsets", async () => {
  await withTempDir(async (dir) => {
    const expected = pattern(FILE_LENGTH);
    const path = join(dir, "pattern.bin");
    await Deno.writeFile(path, expected);
    const stream = await ByteStream.open(path);
    try {
      await stream.read(100);
      const inside = await stream.read(50);
      stream.unread(inside);
      assert.equal(stream.offset, 100);
      assertBytes(await stream.read(50), expected.subarray(100, 150));
      assertBytes(await stream.read(10), expected.subarray(150, 160));

      // Across the boundary, in two pieces put back in reverse order, as the OCF reader does.
      await stream.skip(CHUNK - 1000 - 160);
      const start = stream.offset;
      const data = await stream.read(990);
      const sync = await stream.read(16);
      assert.equal(stream.offset, CHUNK + 6);
      stream.unread(sync);
      stream.unread(data);
      assert.equal(stream.offset, start);
      assertBytes(await stream.read(1006), expected.subarray(start, start + 1006));
      assertBytes(await stream.read(1000), expected.subarray(start + 1006, start + 2006));
      assert.equal(stream.offset, start + 2006);
    } finally {
      stream.close();
    }
  });
});

Deno.test("seek() moves a plain file to any offset", async () => {
  await withTempDir(async (dir) => {
    const expected = pattern(FILE_LENGTH);
    const path = join(dir, "pattern.bin");
    await Deno.writeFile(path, expected);
    const stream = await ByteStream.open(path);
    try {
      assert.equal(stream.seekable, true);
      await stream.read(1000);
      for (const offset of [2 * CHUNK + 17, 3, CHUNK, FILE_LENGTH - 4]) {
        await stream.seek(offset);
        assert.equal(stream.offset, offset);
        assertBytes(await stream.read(4), expected.subarray(offset, offset + 4));
      }
      assert.equal(await stream.atEnd(), true);
      await stream.seek(0);
      assert.equal(await stream.readLong(), 0n);
      assert.equal(stream.offset, 1);
    } finally {
      stream.close();
    }
  });
});

Deno.test("seek() throws a TypeError on an in-memory or gzipped stream", async () => {
  const memory = ByteStream.fromBytes(pattern(10));
  assert.equal(memory.seekable, false);
  await assert.rejects(memory.seek(0), { name: "TypeError", message: /^Cannot seek/ });

  await withTempDir(async (dir) => {
    const path = join(dir, "pattern.bin.gz");
    await Deno.writeFile(path, gzipSync(pattern(1000)));
    const stream = await ByteStream.open(path);
    try {
      assert.equal(stream.seekable, false);
      await stream.read(5);
      await assert.rejects(stream.seek(0), { name: "TypeError", message: /^Cannot seek/ });
      assert.equal(stream.offset, 5);
    } finally {
      stream.close();
    }
  });
});

Deno.test("open() decompresses a gzipped file transparently, with offsets into the decompressed bytes", async () => {
  await withTempDir(async (dir) => {
    const expected = pattern(FILE_LENGTH);
    const path = join(dir, "pattern.bin.gz");
    const compressed = gzipSync(expected);
    assert.ok(compressed.length < FILE_LENGTH / 2, "the pattern compresses");
    await Deno.writeFile(path, compressed);

    const stream = await ByteStream.open(path);
    try {
      assert.equal(stream.gzipped, true);
      assertBytes(await stream.read(CHUNK + 3), expected.subarray(0, CHUNK + 3));
      assert.equal(stream.offset, CHUNK + 3);
      await stream.skip(100_000);
      assertBytes(await stream.read(7), expected.subarray(CHUNK + 100_003, CHUNK + 100_010));
      assertBytes(await stream.readUpTo(FILE_LENGTH), expected.subarray(CHUNK + 100_010));
      assert.equal(stream.offset, FILE_LENGTH);
      assert.equal(await stream.atEnd(), true);
    } finally {
      stream.close();
    }

    const raw = await ByteStream.open(path, { gunzip: false });
    try {
      assert.equal(raw.gzipped, false);
      assertBytes(await raw.readUpTo(FILE_LENGTH), new Uint8Array(compressed));
    } finally {
      raw.close();
    }
  });
});

Deno.test("close() is safe to call twice, on a plain file and on a gzipped one read halfway", async () => {
  await withTempDir(async (dir) => {
    const plainPath = join(dir, "pattern.bin");
    const gzipPath = join(dir, "pattern.bin.gz");
    await Deno.writeFile(plainPath, pattern(FILE_LENGTH));
    await Deno.writeFile(gzipPath, gzipSync(pattern(FILE_LENGTH)));

    const plain = await ByteStream.open(plainPath);
    await plain.read(10);
    plain.close();
    plain.close();

    const gzipped = await ByteStream.open(gzipPath);
    await gzipped.read(10);
    gzipped.close();
    gzipped.close();
    // The test's resource sanitizer fails the test if either file is still open.
  });
});

Deno.test("ByteStream: a read larger than a chunk comes straight from the file, exactly", async () => {
  await withTempDir(async (dir) => {
    const bytes = pattern(FILE_LENGTH);
    const path = join(dir, "large.bin");
    await Deno.writeFile(path, bytes);
    const stream = await ByteStream.open(path);
    try {
      assert.deepEqual(await stream.read(1000), bytes.subarray(0, 1000));
      // Part of it is already buffered, the rest is read into the result directly.
      const large = await stream.read(2 * CHUNK + 17);
      assert.deepEqual(large, bytes.subarray(1000, 1000 + 2 * CHUNK + 17));
      assert.equal(stream.offset, 1000 + 2 * CHUNK + 17);
      assert.deepEqual(await stream.read(10), bytes.subarray(stream.offset - 10, stream.offset));
    } finally {
      stream.close();
    }
  });
});

Deno.test("ByteStream: a large read past the end fails and keeps every byte for rescue", async () => {
  await withTempDir(async (dir) => {
    const bytes = pattern(FILE_LENGTH);
    const path = join(dir, "short.bin");
    await Deno.writeFile(path, bytes);
    const stream = await ByteStream.open(path);
    try {
      await stream.read(77);
      await assert.rejects(() => stream.read(FILE_LENGTH, "an Avro block"), (error: unknown) => {
        assert.ok(error instanceof TruncatedInputError);
        assert.equal(
          error.message,
          `Input ends at offset ${FILE_LENGTH} inside an Avro block that needs ${FILE_LENGTH} bytes from offset 77`,
        );
        return true;
      });
      assert.equal(stream.offset, 77);
      assert.deepEqual(await stream.readUpTo(FILE_LENGTH), bytes.subarray(77));
      assert.ok(await stream.atEnd());
    } finally {
      stream.close();
    }
  });
});
