"""DARTS search: bilevel optimisation of a supernet's weights and architecture logits.

Liu, Simonyan and Yang (2019), "DARTS: Differentiable Architecture Search", ICLR. The
weights ``w`` descend the training loss; the architecture logits ``alpha`` descend the
validation loss, either at the current weights (first order) or after one virtual SGD step
of the weights (second order), whose mixed second derivative is a Hessian-vector product
estimated by central finite differences (:func:`hvp_finite_difference`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from tunelab._errors import InvalidArgumentError
from tunelab._log import logger
from tunelab.nas._spaces import CellSpace, Genotype
from tunelab.nas._supernet import SuperNet, derive
from tunelab.nas._train import Data, batches, check_data, evaluate
from tunelab.space import Config
from tunelab.trial import TrialHandle

__all__ = ["DARTS", "DartsResult", "hvp_autograd", "hvp_finite_difference"]

Loss = Callable[[], torch.Tensor]
GUARDS = ("stop", "cap")


def hvp_finite_difference(
    loss: Loss, weights: list[nn.Parameter], alphas: list[nn.Parameter],
    v: list[torch.Tensor], r: float = 0.01,
) -> list[torch.Tensor]:
    """``d/dalpha (dL/dw . v)`` by central differences, as in DARTS eq. 8:
    ``(grad_alpha L(w + eps v) - grad_alpha L(w - eps v)) / (2 eps)`` with
    ``eps = r / ||v||``. The weights are restored afterwards.

    DARTS' ``r = 0.01`` is the default. On ReLU networks the weight gradient has kinks, so
    a step that large can cross them and the estimate is rough (it is only a correction
    term of the architecture gradient); in float64 with ``r <= 1e-4`` it matches
    :func:`hvp_autograd` to about 1e-8 relative (tested)."""
    norm = math.sqrt(sum(float((t.detach() ** 2).sum()) for t in v))
    eps = r / norm if norm > 0 else r
    saved = [p.detach().clone() for p in weights]
    grads: list[list[torch.Tensor]] = []
    for sign in (1.0, -1.0):
        with torch.no_grad():
            for p, s, t in zip(weights, saved, v, strict=True):
                p.copy_(s + sign * eps * t)
        grads.append([g.detach() for g in torch.autograd.grad(loss(), alphas)])
    with torch.no_grad():
        for p, s in zip(weights, saved, strict=True):
            p.copy_(s)
    return [(gp - gm) / (2 * eps) for gp, gm in zip(grads[0], grads[1], strict=True)]


def hvp_autograd(
    loss: Loss, weights: list[nn.Parameter], alphas: list[nn.Parameter],
    v: list[torch.Tensor],
) -> list[torch.Tensor]:
    """The exact ``d/dalpha (dL/dw . v)`` by double backpropagation (for testing)."""
    gw = torch.autograd.grad(loss(), weights, create_graph=True, allow_unused=True)
    dot = sum(((g * t.detach()).sum() for g, t in zip(gw, v, strict=True) if g is not None),
              torch.zeros(()))
    return [g.detach() for g in torch.autograd.grad(dot, alphas)]


@dataclass
class DartsResult:
    """What a search found: the derived ``config`` of the space and its ``genotype``,
    the final ``alpha`` (edges x ops, as lists), per-epoch ``history``, epochs run,
    wall-clock ``seconds`` and whether the skip guard ``stopped_early``."""

    config: Config
    genotype: Genotype
    alpha: list[list[float]]
    history: list[dict[str, float]] = field(default_factory=list)
    epochs: int = 0
    seconds: float = 0.0
    stopped_early: bool = False


def _number(name: str, value: Any, low: float, allow_zero: bool = False) -> float:
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value) and (value >= low if allow_zero else value > low))
    if not ok:
        rel = ">=" if allow_zero else ">"
        raise InvalidArgumentError(f"`{name}` must be a number {rel} {low}; got {value!r}")
    return float(value)


def _integer(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidArgumentError(f"`{name}` must be an integer >= {low}; got {value!r}")
    return value


class DARTS:
    """Differentiable architecture search over a :class:`CellSpace`.

    ``order`` 1 or 2 picks the gradient of the architecture step. ``max_skips`` guards
    against the collapse of DARTS into parameter-free skip connections: with
    ``guard="stop"`` the search stops (early stopping, as DARTS+) at the first epoch whose
    derived cell has more than ``max_skips`` skips, and returns the cell of the epoch
    before; with ``guard="cap"`` it runs on and the derived cell keeps at most
    ``max_skips`` skips (the weakest switch to their best parametric op).

    Every epoch is reported to ``trial`` (a :class:`~tunelab.TrialHandle`) when one is
    given: ``train_loss``, ``val_loss``, ``val_accuracy``, ``skip_count`` and
    ``alpha_entropy``; a scheduler's STOP ends the search, and the derived cell is written
    to ``derived_cell.json`` in the trial's folder.

    >>> import torch
    >>> from tunelab.nas import DARTS, CellSpace
    >>> torch.manual_seed(0) and None
    >>> x = torch.randn(64, 1, 6, 6); y = (x.mean(dim=(1, 2, 3)) > 0).long()
    >>> space = CellSpace(2, ("none", "skip_connect", "conv_3x3", "avg_pool_3x3"))
    >>> result = DARTS(epochs=2, channels=4, stages=1, seed=0).search(space, (x, y), (x, y))
    >>> sorted(result.config) == sorted(space.names), result.epochs
    (True, 2)
    """

    def __init__(
        self,
        *,
        epochs: int = 10,
        batch_size: int = 64,
        order: int = 1,
        w_lr: float = 0.025,
        w_momentum: float = 0.9,
        w_weight_decay: float = 3e-4,
        alpha_lr: float = 3e-3,
        alpha_weight_decay: float = 1e-3,
        unrolled_lr: float | None = None,
        channels: int = 8,
        stages: int = 2,
        cells_per_stage: int = 1,
        inputs_per_node: int | None = 2,
        max_skips: int | None = 2,
        guard: str = "stop",
        seed: int = 0,
    ) -> None:
        self.epochs = _integer("epochs", epochs, 1)
        self.batch_size = _integer("batch_size", batch_size, 1)
        if order not in (1, 2) or isinstance(order, bool):
            raise InvalidArgumentError(f"`order` must be 1 or 2; got {order!r}")
        self.order = order
        self.w_lr = _number("w_lr", w_lr, 0)
        self.w_momentum = _number("w_momentum", w_momentum, 0, allow_zero=True)
        self.w_weight_decay = _number("w_weight_decay", w_weight_decay, 0, allow_zero=True)
        self.alpha_lr = _number("alpha_lr", alpha_lr, 0)
        self.alpha_weight_decay = _number("alpha_weight_decay", alpha_weight_decay, 0,
                                          allow_zero=True)
        self.unrolled_lr = self.w_lr if unrolled_lr is None else _number(
            "unrolled_lr", unrolled_lr, 0)
        self.channels = _integer("channels", channels, 1)
        self.stages = _integer("stages", stages, 1)
        self.cells_per_stage = _integer("cells_per_stage", cells_per_stage, 1)
        self.inputs_per_node = (None if inputs_per_node is None
                                else _integer("inputs_per_node", inputs_per_node, 1))
        self.max_skips = None if max_skips is None else _integer("max_skips", max_skips, 0)
        if guard not in GUARDS:
            raise InvalidArgumentError(f"`guard` must be one of {list(GUARDS)}; got {guard!r}")
        self.guard = guard
        self.seed = _integer("seed", seed, 0)

    # ------------------------------------------------------------------ pieces

    def supernet(self, space: CellSpace, in_channels: int, num_classes: int) -> SuperNet:
        return SuperNet(space, in_channels=in_channels, num_classes=num_classes,
                        channels=self.channels, stages=self.stages,
                        cells_per_stage=self.cells_per_stage)

    def alpha_gradient(self, net: SuperNet, train: Data, val: Data) -> list[torch.Tensor]:
        """The gradient for the architecture step on one (train, val) batch pair."""
        weights, alphas = net.weights(), net.arch_parameters()

        def val_loss() -> torch.Tensor:
            return nn.functional.cross_entropy(net(val[0]), val[1])

        def train_loss() -> torch.Tensor:
            return nn.functional.cross_entropy(net(train[0]), train[1])

        if self.order == 1:
            return [g.detach() for g in torch.autograd.grad(val_loss(), alphas)]
        xi = self.unrolled_lr
        saved = [p.detach().clone() for p in weights]
        gw = torch.autograd.grad(train_loss(), weights)
        with torch.no_grad():  # the virtual step w' = w - xi (dL_train/dw + wd w)
            for p, g in zip(weights, gw, strict=True):
                p.sub_(xi * (g + self.w_weight_decay * p))
        grads = torch.autograd.grad(val_loss(), [*alphas, *weights])
        d_alpha = [g.detach() for g in grads[: len(alphas)]]
        v = [g.detach() for g in grads[len(alphas):]]
        with torch.no_grad():
            for p, s in zip(weights, saved, strict=True):
                p.copy_(s)
        hvp = hvp_finite_difference(train_loss, weights, alphas, v)
        return [d - xi * h for d, h in zip(d_alpha, hvp, strict=True)]

    def derive(self, net: SuperNet, max_skips: int | None = None) -> Genotype:
        return derive(net.space, net.alpha, self.inputs_per_node, max_skips)

    # ------------------------------------------------------------------ search

    def search(
        self, space: CellSpace, train: Data, val: Data, *, trial: TrialHandle | None = None,
    ) -> DartsResult:
        """Search ``space`` with ``train`` for the weights and ``val`` for the
        architecture; return the derived cell."""
        if not isinstance(space, CellSpace):
            raise InvalidArgumentError(f"`space` must be a CellSpace; got {space!r}")
        train, val = check_data("train", train), check_data("val", val)
        torch.manual_seed(self.seed)
        num_classes = int(max(train[1].max(), val[1].max())) + 1
        net = self.supernet(space, train[0].shape[1], num_classes)
        w_opt = torch.optim.SGD(net.weights(), lr=self.w_lr, momentum=self.w_momentum,
                                weight_decay=self.w_weight_decay)
        w_sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=self.epochs,
                                                             eta_min=self.w_lr / 25)
        a_opt = torch.optim.Adam(net.arch_parameters(), lr=self.alpha_lr, betas=(0.5, 0.999),
                                 weight_decay=self.alpha_weight_decay)
        gen = torch.Generator().manual_seed(self.seed)
        cap = self.max_skips if self.guard == "cap" else None
        start = time.perf_counter()
        result = DartsResult({}, self.derive(net, cap), [])
        for epoch in range(1, self.epochs + 1):
            net.train()
            total, n = 0.0, 0
            val_batches = batches(val, self.batch_size, gen)
            for xb, yb in batches(train, self.batch_size, gen):
                vb = next(val_batches, None)
                if vb is None:
                    val_batches = batches(val, self.batch_size, gen)
                    vb = next(val_batches)
                a_opt.zero_grad()
                for p, g in zip(net.arch_parameters(), self.alpha_gradient(net, (xb, yb), vb),
                                strict=True):
                    p.grad = g
                a_opt.step()
                w_opt.zero_grad()
                loss = nn.functional.cross_entropy(net(xb), yb)
                loss.backward()
                net.alpha.grad = None
                nn.utils.clip_grad_norm_(net.weights(), 5.0)
                w_opt.step()
                total += float(loss.detach()) * xb.shape[0]
                n += xb.shape[0]
            w_sched.step()
            genotype = self.derive(net, cap)
            skips = genotype.count("skip_connect")
            val_loss, val_acc = evaluate(net, val)
            probs = torch.softmax(net.alpha.detach(), dim=-1)
            entropy = float(-(probs * probs.clamp_min(1e-12).log()).sum(dim=-1).mean())
            row = {"epoch": float(epoch), "train_loss": total / n, "val_loss": val_loss,
                   "val_accuracy": val_acc, "skip_count": float(skips),
                   "alpha_entropy": entropy}
            logger.info("DARTS epoch %d: %s", epoch, row)
            collapsed = (self.guard == "stop" and self.max_skips is not None
                         and skips > self.max_skips)
            if collapsed and epoch > 1:
                result.stopped_early = True
                result.genotype = derive(space, torch.tensor(result.alpha),
                                         self.inputs_per_node, self.max_skips)
                logger.info("DARTS stops at epoch %d: %d skip connections > %d (the cell "
                            "of epoch %d is kept)", epoch, skips, self.max_skips, epoch - 1)
                result.history.append(row)
                break
            result.genotype = genotype
            result.alpha = net.alpha.detach().tolist()
            result.history.append(row)
            result.epochs = epoch
            if trial is not None:
                metrics = {k: v for k, v in row.items() if k != "epoch"}
                trial.report(epoch, **metrics)
                if trial.should_stop:
                    break
        result.seconds = time.perf_counter() - start
        result.config = space.config_of(result.genotype)
        if trial is not None and trial.trial_dir is not None:
            trial.trial_dir.mkdir(parents=True, exist_ok=True)
            (trial.trial_dir / "derived_cell.json").write_text(
                json.dumps({"config": result.config, "genotype": result.genotype.to_dict(),
                            "alpha": result.alpha}, indent=1))
        return result
