"""Seed noise: is the best configuration better, or was it lucky?

The top configurations of a study are rerun under new seeds. Their values under the
seed alone give a mean, a standard deviation and a confidence interval each; Welch's
t-test between neighbours in the rerun ranking says whether their difference is larger
than the seed noise. The original runs are not among the samples: they were picked
*because* they scored well, so they are biased towards luck.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tunelab._errors import InvalidArgumentError
from tunelab.executors import Executor, Objective
from tunelab.space import config_key
from tunelab.study import RunRequest, Study
from tunelab.trial import Trial, TrialStatus

__all__ = ["ConfigNoise", "SeedNoise", "seed_noise"]

PURPOSE = "seeds"


@dataclass(frozen=True)
class ConfigNoise:
    """One configuration under ``n`` seeds: the source trial's ``number`` and recorded
    ``original`` value, the reruns' ``values`` with their mean, standard deviation and
    ``ci`` (a t-interval at the analysis' confidence), and ``unstable`` when its seed
    spread is more than twice the median spread of the other configurations and an
    F-test says its variance is larger than theirs."""

    number: int
    config: dict[str, object]
    original: float | None
    values: tuple[float, ...]
    mean: float
    std: float
    ci: tuple[float, float]
    unstable: bool = False
    failed: int = 0

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class SeedNoise:
    """The outcome of :func:`seed_noise`: configurations in order of their rerun mean
    (best first), the p-value of Welch's t-test between each and the next
    (``p_values[i]``: configuration i vs i + 1), and the verdict.

    >>> import numpy as np
    >>> from tunelab import Categorical, Space, Study
    >>> def f(c):
    ...     noise = np.random.default_rng(c.seed).normal(0, 0.01)
    ...     return {"a": 1.0, "b": 2.0, "c": 3.0}[c["k"]] + noise
    >>> study = Study("doc-seeds", Space(k=Categorical(["a", "b", "c"])), store="memory",
    ...               searcher="grid")
    >>> study.optimize(f, n_trials=3)
    >>> result = seed_noise(study, f, top=3, repeats=4)
    >>> [c.config["k"] for c in result.configs], result.ranking_is_real
    (['a', 'b', 'c'], True)
    """

    study: str
    metric: str
    direction: str
    repeats: int
    confidence: float
    alpha: float
    configs: tuple[ConfigNoise, ...]
    p_values: tuple[float | None, ...]

    @property
    def separated(self) -> tuple[bool, ...]:
        """Whether configuration i is better than i + 1 beyond the seed noise."""
        return tuple(p is not None and p < self.alpha for p in self.p_values)

    @property
    def ranking_is_real(self) -> bool:
        """Whether the best configuration beats the second beyond the seed noise (True
        when there is only one)."""
        return len(self.configs) < 2 or self.separated[0]

    @property
    def original_order_holds(self) -> bool:
        """Whether the reruns rank the configurations as the original runs did."""
        originals = [c.original for c in self.configs]
        if any(v is None for v in originals):
            return False
        sign = 1.0 if self.direction == "min" else -1.0
        keys = [sign * float(v) for v in originals if v is not None]
        return keys == sorted(keys)

    def verdict(self) -> str:
        """One sentence for people."""
        if len(self.configs) < 2:
            return "only one configuration: nothing to rank"
        best, second = self.configs[0], self.configs[1]
        p = self.p_values[0]
        p_text = "n/a" if p is None else f"{p:.3g}"
        if self.ranking_is_real:
            text = (f"trial {best.number} is better than trial {second.number} by more than "
                    f"the seed noise (Welch p={p_text} < {self.alpha:g})")
        else:
            text = (f"trial {best.number} and trial {second.number} differ by less than the "
                    f"seed noise (Welch p={p_text}): treat them as equal, or rerun with more "
                    "seeds")
        unstable = [c.number for c in self.configs if c.unstable]
        if unstable:
            text += (f"; trial(s) {unstable} swing widely with the seed (spread > 2x the "
                     "others', F-test)")
        return text

    def text(self) -> str:
        """A plain-text table and the verdict, for the command line."""
        level = f"{self.confidence:.0%} CI"
        head = (f"seed noise of study {self.study!r}: top {len(self.configs)} "
                f"configuration(s) x {self.repeats} seed(s), {self.metric} "
                f"({self.direction})")
        rows = [f"{'rank':>4}  {'trial':>5}  {'original':>10}  {'mean':>10}  {'std':>9}  "
                f"{level:>23}  {'n':>2}  {'vs next':>8}  note"]
        for i, c in enumerate(self.configs):
            p = self.p_values[i] if i < len(self.p_values) else None
            vs = "" if p is None else f"p={p:.2g}"
            note = "UNSTABLE" if c.unstable else ""
            if c.failed:
                note += f" {c.failed} failed"
            orig = "-" if c.original is None else f"{c.original:.4g}"
            rows.append(f"{i + 1:>4}  {c.number:>5}  {orig:>10}  {c.mean:>10.4g}  "
                        f"{c.std:>9.3g}  [{c.ci[0]:>9.4g}, {c.ci[1]:>9.4g}]  {c.n:>2}  "
                        f"{vs:>8}  {note.strip()}")
        return "\n".join([head, *rows, self.verdict()])


def _t_interval(values: Sequence[float], confidence: float) -> tuple[float, float]:
    from scipy import stats

    n = len(values)
    mean = float(np.mean(values))
    if n < 2:
        return (mean, mean)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(np.std(values, ddof=1))
    return (mean - half / math.sqrt(n), mean + half / math.sqrt(n))


def _welch(a: Sequence[float], b: Sequence[float]) -> float | None:
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return None
    if np.std(a) == 0 and np.std(b) == 0:
        return 0.0 if np.mean(a) != np.mean(b) else 1.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def _swings(config: ConfigNoise, others: Sequence[ConfigNoise], alpha: float) -> bool:
    """Whether ``config``'s seed spread is more than twice the median of the others' AND
    its variance is larger than theirs (pooled) by a one-sided F-test at ``alpha``: with
    three seeds a spread twice as large is common by chance, the test keeps such false
    flags near ``alpha``."""
    from scipy import stats

    if not others or config.n < 2 or config.std == 0:
        return False
    if config.std <= 2 * float(np.median([o.std for o in others])):
        return False
    dof = sum(o.n - 1 for o in others if o.n > 1)
    if dof == 0:
        return False
    pooled = sum((o.n - 1) * o.std**2 for o in others if o.n > 1) / dof
    if pooled == 0:
        return True
    p = float(stats.f.sf(config.std**2 / pooled, config.n - 1, dof))
    return p < alpha


def _rerun_seed(study_seed: int, number: int, repeat: int) -> int:
    return int(np.random.SeedSequence([study_seed, number, repeat, 7919]).generate_state(1)[0])


def top_configurations(study: Study, top: int) -> list[Trial]:
    """The ``top`` best complete trials with distinct configurations (reruns left out)."""
    sign = 1.0 if study.direction == "min" else -1.0
    done = [t for t in study.trials
            if t.status is TrialStatus.COMPLETE and t.value is not None
            and math.isfinite(t.value) and not t.is_rerun]
    done.sort(key=lambda t: (sign * float(t.value or 0.0), t.number))
    picked: list[Trial] = []
    seen: set[str] = set()
    for t in done:
        key = config_key(t.config)
        if key not in seen:
            seen.add(key)
            picked.append(t)
        if len(picked) == top:
            break
    return picked


def seed_noise(
    study: Study,
    objective: Objective,
    *,
    top: int = 3,
    repeats: int = 5,
    confidence: float = 0.95,
    alpha: float = 0.05,
    workers: int = 1,
    executor: str | Executor | None = None,
    progress: Callable[[Trial], None] | None = None,
) -> SeedNoise:
    """Rerun the ``top`` best configurations of ``study`` with ``repeats`` new seeds each
    (in ``workers`` processes), and compare them: mean, std and a ``confidence``
    t-interval per configuration, Welch's t-test between neighbours at level ``alpha``.

    Reruns are trials of the study linked to their source (``system_attrs``
    ``{"rerun_of": n, "purpose": "seeds", "repeat": r}``); calling this again reuses
    the complete ones and runs only the missing or failed repeats. Single-objective
    studies only.
    """
    _check_int("top", top, 1)
    _check_int("repeats", repeats, 2)
    for name, level in (("confidence", confidence), ("alpha", alpha)):
        if isinstance(level, bool) or not isinstance(level, float) or not 0 < level < 1:
            raise InvalidArgumentError(f"`{name}` must be a number in (0, 1); got {level!r}")
    if study.is_multi_objective:
        raise InvalidArgumentError(
            f"study {study.name!r} has several objectives; seed noise compares one metric")
    sources = top_configurations(study, top)
    if not sources:
        raise InvalidArgumentError(
            f"study {study.name!r} has no complete trial with a value to rerun")
    done: dict[tuple[int, int], Trial] = {}
    for t in study.trials:
        a = t.system_attrs
        if a.get("purpose") == PURPOSE and t.status is TrialStatus.COMPLETE:
            done[(int(a.get("rerun_of", -1)), int(a.get("repeat", -1)))] = t
    base = study.searcher.seed
    requests = []
    for source in sources:
        resource = source.system_attrs.get("resource")
        resource = resource if isinstance(resource, int) and resource >= 1 else None
        for r in range(repeats):
            if (source.number, r) not in done:
                requests.append(RunRequest(
                    source.config, _rerun_seed(base, source.number, r), resource,
                    {"rerun_of": source.number, "purpose": PURPOSE, "repeat": r}))
    for trial in study.run_requests(objective, requests, workers=workers, executor=executor,
                                    progress=progress):
        done[(int(trial.system_attrs["rerun_of"]), int(trial.system_attrs["repeat"]))] = trial
    configs = []
    for source in sources:
        runs = [done[(source.number, r)] for r in range(repeats)]
        values = tuple(float(t.value) for t in runs
                       if t.status is TrialStatus.COMPLETE and t.value is not None
                       and math.isfinite(t.value))
        if not values:
            raise InvalidArgumentError(
                f"every rerun of trial {source.number} failed (e.g. {runs[0].error}); "
                "nothing to compare")
        configs.append(ConfigNoise(
            source.number, dict(source.config), source.value, values,
            float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            _t_interval(values, confidence), failed=len(runs) - len(values)))
    sign = 1.0 if study.direction == "min" else -1.0
    configs.sort(key=lambda c: (sign * c.mean, c.number))
    flagged = []
    for i, c in enumerate(configs):
        others = [o for j, o in enumerate(configs) if j != i]
        flagged.append(ConfigNoise(c.number, c.config, c.original, c.values, c.mean, c.std,
                                   c.ci, _swings(c, others, alpha), c.failed))
    p_values = tuple(_welch(flagged[i].values, flagged[i + 1].values)
                     for i in range(len(flagged) - 1))
    return SeedNoise(study.name, study.metric, study.direction, repeats, float(confidence),
                     float(alpha), tuple(flagged), p_values)


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidArgumentError(f"`{name}` must be an integer >= {low}; got {value!r}")
