/**
 * The command line as users run it: a separate `deno run cli.ts` process per call.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { queryDatabase, REPO_ROOT, withTempDir } from "./_support.ts";

const CLI = join(REPO_ROOT, "cli.ts");
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, CLI, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test("ingest --source mock stores alerts and cutouts, and a second run resumes to nothing new", async () => {
  await withTempDir("lsst-cli-", async (dir) => {
    const db = join(dir, "alerts.db");
    const args = [
      "ingest",
      "--source",
      "mock",
      "--count",
      "250",
      "--db",
      db,
      "--cutouts-dir",
      join(dir, "cutouts"),
    ];
    const first = await cli([...args, "--json"]);
    assert.equal(first.code, 0, first.stderr);
    const run = JSON.parse(first.stdout);
    assert.equal(run.status, "completed");
    assert.equal(run.alertsIngested, 250);
    const [row] = queryDatabase(db, "SELECT cutout_science FROM alerts LIMIT 1");
    assert.ok((await Deno.stat(String(row?.cutout_science))).size > 0);

    const second = await cli(args);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /Run 2 completed: 0 records read, 0 alerts stored/);
    assert.match(second.stdout, new RegExp(`Database: ${db.replaceAll("/", "\\/")}`));
  });
});

// The quick start's command: the task sets glibc's and V8's memory settings before `deno run`.
Deno.test("deno task ingest (the quick start) runs the ingest with the task's settings", async () => {
  await withTempDir("lsst-cli-task-", async (dir) => {
    const db = join(dir, "alerts.db");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "ingest", "--source", "mock", "--count", "120", "--db", db]
        .concat(["--cutouts-dir", join(dir, "cutouts"), "--json"]),
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.equal(JSON.parse(new TextDecoder().decode(out.stdout)).alertsIngested, 120);
    assert.equal(queryDatabase(db, "SELECT COUNT(*) AS n FROM alerts")[0]?.n, 120n);
    const task = JSON.parse(await Deno.readTextFile(join(REPO_ROOT, "deno.json"))).tasks.ingest;
    assert.match(task.command, /^MALLOC_TRIM_THRESHOLD_=\d+ deno run .*--heap-growing-percent=/);
  });
});

Deno.test("db-stats, runs and reassociations report what ingest stored, ids exact", async () => {
  await withTempDir("lsst-cli-", async (dir) => {
    const db = join(dir, "alerts.db");
    const ingest = await cli(["ingest", "--count", "3000", "--no-cutouts", "--quiet"], {
      LSST_DB: db,
    });
    assert.equal(ingest.code, 0, ingest.stderr);
    assert.equal(ingest.stdout, "", "--quiet prints nothing");

    const stats = await cli(["db-stats", "--db", db, "--json"]);
    assert.equal(stats.code, 0, stats.stderr);
    const parsed = JSON.parse(stats.stdout);
    assert.equal(parsed.rows.alerts, 3000);
    const expected = queryDatabase(
      db,
      "SELECT reason, COUNT(*) AS n FROM reassociations GROUP BY reason",
    );
    for (const { reason, n } of expected) {
      assert.equal(parsed.reassociationsByReason[String(reason)], Number(n));
    }
    const human = await cli(["db-stats", "--db", db]);
    assert.match(human.stdout, /alerts\s+3,000/);
    assert.match(human.stdout, /MJD range \(TAI\): 61000\.\d+ – 610\d\d\.\d+/);

    const runs = await cli(["runs", "--db", db]);
    assert.match(runs.stdout, /^run\s+source\s+status/m);
    assert.match(runs.stdout, /^1\s+mock\s+completed/m);

    const detections = await cli(["reassociations", "--db", db, "--json", "--limit", "3"]);
    const [newest] = queryDatabase(
      db,
      "SELECT dia_source_id FROM reassociations ORDER BY id DESC LIMIT 1",
    );
    // The JSON text carries the 18-digit id as an exact integer literal.
    assert.match(detections.stdout, new RegExp(`"diaSourceId": ${newest?.dia_source_id}\\b`));
    assert.equal(JSON.parse(detections.stdout).length, 3);
    const filtered = await cli(["reassociations", "--db", db, "--reason", "association_removed"]);
    assert.equal(filtered.code, 0);
    assert.doesNotMatch(filtered.stdout, /new_association|changed_association/);
  });
});

Deno.test("bad usage exits with 2 and a clear message", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["ingest", "--source", "ftp"], /Unknown source "ftp": expected mock, file, kafka or antares/],
    [["ingest", "--source", "antares"], /The antares source needs at least one --topic/],
    [
      ["ingest", "--source", "antares", "--topic", "x"],
      /needs an API key and secret: --api-key\/--api-secret or ANTARES_API_KEY\/ANTARES_API_SECRET/,
    ],
    [
      ["ingest", "--source", "antares", "--topic", "x", "--security-protocol", "ssl"],
      /Unknown --security-protocol "ssl"/,
    ],
    [["ingest", "--source", "kafka"], /The kafka source needs --topic/],
    [["ingest", "--bogus"], /Invalid options for "ingest": .*--bogus/],
    [["ingest", "--count", "ten"], /Option --count needs an integer of at least 0: "ten"/],
    [["ingest", "--duration", "0"], /Option --duration needs a positive number of seconds/],
    [["reassociations", "--reason", "moved"], /Unknown reason "moved"/],
    [["frobnicate"], /Unknown command "frobnicate"/],
    [[], /Usage: lsst-extendedness <command>/],
  ];
  for (const [args, message] of cases) {
    const result = await cli(
      [...args, "--db", ":memory:"].slice(0, args.length === 0 ? 0 : undefined),
    );
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr + result.stdout, message);
  }
  const help = await cli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /db-stats/);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`${signal} stores what was read, marks the run interrupted and exits with 130`, async () => {
    await withTempDir("lsst-cli-", async (dir) => {
      const db = join(dir, "alerts.db");
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...PERMISSIONS,
          CLI,
          "ingest",
          "--count",
          "5000000",
          "--no-cutouts",
          "--db",
          db,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // Wait until batches are being committed, then interrupt mid-stream.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        try {
          if (Number(queryDatabase(db, "SELECT COUNT(*) AS n FROM alerts")[0]?.n) > 2000) break;
        } catch {
          // Not created yet.
        }
      }
      child.kill(signal);
      const out = await child.output();
      assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
      assert.match(new TextDecoder().decode(out.stdout), /Run 1 interrupted/);

      const [run] = queryDatabase(db, "SELECT status, alerts_ingested, error FROM ingestion_runs");
      assert.equal(run?.status, "interrupted");
      assert.match(String(run?.error), new RegExp(signal));
      const alerts = Number(queryDatabase(db, "SELECT COUNT(*) AS n FROM alerts")[0]?.n);
      assert.equal(Number(run?.alerts_ingested), alerts);
      assert.ok(alerts > 2000 && alerts < 5_000_000);
      // The cursor covers exactly the stored alerts: mock positions are 0-based indexes.
      const [cursor] = queryDatabase(db, "SELECT position FROM source_cursors");
      assert.equal(Number(cursor?.position) + 1, alerts);
      assert.equal(queryDatabase(db, "PRAGMA integrity_check")[0]?.integrity_check, "ok");
    });
  });
}

Deno.test("read commands given a missing database say so and create neither file nor folder", async () => {
  await withTempDir("lsst-cli-", async (dir) => {
    const folder = join(dir, "missing");
    const db = join(folder, "alerts.db");
    const commands = [
      ["db-stats"],
      ["runs"],
      ["reassociations"],
      ["export"],
      ["export", "--out", join(dir, "alerts.csv")],
      ["show-alert", "170094456272322680"],
      ["query", "SELECT 1 AS one"],
      ["quarantine", "list"],
    ];
    for (const command of commands) {
      const result = await cli([...command, "--db", db]);
      assert.equal(result.code, 1, `${command.join(" ")}: ${result.stderr}`);
      assert.ok(
        result.stderr.includes(`Database "${db}" does not exist`),
        `${command.join(" ")}: ${result.stderr}`,
      );
      assert.deepEqual([...Deno.readDirSync(dir)], [], `${command.join(" ")} created nothing`);
    }

    const init = await cli(["db-init", "--db", db]);
    assert.equal(init.code, 0, init.stderr);
    assert.ok(Deno.statSync(db).isFile, "db-init still creates the file and its folder");
    const stats = await cli(["db-stats", "--db", db, "--json"]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal(JSON.parse(stats.stdout).rows.alerts, 0);
  });
});
