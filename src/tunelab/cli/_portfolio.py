"""`tunelab portfolio build`: choose configurations that were good on many datasets."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click

from tunelab.cli._main import _store, cli, store_option

__all__ = ["portfolio"]


@cli.group()
def portfolio() -> None:
    """Portfolios of configurations that were good on many past datasets."""


@portfolio.command("build")
@click.option("--studies", default=None, metavar="A,B,...",
              help="Past studies, one per dataset, in --store.")
@click.option("--table", "table_file", type=click.Path(dir_okay=False, exists=True),
              default=None, help="Results as CSV (dataset, config as JSON, value) or JSON "
                                 "records {dataset, config, value}.")
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True,
              help="Configurations in the portfolio.")
@click.option("--direction", type=click.Choice(["min", "max"]), default="min",
              show_default=True, help="For --table: is the value minimised or maximised?")
@click.option("--judge", "judge_file", type=click.Path(dir_okay=False, exists=True),
              default=None, help="With --table: a second, independent measurement of the "
                                 "same configurations on the same datasets (another split "
                                 "or seed), in the same format. Each member is then chosen "
                                 "on one measurement and judged on the other, so wins "
                                 "that do not repeat are not bought.")
@click.option("--normalize", type=click.Choice(["range", "median"]), default="range",
              show_default=True, help="How regret is scaled per dataset while choosing.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default="portfolio.yaml",
              show_default=True, help="YAML (or .json) file to write.")
@store_option
@click.pass_context
def build(ctx: click.Context, studies: str | None, table_file: str | None, k: int,
          direction: str, judge_file: str | None, normalize: str, output: str,
          store: str | None) -> None:
    """Choose K configurations greedily so that the best of them has the lowest mean
    normalized regret over the datasets; write them best first. Use it with
    `tunelab run ... --portfolio FILE`."""
    from tunelab.portfolio import build_portfolio, table_from_records, table_from_studies

    if (studies is None) == (table_file is None):
        raise click.UsageError("give --studies A,B,... or --table FILE (one of them)")
    if judge_file is not None and table_file is None:
        raise click.UsageError("--judge goes with --table (a second table of the same "
                               "configurations and datasets)")
    if studies is not None:
        names = [s.strip() for s in studies.split(",") if s.strip()]
        table = table_from_studies(names, _store(ctx, store))
    else:
        table = table_from_records(_read_records(Path(str(table_file))), direction=direction)
    judge = None if judge_file is None else table_from_records(
        _read_records(Path(judge_file), "--judge"), direction=direction)
    chosen = build_portfolio(table, k, normalize=normalize, judge=judge)
    path = chosen.save(output)
    click.echo(f"{len(chosen.configs)} configuration(s) over {len(table.datasets)} "
               f"dataset(s), {len(table.configs)} candidate(s); mean normalized regret "
               f"after each: {', '.join(f'{r:.4f}' for r in chosen.regret)}")
    for i, config in enumerate(chosen.configs, 1):
        click.echo(f"  {i}. {json.dumps(config)}")
    click.echo(f"wrote {path}", err=True)


def _read_records(path: Path, option: str = "--table") -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint=option) from None
        if not isinstance(data, list):
            raise click.BadParameter("a JSON table is a list of {dataset, config, value} "
                                     "records", param_hint=option)
        return data
    rows = []
    for i, row in enumerate(csv.DictReader(text.splitlines()), 2):
        try:
            rows.append({"dataset": row["dataset"], "config": json.loads(row["config"]),
                         "value": float(row["value"])})
        except (KeyError, ValueError, TypeError) as exc:
            raise click.BadParameter(
                f"line {i}: need columns dataset, config (JSON) and value ({exc})",
                param_hint=option) from None
    return rows


@portfolio.command("list")
def list_builtin() -> None:
    """The portfolios shipped with tunelab (read from the package; no network)."""
    from tunelab.portfolio import BUILTIN, builtin_info

    for name, what in BUILTIN.items():
        info = builtin_info(name)
        click.echo(f"{name}: {what}; {len(info.get('configs', []))} configuration(s) "
                   f"learned on {len(info.get('datasets', []))} dataset(s); "
                   f"{info.get('metric', info.get('direction', ''))}")


@portfolio.command("export")
@click.argument("name")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="YAML (or .json) file to write, for `tunelab run ... --portfolio FILE`.")
@click.option("--space", "space_out", type=click.Path(dir_okay=False), default=None,
              help="Also write the portfolio's search space (YAML) here, for --space.")
def export(name: str, output: str, space_out: str | None) -> None:
    """Write the built-in portfolio NAME (see `tunelab portfolio list`) to a file."""
    import yaml

    from tunelab._errors import InvalidArgumentError
    from tunelab.portfolio import builtin_info, builtin_space

    try:
        info = builtin_info(name)
        space = builtin_space(name)
    except InvalidArgumentError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    out = Path(output)
    text = (json.dumps(info, indent=2) if out.suffix == ".json"
            else yaml.safe_dump(info, sort_keys=False))
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out} ({len(info['configs'])} configuration(s))", err=True)
    if space_out is not None:
        if space is None:
            raise click.UsageError(f"the built-in portfolio {name!r} states no space")
        Path(space_out).write_text(space.to_yaml(), encoding="utf-8")
        click.echo(f"wrote {space_out}", err=True)
