"""The public surface: __all__ is locked, errors share one root, imports stay quiet."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import tunelab

SRC = Path(tunelab.__file__).parent

EXPECTED = {
    "ASHA", "AsyncHyperband", "Axis", "Hyperband", "MedianStopping", "SuccessiveHalving",
    "Categorical", "Decision", "Executor", "FIFOScheduler", "Float", "GridSearcher",
    "InlineExecutor", "Int", "InvalidArgumentError", "InvalidConfigError", "InvalidSpaceError",
    "MemoryStore", "MissingExtraError", "Param", "ParEGOSearcher", "PowerOfTwo", "ProcessExecutor",
    "RandomSearcher", "Report", "SQLStore", "SchemaVersionError", "Scheduler",
    "SearchExhausted", "Searcher", "SimStep", "SimulatedExecutor", "SobolSearcher", "Space",
    "Store", "StoreError", "Study",
    "StudyMismatchError", "StudyNotFoundError", "Trial", "TrialError", "TrialHandle",
    "TrialNotFoundError", "TrialStatus", "TunelabError", "__version__", "load_study",
    "RegularizedEvolution", "TPESearcher", "GPSearcher", "PortfolioSearcher", "bohb",
    "open_store",
}


def test_public_names_are_locked_and_importable():
    assert set(tunelab.__all__) == EXPECTED
    for name in tunelab.__all__:
        assert getattr(tunelab, name) is not None


def test_every_error_derives_from_tunelab_error():
    errors = [getattr(tunelab, n) for n in tunelab.__all__ if n.endswith(("Error", "Exhausted"))]
    assert len(errors) == 12
    for error in errors:
        assert issubclass(error, tunelab.TunelabError), error
    for value_error in (tunelab.InvalidSpaceError, tunelab.InvalidConfigError,
                        tunelab.InvalidArgumentError):
        assert issubclass(value_error, ValueError)
    assert issubclass(tunelab.MissingExtraError, ImportError)
    assert issubclass(tunelab.SchemaVersionError, tunelab.StoreError)


def test_import_configures_no_logging_and_prints_nothing():
    code = (
        "import logging, tunelab; root = logging.getLogger();"
        "assert root.handlers == [], root.handlers;"
        "assert logging.getLogger('tunelab').handlers == []"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""


def test_no_unsafe_deserialisation_or_eval_in_the_package():
    pattern = re.compile(r"pickle\.loads?\(|yaml\.load\(|yaml\.unsafe_load|(?<![\w.])eval\(|"
                         r"(?<![\w.])exec\(|shell=True")
    hits = [
        f"{path.relative_to(SRC)}:{n}"
        for path in SRC.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def test_print_is_only_used_by_the_cli():
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "cli" not in path.parts and re.search(r"^\s*print\(", path.read_text(), re.M)
    ]
    assert offenders == []


def test_layers_import_downwards_only():
    """space <- trial <- tracking <- searchers/schedulers <- store <- executors <- study <- analysis
    <- portfolio <- nas <- integrations <- dashboard <- cli."""
    order = ["space", "trial", "tracking", "searchers", "schedulers", "store", "executors",
             "command", "study", "analysis", "portfolio", "nas", "integrations", "dashboard",
             "cli"]
    rank = {name: i for i, name in enumerate(order)}
    violations = []
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        layer = parts[0]
        if layer not in rank:
            continue
        for match in re.finditer(r"^\s*(?:from|import) tunelab\.(\w+)", path.read_text(), re.M):
            target = match.group(1)
            if target in rank and rank[target] > rank[layer]:
                violations.append(f"{'/'.join(parts)} imports tunelab.{target}")
    assert violations == []
