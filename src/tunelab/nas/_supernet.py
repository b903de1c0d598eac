"""The DARTS supernet: every edge mixes all candidate ops with softmax weights.

Liu, Simonyan and Yang (2019), "DARTS: Differentiable Architecture Search", ICLR. One
architecture parameter per (edge, op), shared by every cell of the network.
"""

from __future__ import annotations

import torch
from torch import nn

from tunelab._errors import InvalidArgumentError
from tunelab.nas._network import build_backbone, check_macro, combine, projection
from tunelab.nas._ops import make_op
from tunelab.nas._spaces import CellSpace, Genotype

__all__ = ["MixedOp", "SuperCell", "SuperNet", "derive"]


class MixedOp(nn.Module):
    """The weighted sum of every candidate op on one edge."""

    def __init__(self, ops: tuple[str, ...], channels: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList([make_op(op, channels, affine=False) for op in ops])

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum((w * op(x) for w, op in zip(weights, self.ops, strict=True)),
                   torch.zeros_like(x))


class SuperCell(nn.Module):
    """A cell whose edges are :class:`MixedOp` s; weights come from the network."""

    def __init__(self, space: CellSpace, channels: int) -> None:
        super().__init__()
        self.space = space
        self.mixed = nn.ModuleList([MixedOp(space.ops, channels) for _ in space.edges])
        self.project = (projection(channels, space.nodes, affine=False)
                        if space.output == "concat" else None)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [x]
        edge = 0
        for _node in range(1, self.space.nodes + 1):
            total = torch.zeros_like(x)
            for src in range(len(states)):
                total = total + self.mixed[edge](states[src], weights[edge])
                edge += 1
            states.append(total)
        return combine(states, self.space.output, self.project)


class SuperNet(nn.Module):
    """The one-shot network of a :class:`CellSpace`: ``alpha`` holds one row of
    architecture logits per edge; :meth:`weights` are the ordinary network weights.

    >>> from tunelab.nas import CellSpace, SuperNet
    >>> space = CellSpace(2, ("none", "skip_connect", "conv_3x3"))
    >>> net = SuperNet(space, in_channels=1, num_classes=3, channels=4, stages=1)
    >>> net(torch.zeros(2, 1, 6, 6)).shape, tuple(net.alpha.shape)
    (torch.Size([2, 3]), (3, 3))
    """

    def __init__(
        self,
        space: CellSpace,
        *,
        in_channels: int,
        num_classes: int,
        channels: int = 16,
        stages: int = 3,
        cells_per_stage: int = 1,
    ) -> None:
        super().__init__()
        if not isinstance(space, CellSpace):
            raise InvalidArgumentError(f"`space` must be a CellSpace; got {space!r}")
        check_macro(channels, stages, cells_per_stage)
        self.space = space
        self.stem, self.body, self.head = build_backbone(
            in_channels, num_classes, channels, stages, cells_per_stage,
            lambda c: SuperCell(space, c), affine=False,
        )
        self.alpha = nn.Parameter(1e-3 * torch.randn(len(space.edges), len(space.ops)))

    def weights(self) -> list[nn.Parameter]:
        """Every parameter but the architecture logits."""
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.alpha, dim=-1)
        x = self.stem(x)
        for block in self.body:
            x = block(x, weights) if isinstance(block, SuperCell) else block(x)
        return self.head(x)


def _strongest(row: torch.Tensor, allowed: list[int]) -> int:
    """The index in ``allowed`` with the largest weight in ``row`` (the first on ties)."""
    return max(allowed, key=lambda i: float(row[i]))


def derive(
    space: CellSpace,
    alpha: torch.Tensor,
    inputs_per_node: int | None = 2,
    max_skips: int | None = None,
) -> Genotype:
    """The discrete cell of architecture logits ``alpha`` (edges x ops).

    Each edge's candidate is its strongest op other than ``none``; each node keeps its
    ``inputs_per_node`` strongest incoming edges (all of them when None). With
    ``max_skips``, the weakest ``skip_connect`` edges beyond that many switch to their
    strongest op that is neither ``none`` nor ``skip_connect`` (the collapse cap).

    >>> from tunelab.nas import CellSpace
    >>> space = CellSpace(2, ("none", "skip_connect", "conv_3x3"))
    >>> alpha = torch.tensor([[5.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 0.0, 3.0]])
    >>> derive(space, alpha).edges
    ((0, 1, 'skip_connect'), (0, 2, 'skip_connect'), (1, 2, 'conv_3x3'))
    >>> derive(space, alpha, max_skips=1).edges
    ((0, 1, 'conv_3x3'), (0, 2, 'skip_connect'), (1, 2, 'conv_3x3'))
    """
    probs = torch.softmax(alpha.detach().double(), dim=-1).cpu()
    ops = space.ops
    allowed = [i for i, op in enumerate(ops) if op != "none"]
    if not allowed:
        raise InvalidArgumentError("the space has only the 'none' op; nothing to derive")
    chosen: list[tuple[int, int, str, float]] = []
    for node in range(1, space.nodes + 1):
        cands = []
        for e, (src, dst) in enumerate(space.edges):
            if dst != node:
                continue
            k = _strongest(probs[e], allowed)
            cands.append((float(probs[e, k]), src, e, ops[k]))
        cands.sort(key=lambda c: (-c[0], c[1]))
        keep = cands if inputs_per_node is None else cands[:inputs_per_node]
        chosen += [(src, node, op, strength) for strength, src, _e, op in keep]
    if max_skips is not None:
        skips = sorted((c for c in chosen if c[2] == "skip_connect"), key=lambda c: -c[3])
        other = [i for i in allowed if ops[i] != "skip_connect"]
        for src, dst, _op, strength in skips[max_skips:]:
            if not other:
                break
            e = space.edges.index((src, dst))
            k = _strongest(probs[e], other)
            chosen[chosen.index((src, dst, "skip_connect", strength))] = (
                src, dst, ops[k], strength)
    edges = tuple(sorted(((s, d, op) for s, d, op, _ in chosen), key=lambda t: (t[1], t[0])))
    return Genotype(space.nodes, edges, space.output)
