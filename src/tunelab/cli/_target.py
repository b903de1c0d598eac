"""Turning `tunelab run` arguments into an objective: a Python function or a command."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from tunelab.command import CommandObjective

__all__ = [
    "TARGET_ATTR",
    "default_study_name",
    "is_python_target",
    "load_python_objective",
    "objective_for",
    "remember_target",
]

#: The study attribute where `tunelab run` records its target and working directory, so
#: that `tunelab repro`, `seeds` and `sensitivity` can run it again.
TARGET_ATTR = "tunelab.target"

_PY_TARGET = re.compile(r"^(?P<module>[^:]+):(?P<attr>[A-Za-z_][A-Za-z0-9_]*)$")


def is_python_target(args: Sequence[str]) -> bool:
    """``train.py:objective`` or ``package.module:objective`` (one argument)."""
    if len(args) != 1:
        return False
    match = _PY_TARGET.match(args[0])
    if match is None:
        return False
    module = match.group("module")
    return module.endswith(".py") or re.fullmatch(r"[A-Za-z_][\w.]*", module) is not None


def load_python_objective(target: str) -> Any:
    """Import the objective named by ``file.py:function`` or ``module:function``."""
    match = _PY_TARGET.match(target)
    assert match is not None
    module_ref, attr = match.group("module"), match.group("attr")
    if module_ref.endswith(".py"):
        path = Path(module_ref).resolve()
        if not path.is_file():
            raise click.BadParameter(f"file {module_ref!r} does not exist", param_hint="TARGET")
        sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise click.BadParameter(f"cannot import {module_ref!r}", param_hint="TARGET")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's module failed to import: say where, briefly
            raise click.ClickException(
                f"importing {module_ref!r} failed: {type(exc).__name__}: {exc} "
                f"(run `python {module_ref}` to see the full traceback)"
            ) from None
    else:
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_ref)
        except Exception as exc:
            raise click.ClickException(
                f"importing module {module_ref!r} failed: {type(exc).__name__}: {exc}"
            ) from None
    objective = getattr(module, attr, None)
    if not callable(objective):
        raise click.BadParameter(
            f"{module_ref!r} has no function {attr!r}", param_hint="TARGET"
        )
    return objective


def default_study_name(args: Sequence[str]) -> str:
    """A readable default: the script's stem (``train`` for ``python train.py``)."""
    if is_python_target(args):
        module, _, attr = args[0].rpartition(":")
        return f"{Path(module).stem}-{attr}"
    for arg in args[1:] if len(args) > 1 else args:
        if "{" not in arg and not arg.startswith("-"):
            return Path(arg).stem or "study"
    return Path(args[0]).stem or "study"


def command_objective(args: Sequence[str], names: Sequence[str],
                      cwd: str | None = None) -> CommandObjective:
    objective = CommandObjective(list(args), cwd=cwd)
    try:
        objective.check(names)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="COMMAND") from None
    return objective


def remember_target(study: Any, args: Sequence[str]) -> None:
    """Record ``args`` (and the working directory) on the study, when they changed."""
    target = {"args": list(args), "cwd": os.getcwd()}
    if study.user_attrs.get(TARGET_ATTR) != target:
        study.set_user_attr(TARGET_ATTR, target)


def objective_for(study: Any, args: Sequence[str]) -> Any:
    """The objective of ``args``, else the one `tunelab run` recorded for ``study``.

    A recorded target runs from the directory it was recorded in (a relative script or
    module resolves there, a command runs there), and is announced on stderr first. Code
    named by a shared store is not run blindly: the recorded target is used only with a
    local SQLite file or in-memory store; with any other store, give TARGET explicitly.
    """
    if args:
        if is_python_target(args):
            return load_python_objective(args[0])
        return command_objective(args, study.space.names)
    recorded = study.user_attrs.get(TARGET_ATTR)
    if not isinstance(recorded, dict) or not recorded.get("args"):
        raise click.UsageError(
            f"study {study.name!r} has no recorded target (it was not made by `tunelab "
            "run`): give one, e.g. `train.py:objective` or `-- python train.py --lr {lr}`")
    url = str(getattr(study.store, "url", ""))
    if not (url == "memory" or url.startswith("sqlite")):
        raise click.UsageError(
            f"study {study.name!r} lives in a shared store ({url.split('@')[-1]}): give the "
            f"target explicitly rather than run the one recorded there "
            f"({' '.join(map(str, recorded['args']))})")
    recorded_args = [str(a) for a in recorded["args"]]
    cwd = recorded.get("cwd") if isinstance(recorded.get("cwd"), str) else None
    if cwd is not None and not Path(cwd).is_dir():
        cwd = None
    click.echo(f"running the target recorded for study {study.name!r}: "
               f"{' '.join(recorded_args)}" + (f" (in {cwd})" if cwd else ""), err=True)
    if is_python_target(recorded_args):
        module, _, attr = recorded_args[0].rpartition(":")
        if cwd is not None:
            if module.endswith(".py") and not Path(module).is_absolute():
                return load_python_objective(f"{Path(cwd) / module}:{attr}")
            sys.path.insert(0, cwd)
        return load_python_objective(recorded_args[0])
    return command_objective(recorded_args, study.space.names, cwd=cwd)
