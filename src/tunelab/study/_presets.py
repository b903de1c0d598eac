"""Named methods: pre-wired pairs of a searcher and a scheduler."""

from __future__ import annotations

from typing import Any

from tunelab.schedulers import Hyperband, Scheduler
from tunelab.searchers import Searcher, TPESearcher

__all__ = ["bohb", "default_searcher"]


def default_searcher(scheduler: Scheduler, seed: int | None = None) -> Searcher:
    """The searcher of a new study that names none: TPE, fitted per budget (BOHB-style)
    when the scheduler grants resources in rungs.

    Chosen from the model suite (docs/benchmarks/search-model.md, 20 seeds): among
    tunelab's searchers TPE had the best average rank on the synthetic functions at 100
    evaluations and the lowest mean final regret on the tabular benchmarks at 200, at
    2-4 ms of CPU per trial, and random search was behind it on every family. GPs
    (search-model-gp.md) find better points on smooth all-float functions (Branin,
    Hartmann-3 and -6) but not on rugged ones of the same size: at 100 evaluations over
    seeds 0-9, GP's mean best was 0.214 on Levy-4 (TPE 0.066) and 5.72 on Ackley-5 (TPE
    4.58; ``python -m benchmarks.tpe_check '"gp"' 10 --only levy,ackley``, then with
    ``'"tpe"'``), so the size and types of a space do not tell which wins, and TPE stays the
    default; pass ``searcher="gp"`` for smooth objectives of a few floats, or
    ``"random"`` for independent draws.
    """
    rungs = scheduler.max_resource is not None and scheduler.name not in ("fifo",)
    return TPESearcher(seed, multi_fidelity=rungs)


def bohb(
    min_resource: int,
    max_resource: int,
    eta: float = 3,
    *,
    seed: int | None = None,
    random_fraction: float = 1 / 3,
    **tpe_options: Any,
) -> dict[str, Searcher | Scheduler]:
    """BOHB (Falkner et al. 2018): Hyperband's brackets, with new configurations proposed
    by a TPE model fitted on the largest resource at which enough trials have reported
    (a third of them random, as in the paper). Returns the ``searcher`` and
    ``scheduler`` arguments of :class:`~tunelab.Study`; nothing else differs from any
    other pairing.

    >>> from tunelab import Float, Space, Study, bohb
    >>> def objective(trial):
    ...     for epoch in range(1, trial.resource + 1):
    ...         trial.report(epoch, loss=(trial["x"] - 0.3) ** 2 + 1 / epoch)
    >>> study = Study("bohb-demo", Space(x=Float(0, 1)), metric="loss", store="memory",
    ...               **bohb(1, 9, seed=0))
    >>> study.optimize(objective, n_trials=20)
    >>> study.best_trial.value < 0.2
    True
    """
    searcher = TPESearcher(
        seed, multi_fidelity=True, random_fraction=random_fraction, **tpe_options
    )
    return {"searcher": searcher, "scheduler": Hyperband(min_resource, max_resource, eta)}
