"""XGBoost: report an evaluation metric after every boosting round; stop when told."""

from __future__ import annotations

from typing import Any

from tunelab._errors import MissingExtraError
from tunelab.integrations._report import StepReporter

try:
    import xgboost
except ImportError as exc:  # pragma: no cover - exercised without xgboost only
    raise MissingExtraError(
        "XGBoostCallback needs the 'xgboost' package, which is not installed; install it "
        "with: pip install 'tunelab[xgboost]'"
    ) from exc

__all__ = ["XGBoostCallback"]


class XGBoostCallback(xgboost.callback.TrainingCallback):
    """Report ``monitor`` (``"<evaluation set>-<metric>"``, e.g. ``"validation_0-logloss"``
    with the scikit-learn API or ``"eval-rmse"`` with ``xgb.train(evals=[(d, "eval")])``)
    after every round, as step = the booster's number of rounds (so a run that boosts on
    from a saved model with ``xgb_model=`` goes on counting), under the name ``metric``
    (default: ``monitor``); training ends after the round at which the scheduler says
    PAUSE or STOP.

    >>> import numpy as np, xgboost as xgb
    >>> from tunelab import ASHA, Float, Space, Study
    >>> from tunelab.integrations import XGBoostCallback
    >>> x = np.random.default_rng(0).normal(size=(200, 3)); y = x[:, 0] + x[:, 1] ** 2
    >>> data = xgb.DMatrix(x[:150], y[:150]); held_out = xgb.DMatrix(x[150:], y[150:])
    >>> def objective(trial):
    ...     xgb.train({"eta": trial["eta"], "nthread": 1}, data, num_boost_round=27,
    ...               evals=[(held_out, "eval")], verbose_eval=False,
    ...               callbacks=[XGBoostCallback(trial, "eval-rmse")])
    >>> study = Study("xgb-doc", Space(eta=Float(0.01, 0.5, log=True)), metric="eval-rmse",
    ...               scheduler=ASHA(1, 27, 3, mode="stopping"), store="memory", seed=0)
    >>> study.optimize(objective, n_trials=4)
    >>> [t.status.value for t in study.trials]  # stopped at the first rung, but the best
    ['COMPLETE', 'STOPPED', 'STOPPED', 'STOPPED']
    """

    def __init__(self, trial: Any, monitor: str, *, metric: str | None = None) -> None:
        super().__init__()
        self._reporter = StepReporter(trial, monitor, metric, "XGBoostCallback")
        data, sep, name = monitor.partition("-")
        self._data, self._name = (data, name) if sep else ("", monitor)

    @property
    def decision(self) -> Any:
        """The scheduler's answer at the last round."""
        return self._reporter.decision

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        scores = evals_log.get(self._data, {}).get(self._name)
        if not scores:
            available = [f"{d}-{m}" for d, metrics in evals_log.items() for m in metrics]
            raise self._reporter.missing(available)
        last = scores[-1]
        value = last[0] if isinstance(last, tuple) else last  # xgb.cv: (mean, std)
        # Rounds of the booster so far: a run that boosts on from a saved model
        # (``xgb_model=``) counts from 0 in ``epoch`` but goes on in the booster.
        rounds = getattr(model, "num_boosted_rounds", None)
        step = int(rounds()) if callable(rounds) else epoch + 1
        return self._reporter.report(step, value)
