import assert from "node:assert/strict";
import { join } from "node:path";
import { type CsvAlertsOptions, type CsvRow, readCsvAlerts } from "./csv_alerts.ts";
import { AlertParseError } from "../model/errors.ts";
import type { AlertRecord } from "../model/alert_record.ts";
import { SQLiteStorage } from "../storage/sqlite_storage.ts";
import type { StoredAlert } from "../model/stored_alert.ts";

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
const MINIMAL = "dia_source_id,ra,dec,midpoint_mjd_tai";

/** The bytes of `text` as a stream of chunks of `chunkSize` bytes. */
function streamOf(text: string | Uint8Array, chunkSize = 64 * 1024): ReadableStream<Uint8Array> {
  const bytes = typeof text === "string" ? ENCODER.encode(text) : text;
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

async function readAll(
  text: string | Uint8Array,
  options: Partial<CsvAlertsOptions> = {},
  chunkSize?: number,
): Promise<CsvRow[]> {
  const rows: CsvRow[] = [];
  for await (
    const row of readCsvAlerts(streamOf(text, chunkSize), { stream: "night.csv", ...options })
  ) {
    rows.push(row);
  }
  return rows;
}

function alertOf(row: CsvRow | undefined): AlertRecord {
  assert.ok(row !== undefined, "a row");
  assert.equal(row.kind, "alert", row.kind === "rejected" ? row.error.message : "");
  return row.alert;
}

function rejectionOf(row: CsvRow | undefined): { message: string; raw: string; row: CsvRow } {
  assert.ok(row !== undefined, "a row");
  assert.equal(row.kind, "rejected");
  assert.ok(row.error instanceof AlertParseError);
  assert.equal(row.error.stream, "night.csv");
  assert.equal(row.error.position, String(row.index));
  return { message: row.error.message, raw: DECODER.decode(row.raw), row };
}

Deno.test("readCsvAlerts() reads every column of a row into an AlertRecord", async () => {
  const header = [
    "run_id",
    "dia_source_id",
    "alert_id",
    "dia_object_id",
    "ss_object_id",
    "ss_object_name",
    "object_name",
    "ra",
    "dec",
    "ra_err",
    "dec_err",
    "midpoint_mjd_tai",
    "band",
    "psf_flux",
    "psf_flux_err",
    "snr",
    "extendedness",
    "reliability",
    "visit",
    "detector",
    "observation_reason",
    "target_name",
    "schema_version",
    "source",
    "survey",
    "is_reassociation",
    "reassociation_reason",
    "cutout_science",
    "cutout_template",
    "cutout_difference",
    "ss_object_reassoc_time_mjd_tai",
    "ingested_at",
  ].join(",");
  const row = [
    "7",
    "170587117485817955",
    "170587117485817956",
    "170028485706776685",
    "21163611627524096",
    "2024 AB",
    "ZTF24aaaaaaa",
    "150.125",
    "-30.5",
    "0.0001",
    "2e-4",
    "61000.123456789",
    "r",
    "1234.5",
    "-12.25",
    "98.7",
    "0.25",
    "0.9",
    "2026112700123",
    "42",
    "survey",
    "field-1",
    "10.0",
    "kafka",
    "ztf",
    "1",
    "changed_association",
    "cutouts/a_science.fits",
    "cutouts/a_template.fits",
    "cutouts/a_difference.fits",
    "60999.5",
    "2026-01-01T00:00:00.000Z",
  ].join(",");
  const rows = await readAll(`${header}\n${row}\n`, { source: "file" });
  assert.equal(rows.length, 1);
  const first = rows[0];
  assert.ok(first?.kind === "alert");
  assert.equal(first.index, 0);
  assert.equal(first.line, 2);
  assert.deepEqual(first.cutoutPaths, {
    science: "cutouts/a_science.fits",
    template: "cutouts/a_template.fits",
    difference: "cutouts/a_difference.fits",
  });
  assert.deepEqual(
    first.alert,
    {
      diaSourceId: 170587117485817955n,
      alertId: 170587117485817956n,
      diaObjectId: 170028485706776685n,
      ssObjectId: 21163611627524096n,
      ssObjectName: "2024 AB",
      objectName: "ZTF24aaaaaaa",
      ssObjectReassocTimeMjdTai: 60999.5,
      ra: 150.125,
      dec: -30.5,
      raErr: 0.0001,
      decErr: 0.0002,
      midpointMjdTai: 61000.123456789,
      band: "r",
      psfFlux: 1234.5,
      psfFluxErr: -12.25,
      snr: 98.7,
      extendedness: 0.25,
      reliability: 0.9,
      visit: 2026112700123n,
      detector: 42,
      observationReason: "survey",
      targetName: "field-1",
      schemaVersion: "10.0",
      source: "kafka",
      survey: "ztf",
      history: [],
      properties: null,
      snapshot: true,
      cutoutScience: null,
      cutoutTemplate: null,
      cutoutDifference: null,
      isReassociation: true,
      reassociationReason: "changed_association",
      reassociations: [],
    } satisfies AlertRecord,
  );
});

Deno.test("readCsvAlerts() fills defaults for absent and empty optional columns", async () => {
  const rows = await readAll(
    `${MINIMAL},dia_object_id,ss_object_id,band,snr,is_reassociation,schema_version,survey\n` +
      `5,1.5,-2.5,61000,0,0,,nan,,,\n` +
      `6,1.5,-2.5,61000,,,"",NaN,false,"",lsst\n`,
    { source: "antares" },
  );
  const first = rows[0];
  assert.ok(first?.kind === "alert");
  assert.deepEqual(first.cutoutPaths, { science: null, template: null, difference: null });
  const a = first.alert;
  assert.equal(a.alertId, 5n);
  assert.equal(a.diaObjectId, null, "0 means no DIAObject");
  assert.equal(a.ssObjectId, null, "0 means no SSObject");
  assert.equal(a.band, null);
  assert.equal(a.snr, null, "nan means not measured");
  assert.equal(a.raErr, null);
  assert.equal(a.visit, null);
  assert.equal(a.detector, null);
  assert.equal(a.isReassociation, false);
  assert.equal(a.reassociationReason, null);
  assert.equal(a.schemaVersion, "csv");
  assert.equal(a.source, "antares");
  assert.equal(a.survey, "lsst");
  assert.equal(a.ssObjectReassocTimeMjdTai, null);
  const second = alertOf(rows[1]);
  assert.equal(second.band, "", "a quoted empty field is an empty string");
  assert.equal(second.schemaVersion, "", "a quoted empty schema version is kept as written");
  assert.equal(second.diaObjectId, null);
});

Deno.test("readCsvAlerts() keeps 64-bit ids exact beyond 2^53 and up to 2^63 - 1", async () => {
  const rows = await readAll(
    `${MINIMAL},alert_id,ss_object_id,visit\n` +
      `9007199254740993,1,2,3,9007199254740995,9223372036854775806,-9223372036854775808\n` +
      `9223372036854775807,1,2,3,,,9223372036854775807\n`,
  );
  const a = alertOf(rows[0]);
  assert.equal(a.diaSourceId, 9_007_199_254_740_993n);
  assert.equal(a.alertId, 9_007_199_254_740_995n);
  assert.equal(a.ssObjectId, 9_223_372_036_854_775_806n);
  assert.equal(a.visit, -(2n ** 63n));
  const b = alertOf(rows[1]);
  assert.equal(b.diaSourceId, 2n ** 63n - 1n);
  assert.equal(b.alertId, 2n ** 63n - 1n, "alert_id defaults to dia_source_id");
  assert.equal(b.visit, 2n ** 63n - 1n);
});

Deno.test("readCsvAlerts() rejects ids that are out of range or not integers, naming line and column, and reads on", async () => {
  const bad = ["9223372036854775808", "18446744073709551617", "1e5", "12x", "-", "1.0", " 12"];
  const lines = [MINIMAL];
  bad.forEach((value, i) => lines.push(`${value},1,2,3`, `${100 + i},1,2,3`));
  const rows = await readAll(lines.join("\n") + "\n");
  assert.equal(rows.length, bad.length * 2);
  bad.forEach((value, i) => {
    const { message, raw, row } = rejectionOf(rows[2 * i]);
    assert.equal(row.index, 2 * i);
    assert.equal(row.line, 2 * i + 2);
    assert.equal(
      message,
      `Cannot import line ${
        2 * i + 2
      } of "night.csv": column "dia_source_id" is not a 64-bit integer: "${value}"`,
    );
    assert.equal(raw, `${value},1,2,3`);
    const next = rows[2 * i + 1];
    assert.equal(alertOf(next).diaSourceId, BigInt(100 + i));
    assert.equal(next?.index, 2 * i + 1);
  });
});

Deno.test("readCsvAlerts() rejects bad floats, flags, reasons, surveys, detectors and empty required values", async () => {
  const header = `${MINIMAL},snr,detector,is_reassociation,reassociation_reason,survey`;
  const cases: [string, string][] = [
    ["1,12abc,2,3,,,,,", `column "ra" is not a number: "12abc"`],
    ["1,0x10,2,3,,,,,", `column "ra" is not a number: "0x10"`],
    ["1, 1,2,3,,,,,", `column "ra" is not a number: " 1"`],
    ["1,inf,2,3,,,,,", `column "ra" is not a finite number: "inf"`],
    ["1,1,nan,3,,,,,", `column "dec" is not a finite number: "nan"`],
    ["1,1,2,,,,,,", `column "midpoint_mjd_tai" is empty`],
    [",1,2,3,,,,,", `column "dia_source_id" is empty`],
    ["1,1,2,3,1.5.2,,,,", `column "snr" is not a number: "1.5.2"`],
    ["1,1,2,3,,4.5,,,", `column "detector" is not an integer: "4.5"`],
    ["1,1,2,3,,,yes,,", `column "is_reassociation" is not 0, 1, true or false: "yes"`],
    [
      "1,1,2,3,,,,moved,",
      `column "reassociation_reason" is not one of new_association, changed_association, updated_timestamp, association_removed: "moved"`,
    ],
    ["1,1,2,3,,,,,hsc", `column "survey" is not lsst or ztf: "hsc"`],
  ];
  const text = [header, ...cases.map(([row]) => row), "2,1,2,3,-inf,-7,TRUE,new_association,"]
    .join("\n");
  const rows = await readAll(text);
  assert.equal(rows.length, cases.length + 1);
  cases.forEach(([row, detail], i) => {
    const rejected = rejectionOf(rows[i]);
    assert.equal(rejected.message, `Cannot import line ${i + 2} of "night.csv": ${detail}`);
    assert.equal(rejected.raw, row);
  });
  const last = alertOf(rows[cases.length]);
  assert.equal(last.snr, -Infinity);
  assert.equal(last.detector, -7);
  assert.equal(last.isReassociation, true);
  assert.equal(last.reassociationReason, "new_association");
});

Deno.test("readCsvAlerts() throws an AlertParseError for the whole file when required columns are missing", async () => {
  await assert.rejects(
    () => readAll("dia_source_id,dec,band\n1,2,r\n"),
    (error: unknown) => {
      assert.ok(error instanceof AlertParseError);
      assert.equal(
        error.message,
        `Cannot import "night.csv": the header lacks required columns "ra", "midpoint_mjd_tai"`,
      );
      assert.equal(error.stream, "night.csv");
      assert.equal(error.position, "0");
      return true;
    },
  );
  await assert.rejects(
    () => readAll(`${MINIMAL},ra\n1,2,3,4,5\n`),
    /Cannot import "night\.csv": column "ra" appears twice in the header/,
  );
  await assert.rejects(
    () => readAll(`dia_source_id,"ra"x,dec\n`),
    /the header on line 1 is malformed: field 2 has text after its closing quote/,
  );
});

Deno.test("readCsvAlerts() reads quoted fields with commas, quotes and line breaks and counts physical lines", async () => {
  const text = `${MINIMAL},target_name,observation_reason\n` +
    `1,1,2,3,"north, ""deep""\nfield\r\nthree",plain\n` +
    `2,1,2,3,"","a,b"\n` +
    `3,1,2,3,"",""""\n`;
  const rows = await readAll(text);
  assert.deepEqual(rows.map((r) => [r.index, r.line]), [[0, 2], [1, 5], [2, 6]]);
  assert.equal(alertOf(rows[0]).targetName, 'north, "deep"\nfield\r\nthree');
  assert.equal(alertOf(rows[0]).observationReason, "plain");
  assert.equal(alertOf(rows[1]).targetName, "");
  assert.equal(alertOf(rows[1]).observationReason, "a,b");
  assert.equal(alertOf(rows[2]).observationReason, '"');
});

Deno.test("readCsvAlerts() rejects ragged rows and broken quoting and reads the rows after them", async () => {
  const text = `${MINIMAL},band\n` +
    `1,1,2,3\n` +
    `2,1,2,3,r,extra\n` +
    `3,1,2,3,r"x\n` +
    `4,1,2,3,"r"x\n` +
    `5,1,2,3,r\n`;
  const rows = await readAll(text);
  assert.equal(rows.length, 5);
  assert.deepEqual(rows.slice(0, 4).map((r) => rejectionOf(r).message), [
    `Cannot import line 2 of "night.csv": expected 5 fields as in the header, found 4`,
    `Cannot import line 3 of "night.csv": expected 5 fields as in the header, found 6`,
    `Cannot import line 4 of "night.csv": field 5 has a quote but is not quoted`,
    `Cannot import line 5 of "night.csv": field 5 has text after its closing quote`,
  ]);
  assert.equal(rejectionOf(rows[1]).raw, "2,1,2,3,r,extra");
  assert.equal(alertOf(rows[4]).diaSourceId, 5n);
  assert.equal(rows[4]?.line, 6);
});

Deno.test("readCsvAlerts() rejects a quoted field left open at the end of the file and bad UTF-8", async () => {
  const head = ENCODER.encode(`${MINIMAL},band\n1,1,2,3,r\n2,1,2,3,`);
  const bad = new Uint8Array([...head, 0xff, 0xfe, 0x0a, ...ENCODER.encode(`3,1,2,3,"open\n`)]);
  const rows = await readAll(bad);
  assert.equal(rows.length, 3);
  assert.equal(alertOf(rows[0]).diaSourceId, 1n);
  const utf8 = rejectionOf(rows[1]);
  assert.equal(utf8.message, `Cannot import line 3 of "night.csv": the record is not valid UTF-8`);
  assert.deepEqual(rows[1]?.kind === "rejected" ? [...rows[1].raw.slice(-2)] : [], [0xff, 0xfe]);
  const open = rejectionOf(rows[2]);
  assert.equal(
    open.message,
    `Cannot import line 4 of "night.csv": a quoted field has no closing quote`,
  );
  assert.equal(open.raw, `3,1,2,3,"open\n`);
});

Deno.test("readCsvAlerts() reads a BOM and CRLF line endings like a plain file, in chunks of any size", async () => {
  const lines = [
    `${MINIMAL},target_name`,
    `170587117485817955,1,2,3,"a\r\nb"`,
    `2,1,2,3,Ω€😀`,
    "",
    `3,1,2,3,`,
  ];
  const plain = await readAll(lines.join("\n") + "\n");
  const summary = (rows: CsvRow[]): unknown[] =>
    rows.map((r) => [r.index, r.line, alertOf(r).diaSourceId, alertOf(r).targetName]);
  assert.deepEqual(summary(plain), [
    [0, 1 + 1, 170587117485817955n, "a\r\nb"],
    [1, 4, 2n, "Ω€😀"],
    [2, 6, 3n, null],
  ]);
  const windows = "\ufeff" + lines.join("\r\n") + "\r\n";
  for (const chunkSize of [1, 2, 3, 7, 1024]) {
    assert.deepEqual(
      summary(await readAll(windows, {}, chunkSize)),
      summary(plain),
      `${chunkSize}`,
    );
  }
  // No final line ending.
  assert.deepEqual(summary(await readAll(windows.slice(0, -2), {}, 5)), summary(plain));
});

Deno.test("readCsvAlerts() resumes after skipThrough without yielding earlier records", async () => {
  const text = `${MINIMAL}\n1,1,2,3\n"2\n",1,2,3\n3,1,2,3\n\n4,1,2,3\n`;
  const rows = await readAll(text, { skipThrough: 1 });
  assert.deepEqual(rows.map((r) => [r.index, r.line, alertOf(r).diaSourceId]), [
    [2, 5, 3n],
    [3, 7, 4n],
  ]);
  assert.deepEqual(await readAll(text, { skipThrough: 3 }), []);
  assert.equal((await readAll(text, { skipThrough: -1 })).length, 4);
});

Deno.test("readCsvAlerts() takes source from a non-empty source column, else from options, else file", async () => {
  const text = `${MINIMAL},source\n1,1,2,3,kafka\n2,1,2,3,\n`;
  assert.deepEqual((await readAll(text, { source: "antares" })).map((r) => alertOf(r).source), [
    "kafka",
    "antares",
  ]);
  assert.deepEqual((await readAll(text)).map((r) => alertOf(r).source), ["kafka", "file"]);
  assert.equal(alertOf((await readAll(`${MINIMAL}\n1,1,2,3\n`))[0]).source, "file");
  assert.equal(
    alertOf((await readAll(`${MINIMAL}\n1,1,2,3\n`, { schemaVersion: "apdb-7" }))[0])
      .schemaVersion,
    "apdb-7",
  );
});

Deno.test("readCsvAlerts() yields nothing for an empty file", async () => {
  assert.deepEqual(await readAll(""), []);
  assert.deepEqual(await readAll("\ufeff"), []);
  assert.deepEqual(await readAll(`${MINIMAL}\n`), []);
});

Deno.test("readCsvAlerts() fails the whole file when a record exceeds maxRecordBytes", async () => {
  const text = `${MINIMAL},band\n1,1,2,3,r\n2,1,2,3,"never closed\n${"x,".repeat(5000)}\n`;
  const rows: CsvRow[] = [];
  await assert.rejects(
    async () => {
      const input = streamOf(text, 100);
      for await (const row of readCsvAlerts(input, { stream: "night.csv", maxRecordBytes: 4096 })) {
        rows.push(row);
      }
    },
    (error: unknown) => {
      assert.ok(error instanceof AlertParseError);
      assert.equal(
        error.message,
        `Cannot import line 3 of "night.csv": the record exceeds 4096 bytes (an unclosed quote?)`,
      );
      assert.equal(error.position, "1");
      return true;
    },
  );
  assert.equal(rows.length, 1);
});

Deno.test("readCsvAlerts() streams 200,000 rows with bounded read-ahead", async () => {
  const ROWS_PER_CHUNK = 1000;
  const CHUNKS = 200;
  const BASE = 170_000_000_000_000_000n;
  let produced = 0;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (produced === CHUNKS) {
        controller.close();
        return;
      }
      let text = produced === 0 ? `${MINIMAL},band\n` : "";
      for (let i = 0; i < ROWS_PER_CHUNK; i++) {
        const n = produced * ROWS_PER_CHUNK + i;
        text += `${BASE + BigInt(n)},${(n % 360) + 0.5},-30.25,${61000 + n / 1e6},r\n`;
      }
      produced++;
      controller.enqueue(ENCODER.encode(text));
    },
  });
  let count = 0;
  let producedAtFirstRow = -1;
  let maxAhead = 0;
  for await (const row of readCsvAlerts(input, { stream: "big.csv" })) {
    if (row.kind !== "alert") assert.fail(row.error.message);
    if (count === 0) producedAtFirstRow = produced;
    // Chunks produced beyond the one holding this row: the reader's buffer plus the stream's
    // one-chunk queue, never the whole file.
    maxAhead = Math.max(maxAhead, produced - 1 - Math.floor(row.index / ROWS_PER_CHUNK));
    assert.equal(row.index, count);
    assert.equal(row.alert.diaSourceId, BASE + BigInt(count));
    count++;
  }
  assert.equal(count, ROWS_PER_CHUNK * CHUNKS);
  assert.ok(producedAtFirstRow < 5, `first row after ${producedAtFirstRow} chunks`);
  assert.ok(maxAhead <= 2, `read ${maxAhead} chunks ahead`);
});

Deno.test("readCsvAlerts() cancels the input when the consumer stops early", async () => {
  let cancelled = false;
  let pulls = 0;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      controller.enqueue(ENCODER.encode(pulls === 1 ? `${MINIMAL}\n` : `${pulls},1,2,3\n`));
    },
    cancel() {
      cancelled = true;
    },
  });
  for await (const row of readCsvAlerts(input, { stream: "endless.csv" })) {
    if (row.index === 2) break;
  }
  assert.equal(cancelled, true);
  assert.ok(pulls < 10);
});

Deno.test("readCsvAlerts() rows of an APDB export are tracked as updated timestamp, then changed association", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lsst-csv-" });
  try {
    const path = join(dir, "apdb.csv");
    await Deno.writeTextFile(
      path,
      "dia_source_id,dia_object_id,ss_object_id,ss_object_reassoc_time_mjd_tai,ra,dec," +
        "midpoint_mjd_tai\n" +
        "170587117485817955,0,21163611627524096,61000.25,10.5,-5.25,61000.125\n" +
        "170587117485817955,0,21163611627524096,61001.75,10.5,-5.25,61000.125\n" +
        "170587117485817955,0,21163611627524097,61001.75,10.5,-5.25,61000.125\n",
    );
    await using storage = new SQLiteStorage(join(dir, "alerts.db"));
    await storage.initialize();
    const runId = await storage.beginRun("file", {});
    const batch: StoredAlert[] = [];
    const file = await Deno.open(path);
    for await (const row of readCsvAlerts(file.readable, { stream: path })) {
      assert.ok(row.kind === "alert");
      batch.push({ alert: row.alert, cutouts: row.cutoutPaths });
    }
    const outcome = await storage.writeBatch(runId, {
      source: "file",
      alerts: batch,
      quarantine: [],
      cursors: [{ stream: path, position: "2" }],
    });
    assert.equal(outcome.alertsIngested, 1);
    assert.equal(outcome.reassociationsDetected, 2);
    const detections = (await storage.listReassociations()).sort((a, b) => a.id - b.id);
    assert.deepEqual(
      detections.map((d) => [
        d.reason,
        d.diaSourceId,
        d.oldSsObjectId,
        d.newSsObjectId,
        d.oldReassocTime,
        d.newReassocTime,
      ]),
      [
        [
          "updated_timestamp",
          170587117485817955n,
          21163611627524096n,
          21163611627524096n,
          61000.25,
          61001.75,
        ],
        [
          "changed_association",
          170587117485817955n,
          21163611627524096n,
          21163611627524097n,
          61001.75,
          61001.75,
        ],
      ],
    );
    // Importing the same export again repeats what is known: nothing new is detected.
    const again: StoredAlert[] = [];
    for await (const row of readCsvAlerts((await Deno.open(path)).readable, { stream: path })) {
      assert.ok(row.kind === "alert");
      again.push({ alert: row.alert, cutouts: row.cutoutPaths });
    }
    const replay = await storage.writeBatch(runId, {
      source: "file",
      alerts: again.slice(2),
      quarantine: [],
      cursors: [],
    });
    assert.equal(replay.reassociationsDetected, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
