"""Plain supervised training of a network on in-memory tensors (for retraining and
for scoring architectures)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from tunelab._errors import InvalidArgumentError

__all__ = ["TrainResult", "batches", "check_data", "evaluate", "train_network"]

Data = tuple[torch.Tensor, torch.Tensor]


def check_data(name: str, data: object) -> Data:
    """``data`` as a pair (images N x C x H x W float, labels N long)."""
    if (not isinstance(data, (tuple, list)) or len(data) != 2
            or not all(isinstance(t, torch.Tensor) for t in data)):
        raise InvalidArgumentError(
            f"`{name}` must be a pair of tensors (images, labels); got {type(data).__name__}"
        )
    x, y = data
    if x.dim() != 4 or y.dim() != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise InvalidArgumentError(
            f"`{name}` must hold images N x C x H x W and N labels, N >= 1; got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    return x.float(), y.long()


def batches(data: Data, batch_size: int, generator: torch.Generator | None) -> Iterator[Data]:
    """Mini-batches in a random order (``generator``) or in order (None)."""
    x, y = data
    n = x.shape[0]
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]


@torch.no_grad()
def evaluate(model: nn.Module, data: Data, batch_size: int = 512) -> tuple[float, float]:
    """(mean cross-entropy, accuracy in [0, 1]) of ``model`` on ``data`` in eval mode."""
    x, y = check_data("data", data)
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    for xb, yb in batches((x, y), batch_size, None):
        out = model(xb)
        loss += float(nn.functional.cross_entropy(out, yb, reduction="sum"))
        correct += int((out.argmax(dim=1) == yb).sum())
    model.train(was_training)
    return loss / x.shape[0], correct / x.shape[0]


@dataclass
class TrainResult:
    """Per-epoch history of :func:`train_network` and the final validation scores."""

    val_loss: float
    val_accuracy: float
    history: list[dict[str, float]] = field(default_factory=list)


def train_network(
    model: nn.Module,
    train: Data,
    val: Data,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 3e-4,
    seed: int = 0,
) -> TrainResult:
    """Train with SGD (cosine learning rate, gradient clipping at 5) and score on ``val``
    after every epoch.

    >>> from torch import nn
    >>> x = torch.randn(32, 1, 4, 4); y = (x.mean(dim=(1, 2, 3)) > 0).long()
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    >>> train_network(net, (x, y), (x, y), epochs=20, seed=0).val_accuracy > 0.8
    True
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InvalidArgumentError(f"`epochs` must be an integer >= 1; got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"`batch_size` must be an integer >= 1; got {batch_size!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise InvalidArgumentError(f"`lr` must be a number > 0; got {lr!r}")
    train = check_data("train", train)
    val = check_data("val", val)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                          weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    result = TrainResult(math.inf, 0.0)
    for epoch in range(1, epochs + 1):
        model.train()
        total, n = 0.0, 0
        for xb, yb in batches(train, batch_size, gen):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            total += float(loss.detach()) * xb.shape[0]
            n += xb.shape[0]
        sched.step()
        result.val_loss, result.val_accuracy = evaluate(model, val)
        result.history.append({"epoch": epoch, "train_loss": total / n,
                               "val_loss": result.val_loss,
                               "val_accuracy": result.val_accuracy})
    return result
