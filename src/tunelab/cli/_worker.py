"""``tunelab worker``: one more driver for a study that already exists.

Start it as many times as you like, on one machine or many sharing a PostgreSQL store::

    tunelab run train.py:objective --study s --space space.yaml --trials 0 \\
        --store postgresql://tuner@db/tunelab          # create the study (or Study(...))
    tunelab worker s train.py:objective --trials 200 --workers 4 \\
        --store postgresql://tuner@db/tunelab          # on every machine

Every driver draws trial numbers from the store, claims queued and paused trials with a
guarded UPDATE (so each runs in exactly one driver), and refreshes its searcher and
scheduler from the other drivers' results while it runs. ``--trials`` counts the trials
of the whole study: the drivers stop together.
"""

from __future__ import annotations

import click

from tunelab.cli._main import _optimize, _store, cli, store_option
from tunelab.cli._target import objective_for
from tunelab.executors import Executor
from tunelab.study import load_study
from tunelab.trial import TrialStatus

__all__ = ["worker"]


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("study_name", metavar="STUDY")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[TARGET]")
@click.option("--trials", "max_trials", type=click.IntRange(min=1), default=None,
              help="Stop when the study (all drivers together) holds this many trials.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop starting trials after this many seconds.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Trials this driver runs at once.")
@click.option("--trial-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop a trial that runs longer than this many seconds.")
@click.option("--executor", "executor_name", type=click.Choice(["inline", "process", "ray"]),
              default=None, help="Where trials run [default: inline for one worker, "
              "process for more].")
@click.option("--ray-address", default=None, metavar="ADDRESS",
              help="Ray cluster to join (with --executor ray); default: start a local Ray.")
@click.option("--cpus-per-trial", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="CPUs Ray reserves for each trial (with --executor ray).")
@click.option("--gpus-per-trial", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="GPUs Ray reserves for each trial (with --executor ray).")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar [default: when stderr is a terminal].")
@store_option
@click.pass_context
def worker(
    ctx: click.Context,
    study_name: str,
    args: tuple[str, ...],
    max_trials: int | None,
    timeout: float | None,
    workers: int,
    trial_timeout: float | None,
    executor_name: str | None,
    ray_address: str | None,
    cpus_per_trial: float,
    gpus_per_trial: float,
    progress: bool | None,
    store: str | None,
) -> None:
    """Run trials of the existing study STUDY alongside any other drivers of it.

    TARGET is the objective, as for `tunelab run`: `file.py:function`, `module:function`
    or a command after `--`. It may be left out only with a local SQLite store, where the
    one `tunelab run` recorded is used; code named in a shared store is never run blindly.

    \b
      tunelab worker STUDY train.py:objective --trials 500 --store postgresql://...
      tunelab worker STUDY train.py:objective --trials 500 --executor ray \\
          --ray-address HEAD:6379 --gpus-per-trial 1 --store postgresql://...
    """
    if max_trials is None and timeout is None:
        raise click.UsageError("give --trials N or --timeout SECONDS (or both)")
    if executor_name != "ray" and ray_address is not None:
        raise click.UsageError("--ray-address needs --executor ray")
    study = load_study(study_name, _store(ctx, store))
    objective = objective_for(study, args)
    executor: str | Executor | None = executor_name
    if executor_name == "ray":
        from tunelab.executors.ray import RayExecutor  # needs the [ray] extra

        executor = RayExecutor(workers, address=ray_address, num_cpus=cpus_per_trial,
                               num_gpus=gpus_per_trial, trial_timeout=trial_timeout)
    click.echo(f"worker for study {study.name!r} in {study.store.url} "
               f"({len(study.trials)} trials so far)", err=True)
    _optimize(study, objective, max_trials, timeout, workers, trial_timeout, progress,
              executor=executor)
    done = sum(1 for t in study.trials if t.status is TrialStatus.COMPLETE)
    click.echo(f"study {study.name!r}: {done} complete trial(s) of {len(study.trials)}",
               err=True)
