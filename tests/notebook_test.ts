/**
 * `examples/explore.ipynb` executed headless on Deno's Jupyter kernel by Jupyter's `nbclient`
 * (from PyPI, in the virtual environment `.ci/run` makes): every cell runs without error and the
 * rich outputs are there — a light curve and reassociations per night as SVG charts, the three
 * cutouts of a reassociated alert as PNG images. Run twice: where it lives (importing
 * `../mod.ts` through the repository's `deno.json`), and copied to a folder outside the
 * repository importing the module by absolute path, with no `deno.json` anywhere near it.
 * The executed notebooks are kept under `.ci/work/notebooks/` for reviewers.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { decode } from "fast-png";
import { NEED_VENV, VENV_PYTHON } from "./_python_venv.ts";
import { FULL_SIZE, REPO_ROOT, testWith, withTempDir } from "./_support.ts";

const NOTEBOOK = join(REPO_ROOT, "examples", "explore.ipynb");
const KEPT = join(REPO_ROOT, ".ci", "work", "notebooks");

// Executes a notebook with the Deno kernel; a cell error fails with its traceback. Deno's kernel
// (2.9.6) can publish a cell's last outputs after it reports the cell idle, and nbclient stops
// listening at idle, so those outputs would be dropped (measured: 12 of 60 results late under
// load, none lost). Outputs travel in order, so after idle the executor runs a one-line fence
// and keeps collecting the cell's outputs until the fence's own result arrives.
const EXECUTE = `
import os, sys, nbformat
from queue import Empty
from jupyter_core.utils import ensure_async
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete

FENCE = "Deno.jupyter.html\`fence\`"

class FencedClient(NotebookClient):
    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        fences = []
        while True:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=30))
            except Empty:
                # Nothing for 30 s: the idle or the fence's result may never come; a new fence
                # still tells when the kernel has published everything before it.
                print(f"cell {cell_index}: no output for 30 s, sending a fence", file=sys.stderr)
                fences.append(self.kc.execute(FENCE, store_history=False))
                continue
            parent = msg["parent_header"].get("msg_id")
            if parent == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    fences.append(self.kc.execute(FENCE, store_history=False))
            elif parent in fences and msg["msg_type"] == "execute_result":
                return

source, target = sys.argv[1], sys.argv[2]
nb = nbformat.read(source, as_version=4)
client = FencedClient(nb, timeout=300, kernel_name="deno", iopub_timeout=300,
                      resources={"metadata": {"path": os.path.dirname(source)}})
try:
    client.execute()
finally:
    nbformat.write(nb, target)
`;

interface Output {
  output_type: string;
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
}

interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
}

async function execute(notebook: string, kept: string, scratch: string): Promise<Cell[]> {
  // The kernel spec goes into a private data folder, so the user's Jupyter is untouched.
  const data = join(scratch, "jupyter-data");
  const env = { XDG_DATA_HOME: data, JUPYTER_PATH: join(data, "jupyter"), NO_COLOR: "1" };
  const install = await new Deno.Command(Deno.execPath(), {
    args: ["jupyter", "--install", "--force"],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(install.code, 0, new TextDecoder().decode(install.stderr));
  const run = await new Deno.Command(VENV_PYTHON as string, {
    args: ["-c", EXECUTE, notebook, kept],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 0, `the notebook failed:\n${stderr}`);
  for (const line of stderr.split("\n").filter((l) => l.includes("sending a fence"))) {
    // deno-lint-ignore no-console
    console.log(line);
  }
  const executed = JSON.parse(await Deno.readTextFile(kept)) as { cells: Cell[] };
  return executed.cells;
}

function text(cell: Cell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

function checkOutputs(cells: Cell[]): void {
  const code = cells.filter((c) => c.cell_type === "code");
  for (const cell of code) {
    const errors = (cell.outputs ?? []).filter((o) => o.output_type === "error");
    assert.deepEqual(errors, [], `no error in:\n${text(cell)}`);
  }
  const find = (marker: string) => {
    const cell = code.find((c) => text(c).includes(marker));
    assert.ok(cell, `a cell with ${marker}`);
    return (cell.outputs ?? []).filter((o) => o.data !== undefined);
  };
  // The light curve: an SVG chart titled with its object and number of alerts.
  const [curve] = find("catalog.lightCurve(");
  const svg = String(curve?.data?.["image/svg+xml"] ?? "");
  assert.match(svg, /^<svg/);
  assert.match(svg, /DIAObject \d+: \d+ alerts/);
  assert.ok(curve?.data?.["application/vnd.vegalite.v6+json"], "the live chart's spec");
  // Reassociations per night: an SVG bar chart.
  const [perNight] = find("reassociationsPerNight");
  assert.match(String(perNight?.data?.["image/svg+xml"] ?? ""), /Reassociations per night/);
  // The three cutouts: PNG images that decode, science unlike difference.
  const images = find("renderCutoutPng(").filter((o) => o.data?.["image/png"] !== undefined);
  assert.equal(images.length, 3, "science, template and difference");
  const pixels = images.map((o) => {
    const base64 = String(o.data?.["image/png"]).replaceAll("\n", "");
    const png = decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
    assert.ok(png.width > 0 && png.height > 0);
    return png.data;
  });
  assert.notDeepEqual(pixels[0], pixels[2]);
  // The tables, and every selection without a parameter counted.
  const [tables] = find("catalog.stats()");
  assert.match(String(tables?.data?.["text/html"] ?? ""), /<td>alerts<\/td><td>3000<\/td>/);
  const [selections] = find("SCIENCE_SELECTIONS)");
  for (const name of ["solar-system", "reassociated", "extended", "point", "minimoon-candidates"]) {
    assert.match(
      String(selections?.data?.["text/html"] ?? ""),
      new RegExp(`<td>${name}</td><td>\\d+</td>`),
    );
  }
}

testWith(VENV_PYTHON !== null, NEED_VENV, {
  name: "notebook: examples/explore.ipynb runs on the Deno kernel and shows its images",
  // At everyday sizes the copy outside the repository (below) runs the same cells; CI runs both.
  ignore: !FULL_SIZE,
  async fn() {
    await Deno.mkdir(KEPT, { recursive: true });
    await withTempDir("lsst-notebook-", async (scratch) => {
      checkOutputs(await execute(NOTEBOOK, join(KEPT, "explore.executed.ipynb"), scratch));
    });
  },
});

testWith(VENV_PYTHON !== null, NEED_VENV, {
  name: "notebook: kept outside the repository, it imports the module by path and still runs",
  async fn() {
    await Deno.mkdir(KEPT, { recursive: true });
    await withTempDir("lsst-notebook-outside-", async (scratch) => {
      const notebook = JSON.parse(await Deno.readTextFile(NOTEBOOK)) as { cells: Cell[] };
      const module = join(REPO_ROOT, "mod.ts");
      let replaced = 0;
      for (const cell of notebook.cells) {
        const source = text(cell);
        if (!source.includes('"../mod.ts"')) continue;
        cell.source = source.replace('"../mod.ts"', JSON.stringify(module));
        replaced++;
      }
      assert.equal(replaced, 1);
      const copy = join(scratch, "explore.ipynb");
      await Deno.writeTextFile(copy, JSON.stringify(notebook));
      // Nothing near the copy tells Deno where the module's packages come from.
      for (let dir = scratch; dir !== "/"; dir = join(dir, "..")) {
        for (const name of ["deno.json", "deno.jsonc", "package.json"]) {
          await assert.rejects(Deno.stat(join(dir, name)), Deno.errors.NotFound, join(dir, name));
        }
      }
      checkOutputs(await execute(copy, join(KEPT, "explore.outside.executed.ipynb"), scratch));
    });
  },
});
