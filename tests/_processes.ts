/**
 * CLI child processes for the crash tests: each one is spawned with a hard deadline (a hang
 * fails the test instead of blocking the suite), can be killed on demand, and is always reaped;
 * plus polling a database that a child is writing, read-only.
 *
 * @module
 */

import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { REPO_ROOT } from "./_support.ts";

const CLI = join(REPO_ROOT, "cli.ts");
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];

/** How a CLI process ended. */
export interface CliExit {
  /** Exit code (137 after SIGKILL). */
  code: number;
  /** The signal that ended it, or `null` when it exited by itself. */
  signal: Deno.Signal | null;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
  /** Wall time from spawn to exit. */
  seconds: number;
}

/** Options of {@linkcode CliProcess}. */
export interface CliProcessOptions {
  /** Killed with SIGKILL after this many ms, and {@linkcode CliProcess.exit} then throws. */
  timeoutMs: number;
  /** Variables to add to the inherited environment. Default: none. */
  env?: Record<string, string>;
}

/**
 * `lsst-extendedness <args>` running in a child process. Dispose it (`await using`) so a failed
 * assertion never leaves it running.
 */
export class CliProcess implements AsyncDisposable {
  /** The arguments after `cli.ts`. */
  readonly args: readonly string[];
  /** The child's process id (the Deno process that runs the CLI). */
  readonly pid: number;
  #child: Deno.ChildProcess;
  #exit: Promise<CliExit>;
  #ended: CliExit | null = null;
  #timer: ReturnType<typeof setTimeout>;
  #timeoutMs: number;
  #timedOut = false;

  /**
   * Spawn the CLI.
   *
   * @param args Its arguments.
   * @param options Deadline and environment.
   */
  constructor(args: readonly string[], options: CliProcessOptions) {
    this.args = args;
    this.#timeoutMs = options.timeoutMs;
    const started = performance.now();
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSIONS, CLI, ...args],
      env: { NO_COLOR: "1", ...options.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.#child.pid;
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.kill("SIGKILL");
    }, options.timeoutMs);
    // Read both pipes from the start, so a chatty child never blocks on a full pipe.
    this.#exit = this.#child.output().then((out) => {
      clearTimeout(this.#timer);
      const text = new TextDecoder();
      this.#ended = {
        code: out.code,
        signal: out.signal,
        stdout: text.decode(out.stdout),
        stderr: text.decode(out.stderr),
        seconds: (performance.now() - started) / 1000,
      };
      return this.#ended;
    });
  }

  /** How it ended, or `null` while it runs. */
  get ended(): CliExit | null {
    return this.#ended;
  }

  /**
   * Send a signal; does nothing once the process has exited.
   *
   * @param signal The signal. Default `SIGKILL`.
   */
  kill(signal: Deno.Signal = "SIGKILL"): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited.
    }
  }

  /**
   * Wait for the process to end.
   *
   * @returns How it ended.
   * @throws {Error} When it ran past its deadline (it has been killed).
   */
  async exit(): Promise<CliExit> {
    const ended = await this.#exit;
    if (this.#timedOut) {
      throw new Error(
        `"cli.ts ${this.args.join(" ")}" did not end within ${
          this.#timeoutMs / 1000
        } s and was killed; stderr: ${ended.stderr.slice(-2000)}`,
      );
    }
    return ended;
  }

  /** Kill the process if it still runs and wait for it. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.kill("SIGKILL");
    await this.#exit.catch(() => {});
    clearTimeout(this.#timer);
  }
}

/**
 * Poll until a condition holds.
 *
 * @param what What is awaited, for the error.
 * @param timeoutMs Give up after this long.
 * @param done The condition.
 * @param options How often to poll (default 20 ms), and a process whose exit before the
 * condition holds is a failure.
 * @throws {Error} On timeout, or when the watched process ended first.
 */
export async function waitFor(
  what: string,
  timeoutMs: number,
  done: () => boolean | Promise<boolean>,
  options: { intervalMs?: number; watch?: CliProcess } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const interval = options.intervalMs ?? 20;
  while (!(await done())) {
    const ended = options.watch?.ended;
    if (ended) {
      throw new Error(
        `Waiting ${what}: the process ended first (code ${ended.code}); stderr: ${
          ended.stderr.slice(-2000)
        }`,
      );
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/**
 * A number read from a database another process is writing, through a read-only connection
 * opened for this read only.
 *
 * @param path The SQLite file.
 * @param sql A query whose first row's first column is the number.
 * @returns The number, or `null` when the file or its tables do not exist yet or it cannot be
 * read at this instant.
 */
export function pollNumber(path: string, sql: string): number | null {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true, timeout: 1000 });
  } catch {
    return null;
  }
  try {
    const row = db.prepare(sql).get() as Record<string, unknown> | undefined;
    return row === undefined ? null : Number(Object.values(row)[0]);
  } catch {
    return null;
  } finally {
    db.close();
  }
}

/**
 * A PRNG (mulberry32): the same seed gives the same sequence, so a failing run's kill points
 * can be replayed.
 *
 * @param seed A 32-bit seed.
 * @returns A function giving numbers in [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` distinct sorted points in `[min, max)`, at least `gap` apart, drawn from a seeded PRNG.
 *
 * @param seed The seed.
 * @param n How many.
 * @param range `[min, max)` and the least spacing.
 * @returns The points, ascending.
 */
export function killPoints(
  seed: number,
  n: number,
  range: { min: number; max: number; gap: number },
): number[] {
  const random = seededRandom(seed);
  for (let attempt = 0; attempt < 1000; attempt++) {
    const points = Array.from(
      { length: n },
      () => range.min + Math.floor(random() * (range.max - range.min)),
    ).sort((a, b) => a - b);
    if (points.every((p, i) => i === 0 || p - (points[i - 1] as number) >= range.gap)) {
      return points;
    }
  }
  throw new RangeError(
    `Cannot place ${n} points ${range.gap} apart in [${range.min}, ${range.max})`,
  );
}
