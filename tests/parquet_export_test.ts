/**
 * Parquet exports read back by independent readers: pyarrow and pandas (from the virtual
 * environment `.ci/run` builds) must see every table's declared types and every value of every
 * row exactly as the database holds them, ids above 2^53 included; PostgreSQL must give the same
 * file as SQLite; and the command line writes the same bytes.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import {
  type ExportTable,
  ingest,
  MockSource,
  PostgresStorage,
  SQLiteStorage,
  type Storage,
  type StoredAlert,
  writeParquetExport,
} from "../mod.ts";
import { makeAlert } from "./_alert_factory.ts";
import { NEED_POSTGRES, POSTGRES_URL, withPostgresDatabase } from "./_postgres.ts";
import { NEED_VENV, VENV_PYTHON } from "./_python_venv.ts";
import { queryDatabase, REPO_ROOT, testWith, withTempDir } from "./_support.ts";

const TABLES: readonly ExportTable[] = [
  "alerts",
  "reassociations",
  "processed_sources",
  "ingestion_runs",
];
const KEYS: Record<ExportTable, string> = {
  alerts: "dia_source_id",
  reassociations: "id",
  processed_sources: "dia_source_id",
  ingestion_runs: "run_id",
};
const TIME_COLUMNS = new Set(["ingested_at", "detected_at", "started_at", "finished_at"]);
const MAX_INT64 = 2n ** 63n - 1n;
const MIN_INT64 = -(2n ** 63n);
const NO_CUTOUTS = { science: null, template: null, difference: null };

// Alerts the mock never makes: int64 extremes, a tiny double, NULLs, non-ASCII text.
const EDGE_ALERTS: StoredAlert[] = [
  {
    alert: makeAlert(MAX_INT64, {
      ssObjectId: MAX_INT64 - 1n,
      ssObjectName: "2024 AB",
      visit: MIN_INT64,
      detector: 0,
      band: "",
      targetName: 'Ω € 😀 "quoted"\nsecond line',
      reliability: 1e-300,
      properties: '{"psfFlux":-0.0,"note":"ünïcode"}',
      midpointMjdTai: 61005.5,
    }),
    cutouts: NO_CUTOUTS,
  },
  {
    alert: makeAlert(9_007_199_254_740_993n, {
      diaObjectId: null,
      raErr: null,
      decErr: null,
      visit: null,
      detector: null,
      band: null,
      psfFlux: 0.1 + 0.2,
      ssObjectId: 21_000_000_000_000_001n,
      ssObjectReassocTimeMjdTai: 61004.25,
    }),
    cutouts: NO_CUTOUTS,
  },
];

// Fixed times, so SQLite and PostgreSQL hold the same rows, in every shape the text may take.
const NORMALIZE = [
  "UPDATE alerts SET ingested_at = '2026-01-05T10:00:00.123Z' WHERE source <> 'test'",
  "UPDATE alerts SET ingested_at = '2026-01-05T10:00:00.123456Z' WHERE source = 'test'",
  "UPDATE reassociations SET detected_at = '2026-01-05T10:00:00.123456789Z'",
  `UPDATE ingestion_runs SET started_at = '2026-01-05T09:00:00+01:30',
     finished_at = '2026-01-05T11:00:00.5Z', pid = 4242 WHERE run_id = 1`,
  `UPDATE ingestion_runs SET started_at = '2026-01-05T12:00:00Z', finished_at = 'not a time',
     pid = NULL WHERE run_id = 2`,
];
const BASE = BigInt(Date.UTC(2026, 0, 5, 10)) * 1000n;
// Each time text above and the microseconds since 1970 it stands for (worked out by hand).
const MICROS = new Map<string, bigint | null>([
  ["2026-01-05T10:00:00.123Z", BASE + 123_000n],
  ["2026-01-05T10:00:00.123456Z", BASE + 123_456n],
  ["2026-01-05T10:00:00.123456789Z", BASE + 123_456n],
  ["2026-01-05T09:00:00+01:30", BASE - 2n * 3_600_000_000n - 30n * 60_000_000n],
  ["2026-01-05T11:00:00.5Z", BASE + 3_600_000_000n + 500_000n],
  ["2026-01-05T12:00:00Z", BASE + 2n * 3_600_000_000n],
  ["not a time", null],
]);

const ARROW_TYPES: Record<string, string> = {
  INTEGER: "int64",
  // A view's cast column (processed_sources in SQLite) declares its affinity's name.
  INT: "int64",
  REAL: "double",
  TEXT: "string",
};
const PANDAS_TYPES: Record<string, string> = {
  int64: "Int64",
  double: "Float64",
  string: "string",
  "timestamp[us, tz=UTC]": "datetime64[us, UTC]",
};

// Every column as plain JSON values: timestamps as integer microseconds (cast, not converted
// through floats), pandas' NA and NaT as null, numpy scalars as Python numbers.
const READ_BACK = `
import json, sys
import pyarrow as pa
import pyarrow.parquet as pq
import pandas as pd

def plain(value):
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.value // 1000
    if hasattr(value, "item"):
        return value.item()
    return value

out = {}
for path in sys.argv[1:]:
    meta = pq.ParquetFile(path).metadata
    table = pq.read_table(path)
    arrow_columns = [
        (column.cast(pa.int64()) if pa.types.is_timestamp(column.type) else column).to_pylist()
        for column in table.columns
    ]
    frame = pd.read_parquet(path, dtype_backend="numpy_nullable")
    pandas_columns = [[plain(v) for v in frame[name]] for name in frame.columns]
    out[path] = {
        "schema": [[f.name, str(f.type), f.nullable] for f in table.schema],
        "metadata": {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()},
        "row_groups": [meta.row_group(i).num_rows for i in range(meta.num_row_groups)],
        "arrow": [list(row) for row in zip(*arrow_columns)],
        "pandas_dtypes": [[name, str(frame[name].dtype)] for name in frame.columns],
        "pandas": [list(row) for row in zip(*pandas_columns)],
    }
print(json.dumps(out))
`;

interface ReadBack {
  schema: [string, string, boolean][];
  metadata: Record<string, string>;
  row_groups: bigint[];
  arrow: unknown[][];
  pandas_dtypes: [string, string][];
  pandas: unknown[][];
}

/**
 * What pyarrow and pandas read from each file, integers as `bigint`: Python writes every float
 * with a point or an exponent, so an integer literal is an integer column's value.
 */
async function readBack(paths: string[]): Promise<Record<string, ReadBack>> {
  const out = await new Deno.Command(VENV_PYTHON!, {
    args: ["-c", READ_BACK, ...paths],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  assert.ok(out.success, text.decode(out.stderr));
  return JSON.parse(
    text.decode(out.stdout),
    ((_key: string, value: unknown, context?: { source?: string }) =>
      typeof value === "number" && /^-?[0-9]+$/.test(context?.source ?? "")
        ? BigInt(context?.source ?? "")
        : value) as (key: string, value: unknown) => unknown,
  ) as Record<string, ReadBack>;
}

async function* rowsOf(
  rows: Record<string, unknown>[],
): AsyncGenerator<Record<string, unknown>> {
  for (const row of rows) yield row;
}

/** The mock's alerts in one run, then the edge alerts in a run of their own. */
async function fill(storage: Storage, count: number): Promise<void> {
  await storage.initialize();
  const run = await ingest(new MockSource({ count, seed: 16, cutouts: false }), storage, {
    cutouts: null,
  });
  assert.equal(run.alertsIngested, count);
  const runId = await storage.beginRun("test", {});
  await storage.writeBatch(runId, {
    source: "test",
    alerts: EDGE_ALERTS,
    quarantine: [],
    cursors: [],
  });
  await storage.finishRun(runId, "completed", null);
}

async function exportAll(storage: Storage, dir: string): Promise<Record<ExportTable, string>> {
  const paths = {} as Record<ExportTable, string>;
  for (const table of TABLES) {
    paths[table] = join(dir, `${table}.parquet`);
    const file = await Deno.open(paths[table], { write: true, create: true, truncate: true });
    await writeParquetExport(storage.iterateRows(table), file.writable, { table });
  }
  return paths;
}

/** The columns a table's Parquet file must have, worked out from the SQL declared types. */
function expectedSchema(db: string, table: ExportTable): [string, string, boolean][] {
  const schema: [string, string, boolean][] = [];
  for (const column of queryDatabase(db, `PRAGMA table_info(${table})`)) {
    const name = String(column.name);
    if (column.type === "BLOB" || (table === "alerts" && name === "snapshot")) continue;
    const type = ARROW_TYPES[String(column.type)];
    assert.ok(type !== undefined, `${table}.${name}: SQL type ${column.type}`);
    schema.push([name, type, true]);
    if (TIME_COLUMNS.has(name)) schema.push([`${name}_ts`, "timestamp[us, tz=UTC]", true]);
  }
  return schema;
}

/** The database's rows in key order, each time text followed by its microseconds. */
function expectedRows(db: string, table: ExportTable): unknown[][] {
  const names = expectedSchema(db, table).map(([name]) => name).filter((n) => !n.endsWith("_ts"));
  const rows = queryDatabase(
    db,
    `SELECT ${names.join(", ")} FROM ${table} ORDER BY ${KEYS[table]}`,
  );
  return rows.map((row) =>
    names.flatMap((name) => {
      const value = row[name];
      if (!TIME_COLUMNS.has(name)) return [value];
      if (value === null) return [null, null];
      assert.ok(MICROS.has(String(value)), `${table}.${name}: unexpected time "${value}"`);
      return [value, MICROS.get(String(value))];
    })
  );
}

function normalizeSqlite(db: string): void {
  const database = new DatabaseSync(db);
  try {
    for (const statement of NORMALIZE) database.exec(statement);
  } finally {
    database.close();
  }
}

testWith(Boolean(VENV_PYTHON), NEED_VENV, {
  name:
    "writeParquetExport() gives pyarrow and pandas every table's declared types and every value of every row",
  async fn() {
    await withTempDir("lsst-parquet-", async (dir) => {
      const db = join(dir, "alerts.db");
      {
        await using storage = new SQLiteStorage(db);
        await fill(storage, 3000);
      }
      normalizeSqlite(db);
      await using storage = new SQLiteStorage(db);
      const paths = await exportAll(storage, dir);
      const read = await readBack(Object.values(paths));

      for (const table of TABLES) {
        const file = read[paths[table]]!;
        const schema = expectedSchema(db, table);
        assert.deepEqual(file.schema, schema, `${table}: types`);
        assert.deepEqual(file.metadata, { "lsst_extendedness.table": table });
        assert.deepEqual(
          file.pandas_dtypes,
          schema.map(([name, type]) => [name, PANDAS_TYPES[type]]),
          `${table}: pandas dtypes`,
        );
        const rows = expectedRows(db, table);
        assert.ok(rows.length > 0, `${table} has rows`);
        assert.deepEqual(file.arrow, rows, `${table}: pyarrow values`);
        assert.deepEqual(file.pandas, rows, `${table}: pandas values`);
        assert.equal(file.row_groups.length, 1, "one row group under the default size");
      }

      // The comparisons are not vacuous: the hard values really are in the files.
      const alerts = read[paths.alerts]!.arrow;
      const column = (name: string) => read[paths.alerts]!.schema.findIndex(([n]) => n === name);
      const byId = new Map(alerts.map((row) => [row[0], row]));
      assert.equal(alerts.length, 3002);
      assert.ok(alerts.filter((r) => (r[0] as bigint) > 2n ** 53n).length > 3000, "ids > 2^53");
      assert.equal(byId.get(MAX_INT64)?.[column("visit")], MIN_INT64);
      assert.equal(byId.get(MAX_INT64)?.[column("band")], "");
      assert.equal(byId.get(MAX_INT64)?.[column("reliability")], 1e-300);
      assert.equal(byId.get(9_007_199_254_740_993n)?.[column("psf_flux")], 0.1 + 0.2);
      assert.ok(alerts.some((r) => r[column("ss_object_id")] === null), "NULL ids");
      assert.ok(alerts.some((r) => typeof r[column("ss_object_id")] === "bigint"));
      const detections = read[paths.reassociations]!.arrow;
      assert.ok(detections.length > 10, `${detections.length} detections`);
      assert.ok(detections.some((r) => r[3] === null) && detections.some((r) => r[4] === null));
      const runs = read[paths.ingestion_runs]!.arrow;
      assert.equal(runs.length, 2);
      assert.equal(runs[1]?.[6], null, "a time text that is not a time has no timestamp");
    });
  },
});

testWith(Boolean(VENV_PYTHON), NEED_VENV, {
  name:
    "writeParquetExport() writes row groups of the given size, and a table without rows as a typed empty file",
  async fn() {
    await withTempDir("lsst-parquet-", async (dir) => {
      const db = join(dir, "alerts.db");
      {
        await using storage = new SQLiteStorage(db);
        await fill(storage, 1000);
      }
      normalizeSqlite(db);
      await using storage = new SQLiteStorage(db);
      const grouped = join(dir, "grouped.parquet");
      const file = await Deno.open(grouped, { write: true, create: true, truncate: true });
      assert.equal(
        await writeParquetExport(storage.iterateRows("alerts"), file.writable, {
          table: "alerts",
          rowGroupSize: 300,
        }),
        1002,
      );

      await using empty = new SQLiteStorage(join(dir, "empty.db"));
      await empty.initialize();
      const paths: string[] = [];
      for (const table of TABLES) {
        paths.push(join(dir, `empty-${table}.parquet`));
        const out = await Deno.open(paths.at(-1)!, { write: true, create: true, truncate: true });
        assert.equal(
          await writeParquetExport(empty.iterateRows(table), out.writable, { table }),
          0,
        );
      }

      const read = await readBack([grouped, ...paths]);
      assert.deepEqual(read[grouped]!.row_groups, [300n, 300n, 300n, 102n]);
      // Buffers reused from one row group to the next carry nothing over.
      const rows = expectedRows(db, "alerts");
      assert.deepEqual(read[grouped]!.arrow, rows);
      assert.deepEqual(read[grouped]!.pandas, rows);
      TABLES.forEach((table, i) => {
        const file = read[paths[i]!]!;
        assert.deepEqual(file.schema, expectedSchema(db, table), `empty ${table}: types`);
        assert.deepEqual(file.arrow, []);
        assert.deepEqual(file.row_groups, []);
      });
    });
  },
});

testWith(Boolean(VENV_PYTHON), NEED_VENV, {
  name: "writeParquetExport() keeps -0 and the extremes of doubles, which a dictionary would merge",
  async fn() {
    await withTempDir("lsst-parquet-", async (dir) => {
      // SQLite stores -0.0 as 0, PostgreSQL keeps it: the writer must not lose it either.
      // Repeated, so that a dictionary would pay off and be chosen.
      const doubles = Array.from(
        { length: 1000 },
        (_, i) => [-0, 0, -0, Number.MIN_VALUE, -Number.MAX_VALUE, 0.1 + 0.2][i % 6]!,
      );
      const rows = doubles.map((value, i) => ({
        dia_source_id: BigInt(i),
        dia_object_id: null,
        ss_object_id: null,
        ss_object_reassoc_time_mjd_tai: value,
        first_seen_mjd: value,
        last_seen_mjd: 61000,
        times_seen: 1n,
        first_run_id: null,
        last_run_id: null,
        last_alert_id: null,
        runs: 1,
      }));
      const path = join(dir, "doubles.parquet");
      const file = await Deno.open(path, { write: true, create: true, truncate: true });
      await writeParquetExport(rowsOf(rows), file.writable, { table: "processed_sources" });
      const read = (await readBack([path]))[path]!;
      for (const source of [read.arrow, read.pandas]) {
        const back = source.map((row) => row[4]);
        assert.equal(back.length, doubles.length);
        back.forEach((value, i) =>
          assert.ok(Object.is(value, doubles[i]), `${value} ${doubles[i]}`)
        );
      }
    });
  },
});

Deno.test("writeParquetExport() reads no further than one row group ahead of what it has written", async () => {
  let yielded = 0;
  async function* sources(): AsyncGenerator<Record<string, unknown>> {
    for (let i = 0; i < 2500; i++) {
      yielded++;
      yield {
        dia_source_id: 170_000_000_000_000_000n + BigInt(i),
        dia_object_id: null,
        ss_object_id: null,
        ss_object_reassoc_time_mjd_tai: null,
        first_seen_mjd: 61000 + i / 1000,
        last_seen_mjd: 61001,
        times_seen: 1n,
        first_run_id: 1n,
        last_run_id: 1n,
        last_alert_id: null,
        // PostgreSQL gives its INTEGER columns as numbers.
        runs: 1,
      };
    }
  }
  const seenAtWrites: number[] = [];
  let closed = false;
  const out = new WritableStream<Uint8Array>({
    write() {
      seenAtWrites.push(yielded);
    },
    close() {
      closed = true;
    },
  });
  const written = await writeParquetExport(sources(), out, {
    table: "processed_sources",
    rowGroupSize: 100,
  });
  assert.equal(written, 2500);
  assert.ok(closed);
  assert.equal(seenAtWrites[0], 100, "the first row group is written before row 101 is read");
  assert.equal(new Set(seenAtWrites).size, 25, "each row group is written as soon as it is full");
});

Deno.test("writeParquetExport() refuses rows that do not fit the table's columns, and aborts the file", async () => {
  const row = {
    run_id: 1n,
    source: "mock",
    params: "{}",
    started_at: "2026-01-05T09:00:00Z",
    finished_at: null,
    status: "running",
    alerts_ingested: 0n,
    alerts_skipped: 0n,
    new_sources: 0n,
    reassociations_detected: 0n,
    alerts_quarantined: 0n,
    error: null,
    pid: 1n,
  };
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...row, extra: 1 }, /column "extra" has no Parquet type/],
    [Object.fromEntries(Object.entries(row).filter(([k]) => k !== "pid")), /"pid" is missing/],
    [{ ...row, alerts_ingested: 1.5 }, /column "alerts_ingested" of row 0.*expected an integer/],
    [{ ...row, source: new Uint8Array(1) }, /column "source" of row 0.*got bytes/],
  ];
  for (const [bad, message] of cases) {
    let aborted = false;
    const out = new WritableStream<Uint8Array>({
      abort() {
        aborted = true;
      },
    });
    await assert.rejects(
      writeParquetExport(rowsOf([bad]), out, { table: "ingestion_runs" }),
      (error: Error) => error instanceof TypeError && message.test(error.message),
    );
    assert.ok(aborted, `${message}: the destination is aborted`);
  }
  await assert.rejects(
    writeParquetExport(rowsOf([]), new WritableStream(), {
      table: "alerts",
      rowGroupSize: 0,
    }),
    RangeError,
  );
});

testWith(POSTGRES_URL !== "", NEED_POSTGRES, {
  name: "PostgreSQL: the Parquet files of every table are the same bytes as from SQLite",
  async fn() {
    await withTempDir("lsst-parquet-", async (dir) => {
      const db = join(dir, "alerts.db");
      {
        await using storage = new SQLiteStorage(db);
        await fill(storage, 3000);
      }
      normalizeSqlite(db);
      await using sqlite = new SQLiteStorage(db);
      const fromSqlite = await exportAll(sqlite, await Deno.makeTempDir({ dir }));

      await withPostgresDatabase(async (url) => {
        {
          await using storage = new PostgresStorage(url);
          await fill(storage, 3000);
        }
        const sql = postgres(url, { max: 1, onnotice: () => {} });
        try {
          for (const statement of NORMALIZE) await sql.unsafe(statement);
        } finally {
          await sql.end({ timeout: 5 });
        }
        await using pg = new PostgresStorage(url);
        const fromPostgres = await exportAll(pg, await Deno.makeTempDir({ dir }));
        for (const table of TABLES) {
          const [a, b] = await Promise.all([
            Deno.readFile(fromSqlite[table]),
            Deno.readFile(fromPostgres[table]),
          ]);
          assert.ok(a.length > 200, `${table}: ${a.length} bytes`);
          assert.ok(
            a.length === b.length && a.every((byte, i) => byte === b[i]),
            `${table}: ${a.length} bytes from SQLite, ${b.length} from PostgreSQL`,
          );
        }
      });
    });
  },
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[]): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-net",
      join(REPO_ROOT, "cli.ts"),
      ...args,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test("export --format parquet --out writes the library's file for each --table; without --out it is a usage error", async () => {
  await withTempDir("lsst-parquet-cli-", async (dir) => {
    const db = join(dir, "alerts.db");
    {
      await using storage = new SQLiteStorage(db);
      await fill(storage, 200);
    }
    await using storage = new SQLiteStorage(db);
    const library = await exportAll(storage, await Deno.makeTempDir({ dir }));
    const names: Record<ExportTable, string> = {
      alerts: "alerts",
      reassociations: "reassociations",
      processed_sources: "processed-sources",
      ingestion_runs: "runs",
    };
    for (const table of TABLES) {
      const out = join(dir, `${names[table]}.parquet`);
      const run = await cli([
        "export",
        "--db",
        db,
        "--format",
        "parquet",
        "--out",
        out,
        "--table",
        names[table],
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, "");
      assert.deepEqual(await Deno.readFile(out), await Deno.readFile(library[table]), table);
    }
    const runs = await Deno.readFile(join(dir, "runs.parquet"));
    const magic = new TextDecoder().decode(runs.subarray(0, 4));
    assert.equal(magic, "PAR1");
    assert.equal(new TextDecoder().decode(runs.subarray(-4)), "PAR1");

    // --reassociations still selects the detections.
    const legacy = join(dir, "legacy.parquet");
    const old = await cli([
      "export",
      "--db",
      db,
      "--format",
      "parquet",
      "--out",
      legacy,
      "--reassociations",
    ]);
    assert.equal(old.code, 0, old.stderr);
    assert.deepEqual(await Deno.readFile(legacy), await Deno.readFile(library.reassociations));

    // CSV of the new tables goes through the same path: a header and one line per row.
    const csv = await cli(["export", "--db", db, "--table", "processed-sources"]);
    assert.equal(csv.code, 0, csv.stderr);
    const sources = queryDatabase(db, "SELECT COUNT(*) AS n FROM processed_sources")[0]?.n;
    assert.equal(BigInt(csv.stdout.trimEnd().split("\r\n").length - 1), sources);
    assert.match(csv.stdout, /^dia_source_id,dia_object_id,ss_object_id,/);

    const refused: Array<[string[], RegExp]> = [
      [["--format", "parquet"], /parquet needs --out FILE/],
      [["--format", "parquet", "--table", "runs"], /parquet needs --out FILE/],
      [["--table", "runs", "--since-mjd", "61000"], /--since-mjd does not apply to --table runs/],
      [["--table", "quarantine"], /Unknown export table "quarantine"/],
      [["--table", "runs", "--reassociations"], /--reassociations contradicts --table "runs"/],
      [["--format", "xlsx"], /expected csv, json or parquet/],
    ];
    for (const [args, message] of refused) {
      const result = await cli(["export", "--db", db, ...args]);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, "", "nothing written to stdout");
    }
    assert.deepEqual(
      [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".part")),
      [],
      "no temporary file left behind",
    );
  });
});
