import assert from "node:assert/strict";
import { join } from "node:path";
import { writeExport } from "./export_writer.ts";
import { SQLiteStorage } from "./sqlite_storage.ts";
import type { CutoutPaths } from "../model/cutout_paths.ts";
import type { StoredAlert } from "../model/stored_alert.ts";
import { readCsvAlerts } from "../formats/csv_alerts.ts";
import { makeAlert } from "../tests/_alert_factory.ts";
import { withTempDir } from "../tests/_support.ts";

const NO_CUTOUTS: CutoutPaths = { science: null, template: null, difference: null };
const MAX_INT64 = 2n ** 63n - 1n;

async function* rowsOf(rows: Record<string, unknown>[]): AsyncGenerator<Record<string, unknown>> {
  for (const row of rows) yield row;
}

/** A sink collecting what is written, with how many rows the source had yielded at each write. */
function collector(): {
  out: WritableStream<Uint8Array>;
  text: () => string;
  closed: () => boolean;
} {
  const chunks: Uint8Array[] = [];
  let closed = false;
  const out = new WritableStream<Uint8Array>({
    write(chunk) {
      chunks.push(chunk);
    },
    close() {
      closed = true;
    },
  });
  return {
    out,
    text: () => new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c]))),
    closed: () => closed,
  };
}

/** Alerts that exercise every column: nulls, big ids, awkward strings and floats, both surveys. */
function variedAlerts(): StoredAlert[] {
  return [
    {
      alert: makeAlert(9_007_199_254_740_993n, {
        properties: '{"lsst_diaSource_ssObjectId": 170587117485817955, "note": "a, \\"b\\"\\n"}',
        alertId: 9_007_199_254_740_995n,
        source: "kafka",
        psfFlux: 0.1 + 0.2,
        psfFluxErr: 5e-324,
        snr: 1.7976931348623157e308,
        extendedness: null,
        ra: 0,
        dec: -89.99999999999999,
        midpointMjdTai: 61000.123456789012,
      }),
      cutouts: {
        science: 'cutouts/2026-01-01/9007199254740993,"science".fits',
        template: "cutouts/2026-01-01/9007199254740993_template.fits",
        difference: "cutouts/2026-01-01/9007199254740993 difference.fits",
      },
    },
    {
      alert: makeAlert(MAX_INT64, {
        diaObjectId: null,
        ssObjectId: MAX_INT64 - 1n,
        ssObjectName: "2024 AB",
        band: "",
        targetName: 'field, "north"\nline 2\r\nline 3',
        observationReason: "a,b",
        visit: -(2n ** 63n),
        detector: 0,
        reliability: 1e-300,
        isReassociation: true,
        reassociationReason: "updated_timestamp",
      }),
      cutouts: NO_CUTOUTS,
    },
    {
      alert: makeAlert(2_593_441_290_015_010_010n, {
        survey: "ztf",
        alertId: 2_593_441_290_015_010_011n,
        diaObjectId: null,
        objectName: "ZTF24aaaaaaa",
        ssObjectName: "1234",
        schemaVersion: "3.3",
        source: "antares",
        raErr: null,
        decErr: null,
        visit: null,
        detector: null,
        observationReason: null,
        targetName: "Ω € 😀 \ufeffbom",
        psfFlux: -1234.5e-7,
        isReassociation: true,
        reassociationReason: "changed_association",
      }),
      cutouts: { science: "", template: null, difference: null },
    },
    { alert: makeAlert(1n, { band: null, snr: 12 }), cutouts: NO_CUTOUTS },
  ];
}

async function storeAll(storage: SQLiteStorage, alerts: StoredAlert[]): Promise<void> {
  await storage.initialize();
  const runId = await storage.beginRun("test", {});
  await storage.writeBatch(runId, { source: "test", alerts, quarantine: [], cursors: [] });
  await storage.finishRun(runId, "completed", null);
}

async function tableRows(storage: SQLiteStorage): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const row of storage.iterateRows("alerts")) {
    const { run_id: _run, ingested_at: _at, ...rest } = row;
    rows.push(rest);
  }
  return rows;
}

Deno.test("writeExport() round-trips every alerts column through CSV and readCsvAlerts into an empty database", async () => {
  await withTempDir("lsst-export-", async (dir) => {
    await using first = new SQLiteStorage(join(dir, "first.db"));
    await storeAll(first, variedAlerts());
    const path = join(dir, "alerts.csv");
    const file = await Deno.open(path, { write: true, create: true, truncate: true });
    const written = await writeExport(first.iterateRows("alerts"), file.writable, {
      format: "csv",
    });
    assert.equal(written, 4);

    const imported: StoredAlert[] = [];
    for await (const row of readCsvAlerts((await Deno.open(path)).readable, { stream: path })) {
      if (row.kind === "rejected") assert.fail(row.error.message);
      imported.push({ alert: row.alert, cutouts: row.cutoutPaths });
    }
    assert.equal(imported.length, 4);
    await using second = new SQLiteStorage(join(dir, "second.db"));
    await storeAll(second, imported);

    const expected = await tableRows(first);
    assert.equal(expected.length, 4);
    assert.deepEqual(Object.keys(expected[0] ?? {}).length, 31, "every column but two");
    assert.deepEqual(await tableRows(second), expected);
    // The comparison is not vacuous: the tricky values really are in the table.
    const byId = new Map(expected.map((r) => [r.dia_source_id, r]));
    assert.equal(byId.get(MAX_INT64)?.target_name, 'field, "north"\nline 2\r\nline 3');
    assert.equal(byId.get(MAX_INT64)?.band, "");
    assert.equal(byId.get(1n)?.band, null);
    assert.equal(byId.get(9_007_199_254_740_993n)?.psf_flux, 0.1 + 0.2);
  });
});

Deno.test("writeExport() writes JSON with exact 64-bit ids and the same rows as the table", async () => {
  await withTempDir("lsst-export-", async (dir) => {
    await using storage = new SQLiteStorage(join(dir, "alerts.db"));
    await storeAll(storage, variedAlerts());
    const path = join(dir, "alerts.json");
    const file = await Deno.open(path, { write: true, create: true, truncate: true });
    assert.equal(
      await writeExport(storage.iterateRows("alerts"), file.writable, { format: "json" }),
      4,
    );

    const text = await Deno.readTextFile(path);
    for (const id of ["9223372036854775807", "9007199254740993", "-9223372036854775808"]) {
      assert.ok(text.includes(`:${id},`), `${id} written exactly`);
    }
    const lines = text.trimEnd().split("\n");
    assert.equal(lines.length, 6, "one row a line between the brackets");
    assert.equal(lines[0], "[");
    assert.equal(lines.at(-1), "]");

    // Integer literals read back as bigint through their source text, so nothing is rounded.
    const parsed = JSON.parse(
      text,
      ((_key: string, value: unknown, context?: { source?: string }) =>
        typeof value === "number" && /^-?[0-9]+$/.test(context?.source ?? "")
          ? BigInt(context?.source ?? "")
          : value) as (key: string, value: unknown) => unknown,
    ) as Record<string, unknown>[];
    const table: Record<string, unknown>[] = [];
    for await (const row of storage.iterateRows("alerts")) table.push(row);
    // JSON cannot tell 150 (REAL) from 150 (INTEGER): compare integral numbers as bigint.
    const integral = (row: Record<string, unknown>): Record<string, unknown> =>
      Object.fromEntries(
        Object.entries(row).map(([k, v]) => [
          k,
          typeof v === "number" && Number.isInteger(v) ? BigInt(v) : v,
        ]),
      );
    assert.deepEqual(parsed.map(integral), table.map(integral));
  });
});

Deno.test("writeExport() quotes CSV fields only when needed and keeps null distinct from an empty string", async () => {
  const { out, text, closed } = collector();
  const count = await writeExport(
    rowsOf([
      { id: 170587117485817955n, name: "plain", x: 0.1 + 0.2, flag: true, none: null },
      { id: -1n, name: 'a,"b"\nc', x: -0, flag: false, none: "" },
      { id: 0n, name: "crlf\r\n", x: 1e21, flag: null, none: undefined },
    ]),
    out,
    { format: "csv" },
  );
  assert.equal(count, 3);
  assert.equal(
    text(),
    "id,name,x,flag,none\r\n" +
      "170587117485817955,plain,0.30000000000000004,true,\r\n" +
      '-1,"a,""b""\nc",-0,false,""\r\n' +
      '0,"crlf\r\n",1e+21,,\r\n',
  );
  assert.equal(closed(), true);
});

Deno.test("writeExport() writes nothing for no rows as CSV and an empty array as JSON", async () => {
  const csv = collector();
  assert.equal(await writeExport(rowsOf([]), csv.out, { format: "csv" }), 0);
  assert.equal(csv.text(), "");
  assert.equal(csv.closed(), true);
  const json = collector();
  assert.equal(await writeExport(rowsOf([]), json.out, { format: "json" }), 0);
  assert.equal(json.text(), "[]\n");
  assert.deepEqual(JSON.parse(json.text()), []);
});

Deno.test("writeExport() pulls rows only as fast as the output accepts them", async () => {
  const TOTAL = 100_000;
  let pulled = 0;
  const pulledAtWrite: number[] = [];
  async function* rows(): AsyncGenerator<Record<string, unknown>> {
    for (let i = 0; i < TOTAL; i++) {
      pulled++;
      yield { dia_source_id: 170_000_000_000_000_000n + BigInt(i), band: "r", snr: i / 7 };
    }
  }
  const out = new WritableStream<Uint8Array>(
    {
      async write() {
        pulledAtWrite.push(pulled);
        // A slow disk: the writer must wait for it instead of reading ahead.
        await new Promise((resolve) => setTimeout(resolve, 1));
      },
    },
    { highWaterMark: 1 },
  );
  for (const format of ["csv", "json"] as const) {
    pulled = 0;
    pulledAtWrite.length = 0;
    assert.equal(await writeExport(rows(), out, { format, preventClose: true }), TOTAL);
    assert.ok(pulledAtWrite.length > 10, `${format}: written in ${pulledAtWrite.length} chunks`);
    assert.ok((pulledAtWrite[0] ?? TOTAL) < TOTAL / 10, `${format}: first chunk after some rows`);
    // Between two writes only one chunk's worth of rows is read.
    const steps = pulledAtWrite.slice(1).map((n, i) => n - (pulledAtWrite[i] ?? 0));
    assert.ok(Math.max(...steps) < TOTAL / 10, `${format}: read ahead ${Math.max(...steps)} rows`);
  }
});

Deno.test("writeExport() leaves the output open with preventClose and aborts it when the rows fail", async () => {
  const kept = collector();
  await writeExport(rowsOf([{ a: 1 }]), kept.out, { format: "json", preventClose: true });
  assert.equal(kept.closed(), false);
  const writer = kept.out.getWriter();
  await writer.write(new TextEncoder().encode("more"));
  await writer.close();
  assert.equal(kept.closed(), true);

  let aborted: unknown = null;
  const out = new WritableStream<Uint8Array>({
    abort(reason) {
      aborted = reason;
    },
  });
  const failure = new Error("database went away");
  async function* failing(): AsyncGenerator<Record<string, unknown>> {
    yield { a: 1 };
    throw failure;
  }
  await assert.rejects(() => writeExport(failing(), out, { format: "csv" }), failure);
  assert.equal(aborted, failure);
});

Deno.test("writeExport() rejects values CSV cannot hold", async () => {
  const { out } = collector();
  await assert.rejects(
    () => writeExport(rowsOf([{ id: 1n, raw: new Uint8Array([1]) }]), out, { format: "csv" }),
    new TypeError('Cannot write column "raw" of row 0 as CSV: unsupported value of type bytes'),
  );
});
