/**
 * Security properties: users' SQL cannot write, data cannot steer SQL or file paths, secrets
 * are written nowhere, TLS is verified unless explicitly relaxed.
 */

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { CutoutProcessor, encodeFits, SQLITE_SCHEMA_VERSION, SQLiteStorage } from "../mod.ts";
import { makeAlert } from "./_alert_factory.ts";
import { queryDatabase, REPO_ROOT, testWith, withTempDir } from "./_support.ts";
import { cli } from "./_kafka.ts";
import { KafkaClient } from "../sources/kafka/_kafka_client.ts";

const KAFKA = Deno.env.get("KAFKA_BOOTSTRAP");
const SCRAM = Deno.env.get("KAFKA_SASL_SCRAM_BOOTSTRAP");
const TLS = Deno.env.get("KAFKA_SASL_SSL_BOOTSTRAP");
const CA = Deno.env.get("KAFKA_CA_FILE");
const NEED_KAFKA = "a Kafka broker (deno task kafka start, then export the KAFKA_* lines)";

/** Every byte under a folder, for grepping. */
async function allBytes(dir: string): Promise<string> {
  const parts: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) parts.push(await allBytes(path));
    else if (entry.isFile) parts.push(new TextDecoder("latin1").decode(await Deno.readFile(path)));
  }
  return parts.join("\n");
}

Deno.test("query runs users' SQL read-only: reads work, every kind of write fails and changes nothing", async () => {
  await withTempDir("lsst-security-", async (dir) => {
    const db = join(dir, "alerts.db");
    assert.equal(
      (await cli(["ingest", "--count", "40", "--no-cutouts", "--db", db, "--quiet"])).code,
      0,
    );
    const count = await cli([
      "query",
      "SELECT COUNT(*) AS n, MAX(dia_source_id) AS top FROM alerts",
      "--db",
      db,
      "--json",
    ]);
    assert.equal(count.code, 0, count.stderr);
    const [top] = queryDatabase(db, "SELECT MAX(dia_source_id) AS top FROM alerts");
    assert.match(count.stdout, new RegExp(`"n":40,"top":${top?.top}\\b`), "ids exact");

    const writes = [
      "DELETE FROM alerts",
      "DELETE FROM alerts RETURNING dia_source_id",
      "UPDATE alerts SET ra = 0",
      "INSERT INTO quarantine (source, stream, position, error, quarantined_at) VALUES ('a','b','c','d','e')",
      "DROP TABLE alerts",
      "CREATE TABLE evil (x)",
      "PRAGMA user_version = 99",
      `ATTACH '${join(dir, "evil.db")}' AS evil`,
      "VACUUM INTO 'copy.db'",
      "/* comment */ -- another\n  vacuum into 'copy.db'",
    ];
    for (const sql of writes) {
      const result = await cli(["query", sql, "--db", db]);
      if (sql.startsWith("ATTACH")) {
        // Attaching is reading: allowed, but it cannot create or write the other file.
        assert.equal(await Deno.stat(join(dir, "evil.db")).then(() => true, () => false), false);
        continue;
      }
      assert.equal(result.code, 1, `${sql} must fail`);
      assert.match(result.stderr, /readonly|read-only|only read|query_only/i, sql);
    }
    assert.equal(queryDatabase(db, "SELECT COUNT(*) AS n FROM alerts")[0]?.n, 40n);
    assert.equal(
      queryDatabase(db, "PRAGMA user_version")[0]?.user_version,
      BigInt(SQLITE_SCHEMA_VERSION),
    );
    assert.equal(await Deno.stat("copy.db").then(() => true, () => false), false);
  });
});

Deno.test("text that looks like SQL is stored verbatim: every statement binds its values", async () => {
  await using storage = new SQLiteStorage(":memory:");
  await storage.initialize();
  const evil = "x'); DROP TABLE alerts; --";
  const runId = await storage.beginRun("test'; DELETE FROM ingestion_runs; --", { note: evil });
  await storage.writeBatch(runId, {
    source: evil,
    alerts: [{
      alert: makeAlert(1n, {
        observationReason: evil,
        targetName: '"; DROP TABLE loci;',
        band: "r'",
      }),
      cutouts: { science: evil, template: null, difference: null },
    }],
    quarantine: [{ source: evil, stream: evil, position: evil, error: evil, raw: null }],
    cursors: [{ stream: evil, position: evil }],
  });
  const stats = await storage.stats();
  assert.equal(stats.rows.alerts, 1);
  assert.equal(stats.rows.quarantine, 1);
  const [row] = await Array.fromAsync(storage.iterateRows("alerts"));
  assert.equal(row?.observation_reason, evil);
  assert.equal(row?.cutout_science, evil);
  assert.deepEqual(await storage.loadCursors(evil), new Map([[evil, evil]]));
});

Deno.test("storage SQL interpolates nothing but fixed names: every value is a bound parameter", async () => {
  // Template-literal SQL may only interpolate constants of the code itself.
  // ${this.#exportColumns()}: the table's own column names, from PRAGMA table_info.
  // ${LOAD_PARAMS}, ${ALERT_PLACEHOLDERS}: constant lists of "?" placeholders.
  // ${ALERT_COLUMN_LIST}, ${ALERT_UPSERT}: built from the code's own list of alerts columns.
  const allowed = [
    "${ALERT_PLACEHOLDERS}",
    "${ALERT_COLUMN_LIST}",
    "${ALERT_UPSERT}",
    "${table}",
    "${name}",
    "${SQLITE_SCHEMA_VERSION}",
    "${this.#exportColumns()}",
    "${LOAD_PARAMS}",
  ];
  for (const file of ["storage/sqlite_storage.ts", "storage/read_only_query.ts"]) {
    const text = await Deno.readTextFile(join(REPO_ROOT, file));
    const sqlLiterals =
      text.match(/`\s*(SELECT|INSERT|UPDATE|DELETE|PRAGMA|CREATE|ALTER)[^`]*`/gs) ?? [];
    for (const literal of sqlLiterals) {
      for (const hole of literal.match(/\$\{[^}]*\}/g) ?? []) {
        assert.ok(allowed.includes(hole), `${file}: ${hole} in ${literal.slice(0, 80)}`);
      }
    }
  }
});

Deno.test("cutout paths come from the numeric id and the date only: crafted values cannot escape", async () => {
  await withTempDir("lsst-security-", async (dir) => {
    const out = join(dir, "cutouts");
    const processor = new CutoutProcessor({ outputDir: out });
    const fits = encodeFits([{ width: 2, height: 2, data: new Float32Array(4) }]);
    const crafted = makeAlert(42n, {
      objectName: "../../../etc/passwd",
      ssObjectName: "..",
      source: "/tmp",
      band: "../x",
      cutoutScience: fits,
    });
    const result = await processor.process(crafted);
    assert.ok(result.science !== null);
    assert.ok(!relative(out, result.science).startsWith(".."));
    assert.match(relative(out, result.science), /^\d{4}-\d{2}-\d{2}\/42\/science\.fits$/);
    // A crafted id or time places nothing: the cutouts come back as problems to quarantine.
    const before = await allBytes(out);
    for (const id of [-1n, -(2n ** 63n)]) {
      const refused = await processor.process(makeAlert(id, { cutoutScience: fits }));
      assert.equal(refused.science, null);
      assert.match(refused.problems[0]?.error ?? "", /not a non-negative integer/);
    }
    for (const midpoint of [Number.NaN, Number.POSITIVE_INFINITY, 1e12, -1e9]) {
      const refused = await processor.process(
        makeAlert(7n, { midpointMjdTai: midpoint, cutoutScience: fits }),
      );
      assert.equal(refused.science, null);
      assert.match(refused.problems[0]?.error ?? "", /not a usable MJD/);
    }
    assert.equal(await allBytes(out), before, "nothing was written for them");
    const written = (await allBytes(out)).length;
    assert.ok(written > 0);
    processor.close();
  });
});

testWith(Boolean(KAFKA && SCRAM), NEED_KAFKA, {
  name: "Kafka and ANTARES secrets appear in nothing a run writes, right or wrong",
  async fn() {
    await withTempDir("lsst-security-", async (dir) => {
      const topic = `security-${crypto.randomUUID().slice(0, 8)}`;
      await new KafkaClient({ brokers: [KAFKA as string], clientId: "t" }).createTopic(topic, 1);
      const db = join(dir, "alerts.db");
      const outputs: string[] = [];
      const right = "alerts-secret";
      const wrong = "wr0ng-s3cret-value";
      // Right password (from the environment), then a wrong one on the command line.
      const ok = await cli([
        "ingest",
        "--source",
        "kafka",
        "--bootstrap-servers",
        SCRAM as string,
        "--topic",
        topic,
        "--group-id",
        `${topic}-g`,
        "--sasl-mechanism",
        "scram-sha-512",
        "--duration",
        "2",
        "--db",
        db,
        "--json",
        "--schema-registry",
        `http://user:${wrong}x@127.0.0.1:1/`,
      ], { LSST_KAFKA_USERNAME: "alerts", LSST_KAFKA_PASSWORD: right });
      assert.equal(ok.code, 0, ok.stderr);
      outputs.push(ok.stdout, ok.stderr);
      const bad = await cli([
        "ingest",
        "--source",
        "kafka",
        "--bootstrap-servers",
        SCRAM as string,
        "--topic",
        topic,
        "--group-id",
        `${topic}-g`,
        "--sasl-mechanism",
        "scram-sha-512",
        "--username",
        "alerts",
        "--password",
        wrong,
        "--duration",
        "2",
        "--db",
        db,
      ]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /authentication failed/);
      outputs.push(bad.stdout, bad.stderr);
      const antares = await cli([
        "ingest",
        "--source",
        "antares",
        "--topic",
        topic,
        "--bootstrap-servers",
        KAFKA as string,
        "--security-protocol",
        "sasl_plaintext",
        "--api-key",
        "key",
        "--api-secret",
        wrong,
        "--duration",
        "2",
        "--db",
        db,
        "--json",
      ]);
      assert.equal(antares.code, 1);
      outputs.push(antares.stdout, antares.stderr);
      const everything = outputs.join("\n") + (await allBytes(dir));
      for (const secret of [right, wrong]) {
        assert.ok(!everything.includes(secret), `"${secret}" was written somewhere`);
      }
      const params = queryDatabase(db, "SELECT params FROM ingestion_runs").map((r) =>
        String(r.params)
      );
      assert.ok(params.length >= 2);
      assert.ok(params.every((p) => !p.includes("password") && !p.includes("secret")));
    });
  },
});

testWith(Boolean(TLS && CA), NEED_KAFKA, {
  name: "TLS is verified by default: an unknown CA or a wrong host name is refused",
  async fn() {
    await withTempDir("lsst-security-", async (dir) => {
      const common = [
        "ingest",
        "--source",
        "kafka",
        "--bootstrap-servers",
        TLS as string,
        "--topic",
        "x",
        "--group-id",
        "tls-g",
        "--sasl-mechanism",
        "plain",
        "--username",
        "alerts",
        "--password",
        "alerts-secret",
        "--duration",
        "2",
        "--db",
        join(dir, "a.db"),
      ];
      const noCa = await cli([...common, "--tls"]);
      assert.equal(noCa.code, 1);
      assert.match(noCa.stderr, /TLS verification failed.*(self-signed|certificate)/);
      // The right CA, but the certificate names kafka.test, not 127.0.0.1.
      const wrongHost = await cli([...common, "--ca-file", CA as string]);
      assert.equal(wrongHost.code, 1);
      assert.match(wrongHost.stderr, /TLS verification failed.*(altnames|Hostname)/i);
    });
  },
});
