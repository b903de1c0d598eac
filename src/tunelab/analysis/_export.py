"""Exporting a study for other tools: TensorBoard event files (with the HParams table) and
a plain-text log that :func:`read_text_log` reads back.

(JSON and CSV exports are :meth:`Study.export` and :meth:`Study.records`.)
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tunelab._errors import InvalidArgumentError, require_extra
from tunelab.space import Categorical, Space
from tunelab.study import Study
from tunelab.trial import Trial, TrialStatus

__all__ = ["export_tensorboard", "export_text_log", "read_text_log"]

_TB_EXTRA = "tensorboard"
_TB_FEATURE = "export_tensorboard()"
#: Tag prefix of the final metrics, the metric columns of TensorBoard's HParams table
#: (distinct from the per-step scalars so the table shows the trial's final value).
_FINAL_PREFIX = "final/"
_EXPERIMENT_TAG = "_hparams_/experiment"
_SESSION_START_TAG = "_hparams_/session_start_info"
_SESSION_END_TAG = "_hparams_/session_end_info"
_BAD_TAG_CHARS = re.compile(r"[^-/\w.]")  # what TensorBoard accepts in a tag
_END_STATUSES = (TrialStatus.COMPLETE, TrialStatus.STOPPED, TrialStatus.FAILED,
                 TrialStatus.PAUSED)


# ---------------------------------------------------------------------------- helpers


def _trials_with_reports(study: Study) -> list[Trial]:
    record = study.store.get_study(study.name)
    return study.store.get_trials(record.id, with_reports=True)


def _folder_name(name: str) -> str:
    """A study name as one safe folder name."""
    clean = re.sub(r"[^\w.-]", "_", name)
    return clean if clean.strip(".") else f"_{clean}"


def _tag(name: str) -> str:
    return _BAD_TAG_CHARS.sub("_", name).lstrip("/") or "_"


def _check_metrics_arg(metrics: object) -> list[str] | None:
    if metrics is None:
        return None
    if isinstance(metrics, str):
        return [metrics]
    if not isinstance(metrics, Iterable) or isinstance(metrics, Mapping):
        raise InvalidArgumentError(
            f"`metrics` must be a metric name or a list of names; got {metrics!r}"
        )
    names = list(metrics)
    for name in names:
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(
                f"`metrics` must hold non-empty metric names; got {name!r} in {names!r}"
            )
    return names


def _hparam_kind(values: Iterable[object]) -> str:
    """``"bool"``, ``"number"`` or ``"string"``: the HParams type that fits every value."""
    seen = [v for v in values if v is not None]
    if seen and all(isinstance(v, bool) for v in seen):
        return "bool"
    if seen and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen):
        return "number"
    return "string"


def _hparam_value(value: object, kind: str) -> bool | float | str:
    if kind == "bool":
        return bool(value)
    if kind == "number":
        return float(value)  # type: ignore[arg-type]
    return value if isinstance(value, str) else str(value)


def _hparam_kinds(space: Space, trials: Sequence[Trial]) -> dict[str, str]:
    """The HParams type of every configuration key: space parameters first."""
    values: dict[str, list[object]] = {name: [] for name in space.names}
    for trial in trials:
        for key, value in trial.config.items():
            values.setdefault(key, []).append(value)
    for name in space.names:
        param = space[name]
        if isinstance(param, Categorical):
            values[name].extend(param.choices)
        else:
            values[name].append(0.0)  # Float, Int, PowerOfTwo: numbers
    return {name: _hparam_kind(seen) for name, seen in values.items()}


def _set_value(target: Any, value: bool | float | str) -> None:
    """Set a ``google.protobuf.Value``."""
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, float):
        target.number_value = value
    else:
        target.string_value = value


class _Protos:
    """The tensorboardX protobuf modules, imported (or a MissingExtraError) together."""

    def __init__(self) -> None:
        self.tbx: Any = require_extra("tensorboardX", _TB_EXTRA, _TB_FEATURE)
        self.api: Any = require_extra("tensorboardX.proto.api_pb2", _TB_EXTRA, _TB_FEATURE)
        self.hp: Any = require_extra(
            "tensorboardX.proto.plugin_hparams_pb2", _TB_EXTRA, _TB_FEATURE
        )
        self.summary: Any = require_extra(
            "tensorboardX.proto.summary_pb2", _TB_EXTRA, _TB_FEATURE
        )

    def plugin_summary(self, tag: str, **data: Any) -> Any:
        """A Summary holding one HParamsPluginData message (``experiment=``,
        ``session_start_info=`` or ``session_end_info=``)."""
        content = self.hp.HParamsPluginData(version=0, **data)
        meta = self.summary.SummaryMetadata(
            plugin_data=self.summary.SummaryMetadata.PluginData(
                plugin_name="hparams", content=content.SerializeToString()
            )
        )
        return self.summary.Summary(value=[self.summary.Summary.Value(tag=tag, metadata=meta)])

    def experiment(self, study: Study, kinds: Mapping[str, str],
                   metric_names: Sequence[str], created_at: float) -> Any:
        api = self.api
        type_of = {
            "bool": api.DataType.Value("DATA_TYPE_BOOL"),
            "number": api.DataType.Value("DATA_TYPE_FLOAT64"),
            "string": api.DataType.Value("DATA_TYPE_STRING"),
        }
        infos = []
        for name, kind in kinds.items():
            info = api.HParamInfo(name=name, type=type_of[kind])
            param = study.space.params.get(name)
            if isinstance(param, Categorical):
                info.domain_discrete.extend(
                    [_hparam_value(c, kind) for c in param.choices if c is not None]
                )
            elif param is not None and kind == "number":
                low, high = getattr(param, "low", None), getattr(param, "high", None)
                if isinstance(low, (int, float)) and isinstance(high, (int, float)):
                    info.domain_interval.min_value = float(low)
                    info.domain_interval.max_value = float(high)
            infos.append(info)
        metric_infos = [
            api.MetricInfo(name=api.MetricName(tag=_tag(_FINAL_PREFIX + m)), display_name=m)
            for m in metric_names
        ]
        objectives = ", ".join(f"{m} ({d})" for m, d in study.objectives)
        return api.Experiment(
            name=study.name,
            description=f"tunelab study {study.name!r}: {objectives}",
            time_created_secs=created_at,
            hparam_infos=infos,
            metric_infos=metric_infos,
        )


def _clear_event_files(folder: Path) -> None:
    """Remove the event files a previous export wrote (re-exporting replaces them)."""
    if not folder.is_dir():
        return
    for sub in [folder, *sorted(folder.glob("trial-*"))]:
        if sub.is_dir():
            for old in sub.glob("events.out.tfevents.*"):
                old.unlink()


# ---------------------------------------------------------------------------- TensorBoard


def export_tensorboard(
    study: Study, logdir: str | os.PathLike[str], *, metrics: Sequence[str] | None = None
) -> Path:
    """Write the study as TensorBoard event files under ``logdir/<study name>/`` and
    return that folder (needs ``pip install 'tunelab[tensorboard]'``).

    Each trial that started gets its own run, ``trial-00012/``, holding

    * its per-step reports as scalars (tag: the metric name, step: the reported step);
    * its final metrics as scalars ``final/<metric>`` (at its last reported step): the
      metric columns of the HParams tab;
    * the HParams plugin's session start (its configuration, inactive and ``None``
      values left out; lists and other values as strings) and, for a finished trial,
      session end (COMPLETE and STOPPED: success, FAILED: failure).

    The study's folder itself holds the HParams experiment: every parameter with its
    type and domain, and every final metric. Point TensorBoard at ``logdir`` (or at the
    study's folder when ``logdir`` holds several studies: the HParams tab shows one
    experiment). Queued trials that never started are left out. ``metrics`` limits the
    export to those metric names (default: all). Exporting again replaces the event
    files of the previous export.

    >>> from tunelab import Float, Space, Study
    >>> study = Study("doc-tb", Space(lr=Float(1e-4, 1e-1, log=True)), store="memory",
    ...               seed=0)
    >>> study.optimize(lambda c: c["lr"] * 10, n_trials=2)
    >>> import tempfile
    >>> root = export_tensorboard(study, tempfile.mkdtemp())
    >>> root.name, sorted(p.name for p in root.iterdir() if p.is_dir())
    ('doc-tb', ['trial-00000', 'trial-00001'])
    """
    wanted = _check_metrics_arg(metrics)
    protos = _Protos()
    root = Path(logdir) / _folder_name(study.name)
    trials = [t for t in _trials_with_reports(study) if t.status is not TrialStatus.WAITING]
    record = study.store.get_study(study.name)

    def keep(name: str) -> bool:
        return wanted is None or name in wanted

    kinds = _hparam_kinds(study.space, trials)
    final_names: list[str] = []
    for name in [m for m, _ in study.objectives] + sorted(
        {m for t in trials for m in t.metrics}
    ):
        if keep(name) and name not in final_names and any(name in t.metrics for t in trials):
            final_names.append(name)

    _clear_event_files(root)
    root.mkdir(parents=True, exist_ok=True)
    with protos.tbx.SummaryWriter(logdir=str(root), flush_secs=3600) as writer:
        writer.file_writer.add_summary(
            protos.plugin_summary(
                _EXPERIMENT_TAG,
                experiment=protos.experiment(study, kinds, final_names, record.created_at),
            ),
            walltime=record.created_at or None,
        )
    for trial in trials:
        _write_trial(protos, root / f"trial-{trial.number:05d}", trial, kinds, keep)
    return root


def _write_trial(protos: Any, folder: Path, trial: Trial, kinds: Mapping[str, str],
                 keep: Any) -> None:
    start_time = trial.started_at or trial.created_at or None
    ssi = protos.hp.SessionStartInfo(start_time_secs=start_time or 0.0)
    for key, value in trial.config.items():
        if value is not None:
            _set_value(ssi.hparams[key], _hparam_value(value, kinds.get(key, "string")))
    last_step = max((r.step for r in trial.reports), default=0)
    with protos.tbx.SummaryWriter(logdir=str(folder), flush_secs=3600) as writer:
        events = writer.file_writer
        events.add_summary(
            protos.plugin_summary(_SESSION_START_TAG, session_start_info=ssi),
            global_step=0, walltime=start_time,
        )
        for report in trial.reports:
            for name, value in report.metrics.items():
                if keep(name):
                    writer.add_scalar(_tag(name), value, report.step,
                                      walltime=report.time or None)
        end_time = trial.finished_at or None
        for name, value in trial.metrics.items():
            if keep(name):
                writer.add_scalar(_tag(_FINAL_PREFIX + name), value, last_step,
                                  walltime=end_time)
        if trial.status.is_finished:
            status = "STATUS_FAILURE" if trial.status is TrialStatus.FAILED else "STATUS_SUCCESS"
            sei = protos.hp.SessionEndInfo(
                status=protos.api.Status.Value(status), end_time_secs=end_time or 0.0
            )
            events.add_summary(
                protos.plugin_summary(_SESSION_END_TAG, session_end_info=sei),
                global_step=last_step, walltime=end_time,
            )


# ---------------------------------------------------------------------------- text log

_PLAIN_NAME = re.compile(r'[^\s="()]+')
_RESERVED = {"config", "error"}
_LINE = re.compile(r"(?P<ts>\S+) trial (?P<number>\d+) (?P<event>\S+)(?: (?P<rest>.*))?$")
_METRIC = re.compile(r'\s*(?P<name>"(?:[^"\\]|\\.)*"|[^\s="()]+)=(?P<value>[^\s()]+)')
_DURATION = re.compile(r"\s*\((?P<seconds>[^ ()]+) s\)")
_ERROR = re.compile(r"\s*error=(?P<error>.*)$")


def _stamp(t: float) -> str:
    """Local time with its UTC offset, to the millisecond."""
    moment = _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc).astimezone()
    return moment.isoformat(timespec="milliseconds")


def _parse_stamp(text: str) -> float:
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _name(name: str) -> str:
    return name if _PLAIN_NAME.fullmatch(name) and name not in _RESERVED else json.dumps(name)


def _metrics_text(metrics: Mapping[str, float]) -> str:
    return " ".join(f"{_name(k)}={float(v)!r}" for k, v in metrics.items())


def _seconds(d: float) -> str:
    return f"{d:.1f}" if abs(d) >= 1 else f"{d:.3f}"


def _trial_events(trial: Trial) -> list[tuple[float, str]]:
    """(time, text) of every event of one trial, in the order they happened."""
    config = json.dumps(trial.config, default=str)
    if trial.started_at is not None:
        first = (trial.started_at, f"started config={config}")
    elif trial.status is TrialStatus.WAITING:
        first = (trial.created_at, f"waiting config={config}")
    else:
        first = (trial.created_at, f"created config={config}")
    events = [first]
    now = first[0]
    for report in trial.reports:
        now = report.time or now
        line = f"step {report.step}"
        if report.metrics:
            line += " " + _metrics_text(report.metrics)
        events.append((now, line))
    if trial.status in _END_STATUSES:
        parts = [trial.status.value]
        if trial.metrics:
            parts.append(_metrics_text(trial.metrics))
        if trial.status.is_finished and trial.duration is not None:
            parts.append(f"({_seconds(trial.duration)} s)")
        if trial.error:
            parts.append(f"error={json.dumps(trial.error)}")
        events.append((trial.finished_at or now, " ".join(parts)))
    return events


def export_text_log(study: Study, path: str | os.PathLike[str]) -> Path:
    """Write the study as a plain-text log, one line per trial event in time order, and
    return its path (read it back with :func:`read_text_log`)::

        # tunelab study 'mnist': loss (min), 3 trials
        2026-11-30T01:02:03.120+01:00 trial 12 started config={"lr": 0.01, "depth": 3}
        2026-11-30T01:02:04.410+01:00 trial 12 step 1 loss=0.52
        2026-11-30T01:02:15.420+01:00 trial 12 COMPLETE loss=0.39 (12.3 s)

    Times are local, with their UTC offset, to the millisecond; metric values are
    written exactly (Python's shortest round-trip form). A trial's first line holds its
    configuration as JSON (``waiting`` for a queued trial not started yet), then come its
    reports, then its status with its final metrics, its duration and, for a failed
    trial, its error as a JSON string. A running trial has no status line yet. Metric
    names with spaces, ``=``, quotes or parentheses are written as JSON strings.
    """
    trials = _trials_with_reports(study)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    merged: list[tuple[float, int, int, str]] = []
    for trial in trials:
        latest = -math.inf
        for i, (t, text) in enumerate(_trial_events(trial)):
            latest = max(latest, t)  # a trial's own events stay in their order
            merged.append((latest, trial.number, i, f"{_stamp(t)} trial {trial.number} {text}"))
    merged.sort()
    objectives = ", ".join(f"{m} ({d})" for m, d in study.objectives)
    header = f"# tunelab study {study.name!r}: {objectives}, {len(trials)} trials"
    target.write_text("\n".join([header, *(line for *_, line in merged)]) + "\n",
                      encoding="utf-8")
    return target


def _read_metrics(text: str, where: str) -> tuple[dict[str, float], str]:
    """Leading ``name=value`` pairs of ``text``, and what follows them."""
    metrics: dict[str, float] = {}
    pos = 0
    while True:
        match = _METRIC.match(text, pos)
        if match is None or match.group("name") in _RESERVED:
            return metrics, text[pos:]
        name = match.group("name")
        if name.startswith('"'):
            name = json.loads(name)
        try:
            metrics[name] = float(match.group("value"))
        except ValueError:
            raise InvalidArgumentError(
                f"{where}: metric {name!r} has value {match.group('value')!r}, not a number"
            ) from None
        pos = match.end()


def read_text_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a log written by :func:`export_text_log`: one dict per trial, by number, with
    ``number``, ``status``, ``config``, ``metrics`` (final), ``reports`` (a list of
    ``{"step", "metrics", "time"}``), ``started_at``, ``finished_at`` (epoch seconds or
    None), ``duration`` (seconds, as written) and ``error``.

    >>> import tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "study.log"
    >>> _ = log.write_text('2026-01-02T03:04:05.000+00:00 trial 0 started config={"x": 1}\\n'
    ...                    '2026-01-02T03:04:06.000+00:00 trial 0 step 1 loss=0.5\\n'
    ...                    '2026-01-02T03:04:07.500+00:00 trial 0 COMPLETE loss=0.25 (2.5 s)\\n')
    >>> [trial] = read_text_log(log)
    >>> trial["status"], trial["config"], trial["metrics"], trial["duration"]
    ('COMPLETE', {'x': 1}, {'loss': 0.25}, 2.5)
    >>> trial["reports"][0]["step"], trial["reports"][0]["metrics"]
    (1, {'loss': 0.5})
    """
    trials: dict[int, dict[str, Any]] = {}
    source = Path(path)
    for lineno, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        where = f"{source}:{lineno}"
        match = _LINE.match(line)
        if match is None:
            raise InvalidArgumentError(
                f"{where}: not a tunelab log line ('<time> trial <number> <event> ...'): "
                f"{line!r}"
            )
        try:
            t = _parse_stamp(match.group("ts"))
        except ValueError:
            raise InvalidArgumentError(
                f"{where}: {match.group('ts')!r} is not an ISO 8601 time"
            ) from None
        number = int(match.group("number"))
        event, rest = match.group("event"), match.group("rest") or ""
        trial = trials.setdefault(number, {
            "number": number, "status": "WAITING", "config": {}, "metrics": {},
            "reports": [], "started_at": None, "finished_at": None, "duration": None,
            "error": None,
        })
        if event in ("started", "waiting", "created"):
            if not rest.startswith("config="):
                raise InvalidArgumentError(f"{where}: expected config={{...}} after {event!r}")
            try:
                trial["config"] = json.loads(rest[len("config="):])
            except json.JSONDecodeError as exc:
                raise InvalidArgumentError(f"{where}: bad config JSON: {exc}") from None
            if event == "started":
                trial["started_at"], trial["status"] = t, "RUNNING"
        elif event == "step":
            step_text, _, tail = rest.partition(" ")
            if not step_text.isdigit():
                raise InvalidArgumentError(f"{where}: step {step_text!r} is not an integer")
            metrics, left = _read_metrics(tail, where)
            if left.strip():
                raise InvalidArgumentError(f"{where}: cannot read {left.strip()!r}")
            trial["reports"].append({"step": int(step_text), "metrics": metrics, "time": t})
        elif event in TrialStatus.__members__:
            metrics, left = _read_metrics(rest, where)
            trial["status"], trial["metrics"] = event, metrics
            duration = _DURATION.match(left)
            if duration is not None:
                trial["duration"] = float(duration.group("seconds"))
                left = left[duration.end():]
            error = _ERROR.match(left)
            if error is not None:
                trial["error"] = json.loads(error.group("error"))
                left = ""
            if left.strip():
                raise InvalidArgumentError(f"{where}: cannot read {left.strip()!r}")
            if TrialStatus(event).is_finished:
                trial["finished_at"] = t
        else:
            raise InvalidArgumentError(
                f"{where}: unknown event {event!r}; expected started, waiting, created, "
                f"step or one of {', '.join(s.value for s in _END_STATUSES)}"
            )
    return [trials[n] for n in sorted(trials)]
