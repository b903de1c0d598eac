"""Fidelity agreement: does the cheap proxy rank configurations like the full run?

Multi-fidelity schedulers (successive halving, Hyperband, ASHA, median stopping) decide
from cheap runs — few epochs, a data subset, a small model — which configurations deserve
more. That only works when the cheap runs rank configurations roughly as the expensive
ones do. This module measures it from a study's reports: for each pair of consecutive
resources, the rank correlation (Spearman's rho, Kendall's tau) between the values of
the configurations known at both.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tunelab._errors import InvalidArgumentError
from tunelab.study import Study
from tunelab.trial import Trial, TrialStatus

__all__ = [
    "FidelityAgreement",
    "RankAgreement",
    "fidelity_agreement",
    "resource_ladder",
    "values_at",
]

_MIN_N = 3  # below this a rank correlation says nothing


@dataclass(frozen=True)
class RankAgreement:
    """How the values at resource ``low`` rank the configurations compared with the values
    at resource ``high``, over the ``n`` configurations known at both.

    ``spearman`` and ``kendall`` are in [-1, 1] (1: same order, 0: unrelated, -1:
    reversed); None when they mean nothing (fewer than 3 configurations, or all values
    equal at one resource), and ``note`` says which.
    """

    low: int
    high: int
    n: int
    spearman: float | None
    kendall: float | None
    note: str = ""


@dataclass(frozen=True)
class FidelityAgreement:
    """Rank agreement of ``metric`` between consecutive ``resources`` of a study.

    ``values[r]`` maps trial numbers to the target value at resource ``r`` (see
    :func:`values_at`).
    """

    study: str
    metric: str
    direction: str
    resources: tuple[int, ...]
    pairs: tuple[RankAgreement, ...]
    values: dict[int, dict[int, float]] = field(default_factory=dict, repr=False,
                                                compare=False)

    @property
    def configurations(self) -> int:
        """How many configurations have a value at one resource at least."""
        return len({number for by_trial in self.values.values() for number in by_trial})

    def table(self) -> str:
        """A plain-text table, one line per pair of resources."""
        head = (f"fidelity agreement of {self.metric!r} ({self.direction}) over "
                f"{self.configurations} configurations")
        if not self.pairs:
            return head + "\nno pair of resources to compare (fewer than two)"
        lines = [
            head,
            "rank correlation with the next resource (1 same order, 0 none, -1 reversed)",
        ]
        notes = any(p.note for p in self.pairs)
        header = f"{'from':>6}  {'to':>6}  {'n':>5}  {'spearman':>8}  {'kendall':>8}"
        lines.append(header + ("  note" if notes else ""))
        for p in self.pairs:
            row = (f"{p.low:>6}  {p.high:>6}  {p.n:>5}  {_fmt(p.spearman):>8}  "
                   f"{_fmt(p.kendall):>8}")
            lines.append((row + (f"  {p.note}" if p.note else "")).rstrip())
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def resource_ladder(max_step: int) -> list[int]:
    """Steps 1, 2, 4, ... up to ``max_step``, and ``max_step`` itself: the resources
    compared for schedulers without rungs.

    >>> resource_ladder(27)
    [1, 2, 4, 8, 16, 27]
    >>> resource_ladder(8), resource_ladder(1), resource_ladder(0)
    ([1, 2, 4, 8], [1], [])
    """
    ladder: list[int] = []
    step = 1
    while step <= max_step:
        ladder.append(step)
        step *= 2
    if max_step >= 1 and ladder[-1] != max_step:
        ladder.append(max_step)
    return ladder


def values_at(trial: Trial, metric: str, resources: Sequence[int]) -> dict[int, float]:
    """The value of ``metric`` for ``trial`` at each resource it reached.

    The value at resource ``r`` is taken at the trial's first report (in the order they
    were made) with ``step >= r``: the metric reported there, or else the last value of
    it reported before. Resources the trial never reached are left out.

    >>> from tunelab.trial import Report
    >>> trial = Trial(0, TrialStatus.STOPPED, {}, reports=(
    ...     Report(1, {"loss": 0.9}), Report(2, {"acc": 0.5}), Report(5, {"loss": 0.4})))
    >>> values_at(trial, "loss", [1, 2, 3, 9])
    {1: 0.9, 2: 0.9, 3: 0.4}
    """
    wanted = sorted(set(resources))
    out: dict[int, float] = {}
    last: float | None = None
    i = 0
    for report in trial.reports:
        if i >= len(wanted):
            break
        value = report.metrics.get(metric)
        if value is not None and math.isfinite(value):
            last = value
        while i < len(wanted) and report.step >= wanted[i]:
            if last is not None:
                out[wanted[i]] = last
            i += 1
    return out


def _correlations(low: int, high: int, a: list[float], b: list[float]) -> RankAgreement:
    n = len(a)
    if n < _MIN_N:
        return RankAgreement(low, high, n, None, None,
                             f"fewer than {_MIN_N} configurations reached both")
    for resource, values in ((low, a), (high, b)):
        if len(set(values)) == 1:
            return RankAgreement(low, high, n, None, None,
                                 f"every value at step {resource} is the same")
    from scipy import stats  # here: importing scipy.stats costs the CLI most of a second

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = float(stats.spearmanr(a, b)[0])
        tau = float(stats.kendalltau(a, b)[0])
    return RankAgreement(
        low, high, n,
        rho if math.isfinite(rho) else None,
        tau if math.isfinite(tau) else None,
    )


def _check_resources(resources: Iterable[object]) -> list[int]:
    if isinstance(resources, (str, bytes)) or not isinstance(resources, Iterable):
        raise InvalidArgumentError(
            f"`resources` must be a list of integer steps >= 0, e.g. [1, 3, 9]; "
            f"got {resources!r}"
        )
    checked = []
    for r in resources:
        if isinstance(r, bool) or not isinstance(r, int) or r < 0:
            raise InvalidArgumentError(
                f"`resources` must hold integer steps >= 0; got {r!r} in {resources!r}"
            )
        checked.append(r)
    distinct = sorted(set(checked))
    if len(distinct) < 2:
        raise InvalidArgumentError(
            f"`resources` needs at least two distinct steps to compare; got {resources!r}"
        )
    return distinct


def fidelity_agreement(
    study: Study, resources: Sequence[int] | None = None
) -> FidelityAgreement:
    """Rank agreement of the study's target metric between consecutive ``resources``.

    ``resources`` defaults to the scheduler's rung resources (successive halving,
    Hyperband, ASHA), or else to the steps 1, 2, 4, ... up to the largest step reported
    (see :func:`resource_ladder`). Every trial with reports counts, whatever its status;
    a configuration enters a pair when its value is known at both resources (see
    :func:`values_at`). High correlations mean the cheap runs are a faithful proxy and
    aggressive early stopping is safe; low or negative ones mean the scheduler judges
    on noise or on the wrong signal (give it a larger ``min_resource``).

    >>> from tunelab import FIFOScheduler, Float, Space, Study
    >>> from tunelab.analysis import fidelity_agreement
    >>> def objective(trial):        # large x starts slowly and ends best
    ...     for epoch in range(1, 10):
    ...         trial.report(epoch, loss=trial["x"] / epoch + 0.3 * (1 - trial["x"]))
    >>> study = Study("doc-fidelity", Space(x=Float(0, 1)), metric="loss", store="memory",
    ...               scheduler=FIFOScheduler(max_resource=9), seed=0)
    >>> study.optimize(objective, n_trials=8)
    >>> agreement = fidelity_agreement(study)
    >>> print(agreement.table())
    fidelity agreement of 'loss' (min) over 8 configurations
    rank correlation with the next resource (1 same order, 0 none, -1 reversed)
      from      to      n  spearman   kendall
         1       2      8      1.00      1.00
         2       4      8     -1.00     -1.00
         4       8      8      1.00      1.00
         8       9      8      1.00      1.00
    >>> round(fidelity_agreement(study, resources=[1, 9]).pairs[0].kendall, 6)
    -1.0
    """
    record = study.store.get_study(study.name)
    trials = [t for t in study.store.get_trials(record.id, with_reports=True)
              if t.status is not TrialStatus.WAITING and t.reports]
    if resources is not None:
        ladder = _check_resources(resources)
    else:
        rungs = sorted({info.resource for info in study.scheduler.rungs()})
        if rungs:
            ladder = rungs
        else:
            top = max((r.step for t in trials for r in t.reports), default=0)
            ladder = resource_ladder(top)
    values: dict[int, dict[int, float]] = {r: {} for r in ladder}
    for trial in trials:
        for r, value in values_at(trial, study.metric, ladder).items():
            values[r][trial.number] = value
    pairs = []
    for low, high in itertools.pairwise(ladder):
        both = sorted(set(values[low]) & set(values[high]))
        pairs.append(_correlations(low, high, [values[low][n] for n in both],
                                   [values[high][n] for n in both]))
    return FidelityAgreement(
        study=study.name,
        metric=study.metric,
        direction=study.direction,
        resources=tuple(ladder),
        pairs=tuple(pairs),
        values=values,
    )
