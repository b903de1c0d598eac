"""LightGBM: report an evaluation metric after every boosting round; stop when told."""

from __future__ import annotations

from typing import Any

from tunelab._errors import MissingExtraError
from tunelab.integrations._report import StepReporter

try:
    import lightgbm
except ImportError as exc:  # pragma: no cover - exercised without lightgbm only
    raise MissingExtraError(
        "LightGBMCallback needs the 'lightgbm' package, which is not installed; install it "
        "with: pip install 'tunelab[lightgbm]'"
    ) from exc

__all__ = ["LightGBMCallback"]


class LightGBMCallback:
    """A LightGBM callback (``lgb.train(..., callbacks=[...])`` or
    ``LGBMModel.fit(..., callbacks=[...])``) that reports ``monitor``
    (``"<validation set>-<metric>"``, e.g. ``"valid_0-l2"``) after every round as step
    ``round + 1``, under the name ``metric`` (default: ``monitor``). When the scheduler
    says PAUSE or STOP, training ends there the way early stopping ends it (the model
    keeps the rounds trained so far).

    >>> import lightgbm as lgb, numpy as np
    >>> from tunelab import ASHA, Float, Space, Study
    >>> from tunelab.integrations import LightGBMCallback
    >>> x = np.random.default_rng(0).normal(size=(200, 3)); y = x[:, 0] + x[:, 1] ** 2
    >>> train = lgb.Dataset(x[:150], y[:150])
    >>> valid = lgb.Dataset(x[150:], y[150:], reference=train)
    >>> def objective(trial):
    ...     lgb.train({"learning_rate": trial["lr"], "num_threads": 1, "verbose": -1},
    ...               train, num_boost_round=27, valid_sets=[valid],
    ...               callbacks=[LightGBMCallback(trial, "valid_0-l2")])
    >>> study = Study("lgb-doc", Space(lr=Float(0.01, 0.5, log=True)), metric="valid_0-l2",
    ...               scheduler=ASHA(1, 27, 3, mode="stopping"), store="memory", seed=0)
    >>> study.optimize(objective, n_trials=4)
    >>> [t.status.value for t in study.trials]  # stopped at the first rung, but the best
    ['COMPLETE', 'STOPPED', 'STOPPED', 'STOPPED']
    """

    #: After LightGBM's own evaluation logging, before its early stopping (order 30).
    order = 25
    before_iteration = False

    def __init__(self, trial: Any, monitor: str, *, metric: str | None = None) -> None:
        self._reporter = StepReporter(trial, monitor, metric, "LightGBMCallback")
        self.monitor = monitor

    @property
    def decision(self) -> Any:
        """The scheduler's answer at the last round."""
        return self._reporter.decision

    def __call__(self, env: Any) -> None:
        results = env.evaluation_result_list or []
        found = {f"{item[0]}-{item[1]}": item[2] for item in results}
        if self.monitor not in found:
            raise self._reporter.missing(found)
        if self._reporter.report(env.iteration + 1, found[self.monitor]):
            raise lightgbm.callback.EarlyStopException(env.iteration, results)
