/**
 * Databases from before schema version 4 kept no alert histories: once upgraded, the replays of
 * their old DIASources cannot see every observation. Such databases are noted at the upgrade,
 * and `db-stats` and `ingest` say what it means.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SQLiteStorage } from "../mod.ts";
import { queryDatabase, REPO_ROOT, run, withTempDir } from "./_support.ts";

const CLI = join(REPO_ROOT, "cli.ts");
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];
const WARNING = /warning: Detections may be incomplete for the (\d+) DIASources first seen before/;

// The tables as schema version 3 created them (schema.sql before version 4): no
// alerts.history, no alerts.ss_object_reassoc_time_mjd_tai, no processed_sources.last_alert_id
// or runs, no snapshot_observations, no raw_alerts.
const SCHEMA_V3 = `
CREATE TABLE ingestion_runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL,
  params TEXT NOT NULL DEFAULT '{}', started_at TEXT NOT NULL, finished_at TEXT,
  status TEXT NOT NULL DEFAULT 'running'
    CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
  alerts_ingested INTEGER NOT NULL DEFAULT 0, alerts_skipped INTEGER NOT NULL DEFAULT 0,
  new_sources INTEGER NOT NULL DEFAULT 0, reassociations_detected INTEGER NOT NULL DEFAULT 0,
  alerts_quarantined INTEGER NOT NULL DEFAULT 0, error TEXT, pid INTEGER);
CREATE TABLE alerts (
  dia_source_id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL, dia_object_id INTEGER,
  ss_object_id INTEGER, ss_object_name TEXT, object_name TEXT, ra REAL NOT NULL,
  dec REAL NOT NULL, ra_err REAL, dec_err REAL, midpoint_mjd_tai REAL NOT NULL, band TEXT,
  psf_flux REAL, psf_flux_err REAL, snr REAL, extendedness REAL, reliability REAL,
  visit INTEGER, detector INTEGER, observation_reason TEXT, target_name TEXT,
  schema_version TEXT NOT NULL, source TEXT NOT NULL, survey TEXT NOT NULL DEFAULT 'lsst',
  is_reassociation INTEGER NOT NULL DEFAULT 0, reassociation_reason TEXT,
  cutout_science TEXT, cutout_template TEXT, cutout_difference TEXT, properties TEXT,
  run_id INTEGER REFERENCES ingestion_runs (run_id), ingested_at TEXT NOT NULL);
CREATE TABLE processed_sources (
  dia_source_id INTEGER PRIMARY KEY, dia_object_id INTEGER, ss_object_id INTEGER,
  ss_object_reassoc_time_mjd_tai REAL, first_seen_mjd REAL NOT NULL,
  last_seen_mjd REAL NOT NULL, times_seen INTEGER NOT NULL, first_run_id INTEGER,
  last_run_id INTEGER);
CREATE TABLE reassociations (
  id INTEGER PRIMARY KEY AUTOINCREMENT, dia_source_id INTEGER NOT NULL,
  reason TEXT NOT NULL CHECK (reason IN ('new_association', 'changed_association',
    'updated_timestamp', 'association_removed')),
  old_ss_object_id INTEGER, new_ss_object_id INTEGER, old_reassoc_time REAL,
  new_reassoc_time REAL, alert_dia_source_id INTEGER NOT NULL,
  run_id INTEGER REFERENCES ingestion_runs (run_id), detected_at TEXT NOT NULL);
CREATE TABLE source_cursors (
  source TEXT NOT NULL, stream TEXT NOT NULL, position TEXT NOT NULL, run_id INTEGER,
  updated_at TEXT NOT NULL, PRIMARY KEY (source, stream));
CREATE TABLE loci (
  locus_id TEXT PRIMARY KEY, ra REAL NOT NULL, dec REAL NOT NULL, htm16 INTEGER,
  tags TEXT NOT NULL, catalogs TEXT NOT NULL, properties TEXT NOT NULL, newest_alert_id TEXT,
  run_id INTEGER, updated_at TEXT NOT NULL);
CREATE TABLE schemas (
  fingerprint TEXT PRIMARY KEY, id INTEGER, version TEXT, survey TEXT, json TEXT NOT NULL,
  first_seen_at TEXT NOT NULL);
CREATE TABLE quarantine (
  id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, stream TEXT NOT NULL,
  position TEXT NOT NULL, error TEXT NOT NULL, raw BLOB, run_id INTEGER,
  quarantined_at TEXT NOT NULL);
PRAGMA user_version = 3;
`;

// What schema version 4's migration added, as an earlier release ran it.
const MIGRATION_V4 = `
ALTER TABLE alerts ADD COLUMN ss_object_reassoc_time_mjd_tai REAL;
ALTER TABLE alerts ADD COLUMN history BLOB;
ALTER TABLE processed_sources ADD COLUMN last_alert_id INTEGER;
ALTER TABLE processed_sources ADD COLUMN runs INTEGER NOT NULL DEFAULT 1;
`;

/** One alert of DIAObject 7 (DIASource 300) that saw DIASources 100 and 200 before it. */
function storeOldAlert(db: DatabaseSync): void {
  const now = "2026-03-05T00:00:00.000Z";
  db.exec(`INSERT INTO ingestion_runs (source, started_at, finished_at, status, alerts_ingested)
    VALUES ('mock', '${now}', '${now}', 'completed', 1)`);
  db.exec(`INSERT INTO alerts (dia_source_id, alert_id, dia_object_id, ra, dec,
      midpoint_mjd_tai, schema_version, source, run_id, ingested_at)
    VALUES (300, 300, 7, 10.5, -20.25, 61000.3, '11.0', 'mock', 1, '${now}')`);
  const source = db.prepare(`INSERT INTO processed_sources (dia_source_id, dia_object_id,
      first_seen_mjd, last_seen_mjd, times_seen, first_run_id, last_run_id)
    VALUES (?, 7, ?, 61000.3, ?, 1, 1)`);
  source.run(100, 61000.1, 2);
  source.run(200, 61000.2, 2);
  source.run(300, 61000.3, 1);
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(Deno.execPath(), ["run", ...PERMISSIONS, CLI, ...args]);
}

Deno.test("a schema-3 database is noted when upgraded, and db-stats and ingest warn about it", async () => {
  await withTempDir("lsst-upgrade-", async (dir) => {
    const path = join(dir, "old.db");
    const old = new DatabaseSync(path);
    old.exec(SCHEMA_V3);
    storeOldAlert(old);
    old.close();

    {
      await using storage = new SQLiteStorage(path);
      await storage.initialize();
      const warnings = await storage.warnings();
      assert.equal(warnings.length, 1, warnings.join("\n"));
      assert.match(warnings[0] ?? "", /^Detections may be incomplete for the 3 DIASources/);
    }
    const [note] = queryDatabase(path, "SELECT note, rows FROM upgrade_notes");
    assert.deepEqual(note, { note: "sources_before_v4", rows: 3n });

    const stats = await cli(["db-stats", "--db", path, "--json"]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal(JSON.parse(stats.stdout).rows.alerts, 1, "stdout stays plain JSON");
    assert.equal(WARNING.exec(stats.stderr)?.[1], "3", stats.stderr);

    const ingest = await cli(["ingest", "--count", "20", "--no-cutouts", "--quiet", "--db", path]);
    assert.equal(ingest.code, 0, ingest.stderr);
    assert.match(ingest.stderr, WARNING);
    // The note stays once the old DIASources are seen again: their lost histories stay lost.
    const again = await cli(["db-stats", "--db", path]);
    assert.match(again.stderr, WARNING);
  });
});

Deno.test("a database an earlier release upgraded to schema 5 is noted for its old DIASources", async () => {
  await withTempDir("lsst-upgrade-", async (dir) => {
    const path = join(dir, "v5.db");
    const old = new DatabaseSync(path);
    old.exec(SCHEMA_V3);
    storeOldAlert(old);
    old.exec(MIGRATION_V4);
    // After that upgrade, DIASource 200 was seen again (it has a latest alert now) and 400 is new.
    old.exec("UPDATE processed_sources SET last_alert_id = 400 WHERE dia_source_id = 200");
    old.exec(`INSERT INTO processed_sources (dia_source_id, dia_object_id, first_seen_mjd,
        last_seen_mjd, times_seen, first_run_id, last_run_id, last_alert_id, runs)
      VALUES (400, 7, 61001, 61001, 1, 1, 1, 400, 1)`);
    old.exec("PRAGMA user_version = 5");
    old.close();

    await using storage = new SQLiteStorage(path);
    await storage.initialize();
    const warnings = await storage.warnings();
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0] ?? "", /^Detections may be incomplete for the 2 DIASources/);
  });
});

Deno.test("a database created by this version has no upgrade warning", async () => {
  await withTempDir("lsst-upgrade-", async (dir) => {
    const path = join(dir, "new.db");
    const ingest = await cli(["ingest", "--count", "20", "--no-cutouts", "--quiet", "--db", path]);
    assert.equal(ingest.code, 0, ingest.stderr);
    assert.doesNotMatch(ingest.stderr, /warning/);
    await using storage = new SQLiteStorage(path);
    assert.deepEqual(await storage.warnings(), []);
    const stats = await cli(["db-stats", "--db", path]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.doesNotMatch(stats.stderr, /warning/);
  });
});
