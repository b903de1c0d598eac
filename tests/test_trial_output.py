"""Each trial's stdout, stderr, log records and failure traceback land in its folder."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from tunelab import Float, Space, Study
from tunelab.command import CommandObjective


def chatty(trial: Any) -> float:
    print(f"out {trial.number}")
    print(f"err {trial.number}", file=sys.stderr)
    logging.getLogger("user").warning("logged %d", trial.number)
    if trial.number == 1:
        raise ValueError("boom")
    return trial["x"]


@pytest.mark.parametrize("workers", [1, 2])
def test_python_objective_output_is_in_the_trial_folder(
    tmp_path: Path, workers: int, capsys: pytest.CaptureFixture[str]
) -> None:
    study = Study("out", Space(x=Float(0, 1)), store=str(tmp_path / "s.db"))
    study.optimize(chatty, n_trials=2, workers=workers)
    for n in (0, 1):
        folder = study.trial_dir(n)
        assert (folder / "stdout.log").read_text() == f"out {n}\n"
        err = (folder / "stderr.log").read_text()
        assert err.startswith(f"err {n}\n")
        assert ("ValueError: boom" in err) == (n == 1)
        assert f"WARNING user: logged {n}" in (folder / "log.txt").read_text()
    if workers == 1:  # still on the terminal too
        seen = capsys.readouterr()
        assert "out 0" in seen.out and "err 0" in seen.err


def test_a_quiet_trial_leaves_no_files(tmp_path: Path) -> None:
    study = Study("quiet", Space(x=Float(0, 1)), store=str(tmp_path / "s.db"))
    study.optimize(lambda c: c["x"], n_trials=1)
    assert not study.trial_dir(0).exists()


def test_command_output_is_in_the_trial_folder(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import json, sys\n"
        "print('starting')\n"
        "print('careful', file=sys.stderr)\n"
        "print(json.dumps({'value': float(sys.argv[1])}))\n"
    )
    study = Study("cmd", Space(x=Float(0, 1)), store=str(tmp_path / "s.db"))
    study.optimize(CommandObjective([sys.executable, str(script), "{x}"]), n_trials=1)
    folder = study.trial_dir(0)
    out = (folder / "stdout.log").read_text().splitlines()
    assert out[0] == "starting" and out[1].startswith('{"value": ')
    assert (folder / "stderr.log").read_text() == "careful\n"
    x = study.trial(0).config["x"]
    assert (folder / "command.txt").read_text() == f"{sys.executable} {script} {x!r}\n"


def test_unconfigured_logging_goes_to_stderr_log_and_basic_config_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # a script that configured nothing

    def objective(trial: Any) -> float:
        logging.getLogger("user").warning("plain warning")
        configured = not root.handlers
        logging.basicConfig(level=logging.INFO, force=False)
        try:
            return 1.0 if configured and root.handlers else 0.0
        finally:
            for h in list(root.handlers):
                root.removeHandler(h)

    study = Study("plain", Space(x=Float(0, 1)), store=str(tmp_path / "s.db"))
    study.optimize(objective, n_trials=1)
    assert study.trial(0).value == 1.0  # basicConfig found no handler of ours
    assert "plain warning" in (study.trial_dir(0) / "stderr.log").read_text()


def test_an_unwritable_copy_never_fails_the_trial(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    study = Study("full", Space(x=Float(0, 1)), store=str(tmp_path / "s.db"))
    (study.trial_dir(0) / "stdout.log").mkdir(parents=True)  # cannot be opened as a file
    study.optimize(chatty, n_trials=1)
    assert study.trial(0).status.value == "COMPLETE"
    assert "out 0" in capsys.readouterr().out  # the terminal still got it
