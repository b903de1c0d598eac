"""Analysis of finished (or running) studies: read the store, compute, never write.

* :func:`fidelity_agreement` -- does a cheap proxy (fewer epochs, a data subset, a smaller
  model) rank configurations like the full run? Rank correlations between consecutive
  resources.
* :func:`non_dominated_mask`, :func:`non_dominated_ranks`, :func:`hypervolume` -- Pareto
  fronts of several objectives (losses: lower is better; :func:`as_losses` converts).
"""

from tunelab._pareto import as_losses, hypervolume, non_dominated_mask, non_dominated_ranks
from tunelab.analysis._fidelity import (
    FidelityAgreement,
    RankAgreement,
    fidelity_agreement,
    resource_ladder,
    values_at,
)

__all__ = [
    "FidelityAgreement",
    "RankAgreement",
    "as_losses",
    "fidelity_agreement",
    "hypervolume",
    "non_dominated_mask",
    "non_dominated_ranks",
    "resource_ladder",
    "values_at",
]
