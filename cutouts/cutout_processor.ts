/**
 * Saves the FITS cutouts an alert carries as files, one folder per alert and night.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { dirname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { AlertRecord } from "../model/alert_record.ts";
import {
  type FolderJob,
  handleWriterRequest,
  type WriterReply,
  type WriterRequest,
  WriterState,
} from "./_cutout_files.ts";
import type { WriterSetup } from "./_cutout_writer.ts";

/** Which of an alert's three cutouts. */
export type CutoutKind = "science" | "template" | "difference";

/** Options of {@linkcode CutoutProcessor}. */
export interface CutoutProcessorOptions {
  /** Folder the cutouts go in; created when missing. */
  outputDir: string;
  /**
   * How many cutout files are written at once, across all `process` calls. Each file's flush
   * waits on the disk, which completes flushes in flight together: 64 wrote more files per
   * second than 16 in most interleaved runs on this project's machine. Default 64.
   */
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
// Prefix of an abandoned temporary folder a cleaner has taken, while it is being removed.
const TRASH = "trash-";
// Alerts per request to the writer: it starts on a batch's first alerts while the next are
// packed, and a request's copy of the bytes (~80 KB per Rubin alert) stays a few MB.
const JOB_ALERTS = 64;
// Requests the writer thread holds at once: the next is already there when one ends, and the
// copies of the bytes in flight stay a few tens of MB.
const REQUESTS_IN_FLIGHT = 8;
const READY_TIMEOUT_MS = 30_000;
const IDLE_MS = 1_000;

/** One alert of a request: where its result goes and which kinds it carries. */
interface _Placed {
  result: CutoutResult;
  alert: AlertRecord;
  paths: Record<CutoutKind, string>;
  kinds: CutoutKind[];
}

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
 * The checks and the file calls run in a writer thread, beside the caller's, which keeps the
 * process alive only while it has work; {@linkcode close} stops it and releases the temporary
 * folder.
 *
 * @example
 * ```ts
 * import { CutoutProcessor } from "./cutout_processor.ts";
 * declare const alerts: import("../model/alert_record.ts").AlertRecord[];
 * using cutouts = new CutoutProcessor({ outputDir: "data/cutouts" });
 * await cutouts.cleanStaleTempFiles();
 * const results = await cutouts.processAll(alerts);
 * await cutouts.sync();
 * ```
 */
export class CutoutProcessor {
  #root: string;
  #tempDir: string;
  #maxFitsBytes: number;
  #concurrency: number;
  // One writer thread, started on first use: its calls that wait on the file system run in the
  // thread pool, `concurrency` files at once, so a second thread would only add a heap.
  #writer: Promise<_Writer> | null = null;
  #started: _Writer | null = null;
  #requests = 0;
  // Buffers the writer handed back, packed again for the next requests.
  #spare: ArrayBuffer[] = [];
  #waiting: (() => void)[] = [];
  #peak = 0;
  #closed = false;
  #ownDir: string | null = null;
  #lock: Deno.FsFile | null = null;
  #creating: Promise<string> | null = null;
  // Folders whose entries changed (a rename into them, a folder created in them) since the last
  // sync(): a file's own fdatasync does not make its name durable.
  #unsynced = new Set<string>();

  /**
   * Create a processor. Nothing is written, and no thread started, until the first cutout is
   * saved.
   *
   * @param options Output folder and limits.
   * @throws {RangeError} When `concurrency` or `maxFitsBytes` is not a positive integer.
   */
  constructor(options: CutoutProcessorOptions) {
    const concurrency = options.concurrency ?? 64;
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
    this.#concurrency = concurrency;
  }

  /**
   * The most files that were being written at once so far; never more than `concurrency`.
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
    return this.#peak;
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
   * using cutouts = new CutoutProcessor({ outputDir: "data/cutouts" });
   * const result = await cutouts.process(alert);
   * result.problems.length; // 0 when every cutout the alert carries is valid FITS
   * ```
   */
  async process(alert: AlertRecord): Promise<CutoutResult> {
    const [result] = await this.processAll([alert]);
    return result!;
  }

  /**
   * Save the cutouts of many alerts (a batch): the same as {@linkcode process} for each, sent
   * to the writer thread a few dozen at a time.
   *
   * @param alerts The alerts.
   * @returns One result per alert, in the same order.
   * @throws {Deno.errors.PermissionDenied} Or any other file-system error, once every writer
   * has finished with this call's alerts.
   * @example
   * ```ts
   * import { CutoutProcessor } from "./cutout_processor.ts";
   * declare const alerts: import("../model/alert_record.ts").AlertRecord[];
   * using cutouts = new CutoutProcessor({ outputDir: "data/cutouts" });
   * const results = await cutouts.processAll(alerts);
   * results.length === alerts.length; // true
   * ```
   */
  async processAll(alerts: readonly AlertRecord[]): Promise<CutoutResult[]> {
    const results: CutoutResult[] = [];
    const placed: _Placed[] = [];
    for (const alert of alerts) {
      const result: CutoutResult = {
        science: null,
        template: null,
        difference: null,
        problems: [],
      };
      results.push(result);
      const kinds = KINDS.filter((kind) => alert[FIELDS[kind]] !== null);
      if (kinds.length === 0) continue;
      try {
        placed.push({ result, alert, paths: this.cutoutPaths(alert), kinds });
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        // A bad id or time is the alert's fault, not the disk's: its cutouts are quarantined
        // and the run goes on.
        for (const kind of kinds) {
          result.problems.push({ kind, error: error.message, bytes: alert[FIELDS[kind]]! });
        }
      }
    }
    if (placed.length === 0) return results;
    const tempDir = await this.#temporaryFolder();
    const jobs: Promise<void>[] = [];
    for (let at = 0; at < placed.length; at += JOB_ALERTS) {
      const chunk = placed.slice(at, at + JOB_ALERTS);
      jobs.push(this.#write(tempDir, chunk));
    }
    // Settle every request before reporting a failure: no writer is still at this call's
    // alerts (and holding a temporary file) once processAll() has thrown.
    for (const outcome of await Promise.allSettled(jobs)) {
      if (outcome.status === "rejected") throw outcome.reason;
    }
    return results;
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
   * using cutouts = new CutoutProcessor({ outputDir: "data/cutouts" });
   * await cutouts.process(alert);
   * await cutouts.sync();
   * ```
   */
  async sync(): Promise<void> {
    const folders = [...this.#unsynced];
    this.#unsynced.clear();
    if (folders.length === 0) return;
    try {
      _check(await this.#send(() => [{ type: "sync", id: 0, folders }, []]));
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
      if (entry.name.startsWith(TRASH)) {
        // Moved aside by a cleaner that did not finish: no writer can be in it.
        removed += await _removedTree(path);
        continue;
      }
      let lock: Deno.FsFile;
      try {
        lock = await Deno.open(resolve(path, LOCK), { read: true, write: true, create: true });
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue;
        throw error;
      }
      try {
        if (!(await lock.tryLock(true))) continue;
        // Moved aside before it is emptied: a writer setting up this folder (its lock file
        // made, not yet locked) then finds its path gone and takes another, where removing it
        // in place could race with the writer making its lock file again and adopting it.
        const trash = resolve(this.#tempDir, `${TRASH}${crypto.randomUUID()}`);
        await Deno.rename(path, trash);
        removed += await _removedTree(trash);
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

  /** Stop the writer thread and release this processor's temporary folder. Safe to call twice. */
  close(): void {
    this.#closed = true;
    this.#started?.close();
    this.#started = null;
    for (const wake of this.#waiting.splice(0)) wake();
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

  // One request: the chunk's bytes are packed into one buffer only once a writer is free, so
  // a batch waiting for the writer holds no second copy.
  async #write(tempDir: string, chunk: _Placed[]): Promise<void> {
    const reply = await this.#send(() => {
      let size = 0;
      for (const { alert, kinds } of chunk) {
        for (const kind of kinds) size += alert[FIELDS[kind]]!.length;
      }
      const spare = this.#spare.pop();
      const data = spare !== undefined && spare.byteLength >= size
        ? new Uint8Array(spare, 0, size)
        : new Uint8Array(size);
      let at = 0;
      const folders: FolderJob[] = chunk.map(({ alert, paths, kinds }) => ({
        folder: dirname(paths.science),
        files: kinds.map((kind) => {
          const bytes = alert[FIELDS[kind]]!;
          data.set(bytes, at);
          at += bytes.length;
          return { name: `${kind}.fits`, start: at - bytes.length, end: at };
        }),
      }));
      const request: WriterRequest = {
        type: "write",
        id: 0,
        tempDir,
        maxFitsBytes: this.#maxFitsBytes,
        data,
        folders,
      };
      return [request, [data.buffer]];
    });
    _check(reply);
    if (reply.type !== "written") throw new Error(`Unexpected cutout writer reply "${reply.type}"`);
    this.#peak = Math.max(this.#peak, reply.peak);
    if (this.#spare.length < REQUESTS_IN_FLIGHT) this.#spare.push(reply.data.buffer as ArrayBuffer);
    for (const folder of reply.touched) this.#unsynced.add(folder);
    for (const [i, { result, alert, paths, kinds }] of chunk.entries()) {
      for (const [j, kind] of kinds.entries()) {
        const error = reply.problems[i]?.[j] ?? null;
        if (error === null) result[kind] = paths[kind];
        else result.problems.push({ kind, error, bytes: alert[FIELDS[kind]]! });
      }
    }
  }

  // Runs a request once the writer holds fewer than REQUESTS_IN_FLIGHT, in the order asked.
  async #send(build: () => [WriterRequest, ArrayBuffer[]]): Promise<WriterReply> {
    const writer = await (this.#writer ??= this.#startWriter());
    if (this.#requests < REQUESTS_IN_FLIGHT) this.#requests++;
    else await new Promise<void>((wake) => this.#waiting.push(wake));
    try {
      if (this.#closed) throw new Error("The cutout processor is closed");
      const [request, transfer] = build();
      return await writer.send(request, transfer);
    } finally {
      // Hand the place straight to the next waiter so a newcomer cannot jump the queue.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#requests--;
    }
  }

  async #startWriter(): Promise<_Writer> {
    // Where no thread can start, this thread writes.
    const writer = await _ThreadWriter.start(this.#concurrency) ??
      new _InlineWriter(this.#concurrency);
    if (this.#closed) writer.close();
    else this.#started = writer;
    return writer;
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
}

/** Something that carries out writer requests, several at once. */
interface _Writer {
  send(request: WriterRequest, transfer: ArrayBuffer[]): Promise<WriterReply>;
  close(): void;
}

// A writer thread. A live worker keeps the process running, and a processor its user never
// closes must not hold a finished program open: the thread ends once idle for IDLE_MS (an
// unref'ed timer) and starts again with the next request.
class _ThreadWriter implements _Writer {
  #url: string;
  #setup: WriterSetup;
  #worker: Worker | null = null;
  #pending = new Map<
    number,
    { resolve: (reply: WriterReply) => void; reject: (e: Error) => void }
  >();
  #ids = 0;
  #idle: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  private constructor(url: string, setup: WriterSetup, worker: Worker) {
    this.#url = url;
    this.#setup = setup;
    this.#adopt(worker);
  }

  // Null where threads cannot start: a bundle has no writer module beside it, a program may not
  // be allowed to read its own folder.
  static async start(limit: number): Promise<_ThreadWriter | null> {
    let worker: Worker | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const url = new URL("./_cutout_writer.ts", import.meta.url);
      if (url.protocol === "file:" && !existsSync(fileURLToPath(url))) return null;
      const setup: WriterSetup = { prefix: "1", limit };
      const started = new Worker(url.href, { type: "module" });
      worker = started;
      await new Promise<void>((ready, fail) => {
        timer = setTimeout(() => fail(new Error("timeout")), READY_TIMEOUT_MS);
        started.onmessage = () => ready();
        started.onerror = (event) => {
          event.preventDefault();
          fail(new Error(event.message));
        };
        started.postMessage(setup);
      });
      return new _ThreadWriter(url.href, setup, started);
    } catch {
      worker?.terminate();
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  send(request: WriterRequest, transfer: ArrayBuffer[]): Promise<WriterReply> {
    if (this.#closed) return Promise.reject(new Error("The cutout processor is closed"));
    clearTimeout(this.#idle);
    if (this.#worker === null) {
      const worker = new Worker(this.#url, { type: "module" });
      worker.postMessage(this.#setup);
      this.#adopt(worker);
    }
    request.id = ++this.#ids;
    return new Promise((resolve, reject) => {
      this.#pending.set(request.id, { resolve, reject });
      this.#worker!.postMessage(request, transfer);
    });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#idle);
    this.#worker?.terminate();
    this.#worker = null;
    this.#fail(new Error("The cutout processor is closed"));
  }

  #adopt(worker: Worker): void {
    this.#worker = worker;
    worker.onmessage = (event: MessageEvent<WriterReply | { type: "ready" }>) => {
      const reply = event.data;
      if (reply.type === "ready") return;
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      pending?.resolve(reply);
      if (this.#pending.size === 0) {
        const idle = setTimeout(() => this.#stop(), IDLE_MS);
        Deno.unrefTimer(idle);
        this.#idle = idle;
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#stop();
      this.#fail(new Error(`The cutout writer failed: ${event.message}`));
    };
  }

  #stop(): void {
    this.#worker?.terminate();
    this.#worker = null;
  }

  #fail(error: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const { reject } of pending) reject(error);
  }
}

// The calling thread as the writer, where no thread can start.
class _InlineWriter implements _Writer {
  #state: WriterState;

  constructor(limit: number) {
    this.#state = new WriterState("0", limit);
  }

  send(request: WriterRequest): Promise<WriterReply> {
    return handleWriterRequest(request, this.#state);
  }

  close(): void {}
}

// A writer's file-system failure, thrown again here as the error it was (NotFound, …).
function _check(reply: WriterReply): void {
  if (reply.type !== "failed") return;
  const errors = Deno.errors as unknown as Record<
    string,
    (new (message: string) => Error) | undefined
  >;
  const Type = errors[reply.name] ?? Error;
  throw new Type(reply.message);
}

// A folder no writer uses any more: the files it held (the lock aside), once removed.
async function _removedTree(path: string): Promise<number> {
  let files = 0;
  try {
    for await (const file of Deno.readDir(path)) if (file.name !== LOCK) files++;
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    // Another cleaner removed it first.
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    return 0;
  }
  return files;
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
