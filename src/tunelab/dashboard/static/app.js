// The dashboard: a hash router over four pages, each built from the JSON API only.
//   #/                          studies
//   #/study/NAME[?tab=T]        one study (trial table and plots)
//   #/study/NAME/trial/N        one trial
//   #/study/NAME/compare/1,2,3  trials side by side

import { studyPage } from "./study.js";
import { comparePage, trialPage } from "./trial.js";
import { ago, api, badge, fill, fmt, h, link, POLL_MS, STATUSES, studyHash } from "./util.js";

/** What a page owns: an abort signal for its requests and its polling loops. */
class Page {
  constructor() {
    this.controller = new AbortController();
    this.signal = this.controller.signal;
    this.timers = new Set();
  }

  get alive() {
    return !this.signal.aborted;
  }

  /** Run ``fn`` now and then every ``ms`` after it finishes (not while the tab is hidden). */
  every(ms, fn) {
    const tick = async () => {
      if (!this.alive) return;
      if (!document.hidden) {
        try {
          await fn();
          showError(null);
        } catch (err) {
          this.report(err);
        }
      }
      if (this.alive) this.timers.add(setTimeout(tick, ms));
    };
    this.timers.add(setTimeout(tick, ms));
  }

  report(err) {
    if (this.alive && err?.name !== "AbortError") showError(err);
  }

  stop() {
    this.controller.abort();
    for (const t of this.timers) clearTimeout(t);
  }
}

function showError(err) {
  const box = document.getElementById("error");
  if (!err) {
    box.hidden = true;
    return;
  }
  fill(box, String(err.message || err));
  box.hidden = false;
}

// ------------------------------------------------------------------------- studies list

async function studiesPage(root, page) {
  const body = h("tbody", { id: "studies-rows" });
  const updated = h("span", { class: "muted", id: "updated" });
  fill(root,
    h("div", { class: "title-row" }, h("h1", {}, "Studies"), updated),
    h("table", { id: "studies-table", class: "grid" },
      h("thead", {}, h("tr", {}, ["Study", "Objectives", "Trials", "By status", "Best", "Last update"]
        .map((c) => h("th", {}, c)))),
      body));

  const draw = async () => {
    const studies = await api("/studies", page);
    if (!page.alive) return;
    fill(body, studies.length ? studies.map((s) => h("tr", { dataset: { study: s.name } },
      h("td", {}, link(studyHash(s.name), s.name)),
      h("td", {}, s.objectives.map(([m, d]) => h("span", { class: "objective" }, `${m} ${d === "min" ? "↓" : "↑"}`))),
      h("td", { class: "num" }, String(s.n_trials)),
      h("td", {}, STATUSES.filter((k) => s.counts[k]).map((k) => badge(k, s.counts[k]))),
      h("td", { class: "num" }, fmt(s.best_value)),
      h("td", { title: s.last_update ? new Date(s.last_update * 1000).toLocaleString() : "" }, ago(s.last_update)),
    )) : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No studies in this store yet.")));
    fill(updated, `updated ${new Date().toLocaleTimeString()}`);
  };
  await draw();
  page.every(POLL_MS, draw);
}

// ------------------------------------------------------------------------- router

function parse(hash) {
  const [path, query = ""] = hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

let current = null;

async function route() {
  current?.stop();
  const page = new Page();
  current = page;
  showError(null);
  const root = document.getElementById("main");
  fill(root, h("p", { class: "muted" }, "Loading…"));
  const { parts, params } = parse(location.hash);
  const crumbs = [link("#/", "studies")];
  if (parts[0] === "study" && parts[1]) crumbs.push(" / ", link(studyHash(parts[1]), parts[1]));
  if (parts[2] === "trial") crumbs.push(" / ", `trial ${parts[3]}`);
  if (parts[2] === "compare") crumbs.push(" / ", "compare");
  fill(document.getElementById("crumbs"), crumbs);
  try {
    if (parts.length === 0) await studiesPage(root, page);
    else if (parts[0] === "study" && parts.length === 2) await studyPage(root, page, parts[1], params);
    else if (parts[0] === "study" && parts[2] === "trial" && parts[3] !== undefined) {
      await trialPage(root, page, parts[1], Number(parts[3]));
    } else if (parts[0] === "study" && parts[2] === "compare" && parts[3]) {
      await comparePage(root, page, parts[1], parts[3].split(",").map(Number).filter(Number.isInteger));
    } else fill(root, h("p", {}, "No such page. "), link("#/", "Back to the studies"));
  } catch (err) {
    if (page.alive && err?.name !== "AbortError") {
      fill(root, h("p", { class: "muted" }, "This page could not be loaded."));
      showError(err);
    }
  }
}

window.addEventListener("hashchange", route);
route();
