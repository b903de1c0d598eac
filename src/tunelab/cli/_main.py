"""The ``tunelab`` command.

::

    tunelab run --space space.yaml --metric val_acc --direction max --trials 50 \\
        -- python train.py --lr {lr} --layers {layers}
    tunelab run train.py:objective --space space.yaml --trials 50 --workers 2
    tunelab studies
    tunelab trials STUDY
    tunelab best STUDY
    tunelab pareto STUDY
    tunelab export STUDY --format csv|json|log|tensorboard
    tunelab budget STUDY
    tunelab fidelity STUDY

Every command takes ``--store URL`` (default: ``$TUNELAB_STORE`` or ``tunelab.db`` here).
"""

from __future__ import annotations

import csv
import io
import json
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import tqdm

from tunelab._errors import TunelabError
from tunelab.analysis import export_tensorboard, export_text_log, fidelity_agreement
from tunelab.cli._format import fmt_time, fmt_value, json_option, table
from tunelab.cli._scheduler import SCHEDULER_NAMES, pauses, scheduler_from_options
from tunelab.cli._target import (
    command_objective,
    default_study_name,
    is_python_target,
    load_python_objective,
    remember_target,
)
from tunelab.searchers import SEARCHERS, PortfolioSearcher
from tunelab.space import Space
from tunelab.store import open_store, resolve_store_url
from tunelab.study import Study, load_study
from tunelab.study._objectives import describe
from tunelab.trial import Trial, TrialStatus

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])


class _Group(click.Group):
    """Turns tunelab's own errors into one-line messages instead of tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TunelabError as exc:
            raise click.ClickException(str(exc)) from None


def store_option(fn: F) -> F:
    return click.option(
        "--store",
        "store",
        default=None,
        metavar="URL",
        help="Store URL or SQLite path (default: $TUNELAB_STORE or ./tunelab.db).",
    )(fn)


def _store(ctx: click.Context, store: str | None) -> str:
    return resolve_store_url(store or (ctx.obj or {}).get("store"))


@click.group(cls=_Group)
@store_option
@click.version_option(package_name="tunelab")
@click.pass_context
def cli(ctx: click.Context, store: str | None) -> None:
    """Tune hyperparameters and record every experiment."""
    ctx.obj = {"store": store}


# --------------------------------------------------------------------------- run


@cli.command(context_settings={"show_default": True})
@click.argument("args", nargs=-1, required=True, type=click.UNPROCESSED, metavar="TARGET")
@click.option("--study", "study_name", default=None, help="Study name [default: from TARGET].")
@click.option("--space", "space_file", type=click.Path(dir_okay=False), default=None,
              help="Search space (.yaml/.yml/.json); needed to create a study.")
@click.option("--metric", default=None,
              help="Target metric, or several comma-separated (acc,latency) for a "
                   "multi-objective study [new studies: value].")
@click.option("--direction", default=None, metavar="min|max[,...]",
              help="Minimise or maximise the metric; one per metric [new studies: min].")
@click.option("--trials", "max_trials", type=click.IntRange(min=1), default=None,
              help="Run until the study holds this many trials (rerunning resumes).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop starting trials after this many seconds.")
@click.option("--workers", type=click.IntRange(min=1), default=1,
              help="Trials run at once, each in its own process when > 1.")
@click.option("--trial-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Fail a trial that runs longer than this many seconds.")
@click.option("--searcher", type=click.Choice(sorted(SEARCHERS)), default=None,
              help="Search algorithm [new studies: tpe, per budget under rung schedulers].")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Searcher seed.")
@click.option("--scheduler", "scheduler_name", type=click.Choice(SCHEDULER_NAMES), default=None,
              help="How long each trial runs [new studies: fifo, every trial to the end].")
@click.option("--min-resource", type=click.IntRange(min=1), default=None,
              help="Steps (epochs...) at the lowest rung [scheduler's default].")
@click.option("--max-resource", type=click.IntRange(min=1), default=None,
              help="Steps of a full training [scheduler's default].")
@click.option("--eta", type=click.FloatRange(min=1, min_open=True), default=None,
              help="Reduction factor: 1/eta of the trials go on at each rung [3].")
@click.option("--mode", type=click.Choice(["promotion", "stopping"]), default=None,
              help="ASHA: pause and promote, or stop early [promotion].")
@click.option("--portfolio", "portfolio_file", type=click.Path(dir_okay=False, exists=True),
              default=None, help="Try this portfolio's configurations first (from `tunelab "
                                 "portfolio build`), then --searcher [tpe].")
@click.option("--baseline", default=None, metavar="JSON",
              help='A configuration to run first, e.g. \'{"lr": 0.01}\'.')
@click.option("--warm-start", "warm_start", default=None, metavar="STUDY",
              help="Copy the complete trials of STUDY first (--trials then counts the "
                   "trials run on top of them).")
@click.option("--warm-start-store", default=None, metavar="URL",
              help="The store of the --warm-start study [this study's].")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar [default: when stderr is a terminal].")
@store_option
@click.pass_context
def run(
    ctx: click.Context,
    args: tuple[str, ...],
    study_name: str | None,
    space_file: str | None,
    metric: str | None,
    direction: str | None,
    max_trials: int | None,
    timeout: float | None,
    workers: int,
    trial_timeout: float | None,
    searcher: str | None,
    seed: int | None,
    scheduler_name: str | None,
    min_resource: int | None,
    max_resource: int | None,
    eta: float | None,
    mode: str | None,
    portfolio_file: str | None,
    baseline: str | None,
    warm_start: str | None,
    warm_start_store: str | None,
    progress: bool | None,
    store: str | None,
) -> None:
    """Tune TARGET: `file.py:function`, `module:function`, or a command after `--`
    whose arguments hold {placeholders} and which prints JSON lines of metrics.

    \b
      tunelab run train.py:objective --space space.yaml --trials 50
      tunelab run --space space.yaml --metric val_acc --direction max \\
          -- python train.py --lr {lr} --layers {layers}
      tunelab run train.py:objective --space space.yaml --trials 49 \\
          --scheduler hyperband --min-resource 1 --max-resource 27 --eta 3
    """
    if max_trials is None and timeout is None:
        raise click.UsageError("give --trials N or --timeout SECONDS (or both)")
    scheduler = scheduler_from_options(scheduler_name, {
        "--min-resource": min_resource, "--max-resource": max_resource, "--eta": eta,
        "--mode": mode,
    })
    baseline_config = json_option(baseline, "--baseline")
    metrics, directions = _targets(metric, direction)
    space = Space.from_file(space_file) if space_file else None
    python_target = is_python_target(args)
    if not python_target and space is not None:
        command_objective(args, space.names)  # catch placeholder typos before any write
    name = study_name or default_study_name(args)
    chosen: str | PortfolioSearcher | None = searcher
    if portfolio_file is not None:
        chosen = PortfolioSearcher(path=portfolio_file, then=searcher, seed=seed)
    study = Study(
        name,
        space,
        metric=metrics,
        direction=directions,
        searcher=chosen,
        scheduler=scheduler,
        seed=seed,
        store=_store(ctx, store),
    )
    remember_target(study, args)
    if python_target:
        objective = load_python_objective(args[0])
    else:
        objective = command_objective(args, study.space.names)
        if pauses(study.scheduler):
            click.echo(f"note: {study.scheduler.name} pauses trials and resumes them later; a "
                       "command reads its grant from {trial.resource} and is rerun from its "
                       "start unless it keeps a checkpoint in {trial.dir}", err=True)
    if baseline_config is not None:
        try:
            study.enqueue(baseline_config)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--baseline") from None
    if warm_start is not None:
        added = study.warm_start(warm_start, store=warm_start_store)
        click.echo(f"warm start: {len(added)} trial(s) copied from study {warm_start!r}",
                   err=True)
    warm = sum(1 for t in study.trials if "warm_start" in t.system_attrs)
    if max_trials is not None and warm_start is not None:
        max_trials += warm  # --trials counts the trials this study runs itself
    click.echo(f"study {study.name!r} in {study.store.url} "
               f"({describe(study.objectives)}; {len(study.trials)} trials so far)", err=True)
    _optimize(study, objective, max_trials, timeout, workers, trial_timeout, progress)
    if study.scheduler.rungs():
        click.echo(f"{study.scheduler!r}\n{study.budget().table()}\n")
    board = study.leaderboard(5)
    if not board:
        paused = sum(t.status is TrialStatus.PAUSED for t in study.trials)
        hint = (f" ({paused} paused at a rung: rerun with a larger --trials to promote them)"
                if paused else "")
        raise click.ClickException(f"no trial of study {study.name!r} completed{hint}")
    if study.is_multi_objective:
        click.echo(_pareto_text(study))
    else:
        click.echo(_leaderboard_text(study.metric, board))


def _targets(
    metric: str | None, direction: str | None
) -> tuple[str | list[str] | None, str | list[str] | None]:
    """``--metric acc,latency --direction max,min`` as the lists Study takes."""
    metrics = None if metric is None else [m.strip() for m in metric.split(",")]
    directions = None if direction is None else [d.strip() for d in direction.split(",")]
    for d in directions or []:
        if d not in ("min", "max"):
            raise click.BadParameter(f"each direction must be min or max; got {d!r}",
                                     param_hint="--direction")
    if metrics is not None and len(metrics) == 1:
        if directions is not None and len(directions) > 1:
            raise click.BadParameter(
                f"{len(directions)} directions for one metric {metrics[0]!r}; give one "
                "metric per direction (--metric acc,latency)", param_hint="--direction")
        return metrics[0], None if directions is None else directions[0]
    if metrics is None and directions is not None:
        if len(directions) > 1:
            raise click.BadParameter("several directions need as many --metric names",
                                     param_hint="--direction")
        return None, directions[0]
    return metrics, directions


def _pareto_text(study: Study) -> str:
    front = study.pareto_front()
    names = [m for m, _ in study.objectives]
    rows = [[t.number, *[t.metrics.get(m) for m in names], json.dumps(t.config)]
            for t in front]
    heads = [f"{m} ({d})" for m, d in study.objectives]
    return (f"Pareto front of study {study.name!r}: {len(front)} trial(s)\n"
            + table(["trial", *heads, "config"], rows))


def _optimize(
    study: Study,
    objective: Any,
    max_trials: int | None,
    timeout: float | None,
    workers: int,
    trial_timeout: float | None,
    progress: bool | None,
    executor: Any = None,
) -> None:
    done_before = sum(1 for t in study.trials if t.status.is_finished)
    show = sys.stderr.isatty() if progress is None else progress
    tqdm.tqdm.monitor_interval = 0  # no monitor thread: worker processes are forked
    bar = tqdm.tqdm(
        total=max_trials, initial=min(done_before, max_trials or done_before),
        disable=not show, unit="trial", file=sys.stderr, dynamic_ncols=True,
    )
    best: list[float] = []

    def on_trial(trial: Trial) -> None:
        if trial.value is not None:
            if not best or (trial.value < best[0]) == (study.direction == "min"):
                best[:] = [trial.value]
            bar.set_postfix_str(f"best {study.metric}={best[0]:.6g}")
        bar.update(1)

    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill`, CI cancels: like Ctrl-C
    try:
        study.optimize(
            objective,
            timeout=timeout,
            workers=workers,
            trial_timeout=trial_timeout,
            max_trials=max_trials,
            executor=executor if executor is not None else (
                "process" if trial_timeout is not None else None),
            progress=on_trial,
        )
    except KeyboardInterrupt:
        bar.close()
        click.echo(
            f"interrupted: running trials were queued again; rerun the same command to resume "
            f"study {study.name!r}",
            err=True,
        )
        raise SystemExit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        bar.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _leaderboard_text(metric: str, trials: list[Trial]) -> str:
    rows = [[t.number, t.value, fmt_value(t.duration), json.dumps(t.config)] for t in trials]
    return table(["trial", metric, "seconds", "config"], rows)


# --------------------------------------------------------------------------- reading


@cli.command()
@store_option
@click.pass_context
def studies(ctx: click.Context, store: str | None) -> None:
    """List the studies in the store."""
    summaries = open_store(_store(ctx, store)).list_studies()
    if not summaries:
        click.echo("no studies")
        return
    rows = [
        [s.name, s.n_trials, s.counts.get("COMPLETE", 0), s.counts.get("FAILED", 0),
         s.counts.get("RUNNING", 0), describe(s.objectives),
         s.best_value if len(s.objectives) <= 1 else "(pareto)", fmt_time(s.last_update)]
        for s in summaries
    ]
    click.echo(table(
        ["study", "trials", "complete", "failed", "running", "target", "best", "updated"], rows
    ))


@cli.command()
@click.argument("study_name", metavar="STUDY")
@click.option("--status", type=click.Choice([s.value for s in TrialStatus], case_sensitive=False),
              default=None, help="Only trials with this status.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many rows.")
@store_option
@click.pass_context
def trials(
    ctx: click.Context, study_name: str, status: str | None, limit: int | None, store: str | None
) -> None:
    """List the trials of STUDY."""
    study = load_study(study_name, _store(ctx, store))
    rows = []
    for t in study.trials:
        if status is not None and t.status.value != status.upper():
            continue
        error = (t.error or "").splitlines()[0][:60] if t.error else ""
        rows.append([t.number, t.status.value, t.value, fmt_value(t.duration),
                     json.dumps(t.config), error])
    rows = rows[:limit] if limit else rows
    click.echo(table(["trial", "status", study.metric, "seconds", "config", "error"], rows))


@cli.command()
@click.argument("study_name", metavar="STUDY")
@click.option("-k", "k", type=click.IntRange(min=1), default=1, help="Show the k best trials.")
@click.option("--json", "as_json", is_flag=True, help="Print the best trial as JSON.")
@store_option
@click.pass_context
def best(ctx: click.Context, study_name: str, k: int, as_json: bool, store: str | None) -> None:
    """Show the best trial of STUDY (a multi-objective study: its Pareto front)."""
    study = load_study(study_name, _store(ctx, store))
    if study.is_multi_objective:
        _show_pareto(study, as_json)
        return
    board = study.leaderboard(k)
    if not board:
        raise click.ClickException(f"study {study_name!r} has no complete trial yet")
    if as_json:
        top = board[0]
        click.echo(json.dumps({"number": top.number, "value": top.value,
                               "config": top.config, "metrics": top.metrics}, indent=2))
        return
    click.echo(_leaderboard_text(study.metric, board))


@cli.command()
@click.argument("study_name", metavar="STUDY")
@click.option("--json", "as_json", is_flag=True, help="Print the front as JSON.")
@store_option
@click.pass_context
def pareto(ctx: click.Context, study_name: str, as_json: bool, store: str | None) -> None:
    """Show the Pareto front of STUDY: the complete trials no other beats in every
    objective, best primary metric first."""
    _show_pareto(load_study(study_name, _store(ctx, store)), as_json)


def _show_pareto(study: Study, as_json: bool) -> None:
    front = study.pareto_front()
    if not front:
        raise click.ClickException(f"study {study.name!r} has no complete trial yet")
    if as_json:
        click.echo(json.dumps([{"number": t.number, "config": t.config, "metrics": t.metrics}
                               for t in front], indent=2))
        return
    click.echo(_pareto_text(study))


@cli.command()
@click.argument("study_name", metavar="STUDY")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "log", "tensorboard"]),
              default="json", show_default=True)
@click.option("--output", "-o", type=click.Path(writable=True), default=None,
              help="Write to this file instead of standard output (tensorboard: the log "
                   "folder [tensorboard-logs]).")
@store_option
@click.pass_context
def export(
    ctx: click.Context, study_name: str, fmt: str, output: str | None, store: str | None
) -> None:
    """Export STUDY with every trial and report: JSON, CSV (one row per trial), a plain
    text log (one line per event), or TensorBoard event files with HParams (one run per
    trial; `tensorboard --logdir OUTPUT/STUDY`)."""
    study = load_study(study_name, _store(ctx, store))
    if fmt == "tensorboard":
        folder = export_tensorboard(study, output or "tensorboard-logs")
        click.echo(f"wrote {folder} (tensorboard --logdir {folder})", err=True)
        return
    if fmt == "log":
        if output is None:
            with tempfile.TemporaryDirectory() as tmp:
                click.echo(export_text_log(study, Path(tmp) / "log.txt").read_text(), nl=False)
        else:
            click.echo(f"wrote {export_text_log(study, output)}", err=True)
        return
    text = json.dumps(study.export(), indent=2) if fmt == "json" else _csv(study.records())
    if output is None:
        click.echo(text)
    else:
        Path(output).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@cli.command()
@click.argument("study_name", metavar="STUDY")
@store_option
@click.pass_context
def budget(ctx: click.Context, study_name: str, store: str | None) -> None:
    """Resource STUDY consumed, in steps and full-training equivalents, and how many
    configurations each rung planned and reached."""
    study = load_study(study_name, _store(ctx, store))
    click.echo(f"study {study.name!r}: {study.scheduler!r}")
    click.echo(study.budget().table())


@cli.command()
@click.argument("study_name", metavar="STUDY")
@click.option("--resources", default=None, metavar="R1,R2,...",
              help="Steps to compare, e.g. 1,3,9,27 [the scheduler's rungs, else 1,2,4,...].")
@store_option
@click.pass_context
def fidelity(
    ctx: click.Context, study_name: str, resources: str | None, store: str | None
) -> None:
    """Do cheap runs rank STUDY's configurations like longer ones? Rank correlations
    (Spearman, Kendall) of the target metric between consecutive resources."""
    steps = None
    if resources is not None:
        try:
            steps = [int(part) for part in resources.split(",")]
        except ValueError:
            raise click.BadParameter(
                f"{resources!r} is not a comma-separated list of integer steps, e.g. 1,3,9",
                param_hint="--resources",
            ) from None
    study = load_study(study_name, _store(ctx, store))
    try:
        agreement = fidelity_agreement(study, steps)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--resources") from None
    click.echo(agreement.table())


def _csv(records: list[dict[str, Any]]) -> str:
    fields: list[str] = []
    for record in records:
        fields += [k for k in record if k not in fields]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in record.items()}
        )
    return buffer.getvalue()


def main() -> None:
    """Entry point of the ``tunelab`` script."""
    cli(prog_name="tunelab")
