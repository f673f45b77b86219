/**
 * The file work of a cutout writer: check (and decompress, normalise) each cutout, create its
 * alert's folder once, write it to a temporary name, fdatasync, rename into place; fsync the
 * folders a batch changed. Run by the writer thread (`_cutout_writer.ts`), or on the calling
 * thread where threads cannot start (a bundle).
 *
 * It runs off the storing thread, makes each alert's folder with one call, and makes
 * asynchronous (thread-pool) calls only of those that wait on the file system's journal, many
 * files at once, so that their waits overlap.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { isConformingFits } from "./_fits_check.ts";
import { normalizeFits } from "./fits_normalizer.ts";

/** One cutout of a job: its file name in the alert's folder and its bytes in the job's data. */
export interface CutoutFile {
  /** `science.fits`, `template.fits` or `difference.fits`. */
  name: string;
  /** Where its bytes start in {@linkcode WriteRequest.data}. */
  start: number;
  /** Where its bytes end in {@linkcode WriteRequest.data}. */
  end: number;
}

/** One alert's folder and the cutouts it carries. */
export interface FolderJob {
  /** `<outputDir>/<YYYY-MM-DD>/<diaSourceId>`, absolute. */
  folder: string;
  /** The cutouts to save there. */
  files: CutoutFile[];
}

/** What a writer is asked to do. */
export type WriterRequest =
  | {
    type: "write";
    /** Tells the reply apart from the replies to the writer's other requests. */
    id: number;
    /** The processor's own temporary folder, under `<outputDir>/.tmp/`. */
    tempDir: string;
    /** Largest FITS file accepted once a gzipped cutout is decompressed. */
    maxFitsBytes: number;
    /** Every cutout of the job, one after the other: one buffer crosses to the thread. */
    data: Uint8Array;
    /** The alerts. */
    folders: FolderJob[];
  }
  | { type: "sync"; id: number; folders: string[] };

/** What a writer answers. */
export type WriterReply =
  | {
    type: "written";
    /** The request's. */
    id: number;
    /** The most files in flight at once in the writer so far. */
    peak: number;
    /** Per folder, per file: `null` once written, else why the bytes were not saved. */
    problems: (string | null)[][];
    /** Folders whose entries changed: they must be synced before a commit names the files. */
    touched: string[];
    /** The request's data, handed back for the next request to reuse. */
    data: Uint8Array;
  }
  | { type: "synced"; id: number }
  | { type: "failed"; id: number; name: string; message: string };

/** A writer's own state, shared by the requests it works on at once. */
export class WriterState {
  /** Unique to the writer within its processor: temporary names must not collide. */
  readonly prefix: string;
  /** Files written so far. */
  written = 0;
  /** The most files in flight at once so far. */
  peak = 0;
  #free: number;
  #waiting: (() => void)[] = [];
  #limit: number;

  /**
   * @param prefix Unique to the writer within its processor.
   * @param limit Most files in flight at once, across requests.
   */
  constructor(prefix: string, limit: number) {
    this.prefix = prefix;
    this.#limit = limit;
    this.#free = limit;
  }

  /**
   * Run a file's write once fewer than `limit` are in flight, in the order asked.
   *
   * @param task The write.
   * @returns Its result.
   */
  async slot<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((wake) => this.#waiting.push(wake));
    this.peak = Math.max(this.peak, this.#limit - this.#free);
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

/**
 * Carry out one request. A file-system failure is answered as `failed` (the run must stop);
 * invalid cutouts are answered as problems.
 *
 * @param request The job.
 * @param state The writer's state.
 * @returns The answer.
 */
export async function handleWriterRequest(
  request: WriterRequest,
  state: WriterState,
): Promise<WriterReply> {
  const { id } = request;
  try {
    if (request.type === "sync") {
      // Issued together, the fsyncs are committed together.
      const synced = await Promise.allSettled(
        request.folders.map((folder) => state.slot(() => syncFolder(folder))),
      );
      for (const outcome of synced) if (outcome.status === "rejected") throw outcome.reason;
      return { type: "synced", id };
    }
    return await writeFolders(request, state);
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    return { type: "failed", id, name, message };
  }
}

async function writeFolders(
  request: Extract<WriterRequest, { type: "write" }>,
  state: WriterState,
): Promise<WriterReply> {
  const { tempDir, maxFitsBytes, data } = request;
  const touched = new Set<string>();
  const problems: (string | null)[][] = [];
  const writes: Promise<void>[] = [];
  // Set by a failed write (in a callback, so typed by hand).
  let failure = null as { error: unknown } | null;
  for (const { folder, files } of request.folders) {
    const checked: (Uint8Array | string)[] = [];
    for (const { start, end } of files) {
      checked.push(await prepareFits(data.subarray(start, end), maxFitsBytes));
    }
    problems.push(checked.map((fits) => typeof fits === "string" ? fits : null));
    // Made once, by the first of the alert's files to need it (its rename).
    let made: Promise<void> | null = null;
    const folderMade = () => made ??= makeFolder(folder, touched);
    for (const [i, fits] of checked.entries()) {
      if (typeof fits === "string") continue;
      const temp = join(tempDir, `${state.prefix}-${++state.written}.part`);
      const path = join(folder, files[i]!.name);
      // Queued behind the writer's other files; one that fails stops those still queued.
      const write = state.slot(() =>
        failure === null ? writeAtomically(temp, path, fits, folderMade) : Promise.resolve()
      );
      writes.push(write.catch((error) => void (failure ??= { error })));
      // A rename into the folder changes its entries, even when the folder was there already.
      touched.add(folder);
    }
  }
  // Every write of the request has ended (none holds a temporary file) before it fails.
  await Promise.all(writes);
  if (failure !== null) throw failure.error;
  return {
    type: "written",
    id: request.id,
    peak: state.peak,
    problems,
    touched: [...touched],
    data,
  };
}

/**
 * The bytes to save (decompressed and with fixed-format mandatory cards), or why there are none.
 *
 * @param bytes A cutout as an alert carries it.
 * @param maxFitsBytes Cap on the decompressed size.
 * @returns FITS bytes, or the reason they are not saved.
 */
export async function prepareFits(
  bytes: Uint8Array,
  maxFitsBytes: number,
): Promise<Uint8Array | string> {
  let fits = bytes;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    // Loaded on the first gzipped cutout (ZTF's): Node's zlib costs the writer thread ~8 MB.
    const { gunzipSync } = await import("node:zlib");
    try {
      fits = gunzipSync(bytes, { maxOutputLength: maxFitsBytes });
    } catch (error) {
      return (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE"
        ? `Cannot decompress cutout: it is larger than ${maxFitsBytes} bytes once decompressed`
        : `Cannot decompress cutout: ${(error as Error).message}`;
    }
  }
  // Rubin's and the mock's cutouts: checked on the bytes, nothing to rewrite.
  if (isConformingFits(fits)) return fits;
  try {
    // Validates like readFits() and rewrites free-format mandatory cards (ZTF's SIMPLE) so
    // every saved file passes fitsverify; conforming files come back as the same bytes.
    return normalizeFits(fits);
  } catch (error) {
    if (error instanceof RangeError) return error.message;
    throw error;
  }
}

// One mkdir for an alert's folder in the common case; the date folder (and, rarely, the folders
// above) only when missing. A new folder's name lives in its parent, which must be synced too.
async function makeFolder(folder: string, touched: Set<string>): Promise<void> {
  const pending = [folder];
  while (pending.length > 0) {
    const dir = pending[pending.length - 1]!;
    try {
      await Deno.mkdir(dir);
      touched.add(dirname(dir));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound && dirname(dir) !== dir) {
        pending.push(dirname(dir));
        continue;
      }
      // A replay finds its folder; another alert of the night may have made the date folder.
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    pending.pop();
  }
}

// The bytes reach the disk before the file gets its final name: after a power loss, a renamed
// file is never empty or short. fdatasync is enough, the timestamps do not matter. The calls
// that wait on the file system's journal (creating, flushing, renaming) are asynchronous, so
// that many files' waits overlap; the write only copies into the page cache.
async function writeAtomically(
  temp: string,
  path: string,
  bytes: Uint8Array,
  folderMade: () => Promise<void>,
): Promise<void> {
  try {
    const file = await Deno.open(temp, { write: true, create: true, truncate: true });
    try {
      for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
      await file.syncData();
    } finally {
      file.close();
    }
    await folderMade();
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}

async function syncFolder(folder: string): Promise<void> {
  // Windows cannot open a folder as a file; NTFS journals names with the file's metadata.
  if (Deno.build.os === "windows") return;
  const dir = Deno.openSync(folder, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}
