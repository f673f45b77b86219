/**
 * Test support for the PostgreSQL server that `scripts/postgres.sh start` runs: a fresh
 * database per test, dropped afterwards.
 *
 * @module
 */

import postgres from "postgres";

/** `$LSST_TEST_POSTGRES_URL`, printed by `scripts/postgres.sh start`. */
export const POSTGRES_URL: string = Deno.env.get("LSST_TEST_POSTGRES_URL") ?? "";

/** Why PostgreSQL tests may be skipped. */
export const NEED_POSTGRES =
  "a PostgreSQL server (bash scripts/postgres.sh start, then export LSST_TEST_POSTGRES_URL)";

/**
 * Run `work` with the URL of a new, empty database on the test server, then drop it.
 *
 * @param work The test body.
 * @returns What `work` returns.
 */
export async function withPostgresDatabase<T>(work: (url: string) => Promise<T>): Promise<T> {
  const name = `lsst_t_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const server = new URL(POSTGRES_URL);
  server.pathname = "/postgres";
  const admin = postgres(server.toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${name}`;
    try {
      return await work(url.toString());
    } finally {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      // initialize() creates the database's reader role for `query`; roles are cluster-wide.
      await admin.unsafe(`DROP ROLE IF EXISTS lsst_reader_${name}`);
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
}
