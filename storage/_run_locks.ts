/**
 * Liveness of ingestion runs across processes on one host.
 *
 * A running run holds an exclusive advisory lock on `<database>-runs/<run_id>.lock`. The
 * operating system drops the lock when the process dies, however it dies (SIGKILL included), so
 * a later run can tell a live run from an abandoned one without reading `/proc` (which Deno only
 * allows with `--allow-all`) or guessing from timestamps.
 *
 * @module
 */

import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";

/** Lock files of the runs of one database. */
export class RunLocks {
  #dir: string | null;
  #held = new Map<number, Deno.FsFile>();

  /**
   * Lock files beside the given database.
   *
   * @param databasePath The SQLite file, or `:memory:` (no locks needed: one process).
   */
  constructor(databasePath: string) {
    this.#dir = databasePath === ":memory:" ? null : `${databasePath}-runs`;
  }

  /**
   * Take the lock of a new run. Call it inside the transaction that inserts the run, so no
   * other process can see the run before its lock exists.
   *
   * @param runId The run.
   */
  acquire(runId: number): void {
    if (this.#dir === null) return;
    mkdirSync(this.#dir, { recursive: true });
    const file = Deno.openSync(this.#path(runId), { create: true, write: true });
    if (!file.tryLockSync(true)) {
      file.close();
      throw new Error(`Run ${runId} is already locked by another process`);
    }
    this.#held.set(runId, file);
  }

  /**
   * Release and remove the lock of a finished run.
   *
   * @param runId The run.
   */
  release(runId: number): void {
    const file = this.#held.get(runId);
    if (file === undefined || this.#dir === null) return;
    this.#held.delete(runId);
    file.close();
    rmSync(this.#path(runId), { force: true });
  }

  /**
   * Whether no live process holds this run's lock.
   *
   * @param runId A run marked `running`.
   * @returns `true` when its process is gone.
   */
  isAbandoned(runId: number): boolean {
    if (this.#held.has(runId)) return false;
    if (this.#dir === null) return false;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(this.#path(runId), { write: true });
    } catch (error) {
      // The lock is created before the run is visible, so a missing one means a dead run.
      if (error instanceof Deno.errors.NotFound) return true;
      throw error;
    }
    try {
      if (!file.tryLockSync(true)) return false;
    } finally {
      file.close();
    }
    rmSync(this.#path(runId), { force: true });
    return true;
  }

  /** Release every lock this process holds (closing the database). */
  releaseAll(): void {
    for (const runId of [...this.#held.keys()]) this.release(runId);
  }

  #path(runId: number): string {
    return join(this.#dir ?? "", `${runId}.lock`);
  }
}
