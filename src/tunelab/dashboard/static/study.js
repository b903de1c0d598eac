// The study page: a header, the trial table (paged, sorted and filtered on the server)
// and one tab per plot. Only the visible tab is fetched and drawn; every POLL_MS the
// study's counts are read again and the visible tab redrawn when trials changed (the
// learning curves also while trials run).

import {
  drawCurves, drawHistory, drawImportance, drawParallel, drawPareto, drawRungs, drawSensitivity,
  drawSlices,
} from "./plots.js";
import {
  ago, api, badge, enc, fill, fmt, fmtDuration, h, link, LIVE, POLL_MS, STATUSES, studyHash, trialHash,
} from "./util.js";

const PAGE_SIZE = 50;
const RUNG_SCHEDULERS = new Set(["asha", "async_hyperband", "successive_halving", "hyperband"]);
const TABS = [
  ["trials", "Trials", null],
  ["history", "History", drawHistory],
  ["curves", "Learning curves", drawCurves],
  ["rungs", "Rungs", drawRungs],
  ["parallel", "Parallel coordinates", drawParallel],
  ["slices", "Slices", drawSlices],
  ["importance", "Importance", drawImportance],
  ["sensitivity", "Sensitivity", drawSensitivity],
  ["pareto", "Pareto front", drawPareto],
];

// Tabs whose data is costly to compute on the server are redrawn at most this often.
const MIN_REFRESH_MS = { importance: 20_000, parallel: 10_000 };

/** What changes when trials are added or finish. */
const signature = (s) => JSON.stringify([s.n_trials, s.counts, s.last_update]);

export async function studyPage(root, page, name, params) {
  let study = await api(`/studies/${enc(name)}`, page);
  const tabs = TABS.filter(([key]) => (key !== "rungs" || RUNG_SCHEDULERS.has(study.scheduler?.name))
    && (key !== "pareto" || study.objectives.length > 1));
  let active = tabs.some(([key]) => key === params.get("tab")) ? params.get("tab") : "trials";
  const ctx = {
    name, page, study: () => study,
    open: (n) => { location.hash = trialHash(name, n); },
  };
  const header = h("section", { id: "study-header" });
  const panels = Object.fromEntries(tabs.map(([key]) => [key, h("section", { id: `panel-${key}`, class: "panel" })]));
  const buttons = Object.fromEntries(tabs.map(([key, label]) => [key, h("button", {
    id: `tab-${key}`, class: "tab", role: "tab", onclick: () => select(key).catch((e) => page.report(e)),
  }, label)]));
  fill(root, header, h("nav", { class: "tabs", role: "tablist" }, Object.values(buttons)), Object.values(panels));

  const trials = new TrialTable(panels.trials, name, () => study, page);
  let drawnAt = 0;
  let pending = false; // trials changed since the visible tab was drawn
  const draw = () => {
    drawnAt = Date.now();
    pending = false;
    return active === "trials" ? trials.load() : TABS.find(([k]) => k === active)[2](panels[active], ctx);
  };

  async function select(key) {
    active = key;
    for (const [k, panel] of Object.entries(panels)) {
      panel.hidden = k !== key;
      buttons[k].classList.toggle("active", k === key);
      buttons[k].setAttribute("aria-selected", String(k === key));
    }
    history.replaceState(null, "", `${studyHash(name)}?tab=${key}`);
    await draw();
  }

  renderHeader(header, study);
  await select(active);
  let seen = signature(study);
  page.every(POLL_MS, async () => {
    const fresh = await api(`/studies/${enc(name)}`, page);
    if (!page.alive) return;
    study = fresh;
    pending ||= signature(fresh) !== seen;
    seen = signature(fresh);
    renderHeader(header, fresh);
    // Running trials report new steps without changing the counts: curves follow them.
    const running = active === "curves" && LIVE.some((s) => fresh.counts[s]);
    if ((pending || running) && Date.now() - drawnAt >= (MIN_REFRESH_MS[active] ?? 0)) await draw();
  });
}

function renderHeader(el, s) {
  const live = LIVE.some((k) => s.counts[k]);
  const objectives = s.objectives.map(([m, d]) => `${m} (${d})`).join(", ");
  fill(el,
    h("div", { class: "title-row" }, h("h1", {}, s.name),
      live ? h("span", { class: "live", title: "trials are running; this page updates itself" }, "● live") : null),
    h("dl", { class: "facts" },
      h("dt", {}, "objective"), h("dd", {}, objectives),
      h("dt", {}, "searcher"), h("dd", {}, s.searcher?.name ?? "—"),
      h("dt", {}, "scheduler"), h("dd", {}, s.scheduler?.name ?? "—"),
      h("dt", {}, "trials"), h("dd", { id: "study-n-trials" }, String(s.n_trials), " ",
        STATUSES.filter((k) => s.counts[k]).map((k) => badge(k, s.counts[k]))),
      h("dt", {}, "best"), h("dd", {}, s.best
        ? [fmt(s.best.value), " (", link(trialHash(s.name, s.best.number), `trial ${s.best.number}`), ")"] : "—"),
      h("dt", {}, "last update"), h("dd", {}, ago(s.last_update))));
}

// ------------------------------------------------------------------------- trial table

class TrialTable {
  constructor(panel, name, study, page) {
    this.name = name;
    this.study = study;
    this.page = page;
    this.state = { offset: 0, sort: "number", order: "asc", status: "", q: "" };
    this.selected = new Set();
    this.seq = 0;
    const s = study();
    this.columns = [
      { label: "#", sort: "number", cell: (r) => link(trialHash(name, r.number), String(r.number)) },
      { label: "status", sort: "status", cell: (r) => badge(r.status) },
      { label: s.metric, sort: "value", cls: "num value", cell: (r) => fmt(r.value), data: (r) => String(r.value) },
      ...s.params.map((p) => ({ label: p, sort: `config.${p}`, cls: "num", cell: (r) => fmt(r.config[p]) })),
      ...s.metrics.filter((m) => m !== s.metric).slice(0, 4).map((m) => (
        { label: m, sort: `metrics.${m}`, cls: "num", cell: (r) => fmt(r.metrics[m]) })),
      { label: "duration", sort: "duration", cls: "num", cell: (r) => fmtDuration(r.duration) },
      { label: "notes", cell: notes },
    ];
    const debounce = { t: null };
    this.body = h("tbody", { id: "trial-rows" });
    this.head = h("tr", {});
    this.table = h("table", { id: "trial-table", class: "grid" }, h("thead", {}, this.head), this.body);
    this.info = h("span", { id: "page-info" });
    this.prev = h("button", { id: "page-prev", onclick: () => this.go(this.state.offset - PAGE_SIZE) }, "‹ prev");
    this.next = h("button", { id: "page-next", onclick: () => this.go(this.state.offset + PAGE_SIZE) }, "next ›");
    this.compare = h("button", { id: "compare-btn", class: "primary", onclick: () => this.openCompare() }, "compare");
    fill(panel,
      h("div", { class: "controls" },
        h("label", {}, "status ", h("select", {
          id: "status-filter", onchange: (e) => this.set({ status: e.target.value }),
        }, h("option", { value: "" }, "all"), STATUSES.map((k) => h("option", { value: k }, k)))),
        h("input", {
          id: "trial-search", type: "search", placeholder: "search configs, errors, #", "aria-label": "search",
          oninput: (e) => {
            clearTimeout(debounce.t);
            debounce.t = setTimeout(() => this.set({ q: e.target.value.trim() }), 300);
          },
        }),
        this.compare,
        h("button", { id: "clear-selection", onclick: () => { this.selected.clear(); this.render(this.rows || []); } }, "clear selection"),
        h("span", { class: "spacer" }), this.prev, this.info, this.next),
      h("div", { class: "table-wrap" }, this.table));
  }

  set(change) {
    Object.assign(this.state, change, { offset: 0 });
    this.load().catch((e) => this.page.report(e));
  }

  go(offset) {
    this.state.offset = Math.max(0, offset);
    this.load().catch((e) => this.page.report(e));
  }

  sortBy(key) {
    const { sort, order } = this.state;
    this.set({ sort: key, order: sort === key && order === "asc" ? "desc" : "asc" });
  }

  openCompare() {
    const numbers = [...this.selected].sort((a, b) => a - b);
    if (numbers.length >= 2) location.hash = `${studyHash(this.name)}/compare/${numbers.join(",")}`;
  }

  async load() {
    const seq = ++this.seq;
    const { offset, sort, order, status, q } = this.state;
    const query = new URLSearchParams({ offset, limit: PAGE_SIZE, sort, order });
    if (status) query.set("status", status);
    if (q) query.set("q", q);
    const got = await api(`/studies/${enc(this.name)}/trials?${query}`, this.page);
    if (seq !== this.seq || !this.page.alive) return; // a newer request is on its way
    if (got.rows.length === 0 && offset > 0 && got.total > 0) return this.go(Math.floor((got.total - 1) / PAGE_SIZE) * PAGE_SIZE);
    this.total = got.total;
    this.render(got.rows);
    Object.assign(this.table.dataset, { sort, order, status, q, offset: String(offset), total: String(got.total), seq: String(seq) });
  }

  render(rows) {
    this.rows = rows;
    const { sort, order, offset } = this.state;
    fill(this.head, h("th", { class: "check" }), this.columns.map((c) => h("th", {
      class: c.sort ? `sortable${c.sort === sort ? ` sorted ${order}` : ""}` : "",
      dataset: c.sort ? { sort: c.sort } : {},
      title: c.sort ? "sort by this column" : null,
      onclick: c.sort ? () => this.sortBy(c.sort) : null,
    }, c.label, c.sort === sort ? (order === "asc" ? " ▲" : " ▼") : "")));
    fill(this.body, rows.length ? rows.map((r) => h("tr", { dataset: { number: String(r.number) }, class: `row-${r.status.toLowerCase()}` },
      h("td", { class: "check" }, h("input", {
        type: "checkbox", "aria-label": `select trial ${r.number}`, checked: this.selected.has(r.number),
        onchange: (e) => {
          if (e.target.checked) this.selected.add(r.number);
          else this.selected.delete(r.number);
          this.updateCompare();
        },
      })),
      this.columns.map((c) => h("td", { class: c.cls || null, dataset: c.data ? { value: c.data(r) } : {} }, c.cell(r))),
    )) : h("tr", {}, h("td", { colspan: this.columns.length + 1, class: "muted" }, "No trials match.")));
    const total = this.total ?? 0;
    fill(this.info, total ? `${offset + 1}–${Math.min(offset + PAGE_SIZE, total)} of ${total}` : "0 trials");
    this.prev.disabled = offset <= 0;
    this.next.disabled = offset + PAGE_SIZE >= total;
    this.updateCompare();
  }

  updateCompare() {
    const n = this.selected.size;
    this.compare.disabled = n < 2 || n > 20;
    fill(this.compare, n ? `compare ${n} selected` : "compare (select 2+)");
  }
}

function notes(r) {
  if (r.error) return h("span", { class: "error-text", title: r.error }, r.error.length > 80 ? `${r.error.slice(0, 80)}…` : r.error);
  const bits = [];
  if (r.purpose) bits.push(r.purpose);
  if (r.resource !== null && r.resource !== undefined) bits.push(`resource ${fmt(r.resource)}`);
  if (r.bracket !== null && r.bracket !== undefined) bits.push(`bracket ${r.bracket}`);
  if (r.rerun_of !== null && r.rerun_of !== undefined) bits.push(`rerun of #${r.rerun_of}`);
  return h("span", { class: "muted" }, bits.join(" · "));
}
