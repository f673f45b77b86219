import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { ingest } from "../pipeline/ingestion_pipeline.ts";
import { MockSource } from "../sources/mock/mock_source.ts";
import { openCatalog } from "./alert_catalog.ts";
import { SQLiteStorage } from "./sqlite_storage.ts";

async function withMockDatabase(work: (db: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lsst-catalog-" });
  try {
    const db = join(dir, "alerts.db");
    {
      await using storage = new SQLiteStorage(db);
      await ingest(new MockSource({ count: 900, seed: 31 }), storage, { cutouts: null });
    }
    await work(db);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function ids(db: string, sql: string): bigint[] {
  const connection = new DatabaseSync(db, { readOnly: true });
  try {
    const statement = connection.prepare(sql);
    statement.setReadBigInts(true);
    return statement.all().map((r) => r.dia_source_id as bigint);
  } finally {
    connection.close();
  }
}

Deno.test("iterateAlerts() reads every matching alert a page at a time, in the list's order", async () => {
  await withMockDatabase(async (db) => {
    await using catalog = openCatalog(db);
    const got: bigint[] = [];
    for await (const alert of catalog.iterateAlerts({ band: "g" }, { sort: "snr", limit: 17 })) {
      got.push(alert.diaSourceId);
    }
    assert.deepEqual(
      got,
      ids(
        db,
        `SELECT dia_source_id FROM alerts WHERE band = 'g'
         ORDER BY snr DESC NULLS LAST, dia_source_id DESC`,
      ),
    );
    assert.ok(got.length > 17 * 2, "several pages");
  });
});

Deno.test("alerts() refuses bad pages, sorts and numbers with a RangeError", async () => {
  await withMockDatabase(async (db) => {
    await using catalog = openCatalog(db);
    await assert.rejects(catalog.alerts({}, { limit: 0 }), RangeError);
    await assert.rejects(catalog.alerts({}, { limit: 1001 }), RangeError);
    await assert.rejects(catalog.alerts({}, { offset: -1 }), RangeError);
    await assert.rejects(catalog.alerts({ minSnr: Number.NaN }), /minimum SNR must be a number/);
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      catalog.alerts({}, { sort: "ra" as any }),
      /Unknown sort "ra"/,
    );
  });
});

Deno.test("openCatalog() on a missing file says so and creates nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lsst-catalog-" });
  try {
    assert.throws(() => openCatalog(join(dir, "none.db")), /Database ".*none\.db" does not exist/);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
