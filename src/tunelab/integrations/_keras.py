"""Keras 3: report a logged metric after every epoch; stop ``model.fit`` when told."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from tunelab._errors import MissingExtraError
from tunelab.integrations._report import StepReporter


def _default_backend() -> None:
    """Keras 3 defaults to TensorFlow; when no backend was chosen (no ``KERAS_BACKEND``,
    none other than TensorFlow in ``keras.json``) and TensorFlow is missing but PyTorch
    is there, use PyTorch instead of failing at import."""
    if os.environ.get("KERAS_BACKEND") or importlib.util.find_spec("tensorflow") is not None:
        return
    config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    try:
        chosen = json.loads(config.read_text()).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        chosen = "tensorflow"
    if chosen == "tensorflow" and importlib.util.find_spec("torch") is not None:
        os.environ["KERAS_BACKEND"] = "torch"


try:
    if "keras" not in sys.modules:
        _default_backend()
    import keras
except ImportError as exc:  # pragma: no cover - exercised without keras only
    raise MissingExtraError(
        "KerasCallback needs the 'keras' package (Keras 3, with any backend: torch, jax or "
        "tensorflow), which is not installed; install it with: pip install 'tunelab[keras]'"
    ) from exc

__all__ = ["KerasCallback"]


class KerasCallback(keras.callbacks.Callback):
    """Report ``monitor`` (a key of the epoch's logs: ``"val_loss"``, ``"val_accuracy"``...)
    after every epoch, as step ``epoch + 1`` (``initial_epoch`` included) under the name
    ``metric`` (default: ``monitor``); ``model.fit`` ends after the epoch at which the
    scheduler says PAUSE or STOP.

    >>> import numpy as np, keras
    >>> from tunelab import Float, MedianStopping, Space, Study
    >>> from tunelab.integrations import KerasCallback
    >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32"); y = x @ [1., -2.]
    >>> def objective(trial):
    ...     model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    ...     model.compile(keras.optimizers.SGD(trial["lr"]), "mse")
    ...     model.fit(x, y, validation_split=0.25, epochs=5, verbose=0,
    ...               callbacks=[KerasCallback(trial, "val_loss")])
    >>> study = Study("keras-doc", Space(lr=Float(1e-3, 0.3, log=True)), metric="val_loss",
    ...               scheduler=MedianStopping(min_samples=2), store="memory", seed=0)
    >>> study.optimize(objective, n_trials=3)
    >>> len(study.trials)
    3
    """

    def __init__(self, trial: Any, monitor: str = "val_loss", *,
                 metric: str | None = None) -> None:
        super().__init__()
        self._reporter = StepReporter(trial, monitor, metric, "KerasCallback")

    @property
    def decision(self) -> Any:
        """The scheduler's answer at the last epoch."""
        return self._reporter.decision

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        monitor = self._reporter.monitor
        if monitor not in logs:
            raise self._reporter.missing(logs)
        if self._reporter.report(epoch + 1, logs[monitor]):
            self.model.stop_training = True
