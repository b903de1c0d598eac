// The trial page (config, metrics, error, curves, environment card, files) and the
// comparison of several trials (config differences, curves overlaid, environment).

import {
  api, badge, enc, fill, fmt, fmtDuration, fmtTime, grid, h, lastPerStep, link, LIVE, pesc, plot,
  POLL_MS, studyHash, table, trialHash,
} from "./util.js";

const card = (title, id, ...body) => h("section", { class: "card", id }, h("h2", {}, title), ...body);
const kv = (pairs, id) => h("table", { class: "kv", id }, h("tbody", {},
  pairs.filter(([, v]) => v !== undefined).map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))));
const json = (v) => h("pre", { class: "json" }, JSON.stringify(v, null, 2));

export async function trialPage(root, page, name, number) {
  const body = h("div", { id: "trial-body" });
  const fileView = h("section", { class: "card", id: "file-card", hidden: true });
  fill(root, body, fileView);
  let t = await api(`/studies/${enc(name)}/trials/${number}`, page);
  renderTrial(body, fileView, name, t, page);
  const key = (x) => JSON.stringify([x.status, x.reports.length, x.value, x.finished_at]);
  page.every(POLL_MS, async () => {
    if (!LIVE.includes(t.status) && t.status !== "PAUSED") return;
    const fresh = await api(`/studies/${enc(name)}/trials/${number}`, page);
    if (page.alive && key(fresh) !== key(t)) renderTrial(body, fileView, name, (t = fresh), page);
  });
}

function renderTrial(body, fileView, name, t, page) {
  const rerun = t.rerun_of !== null && t.rerun_of !== undefined;
  fill(body,
    h("div", { class: "title-row" }, h("h1", {}, `Trial ${t.number}`), badge(t.status),
      h("span", { class: "spacer" }), link(studyHash(name), "← back to the study")),
    h("div", { class: "cards" },
      card("Summary", "trial-summary", kv([
        ["value", fmt(t.value)], ["status", t.status], ["duration", fmtDuration(t.duration)],
        ["started", fmtTime(t.started_at)], ["finished", fmtTime(t.finished_at)], ["attempt", String(t.attempt)],
        ["worker", t.worker ?? "—"], ["resource", fmt(t.resource)], ["step", fmt(t.step)], ["bracket", fmt(t.bracket)],
        ["purpose", t.purpose ?? undefined], ["rerun of", rerun ? link(trialHash(name, t.rerun_of), `trial ${t.rerun_of}`) : undefined],
      ])),
      card("Configuration", "trial-config-card", kv(Object.entries(t.config).map(([k, v]) => [k, fmt(v)]), "trial-config")),
      card("Metrics", "trial-metrics-card", Object.keys(t.metrics).length
        ? kv(Object.entries(t.metrics).map(([k, v]) => [k, fmt(v)]), "trial-metrics") : h("p", { class: "muted" }, "No metrics."))),
    t.error || t.traceback ? card("Error", "trial-error-card", h("p", { id: "trial-error", class: "error-text" }, t.error ?? ""),
      t.traceback ? h("pre", { id: "trial-traceback", class: "traceback" }, t.traceback) : null) : null,
    card("Learning curves", "trial-curves-card", t.reports.length ? h("div", { id: "plot-trial-curves", class: "plot" })
      : h("p", { class: "muted" }, "This trial reported nothing per step.")),
    environmentCard(t.environment),
    card("Files", "trial-files-card", t.files.length
      ? h("ul", { id: "trial-files", class: "files" }, t.files.map((f) => h("li", {},
        h("a", {
          href: `/api/studies/${enc(name)}/trials/${t.number}/files/${f.path.split("/").map(enc).join("/")}`,
          dataset: { path: f.path },
          onclick: (e) => {
            e.preventDefault();
            showFile(fileView, name, t.number, f.path, page).catch((err) => page.report(err));
          },
        }, f.path), h("span", { class: "muted" }, ` ${formatBytes(f.size)}`))))
      : h("p", { class: "muted" }, "No files.")),
    Object.keys(t.user_attrs).length ? card("User attributes", "trial-user-attrs", json(t.user_attrs)) : null,
    h("details", { class: "card" }, h("summary", {}, "System attributes"), json(t.system_attrs)));
  if (t.reports.length) drawTrialCurves(document.getElementById("plot-trial-curves"), t.reports);
}

function drawTrialCurves(el, reports) {
  const metrics = [...new Set(reports.flatMap((r) => Object.keys(r.metrics)))];
  const { axes, layout } = grid(metrics.length, 2);
  const traces = metrics.map((m, i) => {
    const rs = reports.filter((r) => r.metrics[m] !== undefined);
    const { x, y } = lastPerStep(rs.map((r) => r.step), rs.map((r) => r.metrics[m]));
    layout[axes[i].xkey] = { title: { text: "step" } };
    layout[axes[i].ykey] = { title: { text: pesc(m) } };
    return { type: "scatter", mode: "lines+markers", name: pesc(m), x, y, xaxis: axes[i].xaxis, yaxis: axes[i].yaxis,
      marker: { size: 4 }, hovertemplate: `${pesc(m)}<br>step %{x}: %{y}<extra></extra>` };
  });
  return plot(el, traces, { ...layout, showlegend: false });
}

async function showFile(box, name, number, path, page) {
  const got = await api(`/studies/${enc(name)}/trials/${number}/files/${path.split("/").map(enc).join("/")}`,
    { signal: page.signal, text: true });
  fill(box, h("h2", {}, path), got.truncated ? h("p", { class: "note" }, "Only the beginning of the file is shown.") : null,
    h("pre", { id: "file-view" }, got.text));
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

const shellQuote = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${String(a).replace(/'/g, "'\\''")}'`);

function environmentCard(env) {
  if (!env) return card("Environment", "trial-env", h("p", { class: "muted" }, "No environment card was recorded."));
  const py = env.python || {};
  const hw = env.hardware || {};
  const git = env.git || null;
  const os = env.os || {};
  const packages = Object.entries(env.packages || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const gpus = hw.gpu?.devices?.length ? hw.gpu.devices.map((d) => (typeof d === "string" ? d : d.name ?? JSON.stringify(d))).join(", ") : "none";
  return card("Environment", "trial-env",
    kv([
      ["python", `${py.version ?? "?"} (${py.implementation ?? "?"})`],
      ["executable", py.executable ?? "—"],
      ["command line", env.argv ? h("code", {}, env.argv.map(shellQuote).join(" ")) : "—"],
      ["working directory", env.cwd ?? "—"],
      ["host", env.hostname ?? "—"],
      ["os", [os.system, os.release, os.machine].filter(Boolean).join(" ") || "—"],
      ["hardware", `${hw.cpu ?? "?"}, ${hw.cpu_count ?? "?"} CPUs, ${hw.memory_gb ?? "?"} GB; GPUs: ${gpus}`
        + (hw.gpu?.cuda ? ` (CUDA ${hw.gpu.cuda})` : "")],
      ["git", git ? [h("code", { id: "env-git-commit" }, git.commit ?? "?"), ` on ${git.branch ?? "?"}`,
        git.dirty ? h("span", { class: "badge s-failed" }, "dirty") : h("span", { class: "badge s-complete" }, "clean")] : "not a git checkout"],
      ["packages", h("span", { id: "env-packages-count" }, `${packages.length} packages`)],
      ["captured", fmtTime(env.captured_at)],
    ], "trial-env-table"),
    git?.diff ? h("details", {}, h("summary", {}, `uncommitted changes (${git.diff_chars ?? git.diff.length} characters${git.diff_truncated ? ", truncated" : ""})`),
      h("pre", { class: "diff" }, git.diff)) : null,
    h("details", {}, h("summary", {}, `packages (${packages.length}), one per line, ready to diff`),
      h("pre", { id: "env-packages" }, packages.map(([k, v]) => `${k}==${v}`).join("\n"))));
}

// ------------------------------------------------------------------------- compare

export async function comparePage(root, page, name, numbers) {
  const d = await api(`/studies/${enc(name)}/compare?trials=${numbers.join(",")}`, page);
  const ts = d.trials;
  const differing = new Set(d.differing);
  const onlyDiff = h("input", { type: "checkbox", id: "only-diff", onchange: () => {
    for (const tr of rows.querySelectorAll("tr.same")) tr.hidden = onlyDiff.checked;
  } });
  const row = (label, cls, values) => h("tr", { class: cls, dataset: { param: label } }, h("th", {}, label), values.map((v) => h("td", {}, v)));
  const rows = h("tbody", {},
    row("status", "meta", ts.map((t) => badge(t.status))),
    row(d.metric, "meta", ts.map((t) => fmt(t.value))),
    row("duration", "meta", ts.map((t) => fmtDuration(t.duration))),
    d.params.map((p) => row(p, differing.has(p) ? "diff" : "same", ts.map((t) => (p in t.config ? fmt(t.config[p]) : "(inactive)")))));
  const plotEl = h("div", { id: "plot-compare", class: "plot" });
  fill(root,
    h("div", { class: "title-row" }, h("h1", {}, `Comparing trials ${ts.map((t) => t.number).join(", ")}`),
      h("span", { class: "spacer" }), link(studyHash(name), "← back to the study")),
    card("Configuration", "compare-config-card",
      h("p", {}, d.differing.length ? `${d.differing.length} parameter(s) differ: ${d.differing.join(", ")}.` : "Every parameter is the same.",
        " ", h("label", {}, onlyDiff, " only differences")),
      h("table", { id: "compare-config", class: "grid" },
        h("thead", {}, h("tr", {}, h("th", {}, "parameter"), ts.map((t) => h("th", {}, link(trialHash(name, t.number), `trial ${t.number}`))))),
        rows)),
    card(`Learning curves (${d.metric})`, "compare-curves-card", plotEl),
    card("Environment", "compare-env", environmentDiff(d, name)));
  await plot(plotEl, ts.map((t) => {
    const { x, y } = lastPerStep(t.curve.steps, t.curve.values);
    return { type: "scatter", mode: "lines+markers", name: `trial ${t.number}`, x, y, customdata: x.map(() => t.number),
      marker: { size: 4 }, hovertemplate: `trial ${t.number}<br>step %{x}: %{y}<extra></extra>` };
  }), { xaxis: { title: { text: "step" } }, yaxis: { title: { text: pesc(d.metric) } }, legend: { orientation: "h", y: 1.12 } },
  (n) => { location.hash = trialHash(name, n); });
}

function environmentDiff(d, name) {
  const first = d.trials[0].number;
  if (!d.environment.length) return h("p", { class: "muted" }, "No environment cards to compare.");
  return d.environment.map((e) => h("div", { class: "env-diff", dataset: { number: String(e.number) } },
    h("h3", {}, link(trialHash(name, e.number), `trial ${e.number}`), ` against trial ${first}`),
    e.differences.length
      ? table(["what", `trial ${first}`, `trial ${e.number}`], e.differences.map((x) => [x.what, fmt(x.a), fmt(x.b)]), { class: "grid" })
      : h("p", { class: "muted" }, "Same environment.")));
}
