"""`tunelab env|repro|seeds|sensitivity|importance|plot`: the manual half of tuning.

::

    tunelab env STUDY TRIAL                  # the environment card of a trial
    tunelab repro STUDY TRIAL                # rerun it, compare metrics and environment
    tunelab seeds STUDY --top 3 --repeats 5  # is the winner better than the seed noise?
    tunelab sensitivity STUDY --points 7 --repeats 3 [--baseline JSON]
    tunelab importance STUDY                 # fANOVA importance and good ranges
    tunelab plot STUDY --kind history|curves|importance|sensitivity|parallel|pareto

repro, seeds and sensitivity run the target `tunelab run` recorded for the study, or the
one given after the options (``train.py:objective``, or ``-- python train.py ...``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tunelab.analysis import reproduce, seed_noise, sensitivity
from tunelab.analysis._sensitivity import SETTINGS_ATTR
from tunelab.cli._format import fmt_time, json_option
from tunelab.cli._main import _store, cli, store_option
from tunelab.cli._target import TARGET_ATTR, objective_for, remember_target
from tunelab.space import Space
from tunelab.study import Study, load_study

__all__ = ["env", "importance", "plot", "repro", "seeds", "sensitivity_command"]

_TARGET = click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[TARGET]")


def _progress(label: str) -> Any:
    """Print one line per finished run on stderr."""

    def show(trial: Any) -> None:
        click.echo(f"{label}: trial {trial.number} {trial.status.value} "
                   f"value={trial.value}", err=True)

    return show


@cli.command()
@click.argument("study_name", metavar="STUDY")
@click.argument("number", type=click.IntRange(min=0), metavar="TRIAL")
@click.option("--json", "as_json", is_flag=True, help="The whole card as JSON.")
@click.option("--packages", is_flag=True, help="List every package version.")
@store_option
@click.pass_context
def env(ctx: click.Context, study_name: str, number: int, as_json: bool, packages: bool,
        store: str | None) -> None:
    """The environment card of trial TRIAL: seed, config hash, Python, packages, OS,
    hardware, git commit and diff, command line."""
    study = load_study(study_name, _store(ctx, store))
    record = study.environment(number)
    if as_json:
        click.echo(json.dumps(record, indent=2, sort_keys=True))
        return
    card = record["card"] or {}
    lines = [f"trial {number} of study {study.name!r}",
             f"seed         {record['seed']}",
             f"config hash  {record['config_hash']}"]
    if not card:
        lines.append("no environment card was recorded")
        click.echo("\n".join(lines))
        return
    hw = card.get("hardware", {})
    gpu = hw.get("gpu", {})
    git = card.get("git") or {}
    lines += [
        f"environment  {record['env']} (captured {fmt_time(card.get('captured_at'))})",
        f"python       {card['python']['version']} ({card['python']['executable']})",
        f"os           {card['os']['system']} {card['os']['release']} {card['os']['machine']}",
        f"cpu          {hw.get('cpu')} x {hw.get('cpu_count')}, {hw.get('memory_gb')} GB",
        f"gpu          {', '.join(gpu.get('devices') or []) or 'none'}"
        f"{' (CUDA ' + str(gpu['cuda']) + ')' if gpu.get('cuda') else ''}",
        f"host         {card.get('hostname')}",
        f"command      {' '.join(card.get('argv') or [])}",
        f"directory    {card.get('cwd')}",
    ]
    if git:
        dirty = (f"dirty: {git.get('diff_chars', 0)} chars of diff"
                 f"{' (cut)' if git.get('diff_truncated') else ''}, "
                 f"{len(git.get('untracked') or [])} untracked file(s)"
                 if git.get("dirty") else "clean")
        lines.append(f"git          {git.get('commit')} on {git.get('branch')}, {dirty}")
    else:
        lines.append("git          not a git repository")
    pkgs = card.get("packages") or {}
    if packages:
        lines += [f"  {name}=={version}" for name, version in pkgs.items()]
    else:
        lines.append(f"packages     {len(pkgs)} (--packages lists them)")
    click.echo("\n".join(lines))


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("study_name", metavar="STUDY")
@click.argument("number", type=click.IntRange(min=0), metavar="TRIAL")
@_TARGET
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-6, show_default=True,
              help="Relative tolerance when comparing metrics.")
@click.option("--atol", type=click.FloatRange(min=0), default=1e-9, show_default=True,
              help="Absolute tolerance when comparing metrics.")
@store_option
@click.pass_context
def repro(ctx: click.Context, study_name: str, number: int, args: tuple[str, ...],
          rtol: float, atol: float, store: str | None) -> None:
    """Rerun trial TRIAL with its config and seed; compare the metrics with the recorded
    ones and show what changed in the environment. Exits 1 when it did not reproduce."""
    study = load_study(study_name, _store(ctx, store))
    objective = objective_for(study, args)
    result = reproduce(study, objective, number, rtol=rtol, atol=atol)
    click.echo(result.text())
    if not result.reproduced:
        ctx.exit(1)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("study_name", metavar="STUDY")
@_TARGET
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many of the best configurations to rerun.")
@click.option("--repeats", type=click.IntRange(min=2), default=5, show_default=True,
              help="New seeds per configuration.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.95, show_default=True, help="Level of the confidence intervals.")
@click.option("--json", "as_json", is_flag=True)
@store_option
@click.pass_context
def seeds(ctx: click.Context, study_name: str, args: tuple[str, ...], top: int, repeats: int,
          workers: int, confidence: float, as_json: bool, store: str | None) -> None:
    """Rerun the TOP best configurations of STUDY with REPEATS new seeds each: mean, std
    and confidence interval per configuration, and whether their ranking is larger than
    the seed noise. The reruns are stored as trials linked to their source."""
    study = load_study(study_name, _store(ctx, store))
    objective = objective_for(study, args)
    result = seed_noise(study, objective, top=top, repeats=repeats, confidence=confidence,
                        workers=workers, progress=None if as_json else _progress("seeds"))
    if as_json:
        click.echo(json.dumps({
            "verdict": result.verdict(), "ranking_is_real": result.ranking_is_real,
            "p_values": list(result.p_values),
            "configs": [{"trial": c.number, "config": c.config, "original": c.original,
                         "values": list(c.values), "mean": c.mean, "std": c.std,
                         "ci": list(c.ci), "unstable": c.unstable} for c in result.configs],
        }, indent=2))
    else:
        click.echo(result.text())


@cli.command("sensitivity", context_settings={"ignore_unknown_options": True})
@click.argument("study_name", metavar="STUDY")
@_TARGET
@click.option("--space", "space_file", type=click.Path(dir_okay=False), default=None,
              help="Search space, to create STUDY when it does not exist.")
@click.option("--metric", default=None, help="Target metric of a new study [value].")
@click.option("--direction", type=click.Choice(["min", "max"]), default=None,
              help="Direction of a new study [min].")
@click.option("--baseline", default=None, metavar="JSON",
              help="The configuration to vary from [the study's best, else the middle].")
@click.option("--params", default=None, metavar="A,B", help="Parameters to vary [all].")
@click.option("--points", type=click.IntRange(min=2), default=7, show_default=True,
              help="Values per parameter (log grid on log scales; every choice).")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Seeds per value.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also draw the curves to this PNG file.")
@store_option
@click.pass_context
def sensitivity_command(ctx: click.Context, study_name: str, args: tuple[str, ...],
                        space_file: str | None, metric: str | None, direction: str | None,
                        baseline: str | None, params: str | None, points: int, repeats: int,
                        workers: int, plot_path: str | None, store: str | None) -> None:
    """One-at-a-time sensitivity: from a baseline, vary each parameter alone over its
    range, REPEATS seeds per value; a score (spread of the mean curve), the seed noise
    and the good values per parameter."""
    base = json_option(baseline, "--baseline")
    space = Space.from_file(space_file) if space_file else None
    study = Study(study_name, space, metric=metric, direction=direction,
                  store=_store(ctx, store))
    if args and TARGET_ATTR not in study.user_attrs:
        remember_target(study, args)
    objective = objective_for(study, args)
    names = [p.strip() for p in params.split(",")] if params else None
    result = sensitivity(study, objective, baseline=base, params=names, points=points,
                         repeats=repeats, workers=workers,
                         progress=_progress("sensitivity"))
    click.echo(result.text())
    if plot_path is not None:
        from tunelab.analysis import plot as draw

        draw(study, "sensitivity", plot_path, data=result.plot_data())
        click.echo(f"wrote {plot_path}", err=True)


@cli.command()
@click.argument("study_name", metavar="STUDY")
@click.option("--metric", default=None, help="Metric to explain [the study's target].")
@click.option("--top", type=click.FloatRange(min=0, min_open=True), default=0.2,
              show_default=True, help="Good ranges: the best fraction (< 1) or count (>= 1).")
@click.option("--json", "as_json", is_flag=True)
@store_option
@click.pass_context
def importance(ctx: click.Context, study_name: str, metric: str | None, top: float,
               as_json: bool, store: str | None) -> None:
    """Which parameters of STUDY matter (fANOVA on a random forest), and the ranges where
    its best configurations lie."""
    from tunelab.analysis import good_ranges, good_ranges_table
    from tunelab.analysis import importance as compute

    study = load_study(study_name, _store(ctx, store))
    count: float | int = int(top) if top >= 1 else top
    scores = compute(study, metric=metric)
    ranges = good_ranges(study, metric=metric, top=count)
    if as_json:
        click.echo(json.dumps({"importance": scores.to_dict(),
                               "good_ranges": {k: _plain(v) for k, v in ranges.items()}},
                              indent=2))
        return
    click.echo(scores.table())
    click.echo("")
    click.echo(good_ranges_table(ranges))


def _plain(obj: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else obj


_KINDS = ["history", "curves", "importance", "sensitivity", "parallel", "pareto"]


@cli.command()
@click.argument("study_name", metavar="STUDY")
@click.option("--kind", type=click.Choice(_KINDS), default="history", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="PNG file [STUDY-KIND.png].")
@click.option("--metric", default=None, help="Metric to plot [the study's target].")
@store_option
@click.pass_context
def plot(ctx: click.Context, study_name: str, kind: str, output: str | None,
         metric: str | None, store: str | None) -> None:
    """Draw STUDY to a PNG: optimization history, learning curves, importance,
    sensitivity curves (of its sensitivity runs), parallel coordinates, Pareto front."""
    from tunelab.analysis import plot as draw

    study = load_study(study_name, _store(ctx, store))
    path = Path(output or f"{study.name}-{kind}.png")
    data: Any = None
    if kind == "importance":
        from tunelab.analysis import importance as compute

        data = compute(study, metric=metric)
    elif kind == "sensitivity":
        settings = study.user_attrs.get(SETTINGS_ATTR)
        if not isinstance(settings, dict):
            raise click.ClickException(
                f"study {study.name!r} has no sensitivity runs; run `tunelab sensitivity "
                f"{study.name}` first")
        # Every run is stored: this gathers the curves and reruns nothing.
        data = sensitivity(study, _no_new_runs, run_missing=False, **settings).plot_data()
    draw(study, kind, path, metric=metric, data=data)
    click.echo(f"wrote {path}")


def _no_new_runs(trial: Any) -> float:  # pragma: no cover - run_missing=False runs nothing
    raise AssertionError("plotting stored sensitivity runs must not run the objective")
