/**
 * Reading containers in a worker gives exactly what reading them on the calling thread gives:
 * the same alerts (histories, cutouts, raw payloads), the same rejected records with the same
 * messages and bytes, the same cursors in the same order, for clean files, damaged ones,
 * resumed reads and reads stopped early. The files are large enough (over 1 MiB) for the
 * worker to be used, and built here from a synthetic Rubin-shaped schema (no fixtures needed).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import type { SourcedAlert } from "../sources/alert_source.ts";
import { createAvroType } from "../avro/avro_schema.ts";
import { ContainerReader } from "../sources/file/_container_reader.ts";
import { FileSource } from "../sources/file/file_source.ts";
import { writeOcfFile } from "../avro/ocf_writer.ts";
import { mulberry32 } from "./_fuzz.ts";
import { withTempDir } from "./_support.ts";
import { minimalLsstSchema } from "./_minimal_schema.ts";

const SCHEMA = minimalLsstSchema({ reassocTime: true, cutout: true });
const TYPE = createAvroType(SCHEMA);

function packets(count: number, seed: number): Record<string, unknown>[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => {
    const id = (1n << 62n) + BigInt(i) * 1000n;
    const source = (k: number) => ({
      diaSourceId: id - BigInt(k),
      diaObjectId: 9_007_199_254_740_993n + BigInt(i),
      // Associations and reassociation times on some entries, none on most.
      ssObjectId: random() < 0.1 ? -(1n << 63n) + BigInt(k) : random() < 0.2 ? 0n : null,
      midpointMjdTai: 61000 + i / 100 - k / 1000,
      ra: random() * 360,
      dec: random() * 180 - 90,
      ssObjectReassocTimeMjdTai: random() < 0.1 ? 61000 + random() : null,
    });
    return {
      diaSourceId: id,
      diaSource: source(0),
      prvDiaSources: i % 9 === 4 ? null : Array.from({ length: 200 + i }, (_, k) => source(k + 1)),
      cutoutDifference: i % 5 === 0
        ? null
        : Buffer.from(Array.from({ length: 20_000 }, () => Math.floor(random() * 256))),
    };
  });
}

async function writeContainer(path: string, codec: "null" | "deflate"): Promise<void> {
  await writeOcfFile(path, JSON.stringify(SCHEMA), TYPE, packets(70, 5)[Symbol.iterator](), {
    codec,
    recordsPerBlock: 6,
  });
}

/** Every item as comparable plain data (bytes as hex). */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString("hex");
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value).sort().map((k) => [k, plain((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

async function read(
  path: string,
  decodeWorker: boolean,
  options: { resumeFrom?: Map<string, string>; limit?: number } = {},
): Promise<unknown[]> {
  await using source = new FileSource({ path, decodeWorker });
  const items: SourcedAlert[] = [];
  for await (const item of source.alerts(options)) items.push(item);
  return items.map(plain);
}

Deno.test("decode worker: a clean container reads exactly as on the calling thread", async () => {
  await withTempDir("lsst-decode-worker-", async (dir) => {
    for (const codec of ["null", "deflate"] as const) {
      const path = join(dir, `alerts-${codec}.avro`);
      await writeContainer(path, codec);
      assert.ok((await Deno.stat(path)).size > 1 << 20, "large enough for the worker");
      const reads = ContainerReader.reads;
      const inline = await read(path, false);
      assert.equal(ContainerReader.reads, reads, "read on the calling thread");
      const worker = await read(path, true);
      assert.equal(ContainerReader.reads, reads + 1, "read in the worker");
      assert.equal(inline.length, 70);
      assert.deepStrictEqual(worker, inline, codec);
      // The raw payloads are the records' bytes: avsc decodes each to its alert again.
      const first = worker[1] as { alert: { diaSourceId: bigint }; raw: { payload: string } };
      const decoded = TYPE.fromBuffer(Buffer.from(first.raw.payload, "hex")) as {
        diaSourceId: bigint;
      };
      assert.equal(decoded.diaSourceId, first.alert.diaSourceId);
    }
  });
});

Deno.test("decode worker: damaged containers give the same rejections and alerts", async () => {
  await withTempDir("lsst-decode-worker-", async (dir) => {
    const clean = join(dir, "clean.avro");
    await writeContainer(clean, "null");
    const bytes = await Deno.readFile(clean);
    const random = mulberry32(77);
    let rejected = 0;
    for (let i = 0; i < 8; i++) {
      const damaged = bytes.slice();
      for (let k = 0; k < 3; k++) {
        // After the header, so the file stays a container.
        damaged[2000 + Math.floor(random() * (damaged.length - 2000))] = Math.floor(
          random() * 256,
        );
      }
      const path = join(dir, `damaged-${i}.avro`);
      await Deno.writeFile(path, i === 7 ? damaged.subarray(0, damaged.length - 5000) : damaged);
      const inline = await read(path, false);
      const worker = await read(path, true);
      assert.deepStrictEqual(worker, inline, `damaged file ${i}`);
      rejected += inline.filter((item) => (item as { kind: string }).kind === "rejected").length;
    }
    assert.ok(rejected > 0, "the damage was found");
  });
});

Deno.test("decode worker: resumed and limited reads match", async () => {
  await withTempDir("lsst-decode-worker-", async (dir) => {
    const path = join(dir, "alerts.avro");
    await writeContainer(path, "deflate");
    const all = await read(path, false) as Array<{ cursor: { position: string } }>;
    const stored = all[20]!.cursor.position;
    const resumeFrom = new Map([[path, stored]]);
    const inline = await read(path, false, { resumeFrom });
    assert.deepStrictEqual(await read(path, true, { resumeFrom }), inline);
    assert.deepStrictEqual(inline, all.slice(21));
    // Stopped early, the worker is stopped with the source (the test's sanitizers check it).
    assert.deepStrictEqual(await read(path, true, { limit: 9 }), all.slice(0, 9));
  });
});

Deno.test("decode worker: a block's bytes are released once its records are acknowledged, and the alerts after it read the same", async () => {
  await withTempDir("lsst-decode-worker-", async (dir) => {
    const path = join(dir, "alerts.avro");
    await writeContainer(path, "null");
    const inline = await read(path, false);
    for (
      const [readAheadBytes, readAheadBlocks] of [[1, 1], [1 << 20, 2], [64 << 20, 8]] as const
    ) {
      await using source = new FileSource({ path, readAheadBytes, readAheadBlocks });
      const items: unknown[] = [];
      let batch: SourcedAlert[] = [];
      const store = async () => {
        // As the pipeline does: each record is used before its batch is acknowledged.
        items.push(...batch.map(plain));
        await source.acknowledge(batch.map((item) => item.cursor).slice(-1));
        batch = [];
      };
      let released = 0;
      for await (const item of source.alerts()) {
        batch.push(item);
        if (batch.length === 8) {
          const first = batch[0] as SourcedAlert & { kind: "alert" };
          await store();
          // Records of a released block read as empty.
          if (first.raw?.payload.length === 0) released++;
        }
      }
      await store();
      assert.deepStrictEqual(items, inline, `read ahead ${readAheadBytes} B, ${readAheadBlocks}`);
      assert.ok(released > 0, "blocks were released");
    }
  });
});

Deno.test("FileSource refuses read-ahead limits that are not positive integers", () => {
  for (const readAheadBytes of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => new FileSource({ path: ".", readAheadBytes }), RangeError);
  }
  assert.throws(() => new FileSource({ path: ".", readAheadBlocks: 0 }), RangeError);
});
