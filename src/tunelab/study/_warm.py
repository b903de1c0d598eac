"""Warm start: the finished trials of earlier studies (or plain records), checked and
turned into trials of this study."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunelab._errors import InvalidArgumentError, InvalidConfigError, TrialError
from tunelab.space import Config, Space
from tunelab.store import Store, open_store
from tunelab.study._results import ResultsMixin
from tunelab.trial import Trial, TrialStatus, check_metrics

__all__ = ["Candidate", "check", "check_statuses", "gather"]

_COPYABLE = (TrialStatus.COMPLETE, TrialStatus.STOPPED)
_RECORD_KEYS = {"config", "metrics", "value", "user_attrs"}


@dataclass
class Candidate:
    """One trial to copy: where it came from and what it holds."""

    config: Mapping[str, Any]
    metrics: dict[str, float]
    origin: dict[str, Any]
    status: TrialStatus = TrialStatus.COMPLETE
    user_attrs: dict[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        study, number = self.origin.get("study"), self.origin.get("number")
        return f"trial {number} of study {study!r}" if study is not None else f"record {number}"


def check_statuses(statuses: Iterable[TrialStatus | str]) -> tuple[TrialStatus, ...]:
    if isinstance(statuses, (str, TrialStatus)):
        statuses = [statuses]
    out = []
    for s in statuses:
        try:
            status = TrialStatus(s.upper() if isinstance(s, str) else s)
        except ValueError:
            status = None
        if status not in _COPYABLE:
            raise InvalidArgumentError(
                f"`statuses` may hold COMPLETE and STOPPED (trials with metrics); got {s!r}"
            )
        out.append(status)
    return tuple(out)


def _from_trials(
    trials: Iterable[Trial], statuses: Sequence[TrialStatus], study: str | None,
    metric: str | None, store_url: str | None,
) -> list[Candidate]:
    out = []
    for t in trials:
        if t.status not in statuses:
            continue
        metrics = dict(t.metrics)
        if metric is not None and t.value is not None and metric not in metrics:
            metrics[metric] = t.value  # the source's target, recorded as its value
        origin: dict[str, Any] = {"study": study, "number": t.number}
        if store_url is not None:
            origin["store"] = store_url
        out.append(Candidate(t.config, metrics, origin, t.status, dict(t.user_attrs)))
    return out


def _from_record(item: Any, index: int, target: str) -> Candidate | Trial:
    if isinstance(item, Trial):
        return item
    if not isinstance(item, Mapping) or "config" not in item:
        raise InvalidArgumentError(
            f"warm start record {index} must be a tunelab.Trial or a dict with 'config' and "
            f"'metrics' (or 'value'); got {item!r:.200}"
        )
    unknown = sorted(set(item) - _RECORD_KEYS)
    if unknown:
        raise InvalidArgumentError(
            f"warm start record {index} has unknown key(s) {unknown}; allowed: "
            f"{sorted(_RECORD_KEYS)}"
        )
    try:
        metrics = check_metrics(dict(item.get("metrics") or {}), f"in warm start record {index}")
        if item.get("value") is not None:
            value = check_metrics({target: item["value"]}, f"in warm start record {index}")
            if target in metrics and metrics[target] != value[target]:
                raise InvalidArgumentError(
                    f"warm start record {index} gives 'value' {item['value']!r} and metric "
                    f"{target!r} {metrics[target]!r}; give one"
                )
            metrics.update(value)
    except TrialError as exc:
        raise InvalidArgumentError(str(exc)) from None
    return Candidate(item["config"], metrics, {"study": None, "number": index},
                     user_attrs=dict(item.get("user_attrs") or {}))


def gather(
    source: Any,
    *,
    store: Store | str | os.PathLike[str] | None,
    own_store: Store,
    own_name: str,
    target: str,
    statuses: Sequence[TrialStatus],
) -> list[Candidate]:
    """The candidates of ``source``: a study, a study name (in ``store``, default this
    study's), or records (``tunelab.Trial`` objects or dicts)."""
    if isinstance(source, ResultsMixin):
        if source.store is own_store and source.name == own_name:
            raise InvalidArgumentError(f"study {own_name!r} cannot warm-start from itself")
        url = None if source.store.url == own_store.url else source.store.url
        trials = source.store.get_trials(source._record.id, statuses=list(statuses))
        return _from_trials(trials, statuses, source.name, source.metric, url)
    if isinstance(source, str):
        opened = own_store if store is None else open_store(store)
        if opened.url == own_store.url and source == own_name:
            raise InvalidArgumentError(f"study {own_name!r} cannot warm-start from itself")
        record = opened.get_study(source)  # StudyNotFoundError names what there is
        url = None if opened.url == own_store.url else opened.url
        trials = opened.get_trials(record.id, statuses=list(statuses))
        if opened is not own_store and store is not None and not isinstance(store, Store):
            opened.close()
        return _from_trials(trials, statuses, source, record.metric, url)
    if isinstance(source, (Mapping, bytes)) or not isinstance(source, Iterable):
        raise InvalidArgumentError(
            "warm start `source` must be a Study, a study name, or a list of tunelab.Trial "
            f"or dicts with 'config' and 'metrics'; got {source!r:.200}"
        )
    out: list[Candidate] = []
    for index, item in enumerate(source):
        got = _from_record(item, index, target)
        if isinstance(got, Trial):
            if got.status in statuses:
                out.extend(_from_trials([got], statuses, None, None, None))
                if got.value is not None and target not in out[-1].metrics:
                    out[-1].metrics[target] = got.value  # Trial.value is the target
        else:
            out.append(got)
    return out


def check(
    candidate: Candidate, space: Space, objectives: Sequence[tuple[str, str]]
) -> tuple[Config, dict[str, float]]:
    """The candidate's configuration validated against ``space`` and its metrics, or an
    error that names it and what is wrong."""
    try:
        config = space.validate(candidate.config)
    except InvalidConfigError as exc:
        raise InvalidConfigError(
            f"warm start: {candidate.label()} does not fit this study's space: {exc}. "
            "Pass skip_invalid=True to skip such trials"
        ) from None
    missing = [m for m, _ in objectives
               if m not in candidate.metrics or not math.isfinite(candidate.metrics[m])]
    if missing:
        raise InvalidArgumentError(
            f"warm start: {candidate.label()} has no value for {missing} (its metrics: "
            f"{sorted(candidate.metrics)}). Pass skip_invalid=True to skip such trials"
        )
    return config, dict(candidate.metrics)
