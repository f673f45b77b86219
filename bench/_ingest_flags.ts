/**
 * Shared by the benchmark cases that measure an ingest: the V8 flags and environment
 * `deno task ingest` runs with, read from `deno.json`, so an ingest is measured as users run it
 * whatever the benchmark runner itself was given.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

function ingestCommand(): string {
  const config = JSON.parse(
    Deno.readTextFileSync(fileURLToPath(new URL("../deno.json", import.meta.url))),
  ) as { tasks: { ingest: { command: string } } };
  return config.tasks.ingest.command;
}

/** The `--v8-flags=…` arguments of the `ingest` task. */
export function ingestV8Flags(): string[] {
  return ingestCommand().match(/--v8-flags=\S+/g) ?? [];
}

/**
 * The variables the `ingest` task sets before `deno run` (`NAME=value` words at its start), such
 * as glibc's `MALLOC_TRIM_THRESHOLD_`: they must be in a process's environment when it starts.
 */
export function ingestEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const word of ingestCommand().split(/\s+/)) {
    const match = /^([A-Z_][A-Z0-9_]*)=(\S*)$/.exec(word);
    if (match === null) break;
    env[match[1] as string] = match[2] as string;
  }
  return env;
}
