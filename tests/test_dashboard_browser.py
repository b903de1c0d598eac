"""The dashboard's pages in a real headless Chromium (Python playwright) against uvicorn
serving a SQLite store: every page loads without console errors, the plots hold the
study's data, the table sorts, filters and selects trials to compare, text from users is
never run as HTML, and an open page picks up trials added while it is open.

Needs Chromium at /usr/bin/chromium (``apt-get install -y chromium``); without it these
tests fail (they do not skip). Never ``playwright install``: the system browser is used.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tunelab import Categorical, Float, Hyperband, Int, Space, Study
from tunelab.analysis import sensitivity
from tunelab.dashboard import create_app

CHROMIUM = os.environ.get("TUNELAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
INSTALL = "apt-get install -y chromium"
SPACE = Space(lr=Float(1e-4, 1.0, log=True), layers=Int(1, 4),
              act=Categorical(["relu", "tanh"]))
EVIL = "<img src=x onerror=window.__pwned=1>"
WAIT_MS = 15_000


def curve(trial: Any) -> dict[str, float]:
    print(f"training trial {trial.number}")
    if trial.number == 3:
        raise RuntimeError("diverged")
    loss = 1.0
    for step in range(1, (trial.resource or 9) + 1):
        loss = abs(trial["lr"] - 0.01) + 1.0 / step + 0.01 * trial["layers"]
        trial.report(step, loss=loss)
    return {"loss": loss}


def quadratic(config: Any) -> float:
    return (config["x"] - 0.3) ** 2


def evil(config: Any) -> float:
    if config["tag"] == EVIL:
        raise RuntimeError("<b id=injected>boom</b>")
    return 1.0


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("dash-browser") / "s.db")
    Study("hb", SPACE, metric="loss", store=path, seed=0,
          scheduler=Hyperband(1, 9, 3)).optimize(curve, n_trials=12)
    Study("mo", Space(x=Float(0, 1)), metric=["a", "b"], direction=["min", "min"], store=path,
          seed=0, capture_environment=False).optimize(
        lambda c: {"a": c["x"], "b": (1 - c["x"]) ** 2 + (0.5 if c["x"] > 0.7 else 0.0)},
        n_trials=10)
    sens = Study("sens", Space(x=Float(0, 1), y=Float(1e-3, 1.0, log=True)), store=path,
                 seed=0, capture_environment=False, searcher="random")
    sens.optimize(quadratic, n_trials=12)  # importance reads the search trials
    sensitivity(sens, quadratic, points=3, repeats=2)
    Study("live", Space(x=Float(0, 1)), store=path, seed=0, searcher="random",
          capture_environment=False).optimize(quadratic, n_trials=3)
    Study("xss", Space(tag=Categorical([EVIL, "plain"])), store=path, seed=0,
          searcher="random", capture_environment=False).optimize(evil, n_trials=6)
    return path


@pytest.fixture(scope="module")
def base(store: str) -> Iterator[str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store, ttl=0.2), host="127.0.0.1",
                                           port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: the dashboard's browser tests need it; "
                    f"install it with `{INSTALL}`", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the dev extra installs it
        pytest.fail("the Python package `playwright` is missing (pip install playwright); "
                    f"the browser itself comes from `{INSTALL}`", pytrace=False)
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as exc:  # any launch failure calls for the same fix
            pytest.fail(f"Chromium at {CHROMIUM} did not start ({exc}); reinstall it with "
                        f"`{INSTALL}`", pytrace=False)
        yield chromium
        chromium.close()


class Tab:
    """A page on the dashboard that records console errors and uncaught exceptions."""

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.set_default_timeout(WAIT_MS)

    def goto(self, hash_: str) -> None:
        self.page.goto(f"{self.base}/{hash_}")

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.base}/api{path}", timeout=10) as r:
            return json.load(r)

    def plot(self, plot_id: str, min_traces: int = 1) -> dict[str, Any]:
        """The plot's traces and layout once it has at least ``min_traces`` traces."""
        self.page.wait_for_function(
            "([id, n]) => (document.getElementById(id)?.data?.length ?? -1) >= n",
            arg=[plot_id, min_traces])
        return self.page.evaluate(
            "id => { const el = document.getElementById(id);"
            " return JSON.parse(JSON.stringify({data: el.data, layout: el.layout})); }", plot_id)

    def tab(self, name: str) -> None:
        self.page.click(f"#tab-{name}")

    def rows(self) -> list[int]:
        return [int(n) for n in self.page.eval_on_selector_all(
            "#trial-rows tr[data-number]", "rs => rs.map(r => r.dataset.number)")]

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each test saves a screenshot of the page it ended on ($TUNELAB_SCREENSHOTS,
    else a temporary folder)."""
    folder = Path(os.environ.get("TUNELAB_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def tab(browser: Any, base: str, screenshots: Path,
        request: pytest.FixtureRequest) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    t = Tab(context.new_page(), base)
    yield t
    shot = screenshots / f"{request.node.name.removeprefix('test_')}.png"
    t.page.screenshot(path=str(shot), full_page=True)
    context.close()
    assert t.errors == [], t.errors
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_studies_page_lists_every_study(tab: Tab) -> None:
    tab.goto("#/")
    tab.page.wait_for_selector("#studies-rows tr[data-study='xss']")
    studies = {s["name"]: s for s in tab.api("/studies")}
    shown = tab.page.eval_on_selector_all(
        "#studies-rows tr", "rs => rs.map(r => [r.dataset.study, r.cells[2].textContent,"
                            " r.cells[3].textContent])")
    assert {row[0] for row in shown} == set(studies)
    hb = next(row for row in shown if row[0] == "hb")
    assert hb[1] == "12" and "FAILED 1" in hb[2]
    tab.page.click("#studies-rows a[href='#/study/hb']")
    tab.page.wait_for_selector("#trial-rows tr[data-number='11']")
    assert tab.page.url.endswith("#/study/hb?tab=trials")


def test_study_page_plots_hold_the_study(tab: Tab) -> None:
    study = tab.api("/studies/hb")
    tab.goto("#/study/hb")
    tab.page.wait_for_selector("#trial-rows tr[data-number='11']")
    assert len(tab.rows()) == 12 and "of 12" in tab.text("#page-info")

    tab.tab("history")
    history = tab.plot("plot-history", 2)["data"]
    assert len(history[0]["x"]) == study["counts"]["COMPLETE"] == 2
    assert history[1]["name"] == "best so far"

    tab.tab("curves")
    curves = tab.api("/studies/hb/curves")["curves"]
    with_reports = [n for n in range(12) if tab.api(f"/studies/hb/trials/{n}")["reports"]]
    traces = tab.plot("plot-curves", len(curves))["data"]
    assert [t["name"] for t in traces] == [f"#{n}" for n in with_reports]
    status = {c["number"]: c["status"] for c in curves}
    for t in traces:
        stopped = status[int(t["name"][1:])] == "STOPPED"
        assert (t["line"].get("dash") == "dash") == stopped, t["name"]

    tab.tab("rungs")
    rungs = tab.api("/studies/hb/rungs")["rungs"]
    bars = tab.plot("plot-rungs", 2)["data"]
    assert {b["name"] for b in bars} == {f"bracket {r['bracket']}" for r in rungs}
    assert sum(sum(b["y"]) for b in bars) == sum(r["trials"] for r in rungs)

    tab.tab("parallel")
    dims = tab.plot("plot-parallel")["data"][0]["dimensions"]
    assert [d["label"].split(" ")[0] for d in dims] == [*study["params"], "loss"]
    act = dims[2]
    assert act["ticktext"] == ["relu", "tanh"] and set(act["values"]) <= {0, 1}

    tab.tab("slices")
    slices = tab.plot("plot-slices", 3)
    assert [t["name"] for t in slices["data"]] == study["params"]
    assert all(len(t["x"]) == 2 for t in slices["data"])
    assert slices["layout"]["xaxis"]["type"] == "log"  # lr

    tab.tab("importance")  # 2 complete trials: not enough, and the page says why
    reason = tab.api("/studies/hb/importance")["reason"]
    tab.page.wait_for_selector("#importance-reason:not([hidden])")
    assert reason in tab.text("#importance-reason")
    tab.tab("sensitivity")
    tab.page.wait_for_selector("#sensitivity-reason:not([hidden])")
    assert tab.page.query_selector("#tab-pareto") is None  # single objective


def test_sensitivity_and_importance(tab: Tab) -> None:
    tab.goto("#/study/sens?tab=sensitivity")
    sens = tab.api("/studies/sens/sensitivity")
    got = tab.plot("plot-sensitivity", 4)
    means = {t["meta"]["param"]: t for t in got["data"] if t["meta"]["kind"] == "mean"}
    assert set(means) == set(sens["curves"]) == {"x", "y"}
    for name, trace in means.items():
        assert trace["y"] == pytest.approx([p["mean"] for p in sens["curves"][name]])
        axis = "xaxis" + trace["xaxis"][1:]
        assert got["layout"][axis]["type"] == ("log" if name == "y" else "linear")
    assert sum(t["meta"]["kind"] == "band" for t in got["data"]) == 2

    tab.tab("importance")
    bars = tab.plot("plot-importance")["data"][0]
    assert bars["y"][-1] == "x" and set(bars["y"]) == {"x", "y"}  # most important on top
    assert len(tab.page.query_selector_all("#good-ranges tbody tr")) == 2


def test_pareto_front(tab: Tab) -> None:
    points = tab.api("/studies/mo/pareto")["points"]
    front = [p for p in points if p["front"]]
    assert 0 < len(front) < len(points)
    tab.goto("#/study/mo?tab=pareto")
    traces = {t["name"]: t for t in tab.plot("plot-pareto", 2)["data"]}
    assert len(traces["Pareto front"]["x"]) == len(front)
    assert len(traces["dominated"]["x"]) == len(points) - len(front)
    assert len(tab.page.query_selector_all("#pareto-table tbody tr")) == len(front)


def test_table_sorts_filters_and_searches_on_the_server(tab: Tab) -> None:
    tab.goto("#/study/hb")
    tab.page.wait_for_selector("#trial-rows tr[data-number='11']")

    def values() -> list[float | None]:
        cells = tab.page.eval_on_selector_all("#trial-rows td.value",
                                              "c => c.map(x => x.dataset.value)")
        return [None if v == "null" else float(v) for v in cells]

    tab.page.click("th[data-sort='value']")
    tab.page.wait_for_selector("#trial-table[data-sort='value'][data-order='asc']")
    got = values()
    present = [v for v in got if v is not None]
    assert present == sorted(present) and got[-1] is None and len(got) == 12
    tab.page.click("th[data-sort='value']")
    tab.page.wait_for_selector("#trial-table[data-sort='value'][data-order='desc']")
    present = [v for v in values() if v is not None]
    assert present == sorted(present, reverse=True)

    tab.page.select_option("#status-filter", "FAILED")
    tab.page.wait_for_selector("#trial-table[data-status='FAILED']")
    assert tab.rows() == [3]
    tab.page.select_option("#status-filter", "")
    tab.page.fill("#trial-search", "tanh")
    tab.page.wait_for_selector("#trial-table[data-q='tanh']")
    tanh = [r["number"] for r in tab.api("/studies/hb/trials?q=tanh&sort=value&order=desc")["rows"]]
    assert tab.rows() == tanh and tanh


def test_compare_selected_trials(tab: Tab) -> None:
    tab.goto("#/study/hb")
    tab.page.wait_for_selector("#trial-rows tr[data-number='11']")
    assert tab.page.is_disabled("#compare-btn")
    tab.page.check("#trial-rows tr[data-number='0'] input[type=checkbox]")
    tab.page.check("#trial-rows tr[data-number='7'] input[type=checkbox]")
    tab.page.click("#compare-btn")
    tab.page.wait_for_selector("#compare-config")
    assert tab.page.url.endswith("#/study/hb/compare/0,7")
    expected = tab.api("/studies/hb/compare?trials=0,7")
    shown = tab.page.eval_on_selector_all("#compare-config tr.diff",
                                          "rs => rs.map(r => r.dataset.param)")
    assert shown == expected["differing"] and "lr" in shown
    traces = tab.plot("plot-compare", 2)["data"]
    assert [t["name"] for t in traces] == ["trial 0", "trial 7"]
    assert "Same environment" in tab.text("#compare-env")


def test_trial_pages(tab: Tab) -> None:
    tab.goto("#/study/hb/trial/3")
    tab.page.wait_for_selector("#trial-traceback")
    assert "diverged" in tab.text("#trial-error")
    assert "RuntimeError: diverged" in tab.text("#trial-traceback")
    tab.page.click("#trial-files a[data-path='stderr.log']")
    tab.page.wait_for_selector("#file-view")
    assert "RuntimeError: diverged" in tab.text("#file-view")

    best = tab.api("/studies/hb")["best"]["number"]  # complete: it reported steps 1 to 9
    tab.goto(f"#/study/hb/trial/{best}")
    trial = tab.api(f"/studies/hb/trials/{best}")
    traces = tab.plot("plot-trial-curves")["data"]
    assert [t["name"] for t in traces] == ["loss"] and traces[0]["x"] == list(range(1, 10))
    env = trial["environment"]
    assert tab.text("#env-packages-count") == f"{len(env['packages'])} packages"
    listed = tab.page.text_content("#env-packages") or ""
    assert listed.splitlines() == [f"{k}=={v}" for k, v in sorted(env["packages"].items())]
    assert env["python"]["version"] in tab.text("#trial-env")
    if env.get("git"):
        assert tab.text("#env-git-commit") == env["git"]["commit"]
    tab.page.click("#trial-files a[data-path='stdout.log']")
    tab.page.wait_for_selector("#file-view")
    assert tab.text("#file-view").startswith(f"training trial {best}")


def test_text_from_users_is_never_html(tab: Tab) -> None:
    tab.goto("#/study/xss")
    tab.page.wait_for_selector("#trial-rows tr[data-number='5']")
    assert EVIL in tab.text("#trial-table")
    failed = [r["number"] for r in tab.api("/studies/xss/trials?status=FAILED")["rows"]]
    assert failed and "<b id=injected>boom</b>" in tab.text("#trial-table")
    tab.tab("parallel")
    tab.plot("plot-parallel")
    tab.goto(f"#/study/xss/trial/{failed[0]}")
    tab.page.wait_for_selector("#trial-error")
    assert "<b id=injected>" in tab.text("#trial-error")
    assert tab.page.evaluate("() => [window.__pwned, !!document.getElementById('injected'),"
                             " document.querySelectorAll('main img').length]") == [None, False, 0]


def test_an_open_page_shows_new_trials(tab: Tab, store: str) -> None:
    tab.goto("#/study/live")
    tab.page.wait_for_selector("#trial-rows tr[data-number='2']")
    assert len(tab.rows()) == 3
    live = Study("live", store=store)
    live.optimize(quadratic, n_trials=1)
    tab.page.wait_for_selector("#trial-rows tr[data-number='3']")  # the table, by itself
    assert "4" in tab.text("#study-n-trials")

    tab.tab("history")
    assert len(tab.plot("plot-history", 2)["data"][0]["x"]) == 4
    live.optimize(quadratic, n_trials=1)
    tab.page.wait_for_function(
        "() => document.getElementById('plot-history').data[0].x.length === 5")
