/**
 * Starting a source's worker thread, or learning that none can start here.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Start a worker and wait for its first message, which says its module has loaded. Where
 * workers cannot run (a bundle has no worker module beside it, a program without the
 * permission), the answer is `null` and the caller does the work on its own thread.
 *
 * @param url The worker's module.
 * @param readyTimeoutMs How long loading may take.
 * @returns The loaded worker, or `null`.
 */
export async function startWorker(url: URL, readyTimeoutMs: number): Promise<Worker | null> {
  let worker: Worker | null = null;
  try {
    // Checked first, so that a bundle reports no load error.
    if (url.protocol === "file:" && !existsSync(fileURLToPath(url))) return null;
    worker = new Worker(url.href, { type: "module" });
    const started = worker;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timeout")), readyTimeoutMs);
      started.onmessage = () => {
        clearTimeout(timer);
        resolve();
      };
      started.onerror = (event) => {
        event.preventDefault();
        clearTimeout(timer);
        reject(new Error(event.message));
      };
    });
    return started;
  } catch {
    worker?.terminate();
    return null;
  }
}
