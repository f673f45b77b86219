/**
 * Crash consistency end to end: the CLI is killed with SIGKILL at points drawn from a seeded
 * PRNG (`LSST_CRASH_SEED` replays a run), restarted until it completes, and the database and
 * cutout folder it leaves are compared with those of an uninterrupted run of the same input.
 * Also two processes writing one database at once.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join, resolve, sep } from "node:path";
import {
  createAvroType,
  kafkaLag,
  loadSchemaVersion,
  MockSource,
  REASSOCIATION_REASONS,
  writeOcfFile,
} from "../mod.ts";
import { KafkaClient } from "../sources/kafka/_kafka_client.ts";
import { fixturesDir, queryDatabase, sized, testWith, withTempDir } from "./_support.ts";
import {
  type CliExit,
  CliProcess,
  killPoints,
  pollNumber,
  seededRandom,
  waitFor,
} from "./_processes.ts";

const FIXTURES = fixturesDir();
const NEED_FIXTURES = "the shared fixtures (../shared/fixtures)";
const BOOTSTRAP = Deno.env.get("KAFKA_BOOTSTRAP") ?? "";
const NEED_KAFKA =
  "a Kafka broker (run: deno task kafka start, then export the KAFKA_* lines it prints)";
const SEED = Number(Deno.env.get("LSST_CRASH_SEED") ?? "20251127");
const MINUTE = 60_000;

type Row = Record<string, unknown>;

// deno-lint-ignore no-console
const report = (line: string): void => console.log(`  ${line}`);

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

// --- what two databases must share ---------------------------------------------------------

/** A row as text: ids exact, floats to the last bit, so equal text means equal values. */
function canonical(row: Row): string {
  return JSON.stringify(row, (_key, value) => {
    if (typeof value === "bigint") return `${value}n`;
    if (typeof value === "number" && !Number.isFinite(value)) return String(value);
    if (value instanceof Uint8Array) return `0x${Buffer.from(value).toString("hex")}`;
    return value;
  });
}

const CUTOUT_COLUMNS = ["cutout_science", "cutout_template", "cutout_difference"] as const;

/** `alerts` without run ids and times, cutout paths relative to their folder. */
function alertRows(db: string, cutoutsDir: string): string[] {
  const root = resolve(cutoutsDir) + sep;
  return queryDatabase(db, "SELECT * FROM alerts ORDER BY dia_source_id").map((row) => {
    delete row.run_id;
    delete row.ingested_at;
    for (const column of CUTOUT_COLUMNS) {
      const path = row[column];
      if (path === null) continue;
      assert.ok(
        typeof path === "string" && path.startsWith(root),
        `${column} "${path}" lies under "${root}"`,
      );
      row[column] = path.slice(root.length);
    }
    return canonical(row);
  });
}

function sourceRows(db: string): string[] {
  return queryDatabase(db, "SELECT * FROM processed_sources ORDER BY dia_source_id").map((row) => {
    delete row.first_run_id;
    delete row.last_run_id;
    return canonical(row);
  });
}

/** Every detection without its id, run and time, in detection order. */
function detectionRows(db: string): string[] {
  return queryDatabase(
    db,
    `SELECT dia_source_id, reason, old_ss_object_id, new_ss_object_id, old_reassoc_time,
       new_reassoc_time, alert_dia_source_id FROM reassociations ORDER BY id`,
  ).map(canonical);
}

function byReason(db: string): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(
    REASSOCIATION_REASONS.map((r) => [r, 0]),
  );
  for (
    const r of queryDatabase(db, "SELECT reason, COUNT(*) AS n FROM reassociations GROUP BY 1")
  ) {
    counts[String(r.reason)] = Number(r.n);
  }
  return counts;
}

function count(db: string, sql: string): number {
  return Number(Object.values(queryDatabase(db, sql)[0] ?? {})[0]);
}

function storedIds(db: string): string[] {
  return queryDatabase(db, "SELECT dia_source_id AS id FROM alerts ORDER BY dia_source_id")
    .map((r) => String(r.id));
}

function sortedIds(ids: Iterable<string>): string[] {
  return [...ids].sort((a, b) => {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/**
 * Same rows in the same order (A first); on failure, the first difference rather than a diff
 * of tens of thousands of rows.
 */
function assertSameRows(what: string, a: string[], b: string[]): void {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      assert.fail(
        `${what} differ at row ${i} (A has ${a.length} rows, B ${b.length}):\nA: ${a[i]}\nB: ${
          b[i]
        }`,
      );
    }
  }
}

function assertIntegrity(db: string): void {
  assert.deepEqual(queryDatabase(db, "PRAGMA integrity_check"), [{ integrity_check: "ok" }]);
}

/** The runs of a database in order: what the crash loop must have left. */
function runRows(db: string): Row[] {
  return queryDatabase(
    db,
    `SELECT run_id, status, pid, alerts_ingested, alerts_skipped, alerts_quarantined, error
     FROM ingestion_runs ORDER BY run_id`,
  );
}

/** Killed runs `interrupted` (or `failed`), the last `completed`, one row per process. */
function assertRunsOf(db: string, pids: number[], total: number): void {
  const runs = runRows(db);
  assert.deepEqual(runs.map((r) => Number(r.pid)), pids, "one run per process, in order");
  for (const run of runs.slice(0, -1)) {
    assert.ok(
      run.status === "interrupted" || run.status === "failed",
      `killed run ${run.run_id} is ${run.status}`,
    );
  }
  assert.equal(runs.at(-1)?.status, "completed");
  assert.equal(runs.reduce((sum, r) => sum + Number(r.alerts_ingested), 0), total);
  // The stored cursor never lags the stored rows: no run read again what an earlier one stored.
  assert.equal(runs.reduce((sum, r) => sum + Number(r.alerts_skipped), 0), 0);
  assert.equal(runs.reduce((sum, r) => sum + Number(r.alerts_quarantined), 0), 0);
}

function killed(exit: CliExit, what: string): void {
  assert.equal(exit.signal, "SIGKILL", `${what} was killed, not ended (code ${exit.code})`);
}

function completedRun(exit: CliExit): Row {
  assert.equal(exit.code, 0, exit.stderr);
  const run = JSON.parse(exit.stdout) as Row;
  assert.equal(run.status, "completed");
  return run;
}

// --- files ---------------------------------------------------------------------------------

/** Every file under a folder, relative to it, skipping top-level folders named in `skip`. */
function filesUnder(root: string, skip: readonly string[] = []): string[] {
  const files: string[] = [];
  const walk = (dir: string, prefix: string): void => {
    for (const entry of Deno.readDirSync(dir)) {
      const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory) {
        if (prefix === "" && skip.includes(entry.name)) continue;
        walk(join(dir, entry.name), relative);
      } else {
        files.push(relative);
      }
    }
  };
  walk(root, "");
  return files;
}

/** Entries of a cutout folder's `.tmp/` (none when it does not exist). */
function tempFolders(cutoutsDir: string): string[] {
  try {
    return [...Deno.readDirSync(join(cutoutsDir, ".tmp"))].map((e) => e.name).sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** `.part` files in the temporary folder of a process (it names its folder `<pid>-<token>`). */
function partFilesOf(cutoutsDir: string, pid: number): number {
  let parts = 0;
  for (const folder of tempFolders(cutoutsDir)) {
    if (!folder.startsWith(`${pid}-`)) continue;
    try {
      for (const file of Deno.readDirSync(join(cutoutsDir, ".tmp", folder))) {
        if (file.name.endsWith(".part")) parts++;
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return parts;
}

/** Compare files pairwise, a few at a time; returns the first path whose bytes differ. */
async function firstDifferentFile(
  a: string,
  b: string,
  paths: readonly string[],
): Promise<string | null> {
  let next = 0;
  let different: string | null = null;
  const worker = async () => {
    while (different === null && next < paths.length) {
      const path = paths[next++] as string;
      const [x, y] = await Promise.all([
        Deno.readFile(join(a, path)),
        Deno.readFile(join(b, path)),
      ]);
      if (!Buffer.from(x.buffer, x.byteOffset, x.length).equals(y)) different ??= path;
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return different;
}

// --- 1. file source, with cutouts ----------------------------------------------------------

const FILE_ALERTS = sized(8_000, 50_000);

/** One deflate container of mock v11.0 packets with cutouts, generated as it is written. */
async function writeMockContainer(path: string, count: number, seed: number): Promise<string[]> {
  const schema = await loadSchemaVersion(join(FIXTURES as string, "lsst/schema"), "11.0");
  const ids: string[] = [];
  function* packets(): Generator<unknown> {
    for (const { packet } of new MockSource({ count, seed, cutouts: true }).packets()) {
      ids.push(String(packet.diaSource.diaSourceId));
      yield packet;
    }
  }
  await writeOcfFile(path, JSON.stringify(schema), createAvroType(schema), packets(), {
    codec: "deflate",
    recordsPerBlock: 200,
  });
  return ids;
}

testWith(FIXTURES !== null, NEED_FIXTURES, {
  name: `a file ingest of ${
    FILE_ALERTS.toLocaleString("en")
  } alerts with cutouts killed with SIGKILL at seeded points, rerun each time, ends identical to an uninterrupted one`,
  async fn() {
    await withTempDir("lsst-crash-file-", async (dir) => {
      const started = performance.now();
      const avro = join(dir, "alerts.avro");
      const ids = await writeMockContainer(avro, FILE_ALERTS, 31);
      const generated = seconds(started);
      const size = (await Deno.stat(avro)).size;

      const a = { db: join(dir, "a", "alerts.db"), cutouts: join(dir, "a", "cutouts") };
      const b = { db: join(dir, "b", "alerts.db"), cutouts: join(dir, "b", "cutouts") };
      const ingestArgs = (target: typeof a, ...more: string[]) => [
        "ingest",
        "--source",
        "file",
        "--path",
        avro,
        "--db",
        target.db,
        "--cutouts-dir",
        target.cutouts,
        "--batch-size",
        "500",
        ...more,
      ];
      const stored = () => pollNumber(b.db, "SELECT COUNT(*) FROM alerts");
      // Cutout files on disk that no stored row names yet (a batch being written).
      const unstoredFiles = () => {
        try {
          return filesUnder(b.cutouts, [".tmp"]).length - 3 * (stored() ?? 0);
        } catch (error) {
          if (error instanceof Deno.errors.NotFound) return 0;
          throw error;
        }
      };
      // Four points between 4% and 80% of the stream, at least 2% apart (2,000 to 40,000 at full
      // size): the last one leaves 1,600 alerts at the everyday size, more than the cutout path
      // stores in the longest delay below.
      const points = killPoints(SEED, 4, {
        min: FILE_ALERTS * 0.04,
        max: FILE_ALERTS * 0.8,
        gap: FILE_ALERTS * 0.02,
      });
      const random = seededRandom(SEED + 1);

      // The reference runs beside the crash loop: two processes on two cores.
      const runsStarted = performance.now();
      await using reference = new CliProcess(ingestArgs(a, "--json"), { timeoutMs: 15 * MINUTE });
      const pids: number[] = [];
      const kills: string[] = [];
      let remaining = FILE_ALERTS;
      let final: Row = {};
      const crashLoop = async () => {
        // Killed while the first batch's cutouts are being written: files on disk, no rows.
        {
          await using run = new CliProcess(ingestArgs(b, "--quiet"), { timeoutMs: 15 * MINUTE });
          pids.push(run.pid);
          await waitFor(
            "for the first run to write 150 cutouts of a batch it has not stored",
            2 * MINUTE,
            () => unstoredFiles() >= 150,
            { intervalMs: 5, watch: run },
          );
          run.kill();
          killed(await run.exit(), "the first run");
          const rows = count(b.db, "SELECT COUNT(*) FROM alerts");
          const fits = filesUnder(b.cutouts, [".tmp"]).length;
          const parts = partFilesOf(b.cutouts, run.pid);
          assert.equal(
            tempFolders(b.cutouts).filter((f) => f.startsWith(`${run.pid}-`)).length,
            1,
            "the killed writer left its temporary folder",
          );
          assert.ok(fits + parts > 3 * rows, "files of an unstored batch were on disk at the kill");
          kills.push(`mid-cutouts: ${rows} rows, ${fits} .fits, ${parts} .part left`);
        }
        for (const point of points) {
          const before = count(b.db, "SELECT COUNT(*) FROM alerts");
          await using run = new CliProcess(ingestArgs(b, "--quiet"), { timeoutMs: 15 * MINUTE });
          pids.push(run.pid);
          await waitFor(`for more than ${point} stored alerts`, 10 * MINUTE, () => {
            const n = stored();
            return n !== null && n > point && n > before;
          }, { watch: run });
          // Anywhere in the next batch's cycle (decoding, writing cutouts, committing): a batch of
          // 500 alerts with cutouts takes some 150-250 ms here.
          const delay = Math.floor(random() * 300);
          await pause(delay);
          run.kill();
          killed(await run.exit(), `the run killed ${delay} ms past ${point}`);
          const rows = count(b.db, "SELECT COUNT(*) FROM alerts");
          assert.ok(
            rows < FILE_ALERTS,
            `killed mid-stream ${delay} ms past ${point} (${rows} stored)`,
          );
          assert.equal(
            tempFolders(b.cutouts).filter((f) => f.startsWith(`${run.pid}-`)).length,
            1,
            "the killed writer left its temporary folder",
          );
          kills.push(
            `${delay} ms past ${point}: ${rows} rows, ${unstoredFiles()} unstored .fits, ${
              partFilesOf(b.cutouts, run.pid)
            } .part left`,
          );
        }
        remaining = FILE_ALERTS - count(b.db, "SELECT COUNT(*) FROM alerts");
        await using last = new CliProcess(ingestArgs(b, "--json"), { timeoutMs: 15 * MINUTE });
        pids.push(last.pid);
        final = completedRun(await last.exit());
      };
      const [referenceExit] = await Promise.all([reference.exit(), crashLoop()]);
      const ran = seconds(runsStarted);

      const verifyStarted = performance.now();
      const run = completedRun(referenceExit);
      assert.equal(run.alertsIngested, FILE_ALERTS);
      assert.equal(run.alertsQuarantined, 0);
      // The last run read only what the killed ones had not stored.
      assert.equal(final.recordsRead, remaining);
      assert.equal(final.alertsIngested, remaining);
      assert.equal(final.alertsSkipped, 0);

      assertSameRows("alert ids", sortedIds(ids), storedIds(a.db));
      assertSameRows("alerts", alertRows(a.db, a.cutouts), alertRows(b.db, b.cutouts));
      assertSameRows("processed_sources", sourceRows(a.db), sourceRows(b.db));
      const detections = detectionRows(a.db);
      assert.ok(detections.length > 100, `the input has reassociations (${detections.length})`);
      assertSameRows("reassociations", detections, detectionRows(b.db));
      assert.deepEqual(byReason(b.db), byReason(a.db));
      assertSameRows(
        "source_cursors",
        queryDatabase(a.db, "SELECT source, stream, position FROM source_cursors").map(canonical),
        queryDatabase(b.db, "SELECT source, stream, position FROM source_cursors").map(canonical),
      );
      for (const db of [a.db, b.db]) {
        assertIntegrity(db);
        assert.equal(count(db, "SELECT COUNT(*) FROM quarantine"), 0);
      }
      assertRunsOf(b.db, pids, FILE_ALERTS);

      // Every cutout a row of B names is there, with A's bytes, and nothing else is.
      const referenced = queryDatabase(
        b.db,
        `SELECT cutout_science AS path FROM alerts UNION ALL SELECT cutout_template FROM alerts
         UNION ALL SELECT cutout_difference FROM alerts`,
      ).map((r) => String(r.path).slice(resolve(b.cutouts).length + 1)).sort();
      assert.equal(referenced.length, 3 * FILE_ALERTS);
      assertSameRows("cutout files of B", referenced, filesUnder(b.cutouts, [".tmp"]).sort());
      assertSameRows("cutout files of A", referenced, filesUnder(a.cutouts, [".tmp"]).sort());
      assert.equal(await firstDifferentFile(a.cutouts, b.cutouts, referenced), null);
      // Killed writers' folders went at the next start, the last run's own when it exited.
      assert.deepEqual(tempFolders(b.cutouts), []);
      assert.deepEqual(filesUnder(b.cutouts).filter((f) => f.endsWith(".part")), []);

      const verified = seconds(verifyStarted);
      const du = await new Deno.Command("du", {
        args: ["-sm", dir],
        stdout: "piped",
        signal: AbortSignal.timeout(MINUTE),
      }).output();
      // 300,000 files: two removals at once take half the time of the temp dir's one.
      const removeStarted = performance.now();
      await Promise.all([a.cutouts, b.cutouts].map((d) => Deno.remove(d, { recursive: true })));
      report(
        `seed ${SEED}, kill points ${points.join(", ")}; container ${
          (size / 1e6).toFixed(0)
        } MB made in ${generated}; reference and ${pids.length} crash-loop runs in ${ran}; ` +
          `verified in ${verified}; ${
            new TextDecoder().decode(du.stdout).split("\t")[0]
          } MB on disk, cutouts removed in ${seconds(removeStarted)}`,
      );
      for (const kill of kills) report(`kill ${kill}`);
    });
  },
});

// --- 2. Kafka source -----------------------------------------------------------------------

const KAFKA_ALERTS = sized(6_000, 20_000);
const PARTITIONS = 4;

/** A Confluent wire-format message: 0x00, the big-endian schema id, schemaless Avro. */
function frame(schemaId: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setInt32(1, schemaId);
  out.set(body, 5);
  return out;
}

/**
 * Produce mock alerts framed with schema id 1100, snappy, keyed by DIAObject: every alert of
 * an object goes to one partition in stream order. Reassociations depend on the order in which a
 * DIASource's observations arrive, and Kafka orders only within a partition, so this is what
 * makes the detections of two consumers comparable at all.
 */
async function produceMock(topic: string, count: number, seed: number): Promise<string[]> {
  const schema = await loadSchemaVersion(join(FIXTURES as string, "lsst/schema"), "11.0");
  const type = createAvroType(schema);
  const kafka = new KafkaClient({ brokers: [BOOTSTRAP], clientId: "lsst-crash-test" });
  const ids: string[] = [];
  let pending: Uint8Array[][] = [];
  let buffered = 0;
  const flush = async () => {
    for (const [partition, values] of pending.entries()) {
      if (values.length > 0) {
        await kafka.produce(topic, values, { compression: "snappy", partition });
      }
    }
    pending = Array.from({ length: PARTITIONS }, () => []);
    buffered = 0;
  };
  await flush();
  for (const { packet } of new MockSource({ count, seed, cutouts: false }).packets()) {
    ids.push(String(packet.diaSource.diaSourceId));
    const object = BigInt(packet.diaSource.diaObjectId ?? 0);
    const key = object === 0n ? BigInt(packet.diaSourceId as bigint) : object;
    pending[Number(key % BigInt(PARTITIONS))]?.push(frame(1100, type.toBuffer(packet)));
    if (++buffered >= 4000) await flush();
  }
  await flush();
  return ids;
}

testWith(Boolean(BOOTSTRAP) && FIXTURES !== null, FIXTURES === null ? NEED_FIXTURES : NEED_KAFKA, {
  name:
    "a Kafka ingest killed with SIGKILL at seeded points and restarted stores every alert once, identical to an uninterrupted one",
  async fn() {
    const started = performance.now();
    const suffix = crypto.randomUUID().slice(0, 8);
    const topic = `lsst-test-crash-${suffix}`;
    const kafka = new KafkaClient({ brokers: [BOOTSTRAP], clientId: "lsst-crash-test" });
    await kafka.createTopic(topic, PARTITIONS);
    const ids = await produceMock(topic, KAFKA_ALERTS, 41);
    const produced = seconds(started);

    await withTempDir("lsst-crash-kafka-", async (dir) => {
      const a = { db: join(dir, "a.db"), group: `lsst-test-crash-a-${suffix}` };
      const b = { db: join(dir, "b.db"), group: `lsst-test-crash-b-${suffix}` };
      const ingestArgs = (target: typeof a, ...more: string[]) => [
        "ingest",
        "--source",
        "kafka",
        "--bootstrap-servers",
        BOOTSTRAP,
        "--topic",
        topic,
        "--group-id",
        target.group,
        "--schema-dir",
        join(FIXTURES as string, "lsst/schema"),
        "--session-timeout",
        "6",
        "--no-cutouts",
        "--db",
        target.db,
        "--batch-size",
        "500",
        ...more,
      ];
      // Three points between 5% and 70% of the stream (1,000 to 14,000 at full size): a quiet
      // machine stores the 6,000 alerts of the everyday size in well under a second, so the
      // last point leaves a third of the stream for the delay below to land in.
      const points = killPoints(SEED, 3, {
        min: KAFKA_ALERTS * 0.05,
        max: KAFKA_ALERTS * 0.7,
        gap: KAFKA_ALERTS * 0.05,
      });
      const random = seededRandom(SEED + 2);

      const runsStarted = performance.now();
      // --duration only bounds a run that would wait for records that never come: it then
      // completes short and the counts below fail.
      await using reference = new CliProcess(
        ingestArgs(a, "--limit", String(KAFKA_ALERTS), "--duration", "240", "--json"),
        { timeoutMs: 5 * MINUTE },
      );
      const pids: number[] = [];
      const kills: string[] = [];
      let remaining = KAFKA_ALERTS;
      let final: Row = {};
      const crashLoop = async () => {
        for (const point of points) {
          const before = pollNumber(b.db, "SELECT COUNT(*) FROM alerts") ?? 0;
          // Batches of 200 (the reference takes 500): more commit boundaries for the kill to
          // fall between, and a stream that lasts past the delay below.
          await using run = new CliProcess(ingestArgs(b, "--quiet", "--batch-size", "200"), {
            timeoutMs: 5 * MINUTE,
          });
          pids.push(run.pid);
          // A restart waits for the killed member's session (6 s) before partitions move.
          await waitFor(`for more than ${point} stored alerts`, 2 * MINUTE, () => {
            const n = pollNumber(b.db, "SELECT COUNT(*) FROM alerts");
            return n !== null && n > point && n > before;
          }, { watch: run });
          // Anywhere between a commit to SQLite, the commit to Kafka and the next batch.
          // A batch takes some 20 ms here: a longer wait could reach the end of the topic.
          const delay = Math.floor(random() * 40);
          await pause(delay);
          run.kill();
          killed(await run.exit(), `the run killed ${delay} ms past ${point}`);
          const rows = count(b.db, "SELECT COUNT(*) FROM alerts");
          assert.ok(
            rows < KAFKA_ALERTS,
            `killed mid-stream ${delay} ms past ${point} (${rows} stored)`,
          );
          kills.push(`${delay} ms past ${point}: ${rows} rows`);
        }
        remaining = KAFKA_ALERTS - count(b.db, "SELECT COUNT(*) FROM alerts");
        await using last = new CliProcess(
          ingestArgs(b, "--limit", String(remaining), "--duration", "240", "--json"),
          { timeoutMs: 5 * MINUTE },
        );
        pids.push(last.pid);
        final = completedRun(await last.exit());
      };
      const [referenceExit] = await Promise.all([reference.exit(), crashLoop()]);
      const ran = seconds(runsStarted);

      const run = completedRun(referenceExit);
      assert.equal(run.recordsRead, KAFKA_ALERTS);
      assert.equal(run.alertsIngested, KAFKA_ALERTS);
      // Nothing stored was handed over again: the last run read exactly what was left.
      assert.equal(final.recordsRead, remaining);
      assert.equal(final.alertsIngested, remaining);
      assert.equal(final.alertsSkipped, 0);

      const expected = sortedIds(ids);
      for (const db of [a.db, b.db]) {
        // Every produced alert stored, once (dia_source_id is the key).
        assertSameRows("alert ids", expected, storedIds(db));
        assertIntegrity(db);
        assert.equal(count(db, "SELECT COUNT(*) FROM quarantine"), 0);
      }
      assertSameRows("alerts", alertRows(a.db, dir), alertRows(b.db, dir));
      assertSameRows("processed_sources", sourceRows(a.db), sourceRows(b.db));
      // Partitions interleave differently in two consumers: compare detections as a multiset.
      const detections = detectionRows(a.db).sort();
      assert.ok(detections.length > 50, `the input has reassociations (${detections.length})`);
      assertSameRows("reassociations", detections, detectionRows(b.db).sort());
      assert.deepEqual(byReason(b.db), byReason(a.db));
      assertRunsOf(b.db, pids, KAFKA_ALERTS);
      // Both groups committed everything they stored.
      for (const group of [a.group, b.group]) {
        const lag = await kafkaLag({ bootstrapServers: BOOTSTRAP, groupId: group });
        assert.deepEqual(lag.map((p) => p.lag), [0, 0, 0, 0], `lag of ${group}`);
      }
      report(
        `seed ${SEED}, kill points ${points.join(", ")}; produced in ${produced}; ` +
          `reference and ${pids.length} crash-loop runs in ${ran}`,
      );
      for (const kill of kills) report(`kill ${kill}`);
    });
  },
});

// --- 3. two writers, one database ----------------------------------------------------------

const CONCURRENT_ALERTS = sized(10_000, 30_000);
const BUSY =
  /^error: Database "[^"]+" is busy: another process held its write lock for more than [\d.]+ s$/;

Deno.test("two mock ingests started together on one new database both store everything, or one fails as busy and nothing else", async () => {
  const seeds = [101, 202];
  const streams = seeds.map((seed) => {
    const source = new MockSource({ count: CONCURRENT_ALERTS, seed, cutouts: false });
    const ids: string[] = [];
    for (const { packet } of source.packets()) ids.push(String(packet.diaSource.diaSourceId));
    return { seed, ids, all: new Set(ids), truth: source.groundTruth() };
  });
  const outcomes: string[] = [];
  await withTempDir("lsst-crash-two-", async (dir) => {
    // A few rounds: each starts on a database that does not exist yet, so the two processes
    // also race to create it.
    for (const round of [1, 2, 3]) {
      const db = join(dir, `round-${round}.db`);
      const processes = streams.map(({ seed }) =>
        new CliProcess([
          "ingest",
          "--source",
          "mock",
          "--count",
          String(CONCURRENT_ALERTS),
          "--seed",
          String(seed),
          "--no-cutouts",
          "--db",
          db,
          "--json",
        ], { timeoutMs: 2 * MINUTE })
      );
      let exits: CliExit[];
      try {
        exits = await Promise.all(processes.map((p) => p.exit()));
      } finally {
        await Promise.all(processes.map((p) => p[Symbol.asyncDispose]()));
      }

      assertIntegrity(db);
      const runs = runRows(db);
      const stored = new Set(storedIds(db));
      let accounted = 0;
      for (const [i, exit] of exits.entries()) {
        const { seed, ids, all } = streams[i] as (typeof streams)[number];
        let n: number;
        if (exit.code === 0) {
          const run = completedRun(exit);
          assert.equal(run.alertsIngested, CONCURRENT_ALERTS, `seed ${seed}`);
          n = CONCURRENT_ALERTS;
        } else {
          assert.equal(exit.code, 1, `seed ${seed} exited with ${exit.code}: ${exit.stderr}`);
          assert.match(exit.stderr.trim(), BUSY);
          assert.equal(exit.stdout, "");
          // What a failed run stored is a prefix of its stream, as its run row and cursor say.
          const row = runs.find((r) => Number(r.pid) === processes[i]?.pid);
          n = row === undefined ? 0 : Number(row.alerts_ingested);
          const cursor = queryDatabase(
            db,
            `SELECT position FROM source_cursors WHERE stream = 'mock:${seed}'`,
          )[0]?.position;
          assert.equal(cursor === undefined ? 0 : Number(cursor) + 1, n, `seed ${seed} cursor`);
        }
        const mine = [...stored].filter((id) => all.has(id));
        assert.deepEqual(sortedIds(mine), sortedIds(ids.slice(0, n)), `alerts of seed ${seed}`);
        accounted += mine.length;
        outcomes.push(`round ${round} seed ${seed}: exit ${exit.code}, ${n} stored`);
      }
      assert.ok(exits.some((e) => e.code === 0), "at least one of the two succeeds");
      assert.equal(accounted, stored.size, "every stored alert belongs to one of the runs");
      if (exits.every((e) => e.code === 0)) {
        // Neither process's cached tracking state leaked into the other's detections.
        const expected: Record<string, number> = {};
        for (const reason of REASSOCIATION_REASONS) {
          expected[reason] = streams.reduce((sum, s) => sum + s.truth.byReason[reason], 0);
        }
        assert.deepEqual(byReason(db), expected);
        assert.equal(
          count(db, "SELECT COUNT(*) FROM processed_sources"),
          streams.reduce((sum, s) => sum + s.truth.newSources, 0),
        );
        assert.deepEqual(runs.map((r) => r.status), ["completed", "completed"]);
      }
    }
  });
  for (const outcome of outcomes) report(outcome);
});
