// Small helpers shared by the pages: DOM building (text only, never HTML), the JSON API,
// number and time formatting, and Plotly defaults.

export const enc = encodeURIComponent;
export const POLL_MS = 2500; // live updates

/** An element; string children become text nodes, so API text is never parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key in el && typeof value !== "string") {
      el[key] = value; // checked, disabled, value ...
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace the children of ``el``. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export class ApiError extends Error {}

/** GET ``/api`` + path as JSON (or text); raises ApiError with the server's detail. */
export async function api(path, { signal, text = false } = {}) {
  const response = await fetch("/api" + path, { signal, headers: { Accept: "application/json" } });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
      /* not JSON */
    }
    throw new ApiError(`${response.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  if (text) return { text: await response.text(), truncated: response.headers.get("X-Truncated") === "1" };
  return response.json();
}

export function fmt(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(3);
    return String(Number(v.toPrecision(5)));
  }
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

export function fmtTime(ts) {
  return ts ? new Date(ts * 1000).toLocaleString() : "—";
}

export function ago(ts) {
  if (!ts) return "—";
  const s = Math.max(0, Date.now() / 1000 - ts);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ts * 1000).toLocaleDateString();
}

export function fmtDuration(s) {
  if (s === null || s === undefined) return "—";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export const STATUSES = ["WAITING", "RUNNING", "PAUSED", "COMPLETE", "STOPPED", "FAILED"];
export const LIVE = ["RUNNING", "WAITING"];

export function badge(status, count) {
  const label = count === undefined ? status : `${status} ${count}`;
  return h("span", { class: `badge s-${String(status).toLowerCase()}`, title: status }, label);
}

export function link(hash, ...children) {
  return h("a", { href: hash }, ...children);
}

export const studyHash = (name) => `#/study/${enc(name)}`;
export const trialHash = (name, n) => `#/study/${enc(name)}/trial/${n}`;

/** Text for Plotly labels, which understand a little HTML: escape it. */
export function pesc(s) {
  return String(s ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

let webgl;
export function hasWebGL() {
  if (webgl === undefined) {
    try {
      webgl = !!document.createElement("canvas").getContext("webgl");
    } catch {
      webgl = false;
    }
  }
  return webgl;
}

/** Scatter traces: WebGL ones for many points (when the browser has WebGL). */
export const scatterType = (n) => (n > 3000 && hasWebGL() ? "scattergl" : "scatter");

const BASE_LAYOUT = {
  margin: { l: 60, r: 20, t: 30, b: 50 },
  hovermode: "closest",
  uirevision: "keep", // zoom and hidden traces survive live updates
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "#fff",
  font: { family: "system-ui, sans-serif", size: 12 },
};

/** Draw (or update in place) a plot; ``onClickTrial`` gets the trial number of a point. */
export function plot(el, data, layout = {}, onClickTrial = null) {
  const result = window.Plotly.react(el, data, { ...BASE_LAYOUT, ...layout },
    { responsive: true, displaylogo: false });
  if (onClickTrial && !el.dataset.clickable) {
    el.dataset.clickable = "1";
    el.on("plotly_click", (ev) => {
      const n = ev.points?.[0]?.customdata;
      if (Number.isInteger(n)) onClickTrial(n);
    });
  }
  return result;
}

export function purge(el) {
  if (el.data) window.Plotly.purge(el);
}

/** The last value reported at each step, in step order (a trial restarted from scratch
 * after a promotion reports its early steps again). */
export function lastPerStep(steps, values) {
  const by = new Map();
  steps.forEach((s, i) => by.set(s, values[i]));
  const xs = [...by.keys()].sort((a, b) => a - b);
  return { x: xs, y: xs.map((s) => by.get(s)) };
}

/** A table from a header row and rows of cells (strings, numbers or nodes). */
export function table(head, rows, attrs = {}) {
  return h("table", attrs,
    h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((r) => (r instanceof Node ? r : h("tr", {}, r.map((c) => h("td", {}, c)))))));
}

/** A grid of subplot axes for ``n`` panels: [{xaxis, yaxis, xkey, ykey}], and the layout. */
export function grid(n, columns = 3) {
  const cols = Math.min(columns, n);
  const rows = Math.ceil(n / cols);
  const axes = [];
  for (let i = 0; i < n; i++) {
    const k = i === 0 ? "" : String(i + 1);
    axes.push({ xaxis: `x${k}`, yaxis: `y${k}`, xkey: `xaxis${k}`, ykey: `yaxis${k}` });
  }
  return { axes, layout: { grid: { rows, columns: cols, pattern: "independent" }, height: Math.max(320, 280 * rows) } };
}
