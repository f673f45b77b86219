import assert from "node:assert/strict";
import { join, sep } from "node:path";
import { createGzip, gzipSync } from "node:zlib";
import type { AlertRecord } from "../model/alert_record.ts";
import { boomCutouts } from "../tests/_fixtures.ts";
import {
  FITSVERIFY,
  fixturesDir,
  pythonWith,
  run,
  testWith,
  withTempDir,
} from "../tests/_support.ts";
import { CutoutProcessor } from "./cutout_processor.ts";
import { fitsImage, readFits } from "./fits_reader.ts";
import { encodeFits } from "./fits_writer.ts";

const FIXTURES = fixturesDir();
const PYTHON = pythonWith("astropy");

function fits(value: number): Uint8Array {
  return encodeFits([{ width: 3, height: 2, data: new Float32Array(6).fill(value) }]);
}

function alert(fields: Partial<AlertRecord> = {}): AlertRecord {
  return {
    diaSourceId: 1234n,
    alertId: 1234n,
    diaObjectId: null,
    ssObjectId: null,
    ssObjectName: null,
    objectName: null,
    ssObjectReassocTimeMjdTai: null,
    ra: 10,
    dec: -20,
    raErr: null,
    decErr: null,
    midpointMjdTai: 60961.23309222222,
    band: "r",
    psfFlux: null,
    psfFluxErr: null,
    snr: null,
    extendedness: null,
    reliability: null,
    visit: null,
    detector: null,
    observationReason: null,
    targetName: null,
    schemaVersion: "9.0",
    source: "mock",
    survey: "lsst",
    history: [],
    properties: null,
    snapshot: false,
    cutoutScience: fits(1),
    cutoutTemplate: fits(2),
    cutoutDifference: fits(3),
    isReassociation: false,
    reassociationReason: null,
    reassociations: [],
    ...fields,
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

// The processor's own temporary folder (`.tmp/`) is not part of the output tree.
async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (path === ".tmp") continue;
    if (entry.isDirectory) found.push(...await listTree(dir, path));
    else found.push(path);
  }
  return found.sort();
}

/** A gzip stream of `mib` MiB of zeros, compressed chunk by chunk so the test stays light. */
async function gzippedZeros(mib: number): Promise<Uint8Array> {
  const gzip = createGzip({ level: 9 });
  const chunks: Uint8Array[] = [];
  gzip.on("data", (chunk: Uint8Array) => chunks.push(chunk));
  const ended = new Promise((resolve) => gzip.on("end", resolve));
  const zeros = new Uint8Array(1024 * 1024);
  for (let i = 0; i < mib; i++) {
    if (!gzip.write(zeros)) await new Promise((resolve) => gzip.once("drain", resolve));
  }
  gzip.end();
  await ended;
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

Deno.test("process() writes each cutout to <outputDir>/<UTC date>/<diaSourceId>/<kind>.fits", async () => {
  await withTempDir("cutout-processor-test-", async (dir) => {
    const input = alert();
    const result = await new CutoutProcessor({ outputDir: dir }).process(input);
    const folder = join(dir, "2025-10-13", "1234");
    assert.deepEqual(result, {
      science: join(folder, "science.fits"),
      template: join(folder, "template.fits"),
      difference: join(folder, "difference.fits"),
      problems: [],
    });
    assert.deepEqual(await Deno.readFile(result.science!), input.cutoutScience);
    assert.deepEqual(await Deno.readFile(result.template!), input.cutoutTemplate);
    assert.deepEqual(await Deno.readFile(result.difference!), input.cutoutDifference);
    assert.deepEqual(await listTree(dir), [
      "2025-10-13/1234/difference.fits",
      "2025-10-13/1234/science.fits",
      "2025-10-13/1234/template.fits",
    ]);
  });
});

Deno.test("cutoutPaths() dates by UTC, 37 s behind TAI: 20 s past TAI midnight is the day before", () => {
  const processor = new CutoutProcessor({ outputDir: "/data/cutouts" });
  const folder = (midpointMjdTai: number) =>
    processor.cutoutPaths({ diaSourceId: 7n, midpointMjdTai }).science.split(sep).at(-3);
  assert.equal(folder(60958 + 20 / 86400), "2025-10-09");
  assert.equal(folder(60958 + 36.9 / 86400), "2025-10-09");
  assert.equal(folder(60958 + 37.1 / 86400), "2025-10-10");
  assert.equal(folder(60958.999), "2025-10-10");
  assert.equal(folder(40587 + 37 / 86400), "1970-01-01");
});

testWith(PYTHON !== null, "python3-astropy", {
  name: "cutoutPaths() dates agree with astropy's TAI to UTC conversion",
  async fn() {
    const processor = new CutoutProcessor({ outputDir: "/data/cutouts" });
    const mjds = [57755, 60000.5, 60958 + 20 / 86400, 60958 + 38 / 86400, 60961.23309222222];
    const script = "import sys, json\nfrom astropy.time import Time\n" +
      "print(json.dumps([Time(float(m), format='mjd', scale='tai').utc.iso[:10] " +
      "for m in sys.argv[1:]]))";
    const { code, stdout, stderr } = await run(PYTHON!, ["-c", script, ...mjds.map(String)]);
    assert.equal(code, 0, stderr);
    const ours = mjds.map((midpointMjdTai) =>
      processor.cutoutPaths({ diaSourceId: 7n, midpointMjdTai }).science.split(sep).at(-3)
    );
    assert.deepEqual(ours, JSON.parse(stdout));
  },
});

Deno.test("cutoutPaths() refuses negative ids and times that are not a usable MJD", () => {
  const processor = new CutoutProcessor({ outputDir: "/data/cutouts" });
  assert.throws(
    () => processor.cutoutPaths({ diaSourceId: -1n, midpointMjdTai: 60000 }),
    /^RangeError: Cannot place cutouts: diaSourceId "-1" is not a non-negative integer$/,
  );
  assert.throws(
    () => processor.cutoutPaths({ diaSourceId: 5 as unknown as bigint, midpointMjdTai: 60000 }),
    RangeError,
  );
  for (const midpointMjdTai of [NaN, Infinity, -1e9, 1e9]) {
    assert.throws(
      () => processor.cutoutPaths({ diaSourceId: 1n, midpointMjdTai }),
      /^RangeError: Cannot place cutouts of DIASource 1: midpointMjdTai ".*" is not a usable MJD$/,
    );
  }
});

Deno.test("new CutoutProcessor() refuses a concurrency or size cap below 1", () => {
  assert.throws(() => new CutoutProcessor({ outputDir: ".", concurrency: 0 }), RangeError);
  assert.throws(() => new CutoutProcessor({ outputDir: ".", concurrency: 1.5 }), RangeError);
  assert.throws(() => new CutoutProcessor({ outputDir: ".", maxFitsBytes: 0 }), RangeError);
});

Deno.test("process() keeps ids above 2^53 exact in the path", async () => {
  await withTempDir("cutout-processor-test-", async (dir) => {
    const result = await new CutoutProcessor({ outputDir: dir }).process(
      alert({ diaSourceId: 170587117485817955n }),
    );
    assert.equal(result.science, join(dir, "2025-10-13", "170587117485817955", "science.fits"));
    assert.ok(await exists(result.science!));
  });
});

Deno.test("process() returns null paths for the kinds an alert does not carry", async () => {
  await withTempDir("cutout-processor-test-", async (dir) => {
    const result = await new CutoutProcessor({ outputDir: dir }).process(
      alert({ cutoutScience: null, cutoutDifference: null }),
    );
    assert.equal(result.science, null);
    assert.equal(result.difference, null);
    assert.equal(result.template, join(dir, "2025-10-13", "1234", "template.fits"));
    assert.deepEqual(await listTree(dir), ["2025-10-13/1234/template.fits"]);
  });
});

Deno.test("process() decompresses gzipped cutouts and writes plain FITS", async () => {
  await withTempDir("cutout-processor-test-", async (dir) => {
    const plain = fits(42);
    const result = await new CutoutProcessor({ outputDir: dir }).process(
      alert({ cutoutScience: gzipSync(plain), cutoutTemplate: null, cutoutDifference: null }),
    );
    assert.deepEqual(result.problems, []);
    const written = await Deno.readFile(result.science!);
    assert.deepEqual(written, plain);
    assert.deepEqual(fitsImage(written, readFits(written)[0]!), new Float32Array(6).fill(42));
  });
});

Deno.test("process() returns invalid cutouts as problems and still writes the valid ones", async () => {
  await withTempDir("cutout-processor-test-", async (dir) => {
    const notFits = new TextEncoder().encode("not a FITS file");
    const brokenGzip = Uint8Array.of(0x1f, 0x8b, 0x08, 0, 1, 2, 3);
    const gzippedNotFits = gzipSync(new Uint8Array(2880));
    const processor = new CutoutProcessor({ outputDir: dir });
    const result = await processor.process(
      alert({ cutoutScience: notFits, cutoutDifference: brokenGzip }),
    );
    assert.equal(result.science, null);
    assert.equal(result.difference, null);
    assert.equal(result.template, join(dir, "2025-10-13", "1234", "template.fits"));
    assert.deepEqual(result.problems.map(({ kind, bytes }) => ({ kind, bytes })), [
      { kind: "science", bytes: notFits },
      { kind: "difference", bytes: brokenGzip },
    ]);
    assert.equal(
      result.problems[0]!.error,
      "Not a FITS file: its length 15 is not a multiple of 2880",
    );
    assert.match(result.problems[1]!.error, /^Cannot decompress cutout: /);
    assert.deepEqual(await listTree(dir), ["2025-10-13/1234/template.fits"]);

    const second = await processor.process(
      alert({ diaSourceId: 5n, cutoutScience: gzippedNotFits }),
    );
    assert.deepEqual(second.problems.map((problem) => [problem.kind, problem.error]), [
      ["science", "Not a FITS file: first card is not SIMPLE = T"],
    ]);
    assert.equal(second.problems[0]!.bytes, gzippedNotFits);
  });
});

Deno.test("process() rejects a gzip bomb as a problem without inflating it past the cap", async () => {
  const bomb = await gzippedZeros(200);
  assert.ok(bomb.length < 1024 * 1024, `the bomb is ${bomb.length} bytes`);
  await withTempDir("cutout-processor-test-", async (dir) => {
    const result = await new CutoutProcessor({ outputDir: dir }).process(
      alert({ cutoutScience: bomb }),
    );
    assert.equal(result.science, null);
    assert.deepEqual(result.problems.map((problem) => [problem.kind, problem.error]), [
      [
        "science",
        "Cannot decompress cutout: it is larger than 67108864 bytes once decompressed",
      ],
    ]);
    assert.ok(result.template !== null && result.difference !== null);
  });
});

Deno.test("process() honours a lower maxFitsBytes for gzipped cutouts", async () => {
  await withTempDir("cutout-processor-test-", async (dir) => {
    const result = await new CutoutProcessor({ outputDir: dir, maxFitsBytes: 5759 }).process(
      alert({ cutoutScience: gzipSync(fits(1)), cutoutTemplate: gzipSync(new Uint8Array(5760)) }),
    );
    assert.deepEqual(result.problems.map((problem) => problem.kind), ["science", "template"]);
    assert.match(result.problems[0]!.error, /larger than 5759 bytes/);
  });
});

/** The files in a processor's temporary folders, without their lock files. */
async function partFiles(dir: string): Promise<string[]> {
  return (await listTree(join(dir, ".tmp"))).filter((name) => !name.endsWith("/lock"));
}

function temporaryFolders(dir: string): string[] {
  return [...Deno.readDirSync(join(dir, ".tmp"))].map((entry) => entry.name).sort();
}

Deno.test("process() leaves no .part file behind, overwrites on replay, and close() tidies up", async () => {
  await withTempDir("cutout-processor-test-", async (dir) => {
    const processor = new CutoutProcessor({ outputDir: dir });
    const first = await processor.process(alert());
    assert.deepEqual(await partFiles(dir), []);
    const replay = await processor.process(alert({ cutoutScience: fits(9) }));
    assert.deepEqual(replay, first);
    assert.deepEqual(await Deno.readFile(replay.science!), fits(9));
    assert.deepEqual(await partFiles(dir), []);
    processor.close();
    processor.close();
    assert.deepEqual([...Deno.readDirSync(join(dir, ".tmp"))], []);
  });
});

Deno.test("process() throws on a file-system failure and removes its temp file", async () => {
  await withTempDir("cutout-processor-test-", async (dir) => {
    const processor = new CutoutProcessor({ outputDir: dir });
    // A folder where the file should go makes the rename fail.
    await Deno.mkdir(join(dir, "2025-10-13", "1234", "science.fits"), { recursive: true });
    await assert.rejects(processor.process(alert()));
    assert.deepEqual(await partFiles(dir), []);
    processor.close();
  });
});

Deno.test("process() never has more writes in flight than its concurrency", async () => {
  await withTempDir("cutout-processor-test-", async (dir) => {
    const processor = new CutoutProcessor({ outputDir: dir, concurrency: 4 });
    const alerts = Array.from({ length: 200 }, (_, i) => alert({ diaSourceId: BigInt(i) }));
    const results = await Promise.all(alerts.map((each) => processor.process(each)));
    assert.equal(processor.peakConcurrentWrites, 4);
    assert.equal(results.filter((result) => result.problems.length === 0).length, 200);
    assert.equal((await listTree(dir)).length, 600);
  });
});

Deno.test("cleanStaleTempFiles() removes abandoned temporary folders and keeps those in use", async () => {
  await withTempDir("cutout-processor-test-", async (dir) => {
    const live = new CutoutProcessor({ outputDir: dir });
    const other = new CutoutProcessor({ outputDir: dir });
    assert.equal(await live.cleanStaleTempFiles(), 0);
    await live.process(alert({ diaSourceId: 1n }));
    await other.process(alert({ diaSourceId: 2n }));
    // An abandoned folder (its lock held by nobody) with a half-written file, and a stray file.
    const tmp = join(dir, ".tmp");
    await Deno.mkdir(join(tmp, "99999-abandoned"));
    await Deno.writeFile(join(tmp, "99999-abandoned", "lock"), new Uint8Array(0));
    await Deno.writeFile(join(tmp, "99999-abandoned", "7.part"), new Uint8Array(100));
    await Deno.writeFile(join(tmp, "stray.part"), new Uint8Array(1));
    assert.equal(await live.cleanStaleTempFiles(), 2);
    // Both live processors' folders are still there.
    assert.equal((temporaryFolders(dir)).length, 2);
    live.close();
    other.close();
  });
});

Deno.test("a writer starting while another processor cleans up is never robbed of its folder", async () => {
  await withTempDir("cutout-processor-test-", async (dir) => {
    // Each round: a new writer sets up its folder while a cleaner sweeps the same `.tmp/`.
    for (let round = 0; round < 150; round++) {
      const writer = new CutoutProcessor({ outputDir: dir });
      const cleaner = new CutoutProcessor({ outputDir: dir });
      const [result] = await Promise.all([
        writer.process(alert({ diaSourceId: BigInt(round) })),
        cleaner.cleanStaleTempFiles(),
        cleaner.cleanStaleTempFiles(),
      ]);
      assert.equal(result.problems.length, 0);
      writer.close();
      cleaner.close();
    }
  });
});

Deno.test("cleanStaleTempFiles() removes the folder of a process killed with SIGKILL", async () => {
  await withTempDir("cutout-processor-test-", async (dir) => {
    const script = join(dir, "writer.ts");
    const module = new URL("./cutout_processor.ts", import.meta.url).href;
    const writer = new URL("./fits_writer.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { CutoutProcessor } from ${JSON.stringify(module)};\n` +
        `import { encodeFits } from ${JSON.stringify(writer)};\n` +
        `const processor = new CutoutProcessor({ outputDir: ${JSON.stringify(dir)} });\n` +
        `const bytes = encodeFits([{ width: 2, height: 2, data: new Float32Array(4) }]);\n` +
        `await processor.process({ diaSourceId: 5n, midpointMjdTai: 61000, cutoutScience: bytes,` +
        ` cutoutTemplate: null, cutoutDifference: null } as never);\n` +
        `await Deno.writeFile(${JSON.stringify(join(dir, "ready"))}, new Uint8Array(0));\n` +
        `await new Promise(() => setInterval(() => {}, 1000));\n`,
    );
    // The same permissions as the CLI's ingest task: no --allow-run, no /proc.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--no-config",
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
        script,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    while (!(await Deno.stat(join(dir, "ready")).then(() => true, () => false))) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const processor = new CutoutProcessor({ outputDir: dir });
    const [folder] = temporaryFolders(dir);
    // A half-written file the killed writer leaves behind.
    await Deno.writeFile(join(dir, ".tmp", folder!, "3.part"), new Uint8Array(9));
    assert.equal(await processor.cleanStaleTempFiles(), 0, "the writer still holds its lock");
    child.kill("SIGKILL");
    await child.output();
    assert.equal(await processor.cleanStaleTempFiles(), 1);
    assert.deepEqual([...Deno.readDirSync(join(dir, ".tmp"))], []);
  });
});

testWith(
  FIXTURES !== null && FITSVERIFY !== null,
  "the shared fixtures and fitsverify (Debian package fitsverify)",
  {
    name: "process() writes the real Rubin cutouts as files that pass fitsverify",
    async fn() {
      const [difference, science, template] = await boomCutouts();
      await withTempDir("cutout-processor-test-", async (dir) => {
        const result = await new CutoutProcessor({ outputDir: dir }).process(
          alert({
            diaSourceId: 7912941781254298n,
            cutoutScience: science!,
            cutoutTemplate: template!,
            cutoutDifference: difference!,
          }),
        );
        assert.deepEqual(result.problems, []);
        for (const path of [result.science!, result.template!, result.difference!]) {
          const { code, stdout } = await run(FITSVERIFY!, ["-q", "-e", path]);
          assert.equal(code, 0, stdout);
        }
      });
    },
  },
);

testWith(FIXTURES !== null && PYTHON !== null, "the shared fixtures and python3-astropy", {
  name: "process() writes the real Rubin cutouts as files astropy reads with identical pixels",
  async fn() {
    const [difference, science, template] = await boomCutouts();
    await withTempDir("cutout-processor-test-", async (dir) => {
      const result = await new CutoutProcessor({ outputDir: dir }).process(
        alert({
          diaSourceId: 7912941781254298n,
          cutoutScience: science!,
          cutoutTemplate: template!,
          cutoutDifference: difference!,
        }),
      );
      const script = "import json, math, sys\nfrom astropy.io import fits\n" +
        "print(json.dumps([[h.name, list(h.data.shape), h.data.dtype.str, " +
        "[None if math.isnan(v) else v for v in h.data.ravel().astype(float).tolist()]] " +
        "for h in fits.open(sys.argv[1])]))";
      const written: [string | null, Uint8Array][] = [
        [result.science, science!],
        [result.template, template!],
        [result.difference, difference!],
      ];
      for (const [path, original] of written) {
        assert.deepEqual(await Deno.readFile(path!), original);
        const { code, stdout, stderr } = await run(PYTHON!, ["-c", script, path!]);
        assert.equal(code, 0, stderr);
        const expected = readFits(original).map((hdu) => [
          hdu.extname ?? "PRIMARY",
          [...hdu.naxis].reverse(),
          hdu.bitpix === -32 ? ">f4" : ">f8",
          Array.from(fitsImage(original, hdu), (v) => Number.isNaN(v) ? null : v),
        ]);
        assert.deepEqual(JSON.parse(stdout), expected);
      }
    });
  },
});
