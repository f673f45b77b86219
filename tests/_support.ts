// deno-lint-ignore-file no-console
/**
 * Test support: where the shared fixtures are, which real external tools are here, a
 * `Deno.test` wrapper that skips with a printed reason outside CI but fails inside CI, temp
 * dirs and read-only SQLite queries.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";

/** True when running under `.ci/run`, where every prerequisite must be present. */
export const IN_CI: boolean = Deno.env.get("LSST_CI") === "1";

/**
 * Full sizes: `deno task test:full` and `.ci/run` set `LSST_TEST_FULL=1`. Without it the long
 * cases (crash runs, fuzz rounds, scale-out streams) run smaller, so `deno task test` stays quick
 * enough to run after every change; every case still runs, on real parts.
 */
export const FULL_SIZE: boolean = Deno.env.get("LSST_TEST_FULL") === "1";

/**
 * A test's size: `quick` by default, `full` under `LSST_TEST_FULL=1`.
 *
 * @param quick The everyday size.
 * @param full The size CI runs.
 * @returns The size for this run.
 */
export function sized(quick: number, full: number): number {
  return FULL_SIZE ? full : quick;
}

/** The repository root. */
export const REPO_ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/**
 * The shared fixtures folder: `$LSST_FIXTURES`, else `../shared/fixtures` beside the repo.
 *
 * @returns Its path, or `null` when absent.
 */
export function fixturesDir(): string | null {
  const candidates = [Deno.env.get("LSST_FIXTURES"), join(REPO_ROOT, "..", "shared", "fixtures")];
  for (const candidate of candidates) {
    if (candidate && existsSync(join(candidate, "README.md"))) return candidate;
  }
  return null;
}

/** The Debian `fitsverify` binary, when installed. */
export const FITSVERIFY: string | null = existsSync("/usr/bin/fitsverify")
  ? "/usr/bin/fitsverify"
  : null;

/**
 * A Python interpreter that can import the given modules (Debian's `/usr/bin/python3` first,
 * since `python3-astropy` and `python3-avro` install there).
 *
 * @param modules Modules that must import.
 * @returns The interpreter path, or `null`.
 */
export function pythonWith(...modules: string[]): string | null {
  for (const python of ["/usr/bin/python3", "python3"]) {
    try {
      const { success } = new Deno.Command(python, {
        args: ["-c", modules.map((m) => `import ${m}`).join("; ")],
        stdout: "null",
        stderr: "null",
      }).outputSync();
      if (success) return python;
    } catch {
      // Not installed under this name: try the next.
    }
  }
  return null;
}

const reported = new Set<string>();

/**
 * Register a test that needs something this machine may lack. Outside CI a missing
 * prerequisite skips the test with a printed reason; inside CI it fails the test, because CI
 * installs everything.
 *
 * @param available Whether the prerequisite is here.
 * @param reason What is missing, for the message.
 * @param definition The test.
 */
export function testWith(
  available: boolean,
  reason: string,
  definition: Deno.TestDefinition,
): void {
  if (available) {
    Deno.test(definition);
  } else if (IN_CI) {
    Deno.test({
      ...definition,
      fn() {
        throw new Error(`CI must provide this: ${reason}`);
      },
    });
  } else {
    if (!reported.has(reason)) {
      reported.add(reason);
      console.log(`skipping tests that need ${reason}`);
    }
    Deno.test({ ...definition, ignore: true });
  }
}

/**
 * Run a command and return its exit code and output.
 *
 * @param command The program.
 * @param args Its arguments.
 * @returns Exit code, stdout and stderr as text.
 */
export async function run(
  command: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/**
 * Run `work` in a fresh temp dir, removed afterwards whether it succeeds or throws.
 *
 * @param prefix The dir name's prefix, such as `"lsst-cli-"`.
 * @param work What to do there.
 * @returns What `work` returns.
 */
export async function withTempDir<T>(
  prefix: string,
  work: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await work(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Every row of a query on a SQLite file, opened read-only: integers as `bigint` (ids above
 * 2^53 stay exact), rows as plain objects (so `assert.deepEqual` compares them by value).
 *
 * @param path The database file.
 * @param sql The query.
 * @returns The rows.
 */
export function queryDatabase(path: string, sql: string): Array<Record<string, unknown>> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const statement = db.prepare(sql);
    statement.setReadBigInts(true);
    return statement.all().map((row) => ({ ...row }));
  } finally {
    db.close();
  }
}
