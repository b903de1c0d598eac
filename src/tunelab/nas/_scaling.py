"""Compound scaling (Tan and Le 2019, EfficientNet): depth, width and input resolution
grow together as ``alpha**phi``, ``beta**phi`` and ``gamma**phi``.

The coefficients obey ``alpha * beta**2 * gamma**2 = 2`` with each >= 1, so FLOPs grow
about ``2**phi``. They are searched at ``phi = 1`` on a small proxy through two shares of
the doubling, so every proposal meets the constraint exactly: ``log2 alpha = d``,
``2 log2 beta = (1 - d) w`` and ``2 log2 gamma = (1 - d)(1 - w)`` for ``d, w`` in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tunelab._errors import InvalidArgumentError
from tunelab.searchers import Searcher
from tunelab.space import Float, Space
from tunelab.study import Study

__all__ = ["Coefficients", "CompoundScaling", "ScalableNet", "ScaledDims", "search_coefficients"]


@dataclass(frozen=True)
class Coefficients:
    """Per-step multipliers of depth (``alpha``), width (``beta``), resolution (``gamma``)."""

    alpha: float
    beta: float
    gamma: float

    @property
    def flops_factor(self) -> float:
        """``alpha * beta**2 * gamma**2``: the FLOPs multiplier of one step (2 here)."""
        return self.alpha * self.beta**2 * self.gamma**2

    @classmethod
    def from_shares(cls, depth_share: float, width_share: float) -> Coefficients:
        """The coefficients that spend ``depth_share`` of the doubling on depth and
        ``width_share`` of the rest on width (the remainder on resolution)."""
        for name, v in (("depth_share", depth_share), ("width_share", width_share)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
                raise InvalidArgumentError(f"`{name}` must be a number in [0, 1]; got {v!r}")
        rest = 1.0 - depth_share
        return cls(2.0**depth_share, 2.0 ** (rest * width_share / 2),
                   2.0 ** (rest * (1 - width_share) / 2))


@dataclass(frozen=True)
class ScaledDims:
    """The size of a scaled network: layers per stage, base width, input resolution."""

    depths: tuple[int, ...]
    width: int
    resolution: int


class ScalableNet(nn.Module):
    """A plain convolutional network of stages (conv-BN-ReLU layers, stride 2 and double
    width at each new stage) that resizes its input to ``resolution``.

    >>> net = ScalableNet(ScaledDims((1, 2), 4, 12), in_channels=1, num_classes=10)
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, dims: ScaledDims, *, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.dims = dims
        layers: list[nn.Module] = []
        c_in = in_channels
        for stage, depth in enumerate(dims.depths):
            c_out = dims.width * 2**stage
            for i in range(depth):
                stride = 2 if stage > 0 and i == 0 else 1
                layers += [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                           nn.BatchNorm2d(c_out), nn.ReLU(inplace=False)]
                c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(c_in, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.dims.resolution
        if x.shape[-2:] != (r, r):
            x = nn.functional.interpolate(x, size=(r, r), mode="bilinear", align_corners=False)
        return self.head(self.features(x))


class CompoundScaling:
    """A base network and the rule that scales it.

    >>> scaling = CompoundScaling(base_depths=(1, 1), base_width=8, base_resolution=16)
    >>> c = Coefficients.from_shares(0.4, 0.5)
    >>> round(c.flops_factor, 12)
    2.0
    >>> scaling.dims(c, 2)
    ScaledDims(depths=(2, 2), width=10, resolution=20)
    """

    def __init__(
        self,
        base_depths: Sequence[int] = (1, 1, 1),
        base_width: int = 8,
        base_resolution: int = 16,
        *,
        in_channels: int = 1,
        num_classes: int = 10,
    ) -> None:
        if (isinstance(base_depths, (str, bytes)) or not isinstance(base_depths, Sequence)
                or not base_depths or not all(isinstance(d, int) and d >= 1
                                              for d in base_depths)):
            raise InvalidArgumentError(
                f"`base_depths` must be a non-empty sequence of integers >= 1; got "
                f"{base_depths!r}"
            )
        for name, v in (("base_width", base_width), ("base_resolution", base_resolution),
                        ("in_channels", in_channels), ("num_classes", num_classes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidArgumentError(f"`{name}` must be an integer >= 1; got {v!r}")
        self.base_depths = tuple(base_depths)
        self.base_width = base_width
        self.base_resolution = base_resolution
        self.in_channels = in_channels
        self.num_classes = num_classes

    def dims(self, coefficients: Coefficients, phi: float) -> ScaledDims:
        """Depths ``ceil(d * alpha**phi)``, width and resolution rounded from
        ``w * beta**phi`` and ``r * gamma**phi``."""
        if not isinstance(phi, (int, float)) or isinstance(phi, bool) or phi < 0:
            raise InvalidArgumentError(f"`phi` must be a number >= 0; got {phi!r}")
        a, b, g = coefficients.alpha**phi, coefficients.beta**phi, coefficients.gamma**phi
        return ScaledDims(tuple(math.ceil(d * a - 1e-9) for d in self.base_depths),
                          max(1, round(self.base_width * b)),
                          max(4, round(self.base_resolution * g)))

    def build(self, coefficients: Coefficients, phi: float) -> ScalableNet:
        return ScalableNet(self.dims(coefficients, phi), in_channels=self.in_channels,
                           num_classes=self.num_classes)

    @staticmethod
    def space() -> Space:
        """The search space of the coefficients: the two shares of the doubling."""
        return Space(depth_share=Float(0.0, 1.0), width_share=Float(0.0, 1.0))

    @staticmethod
    def coefficients(config: Mapping[str, Any]) -> Coefficients:
        return Coefficients.from_shares(float(config["depth_share"]),
                                        float(config["width_share"]))


def search_coefficients(
    scaling: CompoundScaling,
    objective: Callable[[ScalableNet], float],
    *,
    n_trials: int = 8,
    searcher: Searcher | str = "random",
    seed: int = 0,
    store: Any = "memory",
    name: str = "compound-scaling",
) -> tuple[Coefficients, Study]:
    """Search ``alpha, beta, gamma`` at ``phi = 1``: ``objective(net)`` trains the scaled
    proxy network and returns its validation accuracy (maximised). Each trial records the
    coefficients and the network's FLOPs and parameters next to ``accuracy``.
    Returns the best coefficients and the study."""
    from tunelab.nas._cost import count_flops, count_params

    shape = (scaling.in_channels, scaling.base_resolution, scaling.base_resolution)

    def run(config: Mapping[str, Any]) -> dict[str, float]:
        c = scaling.coefficients(config)
        net = scaling.build(c, 1)
        return {"accuracy": float(objective(net)), "alpha": c.alpha, "beta": c.beta,
                "gamma": c.gamma, "flops": float(count_flops(net, shape)),
                "params": float(count_params(net))}

    study = Study(name, scaling.space(), metric="accuracy", direction="max",
                  searcher=searcher, store=store, seed=seed)
    study.optimize(run, n_trials=n_trials)
    return scaling.coefficients(study.best_trial.config), study
