"""The training-framework callbacks report every epoch / boosting round to the trial and
end the run when the scheduler says PAUSE or STOP, with the real libraries (CPU, tiny)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on PyTorch (no TensorFlow here)

import keras
import lightgbm as lgb
import lightning.pytorch as pl
import numpy as np
import pytest
import torch
import xgboost as xgb

from tunelab import (
    ASHA,
    Decision,
    Float,
    InvalidArgumentError,
    MedianStopping,
    MissingExtraError,
    Space,
    Study,
    TrialHandle,
    TrialStatus,
)
from tunelab.integrations import (
    KerasCallback,
    LightGBMCallback,
    LightningCallback,
    XGBoostCallback,
)

torch.set_num_threads(1)
RNG = np.random.default_rng(0)
X = RNG.normal(size=(160, 3)).astype("float32")
Y = (X[:, 0] - 2 * X[:, 1] + 0.1 * RNG.normal(size=160)).astype("float32")
TRAIN, VALID = slice(0, 120), slice(120, 160)


def handle(stop_at: int | None = None, decision: Decision = Decision.PAUSE,
           config: dict[str, Any] | None = None) -> tuple[TrialHandle, list[tuple[int, dict]]]:
    """A trial handle whose scheduler answers ``decision`` from step ``stop_at`` on."""
    seen: list[tuple[int, dict]] = []

    def reporter(step: int, metrics: dict[str, float]) -> Decision:
        seen.append((step, metrics))
        return decision if stop_at is not None and step >= stop_at else Decision.CONTINUE

    return TrialHandle(config or {}, number=0, seed=0, reporter=reporter), seen


def statuses(study: Study) -> set[TrialStatus]:
    return {t.status for t in study.trials}


# ---------------------------------------------------------------------------- XGBoost


def test_xgboost_reports_each_round_and_stops() -> None:
    trial, seen = handle(stop_at=3)
    model = xgb.XGBRegressor(n_estimators=20, n_jobs=1, callbacks=[
        XGBoostCallback(trial, "validation_0-rmse", metric="rmse")])
    model.fit(X[TRAIN], Y[TRAIN], eval_set=[(X[VALID], Y[VALID])], verbose=False)
    assert [step for step, _ in seen] == [1, 2, 3]
    assert model.get_booster().num_boosted_rounds() == 3  # paused after round 3
    assert set(seen[0][1]) == {"rmse"} and trial.decision is Decision.PAUSE


def test_xgboost_under_a_study() -> None:
    train, valid = xgb.DMatrix(X[TRAIN], Y[TRAIN]), xgb.DMatrix(X[VALID], Y[VALID])

    def objective(trial: TrialHandle) -> None:
        xgb.train({"eta": trial["eta"], "nthread": 1}, train, num_boost_round=trial.resource,
                  evals=[(valid, "eval")], verbose_eval=False,
                  callbacks=[XGBoostCallback(trial, "eval-rmse")])

    study = Study("xgb", Space(eta=Float(0.01, 0.5, log=True)), metric="eval-rmse",
                  scheduler=ASHA(1, 9, 3, mode="stopping"), store="memory", seed=0)
    study.optimize(objective, n_trials=6)
    assert TrialStatus.STOPPED in statuses(study) and TrialStatus.COMPLETE in statuses(study)
    with pytest.raises(InvalidArgumentError, match=r"'eval-logloss' was not logged.*'eval-rmse'"):
        xgb.train({"nthread": 1}, train, num_boost_round=2, evals=[(valid, "eval")],
                  verbose_eval=False, callbacks=[XGBoostCallback(handle()[0], "eval-logloss")])


# ---------------------------------------------------------------------------- LightGBM


def test_lightgbm_reports_each_round_and_stops() -> None:
    trial, seen = handle(stop_at=4, decision=Decision.STOP)
    train = lgb.Dataset(X[TRAIN], Y[TRAIN])
    valid = lgb.Dataset(X[VALID], Y[VALID], reference=train)
    booster = lgb.train({"num_threads": 1, "verbose": -1}, train, num_boost_round=20,
                        valid_sets=[valid], callbacks=[LightGBMCallback(trial, "valid_0-l2")])
    assert [step for step, _ in seen] == [1, 2, 3, 4]
    assert booster.current_iteration() == 4 and booster.best_iteration == 4
    with pytest.raises(InvalidArgumentError, match=r"'valid_0-auc' was not logged.*valid_0-l2"):
        lgb.train({"num_threads": 1, "verbose": -1}, train, num_boost_round=2,
                  valid_sets=[valid], callbacks=[LightGBMCallback(handle()[0], "valid_0-auc")])


def test_lightgbm_sklearn_api_under_a_study() -> None:
    def objective(trial: TrialHandle) -> None:
        model = lgb.LGBMRegressor(n_estimators=trial.resource, learning_rate=trial["lr"],
                                  n_jobs=1, verbose=-1)
        model.fit(X[TRAIN], Y[TRAIN], eval_X=(X[VALID],), eval_y=(Y[VALID],),
                  callbacks=[LightGBMCallback(trial, "valid_0-l2", metric="l2")])

    study = Study("lgb", Space(lr=Float(0.01, 0.5, log=True)), metric="l2",
                  scheduler=ASHA(1, 9, 3), store="memory", seed=0)
    study.optimize(objective, n_trials=6)
    assert TrialStatus.PAUSED in statuses(study) and TrialStatus.COMPLETE in statuses(study)
    assert study.budget().reached(9) >= 1


# ---------------------------------------------------------------------------- Keras


def keras_model(lr: float) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(lr), "mse")
    return model


def test_keras_reports_each_epoch_and_stops() -> None:
    trial, seen = handle(stop_at=2)
    history = keras_model(0.05).fit(X, Y, validation_split=0.25, epochs=10, verbose=0,
                                    callbacks=[KerasCallback(trial, "val_loss")])
    assert [step for step, _ in seen] == [1, 2] and len(history.history["loss"]) == 2
    with pytest.raises(InvalidArgumentError, match=r"'val_acc' was not logged.*'val_loss'"):
        keras_model(0.05).fit(X, Y, validation_split=0.25, epochs=1, verbose=0,
                              callbacks=[KerasCallback(handle()[0], "val_acc")])


def test_keras_under_a_study() -> None:
    def objective(trial: TrialHandle) -> None:
        keras_model(trial["lr"]).fit(X, Y, validation_split=0.25, epochs=4, verbose=0,
                                     batch_size=40, callbacks=[KerasCallback(trial)])

    study = Study("keras", Space(lr=Float(1e-4, 0.1, log=True)), metric="val_loss",
                  scheduler=MedianStopping(grace_period=1, min_samples=2), store="memory",
                  seed=0)
    study.optimize(objective, n_trials=5)
    assert TrialStatus.STOPPED in statuses(study) and TrialStatus.COMPLETE in statuses(study)


# ---------------------------------------------------------------------------- Lightning


class Linear(pl.LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.layer = torch.nn.Linear(3, 1)

    def _loss(self, batch: Any) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def loader(part: slice) -> torch.utils.data.DataLoader:
    data = torch.utils.data.TensorDataset(torch.from_numpy(X[part]), torch.from_numpy(Y[part]))
    return torch.utils.data.DataLoader(data, batch_size=40)


def fit(trial: Any, epochs: int, monitor: str = "val_loss") -> pl.Trainer:
    pl.seed_everything(0, verbose=False)
    trainer = pl.Trainer(max_epochs=epochs, callbacks=[LightningCallback(trial, monitor)],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", devices=1)
    trainer.fit(Linear(trial["lr"]), loader(TRAIN), loader(VALID))
    return trainer


def test_lightning_reports_validation_each_epoch_and_stops() -> None:
    trial, seen = handle(stop_at=2, config={"lr": 0.05})
    trainer = fit(trial, epochs=10)
    assert [step for step, _ in seen] == [1, 2]  # the sanity check is not reported
    assert trainer.current_epoch == 2 and set(seen[0][1]) == {"val_loss"}
    with pytest.raises(InvalidArgumentError, match=r"'val_acc' was not logged.*'val_loss'"):
        fit(handle(config={"lr": 0.05})[0], epochs=1, monitor="val_acc")


def test_lightning_under_a_study() -> None:
    def objective(trial: TrialHandle) -> None:
        fit(trial, epochs=trial.resource)

    study = Study("lightning", Space(lr=Float(1e-4, 0.1, log=True)), metric="val_loss",
                  scheduler=ASHA(1, 3, 3), store="memory", seed=0)
    study.optimize(objective, n_trials=4)
    assert TrialStatus.PAUSED in statuses(study) and TrialStatus.COMPLETE in statuses(study)


# ---------------------------------------------------------------------------- shared


@pytest.mark.parametrize("make", [
    lambda: XGBoostCallback({"lr": 1}, "eval-rmse"),
    lambda: KerasCallback(None),
    lambda: LightGBMCallback(handle()[0], ""),
])
def test_callbacks_need_a_trial_handle(make: Callable[[], Any]) -> None:
    with pytest.raises(InvalidArgumentError, match=r"trial handle|non-empty string"):
        make()


@pytest.mark.parametrize(("module", "libraries", "extra"), [
    ("_xgboost", ["xgboost"], "xgboost"),
    ("_lightgbm", ["lightgbm"], "lightgbm"),
    ("_keras", ["keras"], "keras"),
    ("_lightning", ["lightning", "lightning.pytorch"], "lightning"),
])
def test_a_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch, module: str,
                                           libraries: list[str], extra: str) -> None:
    for name in libraries:
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
    monkeypatch.delitem(sys.modules, f"tunelab.integrations.{module}")
    with pytest.raises(MissingExtraError, match=rf"pip install 'tunelab\[{extra}\]'"):
        __import__(f"tunelab.integrations.{module}")


def test_public_names() -> None:
    import tunelab.integrations as integrations

    assert integrations.__all__ == sorted(integrations.__all__)
    for name in integrations.__all__:
        assert getattr(integrations, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        integrations.Nope  # noqa: B018


@pytest.mark.parametrize(("config", "tensorflow", "chosen"), [
    (None, False, "torch"),               # Keras's default (TensorFlow) is missing
    ('{"backend": "tensorflow"}', False, "torch"),
    ('{"backend": "jax"}', False, None),  # the user's choice stands
    (None, True, None),                   # TensorFlow is there: Keras's default works
])
def test_keras_backend_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
                               config: str | None, tensorflow: bool,
                               chosen: str | None) -> None:
    import importlib.util

    from tunelab.integrations import _keras

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    if config is not None:
        (tmp_path / "keras.json").write_text(config)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: (
        object() if tensorflow else None) if name == "tensorflow" else real(name, *a))
    _keras._default_backend()
    assert os.environ.get("KERAS_BACKEND") == chosen
