/**
 * `query` on PostgreSQL, on a real server whose URL user is a superuser: users' SQL runs as the
 * database's read-only role, so switching role back, running programs, writing files, signalling
 * backends, reading server files, writes, DDL and several statements in one text are refused and
 * none of them happens, while reads return exact rows.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { PostgresStorage, queryReadOnly, StorageError } from "../mod.ts";
import { queryRoleName } from "../storage/_query_role.ts";
import { makeAlert } from "./_alert_factory.ts";
import { cli } from "./_kafka.ts";
import { NEED_POSTGRES, POSTGRES_URL, withPostgresDatabase } from "./_postgres.ts";
import { testWith } from "./_support.ts";

const HAVE = POSTGRES_URL !== "";
// Above 2^53: a double would round it.
const BIG = 9_007_199_254_740_993n;
const NO_CUTOUTS = { science: null, template: null, difference: null };

type Sql = postgres.Sql<{ bigint: bigint }>;

interface QueryDatabase {
  /** Its URL, as the superuser. */
  url: string;
  /** Its name. */
  name: string;
  /** Its read-only role. */
  role: string;
  /** A superuser connection to it. */
  admin: Sql;
  /** Login roles to drop once the database is gone. */
  users: string[];
}

function connect(url: string): Sql {
  return postgres(url, {
    max: 2,
    onnotice: () => {},
    types: { bigint: postgres.BigInt },
  }) as unknown as Sql;
}

/** A new database with the schema and three alerts, then its roles dropped with it. */
async function withQueryDatabase(
  work: (db: QueryDatabase) => Promise<void>,
  options: { initialize?: boolean } = {},
): Promise<void> {
  const roles: string[] = [];
  try {
    await withPostgresDatabase(async (url) => {
      const name = new URL(url).pathname.slice(1);
      const role = await queryRoleName(name);
      roles.push(role);
      if (options.initialize ?? true) {
        await using storage = new PostgresStorage(url);
        await storage.initialize();
        const runId = await storage.beginRun("test", {});
        await storage.writeBatch(runId, {
          source: "test",
          alerts: [BIG, BIG + 1n, BIG + 2n].map((id) => ({
            alert: makeAlert(id),
            cutouts: NO_CUTOUTS,
          })),
          quarantine: [],
          cursors: [{ stream: "s", position: "2" }],
        });
        await storage.finishRun(runId, "completed", null);
      }
      const admin = connect(url);
      try {
        await work({ url, name, role, admin, users: roles });
      } finally {
        await admin.end({ timeout: 5 });
      }
    });
  } finally {
    const server = new URL(POSTGRES_URL);
    server.pathname = "/postgres";
    const admin = connect(server.toString());
    try {
      for (const role of roles) {
        await admin.unsafe(`DROP ROLE IF EXISTS "${role.replaceAll('"', '""')}"`);
      }
    } finally {
      await admin.end({ timeout: 5 });
    }
  }
}

/** A login role with a password, and the database URL as it. */
async function loginRole(
  db: QueryDatabase,
  attributes: string,
): Promise<{ user: string; url: string }> {
  const user = `lsst_t_user_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const password = crypto.randomUUID();
  await db.admin.unsafe(`CREATE ROLE ${user} LOGIN ${attributes} PASSWORD '${password}'`);
  db.users.push(user);
  const url = new URL(db.url);
  url.username = user;
  url.password = password;
  return { user, url: url.toString() };
}

function rows(
  url: string,
  sql: string,
  timeoutMs?: number,
): Promise<Record<string, unknown>[]> {
  return Array.fromAsync(queryReadOnly(url, sql, timeoutMs === undefined ? {} : { timeoutMs }));
}

async function assertRefused(url: string, sql: string, what: RegExp): Promise<void> {
  await assert.rejects(rows(url, sql), (error: unknown) => {
    assert.ok(error instanceof StorageError, `${sql}: ${error}`);
    assert.match(error.message, /^Query refused: /, `${sql}: ${error.message}`);
    assert.match(error.message, what, `${sql}: ${error.message}`);
    return true;
  });
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function count(admin: Sql, table: string): Promise<bigint> {
  const [row] = await admin.unsafe(`SELECT COUNT(*) AS n FROM ${table}`);
  return row?.n as bigint;
}

testWith(HAVE, NEED_POSTGRES, {
  name: "PostgreSQL query reads as the database's read-only role, ids exact above 2^53",
  async fn() {
    await withQueryDatabase(async ({ url, role, admin }) => {
      const read = await rows(
        url,
        "SELECT dia_source_id, ra, current_user AS who FROM alerts ORDER BY dia_source_id",
      );
      assert.deepEqual(read.map((r) => r.dia_source_id), [BIG, BIG + 1n, BIG + 2n]);
      assert.equal(read[0]?.ra, 150.1);
      assert.equal(read[0]?.who, role);

      // Column names and value kinds as the driver gives them, whatever the type.
      const [kinds] = await rows(
        url,
        `-- a comment first
        SELECT 1 AS a, 'ab'::char(3) AS b, ARRAY[1, 2] AS c, NULL AS d, ROW(1, 'x') AS e,
          2.5::numeric(4, 2) AS f, MAX(dia_source_id) AS top, 7 AS a FROM alerts;`,
      );
      assert.deepEqual(kinds, {
        a: 7,
        b: "ab ",
        c: [1, 2],
        d: null,
        e: "(1,x)",
        f: "2.50",
        top: BIG + 2n,
      });
      // void and cstring columns come back as text.
      assert.deepEqual(await rows(url, "SELECT pg_sleep(0), textout('x') AS t;"), [
        { pg_sleep: "", t: "x" },
      ]);
      const plan = await rows(url, "EXPLAIN SELECT * FROM alerts");
      assert.ok(plan.length > 0 && "QUERY PLAN" in plan[0]!);

      // Only the project's tables: not another table of the database, not the catalogs' secrets.
      await admin.unsafe("CREATE TABLE not_ours (secret text)");
      await assertRefused(url, "SELECT * FROM not_ours", /permission denied for table not_ours/);
      await assertRefused(url, "SELECT * FROM pg_authid", /permission denied for table pg_authid/);
    });
  },
});

testWith(HAVE, NEED_POSTGRES, {
  name:
    "PostgreSQL query refuses switching role, programs, files, signals, writes, DDL and several statements, and none happens",
  async fn() {
    await withQueryDatabase(async ({ url, role, admin }) => {
      const marker = `/tmp/lsst-query-test-${crypto.randomUUID()}`;
      const program = `${marker}-program`;
      const file = `${marker}-file`;
      // The server shares this /tmp: were COPY to run, the test would see its files.
      await admin.unsafe(`COPY (SELECT 1) TO PROGRAM 'touch ${program}-control'`);
      await admin.unsafe(`COPY (SELECT 1) TO '${file}-control'`);
      assert.ok(await exists(`${program}-control`) && await exists(`${file}-control`));
      await Deno.remove(`${program}-control`);
      await Deno.remove(`${file}-control`);

      const held = await admin.reserve();
      try {
        const [{ pid }] = await held`SELECT pg_backend_pid() AS pid` as unknown as [
          { pid: number },
        ];
        const refused: Array<[string, RegExp]> = [
          ["SET ROLE postgres", /"SET" does not return rows/],
          ["SET LOCAL ROLE postgres", /"SET" does not return rows/],
          ["RESET ROLE", /"RESET" does not return rows/],
          ["SET SESSION AUTHORIZATION postgres", /"SET" does not return rows/],
          [`COPY (SELECT 1) TO PROGRAM 'touch ${program}'`, /"COPY" does not return rows/],
          [`COPY alerts TO '${file}'`, /"COPY" does not return rows/],
          [`SELECT pg_terminate_backend(${pid})`, /terminate/],
          [`SELECT pg_cancel_backend(${pid})`, /cancel/],
          ["SELECT pg_read_file('/etc/hostname')", /permission denied for function pg_read_file/],
          // Switching back from inside a SELECT, then doing what only the superuser may.
          [
            `SELECT set_config('role', 'postgres', false), pg_terminate_backend(${pid})`,
            /cannot set parameter "role"/,
          ],
          [
            `SELECT set_config('role', 'none', true), pg_terminate_backend(${pid})`,
            /cannot set parameter "role"/,
          ],
          [
            "SELECT set_config('session_authorization', 'postgres', true), " +
            "query_to_xml('SELECT pg_read_file(''/etc/hostname'')', true, true, '')",
            /cannot set parameter "session_authorization"/,
          ],
          [
            "INSERT INTO quarantine (source, stream, position, error, quarantined_at) " +
            "VALUES ('a', 'b', 'c', 'd', 'e')",
            /"INSERT" does not return rows/,
          ],
          ["DELETE FROM alerts", /"DELETE" does not return rows/],
          ["DELETE FROM alerts RETURNING dia_source_id", /DELETE/],
          ["UPDATE alerts SET ra = 0 RETURNING ra", /UPDATE/],
          [
            "WITH gone AS (DELETE FROM alerts RETURNING 1) SELECT COUNT(*) FROM gone",
            /read-only transaction/,
          ],
          ["EXPLAIN ANALYZE DELETE FROM alerts", /DELETE/],
          ["TRUNCATE alerts", /"TRUNCATE" does not return rows/],
          ["CREATE TABLE evil (x int)", /"CREATE" does not return rows/],
          ["DROP TABLE alerts", /"DROP" does not return rows/],
          ["ALTER TABLE alerts ADD COLUMN evil int", /"ALTER" does not return rows/],
          ["SELECT 1 AS one INTO evil", /"SELECT" does not return rows/],
          ["SELECT 1; SELECT 2", /several statements/],
          ["SELECT 1; DELETE FROM alerts", /several statements/],
          [
            `SELECT 1; RESET ROLE; COPY (SELECT 1) TO PROGRAM 'touch ${program}'`,
            /several statements/,
          ],
          [
            `SELECT 1; SET ROLE postgres; SELECT pg_terminate_backend(${pid})`,
            /several statements/,
          ],
        ];
        for (const [sql, what] of refused) await assertRefused(url, sql, what);

        assert.equal(await exists(program), false, "no program ran");
        assert.equal(await exists(file), false, "no file was written");
        assert.deepEqual([...await held`SELECT 1 AS alive`], [{ alive: 1 }], "backend alive");
        assert.equal(await count(admin, "alerts"), 3n);
        assert.equal(await count(admin, "quarantine"), 0n);
        const [shape] = await admin`
          SELECT to_regclass('evil') IS NULL AS no_evil,
            NOT EXISTS (SELECT FROM information_schema.columns WHERE column_name = 'evil')
              AS no_column`;
        assert.deepEqual({ ...shape }, { no_evil: true, no_column: true });
        const [after] = await rows(url, "SELECT current_user AS who");
        assert.equal(after?.who, role);
      } finally {
        held.release();
        await Deno.remove(program).catch(() => {});
        await Deno.remove(file).catch(() => {});
      }
    });
  },
});

testWith(HAVE, NEED_POSTGRES, {
  name: "PostgreSQL query cancels a statement that runs longer than its timeout",
  async fn() {
    await withQueryDatabase(async ({ url }) => {
      const started = performance.now();
      await assert.rejects(
        rows(url, "SELECT pg_sleep(5)", 1000),
        (error: unknown) => {
          assert.ok(error instanceof StorageError);
          assert.match(
            error.message,
            /^Query cancelled: it ran longer than the "1000" ms timeout$/,
          );
          return true;
        },
      );
      assert.ok(performance.now() - started < 4000, "cancelled, not finished");
      // Changing the timeout from inside the statement does not stop the running timer.
      await assert.rejects(
        rows(url, "SELECT set_config('statement_timeout', '0', true), pg_sleep(5)", 1000),
        /Query cancelled/,
      );
      assert.deepEqual(await rows(url, "SELECT pg_sleep(0.2)::text AS slept", 1000), [
        { slept: "" },
      ]);
      await assert.rejects(rows(url, "SELECT 1", 0), RangeError);
    });
  },
});

testWith(HAVE, NEED_POSTGRES, {
  name:
    "PostgreSQL query runs nothing when db-init's user could not create the read-only role, nor for users not granted it",
  async fn() {
    await withQueryDatabase(async (db) => {
      const plain = await loginRole(db, "NOCREATEROLE");
      await db.admin.unsafe(`ALTER DATABASE ${db.name} OWNER TO ${plain.user}`);
      {
        await using storage = new PostgresStorage(plain.url);
        await storage.initialize();
        assert.equal((await storage.stats()).rows.alerts, 0);
      }
      const [made] = await db.admin`SELECT COUNT(*) AS n FROM pg_roles WHERE rolname = ${db.role}`;
      assert.equal(made?.n, 0n, "no role without the right to create one");
      for (const url of [plain.url, db.url]) {
        await assertRefused(
          url,
          "SELECT 1",
          /has no read-only role ".+" for queries: run db-init as a user/,
        );
      }

      // A superuser's db-init completes it; a user not granted the role still runs nothing.
      {
        await using storage = new PostgresStorage(db.url);
        await storage.initialize();
      }
      const [who] = await rows(db.url, "SELECT current_user AS who, COUNT(*) AS n FROM alerts");
      assert.deepEqual(who, { who: db.role, n: 0n });
      await assertRefused(
        plain.url,
        "SELECT 1",
        new RegExp(`user "${plain.user}" may not act as the read-only role "${db.role}"`),
      );
    }, { initialize: false });
  },
});

testWith(HAVE, NEED_POSTGRES, {
  name: "PostgreSQL db-init by a user with CREATEROLE makes a role its queries cannot leave",
  async fn() {
    await withQueryDatabase(async (db) => {
      const owner = await loginRole(db, "CREATEROLE");
      await db.admin.unsafe(`ALTER DATABASE ${db.name} OWNER TO ${owner.user}`);
      {
        await using storage = new PostgresStorage(owner.url);
        await storage.initialize();
      }
      const [who] = await rows(owner.url, "SELECT current_user AS who");
      assert.equal(who?.who, db.role);
      // A user may signal its own backends: only the role it cannot leave stops that.
      const own = connect(owner.url);
      try {
        const held = await own.reserve();
        const [{ pid }] = await held`SELECT pg_backend_pid() AS pid` as unknown as [
          { pid: number },
        ];
        await assertRefused(
          owner.url,
          `SELECT set_config('role', 'none', true), pg_terminate_backend(${pid})`,
          /cannot set parameter "role"/,
        );
        await assertRefused(
          owner.url,
          `SELECT set_config('role', '${owner.user}', true), pg_terminate_backend(${pid})`,
          /cannot set parameter "role"/,
        );
        await assertRefused(owner.url, `SELECT pg_terminate_backend(${pid})`, /terminate/);
        assert.deepEqual([...await held`SELECT 1 AS alive`], [{ alive: 1 }]);
        held.release();
      } finally {
        await own.end({ timeout: 5 });
      }
    }, { initialize: false });
  },
});

testWith(HAVE, NEED_POSTGRES, {
  name: "PostgreSQL databases initialised at once on one server each get their own role",
  async fn() {
    await withQueryDatabase(async (a) => {
      await withQueryDatabase(async (b) => {
        // As if a dropped database of the same name had left its role behind.
        await a.admin.unsafe(`CREATE ROLE "${b.role}" NOLOGIN`);
        const workers = [a.url, a.url, a.url, b.url, b.url, b.url].map((url) =>
          new PostgresStorage(url)
        );
        try {
          await Promise.all(workers.map((w) => w.initialize()));
          await Promise.all(workers.map((w) => w.initialize()));
        } finally {
          await Promise.all(workers.map((w) => w.close()));
        }
        assert.notEqual(a.role, b.role);
        for (const db of [a, b]) {
          const [who] = await rows(db.url, "SELECT current_user AS who, COUNT(*) AS n FROM alerts");
          assert.deepEqual(who, { who: db.role, n: 0n });
        }
      }, { initialize: false });
    }, { initialize: false });
  },
});

testWith(HAVE, NEED_POSTGRES, {
  name: "PostgreSQL query refuses a read-only role that was given more than reading",
  async fn() {
    await withQueryDatabase(async ({ url, role, admin }) => {
      await admin.unsafe(`GRANT pg_signal_backend TO "${role}"`);
      await assertRefused(url, "SELECT 1", /may do more than read the project's tables/);
      await admin.unsafe(`REVOKE pg_signal_backend FROM "${role}"`);
      await admin.unsafe(`ALTER ROLE "${role}" LOGIN`);
      await assertRefused(url, "SELECT 1", /may do more than read the project's tables/);
    });
  },
});

testWith(HAVE, NEED_POSTGRES, {
  name: "PostgreSQL query through the CLI prints exact ids and exits 1 on a refused statement",
  async fn() {
    await withQueryDatabase(async ({ url }) => {
      const ok = await cli([
        "query",
        "SELECT MAX(dia_source_id) AS top FROM alerts",
        "--db",
        url,
        "--json",
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, new RegExp(`"top":${BIG + 2n}\\b`));
      const program = `/tmp/lsst-query-test-${crypto.randomUUID()}`;
      const refused = await cli([
        "query",
        `SELECT 1; COPY (SELECT 1) TO PROGRAM 'touch ${program}'`,
        "--db",
        url,
      ]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /Query refused: the text holds several statements/);
      assert.equal(await exists(program), false);
    });
  },
});
