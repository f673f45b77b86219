/**
 * End to end on the mock source: real SQLite files, real cutout files checked by fitsverify.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { CutoutProcessor, ingest, MockSource, SQLiteStorage } from "../mod.ts";
import { FITSVERIFY, queryDatabase, run, testWith, withTempDir } from "./_support.ts";

/** Every row of the tables that must not depend on how the input was split into runs. */
function snapshot(path: string): Record<string, unknown[]> {
  return {
    alerts: queryDatabase(
      path,
      `SELECT dia_source_id, alert_id, dia_object_id, ss_object_id, ra, dec, midpoint_mjd_tai,
              band, psf_flux, snr, extendedness, reliability, visit, detector, schema_version,
              is_reassociation, reassociation_reason, cutout_science, cutout_template,
              cutout_difference
       FROM alerts ORDER BY dia_source_id`,
    ),
    processed_sources: queryDatabase(
      path,
      `SELECT dia_source_id, dia_object_id, ss_object_id, ss_object_reassoc_time_mjd_tai,
              first_seen_mjd, last_seen_mjd, times_seen
       FROM processed_sources ORDER BY dia_source_id`,
    ),
    reassociations: queryDatabase(
      path,
      `SELECT dia_source_id, reason, old_ss_object_id, new_ss_object_id, alert_dia_source_id
       FROM reassociations ORDER BY dia_source_id, alert_dia_source_id`,
    ),
  };
}

Deno.test("a mock ingest finds exactly the mock's ground-truth reassociations", async () => {
  await withTempDir("lsst-e2e-", async (dir) => {
    const path = join(dir, "alerts.db");
    await using storage = new SQLiteStorage(path);
    await using source = new MockSource({ count: 4000, seed: 11, cutouts: false });
    const truth = source.groundTruth();
    const result = await ingest(source, storage, { batchSize: 333 });

    assert.equal(result.status, "completed");
    assert.equal(result.alertsIngested, 4000);
    assert.equal(result.newSources, truth.newSources);
    assert.equal(result.reassociationsDetected, truth.detections.length);
    const stats = await storage.stats();
    assert.deepEqual(stats.reassociationsByReason, truth.byReason);
    for (const reason of ["new_association", "changed_association", "association_removed"]) {
      assert.ok(
        truth.byReason[reason as keyof typeof truth.byReason] > 0,
        `the mock produced ${reason}`,
      );
    }
    assert.equal(stats.solarSystemAlerts, truth.solarSystemAlerts);

    // Not just the counts: the same DIASources, values and alerts, in the same order.
    const detections = snapshot(path).reassociations as Array<Record<string, unknown>>;
    const expected = truth.detections.map((d) => ({
      dia_source_id: d.diaSourceId,
      reason: d.reason,
      old_ss_object_id: d.oldSsObjectId,
      new_ss_object_id: d.newSsObjectId,
      alert_dia_source_id: d.alertDiaSourceId,
    })).sort((a, b) =>
      a.dia_source_id === b.dia_source_id
        ? Number(a.alert_dia_source_id - b.alert_dia_source_id)
        : a.dia_source_id < b.dia_source_id
        ? -1
        : 1
    );
    assert.deepEqual(detections, expected);
  });
});

Deno.test("re-ingesting the same mock alerts adds and detects nothing", async () => {
  await withTempDir("lsst-e2e-", async (dir) => {
    const path = join(dir, "alerts.db");
    await using storage = new SQLiteStorage(path);
    const first = await ingest(new MockSource({ count: 1500, cutouts: false }), storage);
    const before = snapshot(path);
    // A fresh database cursor would resume; forget it so every alert is offered again.
    const db = new DatabaseSync(path);
    db.exec("DELETE FROM source_cursors");
    db.close();
    const again = await ingest(new MockSource({ count: 1500, cutouts: false }), storage);
    assert.equal(first.alertsIngested, 1500);
    assert.equal(again.recordsRead, 1500);
    assert.equal(again.alertsIngested, 0);
    assert.equal(again.alertsSkipped, 1500);
    assert.equal(again.newSources, 0);
    assert.equal(again.reassociationsDetected, 0);
    assert.deepEqual(snapshot(path), before);
  });
});

Deno.test("an aborted mock run leaves a consistent database and resumes to the same result", async () => {
  await withTempDir("lsst-e2e-", async (dir) => {
    const interruptedPath = join(dir, "interrupted.db");
    const wholePath = join(dir, "whole.db");
    {
      await using storage = new SQLiteStorage(interruptedPath);
      const controller = new AbortController();
      const first = await ingest(new MockSource({ count: 3000, cutouts: false }), storage, {
        batchSize: 200,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.recordsRead >= 1000) controller.abort("test abort");
        },
      });
      assert.equal(first.status, "interrupted");
      assert.equal(first.alertsIngested, 1000);
      const db = new DatabaseSync(interruptedPath, { readOnly: true });
      assert.equal(db.prepare("PRAGMA integrity_check").get()?.integrity_check, "ok");
      assert.equal(db.prepare("SELECT position FROM source_cursors").get()?.position, "999");
      db.close();
      const second = await ingest(new MockSource({ count: 3000, cutouts: false }), storage, {
        batchSize: 200,
      });
      assert.equal(second.status, "completed");
      assert.equal(second.recordsRead, 2000);
    }
    {
      await using storage = new SQLiteStorage(wholePath);
      await ingest(new MockSource({ count: 3000, cutouts: false }), storage, { batchSize: 200 });
    }
    assert.deepEqual(snapshot(interruptedPath), snapshot(wholePath));
  });
});

Deno.test("ids above 2^53 come back from the database exactly as the mock made them", async () => {
  await using storage = new SQLiteStorage(":memory:");
  const source = new MockSource({ count: 300, cutouts: false });
  const made: bigint[] = [];
  for await (const record of source.alerts()) {
    if (record.kind === "alert") made.push(record.alert.diaSourceId, record.alert.alertId);
  }
  assert.ok(made.some((id) => id > 2n ** 53n), "the mock makes ids above 2^53");
  await ingest(new MockSource({ count: 300, cutouts: false }), storage);
  const known = await storage.knownAlertIds(made);
  assert.equal(known.size, 300);
  for (const id of known) assert.ok(made.includes(id));
  // One more than a stored id is not reported as stored: nothing was rounded.
  const neighbours = await storage.knownAlertIds([...known].map((id) => id + 1n));
  assert.ok([...neighbours].every((id) => known.has(id)));
});

testWith(FITSVERIFY !== null, "fitsverify (Debian package fitsverify)", {
  name: "mock cutouts are written where the alerts say and pass fitsverify",
  async fn() {
    await withTempDir("lsst-e2e-", async (dir) => {
      const path = join(dir, "alerts.db");
      await using storage = new SQLiteStorage(path);
      const cutouts = new CutoutProcessor({ outputDir: join(dir, "cutouts") });
      const result = await ingest(new MockSource({ count: 60, seed: 5 }), storage, { cutouts });
      cutouts.close();
      assert.equal(result.alertsQuarantined, 0);
      const rows = snapshot(path).alerts as Array<Record<string, string | null>>;
      const files = rows.flatMap((r) => [r.cutout_science, r.cutout_template, r.cutout_difference]);
      assert.equal(files.length, 180);
      for (const file of files) {
        assert.ok(typeof file === "string" && file.startsWith(join(dir, "cutouts")), String(file));
      }
      // fitsverify takes many files at once; -q -e: one line per file, errors only.
      const check = await run(FITSVERIFY as string, ["-q", "-e", ...(files as string[])]);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.equal(
        check.stdout.trim().split("\n").filter((l) => l.startsWith("verification OK")).length,
        180,
      );
      // Nothing half-written is left behind.
      const leftovers = [...Deno.readDirSync(join(dir, "cutouts", ".tmp"))];
      assert.deepEqual(leftovers, []);
    });
  },
});
