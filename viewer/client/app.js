// The viewer's browser side: every page is a shell (`data-page`) that this script fills from
// the JSON API. Values are put in the page as text nodes (never as HTML), ids larger than 2^53
// are kept as their exact digits, and a list's filter lives in the URL so links can be shared
// and the back button works. Served as /assets/app.js; charts are uPlot (/assets/uplot.js).
/* global uPlot */
"use strict";

(() => {
  const main = document.getElementById("main");
  const page = document.body.dataset.page;
  const pageId = document.body.dataset.id ?? null;

  // Okabe–Ito colours: told apart with colour-blind vision too.
  const BAND_COLORS = {
    u: "#56b4e9",
    g: "#009e73",
    r: "#d55e00",
    i: "#cc79a7",
    z: "#0072b2",
    y: "#e69f00",
  };
  const OTHER_COLOR = "#666666";
  const REASON_COLORS = {
    new_association: "#009e73",
    changed_association: "#d55e00",
    updated_timestamp: "#0072b2",
    association_removed: "#cc79a7",
  };
  const REASONS = Object.keys(REASON_COLORS);
  const BANDS = Object.keys(BAND_COLORS);
  const STRETCHES = ["zscale", "asinh", "linear"];
  const KINDS = ["science", "template", "difference"];

  // Element builder: attributes, then children (strings become text nodes).
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes ?? {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // Integers beyond 2^53 (DIASource and SSObject ids) stay exact, as strings of digits.
  function parseJson(text) {
    return JSON.parse(text, (_key, value, context) => {
      if (typeof value !== "number" || Number.isSafeInteger(value)) return value;
      const source = context?.source;
      return source !== undefined && /^-?\d+$/.test(source) ? source : value;
    });
  }

  async function api(path) {
    const response = await fetch(path, { headers: { accept: "application/json" } });
    const body = parseJson(await response.text());
    if (!response.ok) throw new Error(body.error ?? `${response.status} ${response.statusText}`);
    return body;
  }

  function number(value, digits = 2) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "string") return value;
    return Number.isInteger(value) ? value.toLocaleString("en") : value.toFixed(digits);
  }

  const mjd = (value) => number(value, 5);
  const id = (value) => value === null || value === undefined ? "—" : String(value);
  const alertLink = (value) =>
    value === null || value === undefined ? "—" : el("a", { href: `/alerts/${value}` }, id(value));
  const ssLink = (value) =>
    value === null || value === undefined
      ? "—"
      : el("a", { href: `/ss-objects/${value}` }, id(value));

  function table(className, header, rows) {
    return el(
      "table",
      { class: className },
      el("thead", null, el("tr", null, header.map((h) => el("th", null, h)))),
      el("tbody", null, rows),
    );
  }

  function thumbnails(alertId, available) {
    if (!available) return el("span", { class: "muted" }, "no cutouts");
    return el(
      "span",
      { class: "thumbs" },
      KINDS.map((kind) =>
        el("img", {
          class: "thumb",
          src: `/api/alerts/${alertId}/cutouts/${kind}.png`,
          alt: `${kind} cutout of ${alertId}`,
          title: kind,
          width: 48,
          height: 48,
          dataset: { kind },
        })
      ),
    );
  }

  function section(title, ...content) {
    return el("section", null, el("h2", null, title), ...content);
  }

  function showError(error) {
    main.replaceChildren(el("p", { class: "error", role: "alert" }, error.message));
  }

  // A uPlot chart; `setup` gets the container so tests can read what was drawn.
  function chart(title, options, data, attributes = {}) {
    const box = el("div", { class: "chart", ...attributes });
    const width = Math.min(960, Math.max(320, main.clientWidth - 16));
    const plot = new uPlot({ title, width, height: 260, ...options }, data, box);
    box.plot = plot;
    return box;
  }

  // MJDs without thousands separators; nights as whole numbers.
  function mjdAxis(label, whole = false) {
    return {
      label,
      ...(whole ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] } : {}),
      values: (_u, splits) =>
        splits.map((v) => v === null ? "" : String(+v.toFixed(whole ? 0 : 4))),
    };
  }

  // One x value would make uPlot span 0 to twice it: pad around it instead.
  const xScale = {
    time: false,
    range: (_u, min, max) => min === max ? [min - 1, max + 1] : [min, max],
  };

  function pointsOnly(label, color, size = 6) {
    return { label, stroke: color, fill: color, paths: () => null, points: { show: true, size } };
  }

  // Rows per x value for series keyed by a category (band, reason): one array each.
  function pivot(rows, xKey, seriesKey, valueKey, seriesOrder) {
    const xs = [...new Set(rows.map((r) => r[xKey]))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const keys = [...new Set(rows.map((r) => r[seriesKey] ?? "?"))].sort((a, b) => {
      const ia = seriesOrder.indexOf(a);
      const ib = seriesOrder.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || String(a).localeCompare(String(b));
    });
    const series = keys.map(() => xs.map(() => 0));
    for (const r of rows) {
      series[keys.indexOf(r[seriesKey] ?? "?")][index.get(r[xKey])] += r[valueKey];
    }
    return { xs, keys, series };
  }

  // ---- Overview -------------------------------------------------------------------------

  async function overview() {
    const stats = await api("/api/stats");
    const counts = table(
      "counts",
      ["table", "rows"],
      Object.entries(stats.tables).map(([name, n]) =>
        el("tr", null, el("td", null, name), el("td", { class: "num" }, number(n)))
      ),
    );
    const runs = table(
      "runs",
      ["run", "source", "status", "started (UTC)", "alerts", "alerts/s", "quarantined", "reassoc."],
      stats.runs.map((r) =>
        el(
          "tr",
          null,
          el("td", null, r.runId),
          el("td", null, r.source),
          el("td", { class: `status-${r.status}` }, r.status),
          el("td", null, r.startedAt.replace("T", " ").slice(0, 19)),
          el("td", { class: "num" }, number(r.alertsIngested)),
          el("td", { class: "num" }, number(r.alertsPerSecond)),
          el("td", { class: "num" }, number(r.alertsQuarantined)),
          el("td", { class: "num" }, number(r.reassociationsDetected)),
        )
      ),
    );
    const range = stats.mjdRange === null
      ? "no alerts yet"
      : `alerts from MJD ${mjd(stats.mjdRange.min)} to ${mjd(stats.mjdRange.max)}, ` +
        `${number(stats.solarSystemAlerts)} of them solar-system`;
    main.replaceChildren(
      el("h1", null, "Overview"),
      el("p", { id: "summary" }, range),
      el("div", { class: "columns" }, section("Tables", counts), section("Recent runs", runs)),
    );
    const perNight = pivot(stats.alertsPerNight, "night", "band", "alerts", BANDS);
    main.append(section(
      "Alerts per night and band (the latest 366 nights of the data)",
      perNight.xs.length === 0 ? el("p", { class: "muted" }, "No alerts yet") : chart(
        "",
        {
          scales: { x: xScale },
          axes: [mjdAxis("night (MJD)", true), { label: "alerts", size: 60 }],
          series: [
            { label: "night" },
            ...perNight.keys.map((band) => ({
              label: band,
              stroke: BAND_COLORS[band] ?? OTHER_COLOR,
              width: 2,
              points: { show: true },
            })),
          ],
        },
        [perNight.xs, ...perNight.series],
        { id: "alerts-per-night", dataset: { nights: perNight.xs.length } },
      ),
    ));
    const detections = pivot(
      stats.reassociationsPerNight,
      "night",
      "reason",
      "detections",
      REASONS,
    );
    main.append(section(
      "Reassociations per night and reason (the same nights)",
      detections.xs.length === 0
        ? el("p", { class: "muted", id: "reassociations-per-night" }, "No reassociations yet")
        : chart(
          "",
          {
            scales: { x: xScale },
            axes: [mjdAxis("night (MJD)", true), { label: "detections", size: 60 }],
            series: [
              { label: "night" },
              ...detections.keys.map((reason) => ({
                label: reason.replace("_", " "),
                stroke: REASON_COLORS[reason] ?? OTHER_COLOR,
                width: 2,
                points: { show: true },
              })),
            ],
          },
          [detections.xs, ...detections.series],
          { id: "reassociations-per-night" },
        ),
    ));
    // uPlot draws scatter plots from x-sorted data with one y series per kind.
    const sky = [...stats.sky].sort((a, b) => a.ra - b.ra);
    main.append(section(
      "Sky map",
      el(
        "p",
        { class: "muted" },
        `The latest ${number(sky.filter((s) => !s.solarSystem).length)} alerts and the ` +
          "latest solar-system alerts (RA, Dec in degrees).",
      ),
      sky.length === 0 ? el("p", { class: "muted" }, "No alerts yet") : chart(
        "",
        {
          height: 360,
          scales: { x: { time: false, range: [0, 360] }, y: { range: [-90, 90] } },
          axes: [{ label: "RA (°)" }, { label: "Dec (°)" }],
          cursor: { drag: { x: true, y: true } },
          series: [
            { label: "RA" },
            pointsOnly("alerts", "#0072b2", 3),
            pointsOnly("solar-system", "#d55e00", 6),
          ],
        },
        [
          sky.map((s) => s.ra),
          sky.map((s) => s.solarSystem ? null : s.dec),
          sky.map((s) => s.solarSystem ? s.dec : null),
        ],
        { id: "sky-map", dataset: { points: sky.length } },
      ),
    ));
  }

  // ---- Lists with their filter in the URL ---------------------------------------------------

  function listPage(title, form, fetchRows, renderRows) {
    const count = el("p", { id: "row-count" });
    const body = el("div", { id: "rows" });
    const pager = el("nav", { class: "pager" });
    main.replaceChildren(el("h1", null, title), form, count, body, pager);

    function fillForm(params) {
      for (const field of form.elements) {
        if (field.name) field.value = params.get(field.name) ?? field.dataset.default ?? "";
      }
    }

    function formParams() {
      const params = new URLSearchParams();
      for (const field of form.elements) {
        if (!field.name || field.value === "" || field.value === "any") continue;
        if (field.value === field.dataset.default) continue;
        params.set(field.name, field.value);
      }
      return params;
    }

    async function show() {
      const params = new URLSearchParams(location.search);
      fillForm(params);
      const offset = Number(params.get("offset") ?? 0);
      const limit = Number(params.get("limit") ?? 50);
      let result;
      try {
        result = await fetchRows(params);
      } catch (error) {
        count.textContent = "";
        body.replaceChildren(el("p", { class: "error", role: "alert" }, error.message));
        pager.replaceChildren();
        return;
      }
      const total = result.totalIsExact
        ? number(result.total)
        : `more than ${number(result.total)}`;
      count.textContent = result.total === 0
        ? "No rows match"
        : `${total} match; showing ${number(offset + 1)}–${number(offset + result.rows.length)}`;
      count.dataset.total = String(result.total);
      count.dataset.exact = String(result.totalIsExact);
      count.dataset.shown = String(result.rows.length);
      body.replaceChildren(renderRows(result.rows));
      const link = (label, to) => {
        const next = new URLSearchParams(params);
        if (to === 0) next.delete("offset");
        else next.set("offset", String(to));
        return el("a", {
          href: `?${next}`,
          rel: label === "Next" ? "next" : "prev",
          onclick: (event) => {
            event.preventDefault();
            history.pushState(null, "", `?${next}`);
            show();
          },
        }, label);
      };
      pager.replaceChildren(
        offset > 0 ? link("Previous", Math.max(0, offset - limit)) : "",
        offset + result.rows.length < result.total ? link("Next", offset + limit) : "",
      );
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const query = formParams().toString();
      history.pushState(null, "", query === "" ? location.pathname : `?${query}`);
      show();
    });
    addEventListener("popstate", show);
    show();
  }

  function field(label, input) {
    return el("label", null, el("span", null, label), input);
  }

  function select(name, options, defaultValue = "") {
    return el(
      "select",
      { name, dataset: { default: defaultValue } },
      options.map(([value, text]) => el("option", { value }, text)),
    );
  }

  const input = (name, placeholder, step = "any") =>
    el("input", { name, type: "number", step, placeholder, inputmode: "decimal" });

  function alerts() {
    const form = el(
      "form",
      { class: "filters", id: "alert-filters" },
      field("MJD from", input("from_mjd", "60000")),
      field("MJD to", input("to_mjd", "61000")),
      field("band", select("band", [["", "any"], ...BANDS.map((b) => [b, b])])),
      field("solar system", select("solar_system", [["", "any"], ["yes", "yes"], ["no", "no"]])),
      field(
        "reassociated",
        select("reassociated", [["", "any"], ["yes", "yes"], ["no", "no"]]),
      ),
      field("extendedness ≥", input("min_extendedness", "0")),
      field("extendedness ≤", input("max_extendedness", "1")),
      field("reliability ≥", input("min_reliability", "0.5")),
      field("SNR ≥", input("min_snr", "5")),
      field(
        "sort",
        select("sort", [
          ["time", "time"],
          ["snr", "SNR"],
          ["extendedness", "extendedness"],
          ["reliability", "reliability"],
          ["flux", "flux"],
          ["id", "DIASource id"],
        ], "time"),
      ),
      field("order", select("order", [["desc", "descending"], ["asc", "ascending"]], "desc")),
      el("button", { type: "submit" }, "Apply"),
      el("a", { href: "/alerts", class: "reset" }, "Reset"),
    );
    listPage(
      "Alerts",
      form,
      (params) => api(`/api/alerts?${params}`),
      (rows) =>
        table(
          "alerts",
          [
            "cutouts",
            "DIASource",
            "MJD (TAI)",
            "band",
            "PSF flux (nJy)",
            "SNR",
            "ext.",
            "rel.",
            "SSObject",
            "reassociation",
          ],
          rows.map((a) =>
            el(
              "tr",
              { dataset: { id: a.diaSourceId } },
              el("td", null, thumbnails(a.diaSourceId, a.hasCutoutFiles || a.hasRawPayload)),
              el("td", null, alertLink(a.diaSourceId)),
              el("td", { class: "num" }, mjd(a.midpointMjdTai)),
              el("td", null, a.band ?? "—"),
              el("td", { class: "num" }, `${number(a.psfFlux, 1)} ± ${number(a.psfFluxErr, 1)}`),
              el("td", { class: "num" }, number(a.snr, 1)),
              el("td", { class: "num" }, number(a.extendedness)),
              el("td", { class: "num" }, number(a.reliability)),
              el("td", null, ssLink(a.ssObjectId)),
              el("td", null, a.isReassociation ? (a.reassociationReason ?? "yes") : ""),
            )
          ),
        ),
    );
  }

  function reassociations() {
    const form = el(
      "form",
      { class: "filters", id: "reassociation-filters" },
      field(
        "reason",
        select("reason", [["", "any"], ...REASONS.map((r) => [r, r.replace("_", " ")])]),
      ),
      field("run", input("run_id", "1", "1")),
      el("button", { type: "submit" }, "Apply"),
      el("a", { href: "/reassociations", class: "reset" }, "Reset"),
    );
    listPage(
      "Reassociations",
      form,
      (params) => api(`/api/reassociations?${params}`),
      (rows) =>
        table(
          "reassociations",
          [
            "observed (MJD)",
            "reason",
            "DIASource",
            "SSObject before → after",
            "found in alert",
            "",
          ],
          rows.map((d) =>
            el(
              "tr",
              { dataset: { id: d.id } },
              el("td", { class: "num" }, mjd(d.observedMjd)),
              el("td", { class: `reason reason-${d.reason}` }, d.reason.replace("_", " ")),
              el("td", null, id(d.diaSourceId)),
              el("td", null, ssLink(d.oldSsObjectId), " → ", ssLink(d.newSsObjectId)),
              el(
                "td",
                null,
                d.alertDiaSourceId === null ? "a snapshot" : alertLink(d.alertDiaSourceId),
              ),
              el(
                "td",
                null,
                d.alertDiaSourceId === null
                  ? ""
                  : thumbnails(d.alertDiaSourceId, d.alertHasCutouts),
              ),
            )
          ),
        ),
    );
  }

  // ---- One alert --------------------------------------------------------------------------

  async function alertPage() {
    const alert = await api(`/api/alerts/${pageId}`);
    const images = KINDS.map((kind) =>
      el("img", {
        class: "cutout",
        src: `${alert.cutouts[kind]}?stretch=zscale`,
        alt: `${kind} cutout`,
        width: 200,
        height: 200,
        dataset: { kind },
      })
    );
    const stretch = el(
      "select",
      {
        id: "stretch",
        onchange: () => {
          images.forEach((img, i) =>
            img.src = `${alert.cutouts[KINDS[i]]}?stretch=${stretch.value}`
          );
        },
      },
      STRETCHES.map((s) => el("option", { value: s }, s)),
    );
    const figures = el(
      "div",
      { class: "cutouts", id: "cutouts" },
      KINDS.map((kind, i) =>
        el(
          "figure",
          null,
          images[i],
          el(
            "figcaption",
            null,
            kind,
            " · ",
            el(
              "a",
              { href: alert.cutouts[kind].replace(/\.png$/, ".fits"), download: true },
              "FITS",
            ),
          ),
        )
      ),
    );
    const fields = [
      ["DIASource", id(alert.diaSourceId)],
      ["alert id", id(alert.alertId)],
      ["DIAObject", id(alert.diaObjectId)],
      ["SSObject", ssLink(alert.ssObjectId)],
      ["SSObject name", alert.ssObjectName ?? "—"],
      ["SSObject reassociation time (MJD)", mjd(alert.ssObjectReassocTimeMjdTai)],
      ["midpoint (MJD TAI)", mjd(alert.midpointMjdTai)],
      ["RA, Dec (°)", `${number(alert.ra, 6)}, ${number(alert.dec, 6)}`],
      ["band", alert.band ?? "—"],
      ["PSF flux (nJy)", `${number(alert.psfFlux, 2)} ± ${number(alert.psfFluxErr, 2)}`],
      ["SNR", number(alert.snr)],
      ["extendedness", number(alert.extendedness, 3)],
      ["reliability", number(alert.reliability, 3)],
      ["visit, detector", `${id(alert.visit)}, ${id(alert.detector)}`],
      ["reassociation", alert.isReassociation ? (alert.reassociationReason ?? "yes") : "no"],
      ["schema, survey, source", `${alert.schemaVersion}, ${alert.survey}, ${alert.source}`],
      ["run, stored at", `${id(alert.runId)}, ${alert.ingestedAt}`],
    ];
    main.replaceChildren(
      el("h1", null, `Alert ${alert.diaSourceId}`),
      el(
        "p",
        { class: "badges" },
        alert.ssObjectId !== null ? el("span", { class: "badge ss" }, "solar system") : "",
        alert.isReassociation
          ? el("span", { class: "badge reassoc" }, alert.reassociationReason ?? "reassociation")
          : "",
        alert.snapshot ? el("span", { class: "badge" }, "from a snapshot") : "",
      ),
      section(
        "Cutouts",
        el("label", { class: "inline" }, "stretch ", stretch),
        figures,
      ),
      section(
        "Fields",
        el(
          "table",
          { class: "fields" },
          el(
            "tbody",
            null,
            fields.map(([k, v]) => el("tr", null, el("th", null, k), el("td", null, v))),
          ),
        ),
        alert.properties === null ? "" : el(
          "details",
          null,
          el("summary", null, `Every source property (${Object.keys(alert.properties).length})`),
          el(
            "table",
            { class: "fields" },
            el(
              "tbody",
              null,
              Object.entries(alert.properties).map(([k, v]) =>
                el("tr", null, el("th", null, k), el("td", null, v === null ? "—" : String(v)))
              ),
            ),
          ),
        ),
      ),
    );
    const curve = section("Light curve");
    main.append(curve);
    if (alert.diaObjectId === null) {
      curve.append(el(
        "p",
        { class: "muted", id: "lightcurve" },
        "A solar-system alert has no DIAObject: see its SSObject's page for its other detections.",
      ));
    } else {
      await lightCurve(curve, alert);
    }
    // The alert's own DIASource, then each DIASource a detection in this alert is about.
    const timelines = section("Association timeline");
    timelines.id = "timelines";
    main.append(timelines);
    const sources = [alert.diaSourceId];
    for (const d of alert.detections) {
      if (!sources.includes(d.diaSourceId)) sources.push(d.diaSourceId);
    }
    for (const source of sources) {
      timelines.append(await timeline(source, alert.diaSourceId));
    }
  }

  async function lightCurve(container, alert) {
    const curve = await api(`/api/objects/${alert.diaObjectId}/lightcurve`);
    const xs = curve.points.map((p) => p.midpointMjdTai);
    const bands = [...new Set(curve.points.map((p) => p.band ?? "?"))].sort((a, b) =>
      (BANDS.indexOf(a) + 99) % 99 - (BANDS.indexOf(b) + 99) % 99
    );
    const series = bands.map((band) =>
      curve.points.map((p) => (p.band ?? "?") === band ? p.psfFlux : null)
    );
    const mark = curve.points.map((p) => p.diaSourceId === alert.diaSourceId ? p.psfFlux : null);
    const errors = curve.points.map((p) => p.psfFluxErr);
    // Error bars: drawn under the points, from each point's flux error.
    const whiskers = (u) => {
      const { ctx } = u;
      ctx.save();
      ctx.lineWidth = 1;
      for (let s = 1; s <= bands.length; s++) {
        ctx.strokeStyle = u.series[s].stroke();
        for (let i = 0; i < xs.length; i++) {
          const y = u.data[s][i];
          const e = errors[i];
          if (y === null || e === null) continue;
          const x = u.valToPos(xs[i], "x", true);
          ctx.beginPath();
          ctx.moveTo(x, u.valToPos(y - e, "y", true));
          ctx.lineTo(x, u.valToPos(y + e, "y", true));
          ctx.stroke();
        }
      }
      ctx.restore();
    };
    const plotted = series.flat().filter((v) => v !== null).length;
    container.append(
      el(
        "p",
        { class: "muted" },
        `DIAObject ${alert.diaObjectId}: ${curve.points.length} stored alerts` +
          (curve.historyOnly.length > 0
            ? `; ${curve.historyOnly.length} earlier detections are known only from histories ` +
              "(no flux stored)"
            : ""),
      ),
      chart(
        "",
        {
          scales: { x: xScale },
          axes: [mjdAxis("MJD (TAI)"), { label: "PSF flux (nJy)", size: 70 }],
          hooks: { drawSeries: [], draw: [whiskers] },
          series: [
            { label: "MJD" },
            ...bands.map((band) => pointsOnly(band, BAND_COLORS[band] ?? OTHER_COLOR, 7)),
            {
              label: "this alert",
              stroke: "#000000",
              paths: () => null,
              points: { show: true, size: 14, width: 2, fill: "transparent" },
            },
          ],
        },
        [xs, ...series, mark],
        {
          id: "lightcurve",
          dataset: {
            points: plotted,
            object: alert.diaObjectId,
            marked: mark.some((v) => v !== null),
          },
        },
      ),
    );
  }

  async function timeline(sourceId, alertId) {
    const t = await api(`/api/sources/${sourceId}/timeline`);
    const rows = [];
    const detections = [...t.detections];
    for (const o of t.observations) {
      rows.push(el(
        "tr",
        { class: `observation ${o.kind}` },
        el("td", { class: "num" }, mjd(o.time)),
        el(
          "td",
          null,
          o.kind === "alert"
            ? "its alert"
            : o.kind === "history"
            ? "in the history of"
            : "snapshot",
        ),
        el("td", null, o.alertDiaSourceId === null ? "—" : alertLink(o.alertDiaSourceId)),
        el("td", null, ssLink(o.ssObjectId)),
        el("td", { class: "num" }, mjd(o.reassocTime)),
      ));
      // A detection follows the observation that fired it.
      for (let i = 0; i < detections.length; i++) {
        const d = detections[i];
        const here = d.observedMjd === o.time &&
          (d.alertDiaSourceId === null
            ? o.alertDiaSourceId === null
            : d.alertDiaSourceId === o.alertDiaSourceId);
        if (!here) continue;
        rows.push(detectionRow(d, alertId));
        detections.splice(i--, 1);
      }
    }
    for (const d of detections) rows.push(detectionRow(d, alertId));
    const state = t.state === null
      ? "not tracked yet"
      : `now ${
        t.state.ssObjectId === null ? "with no SSObject" : `with SSObject ${t.state.ssObjectId}`
      }, ` +
        `seen ${t.state.timesSeen === 1 ? "once" : `${t.state.timesSeen} times`} from MJD ${
          mjd(t.state.firstSeenMjd)
        } to ${mjd(t.state.lastSeenMjd)}`;
    return el(
      "div",
      { class: "timeline", dataset: { source: sourceId, detections: t.detections.length } },
      el("h3", null, `DIASource ${sourceId}`, sourceId === alertId ? " (this alert's)" : ""),
      el("p", { class: "muted" }, state),
      table("timeline", ["MJD (TAI)", "observation", "alert", "SSObject", "reassoc. time"], rows),
    );
  }

  function detectionRow(d, alertId) {
    return el(
      "tr",
      {
        class: `detection reason-${d.reason}`,
        dataset: { reason: d.reason, alert: d.alertDiaSourceId ?? "" },
      },
      el("td", { class: "num" }, mjd(d.observedMjd)),
      el(
        "td",
        { colspan: 4 },
        "▲ ",
        d.reason.replace("_", " "),
        ": ",
        ssLink(d.oldSsObjectId),
        " → ",
        ssLink(d.newSsObjectId),
        d.alertDiaSourceId === alertId ? " (found in this alert)" : "",
      ),
    );
  }

  // ---- One SSObject ------------------------------------------------------------------------

  async function ssObjectPage() {
    const ss = await api(`/api/ss-objects/${pageId}`);
    const timed = ss.sources.filter((s) => s.midpointMjdTai !== null);
    main.replaceChildren(
      el(
        "h1",
        null,
        `SSObject ${ss.ssObjectId}`,
        ss.ssObjectName === null ? "" : ` (${ss.ssObjectName})`,
      ),
      el(
        "p",
        { id: "summary" },
        `${ss.sources.length} DIASources, ${ss.detections.length} detections`,
      ),
      section(
        "Position over time",
        timed.length === 0
          ? el("p", { class: "muted" }, "No alert of its DIASources is stored")
          : chart(
            "",
            {
              scales: { x: xScale, ra: { auto: true }, dec: { auto: true } },
              axes: [mjdAxis("MJD (TAI)"), { label: "RA (°)", scale: "ra" }, {
                label: "Dec (°)",
                scale: "dec",
                side: 1,
              }],
              series: [
                { label: "MJD" },
                { ...pointsOnly("RA", "#0072b2"), scale: "ra" },
                { ...pointsOnly("Dec", "#d55e00"), scale: "dec" },
              ],
            },
            [timed.map((s) => s.midpointMjdTai), timed.map((s) => s.ra), timed.map((s) => s.dec)],
            { id: "ss-track", dataset: { points: timed.length } },
          ),
      ),
      section(
        "DIASources",
        table(
          "sources",
          [
            "DIASource",
            "MJD (TAI)",
            "band",
            "RA, Dec (°)",
            "its alert's SSObject",
            "now",
            "first with this SSObject",
          ],
          ss.sources.map((s) =>
            el(
              "tr",
              { dataset: { id: s.diaSourceId } },
              el(
                "td",
                null,
                s.midpointMjdTai === null ? id(s.diaSourceId) : alertLink(s.diaSourceId),
              ),
              el("td", { class: "num" }, mjd(s.midpointMjdTai)),
              el("td", null, s.band ?? "—"),
              el(
                "td",
                { class: "num" },
                s.ra === null ? "—" : `${number(s.ra, 5)}, ${number(s.dec, 5)}`,
              ),
              el("td", null, ssLink(s.alertSsObjectId)),
              el("td", null, ssLink(s.currentSsObjectId)),
              el("td", { class: "num" }, mjd(s.firstAssociatedMjd)),
            )
          ),
        ),
      ),
      section(
        "Detections",
        table(
          "detections",
          ["observed (MJD)", "reason", "DIASource", "before → after", "found in alert"],
          ss.detections.map((d) =>
            el(
              "tr",
              { class: `detection reason-${d.reason}` },
              el("td", { class: "num" }, mjd(d.observedMjd)),
              el("td", null, d.reason.replace("_", " ")),
              el("td", null, id(d.diaSourceId)),
              el("td", null, ssLink(d.oldSsObjectId), " → ", ssLink(d.newSsObjectId)),
              el(
                "td",
                null,
                d.alertDiaSourceId === null ? "a snapshot" : alertLink(d.alertDiaSourceId),
              ),
            )
          ),
        ),
      ),
    );
  }

  const pages = {
    overview,
    alerts,
    alert: alertPage,
    reassociations,
    "ss-object": ssObjectPage,
  };
  Promise.resolve()
    .then(() => pages[page]())
    .then(() => document.body.dataset.ready = "true")
    .catch((error) => {
      showError(error);
      document.body.dataset.ready = "error";
    });
})();
