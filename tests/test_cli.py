"""The `tunelab` command line and command-line trials."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import tunelab
from tunelab.cli import cli
from tunelab.command import CommandObjective, parse_metrics_line

SPACE_YAML = textwrap.dedent(
    """
    lr: {type: float, low: 1e-4, high: 1e-1, log: true}
    layers: {type: int, low: 1, high: 4}
    opt: [sgd, adam]
    momentum: {type: float, low: 0.0, high: 0.99, when: {opt: sgd}}
    """
)

TRAIN = textwrap.dedent(
    """
    import argparse, json, math, sys
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--opt", required=True)
    p.add_argument("--momentum", type=float)
    a = p.parse_args()
    if (a.opt == "sgd") != (a.momentum is not None):
        sys.exit("momentum must be given exactly for sgd")
    for epoch in range(3):
        print(f"epoch {epoch}")  # free text passes through
        acc = 1 - abs(math.log10(a.lr) + 2) / 4 - 0.01 * a.layers + 0.01 * epoch
        print(json.dumps({"step": epoch, "val_acc": acc, "loss": 1 - acc}))
    """
)

OBJECTIVE = textwrap.dedent(
    """
    import math
    def objective(config):
        return (math.log10(config["lr"]) + 2) ** 2 + config["layers"]
    """
)


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "space.yaml").write_text(SPACE_YAML)
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "obj.py").write_text(OBJECTIVE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUNELAB_STORE", raising=False)
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_run_a_command_reads_json_lines_and_fills_placeholders(project):
    result = invoke(
        "run", "--space", "space.yaml", "--metric", "val_acc", "--direction", "max",
        "--trials", "6", "--seed", "1", "--",
        sys.executable, "train.py", "--lr", "{lr}", "--layers", "{layers}",
        "--opt", "{opt}", "--momentum", "{momentum}",
    )
    assert result.exit_code == 0, result.output
    study = tunelab.load_study("train", store=str(project / "tunelab.db"))
    trials = study.trials
    assert [t.status.value for t in trials] == ["COMPLETE"] * 6
    assert {t.config["opt"] for t in trials} == {"sgd", "adam"}  # both branches ran
    full = study.trial(0)
    assert [r.step for r in full.reports] == [0, 1, 2]
    assert set(full.metrics) == {"val_acc", "loss"}
    assert "val_acc" in result.output and str(study.best_trial.number) in result.output


def test_rerunning_the_same_command_resumes_instead_of_adding(project):
    args = ["run", "obj.py:objective", "--space", "space.yaml", "--trials", "5", "--seed", "2"]
    assert invoke(*args).exit_code == 0
    assert invoke(*args).exit_code == 0
    study = tunelab.load_study("obj-objective", store="tunelab.db")
    assert len(study.trials) == 5


def test_run_a_python_objective_with_two_workers_and_a_baseline(project):
    result = invoke(
        "run", "obj.py:objective", "--space", "space.yaml", "--trials", "6",
        "--workers", "2", "--baseline", '{"lr": 0.01, "layers": 1, "opt": "adam"}',
    )
    assert result.exit_code == 0, result.output
    study = tunelab.load_study("obj-objective", store="tunelab.db")
    assert study.trials[0].config == {"lr": 0.01, "layers": 1, "opt": "adam"}
    assert study.best_value == pytest.approx(1.0)


def test_a_failing_command_fails_its_trial_with_stderr(project):
    (project / "fail.py").write_text(
        "import sys\nprint('bad things', file=sys.stderr)\nsys.exit(3)\n"
    )
    result = invoke("run", "--space", "space.yaml", "--trials", "2", "--", sys.executable,
                    "fail.py", "{lr}")
    assert result.exit_code == 1
    assert "no trial of study 'fail' completed" in result.output
    trial = tunelab.load_study("fail", store="tunelab.db").trials[0]
    assert trial.status.value == "FAILED"
    assert "exited with code 3" in trial.error and "bad things" in trial.error


def test_placeholder_typos_and_missing_budgets_are_usage_errors(project):
    result = invoke("run", "--space", "space.yaml", "--trials", "2", "--", "echo", "{lrr}")
    assert result.exit_code == 2
    assert "{lrr}" in result.output and "'lr'" in result.output
    assert "no studies" in invoke("studies").output  # nothing was written
    result = invoke("run", "--space", "space.yaml", "--", "echo", "{lr}")
    assert result.exit_code == 2 and "give --trials N or --timeout" in result.output
    result = invoke("run", "--trials", "2", "--", "echo", "{lr}")
    assert result.exit_code == 1 and "give a `space` to create it" in result.output


def test_a_command_that_prints_no_metrics_fails_with_a_hint(project):
    result = invoke("run", "--space", "space.yaml", "--trials", "1", "--", "echo", "{lr}")
    assert result.exit_code == 1
    trial = tunelab.load_study("echo", store="tunelab.db").trials[0]
    assert "without printing a JSON line of metrics" in trial.error


def test_bad_space_file_errors_are_one_line(project):
    (project / "bad.yaml").write_text("lr: {type: float, low: 1, high: 0}\n")
    result = invoke("run", "--space", "bad.yaml", "--trials", "2", "--", "echo", "{lr}")
    assert result.exit_code == 1
    assert "Float 'lr': `low` must be < `high`; got low=1, high=0" in result.output
    assert "Traceback" not in result.output


def test_reading_commands_and_store_everywhere(project, monkeypatch):
    other = str(project / "other.db")
    assert invoke("--store", other, "run", "obj.py:objective", "--space", "space.yaml",
                  "--trials", "3").exit_code == 0
    assert not (project / "tunelab.db").exists()
    listing = invoke("studies", "--store", other)
    assert "obj-objective" in listing.output and "min value" in listing.output
    assert "no studies" in invoke("studies").output  # default store is empty
    monkeypatch.setenv("TUNELAB_STORE", other)
    trials = invoke("trials", "obj-objective")
    assert trials.output.count("COMPLETE") == 3
    best = json.loads(invoke("best", "obj-objective", "--json").output)
    study = tunelab.load_study("obj-objective", store=other)
    assert best["number"] == study.best_trial.number and best["value"] == study.best_value
    assert "no study named 'zzz'" in invoke("best", "zzz").output


def test_export_json_and_csv(project):
    invoke("run", "--space", "space.yaml", "--metric", "val_acc", "--direction", "max",
           "--trials", "3", "--", sys.executable, "train.py", "--lr", "{lr}", "--layers",
           "{layers}", "--opt", "{opt}", "--momentum", "{momentum}")
    data = json.loads(invoke("export", "train", "--format", "json").output)
    assert data["study"]["name"] == "train" and data["study"]["direction"] == "max"
    trial = data["trials"][0]
    assert {"number", "status", "config", "metrics", "reports"} <= set(trial)
    assert [r["step"] for r in trial["reports"]] == [0, 1, 2]
    assert set(trial["reports"][0]["metrics"]) == {"val_acc", "loss"}
    result = invoke("export", "train", "--format", "csv", "-o", "out.csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO((project / "out.csv").read_text())))
    assert len(rows) == 3 and {"config.lr", "metrics.val_acc", "status"} <= set(rows[0])


def test_the_installed_tunelab_script_runs(project):
    exe = Path(sys.executable).with_name("tunelab")
    out = subprocess.run([str(exe), "run", "obj.py:objective", "--space", "space.yaml",
                          "--trials", "2"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TUNELAB_STORE": str(project / "s.db")})
    assert out.returncode == 0, out.stderr
    assert "study 'obj-objective'" in out.stderr and "value" in out.stdout


def test_parse_metrics_line():
    assert parse_metrics_line('{"step": 2, "acc": 1, "name": "x", "ok": true}') == (2, {"acc": 1.0})
    assert parse_metrics_line('{"acc": 0.5}') == (None, {"acc": 0.5})
    assert parse_metrics_line('{"name": "x"}') is None
    assert parse_metrics_line("[1, 2]") is None
    assert parse_metrics_line("{not json}") is None


def test_render_drops_inactive_options_and_fills_trial_fields():
    cmd = CommandObjective(["train", "--opt", "{opt}", "--momentum", "{momentum}",
                            "--m={momentum}", "--seed", "{trial.seed}", "--n", "{trial.number}"])
    assert cmd.render({"opt": "adam"}, number=4, seed=9) == [
        "train", "--opt", "adam", "--seed", "9", "--n", "4"
    ]
    assert cmd.render({"opt": "sgd", "momentum": 0.5}, number=0, seed=1)[3:6] == [
        "--momentum", "0.5", "--m=0.5"
    ]
    with pytest.raises(tunelab.InvalidArgumentError, match="no shell"):
        CommandObjective("python train.py")


def test_a_stop_decision_terminates_the_command():
    class StopAfterTwo(tunelab.Scheduler):
        name = "stop-after-two"

        def on_report(self, trial, report):
            return tunelab.Decision.STOP if report.step >= 2 else tunelab.Decision.CONTINUE

    script = (
        "import json, time\n"
        "for i in range(100):\n"
        "    print(json.dumps({'loss': 1.0 / (i + 1)}), flush=True)\n"
        "    time.sleep(0.05)\n"
    )
    study = tunelab.Study("stop", tunelab.Space(x=tunelab.Float(0, 1)), metric="loss",
                          scheduler=StopAfterTwo(), store="memory")
    study.optimize(CommandObjective([sys.executable, "-c", script]), n_trials=1)
    trial = study.trial(0)
    assert trial.status.value == "STOPPED"
    assert [r.step for r in trial.reports] == [1, 2]  # lines without a step count from 1
    assert trial.value == 0.5


def test_a_progress_bar_counts_trials_when_asked(project):
    result = CliRunner().invoke(
        cli, ["run", "obj.py:objective", "--space", "space.yaml", "--trials", "4", "--progress"]
    )
    assert result.exit_code == 0, result.output
    assert "4/4" in result.output and "trial" in result.output and "best value=" in result.output


# --------------------------------------------------------------------------- multi-fidelity

MULTI_FIDELITY = textwrap.dedent(
    """
    def objective(trial):
        state = trial.load_checkpoint() or {"loss": 1.0}
        for epoch in range(trial.resumed_from + 1, (trial.resource or 9) + 1):
            state["loss"] *= 0.5 + trial["lr"] * 5
            decision = trial.report(epoch, loss=state["loss"])
            if decision == "PAUSE":
                trial.save_checkpoint(state, step=epoch)
            if decision != "CONTINUE":
                return
    """
)


@pytest.fixture
def mf_project(project):
    (project / "mf.py").write_text(MULTI_FIDELITY)
    return project


def test_run_with_hyperband_prints_the_rung_summary_and_stores_the_scheduler(mf_project):
    result = invoke("run", "mf.py:objective", "--space", "space.yaml", "--metric", "loss",
                    "--trials", "17", "--seed", "0", "--scheduler", "hyperband",
                    "--min-resource", "1", "--max-resource", "9", "--eta", "3")
    assert result.exit_code == 0, result.output
    assert "Hyperband(min_resource=1, max_resource=9, eta=3)" in result.output
    assert "full trainings of 9 steps over 17 trials" in result.output
    assert "bracket  resource  planned  reached" in result.output
    study = tunelab.load_study("mf-objective", store="tunelab.db")
    assert study.scheduler.spec() == {"name": "hyperband", "min_resource": 1,
                                      "max_resource": 9, "eta": 3}
    assert study.budget().reached(9) >= 1
    checkpoints = mf_project / "tunelab-artifacts" / "mf-objective"
    assert checkpoints.is_dir()  # next to tunelab.db

    # rerunning without --scheduler resumes with the stored one and adds nothing
    again = invoke("run", "mf.py:objective", "--trials", "17")
    assert again.exit_code == 0, again.output
    assert "Hyperband(" in again.output
    assert len(tunelab.load_study("mf-objective", store="tunelab.db").trials) == 17


def test_budget_and_fidelity_commands(mf_project):
    invoke("run", "mf.py:objective", "--space", "space.yaml", "--metric", "loss",
           "--trials", "9", "--seed", "0", "--scheduler", "asha", "--max-resource", "9")
    budget = invoke("budget", "mf-objective")
    assert budget.exit_code == 0, budget.output
    assert "ASHA(min_resource=1, max_resource=9, eta=3, mode='promotion')" in budget.output
    assert "resource consumed:" in budget.output and "full trainings of 9 steps" in budget.output
    lines = budget.output.splitlines()
    header = lines.index(next(line for line in lines if "planned" in line))
    assert [line.split()[1] for line in lines[header + 1:]] == ["1", "3", "9"]

    fidelity = invoke("fidelity", "mf-objective")
    assert fidelity.exit_code == 0, fidelity.output
    assert "fidelity agreement of 'loss' (min) over 9 configurations" in fidelity.output
    assert "spearman" in fidelity.output and "kendall" in fidelity.output
    rows = [line.split() for line in fidelity.output.splitlines() if line.strip()[:1].isdigit()]
    assert [row[:2] for row in rows] == [["1", "3"], ["3", "9"]]

    chosen = invoke("fidelity", "mf-objective", "--resources", "1,9")
    assert [line.split()[:2] for line in chosen.output.splitlines()
            if line.strip()[:1].isdigit()] == [["1", "9"]]
    bad = invoke("fidelity", "mf-objective", "--resources", "1,x")
    assert bad.exit_code == 2 and "'1,x' is not a comma-separated list" in bad.output
    one = invoke("fidelity", "mf-objective", "--resources", "3")
    assert one.exit_code == 2 and "at least two distinct steps" in one.output
    assert "no study named 'zzz'" in invoke("budget", "zzz").output
    assert "no study named 'zzz'" in invoke("fidelity", "zzz").output


def test_budget_of_a_fifo_study_has_no_rungs(project):
    invoke("run", "obj.py:objective", "--space", "space.yaml", "--trials", "2")
    result = invoke("budget", "obj-objective")
    assert result.exit_code == 0, result.output
    assert "FIFOScheduler()" in result.output and "over 2 trials" in result.output
    assert "planned" not in result.output


def test_asha_stopping_mode_and_fifo_max_resource_are_stored(mf_project):
    result = invoke("run", "mf.py:objective", "--space", "space.yaml", "--metric", "loss",
                    "--trials", "6", "--scheduler", "asha", "--mode", "stopping",
                    "--min-resource", "1", "--max-resource", "9", "--eta", "2.0",
                    "--study", "stopping")
    assert result.exit_code == 0, result.output
    spec = tunelab.load_study("stopping", store="tunelab.db").scheduler.spec()
    assert spec == {"name": "asha", "min_resource": 1, "max_resource": 9, "eta": 2,
                    "mode": "stopping"}
    result = invoke("run", "mf.py:objective", "--space", "space.yaml", "--metric", "loss",
                    "--trials", "2", "--scheduler", "fifo", "--max-resource", "4",
                    "--study", "fifo")
    assert result.exit_code == 0, result.output
    assert "planned" not in result.output  # no rungs, no rung summary
    study = tunelab.load_study("fifo", store="tunelab.db")
    assert [r.step for r in study.trial(0).reports] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--eta", "2"], "--eta goes with --scheduler NAME (one of fifo, median, "
                         "successive_halving, hyperband, asha, async_hyperband)"),
        (["--min-resource", "1", "--mode", "stopping"],
         "--min-resource and --mode go with --scheduler NAME"),
        (["--scheduler", "hyperband", "--mode", "stopping"],
         "--mode stopping does not apply to --scheduler hyperband; it takes --min-resource, "
         "--max-resource, --eta"),
        (["--scheduler", "fifo", "--eta", "2"],
         "--eta 2 does not apply to --scheduler fifo; it takes --max-resource"),
        (["--scheduler", "median", "--min-resource", "2"],
         "--min-resource 2 does not apply to --scheduler median; it takes --max-resource"),
        (["--scheduler", "hyperband", "--min-resource", "10", "--max-resource", "9"],
         "--min-resource 10 must be <= --max-resource 9"),
        (["--scheduler", "asha", "--min-resource", "100"],
         "--min-resource 100 must be <= --max-resource 81 (the default of asha)"),
        (["--scheduler", "hyperband", "--eta", "1"],
         "Invalid value for '--eta': 1.0 is not in the range x>1."),
        (["--scheduler", "asha", "--mode", "fast"],
         "Invalid value for '--mode': 'fast' is not one of 'promotion', 'stopping'."),
        (["--scheduler", "hyperband", "--max-resource", "0"],
         "Invalid value for '--max-resource': 0 is not in the range x>=1."),
        (["--scheduler", "bohb"], "Invalid value for '--scheduler': 'bohb' is not one of "
                                  "'fifo', 'median', 'successive_halving', 'hyperband', "
                                  "'asha', 'async_hyperband'."),
    ],
)
def test_bad_scheduler_options_are_usage_errors(mf_project, options, message):
    result = invoke("run", "mf.py:objective", "--space", "space.yaml", "--trials", "2",
                    *options)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "no studies" in invoke("studies").output  # nothing was written
