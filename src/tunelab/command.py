"""Command-line trials: run any program as a trial and read its metrics from stdout.

The program's arguments may hold placeholders such as ``{lr}``; each is replaced by the
sampled value. The program prints metrics as JSON lines — ``{"step": 3, "val_acc": 0.91}``
(lines without a ``step`` are numbered 1, 2, 3...) — and anything else it prints is
passed through untouched. Placeholders ``{trial.number}``
and ``{trial.seed}`` give the trial's number and seed, ``{trial.resource}`` the resource
the scheduler granted (train until this step), ``{trial.dir}`` the trial's artifact folder
(for the program's own checkpoints) and ``{fidelity.NAME}`` the value of a fidelity axis;
the environment carries ``TUNELAB_TRIAL_NUMBER``, ``TUNELAB_SEED``, ``TUNELAB_CONFIG``
(JSON), ``TUNELAB_RESOURCE``, ``TUNELAB_TRIAL_DIR`` and ``TUNELAB_FIDELITY`` (JSON) as well.

An argument whose placeholder names an *inactive* conditional parameter is left out, and
so is the option just before it (``--momentum {momentum}`` disappears as a whole).
"""

from __future__ import annotations

import collections
import json
import os
import re
import shlex
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from tunelab._errors import InvalidArgumentError, TrialError
from tunelab._log import logger
from tunelab._proc import die_with_parent
from tunelab.executors._output import STDERR_FILE, STDOUT_FILE, LazyFile
from tunelab.space import Space
from tunelab.trial import Decision, TrialHandle

#: The rendered command of a trial, in its folder.
COMMAND_FILE = "command.txt"

__all__ = ["CommandObjective", "parse_metrics_line"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")
_TAIL = 40
_SPECIAL = frozenset({"trial.number", "trial.seed", "trial.resource", "trial.dir"})


def parse_metrics_line(line: str) -> tuple[int | None, dict[str, float]] | None:
    """Read one stdout line: a JSON object with numeric values is a report.

    Returns ``(step or None, metrics)``, or None when the line is not a report.

    >>> parse_metrics_line('{"step": 3, "val_acc": 0.91, "note": "x"}')
    (3, {'val_acc': 0.91})
    >>> parse_metrics_line("epoch 3 done") is None
    True
    """
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    step = data.pop("step", None)
    if isinstance(step, bool) or not (step is None or isinstance(step, int)):
        step = None
    metrics = {
        k: float(v)
        for k, v in data.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    return (step, metrics) if metrics else None


class CommandObjective:
    """An objective that runs ``argv`` (no shell) with the trial's values filled in.

    >>> import sys
    >>> from tunelab import Float, Space, Study
    >>> cmd = [sys.executable, "-c", "import json; print(json.dumps({'loss': {x} ** 2}))"]
    >>> study = Study("doc-cmd", Space(x=Float(-1, 1)), metric="loss", store="memory")
    >>> study.optimize(CommandObjective(cmd), n_trials=2)
    >>> [t.status.value for t in study.trials]
    ['COMPLETE', 'COMPLETE']
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        space: Space | None = None,
        echo: bool = False,
    ) -> None:
        if isinstance(argv, str) or not argv or not all(isinstance(a, str) for a in argv):
            raise InvalidArgumentError(
                f"`argv` must be a non-empty list of strings (no shell); got {argv!r}"
            )
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env or {})
        self.echo = echo
        if space is not None:
            self.check(list(space.names))

    def placeholders(self) -> set[str]:
        """Every ``{name}`` used in the command."""
        return {m.group(1) for arg in self.argv for m in _PLACEHOLDER.finditer(arg)}

    def check(self, names: Sequence[str]) -> None:
        """Raise InvalidArgumentError if a placeholder names no parameter in ``names``."""
        unknown = sorted(
            n for n in self.placeholders() - set(names) - _SPECIAL
            if not n.startswith("fidelity.")
        )
        if unknown:
            raise InvalidArgumentError(
                f"placeholder(s) {['{' + n + '}' for n in unknown]} in the command name no "
                f"parameter; the space has {sorted(names)} (and {sorted(_SPECIAL)}, "
                "fidelity.NAME)"
            )

    def render(
        self,
        config: Mapping[str, Any],
        number: int = 0,
        seed: int = 0,
        extra: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """The command for ``config``. A placeholder of a parameter that is absent from
        ``config`` (an inactive conditional one) drops its argument and the option before
        it; :meth:`check` catches typos before any trial runs. ``extra`` holds more
        placeholder values (``trial.resource``, ``fidelity.NAME``...)."""
        values = {**config, "trial.number": number, "trial.seed": seed, **(extra or {})}
        out: list[str] = []
        for arg in self.argv:
            names = _PLACEHOLDER.findall(arg)
            if any(n not in values for n in names):
                if out and out[-1].startswith("-") and not _PLACEHOLDER.search(out[-1]):
                    out.pop()
                continue
            out.append(_PLACEHOLDER.sub(lambda m: _format(values[m.group(1)]), arg))
        return out

    def __call__(self, trial: TrialHandle) -> None:
        extra: dict[str, Any] = {f"fidelity.{k}": v for k, v in trial.fidelity.items()}
        if trial.resource is not None:
            extra["trial.resource"] = trial.resource
        if trial.trial_dir is not None:
            extra["trial.dir"] = str(trial.trial_dir)
            trial.trial_dir.mkdir(parents=True, exist_ok=True)
        argv = self.render(trial, trial.number, trial.seed, extra)
        if trial.trial_dir is not None:  # the exact command, for the record and for reruns
            (trial.trial_dir / COMMAND_FILE).write_text(shlex.join(argv) + "\n",
                                                        encoding="utf-8")
        env = {
            **os.environ,
            **self.env,
            "TUNELAB_TRIAL_NUMBER": str(trial.number),
            "TUNELAB_SEED": str(trial.seed),
            "TUNELAB_CONFIG": json.dumps(dict(trial)),
            "TUNELAB_RESOURCE": "" if trial.resource is None else str(trial.resource),
            "TUNELAB_TRIAL_DIR": "" if trial.trial_dir is None else str(trial.trial_dir),
            "TUNELAB_FIDELITY": json.dumps(trial.fidelity),
            "PYTHONUNBUFFERED": "1",
        }
        try:
            process = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                encoding="utf-8",
                errors="replace",  # any program, any bytes: never fail on decoding
                bufsize=1,
                preexec_fn=die_with_parent,  # one prctl call: safe between fork and exec
            )
        except OSError as exc:
            raise TrialError(f"could not start {argv[0]!r}: {exc}") from None
        folder = trial.trial_dir
        out_file = LazyFile(folder / STDOUT_FILE) if folder is not None else None
        err_file = LazyFile(folder / STDERR_FILE) if folder is not None else None
        stderr_tail: collections.deque[str] = collections.deque(maxlen=_TAIL)
        drain = threading.Thread(target=_drain,
                                 args=(process.stderr, stderr_tail, self.echo, err_file))
        drain.daemon = True
        drain.start()
        step = 0
        printed = False
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if out_file is not None:
                    out_file.write(line)
                parsed = parse_metrics_line(line)
                if parsed is None:
                    if self.echo:
                        logger.info("trial %d: %s", trial.number, line.rstrip())
                    continue
                given, metrics = parsed
                step = given if given is not None else step + 1
                printed = True
                if trial.report(step, **metrics) is not Decision.CONTINUE:
                    _terminate(process)
                    return None
            code = process.wait()
        finally:
            if process.poll() is None:
                _terminate(process)
            drain.join(timeout=5)
            for f in (out_file, err_file):
                if f is not None:
                    f.close()
        if code != 0:
            tail = "".join(stderr_tail).strip()
            raise TrialError(
                f"command {argv[0]!r} exited with code {code}"
                + (f"; stderr ends with:\n{tail}" if tail else "")
            )
        if not printed:
            raise TrialError(
                f"command {argv[0]!r} finished without printing a JSON line of metrics "
                '(such as {"step": 1, "val_acc": 0.9}) on standard output'
            )
        return None


def _format(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if value is None:
        return ""
    return str(value)


def _drain(stream: Any, tail: collections.deque[str], echo: bool,
           copy: LazyFile | None = None) -> None:
    """Read stderr to the end, whatever happens, so the child never blocks on a full pipe
    (a copy goes to the trial's ``stderr.log``)."""
    try:
        for line in stream:
            tail.append(line)
            if copy is not None:
                copy.write(line)
            if echo:
                logger.info("%s", line.rstrip())
    except (OSError, ValueError):
        pass  # the pipe was closed under us: the process is gone


def _terminate(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
