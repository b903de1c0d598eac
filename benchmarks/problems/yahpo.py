"""YAHPO Gym surrogate benchmarks with learning curves: ``lcbench`` and ``rbv2_xgboost``.

Sources
-------
* YAHPO Gym v1.0 (Pfisterer, Schneider, Moosbauer, Binder & Bischl 2022, "YAHPO Gym - An
  Efficient Multi-Objective Multi-Fidelity Benchmark for Hyperparameter Optimization",
  AutoML Conference): neural-network surrogates exported to ONNX, with their
  ``config_space.json`` and ``encoding.json``, read from ``<data_dir()>/yahpo`` (Apache-2.0).
* ``lcbench``: LCBench (Zimmer, Lindauer & Hutter 2021, "Auto-PyTorch Tabular:
  Multi-Fidelity MetaLearning for Efficient and Robust AutoDL", IEEE TPAMI 43(9)): funnel
  MLPs trained with SGD on 34 OpenML tasks for 52 epochs.
* ``rbv2_xgboost``: the rbv2 data of Binder, Pfisterer & Bischl (2020, "Collecting Empirical
  Data About Hyperparameters for Data Driven AutoML"): xgboost on 119 OpenML tasks.

How the surrogates are evaluated
--------------------------------
The ``yahpo-gym`` package pins numpy < 2, so it is not a dependency; the ONNX models are
evaluated here with ``onnxruntime`` the way ``yahpo_gym.BenchmarkSet.objective_function``
(v1.0.2) does: two inputs, ``x_cat`` (int32: each categorical integer-encoded by
``encoding.json``, ``"#na#"`` for an inactive one; the instance id is the first
categorical) and ``x_cont`` (float32: the *raw* values in the scenario's fixed column
order, ``0`` for an inactive parameter). Scaling of inputs and outputs (log transforms etc.)
is part of the ONNX graph, so raw values go in and targets on their natural scale come out,
in the order of :attr:`Scenario.targets`. The results agree with ``yahpo-gym`` 1.0.2 to
float32 precision (checked in the tests against values computed with that package).

Outputs are clipped to their valid ranges (accuracies to [0, 100] or [0, 1], losses and
times to >= 0): the surrogates can stray slightly outside them for extreme configurations.

Problems
--------
* ``yahpo/lcbench-<task>``: fidelity ``epoch`` 1..52 (``max_steps = 52``). One step per
  epoch with every target of the surrogate; the step's cost is the increase of the
  surrogate's cumulative ``time`` since the previous epoch (clipped at 0). The 52 epochs of
  one configuration are one batched ONNX call. Metric ``val_accuracy`` (%, max) by default,
  or ``val_cross_entropy`` (min).
* ``yahpo/rbv2_xgboost-<task>``: fidelity ``trainsize`` on :data:`TRAINSIZES` (10 fractions,
  geometric from 0.05 to 1.0); ``repl`` (the CV replication) is fixed to 10, its maximum,
  as ``yahpo-gym`` does when it drops fidelity parameters. Each step is a fresh fit on a
  larger subsample and costs the surrogate's ``timetrain`` at that size. Metric ``acc``
  (max). The space has ``booster``-dependent parameters (``when=``).

The search space is ``config_space.json`` without the instance and fidelity parameters
(log scales as declared there). The surrogates are deterministic: ``seed`` is ignored and
the same configuration always gives the same curve.

Optimum and worst: a surrogate has no known optimum. Each is estimated once per instance as
the best / worst full-fidelity value over :data:`REFERENCE_POINTS` fixed configurations (a
scrambled Sobol sequence, seed 0, over the unit cube of the space, decoded by the space), so
"optimum" means "best of 32,768 fixed points"; a tuner may beat it (regret clips at 0).
The values are cached in ``benchmarks/problems/_cache/yahpo_reference.json`` and
recomputed (about a second per instance) when an entry is missing.

Suites (instances from YAHPO's recommended ``benchmark_suites/v1.0`` lists, single- and
multi-objective, then other tasks of the scenario):

* ``smoke``: none (needs data files).
* ``quick``: lcbench 167168, 189906; rbv2_xgboost 12, 1501.
* ``full``: lcbench 167168, 189906, 189873, 167152, 167185 (all v1.0 recommendations),
  3945, 34539, 126026; rbv2_xgboost 12, 1501, 16 (v1.0 recommendations), 31, 1067, 3,
  1489, 54.
* ``mf`` (the multi-fidelity suite): lcbench only, the eight tasks of ``full`` and the
  next two in task-id order, 7593 and 126025.

The recommended rbv2_xgboost tasks 40499, 28 and 182 are left out on purpose: on them the
surrogate predicts ``acc = 1.0`` (with ``brier`` near 2, which contradicts it) for about
0.5% of the space (``dart`` with ``nrounds`` > 2000, an extrapolation artifact), so the
"optimum" would be an artifact that random search stumbles on. On 12 and 16 the artifact is
rare (about 0.01% of the space) and lifts the reference optimum by about 0.01 accuracy.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.problems import data_dir
from benchmarks.problems.base import Problem, SimStep
from tunelab import Categorical, Float, Int, Space
from tunelab.space import Param

__all__ = [
    "QUICK",
    "FULL",
    "MF",
    "REFERENCE_POINTS",
    "SCENARIOS",
    "TRAINSIZES",
    "Scenario",
    "YahpoProblem",
    "problems",
    "reference",
    "surrogate",
]

#: Number of fixed Sobol points whose best / worst value estimates optimum / worst.
REFERENCE_POINTS = 2**15
#: Training-set fractions of the rbv2_xgboost curve (geometric, 0.05 to 1.0).
TRAINSIZES: tuple[float, ...] = tuple(round(float(x), 4) for x in np.geomspace(0.05, 1.0, 10))
_CACHE = Path(__file__).resolve().parent / "_cache" / "yahpo_reference.json"


@dataclass(frozen=True)
class Scenario:
    """What the ONNX model of one YAHPO scenario expects (from yahpo-gym's scenario dicts)."""

    name: str
    #: The instance parameter (a categorical, first in ``cat_names``).
    instance: str
    #: Categorical inputs in ``x_cat`` column order.
    cat_names: tuple[str, ...]
    #: Numeric inputs in ``x_cont`` column order.
    cont_names: tuple[str, ...]
    #: Output columns in order.
    targets: tuple[str, ...]
    #: Which targets are minimised.
    minimize: tuple[bool, ...]
    #: Fidelity parameters (left out of the search space).
    fidelities: tuple[str, ...]
    #: Valid range of each target, for clipping.
    bounds: Mapping[str, tuple[float, float]]


_INF = math.inf
SCENARIOS: dict[str, Scenario] = {
    "lcbench": Scenario(
        name="lcbench",
        instance="OpenML_task_id",
        cat_names=("OpenML_task_id",),
        cont_names=("epoch", "batch_size", "learning_rate", "momentum", "weight_decay",
                    "num_layers", "max_units", "max_dropout"),
        targets=("time", "val_accuracy", "val_cross_entropy", "val_balanced_accuracy",
                 "test_cross_entropy", "test_balanced_accuracy"),
        minimize=(True, False, True, False, True, False),
        fidelities=("epoch",),
        bounds={"time": (0.0, _INF), "val_accuracy": (0.0, 100.0),
                "val_cross_entropy": (0.0, _INF), "val_balanced_accuracy": (0.0, 1.0),
                "test_cross_entropy": (0.0, _INF), "test_balanced_accuracy": (0.0, 1.0)},
    ),
    "rbv2_xgboost": Scenario(
        name="rbv2_xgboost",
        instance="task_id",
        cat_names=("task_id", "booster", "num.impute.selected.cpo"),
        cont_names=("nrounds", "eta", "gamma", "lambda", "alpha", "subsample", "max_depth",
                    "min_child_weight", "colsample_bytree", "colsample_bylevel", "rate_drop",
                    "skip_drop", "trainsize", "repl"),
        targets=("acc", "bac", "auc", "brier", "f1", "logloss", "timetrain", "timepredict",
                 "memory"),
        minimize=(False, False, False, True, True, True, True, True, True),
        fidelities=("trainsize", "repl"),
        bounds={"acc": (0.0, 1.0), "bac": (0.0, 1.0), "auc": (0.0, 1.0),
                "brier": (0.0, _INF), "f1": (0.0, 1.0), "logloss": (0.0, _INF),
                "timetrain": (0.0, _INF), "timepredict": (0.0, _INF), "memory": (0.0, _INF)},
    ),
}

QUICK: dict[str, tuple[str, ...]] = {
    "lcbench": ("167168", "189906"),
    "rbv2_xgboost": ("12", "1501"),
}
FULL: dict[str, tuple[str, ...]] = {
    "lcbench": ("167168", "189906", "189873", "167152", "167185", "3945", "34539", "126026"),
    "rbv2_xgboost": ("12", "1501", "16", "31", "1067", "3", "1489", "54"),
}
#: The multi-fidelity suite: lcbench only (epochs resume from checkpoints).
MF: dict[str, tuple[str, ...]] = {
    "lcbench": FULL["lcbench"] + ("7593", "126025"),
}
#: The default metric of each scenario and its direction.
_METRIC = {"lcbench": "val_accuracy", "rbv2_xgboost": "acc"}
_REPL = 10

_CACHE_META = {"points": REFERENCE_POINTS, "trainsizes": list(TRAINSIZES), "repl": _REPL}
_lock = threading.Lock()


# --------------------------------------------------------------------------- data files


def _folder(scenario: str) -> Path:
    return data_dir() / "yahpo" / scenario


@cache
def _config_space(scenario: str) -> dict[str, Any]:
    return json.loads((_folder(scenario) / "config_space.json").read_text())


@cache
def _encoding(scenario: str) -> dict[str, dict[str, int]]:
    return json.loads((_folder(scenario) / "encoding.json").read_text())


@cache
def surrogate(scenario: str) -> Any:
    """The scenario's ``onnxruntime.InferenceSession`` (one per process, single-threaded)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(_folder(scenario) / "model.onnx"), sess_options=options,
        providers=["CPUExecutionProvider"],
    )


def instances(scenario: str) -> list[str]:
    """Every instance (OpenML task id, as a string) of a scenario."""
    sc = SCENARIOS[scenario]
    for hp in _config_space(scenario)["hyperparameters"]:
        if hp["name"] == sc.instance:
            return [str(c) for c in hp["choices"]]
    raise KeyError(f"{scenario}: no instance parameter {sc.instance!r} in config_space.json")


@cache
def _space_and_default(scenario: str) -> tuple[Space, dict[str, Any]]:
    """The search space from config_space.json (no instance, no fidelities) and its default."""
    sc = SCENARIOS[scenario]
    cs = _config_space(scenario)
    skip = {sc.instance, *sc.fidelities}
    when: dict[str, dict[str, Any]] = {}
    for cond in cs.get("conditions", []):
        if cond["type"] == "IN":
            values = list(cond["values"])
        elif cond["type"] == "EQ":
            values = [cond["value"]]
        else:
            raise ValueError(f"{scenario}: unsupported condition type {cond['type']!r}")
        when.setdefault(cond["child"], {})[cond["parent"]] = values
    if cs.get("forbiddens"):
        raise ValueError(f"{scenario}: forbidden clauses are not supported")
    params: dict[str, Param] = {}
    default: dict[str, Any] = {}
    for hp in cs["hyperparameters"]:
        name = hp["name"]
        if name in skip:
            continue
        cond = when.get(name)
        kind = hp["type"]
        if kind == "uniform_float":
            params[name] = Float(hp["lower"], hp["upper"], log=bool(hp["log"]), when=cond)
            default[name] = float(hp["default"])
        elif kind == "uniform_int":
            params[name] = Int(hp["lower"], hp["upper"], log=bool(hp["log"]), when=cond)
            default[name] = int(hp["default"])
        elif kind == "categorical":
            params[name] = Categorical([str(c) for c in hp["choices"]], when=cond)
            default[name] = str(hp["default"])
        else:
            raise ValueError(f"{scenario}: unsupported hyperparameter type {kind!r}")
    space = Space(params)
    default = {k: v for k, v in default.items() if space.is_active(k, default)}
    return space, default


# --------------------------------------------------------------------------- encoding


def _encode(
    scenario: str, instance: str, space: Space, configs: Sequence[Mapping[str, Any]],
    fidelity: Mapping[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """``x_cat`` and ``x_cont`` for every (config, fidelity row) pair.

    ``fidelity`` maps each fidelity parameter to an array of its values (all the same
    length ``k``); the result has ``len(configs) * k`` rows, config-major.
    """
    sc = SCENARIOS[scenario]
    enc = _encoding(scenario)
    k = len(next(iter(fidelity.values())))
    n = len(configs)
    x_cat = np.empty((n, len(sc.cat_names)), dtype=np.int32)
    x_cont = np.zeros((n, len(sc.cont_names)), dtype=np.float32)
    fid_cols = [j for j, name in enumerate(sc.cont_names) if name in fidelity]
    for i, config in enumerate(configs):
        for j, name in enumerate(sc.cat_names):
            if name == sc.instance:
                value = instance
            elif name in config and space.is_active(name, config):
                value = str(config[name])
            else:
                value = "#na#"
            x_cat[i, j] = enc[name][value]
        for j, name in enumerate(sc.cont_names):
            if name in fidelity:
                continue
            if name in config and space.is_active(name, config):
                x_cont[i, j] = float(config[name])
    x_cat = np.repeat(x_cat, k, axis=0)
    x_cont = np.repeat(x_cont, k, axis=0)
    for j in fid_cols:
        x_cont[:, j] = np.tile(np.asarray(fidelity[sc.cont_names[j]], dtype=np.float32), n)
    return x_cat, x_cont


def _predict(scenario: str, x_cat: np.ndarray, x_cont: np.ndarray) -> np.ndarray:
    """Run the surrogate; rows of targets (float64), clipped to their valid ranges."""
    sess = surrogate(scenario)
    out = sess.run(None, {"x_cat": x_cat, "x_cont": x_cont})[0].astype(np.float64)
    sc = SCENARIOS[scenario]
    lo = np.array([sc.bounds[t][0] for t in sc.targets])
    hi = np.array([sc.bounds[t][1] for t in sc.targets])
    return np.clip(out, lo, hi)


def _fidelity_rows(scenario: str) -> dict[str, np.ndarray]:
    if scenario == "lcbench":
        return {"epoch": np.arange(1, 53, dtype=np.float32)}
    if scenario == "rbv2_xgboost":
        return {"trainsize": np.array(TRAINSIZES, dtype=np.float32),
                "repl": np.full(len(TRAINSIZES), _REPL, dtype=np.float32)}
    raise KeyError(scenario)


def _final_rows(scenario: str) -> dict[str, np.ndarray]:
    return {name: values[-1:] for name, values in _fidelity_rows(scenario).items()}


# --------------------------------------------------------------------------- reference


def _compute_reference(scenario: str, instance: str) -> dict[str, dict[str, float]]:
    from scipy.stats import qmc

    space, _ = _space_and_default(scenario)
    points = qmc.Sobol(d=len(space), scramble=True, seed=0).random(REFERENCE_POINTS)
    configs = [space.decode(p) for p in points]
    sc = SCENARIOS[scenario]
    values = []
    for start in range(0, len(configs), 4096):
        x_cat, x_cont = _encode(scenario, instance, space, configs[start:start + 4096],
                                _final_rows(scenario))
        values.append(_predict(scenario, x_cat, x_cont))
    y = np.concatenate(values)
    return {
        t: {"min": float(y[:, j].min()), "max": float(y[:, j].max()),
            "median": float(np.median(y[:, j]))}
        for j, t in enumerate(sc.targets)
    }


def reference(scenario: str, instance: str) -> dict[str, dict[str, float]]:
    """Min / max / median of every target at full fidelity over the fixed reference points,
    from the cache file (computed and stored on a miss)."""
    key = f"{scenario}/{instance}"
    with _lock:
        cache = _read_cache()
        if key not in cache:
            cache[key] = _compute_reference(scenario, instance)
            _store(key, cache[key])
        return dict(cache[key])


def _read_cache() -> dict[str, Any]:
    cache: dict[str, Any] = json.loads(_CACHE.read_text()) if _CACHE.is_file() else {}
    if cache.get("_meta") != _CACHE_META:
        cache = {"_meta": dict(_CACHE_META)}
    return cache


def _store(key: str, entry: Mapping[str, Any]) -> None:
    """Add one entry to the cache file: re-read it (another process may have added entries
    meanwhile), merge, and replace the file atomically."""
    try:
        cache = _read_cache()
        cache[key] = entry
        ordered = {"_meta": cache["_meta"], **{k: cache[k] for k in sorted(cache) if k != "_meta"}}
        _CACHE.parent.mkdir(parents=True, exist_ok=True)
        tmp = _CACHE.with_name(f"{_CACHE.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(ordered, indent=1) + "\n")
        os.replace(tmp, _CACHE)
    except OSError:  # read-only checkout: keep the value for this process
        pass


# --------------------------------------------------------------------------- problems


class YahpoProblem(Problem):
    """One instance of a YAHPO scenario; see the module docstring."""

    family = "yahpo"

    def __init__(self, scenario: str, instance: str, metric: str | None = None) -> None:
        if scenario not in SCENARIOS:
            raise KeyError(f"unknown YAHPO scenario {scenario!r}; known: {sorted(SCENARIOS)}")
        sc = SCENARIOS[scenario]
        metric = metric or _METRIC[scenario]
        if metric not in sc.targets:
            raise KeyError(f"{scenario}: unknown target {metric!r}; known: {list(sc.targets)}")
        self.scenario = scenario
        self.instance = str(instance)
        self.metric = metric
        self.direction = "min" if sc.minimize[sc.targets.index(metric)] else "max"
        suffix = "" if metric == _METRIC[scenario] else f"-{metric}"
        self.name = f"yahpo/{scenario}-{self.instance}{suffix}"
        self.max_steps = 52 if scenario == "lcbench" else len(TRAINSIZES)
        if self.instance not in _encoding(scenario)[sc.instance]:
            raise KeyError(f"{scenario}: unknown instance {self.instance!r}")
        self.space = _space_and_default(scenario)[0]
        self._optimum: float | None = None
        self._worst: float | None = None

    @property
    def default_config(self) -> dict[str, Any]:
        """The default configuration of config_space.json."""
        return dict(_space_and_default(self.scenario)[1])

    # The reference values load on first use, so that building a suite stays cheap.
    def _load_reference(self) -> None:
        ref = reference(self.scenario, self.instance)[self.metric]
        best, bad = ("min", "max") if self.direction == "min" else ("max", "min")
        if self._optimum is None:
            self._optimum = ref[best]
        if self._worst is None:
            self._worst = ref[bad]

    @property
    def optimum(self) -> float:
        if self._optimum is None:
            self._load_reference()
        assert self._optimum is not None
        return self._optimum

    @optimum.setter
    def optimum(self, value: float) -> None:
        self._optimum = value

    @property
    def worst(self) -> float:
        if self._worst is None:
            self._load_reference()
        assert self._worst is not None
        return self._worst

    @worst.setter
    def worst(self, value: float) -> None:
        self._worst = value

    def curve_array(self, config: Mapping[str, Any]) -> np.ndarray:
        """The raw surrogate outputs, one row per step, one column per target."""
        x_cat, x_cont = _encode(self.scenario, self.instance, self.space, [config],
                                _fidelity_rows(self.scenario))
        return _predict(self.scenario, x_cat, x_cont)

    def evaluate(self, config: Mapping[str, Any], seed: int) -> list[SimStep]:
        """The curve of ``config``; ``seed`` is ignored (the surrogate is deterministic)."""
        y = self.curve_array(config)
        targets = SCENARIOS[self.scenario].targets
        if self.scenario == "lcbench":
            time = y[:, targets.index("time")]
            seconds = np.maximum(np.diff(time, prepend=0.0), 0.0)
        else:
            seconds = y[:, targets.index("timetrain")]
        rows = y.tolist()
        return [
            SimStep(dict(zip(targets, row, strict=True)), float(s))
            for row, s in zip(rows, seconds.tolist(), strict=True)
        ]


def problems(suite: str) -> list[Problem]:
    """The YAHPO problems of a suite (``smoke`` is empty: it needs the data files; ``mf``
    is lcbench only)."""
    if suite == "smoke":
        return []
    chosen = {"quick": QUICK, "full": FULL, "mf": MF}[suite]
    return [YahpoProblem(scenario, inst) for scenario, insts in chosen.items() for inst in insts]
