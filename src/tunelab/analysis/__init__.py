"""Analysis of studies. Most functions only read; :func:`reproduce`, :func:`seed_noise` and
:func:`sensitivity` run new trials through the study (which alone writes to the store).

* :func:`fidelity_agreement` -- does a cheap proxy (fewer epochs, a data subset, a smaller
  model) rank configurations like the full run? Rank correlations between consecutive
  resources.
* :func:`importance` -- fANOVA main effects of each parameter on a random forest;
  :func:`good_ranges` -- where the best configurations lie;
* :func:`reproduce` -- rerun a trial with its configuration and seed, compare the
  metrics, list what changed in the environment;
* :func:`seed_noise` -- rerun the top configurations under new seeds: is the winner
  better than the seed noise?
* :func:`sensitivity` -- one-at-a-time sensitivity curves from a baseline;
* :func:`export_tensorboard`, :func:`export_text_log` (:func:`read_text_log`) -- records
  for other tools; :func:`plot` -- PNG plots (history, curves, importance, sensitivity,
  parallel coordinates, Pareto front);
* :func:`non_dominated_mask`, :func:`non_dominated_ranks`, :func:`hypervolume` -- Pareto
  fronts of several objectives (losses: lower is better; :func:`as_losses` converts).
"""

from tunelab._pareto import as_losses, hypervolume, non_dominated_mask, non_dominated_ranks
from tunelab.analysis._export import export_tensorboard, export_text_log, read_text_log
from tunelab.analysis._fidelity import (
    FidelityAgreement,
    RankAgreement,
    fidelity_agreement,
    resource_ladder,
    values_at,
)
from tunelab.analysis._importance import (
    GoodRange,
    Importance,
    good_ranges,
    good_ranges_table,
    importance,
)
from tunelab.analysis._plots import figure, plot
from tunelab.analysis._reproduce import MetricCheck, Reproduction, reproduce
from tunelab.analysis._seeds import ConfigNoise, SeedNoise, seed_noise
from tunelab.analysis._sensitivity import ParamCurve, Sensitivity, sensitivity

__all__ = [
    "ConfigNoise",
    "FidelityAgreement",
    "GoodRange",
    "Importance",
    "MetricCheck",
    "ParamCurve",
    "RankAgreement",
    "Reproduction",
    "SeedNoise",
    "Sensitivity",
    "as_losses",
    "export_tensorboard",
    "export_text_log",
    "fidelity_agreement",
    "figure",
    "good_ranges",
    "good_ranges_table",
    "importance",
    "hypervolume",
    "non_dominated_mask",
    "non_dominated_ranks",
    "plot",
    "read_text_log",
    "reproduce",
    "resource_ladder",
    "seed_noise",
    "sensitivity",
    "values_at",
]
