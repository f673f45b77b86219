import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Buffer } from "node:buffer";
import { FileSource } from "./file_source.ts";
import { createAvroType } from "../../avro/avro_schema.ts";
import { encodeOcf } from "../../avro/ocf_writer.ts";
import { SourceError } from "../../model/errors.ts";
import { SQLiteStorage } from "../../storage/sqlite_storage.ts";
import type { SourcedAlert } from "../alert_source.ts";
import { minimalLsstSchema } from "../../tests/_minimal_schema.ts";

const SCHEMA = minimalLsstSchema();
const JSON_SCHEMA = JSON.stringify(SCHEMA);
const TYPE = createAvroType(SCHEMA);
const BASE = 170_587_117_485_817_955n;

function packet(i: number, midpoint = 61000 + i / 10): Record<string, unknown> {
  const id = BASE + BigInt(i);
  const source = {
    diaSourceId: id,
    diaObjectId: 77n,
    ssObjectId: 0n,
    midpointMjdTai: midpoint,
    ra: 1,
    dec: 2,
  };
  return { diaSourceId: id, diaSource: source, prvDiaSources: null };
}

function container(
  from: number,
  to: number,
  codec: "null" | "deflate" | "snappy" = "null",
): Uint8Array {
  const records = Array.from({ length: to - from }, (_, k) => packet(from + k));
  return Buffer.concat([...encodeOcf(JSON_SCHEMA, TYPE, records, { codec, recordsPerBlock: 3 })]);
}

function framed(i: number, schemaId = 9900): Uint8Array {
  const body = TYPE.toBuffer(packet(i));
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setInt32(1, schemaId);
  out.set(body, 5);
  return out;
}

async function schemaDir(root: string): Promise<string> {
  const dir = join(root, "schemas");
  await Deno.mkdir(join(dir, "99.0"), { recursive: true });
  await Deno.writeTextFile(join(dir, "99.0", "lsst.v99_0.alert.avsc"), JSON_SCHEMA);
  return dir;
}

async function collect(source: FileSource, options = {}): Promise<SourcedAlert[]> {
  const out: SourcedAlert[] = [];
  for await (const item of source.alerts(options)) out.push(item);
  return out;
}

function ids(items: SourcedAlert[]): bigint[] {
  return items.flatMap((i) => (i.kind === "alert" ? [i.alert.diaSourceId] : []));
}

async function withDir(work: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lsst-files-" });
  try {
    await work(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("alerts() reads every format by content, in sorted path order", async () => {
  await withDir(async (dir) => {
    const data = join(dir, "data");
    await Deno.mkdir(join(data, "b"), { recursive: true });
    await Deno.writeFile(join(data, "a-container.bin"), container(0, 4, "deflate"));
    await Deno.writeFile(join(data, "b", "framed.avro"), framed(10));
    await Deno.writeFile(
      join(data, "b", "gz-container.dat"),
      gzipSync(container(20, 22, "snappy")),
    );
    await Deno.writeFile(join(data, "b", "gz-framed"), gzipSync(framed(30)));
    await Deno.writeTextFile(
      join(data, "c.csv"),
      `dia_source_id,ra,dec,midpoint_mjd_tai\n${BASE + 40n},1.5,2.5,61002.5\n`,
    );
    await Deno.writeTextFile(join(data, "d-notes.txt"), "not an alert\n");

    const items = await collect(new FileSource({ path: data, schemaDir: await schemaDir(dir) }));
    assert.deepEqual(ids(items), [0, 1, 2, 3, 10, 20, 21, 30, 40].map((i) => BASE + BigInt(i)));
    const rejected = items.filter((i) => i.kind === "rejected");
    assert.equal(rejected.length, 1);
    assert.match(rejected[0]?.error.message ?? "", /Unrecognised file ".*d-notes\.txt"/);
    assert.deepEqual(rejected[0]?.raw, new TextEncoder().encode("not an alert\n"));
    const cursors = items.map((i) =>
      `${i.cursor.stream.slice(data.length + 1)} ${i.cursor.position}`
    );
    assert.equal(cursors[4], "b/framed.avro 0");
    assert.equal(cursors[8], "c.csv 0");
    assert.match(cursors[0] ?? "", /^a-container\.bin \d+:0$/);
    const csv = items[8];
    assert.equal(csv?.kind === "alert" && csv.alert.snapshot, true);
  });
});

Deno.test("a glob selects only the files it matches, across directories with **", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(join(dir, "n1", "deep"), { recursive: true });
    await Deno.writeFile(join(dir, "n1", "x.avro"), container(0, 1));
    await Deno.writeFile(join(dir, "n1", "deep", "y.avro"), container(1, 2));
    await Deno.writeFile(join(dir, "n1", "deep", "y.avro.bak"), container(2, 3));
    await Deno.writeFile(join(dir, "top.avro"), container(3, 4));
    const all = await collect(new FileSource({ path: join(dir, "**", "*.avro") }));
    // Sorted by full path: "n1/deep/y.avro" < "n1/x.avro" < "top.avro".
    assert.deepEqual(ids(all), [1n, 0n, 3n].map((i) => BASE + i));
    const one = await collect(new FileSource({ path: join(dir, "n?", "*.avro") }));
    assert.deepEqual(ids(one), [BASE]);
  });
});

Deno.test("a missing path stops the source with a clear error", async () => {
  await assert.rejects(
    () => collect(new FileSource({ path: "/nonexistent/alerts" })),
    (error: Error) =>
      error instanceof SourceError && /Cannot read "\/nonexistent\/alerts"/.test(error.message),
  );
});

Deno.test("alerts() resumes after the stored position of each file, in every format", async () => {
  await withDir(async (dir) => {
    const data = join(dir, "data");
    await Deno.mkdir(data);
    await Deno.writeFile(join(data, "1.avro"), container(0, 10));
    await Deno.writeFile(join(data, "2.avro.gz"), gzipSync(container(10, 20, "deflate")));
    const rows = Array.from({ length: 10 }, (_, k) => `${BASE + 20n + BigInt(k)},1,2,61000`);
    await Deno.writeTextFile(
      join(data, "3.csv"),
      `dia_source_id,ra,dec,midpoint_mjd_tai\n${rows.join("\n")}\n`,
    );
    const source = new FileSource({ path: data });
    const whole = ids(await collect(source));
    assert.equal(whole.length, 30);

    // Read in slices of 7, resuming from the last cursor of each stream, as the pipeline does.
    const cursors = new Map<string, string>();
    const seen: bigint[] = [];
    for (let round = 0; round < 10; round++) {
      const slice = await collect(source, { limit: 7, resumeFrom: cursors });
      for (const item of slice) cursors.set(item.cursor.stream, item.cursor.position);
      seen.push(...ids(slice));
    }
    assert.deepEqual(seen, whole);
  });
});

Deno.test("a damaged block and a truncated file are rejected while the records around them come out", async () => {
  await withDir(async (dir) => {
    const good = container(0, 9);
    const damaged = new Uint8Array(good); // a copy: Buffer#slice would share the bytes
    // Flip a byte of the second block's sync marker: that block is lost, the third is not.
    const sync = damaged.subarray(damaged.length - 16);
    const marker = Buffer.from(sync);
    const blocks: number[] = [];
    for (
      let at = Buffer.from(damaged).indexOf(marker);
      at >= 0;
      at = Buffer.from(damaged).indexOf(marker, at + 1)
    ) {
      blocks.push(at);
    }
    const secondEnd = blocks[2] as number; // [header marker, block 1 end, block 2 end, block 3 end]
    damaged[secondEnd] = (damaged[secondEnd] as number) ^ 0xff;
    await Deno.writeFile(join(dir, "1-damaged.avro"), damaged);
    await Deno.writeFile(join(dir, "2-truncated.avro"), good.subarray(0, good.length - 40));
    await Deno.writeFile(join(dir, "3-good.avro"), container(100, 101));

    const items = await collect(new FileSource({ path: dir }));
    const kinds = items.map((i) => `${i.cursor.stream.slice(dir.length + 1)}:${i.kind}`);
    assert.deepEqual(ids(items).map((id) => Number(id - BASE)), [
      0,
      1,
      2,
      6,
      7,
      8,
      0,
      1,
      2,
      3,
      4,
      5,
      100,
    ]);
    const rejected = items.filter((i) => i.kind === "rejected");
    assert.equal(rejected.length, 2, kinds.join(" "));
    assert.match(
      rejected[0]?.error.message ?? "",
      /ends with a damaged sync marker.*1-damaged\.avro/,
    );
    assert.match(rejected[1]?.error.message ?? "", /truncated.*2-truncated\.avro/);
    assert.ok((rejected[1]?.raw?.length ?? 0) > 0, "the truncated tail is kept");
    assert.match(rejected[0]?.cursor.position ?? "", /^\d+:all$/);
  });
});

Deno.test("a record that decodes but cannot be mapped is rejected alone with its bytes", async () => {
  await withDir(async (dir) => {
    const records = [packet(0), packet(1, Number.NaN), packet(2)];
    await Deno.writeFile(
      join(dir, "x.avro"),
      Buffer.concat([...encodeOcf(JSON_SCHEMA, TYPE, records)]),
    );
    const items = await collect(new FileSource({ path: dir }));
    assert.deepEqual(items.map((i) => i.kind), ["alert", "rejected", "alert"]);
    const bad = items[1];
    assert.match(
      bad?.kind === "rejected" ? bad.error.message : "",
      /Cannot map record 1 .*midpointMjdTai/,
    );
    assert.deepEqual(
      bad?.kind === "rejected" ? bad.raw : null,
      new Uint8Array(TYPE.toBuffer(records[1])),
    );
  });
});

Deno.test("an unknown schema id is rejected with the id and where it was looked for", async () => {
  await withDir(async (dir) => {
    await Deno.writeFile(join(dir, "m.avro"), framed(1, 1203));
    const [item] = await collect(new FileSource({ path: dir, schemaDir: await schemaDir(dir) }));
    assert.equal(item?.kind, "rejected");
    assert.match(
      item?.kind === "rejected" ? item.error.message : "",
      /framed message ".*m\.avro": Unknown schema id 1203: not stored in the database, not in --schema-dir ".*" \(no folder 12\.3 or 12\/3, no lsst\.v12_3\.\*\.avsc\), no --schema-registry given/,
    );
  });
});

Deno.test("framed schemas come from the registry once, are stored, and later runs need no registry", async () => {
  await withDir(async (dir) => {
    let requests = 0;
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => {
        requests++;
        const match = /\/schemas\/ids\/(\d+)$/.exec(new URL(request.url).pathname);
        if (match?.[1] === "9900") return Response.json({ schema: JSON_SCHEMA });
        return Response.json({ error_code: 40403, message: "Schema not found" }, { status: 404 });
      },
    );
    const registry = `http://127.0.0.1:${server.addr.port}`;
    for (let i = 0; i < 3; i++) await Deno.writeFile(join(dir, `m${i}.avro`), framed(i));
    await Deno.writeFile(join(dir, "z-unknown.avro"), framed(9, 4242));
    await using storage = new SQLiteStorage(":memory:");
    await storage.initialize();

    const first = await collect(
      new FileSource({ path: dir, schemaRegistry: registry, schemaStore: storage }),
    );
    assert.deepEqual(ids(first), [BASE, BASE + 1n, BASE + 2n]);
    assert.match(
      first[3]?.kind === "rejected" ? first[3].error.message : "",
      /Unknown schema id 4242: .*not in the schema registry "http:\/\/127\.0\.0\.1:\d+\/?"/,
    );
    assert.equal(requests, 2, "one request per id, cached");
    const stored = await storage.schemaById(9900);
    assert.equal(stored?.json, JSON_SCHEMA);
    assert.equal(stored?.version, "99.0");

    await server.shutdown();
    const offline = await collect(
      new FileSource({ path: join(dir, "m1.avro"), schemaStore: storage }),
    );
    assert.deepEqual(ids(offline), [BASE + 1n]);
  });
});

Deno.test("a schema registry that fails stops the source instead of quarantining every message", async () => {
  await withDir(async (dir) => {
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response("overloaded", { status: 503, statusText: "Service Unavailable" }),
    );
    await Deno.writeFile(join(dir, "m.avro"), framed(1));
    await assert.rejects(
      () =>
        collect(
          new FileSource({ path: dir, schemaRegistry: `http://127.0.0.1:${server.addr.port}` }),
        ),
      (error: Error) =>
        error instanceof SourceError && /answered 503 Service Unavailable/.test(error.message),
    );
  });
});
