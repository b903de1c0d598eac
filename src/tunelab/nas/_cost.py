"""Hardware cost of a network: parameters, FLOPs (from forward hooks) and CPU latency.

FLOPs are counted as multiply-accumulates of one forward pass of one input, the convention
of the EfficientNet and NAS-Bench-201 tables: a convolution counts
``out_elements x in_channels / groups x kernel area`` (+ one per output for a bias), a
linear layer ``in x out`` (+ bias), batch norm and activations one per element, pooling one
per window element. Additions that merge a cell's edges are not counted.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tunelab._errors import InvalidArgumentError

__all__ = ["Cost", "count_flops", "count_params", "measure_cost", "measure_latency"]


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    """The number of (trainable) parameters.

    >>> count_params(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _window(kernel: int | Sequence[int]) -> int:
    return math.prod(kernel) if isinstance(kernel, Sequence) else int(kernel) ** 2


def _flops_of(module: nn.Module, out: torch.Tensor) -> int:
    n = out.numel()
    if isinstance(module, nn.Conv2d):
        k = _window(module.kernel_size)
        return n * (module.in_channels // module.groups) * k + (n if module.bias is not None
                                                                 else 0)
    if isinstance(module, nn.Linear):
        return n * module.in_features + (n if module.bias is not None else 0)
    if isinstance(module, (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.SiLU, nn.Sigmoid)):
        return n
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return n * _window(module.kernel_size)
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return 0  # counted below from the input size
    return 0


def _shape(name: str, shape: Sequence[int]) -> tuple[int, ...]:
    if (isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                       for s in shape)):
        raise InvalidArgumentError(
            f"`{name}` must be a sequence of positive integers (C, H, W); got {shape!r}"
        )
    return tuple(shape)


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs (multiply-accumulates) of one forward pass of one ``input_shape`` input
    (C, H, W), counted by forward hooks on every leaf module.

    >>> count_flops(nn.Conv2d(1, 2, 3, padding=1, bias=False), (1, 4, 4))
    288
    """
    shape = _shape("input_shape", input_shape)
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.AdaptiveAvgPool2d):
            total += inputs[0].numel()
        elif isinstance(out, torch.Tensor):
            total += _flops_of(module, out)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if not list(m.children())]
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, *shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)


@torch.no_grad()
def measure_latency(
    model: nn.Module, input_shape: Sequence[int], *, batch_size: int = 1, repeats: int = 20,
    warmup: int = 3,
) -> float:
    """The median wall-clock seconds of a forward pass on the CPU, in eval mode, with the
    current ``torch.get_num_threads()`` (set it first for a fair comparison)."""
    shape = _shape("input_shape", input_shape)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise InvalidArgumentError(f"`repeats` must be an integer >= 1; got {repeats!r}")
    x = torch.zeros(batch_size, *shape)
    was_training = model.training
    model.eval()
    try:
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    return statistics.median(times)


@dataclass(frozen=True)
class Cost:
    """Parameters, FLOPs and median CPU latency (milliseconds) of a network."""

    params: int
    flops: int
    latency_ms: float

    def as_metrics(self) -> dict[str, float]:
        """The cost as metrics to report or return from an objective."""
        return {"params": float(self.params), "flops": float(self.flops),
                "latency_ms": self.latency_ms}


def measure_cost(model: nn.Module, input_shape: Sequence[int], *, repeats: int = 20) -> Cost:
    """:class:`Cost` of ``model`` on one ``input_shape`` input.

    >>> cost = measure_cost(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), (1, 2, 2), repeats=2)
    >>> cost.params, cost.flops
    (10, 10)
    """
    return Cost(count_params(model), count_flops(model, input_shape),
                1000.0 * measure_latency(model, input_shape, repeats=repeats))
