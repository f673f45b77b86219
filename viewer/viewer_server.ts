/**
 * `serve`: the viewer on Deno's HTTP server, over a read-only connection to the database.
 *
 * @module
 */

import { openCatalog } from "../storage/alert_catalog.ts";
import { createViewerHandler } from "./viewer_handler.ts";

/** Options of {@linkcode startViewer}. */
export interface ViewerOptions {
  /** Folder cutout files may be read from. Default `data/cutouts`. */
  cutoutsDir?: string;
  /** Address to listen on. Default `127.0.0.1` (this machine only). */
  hostname?: string;
  /** Port; 0 picks a free one. Default 8700. */
  port?: number;
  /** Stops the server. */
  signal?: AbortSignal;
}

/** A running viewer. */
export interface RunningViewer {
  /** Where it answers, e.g. `http://127.0.0.1:8700/`. */
  url: string;
  /** Whether it listens beyond this machine (anyone who can reach the port can read). */
  exposed: boolean;
  /** Settles when the server has stopped and the database is closed. */
  finished: Promise<void>;
  /** Stop it. */
  shutdown(): Promise<void>;
}

/**
 * Start the viewer on a database.
 *
 * @param location A SQLite path or a `postgres://` URL (read-only).
 * @param options Address, port, cutouts folder and stop signal.
 * @returns The running viewer.
 * @throws {StorageError} When a SQLite file does not exist.
 * @example
 * ```ts ignore
 * import { startViewer } from "./viewer_server.ts";
 * const viewer = await startViewer("data/alerts.db", { port: 0 });
 * console.log(viewer.url);
 * await viewer.shutdown();
 * ```
 */
export async function startViewer(
  location: string,
  options: ViewerOptions = {},
): Promise<RunningViewer> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 8700;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Port must be a whole number from 0 to 65535, not "${port}"`);
  }
  const catalog = openCatalog(location);
  // Fail now on a database that is not ours, not on the first page.
  try {
    await catalog.stats(1);
  } catch (error) {
    await catalog.close();
    throw error;
  }
  const handler = createViewerHandler(
    catalog,
    options.cutoutsDir === undefined ? {} : { cutoutsDir: options.cutoutsDir },
  );
  const stop = new AbortController();
  options.signal?.addEventListener("abort", () => stop.abort(), { once: true });
  let listening: (address: Deno.NetAddr) => void;
  const listened = new Promise<Deno.NetAddr>((resolve) => listening = resolve);
  const server = Deno.serve({
    hostname,
    port,
    signal: stop.signal,
    onListen: (address) => listening(address),
  }, handler);
  const address = await listened;
  const shown = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  const finished = server.finished.finally(() => catalog.close());
  return {
    url: `http://${shown}:${address.port}/`,
    exposed: !_isLoopback(hostname),
    finished,
    shutdown: async () => {
      stop.abort();
      await finished;
    },
  };
}

function _isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\./.test(hostname);
}
