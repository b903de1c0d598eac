"""The dashboard's JSON API over a real SQLite store: every endpoint, the trial table at
scale, Host and token checks, and a corpus of path-traversal payloads against the file
endpoint."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tunelab import Categorical, Float, Hyperband, Int, Space, Study, TrialStatus
from tunelab.analysis import sensitivity
from tunelab.dashboard import create_app

SPACE = Space(lr=Float(1e-4, 1.0, log=True), layers=Int(1, 4),
              act=Categorical(["relu", "tanh"]))


def curve(trial: Any) -> dict[str, float]:
    print(f"training trial {trial.number}")
    if trial.number == 3:
        raise RuntimeError("diverged")
    top = trial.resource or 9
    loss = 1.0
    for step in range(1, top + 1):
        loss = abs(trial["lr"] - 0.01) + 1.0 / step + 0.01 * trial["layers"]
        trial.report(step, loss=loss)
    return {"loss": loss}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("dash")
    path = str(root / "s.db")
    hb = Study("hb", SPACE, metric="loss", store=path, seed=0, scheduler=Hyperband(1, 9, 3))
    hb.optimize(curve, n_trials=12)
    mo = Study("mo", Space(x=Float(0, 1)), metric=["a", "b"], direction=["min", "min"],
               store=path, seed=0)
    mo.optimize(lambda c: {"a": c["x"], "b": (1 - c["x"]) ** 2}, n_trials=10)
    sens = Study("sens", Space(x=Float(0, 1), y=Float(0, 1)), store=path, seed=0,
                 searcher="random")
    sens.optimize(lambda c: (c["x"] - 0.3) ** 2, n_trials=20)  # importance: search trials
    sensitivity(sens, lambda c: (c["x"] - 0.3) ** 2, points=3, repeats=2)
    return path


@pytest.fixture(scope="module")
def client(store: str) -> TestClient:
    return TestClient(create_app(store, ttl=0.0), base_url="http://127.0.0.1")


def test_studies_and_a_study(client: TestClient) -> None:
    got = {s["name"]: s for s in client.get("/api/studies").json()}
    assert set(got) == {"hb", "mo", "sens"}
    assert got["mo"]["best_value"] is None  # a front, not one best value
    assert client.get("/api/studies/sens").json()["purposes"] == {"sensitivity": 14}
    assert got["sens"]["n_trials"] == 20 + 14
    assert got["hb"]["n_trials"] == 12 and got["hb"]["counts"]["FAILED"] == 1
    hb = client.get("/api/studies/hb").json()
    assert hb["params"] == ["lr", "layers", "act"] and hb["metrics"] == ["loss"]
    assert hb["best"]["status"] == "COMPLETE" and hb["scheduler"]["name"] == "hyperband"
    assert client.get("/api/studies/nope").status_code == 404


def test_trial_table_pages_sorts_and_filters(client: TestClient) -> None:
    page = client.get("/api/studies/hb/trials", params={"limit": 5, "offset": 5}).json()
    assert page["total"] == 12 and [r["number"] for r in page["rows"]] == [5, 6, 7, 8, 9]
    by_value = client.get("/api/studies/hb/trials",
                          params={"sort": "value", "limit": 100}).json()["rows"]
    values = [r["value"] for r in by_value if r["value"] is not None]
    assert values == sorted(values) and by_value[-1]["value"] is None  # missing last
    failed = client.get("/api/studies/hb/trials", params={"status": "FAILED"}).json()
    assert [r["number"] for r in failed["rows"]] == [3]
    by_param = client.get("/api/studies/hb/trials",
                          params={"sort": "config.lr", "order": "desc"}).json()["rows"]
    lrs = [r["config"]["lr"] for r in by_param]
    assert lrs == sorted(lrs, reverse=True)
    bad = client.get("/api/studies/hb/trials", params={"sort": "nonsense"})
    assert bad.status_code == 400 and "cannot sort" in bad.json()["detail"]
    assert client.get("/api/studies/hb/trials", params={"status": "WAT"}).status_code == 400


def test_a_trial_with_reports_environment_and_files(client: TestClient) -> None:
    t = client.get("/api/studies/hb/trials/0").json()
    assert t["reports"] and t["reports"][0]["step"] == 1
    assert t["environment"]["python"]["version"].startswith("3.")
    paths = {f["path"] for f in t["files"]}
    assert "stdout.log" in paths
    text = client.get("/api/studies/hb/trials/0/files/stdout.log").text
    assert text.startswith("training trial 0")
    failed = client.get("/api/studies/hb/trials/3").json()
    assert failed["status"] == "FAILED" and "diverged" in failed["error"]
    err = client.get("/api/studies/hb/trials/3/files/stderr.log").text
    assert "RuntimeError: diverged" in err
    assert client.get("/api/studies/hb/trials/99").status_code == 404


def test_plot_data_endpoints(client: TestClient) -> None:
    hist = client.get("/api/studies/hb/history").json()
    bests = [p["best"] for p in hist["points"]]
    assert bests == sorted(bests, reverse=True) and len(hist["points"]) >= 2
    complete = client.get("/api/studies/hb/trials", params={"status": "COMPLETE"}).json()
    assert [p["number"] for p in hist["points"]] == [r["number"] for r in complete["rows"]]
    curves = client.get("/api/studies/hb/curves").json()["curves"]
    assert {c["status"] for c in curves} >= {"COMPLETE", "STOPPED"}
    assert all(len(c["steps"]) == len(c["values"]) for c in curves)
    rungs = client.get("/api/studies/hb/rungs").json()["rungs"]
    assert {r["resource"] for r in rungs} >= {1, 9}
    assert sum(r["ended"] for r in rungs) == 11  # the failed trial reached no rung
    for bracket in {r["bracket"] for r in rungs}:  # reached: fewer at each higher rung
        reached = [r["trials"] for r in rungs if r["bracket"] == bracket]
        ended = [r["ended"] for r in rungs if r["bracket"] == bracket]
        assert reached == sorted(reached, reverse=True) and reached[0] == sum(ended)
    assert client.get("/api/studies/hb/importance").json()["available"] is False  # 2 done
    imp = client.get("/api/studies/sens/importance").json()
    assert imp["available"] and imp["importance"]["scores"]["x"] > 0.9  # y is ignored
    slices = client.get("/api/studies/hb/slices").json()
    assert len(slices["params"]["lr"]["values"]) == len(slices["values"])
    sens = client.get("/api/studies/sens/sensitivity").json()
    assert sens["available"] and set(sens["curves"]) == {"x", "y"}
    # 3 grid points and the baseline (the best search trial, off the grid)
    assert all(len(points) == 4 for points in sens["curves"].values())
    front = client.get("/api/studies/mo/pareto").json()
    assert front["objectives"] == [["a", "min"], ["b", "min"]]
    assert all(p["front"] for p in front["points"])  # a = x, b = (1-x)^2: all optimal
    assert client.get("/api/studies/hb/pareto").json()["points"] == []


def test_compare_two_trials(client: TestClient) -> None:
    got = client.get("/api/studies/hb/compare", params={"trials": "0,1"}).json()
    assert [t["number"] for t in got["trials"]] == [0, 1]
    assert set(got["differing"]) <= {"lr", "layers", "act"} and "lr" in got["differing"]
    assert got["trials"][0]["curve"]["steps"]
    assert got["environment"][0]["differences"] == []  # same machine, same packages
    assert client.get("/api/studies/hb/compare", params={"trials": "0"}).status_code == 400
    assert client.get("/api/studies/hb/compare", params={"trials": "a,b"}).status_code == 400


def test_the_api_is_read_only_and_documented(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    methods = {m for item in spec["paths"].values() for m in item}
    assert methods == {"get"}
    assert "/api/studies/{study}/trials" in spec["paths"]
    assert client.post("/api/studies").status_code == 405
    assert client.get("/").status_code == 200


# ------------------------------------------------------------------------- security

TRAVERSAL = [
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/etc/passwd",
    "%252e%252e%252fetc%252fpasswd",
    "..%252f..%252fetc%252fpasswd",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "....//....//etc/passwd",
    "..\\..\\etc\\passwd",
    "..%5c..%5cetc%5cpasswd",
    "stdout.log%00.png",
    "stdout.log%00",
    "C:\\Windows\\win.ini",
    "./../trial-00001/stdout.log",
    "link-out",
    "link-dir/passwd",
]


def test_file_paths_never_leave_the_trial_folder(client: TestClient, store: str,
                                                 tmp_path: Path) -> None:
    folder = Path(store).with_name("s-artifacts") / "hb" / "trial-00000"
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, folder / "link-out")
    os.symlink(tmp_path, folder / "link-dir")
    (tmp_path / "passwd").write_text("root:x")
    for payload in TRAVERSAL:
        r = client.get(f"/api/studies/hb/trials/0/files/{payload}")
        assert r.status_code in (400, 404), (payload, r.status_code)
        assert "top secret" not in r.text and "root:" not in r.text, payload
    files = {f["path"] for f in client.get("/api/studies/hb/trials/0/files").json()}
    assert "link-out" not in files and not any(p.startswith("link-dir") for p in files)
    ok = client.get("/api/studies/hb/trials/0/files/./stdout.log")
    assert ok.status_code in (200, 400)  # normalised by the client or refused


def test_traversal_payloads_sent_raw_to_a_real_server(store: str) -> None:
    """The same corpus byte for byte over a socket to uvicorn (no client normalises the
    path), plus a raw NUL and a raw backslash."""
    import http.client
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port,
                                           log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started
        for payload in [*TRAVERSAL, "a\x00b", "..\\x", "%00"]:
            status, body = _raw_get(port, "/api/studies/hb/trials/0/files/" + payload)
            assert status in (400, 404), (payload, status)
            assert "root:" not in body and "top secret" not in body, payload
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/api/studies/hb/trials/0/files/stdout.log")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _raw_get(port: int, path: str) -> tuple[int, str]:
    """Send the request line byte for byte (no client library normalises it)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET " + path.encode("latin-1") + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Connection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    text = data.decode("utf-8", "replace")
    return int(text.split(" ", 2)[1]), text


def test_safe_path_refuses_nul_and_absolute(tmp_path: Path) -> None:
    from tunelab import InvalidArgumentError
    from tunelab.dashboard._files import safe_path

    (tmp_path / "ok.txt").write_text("x")
    for bad in ["ok.txt\x00", "/etc/passwd", "..", "a/../../b", "C:\\x", ""]:
        with pytest.raises(InvalidArgumentError):
            safe_path(tmp_path, bad)
    assert safe_path(tmp_path, "ok.txt") == (tmp_path / "ok.txt").resolve()


def test_host_header_is_checked(store: str) -> None:
    client = TestClient(create_app(store), base_url="http://evil.example")
    assert client.get("/api/studies").status_code == 400
    local = TestClient(create_app(store), base_url="http://localhost:8080")
    assert local.get("/api/studies").status_code == 200


def test_a_token_is_needed_when_set(store: str) -> None:
    app = create_app(store, token="s3cret", allowed_hosts=["dash.example"])
    client = TestClient(app, base_url="http://dash.example")
    assert client.get("/api/studies").status_code == 401
    assert client.get("/api/studies", headers={"Authorization": "Bearer nope"}
                      ).status_code == 401
    assert client.get("/api/studies", headers={"Authorization": "Bearer s3cret"}
                      ).status_code == 200
    first = client.get("/?token=s3cret", follow_redirects=False)
    assert first.status_code == 303 and "token" not in first.headers["location"]
    assert client.get("/api/studies").status_code == 200  # the cookie now


def test_remote_binding_needs_an_explicit_flag(store: str) -> None:
    from tunelab import InvalidArgumentError
    from tunelab.dashboard import serve

    with pytest.raises(InvalidArgumentError, match="allow-remote"):
        serve(store, host="0.0.0.0", announce=lambda line: None)


def test_missing_extra_names_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from tunelab import MissingExtraError

    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'tunelab\[dashboard\]'"):
        create_app("memory")


def test_trial_table_stays_fast_enough_at_ten_thousand_trials(tmp_path: Path) -> None:
    """Not a latency benchmark (see benchmarks/dashboard_load.py): the page endpoint must
    work at 10,000 trials, sorted by value."""
    study = Study("big", Space(x=Float(0, 1)), store=str(tmp_path / "b.db"),
                  capture_environment=False)
    for i in range(10_000):
        study.store.create_trial(study._record.id, {"x": i / 10_000},
                                 status=TrialStatus.COMPLETE, metrics={"value": float(i % 97)},
                                 value=float(i % 97))
    client = TestClient(create_app(str(tmp_path / "b.db")), base_url="http://127.0.0.1")
    page = client.get("/api/studies/big/trials",
                      params={"sort": "value", "order": "desc", "limit": 50}).json()
    assert page["total"] == 10_000 and page["rows"][0]["value"] == 96.0


def test_incremental_refresh_follows_new_finished_and_remade_studies(tmp_path: Path) -> None:
    path = str(tmp_path / "r.db")
    study = Study("r", Space(x=Float(0, 1)), store=path, seed=0, capture_environment=False)
    study.optimize(lambda c: c["x"], n_trials=3)
    handle = study.ask()  # RUNNING while the dashboard first reads it
    client = TestClient(create_app(path, ttl=0.0), base_url="http://127.0.0.1")
    rows = client.get("/api/studies/r/trials").json()["rows"]
    assert [r["status"] for r in rows] == ["COMPLETE"] * 3 + ["RUNNING"]
    study.tell(handle, 0.5)
    study.optimize(lambda c: c["x"], n_trials=2)
    rows = client.get("/api/studies/r/trials").json()["rows"]
    assert [r["status"] for r in rows] == ["COMPLETE"] * 6 and rows[3]["value"] == 0.5
    study.store.delete_study("r")
    again = Study("r", Space(x=Float(0, 1)), store=path, seed=1, capture_environment=False)
    again.optimize(lambda c: c["x"], n_trials=1)
    assert client.get("/api/studies/r/trials").json()["total"] == 1


def test_caches_forget_a_remade_study_and_rungs_show_where_stopping_asha_stopped(
        tmp_path: Path) -> None:
    from tunelab import ASHA

    path = str(tmp_path / "c.db")

    def stepped(trial: Any) -> dict[str, float]:
        loss = 0.0
        for step in range(1, (trial.resource or 9) + 1):
            loss = trial["x"] + 1.0 / step
            if trial.report(step, loss=loss).value != "CONTINUE":
                break
        return {"loss": loss}

    study = Study("c", Space(x=Float(0, 1)), metric="loss", store=path, seed=0,
                  capture_environment=False, scheduler=ASHA(1, 9, 3, mode="stopping"))
    study.optimize(stepped, n_trials=9)
    client = TestClient(create_app(path, ttl=0.0), base_url="http://127.0.0.1")
    rungs = client.get("/api/studies/c/rungs").json()["rungs"]
    ended = {r["resource"]: r["ended"] for r in rungs}
    assert set(ended) <= {1, 3, 9} and ended.get(1, 0) > 0  # stopped at the first rung
    first = client.get("/api/studies/c/curves").json()["curves"][0]["values"]
    study.store.delete_study("c")
    remade = Study("c", Space(x=Float(0, 1)), metric="loss", store=path, seed=5,
                   capture_environment=False)
    remade.optimize(lambda t: [t.report(1, loss=42.0), {"loss": 42.0}][1], n_trials=1)
    curves = client.get("/api/studies/c/curves").json()["curves"]
    assert [c["values"] for c in curves] == [[42.0]] and curves[0]["values"] != first


def test_an_ipv6_bind_accepts_its_own_bracketed_host(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from tunelab.dashboard import serve

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    serve("memory", host="2001:db8::1", allow_remote=True, token="t",
          announce=lambda line: seen.update(line=line))
    client = TestClient(seen["app"], base_url="http://[2001:db8::1]:8080")
    assert client.get("/api/studies", headers={"Authorization": "Bearer t"}).status_code == 200
    assert "http://[2001:db8::1]:8080/?token=t" in seen["line"]
