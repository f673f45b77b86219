-- lsst-extendedness database schema (SQLite). Applied by SQLiteStorage.initialize(): every
-- statement is idempotent; older databases are first brought up to date by the migrations in
-- storage/sqlite_migrations.ts, and PRAGMA user_version records the schema version.
-- Ids are 64-bit INTEGERs (DIASource ids exceed 2^53); times are MJD TAI (REAL) or ISO-8601 UTC
-- text; "no association" is NULL.

CREATE TABLE IF NOT EXISTS ingestion_runs (
  run_id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  source                  TEXT    NOT NULL,
  params                  TEXT    NOT NULL DEFAULT '{}',  -- JSON, never holds secrets
  started_at              TEXT    NOT NULL,
  finished_at             TEXT,
  status                  TEXT    NOT NULL DEFAULT 'running'
                          CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
  alerts_ingested         INTEGER NOT NULL DEFAULT 0,
  alerts_skipped          INTEGER NOT NULL DEFAULT 0,     -- already stored (replays)
  new_sources             INTEGER NOT NULL DEFAULT 0,
  reassociations_detected INTEGER NOT NULL DEFAULT 0,
  alerts_quarantined      INTEGER NOT NULL DEFAULT 0,
  error                   TEXT,
  pid                     INTEGER                         -- the ingesting process, for operators
);
CREATE INDEX IF NOT EXISTS ingestion_runs_started ON ingestion_runs (started_at);

CREATE TABLE IF NOT EXISTS alerts (
  dia_source_id        INTEGER PRIMARY KEY,                -- the triggering diaSource
  alert_id             INTEGER NOT NULL,                   -- the packet's top-level id
  dia_object_id        INTEGER,
  ss_object_id         INTEGER,
  ss_object_name       TEXT,
  object_name          TEXT,                               -- ZTF objectId (no integer id)
  ra                   REAL    NOT NULL,
  dec                  REAL    NOT NULL,
  ra_err               REAL,
  dec_err              REAL,
  midpoint_mjd_tai     REAL    NOT NULL,
  band                 TEXT,
  psf_flux             REAL,
  psf_flux_err         REAL,
  snr                  REAL,
  extendedness         REAL,
  reliability          REAL,
  visit                INTEGER,
  detector             INTEGER,
  observation_reason   TEXT,
  target_name          TEXT,
  schema_version       TEXT    NOT NULL,
  source               TEXT    NOT NULL,
  survey               TEXT    NOT NULL DEFAULT 'lsst',
  is_reassociation     INTEGER NOT NULL DEFAULT 0,
  reassociation_reason TEXT,
  cutout_science       TEXT,
  cutout_template      TEXT,
  cutout_difference    TEXT,
  properties           TEXT,                               -- JSON of every source property
  ss_object_reassoc_time_mjd_tai REAL,                     -- given by CSV/APDB exports
  history              BLOB,                               -- packed prvDiaSources (replays)
  run_id               INTEGER REFERENCES ingestion_runs (run_id),
  ingested_at          TEXT    NOT NULL,
  snapshot             INTEGER NOT NULL DEFAULT 0              -- 1: kept from a snapshot (CSV, ANTARES) until its packet arrives
);
CREATE INDEX IF NOT EXISTS alerts_time_filters ON alerts (midpoint_mjd_tai, dia_source_id, band,
  ss_object_id, is_reassociation, snr, extendedness, reliability, psf_flux, run_id);
CREATE INDEX IF NOT EXISTS alerts_night_band ON alerts (CAST(midpoint_mjd_tai - 0.5 AS INTEGER), band,
  midpoint_mjd_tai);
CREATE INDEX IF NOT EXISTS alerts_dia_object ON alerts (dia_object_id);
CREATE INDEX IF NOT EXISTS alerts_ss_object ON alerts (ss_object_id) WHERE ss_object_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS alerts_reassociation ON alerts (reassociation_reason)
  WHERE is_reassociation = 1;

-- Plain re-observations not yet written into source_states: when every history entry of an alert
-- in [lo, hi] was stored under its DIAObject and only moves forward (seen once more, latest
-- sighting, alert and run), one row here stands for them all: rewriting a row per DIASource per
-- observation caps SQLite at 1,200-1,900 heavy alerts/s (measured), a row per alert is cheap.
-- Every stored state of object_key in [lo, hi] was such an entry, and none has been written
-- since. The storage folds a DIAObject's rows into source_states before tracking reads a state
-- they may cover, at 64 rows, and when a run ends; a state inserted inside [lo, hi] splits the row
-- around it. The processed_sources view adds them.
CREATE TABLE IF NOT EXISTS state_bumps (
  object_key    INTEGER NOT NULL,
  lo            INTEGER NOT NULL,                          -- DIASource ids, inclusive
  hi            INTEGER NOT NULL,
  last_seen_mjd REAL    NOT NULL,
  last_alert_id INTEGER NOT NULL,
  last_run_id   INTEGER NOT NULL,
  PRIMARY KEY (object_key, lo, last_alert_id)
) WITHOUT ROWID;

-- The tracked state of every DIASource, stored by DIAObject: an alert's history is ~350 earlier
-- DIASources of its DIAObject, and each observation rewrites their states. Keyed by DIASource id
-- alone (Rubin's ids are visit by visit), those rows lie on ~350 pages far apart, every batch
-- rewrites pages all over the table, and once the table outgrows the cache each alert costs
-- ~350 page writes (measured: half the speed at 3 million states); keyed by DIAObject first they
-- lie together. Read it through the processed_sources view.
CREATE TABLE IF NOT EXISTS source_states (
  object_key                     INTEGER NOT NULL,         -- dia_object_id, 0 for none
  dia_source_id                  INTEGER NOT NULL,
  dia_object_id                  INTEGER,
  ss_object_id                   INTEGER,
  ss_object_reassoc_time_mjd_tai REAL,
  first_seen_mjd                 REAL    NOT NULL,
  last_seen_mjd                  REAL    NOT NULL,
  times_seen                     INTEGER NOT NULL,
  first_run_id                   INTEGER,
  last_run_id                    INTEGER,
  last_alert_id                  INTEGER,                  -- orders observations of equal time
  runs                           INTEGER NOT NULL DEFAULT 1, -- segments of constant association
  PRIMARY KEY (object_key, dia_source_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS source_states_id ON source_states (dia_source_id);
CREATE INDEX IF NOT EXISTS source_states_ss_object ON source_states (ss_object_id)
  WHERE ss_object_id IS NOT NULL;
-- Each state with the bumps that cover it: seen once more for each, latest as the latest of them
-- (a bump is only stored when it is later than the states it covers). The casts keep the columns'
-- declared types (INT for INTEGER) for readers that map them, such as exports' tests and pandas.
CREATE VIEW IF NOT EXISTS processed_sources AS
  SELECT dia_source_id, dia_object_id, ss_object_id, ss_object_reassoc_time_mjd_tai, first_seen_mjd,
    CAST(COALESCE((SELECT b.last_seen_mjd FROM state_bumps b WHERE b.object_key = source_states.object_key
      AND source_states.dia_source_id BETWEEN b.lo AND b.hi
      ORDER BY b.last_seen_mjd DESC, b.last_alert_id DESC LIMIT 1), last_seen_mjd) AS REAL) AS last_seen_mjd,
    CAST(times_seen + (SELECT COUNT(*) FROM state_bumps b WHERE b.object_key = source_states.object_key
      AND source_states.dia_source_id BETWEEN b.lo AND b.hi) AS INTEGER) AS times_seen,
    first_run_id,
    CAST(COALESCE((SELECT b.last_run_id FROM state_bumps b WHERE b.object_key = source_states.object_key
      AND source_states.dia_source_id BETWEEN b.lo AND b.hi
      ORDER BY b.last_seen_mjd DESC, b.last_alert_id DESC LIMIT 1), last_run_id) AS INTEGER) AS last_run_id,
    CAST(COALESCE((SELECT b.last_alert_id FROM state_bumps b WHERE b.object_key = source_states.object_key
      AND source_states.dia_source_id BETWEEN b.lo AND b.hi
      ORDER BY b.last_seen_mjd DESC, b.last_alert_id DESC LIMIT 1), last_alert_id) AS INTEGER) AS last_alert_id,
    runs
  FROM source_states;

CREATE TABLE IF NOT EXISTS reassociations (
  id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  dia_source_id       INTEGER NOT NULL,
  reason              TEXT    NOT NULL CHECK (reason IN (
                        'new_association', 'changed_association',
                        'updated_timestamp', 'association_removed')),
  old_ss_object_id    INTEGER,
  new_ss_object_id    INTEGER,
  old_reassoc_time    REAL,
  new_reassoc_time    REAL,
  alert_dia_source_id INTEGER,                             -- the alert it was found in; NULL: a snapshot
  run_id              INTEGER REFERENCES ingestion_runs (run_id),
  detected_at         TEXT    NOT NULL,
  observed_mjd        REAL                                 -- time of the observation that fired it
);
CREATE INDEX IF NOT EXISTS reassociations_source ON reassociations (dia_source_id);
CREATE INDEX IF NOT EXISTS reassociations_alert ON reassociations (alert_dia_source_id);

-- Observations of snapshot rows (CSV exports, ANTARES), which are not alerts' histories: a
-- replay of a DIASource after a late arrival needs them.
CREATE TABLE IF NOT EXISTS snapshot_observations (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  dia_source_id  INTEGER NOT NULL,
  observed_mjd   REAL    NOT NULL,
  ss_object_id   INTEGER,
  reassoc_time   REAL,
  run_id         INTEGER
);
CREATE INDEX IF NOT EXISTS snapshot_observations_source ON snapshot_observations (dia_source_id);

-- Last stored position of each stream (file, Kafka partition), written in the same transaction
-- as the rows it covers.
CREATE TABLE IF NOT EXISTS source_cursors (
  source     TEXT    NOT NULL,
  stream     TEXT    NOT NULL,
  position   TEXT    NOT NULL,
  run_id     INTEGER,
  updated_at TEXT    NOT NULL,
  identity   TEXT,                                         -- what it points into; NULL: unknown
  PRIMARY KEY (source, stream)
);

-- ANTARES loci (objects), latest summary of each, written with the batch that carried it.
CREATE TABLE IF NOT EXISTS loci (
  locus_id        TEXT    PRIMARY KEY,
  ra              REAL    NOT NULL,
  dec             REAL    NOT NULL,
  htm16           INTEGER,
  tags            TEXT    NOT NULL,                        -- JSON array
  catalogs        TEXT    NOT NULL,                        -- JSON array
  properties      TEXT    NOT NULL,                        -- JSON object
  newest_alert_id TEXT,                                    -- lsst:<diaSourceId>
  run_id          INTEGER,
  updated_at      TEXT    NOT NULL
);

-- Every writer schema a run decoded with, so later runs and replays work offline. Rubin's
-- registry ids are MAJOR*100+MINOR; schemas embedded in Avro files have no id.
CREATE TABLE IF NOT EXISTS schemas (
  fingerprint   TEXT    PRIMARY KEY,                       -- SHA-256 of json
  id            INTEGER,                                   -- schema registry id, if any
  version       TEXT,                                      -- "11.0", ZTF "3.3"
  survey        TEXT,
  json          TEXT    NOT NULL,
  first_seen_at TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS schemas_id ON schemas (id) WHERE id IS NOT NULL;

-- Records that could not be decoded or stored, with their raw bytes for replay.
-- Each alert's Avro payload as it arrived, kept when ingesting with --keep-raw, so the whole
-- packet can be decoded again (show-alert) with the writer schema it names.
CREATE TABLE IF NOT EXISTS raw_alerts (
  dia_source_id      INTEGER PRIMARY KEY,
  schema_fingerprint TEXT    NOT NULL REFERENCES schemas (fingerprint),
  payload            BLOB    NOT NULL
);

CREATE TABLE IF NOT EXISTS quarantine (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  source         TEXT    NOT NULL,
  stream         TEXT    NOT NULL,
  position       TEXT    NOT NULL,
  error          TEXT    NOT NULL,
  raw            BLOB,
  run_id         INTEGER,
  quarantined_at TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_run ON quarantine (run_id);

-- What an upgrade could not repair (written by the migrations in storage/sqlite_migrations.ts),
-- reported as warnings by db-stats and ingest. 'sources_before_v4': `rows` DIASources were first
-- seen before schema version 4, whose alerts kept no history.
CREATE TABLE IF NOT EXISTS upgrade_notes (
  note     TEXT    PRIMARY KEY,
  rows     INTEGER NOT NULL,
  noted_at TEXT    NOT NULL
);
