/**
 * The viewer's HTML pages: one shell per page, filled in the browser by `client/app.js` from the
 * JSON API (so every page's data is also an API answer), with every asset served locally.
 *
 * @module
 */

/** The pages, by the `data-page` the client app dispatches on. */
export type PageName = "overview" | "alerts" | "alert" | "reassociations" | "ss-object";

const TITLES: Record<PageName, string> = {
  overview: "Overview",
  alerts: "Alerts",
  alert: "Alert",
  reassociations: "Reassociations",
  "ss-object": "SSObject",
};

/**
 * A page's HTML.
 *
 * @param page Which page.
 * @param id The alert's or SSObject's id on their pages.
 * @returns The document.
 */
export function pageHtml(page: PageName, id: bigint | null = null): string {
  const title = id === null ? TITLES[page] : `${TITLES[page]} ${id}`;
  const nav = (href: string, label: string, current: boolean) =>
    `<a href="${href}"${current ? ' aria-current="page"' : ""}>${label}</a>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · lsst-extendedness</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/uplot.css">
<link rel="stylesheet" href="/assets/app.css">
</head>
<body data-page="${page}"${id === null ? "" : ` data-id="${id}"`}>
<header>
<strong>lsst-extendedness</strong>
<nav>${nav("/", "Overview", page === "overview")}${
    nav("/alerts", "Alerts", page === "alerts" || page === "alert")
  }${nav("/reassociations", "Reassociations", page === "reassociations")}</nav>
</header>
<main id="main"><p class="loading">Loading…</p></main>
<script src="/assets/uplot.js"></script>
<script src="/assets/app.js"></script>
</body>
</html>
`;
}

/**
 * A page for what does not exist.
 *
 * @param message What was not found.
 * @returns The document.
 */
export function notFoundHtml(message: string): string {
  const text = message.replaceAll("&", "&amp;").replaceAll("<", "&lt;");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not found · lsst-extendedness</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/app.css"></head>
<body><header><strong>lsst-extendedness</strong><nav><a href="/">Overview</a>
<a href="/alerts">Alerts</a><a href="/reassociations">Reassociations</a></nav></header>
<main><h1>Not found</h1><p>${text}</p></main></body></html>
`;
}

/** The tab icon: a small ellipse, an extended source. */
export const FAVICON_SVG =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#111"/><ellipse cx="8" cy="8" rx="6" ry="3" fill="#9cf" transform="rotate(-30 8 8)"/></svg>`;
