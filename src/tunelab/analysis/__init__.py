"""Analysis of finished (or running) studies: read the store, compute, never write.

* :func:`fidelity_agreement` -- does a cheap proxy (fewer epochs, a data subset, a smaller
  model) rank configurations like the full run? Rank correlations between consecutive
  resources.
"""

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
    "fidelity_agreement",
    "resource_ladder",
    "values_at",
]
