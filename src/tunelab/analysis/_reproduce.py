"""Reproduce a trial: rerun it with its configuration, seed and resource, compare the
metrics with the recorded ones, and say what changed in the environment since."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tunelab._errors import InvalidArgumentError
from tunelab.executors import Executor, Objective
from tunelab.study import RunRequest, Study
from tunelab.tracking import EnvironmentDifference, current_environment, diff_environments
from tunelab.trial import Trial, TrialStatus

__all__ = ["MetricCheck", "Reproduction", "reproduce"]


@dataclass(frozen=True)
class MetricCheck:
    """One metric, recorded and rerun; ``same`` when they agree within the tolerance."""

    name: str
    recorded: float | None
    rerun: float | None
    same: bool

    @property
    def difference(self) -> float | None:
        if self.recorded is None or self.rerun is None:
            return None
        return self.rerun - self.recorded


@dataclass(frozen=True)
class Reproduction:
    """The outcome of :func:`reproduce`: the original trial, the rerun (a trial of the
    same study with ``system_attrs["rerun_of"]``), a check per metric, and the
    differences between the recorded environment and this one.

    >>> from tunelab import Float, Space, Study
    >>> study = Study("doc-repro", Space(x=Float(0, 1)), store="memory", seed=0)
    >>> study.optimize(lambda c: c["x"] ** 2, n_trials=3)
    >>> result = reproduce(study, lambda c: c["x"] ** 2, 1)
    >>> result.reproduced, result.rerun.system_attrs["rerun_of"]
    (True, 1)
    """

    study: str
    trial: Trial
    rerun: Trial
    metrics: tuple[MetricCheck, ...]
    environment: tuple[EnvironmentDifference, ...]
    recorded_environment: bool
    rtol: float
    atol: float
    notes: tuple[str, ...] = field(default=())

    @property
    def reproduced(self) -> bool:
        """Whether the rerun finished like the original with every metric the same (a
        failed original: failed again with the same kind of error)."""
        if self.trial.status is TrialStatus.FAILED:
            return (self.rerun.status is TrialStatus.FAILED
                    and _error_kind(self.trial.error) == _error_kind(self.rerun.error))
        return (self.rerun.status is self.trial.status or (
            self.trial.status is TrialStatus.STOPPED
            and self.rerun.status is TrialStatus.COMPLETE
        )) and all(m.same for m in self.metrics)

    def text(self) -> str:
        """A plain-text account for the command line."""
        lines = [f"trial {self.trial.number} of study {self.study!r} rerun as trial "
                 f"{self.rerun.number} (seed {self.rerun.system_attrs.get('seed')})"]
        if self.rerun.status is TrialStatus.FAILED:
            lines.append(f"the rerun FAILED: {self.rerun.error}")
        width = max([len(m.name) for m in self.metrics] + [6])
        lines.append(f"{'metric':<{width}}  {'recorded':>14}  {'rerun':>14}  same")
        for m in self.metrics:
            lines.append(f"{m.name:<{width}}  {_num(m.recorded):>14}  {_num(m.rerun):>14}  "
                         f"{'yes' if m.same else 'NO'}")
        verdict = "REPRODUCED" if self.reproduced else "NOT reproduced"
        lines.append(f"{verdict} (tolerance: rtol={self.rtol:g}, atol={self.atol:g})")
        if not self.recorded_environment:
            lines.append("no environment card was recorded for this trial")
        elif self.environment:
            lines.append("the environment differs from the recorded one:")
            lines += [f"  {d}" for d in self.environment]
        else:
            lines.append("the environment is the same as the recorded one")
        lines += list(self.notes)
        return "\n".join(lines)


def _error_kind(error: str | None) -> str:
    """``ValueError: bad lr`` -> ``ValueError``."""
    return (error or "").split(":", 1)[0].strip()


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def _same(a: float | None, b: float | None, rtol: float, atol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


def reproduce(
    study: Study,
    objective: Objective,
    number: int,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    executor: str | Executor | None = None,
    environment: Mapping[str, Any] | None = None,
) -> Reproduction:
    """Rerun trial ``number`` of ``study`` with ``objective`` (its configuration, seed
    and granted resource), compare every recorded metric within ``rtol``/``atol``, and
    list what differs between the trial's recorded environment card and ``environment``
    (default: this process's). The rerun is recorded as a trial of the study with
    ``system_attrs`` ``{"rerun_of": number, "purpose": "repro"}``.
    """
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0:
            raise InvalidArgumentError(f"`{name}` must be a number >= 0; got {tol!r}")
    original = study.trial(number)
    if not original.status.is_finished:
        raise InvalidArgumentError(
            f"trial {number} of study {study.name!r} is {original.status.value}; only "
            "finished trials (COMPLETE, STOPPED, FAILED) can be reproduced")
    record = study.environment(number)
    resource = original.system_attrs.get("resource")
    step = original.system_attrs.get("step")
    if original.status is TrialStatus.STOPPED and isinstance(step, int) and step > 0:
        resource = step  # it was stopped there: rerun to the same step
    if not isinstance(resource, int) or isinstance(resource, bool) or resource < 1:
        resource = None
    request = RunRequest(original.config, record["seed"], resource,
                         {"rerun_of": number, "purpose": "repro"})
    [rerun] = study.run_requests(objective, [request], executor=executor)
    names = list(original.metrics) or [study.metric]
    checks = tuple(
        MetricCheck(n, original.metrics.get(n), rerun.metrics.get(n),
                    _same(original.metrics.get(n), rerun.metrics.get(n), rtol, atol))
        for n in names
    )
    card = record["card"]
    now = dict(environment) if environment is not None else current_environment()[0]
    differences = tuple(diff_environments(card, now)) if card else ()
    notes = []
    if "seed" not in original.system_attrs:
        notes.append("the trial's seed was not recorded: rerun with the seed derived from "
                     "the searcher's seed and the trial number")
    return Reproduction(study.name, original, rerun, checks, differences, card is not None,
                        float(rtol), float(atol), tuple(notes))
