/**
 * The viewer's routes: pages, the JSON API behind them, cutout images and local assets. Ids in
 * paths must be 64-bit integers (else 404), filters are checked (else 400), and no text of a
 * request ever becomes SQL.
 *
 * @module
 */

import type { CutoutStretch } from "../cutouts/cutout_image.ts";
import type { AlertCatalog } from "../storage/alert_catalog.ts";
import { StorageError } from "../model/errors.ts";
import { CUTOUT_KINDS, CutoutImages, type CutoutKind, STRETCHES } from "./_cutout_images.ts";
import { HttpError, json, respond } from "./_http.ts";
import { FAVICON_SVG, notFoundHtml, pageHtml } from "./_pages.ts";
import { alertQuery, parseId, queryReader, reassociationQuery } from "./_request_params.ts";
import { APP_CSS, APP_JS } from "./_client_assets.ts";
import { UPLOT_CSS, UPLOT_JS } from "./_vendor_assets.ts";

/** Options of {@linkcode createViewerHandler}. */
export interface ViewerHandlerOptions {
  /** Folder cutout files may be read from. Default `data/cutouts`. */
  cutoutsDir?: string;
}

const ASSETS: Record<string, [string, string]> = {
  "/assets/app.js": [APP_JS, "text/javascript; charset=utf-8"],
  "/assets/app.css": [APP_CSS, "text/css; charset=utf-8"],
  "/assets/uplot.js": [UPLOT_JS, "text/javascript; charset=utf-8"],
  "/assets/uplot.css": [UPLOT_CSS, "text/css; charset=utf-8"],
  "/favicon.svg": [FAVICON_SVG, "image/svg+xml"],
  "/favicon.ico": [FAVICON_SVG, "image/svg+xml"],
};

type _Route = (match: string[], url: URL) => Promise<Response>;

/**
 * The viewer as a request handler, for `Deno.serve` or tests.
 *
 * @param catalog The database, read-only.
 * @param options Where cutout files are.
 * @returns The handler; it never throws (errors become 4xx/5xx answers).
 * @example
 * ```ts ignore
 * import { openCatalog } from "../storage/alert_catalog.ts";
 * import { createViewerHandler } from "./viewer_handler.ts";
 * const handler = createViewerHandler(openCatalog("data/alerts.db"));
 * const response = await handler(new Request("http://localhost/api/stats"));
 * ```
 */
export function createViewerHandler(
  catalog: AlertCatalog,
  options: ViewerHandlerOptions = {},
): (request: Request) => Promise<Response> {
  const images = new CutoutImages(catalog, options.cutoutsDir ?? "data/cutouts");
  const id = (text: string | undefined, what: string): bigint => {
    const value = parseId(text ?? "");
    if (value === null) throw new HttpError(404, `No ${what} "${text}": ids are 64-bit integers`);
    return value;
  };
  const noQuery = (url: URL) => queryReader(url.searchParams).finish();
  const routes: Array<[RegExp, _Route]> = [
    [/^\/$/, (_m, url) => page(url, () => pageHtml("overview"))],
    // The list pages' filters live in their URLs; the API checks them.
    [/^\/alerts$/, () => Promise.resolve(html(pageHtml("alerts")))],
    [/^\/reassociations$/, () => Promise.resolve(html(pageHtml("reassociations")))],
    [/^\/alerts\/([^/]+)$/, async ([, text], url) => {
      noQuery(url);
      const value = id(text, "alert");
      if ((await catalog.cutoutFiles(value)) === null) {
        throw new HttpError(404, `Alert ${value} is not stored`);
      }
      return html(pageHtml("alert", value));
    }],
    [/^\/ss-objects\/([^/]+)$/, async ([, text], url) => {
      noQuery(url);
      const value = id(text, "SSObject");
      if (!(await catalog.hasSsObject(value))) {
        throw new HttpError(404, `SSObject ${value} is not named by any stored alert or detection`);
      }
      return html(pageHtml("ss-object", value));
    }],
    [/^\/api\/stats$/, async (_m, url) => {
      noQuery(url);
      return json(await catalog.stats());
    }],
    [/^\/api\/alerts$/, async (_m, url) => {
      const { filter, options } = alertQuery(url.searchParams);
      return json(await catalog.alerts(filter, options));
    }],
    [/^\/api\/alerts\/([^/]+)$/, async ([, text], url) => {
      noQuery(url);
      const alert = await catalog.alert(id(text, "alert"));
      if (alert === null) throw new HttpError(404, `Alert ${text} is not stored`);
      // Paths on the server's disk are not the browser's business; where to fetch them is.
      const { cutouts: _paths, ...fields } = alert;
      return json({
        ...fields,
        cutouts: Object.fromEntries(
          CUTOUT_KINDS.map((
            kind,
          ) => [kind, `/api/alerts/${alert.diaSourceId}/cutouts/${kind}.png`]),
        ),
      });
    }],
    [
      /^\/api\/alerts\/([^/]+)\/cutouts\/([a-z]+)\.(png|fits)$/,
      async ([, text, kind, type], url) => {
        const reader = queryReader(url.searchParams);
        const stretch = reader.text("stretch") ?? "zscale";
        reader.finish();
        if (!CUTOUT_KINDS.includes(kind as CutoutKind)) {
          throw new HttpError(404, `No cutout "${kind}": expected ${CUTOUT_KINDS.join(", ")}`);
        }
        if (!STRETCHES.includes(stretch as CutoutStretch)) {
          throw new HttpError(
            400,
            `Unknown stretch "${stretch}": expected ${STRETCHES.join(", ")}`,
          );
        }
        const alertId = id(text, "alert");
        // Cutouts of an alert never change once written.
        const headers = { "cache-control": "private, max-age=3600" };
        if (type === "fits") {
          const bytes = await images.fits(alertId, kind as CutoutKind);
          return respond(bytes, "application/fits", {
            headers: {
              ...headers,
              "content-disposition": `attachment; filename="${alertId}-${kind}.fits"`,
            },
          });
        }
        const png = await images.png(alertId, kind as CutoutKind, stretch as CutoutStretch);
        return respond(png, "image/png", { headers });
      },
    ],
    [/^\/api\/objects\/([^/]+)\/lightcurve$/, async ([, text], url) => {
      noQuery(url);
      const curve = await catalog.lightCurve(id(text, "DIAObject"));
      if (curve.points.length === 0) throw new HttpError(404, `DIAObject ${text} has no alerts`);
      return json(curve);
    }],
    [/^\/api\/sources\/([^/]+)\/timeline$/, async ([, text], url) => {
      noQuery(url);
      const timeline = await catalog.timeline(id(text, "DIASource"));
      if (timeline === null) throw new HttpError(404, `DIASource ${text} is not stored`);
      return json(timeline);
    }],
    [/^\/api\/reassociations$/, async (_m, url) => {
      return json(await catalog.reassociations(reassociationQuery(url.searchParams)));
    }],
    [/^\/api\/ss-objects\/([^/]+)$/, async ([, text], url) => {
      noQuery(url);
      const summary = await catalog.ssObject(id(text, "SSObject"));
      if (summary === null) throw new HttpError(404, `SSObject ${text} is not named anywhere`);
      return json(summary);
    }],
  ];
  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const api = url.pathname.startsWith("/api/");
    try {
      if (request.method !== "GET" && request.method !== "HEAD") {
        throw new HttpError(405, `Method ${request.method} is not allowed: the viewer only reads`);
      }
      const asset = ASSETS[url.pathname];
      if (asset !== undefined) {
        return respond(asset[0], asset[1], { headers: { "cache-control": "no-cache" } });
      }
      for (const [pattern, route] of routes) {
        const match = pattern.exec(url.pathname);
        if (match !== null) return await route([...match], url);
      }
      throw new HttpError(404, `No page "${url.pathname}"`);
    } catch (error) {
      const status = error instanceof HttpError
        ? error.status
        : error instanceof RangeError
        ? 400
        : 500;
      const message = error instanceof HttpError || error instanceof RangeError
        ? error.message
        : error instanceof StorageError
        ? error.message
        : `Internal error: ${(error as Error).message}`;
      return api || status !== 404
        ? json({ error: message }, status)
        : respond(notFoundHtml(message), "text/html; charset=utf-8", { status });
    }
  };
}

function html(text: string): Response {
  return respond(text, "text/html; charset=utf-8", { headers: { "cache-control": "no-cache" } });
}

function page(url: URL, make: () => string): Promise<Response> {
  queryReader(url.searchParams).finish();
  return Promise.resolve(html(make()));
}
