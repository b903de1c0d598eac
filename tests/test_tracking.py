"""Environment cards: capture (git state of a fake repository, a dirty tree, the diff cap),
hashes, differences, seeding, and what a study records for every trial."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tunelab import Float, InvalidArgumentError, Space, Study
from tunelab.tracking import (
    capture_environment,
    card_hash,
    config_hash,
    current_environment,
    diff_environments,
    git_state,
    seed_everything,
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "T")
    (root / "train.py").write_text("lr = 0.1\n")
    git(root, "add", "train.py")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_a_clean_repository_has_its_commit_and_no_diff(repo: Path) -> None:
    state = git_state(repo)
    assert state is not None
    assert state["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert state["branch"] == "main"
    assert state["dirty"] is False and state["diff"] == "" and state["untracked"] == []


def test_a_dirty_tree_is_flagged_with_its_diff_and_untracked_files(repo: Path) -> None:
    (repo / "train.py").write_text("lr = 0.2\n")
    (repo / "notes.txt").write_text("new\n")
    state = git_state(repo)
    assert state is not None and state["dirty"] is True
    assert "-lr = 0.1" in state["diff"] and "+lr = 0.2" in state["diff"]
    assert state["untracked"] == ["notes.txt"]
    assert state["diff_truncated"] is False


def test_the_diff_is_capped(repo: Path) -> None:
    (repo / "train.py").write_text("x = 1\n" * 5000)
    state = git_state(repo, diff_limit=1000)
    assert state is not None
    assert len(state["diff"]) == 1000 and state["diff_truncated"] is True
    assert state["diff_chars"] > 1000


def test_outside_a_repository_git_is_none(tmp_path: Path) -> None:
    assert git_state(tmp_path) is None


def test_a_card_holds_python_packages_hardware_and_the_command_line(repo: Path) -> None:
    card = capture_environment(repo, argv=["train.py", "--lr", "0.1"])
    assert card["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert card["packages"]["numpy"] == np.__version__
    assert card["hardware"]["cpu_count"] >= 1 and card["hardware"]["memory_gb"] > 0
    assert "devices" in card["hardware"]["gpu"]
    assert card["os"]["system"]
    assert card["argv"] == ["train.py", "--lr", "0.1"]
    assert card["git"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert card["cwd"] == str(repo.resolve())


def test_hashes_ignore_capture_time_and_key_order() -> None:
    card = capture_environment(packages=False)
    later = {**card, "captured_at": card["captured_at"] + 60}
    assert card_hash(card) == card_hash(later)
    assert card_hash(card) != card_hash({**card, "argv": ["other"]})
    assert config_hash({"a": 1, "b": "x"}) == config_hash({"b": "x", "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_differences_name_packages_python_and_git() -> None:
    before = {"python": {"version": "3.11.7"}, "packages": {"numpy": "2.3.0", "old": "1.0"},
              "git": {"commit": "aaa", "dirty": False, "diff": ""}}
    after = {"python": {"version": "3.12.1"}, "packages": {"numpy": "2.4.1", "new": "0.1"},
             "git": {"commit": "bbb", "dirty": True, "diff": "+x"}}
    got = {d.what: (d.before, d.after) for d in diff_environments(before, after)}
    assert got == {
        "python": ("3.11.7", "3.12.1"),
        "git commit": ("aaa", "bbb"),
        "git dirty": (False, True),
        "git diff": ("0 chars", "2 chars"),
        "package new": (None, "0.1"),
        "package numpy": ("2.3.0", "2.4.1"),
        "package old": ("1.0", None),
    }
    assert diff_environments(before, before) == []


def test_seed_everything_makes_random_and_numpy_repeat() -> None:
    seed_everything(123)
    a = (random.random(), np.random.rand())
    seed_everything(123)
    assert (random.random(), np.random.rand()) == a
    seed_everything(124)
    assert (random.random(), np.random.rand()) != a
    with pytest.raises(InvalidArgumentError, match="seed"):
        seed_everything(-1)


def test_a_study_records_seed_config_hash_and_environment_per_trial(tmp_path: Path) -> None:
    seen = {}

    def objective(trial):
        seen[trial.number] = trial.seed
        return trial["x"]

    study = Study("env", Space(x=Float(0, 1)), store=str(tmp_path / "s.db"), seed=3)
    study.optimize(objective, n_trials=3)
    card, digest = current_environment()
    for trial in study.trials:
        assert trial.system_attrs["seed"] == seen[trial.number]
        assert trial.system_attrs["config_hash"] == config_hash(trial.config)
        assert trial.system_attrs["env"] == digest
    # Stored once, read back from a fresh connection to the file.
    again = Study("env", store=str(tmp_path / "s.db"))
    record = again.environment(1)
    assert record["seed"] == seen[1] and record["env"] == digest
    assert record["card"]["packages"] == card["packages"]
    assert record["card"]["python"] == card["python"]


def test_capture_can_be_turned_off() -> None:
    study = Study("off", Space(x=Float(0, 1)), store="memory", capture_environment=False)
    study.optimize(lambda c: c["x"], n_trials=2)
    assert all("env" not in t.system_attrs and "seed" in t.system_attrs for t in study.trials)
    assert study.environment(0)["card"] is None
