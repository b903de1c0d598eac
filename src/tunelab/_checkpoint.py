"""Checkpoints in a trial's artifact folder: written atomically, read without pickle.

A checkpoint is a folder ``checkpoints/step-00000012`` inside the trial's folder. It is
written under a temporary name and renamed when complete, so a crash mid-write never
leaves a half checkpoint that looks like the latest. A dict state is stored as
``state.json`` (plain values) plus ``arrays.npz`` (NumPy arrays, loaded with
``allow_pickle=False``); objectives that save their own files (``torch.save`` of a
``state_dict``...) write into the folder themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tunelab._errors import TrialError

__all__ = ["CheckpointFolder"]

_NAME = re.compile(r"^step-(\d{8,})$")
_STATE = "state.json"
_ARRAYS = "arrays.npz"


class CheckpointFolder:
    """The checkpoints of one trial: ``root/checkpoints/step-NNNNNNNN``.

    >>> import tempfile
    >>> folder = CheckpointFolder(tempfile.mkdtemp(), keep=1)
    >>> folder.save({"epoch": 3, "weights": np.arange(3.0)}, step=3)
    >>> state = folder.load()
    >>> state["epoch"], state["weights"].tolist(), folder.latest_step()
    (3, [0.0, 1.0, 2.0], 3)
    """

    def __init__(self, trial_dir: str | os.PathLike[str], keep: int = 1) -> None:
        self.root = Path(trial_dir) / "checkpoints"
        self.keep = keep

    # ------------------------------------------------------------------ reading

    def steps(self) -> list[int]:
        """Steps of the committed checkpoints, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in self.root.iterdir():
            match = _NAME.match(entry.name)
            if match and entry.is_dir() and not entry.is_symlink():
                found.append(int(match.group(1)))
        return sorted(found)

    def latest_step(self) -> int | None:
        steps = self.steps()
        return steps[-1] if steps else None

    def path(self, step: int) -> Path:
        return self.root / f"step-{step:08d}"

    def latest(self) -> Path | None:
        step = self.latest_step()
        return None if step is None else self.path(step)

    def load(self) -> dict[str, Any] | None:
        """The latest dict state, or None when there is no checkpoint."""
        folder = self.latest()
        if folder is None:
            return None
        state: dict[str, Any] = {}
        state_file = folder / _STATE
        if state_file.is_file():
            state.update(json.loads(state_file.read_text(encoding="utf-8")))
        arrays_file = folder / _ARRAYS
        if arrays_file.is_file():
            with np.load(arrays_file, allow_pickle=False) as arrays:
                state.update({name: arrays[name] for name in arrays.files})
        return state

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def write(self, step: int) -> Iterator[Path]:
        """A folder to write the checkpoint of ``step`` into; committed on success."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise TrialError(f"a checkpoint's `step` must be an integer >= 0; got {step!r}")
        step = int(step)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-step-{step:08d}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        final = self.path(step)
        old = self.root / f".old-step-{step:08d}-{os.getpid()}"
        if final.exists():  # replaced: keep the old one until the new one is in place
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        self.prune(keep_step=step)

    def save(self, state: Mapping[str, Any], step: int) -> None:
        """Save a dict of plain values and NumPy arrays (no pickle)."""
        if not isinstance(state, Mapping):
            raise TrialError(f"a checkpoint state must be a dict; got {type(state).__name__}")
        plain: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        for key, value in state.items():
            if not isinstance(key, str) or not key:
                raise TrialError(f"checkpoint keys must be non-empty strings; got {key!r}")
            if isinstance(value, np.ndarray):
                if value.dtype == object:
                    raise TrialError(f"checkpoint array {key!r} has dtype object (not storable)")
                arrays[key] = value
            else:
                plain[key] = value
        try:
            text = json.dumps(plain, allow_nan=True, default=_plain)
        except (TypeError, ValueError) as exc:
            raise TrialError(
                f"checkpoint values must be JSON data or NumPy arrays; {exc}"
            ) from None
        with self.write(step) as folder:
            (folder / _STATE).write_text(text, encoding="utf-8")
            if arrays:
                np.savez(folder / _ARRAYS, **arrays)  # type: ignore[arg-type]

    def prune(self, keep_step: int | None = None) -> None:
        """Delete all but the newest ``keep`` checkpoints (always keeping ``keep_step``,
        the one just written), and leftovers of interrupted writes."""
        steps = [s for s in self.steps() if s != keep_step]
        room = self.keep - (keep_step is not None)
        for step in steps[: max(len(steps) - room, 0)]:
            shutil.rmtree(self.path(step), ignore_errors=True)
        for entry in self.root.glob(".*-step-*"):
            pid = entry.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)

    def clear(self) -> None:
        """Delete every checkpoint of the trial."""
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} {obj!r:.80} is not JSON data")
