"""Integrations: scikit-learn search, training-framework callbacks, Optuna-style objectives.

Each name is imported on first use, with its library; a missing library raises
:class:`tunelab.MissingExtraError` with the ``pip install 'tunelab[...]'`` line.

=======================  ===============================  =====================
name                     what                             extra
=======================  ===============================  =====================
``TuneSearchCV``         GridSearchCV-style search         ``tunelab[sklearn]``
``LightningCallback``    report/stop a Lightning Trainer   ``tunelab[lightning]``
``KerasCallback``        report/stop ``model.fit``         ``tunelab[keras]``
``XGBoostCallback``      report/stop boosting rounds       ``tunelab[xgboost]``
``LightGBMCallback``     report/stop boosting rounds       ``tunelab[lightgbm]``
``optimize_optuna``      run an Optuna-style objective     (none)
``OptunaTrial``          the ``trial`` it receives         (none)
``TrialPruned``          raised to end a pruned trial      (none)
=======================  ===============================  =====================

>>> from tunelab.integrations import TrialPruned
>>> issubclass(TrialPruned, Exception)
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and IDEs; at run time each is imported on first use
    from tunelab.integrations._keras import KerasCallback
    from tunelab.integrations._lightgbm import LightGBMCallback
    from tunelab.integrations._lightning import LightningCallback
    from tunelab.integrations._optuna import OptunaTrial, TrialPruned, optimize_optuna
    from tunelab.integrations._sklearn import TuneSearchCV
    from tunelab.integrations._xgboost import XGBoostCallback

__all__ = [
    "KerasCallback",
    "LightGBMCallback",
    "LightningCallback",
    "OptunaTrial",
    "TrialPruned",
    "TuneSearchCV",
    "XGBoostCallback",
    "optimize_optuna",
]

_HOMES = {
    "TuneSearchCV": "_sklearn",
    "LightningCallback": "_lightning",
    "KerasCallback": "_keras",
    "XGBoostCallback": "_xgboost",
    "LightGBMCallback": "_lightgbm",
    "OptunaTrial": "_optuna",
    "TrialPruned": "_optuna",
    "optimize_optuna": "_optuna",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tunelab.integrations' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tunelab.integrations.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
