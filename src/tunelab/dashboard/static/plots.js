// The study page's plot tabs. Each ``draw*(panel, ctx)`` builds its panel on first use,
// then fetches its data and redraws in place (Plotly.react), so live updates keep zoom.
// ctx: { name, study() (the latest /api/studies/NAME), page (abort signal), open(n) }.

import {
  api, badge, enc, fill, fmt, grid, h, hasWebGL, lastPerStep, link, pesc, plot, purge,
  scatterType, STATUSES, table, trialHash,
} from "./util.js";

const PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#eeca3b", "#9d755d", "#ff9da6"];
// Complete curves: no grey (stopped), orange (paused), green (running) or red (failed).
const CURVE_COLOURS = ["#4c78a8", "#b279a2", "#72b7b2", "#9d755d", "#1f3a93", "#eeca3b", "#6b4c9a", "#17becf"];

/** Build the panel's elements once; return them by id. */
function skeleton(panel, make) {
  if (!panel.firstChild) fill(panel, make());
  return Object.fromEntries([...panel.querySelectorAll("[id]")].map((el) => [el.id, el]));
}

/** Show ``text`` in ``el``, or hide it when there is none. */
function say(el, text) {
  el.hidden = !text;
  fill(el, text || "");
}

const note = (id) => h("p", { id, class: "note", hidden: true });
const plotDiv = (id) => h("div", { id, class: "plot" });

/** A categorical value as a label. */
const label = (v) => (typeof v === "string" ? v : JSON.stringify(v));

// ------------------------------------------------------------------------- history

export async function drawHistory(panel, ctx) {
  const els = skeleton(panel, () => [note("history-note"), plotDiv("plot-history")]);
  const d = await api(`/studies/${enc(ctx.name)}/history`, ctx.page);
  if (!ctx.page.alive) return;
  const pts = d.points;
  say(els["history-note"], pts.length ? "" : "No complete trial yet.");
  const x = pts.map((p) => p.number);
  await plot(els["plot-history"], [
    { type: scatterType(pts.length), mode: "markers", name: "value", x, y: pts.map((p) => p.value),
      customdata: x, marker: { size: 6, color: "#4c78a8", opacity: 0.75 },
      hovertemplate: "trial %{x}<br>value %{y}<extra></extra>" },
    { type: "scatter", mode: "lines", name: "best so far", x, y: pts.map((p) => p.best),
      line: { shape: "hv", color: "#e45756", width: 2 }, hoverinfo: "skip" },
  ], {
    xaxis: { title: { text: "trial" } },
    yaxis: { title: { text: pesc(`${d.metric} (${d.direction})`) } },
    legend: { orientation: "h", y: 1.12 },
  }, ctx.open);
}

// ------------------------------------------------------------------------- learning curves

function curveStyle(status, number, last) {
  const end = (symbol, color) => ({
    mode: "lines+markers",
    marker: { symbol, color, size: Array.from({ length: last + 1 }, (_, i) => (i === last ? 10 : 0)) },
  });
  switch (status) {
    case "STOPPED": return { line: { dash: "dash", color: "#a0a0a0", width: 1 }, opacity: 0.8 };
    case "FAILED": return { line: { dash: "dot", color: "#d62728", width: 1 } };
    case "PAUSED": return { line: { dash: "dot", color: "#f58518", width: 1.5 }, ...end("square-open", "#f58518") };
    case "RUNNING": return { line: { color: "#2ca02c", width: 2 }, ...end("circle", "#2ca02c") };
    default: return { line: { color: CURVE_COLOURS[number % CURVE_COLOURS.length], width: 1.5 } };
  }
}

export async function drawCurves(panel, ctx) {
  const study = ctx.study();
  const metrics = study.metrics.length ? study.metrics : [study.metric];
  const els = skeleton(panel, () => [
    h("div", { class: "controls" },
      h("label", {}, "metric ", h("select", {
        id: "curves-metric",
        onchange: () => drawCurves(panel, ctx).catch((e) => ctx.page.report(e)),
      }, metrics.map((m) => h("option", { value: m, selected: m === study.metric }, m)))),
      h("span", { class: "legend" },
        h("span", { class: "key complete" }, "complete"), h("span", { class: "key stopped" }, "stopped"),
        h("span", { class: "key paused" }, "paused ◻"), h("span", { class: "key running" }, "running ●"),
        h("span", { class: "key failed" }, "failed"))),
    note("curves-note"), plotDiv("plot-curves"),
  ]);
  const metric = els["curves-metric"].value || study.metric;
  const d = await api(`/studies/${enc(ctx.name)}/curves?metric=${enc(metric)}`, ctx.page);
  if (!ctx.page.alive) return;
  say(els["curves-note"], d.curves.length
    ? `${d.curves.length} most recent trial(s) with reports of ${d.metric}; click a curve to open its trial.`
    : `No trial has reported ${d.metric} yet.`);
  const traces = d.curves.map((c) => {
    const { x, y } = lastPerStep(c.steps, c.values);
    return {
      type: "scatter", mode: "lines", x, y, name: `#${c.number}`, showlegend: false,
      customdata: x.map(() => c.number),
      hovertemplate: `trial ${c.number} (${pesc(c.status)})<br>step %{x}<br>%{y}<extra></extra>`,
      ...curveStyle(c.status, c.number, x.length - 1),
    };
  });
  await plot(els["plot-curves"], traces, {
    xaxis: { title: { text: "step" } }, yaxis: { title: { text: pesc(d.metric) } },
  }, ctx.open);
}

// ------------------------------------------------------------------------- rungs

export async function drawRungs(panel, ctx) {
  const els = skeleton(panel, () => [note("rungs-note"), plotDiv("plot-rungs"), h("div", { id: "rungs-table-box" })]);
  const d = await api(`/studies/${enc(ctx.name)}/rungs`, ctx.page);
  if (!ctx.page.alive) return;
  const sched = d.scheduler || {};
  const params = Object.entries(sched).filter(([k]) => k !== "name").map(([k, v]) => `${k} ${fmt(v)}`);
  say(els["rungs-note"], `Scheduler ${sched.name ?? "?"}${params.length ? ` (${params.join(", ")})` : ""}: `
    + (d.rungs.length ? "configurations that reached each rung, per bracket." : "no trial has reached a rung yet."));
  const bracketOf = (r) => (r.bracket === null || r.bracket === undefined ? "–" : String(r.bracket));
  const brackets = [...new Set(d.rungs.map(bracketOf))];
  const resources = [...new Set(d.rungs.map((r) => r.resource))].sort((a, b) => a - b).map(String);
  const traces = brackets.map((b, i) => {
    const rows = d.rungs.filter((r) => bracketOf(r) === b);
    return {
      type: "bar", name: `bracket ${pesc(b)}`, x: rows.map((r) => String(r.resource)), y: rows.map((r) => r.trials),
      marker: { color: PALETTE[i % PALETTE.length] },
      text: rows.map((r) => Object.entries(r.statuses).map(([s, n]) => `${pesc(s)} ${n}`).join("<br>")),
      textposition: "none",
      customdata: rows.map((r) => fmt(r.consumed)),
      hovertemplate: `bracket ${pesc(b)}, resource %{x}<br>%{y} configuration(s) reached it`
        + "<br>ended here: %{text}<br>resource consumed by those %{customdata}<extra></extra>",
    };
  });
  await plot(els["plot-rungs"], traces, {
    barmode: "group",
    xaxis: { title: { text: "rung (resource)" }, type: "category", categoryorder: "array", categoryarray: resources },
    yaxis: { title: { text: "configurations" } },
  });
  fill(els["rungs-table-box"], table(["Bracket", "Resource", "Reached", "Ended here", "Resource consumed"],
    d.rungs.map((r) => [bracketOf(r), String(r.resource), String(r.trials),
      STATUSES.filter((s) => r.statuses[s]).map((s) => badge(s, r.statuses[s])), fmt(r.consumed)]),
    { id: "rungs-table", class: "grid" }));
}

// ------------------------------------------------------------------------- parallel coordinates

function dimension(name, p, spec) {
  if (p.type === "categorical") {
    const keys = (spec?.choices ?? []).map((c) => JSON.stringify(c));
    const values = p.values.map((v) => {
      const k = JSON.stringify(v);
      if (!keys.includes(k)) keys.push(k);
      return keys.indexOf(k);
    });
    return {
      label: pesc(name), values, tickvals: keys.map((_, i) => i),
      ticktext: keys.map((k) => pesc(label(JSON.parse(k)))), range: [0, Math.max(1, keys.length - 1)],
    };
  }
  if (p.log) {
    const values = p.values.map((v) => Math.log10(v));
    const finite = values.filter(Number.isFinite);
    const low = spec?.low > 0 ? Math.log10(spec.low) : finite.reduce((a, b) => Math.min(a, b), 0);
    const high = spec?.high > 0 ? Math.log10(spec.high) : finite.reduce((a, b) => Math.max(a, b), 1);
    const [lo, hi] = [Math.floor(low), Math.max(Math.ceil(high), Math.floor(low) + 1)];
    const ticks = [];
    for (let k = lo; k <= hi; k++) ticks.push(k);
    return { label: pesc(`${name} (log)`), values, tickvals: ticks, ticktext: ticks.map((k) => `1e${k}`), range: [lo, hi] };
  }
  return { label: pesc(name), values: p.values };
}

// Parallel coordinates draw every line with WebGL: cap them (slow without a GPU).
const MAX_LINES = 3000;
const BEST_LINES = 1000;

/** Indexes of the trials to draw: all, or the best BEST_LINES and the most recent others. */
function linesToDraw(values, direction) {
  const all = values.map((_, i) => i);
  if (values.length <= MAX_LINES) return all;
  const sign = direction === "max" ? -1 : 1;
  const best = new Set([...all].sort((a, b) => sign * (values[a] - values[b])).slice(0, BEST_LINES));
  for (let i = values.length - 1; i >= 0 && best.size < MAX_LINES; i--) best.add(i);
  return [...best].sort((a, b) => a - b);
}

export async function drawParallel(panel, ctx) {
  const els = skeleton(panel, () => [note("parallel-note"), plotDiv("plot-parallel")]);
  const d = await api(`/studies/${enc(ctx.name)}/slices`, ctx.page);
  if (!ctx.page.alive) return;
  const problem = !hasWebGL() ? "Parallel coordinates need WebGL, which this browser lacks."
    : !d.values.length ? "No complete trial yet." : "";
  const keep = linesToDraw(d.values, d.direction);
  say(els["parallel-note"], problem || "Drag along an axis to select a range; colour is the metric."
    + (keep.length < d.values.length ? ` Showing the best ${BEST_LINES.toLocaleString()} and the most recent `
      + `of ${d.values.length.toLocaleString()} complete trials (${keep.length.toLocaleString()} lines).` : ""));
  if (problem) return purge(els["plot-parallel"]);
  const space = ctx.study().space || {};
  const pick = (values) => keep.map((i) => values[i]);
  const dims = Object.entries(d.params).map(([name, p]) => dimension(name, { ...p, values: pick(p.values) }, space[name]));
  const values = pick(d.values);
  dims.push({ label: pesc(d.metric), values });
  await plot(els["plot-parallel"], [{
    type: "parcoords", dimensions: dims,
    line: { color: values, colorscale: "Viridis", reversescale: d.direction === "min", showscale: true,
      colorbar: { title: { text: pesc(d.metric) } } },
  }], { margin: { l: 70, r: 70, t: 60, b: 30 } });
}

// ------------------------------------------------------------------------- slices

export async function drawSlices(panel, ctx) {
  const els = skeleton(panel, () => [note("slices-note"), plotDiv("plot-slices")]);
  const d = await api(`/studies/${enc(ctx.name)}/slices`, ctx.page);
  if (!ctx.page.alive) return;
  const names = Object.keys(d.params);
  say(els["slices-note"], d.values.length ? "Each complete trial's value against each parameter (darker: later)." : "No complete trial yet.");
  if (!names.length) return purge(els["plot-slices"]);
  const { axes, layout } = grid(names.length);
  const cols = layout.grid.columns;
  const traces = names.map((name, i) => {
    const p = d.params[name];
    const cat = p.type === "categorical";
    layout[axes[i].xkey] = { title: { text: pesc(name) }, type: p.log ? "log" : cat ? "category" : "linear" };
    layout[axes[i].ykey] = { title: { text: i % cols === 0 ? pesc(d.metric) : "" } };
    return {
      type: scatterType(d.values.length), mode: "markers", name: pesc(name), showlegend: false,
      x: cat ? p.values.map((v) => pesc(label(v))) : p.values, y: d.values,
      xaxis: axes[i].xaxis, yaxis: axes[i].yaxis, customdata: d.numbers,
      marker: { size: 6, opacity: 0.8, color: d.numbers, colorscale: "Blues", reversescale: true, cmin: 0,
        showscale: i === 0, colorbar: { title: { text: "trial" }, thickness: 12 } },
      hovertemplate: `trial %{customdata}<br>${pesc(name)} %{x}<br>value %{y}<extra></extra>`,
    };
  });
  await plot(els["plot-slices"], traces, { ...layout, margin: { l: 60, r: 20, t: 20, b: 50 } }, ctx.open);
}

// ------------------------------------------------------------------------- importance

export async function drawImportance(panel, ctx) {
  const els = skeleton(panel, () => [note("importance-reason"), plotDiv("plot-importance"), note("importance-note"),
    h("div", { id: "good-ranges-box" })]);
  const d = await api(`/studies/${enc(ctx.name)}/importance`, ctx.page);
  if (!ctx.page.alive) return;
  if (!d.available) {
    say(els["importance-reason"], `Importance is not available yet: ${d.reason}`);
    say(els["importance-note"], "");
    fill(els["good-ranges-box"]);
    return purge(els["plot-importance"]);
  }
  say(els["importance-reason"], "");
  const imp = d.importance;
  const names = Object.keys(imp.scores).sort((a, b) => imp.scores[a] - imp.scores[b]);
  await plot(els["plot-importance"], [{
    type: "bar", orientation: "h", name: "importance", x: names.map((n) => imp.scores[n]), y: names.map(pesc),
    error_x: { type: "data", array: names.map((n) => imp.std?.[n] ?? 0), visible: true },
    marker: { color: "#4c78a8" }, hovertemplate: "%{y}: %{x:.3f}<extra></extra>",
  }], {
    xaxis: { title: { text: "share of the variance (fANOVA)" }, rangemode: "tozero" },
    yaxis: { automargin: true }, height: Math.max(240, 36 * names.length + 110),
  });
  say(els["importance-note"], `From ${imp.n_trials} complete trials; interactions between parameters `
    + `account for ${fmt(imp.interactions)} of the variance.`);
  const rows = Object.values(d.good_ranges).sort((a, b) => (imp.scores[b.name] ?? 0) - (imp.scores[a.name] ?? 0));
  fill(els["good-ranges-box"], h("h3", {}, "Good ranges (where the best trials lie)"),
    table(["Parameter", "Importance", "Good range", "10%–90%", "Observed", "Best trial", "Share of range", "Top trials"],
      rows.map((r) => [r.name, fmt(imp.scores[r.name]),
        r.kind === "categorical" ? Object.entries(r.values).map(([k, n]) => `${k} (${n})`).join(", ") : `${fmt(r.low)} – ${fmt(r.high)}`,
        r.kind === "categorical" ? "" : `${fmt(r.q10)} – ${fmt(r.q90)}`,
        r.kind === "categorical" ? "" : `${fmt(r.observed_low)} – ${fmt(r.observed_high)}`,
        fmt(r.best), fmt(r.share_of_range), String(r.n_top)]),
      { id: "good-ranges", class: "grid" }));
}

// ------------------------------------------------------------------------- sensitivity

export async function drawSensitivity(panel, ctx) {
  const els = skeleton(panel, () => [note("sensitivity-reason"), plotDiv("plot-sensitivity")]);
  const d = await api(`/studies/${enc(ctx.name)}/sensitivity`, ctx.page);
  if (!ctx.page.alive) return;
  if (!d.available) {
    say(els["sensitivity-reason"], "No sensitivity runs in this study: tunelab.analysis.sensitivity(study, "
      + "objective) varies each parameter alone around a baseline and records them here.");
    return purge(els["plot-sensitivity"]);
  }
  say(els["sensitivity-reason"], `Mean ± std of ${d.metric} over seeds, one parameter varied at a time`
    + (d.baseline ? "; the dotted line marks the baseline." : "."));
  const space = ctx.study().space || {};
  const names = Object.keys(d.curves);
  const { axes, layout } = grid(names.length);
  const cols = layout.grid.columns;
  const traces = [];
  const shapes = [];
  names.forEach((name, i) => {
    const pts = d.curves[name];
    const spec = space[name] || {};
    const cat = spec.type === "categorical" || pts.some((p) => typeof p.value !== "number");
    const x = pts.map((p) => (cat ? pesc(label(p.value)) : p.value));
    const on = { xaxis: axes[i].xaxis, yaxis: axes[i].yaxis, showlegend: false };
    if (!cat) {
      traces.push({ ...on, type: "scatter", mode: "lines", name: `±std ${pesc(name)}`, meta: { kind: "band", param: name },
        x: [...x, ...[...x].reverse()],
        y: [...pts.map((p) => p.mean + p.std), ...pts.map((p) => p.mean - p.std).reverse()],
        fill: "toself", fillcolor: "rgba(76,120,168,0.2)", line: { width: 0 }, hoverinfo: "skip" });
    }
    traces.push({ ...on, type: "scatter", mode: "lines+markers", name: pesc(name), meta: { kind: "mean", param: name },
      x, y: pts.map((p) => p.mean), line: { color: "#4c78a8" },
      error_y: cat ? { type: "data", array: pts.map((p) => p.std), visible: true } : undefined,
      customdata: pts.map((p) => [fmt(p.std), p.n]),
      hovertemplate: `${pesc(name)} = %{x}<br>mean %{y}<br>std %{customdata[0]}, n %{customdata[1]}<extra></extra>` });
    layout[axes[i].xkey] = { title: { text: pesc(name) }, type: spec.log ? "log" : cat ? "category" : "linear" };
    layout[axes[i].ykey] = { title: { text: i % cols === 0 ? pesc(d.metric) : "" } };
    const base = d.baseline?.[name];
    if (!cat && typeof base === "number") {
      shapes.push({ type: "line", xref: axes[i].xaxis, yref: `${axes[i].yaxis} domain`, x0: base, x1: base, y0: 0, y1: 1,
        line: { dash: "dot", color: "#e45756", width: 1 } });
    }
  });
  await plot(els["plot-sensitivity"], traces, { ...layout, shapes });
}

// ------------------------------------------------------------------------- Pareto front

export async function drawPareto(panel, ctx) {
  const els = skeleton(panel, () => [note("pareto-note"), plotDiv("plot-pareto"), h("div", { id: "pareto-table-box" })]);
  const d = await api(`/studies/${enc(ctx.name)}/pareto`, ctx.page);
  if (!ctx.page.alive) return;
  const objs = d.objectives;
  const front = d.points.filter((p) => p.front).sort((a, b) => a.values[0] - b.values[0]);
  const rest = d.points.filter((p) => !p.front);
  say(els["pareto-note"], !d.points.length ? "No complete trial with every objective yet."
    : `${front.length} of ${d.points.length} complete trials are on the front`
      + (objs.length > 2 ? "; the plot shows the first two objectives, the table all of them." : "."));
  const hover = (p) => `trial ${p.number}<br>` + Object.entries(p.config).map(([k, v]) => `${pesc(k)}: ${pesc(fmt(v))}`).join("<br>");
  const trace = (pts, extra) => ({
    type: scatterType(pts.length), x: pts.map((p) => p.values[0]), y: pts.map((p) => p.values[1]),
    customdata: pts.map((p) => p.number), text: pts.map(hover), hovertemplate: "%{text}<extra></extra>", ...extra,
  });
  const axis = (i) => ({ title: { text: pesc(`${objs[i]?.[0]} (${objs[i]?.[1]})`) } });
  await plot(els["plot-pareto"], [
    trace(rest, { name: "dominated", mode: "markers", marker: { color: "#b0b0b0", size: 6 } }),
    trace(front, { name: "Pareto front", type: "scatter", mode: "lines+markers",
      marker: { color: "#e45756", size: 9 }, line: { color: "#e45756", dash: "dot", width: 1 } }),
  ], { xaxis: axis(0), yaxis: axis(1), legend: { orientation: "h", y: 1.12 } }, ctx.open);
  fill(els["pareto-table-box"], table(["Trial", ...objs.map(([m, dir]) => `${m} (${dir})`), "Configuration"],
    front.map((p) => [link(trialHash(ctx.name, p.number), `#${p.number}`), ...p.values.map(fmt),
      Object.entries(p.config).map(([k, v]) => `${k}=${fmt(v)}`).join(", ")]),
    { id: "pareto-table", class: "grid" }));
}
