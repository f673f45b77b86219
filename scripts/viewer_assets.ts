/**
 * Writes `viewer/_vendor_assets.ts`: uPlot's browser build, stylesheet, version and license as
 * string constants, taken from the npm package pinned in `deno.json`; and
 * `viewer/_client_assets.ts`: the viewer's own browser script and stylesheet
 * (`viewer/client/app.js`, `app.css`), which are edited as real files (linted and formatted).
 *
 * The viewer serves these strings itself, so it works offline and from a `deno bundle` file
 * alike: reading Deno's npm cache at run time breaks inside a bundle, and importing the files
 * as text needs an unstable flag.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-env scripts/viewer_assets.ts [--check] [--out FILE]
 * ```
 *
 * `--check` writes nothing and exits 1 when a file differs from what would be written (CI and
 * the tests run it, so a new uPlot pin or an edited client script cannot ship with stale
 * assets). `--out` writes or checks another file instead of `viewer/_vendor_assets.ts` (and then
 * leaves the client assets alone). Missing package files exit 2.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
// A static import puts the package in the module graph, so `deno cache` and `deno run` fetch it
// into a fresh DENO_DIR; `import.meta.resolve` alone would name a folder that may not exist yet.
import uplotPackage from "uplot/package.json" with { type: "json" };

/** The command that regenerates the file, quoted in its header. */
export const VIEWER_ASSETS_COMMAND =
  "deno run --allow-read --allow-write --allow-env scripts/viewer_assets.ts";

/** The generated file's default path. */
export const VIEWER_ASSETS_PATH: string = fileURLToPath(
  new URL("../viewer/_vendor_assets.ts", import.meta.url),
);

/** The uPlot files the viewer needs, as read from the npm package. */
export interface UplotFiles {
  /** The package's `version`. */
  version: string;
  /** `dist/uPlot.iife.min.js`: a classic script that defines the global `uPlot`. */
  js: string;
  /** `dist/uPlot.min.css`. */
  css: string;
  /** The package's `LICENSE` text. */
  license: string;
}

/**
 * The folder of the uPlot package that `deno.json` pins, wherever Deno keeps it (its global
 * npm cache, or `node_modules/` when the project uses one).
 *
 * @returns The package folder's path.
 * @throws {Error} When Deno cannot map the package to a local folder.
 */
export function uplotPackageDir(): string {
  const resolved = import.meta.resolve("uplot/package.json");
  if (!resolved.startsWith("file:")) {
    throw new Error(
      `Cannot find the uPlot package files: "uplot/package.json" resolved to "${resolved}"`,
    );
  }
  return dirname(fileURLToPath(resolved));
}

/**
 * Read the uPlot files the viewer serves.
 *
 * @param dir The package folder; default {@linkcode uplotPackageDir}.
 * @returns The files' text and the package version.
 * @throws {Error} When a file is missing, naming the fix.
 */
export async function readUplotFiles(dir: string = uplotPackageDir()): Promise<UplotFiles> {
  const read = async (file: string): Promise<string> => {
    try {
      return await Deno.readTextFile(join(dir, file));
    } catch (error) {
      throw new Error(
        `Cannot read "${file}" of uplot@${uplotPackage.version} in "${dir}": run \`deno cache scripts/viewer_assets.ts\``,
        { cause: error },
      );
    }
  };
  const [js, css, license] = await Promise.all([
    read("dist/uPlot.iife.min.js"),
    read("dist/uPlot.min.css"),
    read("LICENSE"),
  ]);
  return { version: uplotPackage.version, js, css, license };
}

/**
 * The text of `viewer/_vendor_assets.ts` for the given files. Every string goes through
 * `JSON.stringify`, so quotes, backslashes, `${` and line breaks in the assets stay inert.
 *
 * @param files What {@linkcode readUplotFiles} returned.
 * @returns The module's source.
 */
export function renderVendorAssets(files: UplotFiles): string {
  const pin = `uplot@${files.version}`;
  return [
    // `deno fmt` would rewrap the long string lines; keeping them as written keeps --check exact.
    "// deno-fmt-ignore-file",
    "/**",
    ` * uPlot ${files.version} (https://github.com/leeoniya/uPlot), MIT licensed: its license text is`,
    " * {@linkcode UPLOT_LICENSE}. Served by the viewer itself so that it needs no network.",
    " *",
    ` * Generated from npm package ${pin} by`,
    ` * \`${VIEWER_ASSETS_COMMAND}\`; do not edit:`,
    " * change the pin in `deno.json`, run that command and commit the result.",
    " *",
    " * @module",
    " */",
    "",
    "/** The uPlot version these assets come from. */",
    `export const UPLOT_VERSION: string = ${JSON.stringify(files.version)};`,
    "",
    "/** uPlot's MIT license text, to serve or show beside the chart library. */",
    `export const UPLOT_LICENSE: string = ${JSON.stringify(files.license)};`,
    "",
    "/** `dist/uPlot.min.css`: the chart's stylesheet. */",
    `export const UPLOT_CSS: string = ${JSON.stringify(files.css)};`,
    "",
    "/** `dist/uPlot.iife.min.js`: a classic script that defines the global `uPlot`. */",
    `export const UPLOT_JS: string = ${JSON.stringify(files.js)};`,
    "",
  ].join("\n");
}

/** The client assets' default path. */
export const CLIENT_ASSETS_PATH: string = fileURLToPath(
  new URL("../viewer/_client_assets.ts", import.meta.url),
);

/**
 * The text of `viewer/_client_assets.ts`: the viewer's browser script and stylesheet.
 *
 * @param js `viewer/client/app.js`.
 * @param css `viewer/client/app.css`.
 * @returns The module's source.
 */
export function renderClientAssets(js: string, css: string): string {
  return [
    "// deno-fmt-ignore-file",
    "/**",
    " * The viewer's browser script and stylesheet, from `viewer/client/app.js` and `app.css`.",
    ` * Generated by \`${VIEWER_ASSETS_COMMAND}\`; do not edit: edit those files and run it.`,
    " *",
    " * @module",
    " */",
    "",
    "/** `viewer/client/app.js`. */",
    `export const APP_JS: string = ${JSON.stringify(js)};`,
    "",
    "/** `viewer/client/app.css`. */",
    `export const APP_CSS: string = ${JSON.stringify(css)};`,
    "",
  ].join("\n");
}

async function readClientAssets(): Promise<string> {
  const dir = fileURLToPath(new URL("../viewer/client/", import.meta.url));
  const [js, css] = await Promise.all([
    Deno.readTextFile(join(dir, "app.js")),
    Deno.readTextFile(join(dir, "app.css")),
  ]);
  return renderClientAssets(js, css);
}

async function readOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

async function main(args: string[]): Promise<number> {
  let options: { check: boolean; out: string };
  try {
    const { values } = parseArgs({
      args,
      options: { check: { type: "boolean", default: false }, out: { type: "string" } },
    });
    options = { check: values.check, out: values.out ?? VIEWER_ASSETS_PATH };
  } catch (error) {
    // deno-lint-ignore no-console
    console.error(
      `${(error as Error).message}\nUsage: scripts/viewer_assets.ts [--check] [--out FILE]`,
    );
    return 2;
  }
  const { check, out } = options;
  const files: Array<[string, string]> = [];
  try {
    files.push([out, renderVendorAssets(await readUplotFiles())]);
    if (out === VIEWER_ASSETS_PATH) files.push([CLIENT_ASSETS_PATH, await readClientAssets()]);
  } catch (error) {
    // deno-lint-ignore no-console
    console.error((error as Error).message);
    return 2;
  }
  if (check) {
    let code = 0;
    for (const [path, text] of files) {
      if ((await readOrNull(path)) === text) continue;
      const again = out === VIEWER_ASSETS_PATH ? "" : ` --out ${out}`;
      // deno-lint-ignore no-console
      console.error(
        `"${path}" is not what ${
          path === CLIENT_ASSETS_PATH ? "viewer/client/" : `uplot@${uplotPackage.version}`
        } gives: run \`${VIEWER_ASSETS_COMMAND}${again}\``,
      );
      code = 1;
    }
    return code;
  }
  for (const [path, text] of files) {
    await Deno.mkdir(dirname(path), { recursive: true });
    // Temp name then rename, so an interrupted run never leaves half a module behind.
    const temp = `${path}.tmp-${Deno.pid}`;
    await Deno.writeTextFile(temp, text);
    await Deno.rename(temp, path);
  }
  return 0;
}

if (import.meta.main) {
  // Only this entry point exits: the functions above throw, so tests can call them.
  Deno.exit(await main(Deno.args));
}
