"""Candidate operations of a cell edge: stride-1 modules from ``C`` to ``C`` channels."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tunelab._errors import InvalidArgumentError

__all__ = ["OPS", "make_op"]


class Zero(nn.Module):
    """The ``none`` operation: a zero tensor shaped like the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.0


class ReLUConvBN(nn.Module):
    """ReLU, convolution, batch norm (NAS-Bench-201's ``nor_conv``)."""

    def __init__(self, c: int, kernel: int, dilation: int = 1, affine: bool = True) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, kernel, padding=pad, dilation=dilation, bias=False),
            nn.BatchNorm2d(c, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """A depthwise-separable convolution, applied twice as in DARTS."""

    def __init__(self, c: int, kernel: int, affine: bool = True) -> None:
        super().__init__()
        pad = (kernel - 1) // 2
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += [
                nn.ReLU(inplace=False),
                nn.Conv2d(c, c, kernel, padding=pad, groups=c, bias=False),
                nn.Conv2d(c, c, 1, bias=False),
                nn.BatchNorm2d(c, affine=affine),
            ]
        self.op = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """A dilated depthwise-separable convolution (dilation 2)."""

    def __init__(self, c: int, kernel: int, affine: bool = True) -> None:
        super().__init__()
        pad = kernel - 1
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, kernel, padding=pad, dilation=2, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


OpFactory = Callable[[int, bool], nn.Module]

#: Operation name -> factory ``(channels, affine) -> module``.
OPS: dict[str, OpFactory] = {
    "none": lambda c, affine: Zero(),
    "skip_connect": lambda c, affine: nn.Identity(),
    "conv_1x1": lambda c, affine: ReLUConvBN(c, 1, affine=affine),
    "conv_3x3": lambda c, affine: ReLUConvBN(c, 3, affine=affine),
    "nor_conv_1x1": lambda c, affine: ReLUConvBN(c, 1, affine=affine),
    "nor_conv_3x3": lambda c, affine: ReLUConvBN(c, 3, affine=affine),
    "sep_conv_3x3": lambda c, affine: SepConv(c, 3, affine=affine),
    "sep_conv_5x5": lambda c, affine: SepConv(c, 5, affine=affine),
    "dil_conv_3x3": lambda c, affine: DilConv(c, 3, affine=affine),
    "max_pool_3x3": lambda c, affine: nn.MaxPool2d(3, stride=1, padding=1),
    "avg_pool_3x3": lambda c, affine: nn.AvgPool2d(3, stride=1, padding=1,
                                                   count_include_pad=False),
}


def make_op(name: str, channels: int, affine: bool = True) -> nn.Module:
    """Build the operation ``name`` on ``channels`` channels.

    >>> make_op("conv_3x3", 4)(torch.zeros(1, 4, 5, 5)).shape
    torch.Size([1, 4, 5, 5])
    """
    if name not in OPS:
        raise InvalidArgumentError(f"unknown operation {name!r}; allowed: {sorted(OPS)}")
    return OPS[name](channels, affine)
