"""`tunelab env|repro|seeds|sensitivity|importance|plot` on small studies made by
`tunelab run` (the recorded target is run again)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import tunelab
from tunelab.cli import cli

SPACE_YAML = textwrap.dedent(
    """
    lr: {type: float, low: 1e-4, high: 1.0, log: true}
    wd: {type: float, low: 0.0, high: 1.0}
    """
)

NOISY = textwrap.dedent(
    """
    import math, random
    def objective(trial):
        noise = random.Random(trial.seed).gauss(0, 0.05)
        return (math.log10(trial["lr"]) + 2) ** 2 + noise
    """
)

COMMAND = textwrap.dedent(
    """
    import argparse, json, math, random
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float)
    p.add_argument("--wd", type=float)
    p.add_argument("--seed", type=int)
    a = p.parse_args()
    noise = random.Random(a.seed).gauss(0, 0.05)
    print(json.dumps({"value": (math.log10(a.lr) + 2) ** 2 + noise}))
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "space.yaml").write_text(SPACE_YAML)
    (tmp_path / "noisy.py").write_text(NOISY)
    (tmp_path / "train.py").write_text(COMMAND)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUNELAB_STORE", raising=False)
    return tmp_path


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_noisy(trials: int = 8) -> tunelab.Study:
    result = invoke("run", "noisy.py:objective", "--space", "space.yaml", "--trials",
                    str(trials), "--seed", "0")
    assert result.exit_code == 0, result.output
    return tunelab.load_study("noisy-objective", store="tunelab.db")


def test_env_shows_the_card_of_a_trial(project: Path) -> None:
    run_noisy(3)
    result = invoke("env", "noisy-objective", "1")
    assert result.exit_code == 0, result.output
    study = tunelab.load_study("noisy-objective", store="tunelab.db")
    assert f"seed         {study.trial(1).system_attrs['seed']}" in result.output
    assert "python       3." in result.output and "not a git repository" in result.output
    as_json = json.loads(invoke("env", "noisy-objective", "1", "--json").output)
    assert as_json["card"]["packages"]["numpy"]


def test_repro_reruns_the_recorded_target_and_exits_1_when_it_changed(project: Path) -> None:
    run_noisy(3)
    same = invoke("repro", "noisy-objective", "2")
    assert same.exit_code == 0 and "REPRODUCED" in same.output
    (project / "noisy.py").write_text(NOISY.replace("0.05", "0.5"))  # the code changed
    changed = invoke("repro", "noisy-objective", "2")
    assert changed.exit_code == 1 and "NOT reproduced" in changed.output
    study = tunelab.load_study("noisy-objective", store="tunelab.db")
    assert [t.system_attrs.get("rerun_of") for t in study.trials[3:]] == [2, 2]


def test_repro_of_a_command_trial_uses_its_seed(project: Path) -> None:
    result = invoke("run", "--space", "space.yaml", "--trials", "3", "--study", "cmd", "--",
                    sys.executable, "train.py", "--lr", "{lr}", "--wd", "{wd}",
                    "--seed", "{trial.seed}")
    assert result.exit_code == 0, result.output
    again = invoke("repro", "cmd", "1")
    assert again.exit_code == 0 and "REPRODUCED" in again.output, again.output


def test_seeds_reports_the_noise_of_the_top_configurations(project: Path) -> None:
    run_noisy(8)
    result = invoke("seeds", "noisy-objective", "--top", "2", "--repeats", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["configs"]) == 2 and all(len(c["values"]) == 3 for c in data["configs"])
    assert all(0.0 < c["std"] < 0.2 for c in data["configs"])
    text = invoke("seeds", "noisy-objective", "--top", "2", "--repeats", "3").output
    assert "95% CI" in text and "seed noise" in text


def test_sensitivity_creates_a_study_and_scores_the_parameters(project: Path) -> None:
    result = invoke("sensitivity", "sens", "noisy.py:objective", "--space", "space.yaml",
                    "--baseline", '{"lr": 0.001, "wd": 0.5}', "--points", "5",
                    "--repeats", "2")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines()
             if line.startswith(("lr ", "wd "))}
    assert lines["lr"][3] == "yes" and lines["wd"][3] == "no"
    study = tunelab.load_study("sens", store="tunelab.db")
    assert len(study.trials) == 2 * (1 + 4 + 4)
    again = invoke("sensitivity", "sens", "--points", "5", "--repeats", "2",
                   "--baseline", '{"lr": 0.001, "wd": 0.5}')  # target recorded: reused
    assert again.exit_code == 0 and len(study.trials) == 18


def test_missing_target_is_a_clear_error(project: Path) -> None:
    tunelab.Study("bare", tunelab.Space.from_file("space.yaml"), store="tunelab.db").optimize(
        lambda c: c["lr"], n_trials=2)
    result = CliRunner().invoke(cli, ["repro", "bare", "0"])
    assert result.exit_code != 0 and "no recorded target" in result.output


def test_importance_plot_and_exports_from_the_command_line(project: Path) -> None:
    run_noisy(24)
    result = invoke("importance", "noisy-objective", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    scores = data["importance"]["scores"]
    assert scores["lr"] > 0.8 > scores["wd"]  # wd is ignored by the objective
    assert set(data["good_ranges"]) == {"lr", "wd"}
    text = invoke("importance", "noisy-objective").output
    assert "fANOVA" in text and "good range" in text
    for kind in ("history", "parallel", "importance"):
        drawn = invoke("plot", "noisy-objective", "--kind", kind, "-o", f"{kind}.png")
        assert drawn.exit_code == 0, drawn.output
        assert (project / f"{kind}.png").read_bytes()[:4] == b"\x89PNG"
    no_runs = CliRunner().invoke(cli, ["plot", "noisy-objective", "--kind", "sensitivity"])
    assert no_runs.exit_code != 0 and "no sensitivity runs" in no_runs.output
    logged = invoke("export", "noisy-objective", "--format", "log", "-o", "log.txt")
    assert logged.exit_code == 0
    from tunelab.analysis import read_text_log

    assert len(read_text_log(project / "log.txt")) == 24
    board = invoke("export", "noisy-objective", "--format", "tensorboard", "-o", "tb")
    assert board.exit_code == 0 and (project / "tb" / "noisy-objective").is_dir()


def test_sensitivity_plot_is_drawn_from_stored_runs(project: Path) -> None:
    assert invoke("sensitivity", "sens", "noisy.py:objective", "--space", "space.yaml",
                  "--points", "3", "--repeats", "2").exit_code == 0
    n = len(tunelab.load_study("sens", store="tunelab.db").trials)
    drawn = invoke("plot", "sens", "--kind", "sensitivity", "-o", "s.png")
    assert drawn.exit_code == 0, drawn.output
    assert (project / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert len(tunelab.load_study("sens", store="tunelab.db").trials) == n  # nothing rerun
