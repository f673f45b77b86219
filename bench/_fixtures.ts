/**
 * Where benchmarks find the shared fixtures (the official schemas).
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** `$LSST_FIXTURES`, else `../shared/fixtures` beside the repository; exits when absent. */
export function fixturesDir(): string {
  const repo = fileURLToPath(new URL("..", import.meta.url));
  for (const candidate of [Deno.env.get("LSST_FIXTURES"), join(repo, "..", "shared", "fixtures")]) {
    if (candidate && existsSync(join(candidate, "README.md"))) return candidate;
  }
  throw new Error("This benchmark needs the shared fixtures: set LSST_FIXTURES");
}
