"""`tunelab run --scheduler NAME --min-resource R --max-resource R --eta E --mode M`."""

from __future__ import annotations

import inspect
from typing import Any

import click

from tunelab._errors import InvalidArgumentError
from tunelab.schedulers import SCHEDULERS, Scheduler, make_scheduler

__all__ = ["SCHEDULER_NAMES", "pauses", "scheduler_from_options"]

#: Names for ``--scheduler``, in the registry's order (fifo, median, ..., async_hyperband).
SCHEDULER_NAMES = list(SCHEDULERS)

#: Command-line option -> scheduler parameter.
_OPTIONS = {
    "--min-resource": "min_resource",
    "--max-resource": "max_resource",
    "--eta": "eta",
    "--mode": "mode",
}


def _parameters(name: str) -> dict[str, Any]:
    """The parameters a scheduler's constructor takes, with their defaults."""
    signature = inspect.signature(SCHEDULERS[name].__init__)
    return {
        p.name: p.default
        for p in signature.parameters.values()
        if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }


def scheduler_from_options(name: str | None, values: dict[str, Any]) -> Scheduler | None:
    """The scheduler ``--scheduler`` and its options describe (None without
    ``--scheduler``). ``values`` maps each option (``"--eta"``) to its value or None."""
    given = {option: value for option, value in values.items() if value is not None}
    if name is None:
        if given:
            verb = "goes" if len(given) == 1 else "go"
            raise click.UsageError(
                f"{' and '.join(given)} {verb} with --scheduler NAME "
                f"(one of {', '.join(SCHEDULER_NAMES)})"
            )
        return None
    accepted = _parameters(name)
    takes = [option for option, param in _OPTIONS.items() if param in accepted]
    spec: dict[str, Any] = {"name": name}
    for option, value in given.items():
        param = _OPTIONS[option]
        if param not in accepted:
            raise click.UsageError(
                f"{option} {_show(value)} does not apply to --scheduler {name}; it takes "
                f"{', '.join(takes) if takes else 'none of the resource options'}"
            )
        if param == "eta" and float(value).is_integer():
            value = int(value)  # a stored spec of eta=3, not 3.0
        spec[param] = value
    low = spec.get("min_resource", accepted.get("min_resource"))
    high = spec.get("max_resource", accepted.get("max_resource"))
    if isinstance(low, int) and isinstance(high, int) and low > high:
        where = {
            "--min-resource": "" if "min_resource" in spec else f" (the default of {name})",
            "--max-resource": "" if "max_resource" in spec else f" (the default of {name})",
        }
        raise click.UsageError(
            f"--min-resource {low}{where['--min-resource']} must be <= --max-resource "
            f"{high}{where['--max-resource']}"
        )
    try:
        return make_scheduler(spec)
    except InvalidArgumentError as exc:
        raise click.UsageError(f"--scheduler {name}: {exc}") from None


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def pauses(scheduler: Scheduler) -> bool:
    """Whether the scheduler pauses trials to resume them later (promotion-based)."""
    return bool(scheduler.rungs()) and getattr(scheduler, "mode", "promotion") != "stopping"
