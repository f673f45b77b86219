/**
 * Saves the FITS cutouts an alert carries as files, one folder per alert and night.
 *
 * @module
 */

import { dirname, resolve, sep } from "node:path";
import { gunzip } from "node:zlib";
import type { AlertRecord } from "../model/alert_record.ts";
import { normalizeFits } from "./fits_normalizer.ts";

/** Which of an alert's three cutouts. */
export type CutoutKind = "science" | "template" | "difference";

/** Options of {@linkcode CutoutProcessor}. */
export interface CutoutProcessorOptions {
  /** Folder the cutouts go in; created when missing. */
  outputDir: string;
  /** How many cutouts are decoded and written at once, across all `process` calls. Default 16. */
  concurrency?: number;
  /** Largest FITS file accepted once a gzipped cutout is decompressed, in bytes. Default 64 MiB. */
  maxFitsBytes?: number;
}

/** A cutout that was not saved, for the quarantine. */
export interface CutoutProblem {
  /** Which cutout. */
  kind: CutoutKind;
  /** Why it was not saved. */
  error: string;
  /** The bytes as the alert carried them (still gzipped if they were). */
  bytes: Uint8Array;
}

/** What {@linkcode CutoutProcessor.process} did with one alert's cutouts. */
export interface CutoutResult {
  /** Absolute path of the saved science cutout, or `null` when absent or not saved. */
  science: string | null;
  /** Absolute path of the saved template cutout, or `null` when absent or not saved. */
  template: string | null;
  /** Absolute path of the saved difference cutout, or `null` when absent or not saved. */
  difference: string | null;
  /** Cutouts that were present but invalid, and so not saved. */
  problems: CutoutProblem[];
}

const KINDS: readonly CutoutKind[] = ["science", "template", "difference"];
const FIELDS = {
  science: "cutoutScience",
  template: "cutoutTemplate",
  difference: "cutoutDifference",
} as const satisfies Record<CutoutKind, keyof AlertRecord>;
const MJD_UNIX_EPOCH = 40587;
const DAY_MS = 86_400_000;
// TAI - UTC since 2017-01-01; no leap second has been announced since.
const TAI_MINUS_UTC_MS = 37_000;
// Each processor writes its temporary files in a folder of its own under `.tmp/`, holding an
// exclusive advisory lock on the folder's `lock` file. The operating system drops the lock when
// the process dies, however it dies, so a later run knows the folder is abandoned without
// asking about processes (Deno allows neither /proc nor signals without extra permissions).
const LOCK = "lock";

/**
 * Saves alert cutouts as `<outputDir>/<YYYY-MM-DD>/<diaSourceId>/<kind>.fits`, where the date is
 * the UTC date of the alert's `midpointMjdTai`. Gzipped cutouts (ZTF) are decompressed first
 * and free-format mandatory keywords rewritten in fixed format (see `normalizeFits`); cutouts
 * that are not valid FITS are returned as problems and not written. Each file is written
 * under `<outputDir>/.tmp/`, flushed to disk and renamed into place, so a crash never leaves a
 * partial `.fits` and a replay overwrites the same file with the same bytes; {@linkcode sync}
 * then makes the renames themselves durable, before the rows that point at the files are
 * committed.
 *
 * @example
 * ```ts
 * import { CutoutProcessor } from "./cutout_processor.ts";
 * declare const alert: import("../model/alert_record.ts").AlertRecord;
 * const cutouts = new CutoutProcessor({ outputDir: "data/cutouts" });
 * await cutouts.cleanStaleTempFiles();
 * const { science, problems } = await cutouts.process(alert);
 * await cutouts.sync();
 * ```
 */
export class CutoutProcessor {
  #root: string;
  #tempDir: string;
  #maxFitsBytes: number;
  #slots: _Semaphore;
  #writing = 0;
  #peakWriting = 0;
  #written = 0;
  #ownDir: string | null = null;
  #lock: Deno.FsFile | null = null;
  #creating: Promise<string> | null = null;
  // Folders whose entries changed (a rename into them, a folder created in them) since the last
  // sync(): a file's own fdatasync does not make its name durable.
  #unsynced = new Set<string>();

  /**
   * Create a processor. Nothing is written until the first cutout is saved.
   *
   * @param options Output folder and limits.
   * @throws {RangeError} When `concurrency` or `maxFitsBytes` is not a positive integer.
   */
  constructor(options: CutoutProcessorOptions) {
    const concurrency = options.concurrency ?? 16;
    const maxFitsBytes = options.maxFitsBytes ?? 64 * 1024 * 1024;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`Invalid cutout concurrency ${concurrency}: expected an integer >= 1`);
    }
    if (!Number.isSafeInteger(maxFitsBytes) || maxFitsBytes < 1) {
      throw new RangeError(`Invalid maxFitsBytes ${maxFitsBytes}: expected an integer >= 1`);
    }
    this.#root = resolve(options.outputDir);
    this.#tempDir = resolve(this.#root, ".tmp");
    this.#maxFitsBytes = maxFitsBytes;
    this.#slots = new _Semaphore(concurrency);
  }

  /**
   * The most file writes that were in flight at once so far; never more than `concurrency`.
   * Exposed for tests and run statistics.
   *
   * @returns The peak count.
   * @example
   * ```ts
   * import { CutoutProcessor } from "./cutout_processor.ts";
   * new CutoutProcessor({ outputDir: "data/cutouts" }).peakConcurrentWrites; // 0
   * ```
   */
  get peakConcurrentWrites(): number {
    return this.#peakWriting;
  }

  /**
   * Where an alert's cutouts go, without writing anything.
   *
   * @param alert The alert; only `diaSourceId` and `midpointMjdTai` are used.
   * @returns An absolute path per kind.
   * @throws {RangeError} When the id is not a non-negative integer or the time is not a usable
   * MJD.
   * @example
   * ```ts
   * import { CutoutProcessor } from "./cutout_processor.ts";
   * const cutouts = new CutoutProcessor({ outputDir: "/data/cutouts" });
   * cutouts.cutoutPaths({ diaSourceId: 42n, midpointMjdTai: 60961.5 }).science;
   * // "/data/cutouts/2025-10-13/42/science.fits"
   * ```
   */
  cutoutPaths(
    alert: Pick<AlertRecord, "diaSourceId" | "midpointMjdTai">,
  ): Record<CutoutKind, string> {
    const { diaSourceId, midpointMjdTai } = alert;
    if (typeof diaSourceId !== "bigint" || diaSourceId < 0n) {
      throw new RangeError(
        `Cannot place cutouts: diaSourceId "${diaSourceId}" is not a non-negative integer`,
      );
    }
    const ms = (midpointMjdTai - MJD_UNIX_EPOCH) * DAY_MS - TAI_MINUS_UTC_MS;
    const date = new Date(Number.isFinite(ms) ? ms : NaN);
    const year = date.getUTCFullYear();
    if (!(year >= 1 && year <= 9999)) {
      throw new RangeError(
        `Cannot place cutouts of DIASource ${diaSourceId}: midpointMjdTai "${midpointMjdTai}" is not a usable MJD`,
      );
    }
    const folder = resolve(this.#root, date.toISOString().slice(0, 10), diaSourceId.toString());
    if (!folder.startsWith(this.#root + sep)) {
      throw new RangeError(`Cutout folder "${folder}" is outside "${this.#root}"`);
    }
    return {
      science: resolve(folder, "science.fits"),
      template: resolve(folder, "template.fits"),
      difference: resolve(folder, "difference.fits"),
    };
  }

  /**
   * Save an alert's cutouts. Invalid ones are returned as problems; the others are still saved.
   *
   * @param alert The alert.
   * @returns The saved paths and the problems. An alert that cannot be placed (see
   * {@linkcode cutoutPaths}) has every cutout it carries returned as a problem.
   * @throws {Deno.errors.PermissionDenied} Or any other file-system error: the disk, not the
   * alert, is at fault, so the run should stop.
   * @example
   * ```ts
   * import { CutoutProcessor } from "./cutout_processor.ts";
   * declare const alert: import("../model/alert_record.ts").AlertRecord;
   * const result = await new CutoutProcessor({ outputDir: "data/cutouts" }).process(alert);
   * result.problems.length; // 0 when every cutout the alert carries is valid FITS
   * ```
   */
  async process(alert: AlertRecord): Promise<CutoutResult> {
    const result: CutoutResult = { science: null, template: null, difference: null, problems: [] };
    let paths: Record<CutoutKind, string>;
    try {
      paths = this.cutoutPaths(alert);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      // A bad id or time is the alert's fault, not the disk's: its cutouts are quarantined and
      // the run goes on (an alert without cutouts needs no place at all).
      for (const kind of KINDS) {
        const bytes = alert[FIELDS[kind]];
        if (bytes !== null) result.problems.push({ kind, error: error.message, bytes });
      }
      return result;
    }
    // Settle every kind before reporting a failure: no write of this alert is still running
    // (and holding a temporary file) once process() has thrown.
    const saved = await Promise.allSettled(KINDS.map(async (kind) => {
      const bytes = alert[FIELDS[kind]];
      if (bytes === null) return;
      const error = await this.#slots.use(() => this.#save(bytes, paths[kind]));
      if (error === null) result[kind] = paths[kind];
      else result.problems.push({ kind, error, bytes });
    }));
    for (const outcome of saved) if (outcome.status === "rejected") throw outcome.reason;
    // Problems were pushed in completion order; keep them in a stable order.
    result.problems.sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind));
    return result;
  }

  /**
   * Make the cutouts saved so far survive a power loss: fsync every folder a rename or a new
   * folder changed since the last call (each file's bytes were flushed before its rename).
   * Call it after a batch's `process` calls and before committing the rows that point at the
   * files, so a committed row never names a file the disk has not kept.
   *
   * @throws {Deno.errors.PermissionDenied} Or any other file-system error: the files may not
   * be durable, so the batch must not be committed.
   * @example
   * ```ts
   * import { CutoutProcessor } from "./cutout_processor.ts";
   * declare const alert: import("../model/alert_record.ts").AlertRecord;
   * const cutouts = new CutoutProcessor({ outputDir: "data/cutouts" });
   * await cutouts.process(alert);
   * await cutouts.sync();
   * ```
   */
  async sync(): Promise<void> {
    const folders = [...this.#unsynced];
    this.#unsynced.clear();
    try {
      // A few hundred folders a batch: in parallel the file system commits them together.
      await Promise.all(folders.map((folder) => this.#slots.use(() => _syncFolder(folder))));
    } catch (error) {
      // Whatever was not synced must be tried again by the next call.
      for (const folder of folders) this.#unsynced.add(folder);
      throw error;
    }
  }

  /**
   * Remove the temporary files of writers that died: every folder under `.tmp/` whose lock no
   * live processor holds (a killed process's lock is released by the operating system).
   *
   * @returns How many files were removed.
   * @example
   * ```ts
   * import { CutoutProcessor } from "./cutout_processor.ts";
   * await new CutoutProcessor({ outputDir: "data/cutouts" }).cleanStaleTempFiles(); // 0
   * ```
   */
  async cleanStaleTempFiles(): Promise<number> {
    if (!(await _exists(this.#tempDir))) return 0;
    let removed = 0;
    for await (const entry of Deno.readDir(this.#tempDir)) {
      const path = resolve(this.#tempDir, entry.name);
      if (!entry.isDirectory) {
        // Nothing but folders belongs here; a stray file is a leftover too.
        if (await _removed(path)) removed++;
        continue;
      }
      if (path === this.#ownDir) continue;
      let lock: Deno.FsFile;
      try {
        lock = await Deno.open(resolve(path, LOCK), { read: true, write: true, create: true });
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue;
        throw error;
      }
      try {
        if (!(await lock.tryLock(true))) continue;
        for await (const file of Deno.readDir(path)) if (file.name !== LOCK) removed++;
        await Deno.remove(path, { recursive: true });
      } catch (error) {
        // Another cleaner removed it first, or is removing it: having listed the folder before
        // this removal began, it made a lock file in it again (which leaves the folder not
        // empty here), and removes the folder itself once it holds that lock.
        const code = (error as { code?: string }).code;
        if (!(error instanceof Deno.errors.NotFound) && code !== "ENOTEMPTY") throw error;
      } finally {
        lock.close();
      }
    }
    return removed;
  }

  /** Release this processor's temporary folder. Safe to call twice. */
  close(): void {
    const lock = this.#lock;
    const dir = this.#ownDir;
    this.#lock = null;
    this.#ownDir = null;
    if (lock === null || dir === null) return;
    lock.close();
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone, or another cleaner took it once the lock was released.
    }
  }

  /** Same as {@linkcode CutoutProcessor.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  // Returns the reason the bytes were not saved, or null once they are.
  async #save(bytes: Uint8Array, path: string): Promise<string | null> {
    let fits = bytes;
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        fits = await _gunzip(bytes, this.#maxFitsBytes);
      } catch (error) {
        return (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE"
          ? `Cannot decompress cutout: it is larger than ${this.#maxFitsBytes} bytes once decompressed`
          : `Cannot decompress cutout: ${(error as Error).message}`;
      }
    }
    try {
      // Validates like readFits() and rewrites free-format mandatory cards (ZTF's SIMPLE) so
      // every saved file passes fitsverify; conforming files come back as the same bytes.
      fits = normalizeFits(fits);
    } catch (error) {
      if (error instanceof RangeError) return error.message;
      throw error;
    }
    this.#writing++;
    this.#peakWriting = Math.max(this.#peakWriting, this.#writing);
    try {
      await this.#writeAtomically(path, fits);
    } finally {
      this.#writing--;
    }
    return null;
  }

  // Created on first use: a processor that never writes leaves nothing behind.
  #temporaryFolder(): Promise<string> {
    if (this.#ownDir !== null) return Promise.resolve(this.#ownDir);
    this.#creating ??= (async () => {
      // The output folder may be new too (and the folders above it): their names must last.
      for (let dir = this.#root; !(await _exists(dir)); dir = dirname(dir)) {
        this.#unsynced.add(dirname(dir));
      }
      for (;;) {
        const dir = resolve(this.#tempDir, `${Deno.pid}-${crypto.randomUUID().slice(0, 12)}`);
        await Deno.mkdir(dir, { recursive: true });
        const path = resolve(dir, LOCK);
        let lock: Deno.FsFile;
        try {
          lock = await Deno.open(path, { read: true, write: true, create: true });
        } catch (error) {
          // A cleanup removed the new folder before its lock file existed: take another.
          if (error instanceof Deno.errors.NotFound) continue;
          throw error;
        }
        await lock.lock(true);
        // Another process's cleanup may have taken the new, still unlocked folder for an
        // abandoned one and removed it: only a lock file still in place is ours.
        const [held, current] = await Promise.all([lock.stat(), Deno.stat(path).catch(() => null)]);
        if (current !== null && current.ino === held.ino) {
          this.#lock = lock;
          this.#ownDir = dir;
          return dir;
        }
        lock.close();
      }
    })();
    return this.#creating;
  }

  async #writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
    const temp = resolve(await this.#temporaryFolder(), `${++this.#written}.part`);
    const folder = dirname(path);
    try {
      await _writeDurably(temp, bytes);
      if (await _retryInFolder(folder, () => Deno.rename(temp, path))) {
        // mkdir created the alert's folder and maybe its date folder: a new folder's name
        // lives in its parent.
        this.#unsynced.add(dirname(folder));
        this.#unsynced.add(dirname(dirname(folder)));
      }
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
    this.#unsynced.add(folder);
  }
}

// A counting semaphore: callers beyond the limit wait in FIFO order.
class _Semaphore {
  #free: number;
  #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  async use<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((wake) => this.#waiting.push(wake));
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter so a newcomer cannot jump the queue.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

function _gunzip(bytes: Uint8Array, maxOutputLength: number): Promise<Uint8Array> {
  return new Promise((done, fail) =>
    gunzip(bytes, { maxOutputLength }, (error, out) => error ? fail(error) : done(out))
  );
}

// True when the folder had to be created first.
async function _retryInFolder(folder: string, write: () => Promise<void>): Promise<boolean> {
  try {
    await write();
    return false;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    await Deno.mkdir(folder, { recursive: true });
    await write();
    return true;
  }
}

// The bytes reach the disk before the file gets its final name: after a power loss, a renamed
// file is never empty or short. fdatasync is enough, the timestamps do not matter.
async function _writeDurably(path: string, bytes: Uint8Array): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
  await file.syncData();
}

async function _syncFolder(folder: string): Promise<void> {
  // Windows cannot open a folder as a file; NTFS journals names with the file's metadata.
  if (Deno.build.os === "windows") return;
  using dir = await Deno.open(folder, { read: true });
  await dir.sync();
}

// False when another cleaner removed the file first.
async function _removed(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function _exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
