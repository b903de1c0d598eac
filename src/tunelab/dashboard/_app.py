"""The dashboard's web application: a read-only JSON API over a store, and the pages that
use only that API (served from the package: no network, no build step).

API (all GET; OpenAPI at ``/api/openapi.json``, docs at ``/api/docs``)::

    /api/studies                                   studies with counts and best values
    /api/studies/{study}                           record, space, objectives, counts
    /api/studies/{study}/trials?offset&limit&sort&order&status&q   one page of the table
    /api/studies/{study}/trials/{n}                a trial with reports and environment
    /api/studies/{study}/trials/{n}/files          its files;  .../files/{path}: one file
    /api/studies/{study}/history                   value and best-so-far per trial
    /api/studies/{study}/curves?metric&limit       learning curves (stopped/paused marked)
    /api/studies/{study}/rungs                     configurations and resource per rung
    /api/studies/{study}/importance                fANOVA importance and good ranges
    /api/studies/{study}/slices                    value against each parameter
    /api/studies/{study}/sensitivity               one-at-a-time curves, when run
    /api/studies/{study}/pareto                    the front of a multi-objective study
    /api/studies/{study}/compare?trials=1,2        config, curves and environment diff
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from tunelab._errors import (
    InvalidArgumentError,
    MissingExtraError,
    StudyNotFoundError,
    TrialNotFoundError,
    TunelabError,
    require_extra,
)
from tunelab.dashboard._data import StoreReader, sort_and_filter, trial_row
from tunelab.dashboard._files import MAX_PREVIEW, list_files, safe_path
from tunelab.dashboard._security import LOOPBACK_HOSTS, SecurityPolicy
from tunelab.store import Store, open_store
from tunelab.study._artifacts import artifact_root, study_folder
from tunelab.tracking import diff_environments
from tunelab.trial import Trial, TrialStatus

__all__ = ["create_app"]

STATIC = Path(__file__).with_name("static")
_FEATURE = "the dashboard"


def _num(v: Any) -> Any:
    return v if not isinstance(v, float) or math.isfinite(v) else None


def create_app(
    store: Store | str | os.PathLike[str] | None = None,
    *,
    artifacts: str | os.PathLike[str] | None = None,
    token: str | None = None,
    allowed_hosts: Any = None,
    ttl: float = 1.0,
) -> Any:
    """The dashboard as an ASGI application (FastAPI) over ``store``.

    ``allowed_hosts``: Host-header names accepted (default: the loopback names);
    ``token``: required on every request when given. Read-only: no endpoint writes.

    >>> app = create_app("memory")
    >>> sorted(r.path for r in app.routes if r.path.startswith("/api/studies"))[:2]
    ['/api/studies', '/api/studies/{study}']
    """
    fastapi: Any = require_extra("fastapi", "dashboard", _FEATURE)
    responses: Any = require_extra("fastapi.responses", "dashboard", _FEATURE)
    staticfiles: Any = require_extra("fastapi.staticfiles", "dashboard", _FEATURE)
    HTTPException = fastapi.HTTPException
    Query = fastapi.Query

    opened = open_store(store)
    reader = StoreReader(opened, ttl=ttl)
    root = artifact_root(opened, artifacts)
    policy = SecurityPolicy(allowed_hosts or LOOPBACK_HOSTS, token)
    app = fastapi.FastAPI(title="tunelab dashboard", docs_url="/api/docs",
                          openapi_url="/api/openapi.json", redoc_url=None)
    app.middleware("http")(policy)
    app.state.reader = reader

    @app.exception_handler(TunelabError)
    async def tunelab_error(request: Any, exc: TunelabError) -> Any:
        code = 404 if isinstance(exc, (StudyNotFoundError, TrialNotFoundError)) else 400
        if isinstance(exc, MissingExtraError):
            code = 501
        message = exc.args[0] if exc.args else str(exc)
        return responses.JSONResponse({"detail": str(message)}, status_code=code)

    def trial_folder(study: str, number: int) -> Path:
        return study_folder(root, study) / f"trial-{number:05d}"

    # ---------------------------------------------------------------- studies

    @app.get("/api/studies")
    def studies() -> list[dict[str, Any]]:
        """Every study: objectives, trial counts per status, best value, last update."""
        return reader.studies()

    @app.get("/api/studies/{study}")
    def study(study: str) -> dict[str, Any]:
        """One study: its record, space and counts."""
        data = reader.study(study)
        rec = data.record
        counts: dict[str, int] = defaultdict(int)
        purposes: dict[str, int] = defaultdict(int)  # reruns: repro, seeds, sensitivity
        for t in data.trials:
            counts[t.status.value] += 1
            if t.is_rerun:
                purposes[str(t.system_attrs.get("purpose", "rerun"))] += 1
        best = _best(data.trials, rec.direction)
        return {
            "name": rec.name, "metric": rec.metric, "direction": rec.direction,
            "objectives": [list(p) for p in rec.objectives], "space": rec.space,
            "searcher": rec.searcher, "scheduler": rec.scheduler,
            "user_attrs": rec.user_attrs, "created_at": rec.created_at,
            "n_trials": len(data.trials), "counts": dict(counts),
            "best": trial_row(best) if best is not None else None,
            "params": list(data.space.names),
            "purposes": dict(purposes),
            "metrics": sorted({m for t in data.trials for m in t.metrics}),
            "last_update": max((t.finished_at or t.started_at or t.created_at
                                for t in data.trials), default=None),
        }

    @app.get("/api/studies/{study}/trials")
    def trials(study: str, offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=1000),
               sort: str = "number", order: str = "asc", status: str | None = None,
               q: str | None = None) -> dict[str, Any]:
        """One page of the trial table, sorted and filtered on the server."""
        rows = sort_and_filter(reader.study(study).trials, status=status, sort=sort,
                               order=order, query=q)
        return {"total": len(rows), "offset": offset, "limit": limit,
                "rows": [trial_row(t) for t in rows[offset:offset + limit]]}

    @app.get("/api/studies/{study}/trials/{number}")
    def trial(study: str, number: int) -> dict[str, Any]:
        """A trial with its reports, attributes, environment card and files."""
        t = reader.trial(study, number)
        env = t.system_attrs.get("env")
        card = opened.get_environment(env) if isinstance(env, str) else None
        row = trial_row(t)
        row.update({
            "reports": [{"step": r.step, "metrics": {k: _num(v) for k, v in r.metrics.items()},
                         "time": r.time} for r in t.reports],
            "user_attrs": t.user_attrs, "system_attrs": t.system_attrs,
            "traceback": t.traceback, "worker": t.worker, "created_at": t.created_at,
            "environment": card, "files": list_files(trial_folder(study, number)),
        })
        return row

    @app.get("/api/studies/{study}/trials/{number}/files")
    def files(study: str, number: int) -> list[dict[str, Any]]:
        """The files in the trial's folder (logs, checkpoints, artifacts)."""
        reader.trial(study, number)  # 404 for an unknown trial
        return list_files(trial_folder(study, number))

    @app.get("/api/studies/{study}/trials/{number}/files/{path:path}")
    def file(study: str, number: int, path: str) -> Any:
        """One file of the trial's folder, as text (the first MAX_PREVIEW bytes)."""
        reader.trial(study, number)
        try:
            target = safe_path(trial_folder(study, number), path)
        except FileNotFoundError:
            raise HTTPException(404, f"no file {path!r} in trial {number}") from None
        with open(target, "rb") as fh:
            data = fh.read(MAX_PREVIEW + 1)
        cut = len(data) > MAX_PREVIEW
        text = data[:MAX_PREVIEW].decode("utf-8", errors="replace")
        return responses.PlainTextResponse(
            text, headers={"X-Truncated": "1" if cut else "0",
                           "Content-Disposition": "inline"})

    # ---------------------------------------------------------------- plots' data

    @app.get("/api/studies/{study}/history")
    def history(study: str) -> dict[str, Any]:
        """Each complete trial's value and the best so far, in trial order (reruns left
        out)."""
        data = reader.study(study)
        sign = 1.0 if data.record.direction == "min" else -1.0
        best: float | None = None
        points = []
        for t in data.trials:
            if t.status is not TrialStatus.COMPLETE or _num(t.value) is None or t.is_rerun:
                continue
            v = float(t.value)  # type: ignore[arg-type]
            if best is None or sign * v < sign * best:
                best = v
            points.append({"number": t.number, "value": v, "best": best,
                           "finished_at": t.finished_at})
        return {"metric": data.record.metric, "direction": data.record.direction,
                "points": points}

    @app.get("/api/studies/{study}/curves")
    def curves(study: str, metric: str | None = None,
               limit: int = Query(200, ge=1, le=5000)) -> dict[str, Any]:
        """Learning curves (the metric per reported step), the most recent ``limit``
        trials; stopped and paused ones are marked by their status."""
        data = reader.study(study)
        name = metric or data.record.metric
        # Trials that reported anything (a finished one records its last step); a
        # trial rerun from its start after a promotion keeps the last value per step.
        reporting = [t.number for t in data.trials
                     if t.status is TrialStatus.RUNNING or t.system_attrs.get("step")]
        out = []
        for t in reader.trials_with_reports(study, reporting[-limit:]):
            by_step = {r.step: r.metrics[name] for r in t.reports if name in r.metrics}
            if by_step:
                steps = sorted(by_step)
                out.append({"number": t.number, "status": t.status.value, "steps": steps,
                            "values": [_num(by_step[s]) for s in steps]})
        return {"metric": name, "curves": out}

    @app.get("/api/studies/{study}/rungs")
    def rungs(study: str) -> dict[str, Any]:
        """Per bracket and rung (resource): the configurations that reached it
        (``trials``), those whose run ended there (``ended``, with their ``statuses``),
        and the resource consumed by those (successive halving, Hyperband, ASHA)."""
        data = reader.study(study)
        final: dict[Any, list[tuple[int, Trial]]] = defaultdict(list)
        for t in data.trials:
            step = t.system_attrs.get("step")
            if t.is_rerun or not isinstance(step, int) or step <= 0:
                continue
            granted = t.system_attrs.get("resource")
            # Where its run ended: the grant (promotion: paused or complete there), or
            # earlier when a scheduler stopped it on the way (ASHA stopping, median).
            reached = min(step, int(granted)) if isinstance(granted, (int, float)) else step
            final[t.system_attrs.get("bracket")].append((reached, t))
        rows = []
        for bracket, ends in final.items():
            for r in sorted({res for res, _ in ends}):
                here = [t for res, t in ends if res == r]
                statuses: dict[str, int] = defaultdict(int)
                for t in here:
                    statuses[t.status.value] += 1
                rows.append({
                    "bracket": bracket, "resource": r,
                    "trials": sum(1 for res, _ in ends if res >= r),
                    "ended": len(here), "statuses": dict(statuses),
                    "consumed": sum(float(t.system_attrs.get("consumed") or 0.0)
                                    for t in here),
                })
        rows.sort(key=lambda c: (str(c["bracket"]), c["resource"]))
        return {"scheduler": data.record.scheduler, "rungs": rows}

    @app.get("/api/studies/{study}/importance")
    def importance(study: str) -> dict[str, Any]:
        """fANOVA importance of each parameter and the good ranges (needs 4 trials)."""
        from tunelab.analysis import good_ranges, importance

        data = reader.study(study)
        rec = data.record
        done = [t for t in data.trials if t.status is TrialStatus.COMPLETE and not t.is_rerun]

        def compute() -> dict[str, Any]:
            try:
                imp = importance(done, space=data.space, metric=rec.metric,
                                 direction=rec.direction, n_trees=32)
                ranges = good_ranges(done, space=data.space, metric=rec.metric,
                                     direction=rec.direction)
            except InvalidArgumentError as exc:
                return {"available": False, "reason": str(exc)}
            return {"available": True, "importance": imp.to_dict(),
                    "good_ranges": {k: v.to_dict() for k, v in ranges.items()}}

        # A forest per request would cost a second at 10,000 trials: once per new result.
        return dict(reader.memo(study, "importance", len(done), compute))

    @app.get("/api/studies/{study}/slices")
    def slices(study: str) -> dict[str, Any]:
        """Each complete trial's value against each parameter (slice plots and parallel
        coordinates)."""
        data = reader.study(study)
        done = [t for t in data.trials if t.status is TrialStatus.COMPLETE
                and _num(t.value) is not None]
        params = {}
        for name, param in data.space.params.items():
            params[name] = {"type": param.to_dict().get("type", "categorical"),
                            "log": bool(getattr(param, "log", False)),
                            "values": [t.config.get(name) for t in done]}
        return {"metric": data.record.metric, "direction": data.record.direction,
                "numbers": [t.number for t in done], "values": [t.value for t in done],
                "params": params}

    @app.get("/api/studies/{study}/sensitivity")
    def sensitivity(study: str) -> dict[str, Any]:
        """Mean and seed std of the metric per value of each varied parameter, from the
        study's one-at-a-time sensitivity runs."""
        data = reader.study(study)
        groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        base_vals: list[float] = []
        baseline = None
        for t in data.trials:
            a = t.system_attrs
            if a.get("purpose") != "sensitivity" or t.status is not TrialStatus.COMPLETE:
                continue
            if _num(t.value) is None:
                continue
            if a.get("param") is None:
                baseline = t.config
                base_vals.append(float(t.value))  # type: ignore[arg-type]
            else:
                groups[str(a["param"])][repr(t.config.get(str(a["param"])))].append(
                    float(t.value))  # type: ignore[arg-type]
        curves = {}
        for name, by_value in groups.items():
            points = []
            values = dict(by_value)
            if baseline is not None and name in baseline and base_vals:
                values[repr(baseline[name])] = base_vals
            for key, vals in values.items():
                mean = sum(vals) / len(vals)
                var = (sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
                       if len(vals) > 1 else 0.0)
                points.append({"value": _literal(key), "mean": mean, "std": math.sqrt(var),
                               "n": len(vals)})
            try:
                points.sort(key=lambda p: p["value"])
            except TypeError:
                points.sort(key=lambda p: str(p["value"]))
            curves[name] = points
        return {"available": bool(curves), "baseline": baseline, "curves": curves,
                "metric": data.record.metric}

    @app.get("/api/studies/{study}/pareto")
    def pareto(study: str) -> dict[str, Any]:
        """The complete trials no other dominates, for multi-objective studies."""
        from tunelab.analysis import as_losses, non_dominated_mask

        data = reader.study(study)
        objectives = data.record.objectives
        done = [t for t in data.trials if t.status is TrialStatus.COMPLETE
                and all(_num(t.metrics.get(m)) is not None for m, _ in objectives)]
        if len(objectives) < 2 or not done:
            return {"objectives": [list(p) for p in objectives], "points": []}
        import numpy as np

        values = np.array([[t.metrics[m] for m, _ in objectives] for t in done])
        mask = non_dominated_mask(as_losses(values, [d for _, d in objectives]))
        return {"objectives": [list(p) for p in objectives],
                "points": [{"number": t.number, "values": [t.metrics[m] for m, _ in objectives],
                            "front": bool(f), "config": t.config}
                           for t, f in zip(done, mask, strict=True)]}

    @app.get("/api/studies/{study}/compare")
    def compare(study: str, trials: str = Query(..., description="e.g. 3,7,12")) -> Any:
        """Two or more trials side by side: config differences, curves, environment
        differences (against the first)."""
        try:
            numbers = [int(x) for x in trials.split(",") if x.strip()]
        except ValueError:
            raise HTTPException(400, f"`trials` must be trial numbers like 3,7; got "
                                     f"{trials!r}") from None
        if not 2 <= len(numbers) <= 20:
            raise HTTPException(400, "compare needs 2 to 20 trial numbers")
        found = [reader.trial(study, n) for n in numbers]
        metric = reader.study(study).record.metric
        names = sorted({k for t in found for k in t.config})
        differing = [k for k in names if len({repr(t.config.get(k)) for t in found}) > 1]
        cards = [_card(opened, t) for t in found]
        env_diff = []
        for t, card in zip(found[1:], cards[1:], strict=True):
            if cards[0] is not None and card is not None:
                env_diff.append({"number": t.number,
                                 "differences": [{"what": d.what, "a": d.before, "b": d.after}
                                                 for d in diff_environments(cards[0], card)]})
        return {
            "metric": metric, "params": names, "differing": differing,
            "trials": [{**trial_row(t), "curve": {
                "steps": [r.step for r in t.reports if metric in r.metrics],
                "values": [_num(r.metrics[metric]) for r in t.reports if metric in r.metrics]}}
                for t in found],
            "environment": env_diff,
        }

    # ---------------------------------------------------------------- pages

    app.mount("/static", staticfiles.StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> Any:
        return responses.FileResponse(STATIC / "index.html")

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _best(trials: list[Trial], direction: str) -> Trial | None:
    done = [t for t in trials if t.status is TrialStatus.COMPLETE and _num(t.value) is not None
            and not t.is_rerun]
    if not done:
        return None
    sign = 1.0 if direction == "min" else -1.0
    return min(done, key=lambda t: (sign * float(t.value), t.number))  # type: ignore[arg-type]


def _card(store: Store, trial: Trial) -> dict[str, Any] | None:
    env = trial.system_attrs.get("env")
    return store.get_environment(env) if isinstance(env, str) else None


def _literal(text: str) -> Any:
    """A value back from its repr (numbers, strings, booleans, None), without eval."""
    import json

    if text in ("None", "True", "False"):
        return {"None": None, "True": True, "False": False}[text]
    try:
        return json.loads(text)
    except ValueError:
        if len(text) >= 2 and text[0] == text[-1] == "'":
            return text[1:-1]
        return text
