"""The Ray executor on a local Ray: every scheduler, reports streamed back, timeouts,
bad arguments, and the error without the extra. (Faults and the multi-node cluster are in
test_ray_cluster.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
import ray  # no importorskip: without the [ray] extra this module must fail, not skip

import tunelab
from tunelab import Float, Space, Study, TrialStatus
from tunelab.executors import make_executor
from tunelab.executors.ray import RayExecutor
from tunelab.schedulers import SCHEDULERS

SPACE = Space(x=Float(0, 1))


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray (2 CPUs) for the module; RayExecutor uses it as it is."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


def curve(trial: tunelab.TrialHandle) -> None:
    state = trial.load_checkpoint() or {"step": 0}
    top = trial.resource or 9
    for step in range(state["step"] + 1, top + 1):
        decision = trial.report(step, loss=(trial["x"] - 0.3) ** 2 + 1 / step,
                                pid=float(os.getpid()))
        trial.save_checkpoint({"step": step})
        if decision is not tunelab.Decision.CONTINUE:
            return


SPECS = {
    "fifo": {"name": "fifo", "max_resource": 9},
    "median": {"name": "median", "max_resource": 9},
    "successive_halving": {"name": "successive_halving", "max_resource": 9, "n_configs": 9},
    "hyperband": {"name": "hyperband", "max_resource": 9},
    "asha": {"name": "asha", "max_resource": 9},
    "async_hyperband": {"name": "async_hyperband", "max_resource": 9},
}


def test_every_scheduler_is_covered():
    assert set(SPECS) == set(SCHEDULERS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_scheduler_runs_on_ray(local_ray, tmp_path, name):
    study = Study(f"ray-{name}", SPACE, metric="loss", seed=0, searcher="random",
                  store=str(tmp_path / "s.db"), scheduler=SPECS[name])
    study.optimize(curve, n_trials=9, executor=RayExecutor(2))
    assert ray.is_initialized()  # not ours to shut down
    trials = study.store.get_trials(study._record.id, with_reports=True)
    assert not [t for t in trials if t.status in (TrialStatus.RUNNING, TrialStatus.FAILED)]
    assert any(t.status is TrialStatus.COMPLETE for t in trials)
    for trial in trials:
        steps = [r.step for r in trial.reports]
        assert steps == sorted(set(steps))
        assert all(r.metrics["pid"] != os.getpid() for r in trial.reports)  # in Ray workers
    if name not in ("fifo", "median"):  # rung schedulers stop or pause most trials early
        assert any(t.system_attrs["step"] < 9 for t in trials)
    if name in ("asha", "async_hyperband", "successive_halving", "hyperband"):
        assert any(t.system_attrs.get("resumes") for t in trials)


def test_failures_timeouts_and_values_come_back(local_ray, tmp_path):
    def objective(config):
        if config["x"] < 0.2:
            raise ValueError("too small")
        if config["x"] > 0.8:
            time.sleep(30)
        return config["x"]

    study = Study("ray-mixed", SPACE, seed=0, store=str(tmp_path / "s.db"),
                  searcher="random")
    for x in (0.1, 0.5, 0.9, 0.6):
        study.enqueue({"x": x})
    started = time.monotonic()
    study.optimize(objective, n_trials=4, executor=RayExecutor(2, trial_timeout=3))
    assert time.monotonic() - started < 25
    by_x = {t.config["x"]: t for t in study.trials}
    assert by_x[0.1].status is TrialStatus.FAILED and "ValueError: too small" in by_x[0.1].error
    assert by_x[0.9].status is TrialStatus.FAILED and "timed out" in by_x[0.9].error
    assert by_x[0.5].value == 0.5 and by_x[0.6].value == 0.6


def test_a_gpu_request_the_cluster_cannot_meet_is_not_run_by_mistake(local_ray, tmp_path):
    executor = RayExecutor(1, num_gpus=1, trial_timeout=2)
    study = Study("ray-gpu", SPACE, store=str(tmp_path / "s.db"))
    study.optimize(lambda c: c["x"], n_trials=1, executor=executor)
    trial = study.trials[0]  # no GPU here: Ray keeps it pending until the timeout
    assert trial.status is TrialStatus.FAILED and "timed out" in trial.error


def test_bad_arguments_name_the_value():
    with pytest.raises(tunelab.InvalidArgumentError, match="`workers` must be an integer >= 1"):
        RayExecutor(0)
    with pytest.raises(tunelab.InvalidArgumentError, match="`num_gpus` must be a number >= 0"):
        RayExecutor(1, num_gpus=-1)
    with pytest.raises(tunelab.InvalidArgumentError, match="`address` must be None"):
        RayExecutor(1, address="")
    with pytest.raises(tunelab.InvalidArgumentError, match="'inline', 'process', 'ray'"):
        make_executor("dask", 2, None)
    assert isinstance(make_executor("ray", 2, None), RayExecutor)


def test_without_ray_the_import_names_the_pip_line():
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "ray" or name.startswith("ray."):
                    raise ImportError("No module named 'ray'")
        sys.meta_path.insert(0, Block())
        import tunelab, tunelab.executors
        assert "ray" not in sys.modules  # the core never imports it
        try:
            import tunelab.executors.ray
        except tunelab.MissingExtraError as exc:
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install 'tunelab[ray]'" in out.stdout
