"""Networks built from cells: a stem, stages of cells joined by reduction blocks, a head.

The macro skeleton follows NAS-Bench-201: cells keep the resolution and channel count, and
a residual block with stride 2 doubles the channels between stages. The same skeleton holds
a discrete cell (:class:`CellNetwork`) or the DARTS supernet (``tunelab.nas.SuperNet``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tunelab._errors import InvalidArgumentError
from tunelab.nas._ops import make_op
from tunelab.nas._spaces import Genotype

__all__ = ["Cell", "CellNetwork", "ReductionBlock", "check_macro"]


def check_macro(channels: int, stages: int, cells_per_stage: int) -> None:
    for name, value, low in (("channels", channels, 1), ("stages", stages, 1),
                             ("cells_per_stage", cells_per_stage, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgumentError(f"`{name}` must be an integer >= {low}; got {value!r}")


class ReductionBlock(nn.Module):
    """A residual block halving the resolution and doubling the channels."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


def combine(states: list[torch.Tensor], output: str, project: nn.Module | None) -> torch.Tensor:
    """A cell's output from its node states: the last node, or the intermediate nodes
    concatenated and projected back to the cell's channels."""
    if output == "last":
        return states[-1]
    assert project is not None
    return project(torch.cat(states[1:], dim=1))


def projection(channels: int, nodes: int, affine: bool = True) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(channels * nodes, channels, 1, bias=False),
        nn.BatchNorm2d(channels, affine=affine),
    )


class Cell(nn.Module):
    """A discrete cell on ``channels`` channels."""

    def __init__(self, genotype: Genotype, channels: int) -> None:
        super().__init__()
        self.genotype = genotype
        self.edge_ops = nn.ModuleDict(
            {f"{s}_{d}": make_op(op, channels) for s, d, op in genotype.edges}
        )
        self.project = (projection(channels, genotype.nodes)
                        if genotype.output == "concat" else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [x]
        for node in range(1, self.genotype.nodes + 1):
            total = torch.zeros_like(x)
            for src, _ in self.genotype.inputs(node):
                total = total + self.edge_ops[f"{src}_{node}"](states[src])
            states.append(total)
        return combine(states, self.genotype.output, self.project)


def build_backbone(
    in_channels: int,
    num_classes: int,
    channels: int,
    stages: int,
    cells_per_stage: int,
    make_cell: Callable[[int], nn.Module],
    affine: bool = True,
) -> tuple[nn.Module, nn.ModuleList, nn.Module]:
    """(stem, body, head) of the macro skeleton; ``make_cell(c)`` builds one cell."""
    stem = nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels, affine=affine),
    )
    body = nn.ModuleList()
    c = channels
    for stage in range(stages):
        if stage > 0:
            body.append(ReductionBlock(c, 2 * c, affine))
            c *= 2
        for _ in range(cells_per_stage):
            body.append(make_cell(c))
    head = nn.Sequential(
        nn.BatchNorm2d(c, affine=affine), nn.ReLU(inplace=False),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes),
    )
    return stem, body, head


class CellNetwork(nn.Module):
    """A classifier made of one discrete cell repeated: ``stages`` stages of
    ``cells_per_stage`` cells, starting at ``channels`` channels.

    >>> from tunelab.nas import CellNetwork, nasbench201_space
    >>> space = nasbench201_space()
    >>> net = CellNetwork(space.genotype(space.sample(seed=0)), in_channels=1, num_classes=10,
    ...                   channels=4, stages=2, cells_per_stage=1)
    >>> net(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        genotype: Genotype,
        *,
        in_channels: int,
        num_classes: int,
        channels: int = 16,
        stages: int = 3,
        cells_per_stage: int = 1,
    ) -> None:
        super().__init__()
        check_macro(channels, stages, cells_per_stage)
        self.genotype = genotype
        self.stem, self.body, self.head = build_backbone(
            in_channels, num_classes, channels, stages, cells_per_stage,
            lambda c: Cell(genotype, c),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.body:
            x = block(x)
        return self.head(x)
