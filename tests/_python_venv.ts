/**
 * Test support: the Python of the virtual environment `.ci/run` builds from PyPI (pyarrow,
 * pandas, nbclient, nbformat, ipykernel), for tests that read exports back or run notebooks.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./_support.ts";

function _venvPython(): string | null {
  const given = Deno.env.get("LSST_PYTHON");
  if (given !== undefined && given !== "") return given;
  const local = join(REPO_ROOT, ".ci", "work", "venv", "bin", "python");
  return existsSync(local) ? local : null;
}

/**
 * The virtual environment's interpreter: `$LSST_PYTHON` (set by `.ci/run`), else
 * `.ci/work/venv/bin/python` when it exists, else `null`.
 */
export const VENV_PYTHON: string | null = _venvPython();

/** Why tests that need {@linkcode VENV_PYTHON} may be skipped. */
export const NEED_VENV =
  "the Python virtual environment with pyarrow, pandas, nbclient, nbformat and ipykernel " +
  "(.ci/run builds .ci/work/venv; or set LSST_PYTHON)";
