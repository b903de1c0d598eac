"""The Ray executor on a real two-node Ray cluster on this machine.

The module starts a head node and a worker node with ``ray start`` (one CPU each, their own
ports and temp dir), runs studies through ``RayExecutor(address=...)`` and kills what it
started, by process id, at the end. It needs the ``ray`` package (``pip install
'tunelab[ray]'``); it fails, never skips, without it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray  # no importorskip: without the [ray] extra this module must fail, not skip

import tunelab
from tunelab import Float, Space, Study, TrialStatus
from tunelab.executors.ray import RayExecutor

RAY = str(Path(sys.executable).with_name("ray"))
ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
       # Find a dead node in seconds, not the default half minute.
       "RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "500",
       "RAY_health_check_failure_threshold": "3"}


def _free_port_block(size: int = 40) -> int:
    """The first of ``size`` consecutive ports that are free now."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + size > 65000:
            continue
        ok = True
        for port in range(base, base + size):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no block of free ports")


class Cluster:
    """A head and a worker node started with ``ray start``; everything they spawned is
    killed by pid in :meth:`stop` (``ray stop`` would also stop other Ray instances on
    this machine)."""

    def __init__(self) -> None:
        self.temp = tempfile.mkdtemp(prefix="tlray", dir="/tmp")  # socket paths stay short
        base = _free_port_block()
        self.port = base
        self.address = f"127.0.0.1:{base}"
        self.env = {**os.environ, **ENV}
        self.worker_node_port = base + 20
        head = [RAY, "start", "--head", f"--port={base}", "--num-cpus=1", "--num-gpus=0",
                f"--temp-dir={self.temp}", "--include-dashboard=false",
                "--disable-usage-stats", f"--node-manager-port={base + 1}",
                f"--object-manager-port={base + 2}", f"--ray-client-server-port={base + 3}",
                f"--dashboard-agent-listen-port={base + 4}",
                f"--dashboard-agent-grpc-port={base + 5}", f"--metrics-export-port={base + 6}",
                f"--runtime-env-agent-port={base + 7}", f"--dashboard-port={base + 8}",
                f"--min-worker-port={base + 100}", f"--max-worker-port={base + 199}"]
        self._start(head)
        self.add_worker_node()

    def _start(self, args: list[str]) -> None:
        result = subprocess.run(args, env=self.env, capture_output=True, text=True,
                                timeout=180)
        if result.returncode != 0:
            self.stop()
            pytest.fail(f"`{' '.join(args)}` failed:\n{result.stdout}\n{result.stderr}")

    def add_worker_node(self) -> None:
        p = self.worker_node_port
        self._start([RAY, "start", f"--address={self.address}", "--num-cpus=1",
                     "--num-gpus=0", "--disable-usage-stats", f"--node-manager-port={p}",
                     f"--object-manager-port={p + 1}", f"--metrics-export-port={p + 2}",
                     f"--runtime-env-agent-port={p + 3}",
                     f"--dashboard-agent-grpc-port={p + 4}",
                     f"--dashboard-agent-listen-port={p + 5}",
                     f"--min-worker-port={p + 200}", f"--max-worker-port={p + 299}"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(self._raylets()) == 2:
                return
            time.sleep(0.2)
        pytest.fail("the worker node's raylet did not start")

    def _processes(self) -> list[tuple[int, list[str]]]:
        return [(pid, args) for pid, args in _proc_table().items()
                if any(self.temp in arg for arg in args)]

    def _raylets(self) -> list[tuple[int, list[str]]]:
        return [(pid, args) for pid, args in self._processes()
                if args and args[0].endswith("/raylet")]

    def worker_raylet(self) -> int:
        for pid, args in self._raylets():
            if f"--node_manager_port={self.worker_node_port}" in args:
                return pid
        raise AssertionError("no raylet of the worker node")

    def kill_worker_node(self) -> None:
        """``kill -9`` the worker node: its raylet and every process under it."""
        _kill_all(_with_descendants([self.worker_raylet()]))

    def stop(self) -> None:
        _kill_all(_with_descendants([pid for pid, _ in self._processes()]))
        shutil.rmtree(self.temp, ignore_errors=True)


def _proc_table() -> dict[int, list[str]]:
    """pid -> command line of every process (Linux /proc)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            table[int(entry.name)] = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    return table


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _with_descendants(pids: list[int]) -> set[int]:
    found = set(pids)
    children: dict[int, list[int]] = {}
    for pid in _proc_table():
        parent = _parent(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    todo = list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _kill_all(pids: set[int]) -> None:
    """SIGKILL each of ``pids`` (processes this module started), then wait a little for
    them to go."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.1)


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    started = Cluster()
    try:
        yield started
    finally:
        if ray.is_initialized():
            ray.shutdown()
        started.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _node_and_pid(trial: tunelab.TrialHandle, attempt_file: str) -> None:
    """Leave where this run runs: ``<attempt_file>-<n>`` holding ``node pid``."""
    assert trial.trial_dir is not None
    trial.trial_dir.mkdir(parents=True, exist_ok=True)
    n = len(list(trial.trial_dir.glob(f"{attempt_file}-*")))
    node = ray.get_runtime_context().get_node_id()
    (trial.trial_dir / f"{attempt_file}-{n}").write_text(f"{node} {os.getpid()}")


def asha_objective(trial: tunelab.TrialHandle) -> None:
    _node_and_pid(trial, "run")
    state = trial.load_checkpoint() or {"step": 0}
    for step in range(state["step"] + 1, trial.resource + 1):
        time.sleep(0.02)
        decision = trial.report(step, loss=(trial["x"] - 0.3) ** 2 + 1 / step,
                                resumed_from=float(state["step"]))
        trial.save_checkpoint({"step": step})  # after the report: a kill loses nothing
        if decision is not tunelab.Decision.CONTINUE:
            return


def slow_objective(trial: tunelab.TrialHandle) -> None:
    """Five steps of 0.25 s with a checkpoint each; a trial's first run waits 0.8 s
    before its first report, so that it can be killed before reporting anything."""
    assert trial.trial_dir is not None
    first_run = not list(trial.trial_dir.glob("run-*"))
    _node_and_pid(trial, "run")
    state = trial.load_checkpoint() or {"step": 0}
    time.sleep(0.8 if first_run else 0.05)
    for step in range(state["step"] + 1, 6):
        time.sleep(0.25)
        trial.report(step, loss=trial["x"] + step, resumed_from=float(state["step"]))
        trial.save_checkpoint({"step": step})


def _runs(study: Study, number: int) -> list[tuple[str, int]]:
    folder = study.trial_dir(number)
    runs = sorted(folder.glob("run-*"), key=lambda p: int(p.name.split("-")[1]))
    return [(r.read_text().split()[0], int(r.read_text().split()[1])) for r in runs]


def _clean(study: Study) -> None:
    assert not [t.number for t in study.trials if t.status is TrialStatus.RUNNING]
    for trial in study.store.get_trials(study._record.id, with_reports=True):
        steps = [r.step for r in trial.reports]
        assert len(steps) == len(set(steps)), (trial.number, steps)  # no report twice


def test_asha_pauses_and_resumes_across_two_nodes_from_checkpoints(cluster, tmp_path):
    study = Study("ray-asha", Space(x=Float(0, 1)), metric="loss", seed=0,
                  store=str(tmp_path / "s.db"), searcher="random",
                  scheduler={"name": "asha", "min_resource": 1, "max_resource": 9, "eta": 3})
    executor = RayExecutor(2, address=cluster.address, num_cpus=1)
    study.optimize(asha_objective, n_trials=12, executor=executor)
    assert not ray.is_initialized()  # it joined the cluster and left it
    _clean(study)
    trials = study.trials
    resumed = [t for t in trials if t.system_attrs.get("resumes")]
    assert resumed, "ASHA promoted nothing"
    for trial in resumed:  # each resume loaded the checkpoint of the rung it paused at
        record = study.trial(trial.number)
        assert record.reports[-1].metrics["resumed_from"] > 0
    assert any(t.status is TrialStatus.COMPLETE and t.system_attrs["step"] == 9 for t in trials)
    nodes = {node for t in trials for node, _ in _runs(study, t.number)}
    assert len(nodes) == 2, "the trials did not run on both nodes"


def _kill_when(study_dir: Path, pick, want: int = 1, timeout: float = 90) -> list[str]:
    """In a thread: call ``pick(path, node, pid)`` on each new run file until it has
    returned True ``want`` times (it kills what it picks); those paths come back."""
    hits: list[str] = []

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(hits) < want:
            for path in study_dir.glob("trial-*/run-*"):
                try:
                    node, pid = path.read_text().split()
                except (OSError, ValueError):
                    continue
                if str(path) not in hits and pick(path, node, int(pid)):
                    hits.append(str(path))
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()
    return hits


def test_killed_ray_worker_processes_are_retried_from_their_checkpoints(cluster, tmp_path):
    """Trial 1's worker dies before its first report, trial 2's after its second
    checkpoint."""
    study = Study("ray-kill", Space(x=Float(0, 1)), metric="loss", seed=0,
                  store=str(tmp_path / "s.db"), searcher="random")
    victims = {"trial-00001": None, "trial-00002": "step-00000002"}

    def pick(path: Path, node: str, pid: int) -> bool:
        if path.parent.name not in victims or path.name != "run-0":
            return False
        checkpoint = victims[path.parent.name]
        if checkpoint and not (path.parent / "checkpoints" / checkpoint).exists():
            return False  # not yet: look again
        os.kill(pid, signal.SIGKILL)
        return True

    hits = _kill_when(study.artifact_dir, pick, want=2)
    study.optimize(slow_objective, n_trials=5,
                   executor=RayExecutor(2, address=cluster.address, num_cpus=1))
    assert len(hits) == 2, f"only {hits} were killed"
    _clean(study)
    trials = study.trials
    assert [t.status for t in trials] == [TrialStatus.COMPLETE] * 5
    for number, start in ((1, 0), (2, 2)):
        victim = study.trial(number)
        assert victim.attempt == 2 and "died" in victim.system_attrs["retried"]
        assert [r.step for r in victim.reports] == [1, 2, 3, 4, 5]  # none lost, none twice
        assert victim.value == pytest.approx(victim.config["x"] + 5)
        assert victim.reports[-1].metrics["resumed_from"] == start  # from its checkpoint
    assert all(t.attempt == 1 for t in trials if t.number not in (1, 2))


def test_tunelab_worker_runs_a_study_on_the_cluster(cluster, tmp_path):
    (tmp_path / "obj.py").write_text(
        "import os\ndef f(config):\n    return {'value': config['x'], 'pid': os.getpid()}\n")
    url = f"sqlite:///{tmp_path / 's.db'}"
    Study("cli-ray", Space(x=Float(0, 1)), store=url, searcher="random", seed=0)
    out = subprocess.run(
        [str(Path(sys.executable).with_name("tunelab")), "worker", "cli-ray", "obj.py:f",
         "--trials", "6", "--workers", "2", "--executor", "ray",
         "--ray-address", cluster.address, "--store", url, "--no-progress"],
        cwd=tmp_path, env=cluster.env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    study = tunelab.load_study("cli-ray", url)
    assert [t.status for t in study.trials] == [TrialStatus.COMPLETE] * 6
    assert {t.metrics["pid"] for t in study.trials}.isdisjoint({os.getpid()})
    study.store.close()


def test_a_killed_worker_node_loses_no_result(cluster, tmp_path):
    """Last in the module: the worker node stays dead."""
    study = Study("ray-node", Space(x=Float(0, 1)), metric="loss", seed=0,
                  store=str(tmp_path / "s.db"), searcher="random")
    worker_node = {}

    def pick(path: Path, node: str, pid: int) -> bool:
        if not worker_node:
            for n in ray.nodes():
                if n["Alive"] and n["NodeManagerPort"] == cluster.worker_node_port:
                    worker_node["id"] = n["NodeID"]
        if node != worker_node.get("id") or path.name != "run-0":
            return False
        if not (path.parent / "checkpoints" / "step-00000001").exists():
            return False  # mid-trial: after its first checkpoint
        cluster.kill_worker_node()
        return True

    hits = _kill_when(study.artifact_dir, pick)
    study.optimize(slow_objective, n_trials=4,
                   executor=RayExecutor(2, address=cluster.address, num_cpus=1))
    assert hits, "no trial ran on the worker node"
    _clean(study)
    trials = study.trials
    assert [t.status for t in trials] == [TrialStatus.COMPLETE] * 4
    victim = study.trial(int(Path(hits[0]).parent.name.split("-")[1]))
    assert victim.attempt == 2
    assert [r.step for r in victim.reports] == [1, 2, 3, 4, 5]
    assert victim.reports[-1].metrics["resumed_from"] >= 1  # from its checkpoint
    assert _runs(study, victim.number)[-1][0] != worker_node["id"]  # on the head node
