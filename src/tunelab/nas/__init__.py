"""Neural architecture search (extra ``tunelab[torch]``).

* Architecture spaces as ordinary Spaces: :class:`CellSpace` (a cell's edges, each a
  Categorical over candidate ops) and :func:`nasbench201_space` (6 edges x 5 ops).
* :class:`DARTS`: differentiable search on a supernet (first or second order), the
  derived cell, a guard against collapse into skip connections; every epoch can be
  reported to a study's trial.
* :class:`ReinforceController`: a REINFORCE searcher (NumPy) that runs under any
  executor and scheduler, registered as searcher ``"reinforce"``.
* :class:`CompoundScaling`: EfficientNet-style scaling of depth, width and resolution.
* :func:`measure_cost`: parameters, FLOPs and CPU latency, for constraints or a second
  objective.

Regularized evolution on architectures is :class:`tunelab.RegularizedEvolution`: on a
cell space, each child changes the op of one edge.
"""

from __future__ import annotations

from tunelab._errors import MissingExtraError

try:
    import torch as _torch  # noqa: F401
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError(
        "tunelab.nas needs PyTorch, which is not installed; install it with:\n"
        "pip install 'tunelab[torch]'"
    ) from _exc

from tunelab.nas._controller import ReinforceController
from tunelab.nas._cost import Cost, count_flops, count_params, measure_cost, measure_latency
from tunelab.nas._darts import DARTS, DartsResult, hvp_autograd, hvp_finite_difference
from tunelab.nas._network import Cell, CellNetwork
from tunelab.nas._ops import OPS, make_op
from tunelab.nas._scaling import (
    Coefficients,
    CompoundScaling,
    ScalableNet,
    ScaledDims,
    search_coefficients,
)
from tunelab.nas._spaces import (
    DARTS_OPS,
    NB201_EDGES,
    NB201_OPS,
    CellSpace,
    Genotype,
    nasbench201_space,
)
from tunelab.nas._supernet import MixedOp, SuperNet, derive
from tunelab.nas._train import TrainResult, evaluate, train_network
from tunelab.searchers import SEARCHERS as _SEARCHERS

# Lets a study that used the controller be resumed by name once tunelab.nas is imported.
_SEARCHERS.setdefault(ReinforceController.name, ReinforceController)

__all__ = [
    "DARTS",
    "DARTS_OPS",
    "NB201_EDGES",
    "NB201_OPS",
    "OPS",
    "Cell",
    "CellNetwork",
    "CellSpace",
    "Coefficients",
    "CompoundScaling",
    "Cost",
    "DartsResult",
    "Genotype",
    "MixedOp",
    "ReinforceController",
    "ScalableNet",
    "ScaledDims",
    "SuperNet",
    "TrainResult",
    "count_flops",
    "count_params",
    "derive",
    "evaluate",
    "hvp_autograd",
    "hvp_finite_difference",
    "make_op",
    "measure_cost",
    "measure_latency",
    "nasbench201_space",
    "search_coefficients",
    "train_network",
]
