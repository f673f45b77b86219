/**
 * Browser test support: find a Chromium, launch it headless through puppeteer-core, open a page
 * that records everything that went wrong on it, and read back what the page shows.
 *
 * Functions that run inside the page are passed as strings: puppeteer's function overloads
 * want DOM types, and adding the DOM lib conflicts with Deno's own declarations.
 *
 * @module
 */

import { statSync } from "node:fs";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { REPO_ROOT } from "./_support.ts";

/** Where {@linkcode saveScreenshot} writes: `.ci/work/screenshots/`, which git ignores. */
export const SCREENSHOTS_DIR: string = join(REPO_ROOT, ".ci", "work", "screenshots");

function isExecutable(path: string): boolean {
  try {
    const stat = statSync(path);
    return stat.isFile() && ((stat.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

function findChromium(): { path: string | null; reason: string } {
  const chosen = Deno.env.get("LSST_CHROMIUM");
  if (chosen) {
    // An explicit choice that is wrong should say so, not quietly test another browser.
    return isExecutable(chosen)
      ? { path: chosen, reason: "" }
      : { path: null, reason: `Chromium at $LSST_CHROMIUM ("${chosen}"), which is not there` };
  }
  // Debian's real binary, not /usr/bin/chromium: that wrapper script adds flags of its own.
  if (isExecutable("/usr/lib/chromium/chromium")) {
    return { path: "/usr/lib/chromium/chromium", reason: "" };
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && isExecutable(join(dir, "chromium"))) {
      return { path: join(dir, "chromium"), reason: "" };
    }
  }
  return {
    path: null,
    reason: "Chromium (Debian package chromium, or set LSST_CHROMIUM to its binary)",
  };
}

const found = findChromium();

/**
 * The Chromium binary: `$LSST_CHROMIUM`, else `/usr/lib/chromium/chromium`, else `chromium` on
 * `PATH`; `null` when there is none.
 */
export const CHROMIUM: string | null = found.path;

/**
 * Why browser tests cannot run here, for `testWith` from `_support.ts`.
 *
 * @returns What is missing, or `null` when {@linkcode CHROMIUM} was found.
 * @example
 * ```ts
 * testWith(browserSkipReason() === null, browserSkipReason() ?? "", { name, fn });
 * ```
 */
export function browserSkipReason(): string | null {
  return found.path === null ? found.reason : null;
}

/**
 * Launch {@linkcode CHROMIUM} headless. Puppeteer gives it a fresh profile in the temp dir and
 * removes it when the browser closes (or this process exits).
 *
 * @returns The browser; close it with `await using` or `browser.close()`.
 * @throws {Error} When there is no Chromium.
 * @example
 * ```ts
 * await using browser = await launchBrowser();
 * ```
 */
export async function launchBrowser(): Promise<Browser> {
  if (CHROMIUM === null) throw new Error(`Cannot launch a browser: no ${found.reason}`);
  return await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // A pipe rather than a debugging port: nothing to allocate, nothing another process can reach.
    pipe: true,
    args: [
      // The sandbox refuses to start as root, as in CI containers.
      "--no-sandbox",
      // Containers often give /dev/shm 64 MB, too little for Chromium's shared memory.
      "--disable-dev-shm-usage",
      "--disable-gpu",
    ],
  });
}

/** Options for {@linkcode openPage}. */
export interface OpenPageOptions {
  /** Viewport size in CSS pixels; default 1024 × 768. */
  viewport?: { width: number; height: number };
  /** How long navigation may take, in ms; default 15,000. */
  timeoutMs?: number;
  /**
   * When navigation counts as done; default `"networkidle0"`: Chromium's network-idle event,
   * which costs about a second per page after `"load"`, but also waits for requests the page's
   * scripts start after it loaded.
   */
  waitUntil?: "load" | "networkidle0";
}

/** A page opened by {@linkcode openPage}; disposing it closes the page. */
export interface OpenedPage extends AsyncDisposable {
  /** The page. */
  page: Page;
  /**
   * Everything that went wrong since just before navigation, one line each: console errors,
   * uncaught page errors, responses with status 400 or more, and failed requests (with URLs).
   * Later problems keep arriving while the page stays open.
   */
  problems: string[];
}

/**
 * Open `url` in a new page and wait until the network is idle, recording problems from before
 * the first request. A 404 arrives as a response (puppeteer's
 * `requestfailed` is only for network errors), and Chromium also logs it as a console error.
 *
 * @param browser From {@linkcode launchBrowser}.
 * @param url The page to load.
 * @param options Viewport, timeout and when loading counts as done.
 * @returns The page and its live list of problems.
 * @example
 * ```ts
 * await using opened = await openPage(browser, `http://127.0.0.1:${port}/`);
 * assert.deepEqual(opened.problems, []);
 * ```
 */
export async function openPage(
  browser: Browser,
  url: string,
  options: OpenPageOptions = {},
): Promise<OpenedPage> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const where = message.location().url;
    problems.push(`console error: ${message.text()}${where ? ` (at ${where})` : ""}`);
  });
  page.on("pageerror", (error) => {
    problems.push(`page error: ${error instanceof Error ? error.message : String(error)}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) {
      problems.push(`HTTP ${response.status()} ${response.statusText()}: ${response.url()}`);
    }
  });
  page.on("requestfailed", (request) => {
    const reason = request.failure()?.errorText ?? "unknown error";
    problems.push(`request failed (${reason}): ${request.url()}`);
  });
  try {
    await page.setViewport(options.viewport ?? { width: 1024, height: 768 });
    await page.goto(url, {
      waitUntil: options.waitUntil ?? "networkidle0",
      timeout: options.timeoutMs ?? 15_000,
    });
  } catch (error) {
    await page.close();
    throw new Error(`Cannot load "${url}": ${problems.join("; ") || "no problems recorded"}`, {
      cause: error,
    });
  }
  return {
    page,
    problems,
    async [Symbol.asyncDispose]() {
      if (!page.isClosed()) await page.close();
    },
  };
}

/**
 * Save a full-page PNG screenshot as `.ci/work/screenshots/<name>.png`, for people to look at
 * after a CI run.
 *
 * @param page The page.
 * @param name File name without `.png`: letters, digits, `.`, `_` and `-`.
 * @returns The file's path.
 * @throws {RangeError} When `name` could leave the folder.
 * @example
 * ```ts
 * const path = await saveScreenshot(opened.page, "viewer-alert");
 * ```
 */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  if (!/^[\w-][\w.-]*$/.test(name)) throw new RangeError(`Invalid screenshot name "${name}"`);
  await Deno.mkdir(SCREENSHOTS_DIR, { recursive: true });
  const path = join(SCREENSHOTS_DIR, `${name}.png`);
  await Deno.writeFile(path, await page.screenshot({ fullPage: true, type: "png" }));
  return path;
}

async function evaluate(page: Page, expression: string): Promise<unknown> {
  return await page.evaluate(expression);
}

function numbers(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((n) => typeof n === "number")) {
    throw new TypeError(`Expected numbers for ${what}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * The natural widths of the images matching `selector`, each awaited until decoded: 0 for an
 * image that failed to load.
 *
 * @param page The page.
 * @param selector A CSS selector for `<img>` elements.
 * @returns One width per image, in document order.
 * @example
 * ```ts
 * assert.ok((await imageWidths(page, "img.cutout")).every((w) => w > 0));
 * ```
 */
export async function imageWidths(page: Page, selector: string): Promise<number[]> {
  const value = await evaluate(
    page,
    `Promise.all(Array.from(document.querySelectorAll(${JSON.stringify(selector)}), (img) =>
      img.decode().then(() => img.naturalWidth, () => 0)))`,
  );
  return numbers(value, `images "${selector}"`);
}

/**
 * The pixel sizes of the canvases matching `selector` (their drawing buffers, which a chart
 * library sets once it has laid out and drawn).
 *
 * @param page The page.
 * @param selector A CSS selector for `<canvas>` elements.
 * @returns One `{ width, height }` per canvas, in document order.
 * @example
 * ```ts
 * const [chart] = await canvasSizes(page, ".uplot canvas");
 * ```
 */
export async function canvasSizes(
  page: Page,
  selector: string,
): Promise<Array<{ width: number; height: number }>> {
  const value = await evaluate(
    page,
    `Array.from(document.querySelectorAll(${
      JSON.stringify(selector)
    }), (c) => [c.width, c.height])`,
  );
  const flat = numbers(Array.isArray(value) ? value.flat() : value, `canvases "${selector}"`);
  return Array.from({ length: flat.length / 2 }, (_, i) => ({
    width: flat[2 * i]!,
    height: flat[2 * i + 1]!,
  }));
}

/**
 * The text of the first element matching `selector`, whitespace collapsed.
 *
 * @param page The page.
 * @param selector A CSS selector.
 * @returns Its `textContent`, trimmed, runs of whitespace as one space.
 * @throws {Error} When nothing matches.
 * @example
 * ```ts
 * assert.equal(await textOf(page, "h1"), "Alert 1234");
 * ```
 */
export async function textOf(page: Page, selector: string): Promise<string> {
  const value = await evaluate(
    page,
    `document.querySelector(${JSON.stringify(selector)})?.textContent ?? null`,
  );
  if (typeof value !== "string") throw new Error(`No element matches "${selector}"`);
  return value.replace(/\s+/g, " ").trim();
}
