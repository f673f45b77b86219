/**
 * Shared by the benchmark cases that measure an ingest: the V8 flags `deno task ingest` runs
 * with, read from `deno.json`, so an ingest is measured as users run it whatever flags the
 * benchmark runner itself was given.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The `--v8-flags=…` arguments of the `ingest` task. */
export function ingestV8Flags(): string[] {
  const config = JSON.parse(
    Deno.readTextFileSync(fileURLToPath(new URL("../deno.json", import.meta.url))),
  ) as { tasks: { ingest: { command: string } } };
  return config.tasks.ingest.command.match(/--v8-flags=\S+/g) ?? [];
}
