"""The worked examples run (at a tiny size) and still show their lesson."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lr_sensitivity_adam_is_flatter_than_sgd(tmp_path: Path) -> None:
    example = load("lr_sensitivity")
    curves = example.main(["--quick", "--store", str(tmp_path / "lr.db"),  # type: ignore[attr-defined]
                           "--plot", str(tmp_path / "lr.png")])
    sgd, adam = curves["sgd"], curves["adam"]
    assert len(sgd.values) == len(adam.values) == 6  # 5 grid points and the baseline
    # The lesson: more decades of learning rate are good for Adam than for plain SGD.
    assert example.good_decades(adam) > example.good_decades(sgd)  # type: ignore[attr-defined]
    assert adam.means[0] > sgd.means[0]  # small rates: Adam still learns, SGD barely
    assert (tmp_path / "lr.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------- integrations
# One example per integration and per major feature, each at its --quick size.


def test_sklearn_search_example(tmp_path: Path) -> None:
    searches = load("sklearn_search").main(  # type: ignore[attr-defined]
        ["--quick", "--store", str(tmp_path / "sk.db")])
    tpe, asha = searches["tpe"], searches["asha-n_samples"]
    assert len(tpe.cv_results_["params"]) == 6 and tpe.best_score_ > 0.85
    budgets = asha.cv_results_["n_resources"]
    assert budgets.min() < budgets.max()  # ASHA gave some candidates more data
    assert asha.best_score_ > 0.85


def test_optuna_objective_example(tmp_path: Path) -> None:
    studies = load("optuna_objective").main(  # type: ignore[attr-defined]
        ["--quick", "--store", str(tmp_path / "optuna.db")])
    space = studies["classifier"].space
    assert space["svc_c"].when == {"classifier": ("SVC",)}
    assert studies["classifier"].best_value > 0.9
    assert len(studies["sgd"].trials) == 12 and studies["sgd"].best_value < 0.2


def test_xgboost_callback_example() -> None:
    study = load("xgboost_callback").main(["--quick"])  # type: ignore[attr-defined]
    budget = study.budget()
    assert budget.reached(27) >= 1 and budget.reached(3) == 8
    # a promoted trial boosted on from its saved model: its steps go on, never restart
    trials = study.store.get_trials(study._record.id, with_reports=True)
    resumed = [t for t in trials if t.system_attrs.get("resumes")]
    assert resumed and all([r.step for r in t.reports] == list(range(1, len(t.reports) + 1))
                           for t in resumed)


def test_lightgbm_callback_example() -> None:
    study = load("lightgbm_callback").main(["--quick"])  # type: ignore[attr-defined]
    statuses = [t.status.value for t in study.trials]
    assert "FAILED" not in statuses and "STOPPED" in statuses and "COMPLETE" in statuses


def test_keras_callback_example() -> None:
    import torch

    torch.set_num_threads(1)
    study = load("keras_callback").main(["--quick"])  # type: ignore[attr-defined]
    assert len(study.trials) == 5 and study.best_value > 0.5
    assert all(t.status.value in ("COMPLETE", "STOPPED") for t in study.trials)


def test_lightning_callback_example() -> None:
    import torch

    torch.set_num_threads(1)
    study = load("lightning_callback").main(["--quick"])  # type: ignore[attr-defined]
    trials = study.store.get_trials(study._record.id, with_reports=True)
    assert study.budget().reached(9) == 1
    best = max(trials, key=lambda t: t.system_attrs.get("step", 0))
    # resumed twice from its Lightning checkpoint, every epoch reported once
    assert best.system_attrs.get("resumes") == 2
    assert [r.step for r in best.reports] == list(range(1, 10))


def test_multi_fidelity_example() -> None:
    studies = load("multi_fidelity").main(["--quick"])  # type: ignore[attr-defined]
    full = studies["fifo"].budget().consumed
    for name in ("asha", "hyperband"):
        # the lesson: a fraction of the epochs, and still a good model
        assert studies[name].budget().consumed < full / 2
        assert studies[name].best_value > studies["fifo"].best_value - 0.1


def test_bohb_example() -> None:
    results = load("bohb").main(["--quick"])  # type: ignore[attr-defined]
    assert set(results) == {"hyperband", "bohb"}
    assert all(len(v) == 2 and all(0 <= x < 2 for x in v) for v in results.values())


def test_portfolio_example() -> None:
    curves = load("portfolio").main(["--quick"])  # type: ignore[attr-defined]
    portfolio = curves["portfolio, then tpe"]
    assert len(portfolio) == 4 and portfolio[0] > 0.9  # its first guess is already good


def test_command_line_example(tmp_path: Path) -> None:
    study = load("command_line").main(  # type: ignore[attr-defined]
        ["--quick", "--store", str(tmp_path / "cli.db")])
    trials = study.trials
    assert len(trials) == 6 and all(t.status.value in ("COMPLETE", "STOPPED") for t in trials)
    assert study.best_value < 1.0 and max(t.system_attrs["step"] for t in trials) == 9


def test_ray_asha_example(tmp_path: Path) -> None:
    import ray

    try:
        study = load("ray_asha").main(  # type: ignore[attr-defined]
            ["--quick", "--store", str(tmp_path / "ray.db")])
    finally:
        ray.shutdown()
    trials = study.trials
    assert len(trials) == 9 and all(t.status.name in ("COMPLETE", "STOPPED", "PAUSED")
                                    for t in trials)
    # ASHA on Ray: promoted trials went past the first rung, most stopped early
    assert study.budget().consumed < 9 * 9 / 2
    assert max(len(t.reports) for t in study.store.get_trials(
        study._record.id, with_reports=True)) > 1
    assert study.best_value > 0.8
