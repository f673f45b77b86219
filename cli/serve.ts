// deno-lint-ignore-file no-console
/**
 * `lsst-extendedness serve`: the local web viewer, until Ctrl-C.
 *
 * @module
 */

import { startViewer } from "../mod.ts";
import { type Command, COMMON, type Flags, integer, text } from "./_flags.ts";
import { databasePath } from "./_storage.ts";

/** The serve command: prints where the viewer answers, then serves until a signal. */
export const serveCommand: Command = {
  options: {
    ...COMMON,
    "cutouts-dir": { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
  },
  positionals: 0,
  run: _serve,
};

async function _serve(flags: Flags): Promise<number> {
  const hostname = text(flags, "host") ?? "127.0.0.1";
  const port = integer(flags, "port", 8700, 0);
  const stop = new AbortController();
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = () => stop.abort(signal);
    try {
      Deno.addSignalListener(signal, handler);
    } catch {
      // SIGTERM cannot be listened to on every platform.
    }
    return [signal, handler] as const;
  });
  try {
    const viewer = await startViewer(databasePath(flags), {
      cutoutsDir: text(flags, "cutouts-dir") ?? "data/cutouts",
      hostname,
      port,
      signal: stop.signal,
    });
    if (viewer.exposed) {
      console.error(
        `Warning: listening on ${hostname}, not only this machine: anyone who can reach port ` +
          `${port} can read the whole database and its cutouts`,
      );
    }
    if (flags.json) console.log(JSON.stringify({ url: viewer.url }));
    else console.error(`Viewer at ${viewer.url} (read-only; Ctrl-C stops it)`);
    await viewer.finished;
    return 0;
  } finally {
    for (const [signal, handler] of handlers) {
      try {
        Deno.removeSignalListener(signal, handler);
      } catch {
        // Never added.
      }
    }
  }
}
