"""Tests of the search space: specs, conditions, errors, JSON/YAML, encoding, grids, validation."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import tunelab
from tunelab import (
    Categorical,
    Float,
    Int,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidSpaceError,
    PowerOfTwo,
    Space,
)

# --------------------------------------------------------------------------- helpers


def kitchen_sink() -> Space:
    """Every parameter type and flavour, with conditions (nested, lists, Int parents)."""
    return Space(
        optimizer=Categorical(["sgd", "adam", "rmsprop"]),
        lr=Float(1e-5, 1e-1, log=True),
        momentum=Float(0.0, 0.99, when={"optimizer": "sgd"}),
        nesterov=Categorical([True, False], when={"optimizer": "sgd"}),
        dampening=Float(0.0, 0.5, step=0.1, when={"nesterov": False}),
        beta2=Float(0.9, 0.9999, when={"optimizer": ["adam", "rmsprop"]}),
        layers=Int(1, 4),
        width=Int(8, 1024, log=True),
        stride=Int(0, 12, step=3),
        batch_size=PowerOfTwo(16, 512),
        head=Categorical([None, 1, 2.5, "mlp"], when={"layers": [3, 4]}),
        head_width=PowerOfTwo(2, 8, when={"head": "mlp", "batch_size": [16, 32]}),
        dropout=Float(-0.1, 0.2),
    )


def assert_same_config(got: dict[str, Any], want: dict[str, Any], space: Space) -> None:
    """Equal keys; equal values (continuous Floats up to rounding); same Python types."""
    assert list(got) == list(want)
    for name, value in want.items():
        param = space[name]
        assert type(got[name]) is type(value), (name, got[name], value)
        if isinstance(param, Float) and param.step is None:
            assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
        else:
            assert got[name] == value, name


# --------------------------------------------------------------------------- specs


def test_float_defaults_and_spec() -> None:
    p = Float(0, 1)
    assert p.log is False and p.step is None
    space = Space(x=p)
    assert space["x"].to_dict() == {"type": "float", "low": 0.0, "high": 1.0}
    assert isinstance(space["x"].low, float) and isinstance(space["x"].high, float)
    assert not space["x"].is_discrete
    assert Space(x=Float(0, 1, step=0.5))["x"].is_discrete


def test_int_defaults_and_values() -> None:
    p = Int(2, 5)
    assert p.log is False and p.step == 1
    space = Space(n=p)
    assert [c["n"] for c in space.grid()] == [2, 3, 4, 5]
    assert space.to_dict() == {"n": {"type": "int", "low": 2, "high": 5}}
    assert [c["s"] for c in Space(s=Int(0, 12, step=4)).grid()] == [0, 4, 8, 12]


def test_int_accepts_integral_floats_as_bounds() -> None:
    space = Space(n=Int(1.0, 4.0))  # type: ignore[arg-type]
    assert space["n"].low == 1 and type(space["n"].low) is int


def test_power_of_two_batch_sizes() -> None:
    space = Space(batch=PowerOfTwo(16, 512))
    assert [c["batch"] for c in space.grid()] == [16, 32, 64, 128, 256, 512]
    rng = np.random.default_rng(0)
    seen = Counter(space.sample(rng)["batch"] for _ in range(3000))
    assert set(seen) == {16, 32, 64, 128, 256, 512}
    # uniform over the six exponents
    assert all(abs(n / 3000 - 1 / 6) < 0.04 for n in seen.values()), seen
    assert all(type(b) is int for b in seen)


def test_power_of_two_accepts_integral_floats_from_json() -> None:
    space = Space.from_json('{"b": {"type": "pow2", "low": 16.0, "high": 64}}')
    assert space["b"].grid(5) == [16, 32, 64]
    assert type(space["b"].low) is int


def test_categorical_values_keep_their_types() -> None:
    space = Space(c=Categorical([None, True, 1, 1.0, "1"]))
    values = [c["c"] for c in space.grid()]
    assert values == [None, True, 1, 1.0, "1"]
    assert [type(v) for v in values] == [type(None), bool, int, float, str]
    assert space.validate({"c": 1.0})["c"] == 1.0
    assert type(space.validate({"c": 1.0})["c"]) is float
    assert type(space.validate({"c": True})["c"]) is bool


def test_conditional_momentum_only_with_sgd() -> None:
    space = Space(
        optimizer=Categorical(["sgd", "adam"]),
        momentum=Float(0.0, 0.99, when={"optimizer": "sgd"}),
    )
    rng = np.random.default_rng(1)
    seen = Counter()
    for _ in range(400):
        config = space.sample(rng)
        seen[config["optimizer"]] += 1
        assert ("momentum" in config) == (config["optimizer"] == "sgd"), config
        assert space.is_active("momentum", config) == (config["optimizer"] == "sgd")
    assert seen["sgd"] > 100 and seen["adam"] > 100
    assert not space.is_active("momentum", {})


def test_nested_conditions_and_lists_of_values() -> None:
    space = Space(
        model=Categorical(["linear", "mlp", "cnn"]),
        layers=Int(1, 3, when={"model": ["mlp", "cnn"]}),
        skip=Categorical([True, False], when={"layers": [2, 3]}),
        kernel=Int(3, 7, step=2, when={"model": "cnn"}),
    )
    rng = np.random.default_rng(2)
    kinds = Counter()
    for _ in range(600):
        c = space.sample(rng)
        assert ("layers" in c) == (c["model"] in ("mlp", "cnn"))
        assert ("skip" in c) == (c.get("layers") in (2, 3))
        assert ("kernel" in c) == (c["model"] == "cnn")
        kinds[tuple(sorted(c))] += 1
    # every activity pattern occurs
    assert len(kinds) == 5, kinds
    # the grandchild is inactive when its parent is inactive, even with the right value
    assert not space.is_active("skip", {"model": "linear"})
    assert space.to_dict()["layers"]["when"] == {"model": ["mlp", "cnn"]}
    assert space.to_dict()["kernel"]["when"] == {"model": "cnn"}


def test_condition_on_two_parents_needs_both() -> None:
    space = Space(
        a=Categorical(["x", "y"]),
        b=Int(1, 2),
        c=Float(0, 1, when={"a": "x", "b": 2}),
    )
    actives = {(c["a"], c["b"]): "c" in c for c in space.grid()}
    assert actives == {("x", 1): False, ("x", 2): True, ("y", 1): False, ("y", 2): False}


def test_numpy_parent_values_activate_children() -> None:
    space = Space(
        optimizer=Categorical(["sgd", "adam"]),
        momentum=Float(0, 1, when={"optimizer": "sgd"}),
        layers=Int(1, 4),
        extra=Float(0, 1, when={"layers": list(np.arange(3, 5))}),
    )
    config = {
        "optimizer": np.str_("sgd"),
        "momentum": np.float64(0.5),
        "layers": np.int64(3),
        "extra": 0.25,
    }
    clean = space.validate(config)
    assert clean == {"optimizer": "sgd", "momentum": 0.5, "layers": 3, "extra": 0.25}
    assert [type(v) for v in clean.values()] == [str, float, int, float]
    assert space.to_dict()["extra"]["when"] == {"layers": [3, 4]}
    json.dumps(space.to_dict())  # no NumPy scalars left in the spec


def test_space_structure() -> None:
    space = kitchen_sink()
    assert space.names[:3] == ("optimizer", "lr", "momentum")
    assert len(space) == 13 and "lr" in space and "nope" not in space
    assert list(space) == list(space.names)
    assert isinstance(space["batch_size"], PowerOfTwo)
    assert space == kitchen_sink() and hash(space) == hash(kitchen_sink())
    assert space != Space(x=Float(0, 1))


def test_space_from_mapping_and_keywords() -> None:
    space = Space({"a": Int(0, 1)}, b=Int(0, 1))
    assert space.names == ("a", "b")
    # a parameter may be called "params" (the mapping argument is positional-only)
    assert Space(params=Float(0, 1)).names == ("params",)
    with pytest.raises(InvalidSpaceError, match="'a' is given twice"):
        Space({"a": Int(0, 1)}, a=Int(0, 2))
    with pytest.raises(InvalidSpaceError, match="at least one parameter"):
        Space()
    with pytest.raises(InvalidSpaceError, match="'x' must be a Float"):
        Space(x=(0, 1))  # type: ignore[arg-type]


def test_valid_step_keeps_the_range() -> None:
    space = Space(x=Float(0.1, 0.7, step=0.2), n=Int(10, 20, step=5))
    assert space["x"].low == 0.1 and space["x"].high == 0.7 and space["x"].step == 0.2
    assert [c["x"] for c in Space(x=Float(0.1, 0.7, step=0.2)).grid()] == [0.1, 0.3, 0.5, 0.7]
    assert (space["n"].low, space["n"].high, space["n"].step) == (10, 20, 5)


def test_tiny_steps_are_not_rounded_away() -> None:
    space = Space(x=Float(0.0, 1e-12, step=1e-13))
    values = [c["x"] for c in space.grid()]
    assert len(values) == 11 == len(set(values))
    assert values == pytest.approx([i * 1e-13 for i in range(11)], rel=1e-9, abs=0)


# --------------------------------------------------------------------------- bad specs

NAN, INF = float("nan"), float("inf")


def _yaml(text: str) -> Callable[[], Space]:
    return lambda: Space.from_yaml(text)


def _json(text: str) -> Callable[[], Space]:
    return lambda: Space.from_json(text)


BAD_SPECS = [
    # --- low >= high
    pytest.param({"lr": {"type": "float", "low": 0.5, "high": 0.1}}, ["'lr'", "low=0.5",
                 "high=0.1", "must be < `high`"], id="float-low>high"),
    pytest.param({"lr": {"type": "float", "low": 0.3, "high": 0.3}}, ["'lr'", "low=0.3"],
                 id="float-low==high"),
    pytest.param({"layers": {"type": "int", "low": 10, "high": 2}}, ["'layers'", "low=10",
                 "high=2"], id="int-low>high"),
    pytest.param(lambda: Space(layers=Int(3, 3)), ["'layers'", "low=3", "high=3"],
                 id="int-low==high"),
    pytest.param({"batch": {"type": "pow2", "low": 512, "high": 16}}, ["'batch'", "low=512",
                 "high=16"], id="pow2-low>high"),
    pytest.param(lambda: Space(batch=PowerOfTwo(64, 64)), ["'batch'", "low=64"],
                 id="pow2-low==high"),
    # --- log scale with low <= 0
    pytest.param({"lr": {"type": "float", "low": 0, "high": 1, "log": True}}, ["'lr'",
                 "low=0", "log scale"], id="float-log-low0"),
    pytest.param(lambda: Space(lr=Float(-1.0, 1.0, log=True)), ["'lr'", "low=-1.0",
                 "log scale"], id="float-log-negative"),
    pytest.param({"width": {"type": "int", "low": 0, "high": 64, "log": True}}, ["'width'",
                 "low=0", "log scale"], id="int-log-low0"),
    # --- NaN and inf bounds
    pytest.param(lambda: Space(lr=Float(NAN, 1.0)), ["'lr'", "`low`", "nan", "finite"],
                 id="float-nan-low"),
    pytest.param(lambda: Space(lr=Float(0.0, INF)), ["'lr'", "`high`", "inf", "finite"],
                 id="float-inf-high"),
    pytest.param(lambda: Space(n=Int(0, INF)), ["'n'", "inf"], id="int-inf-high"),  # type: ignore[arg-type]
    pytest.param(_json('{"lr": {"type": "float", "low": NaN, "high": 1}}'), ["'lr'", "nan"],
                 id="json-NaN"),
    pytest.param(_json('{"lr": {"type": "float", "low": 0, "high": Infinity}}'), ["'lr'", "inf"],
                 id="json-Infinity"),
    pytest.param(_yaml("lr: {type: float, low: .nan, high: 1}"), ["'lr'", "nan"],
                 id="yaml-.nan"),
    pytest.param(_yaml("lr: {type: float, low: -.inf, high: 1}"), ["'lr'", "-inf"],
                 id="yaml--.inf"),
    pytest.param({"lr": {"type": "float", "low": 0, "high": "inf"}}, ["'lr'", "inf"],
                 id="string-inf"),
    # --- categories
    pytest.param({"act": {"type": "categorical", "choices": []}}, ["'act'", "[]", "empty"],
                 id="empty-categories"),
    pytest.param(_yaml("act: []"), ["'act'", "[]"], id="empty-list-shorthand"),
    pytest.param({"act": ["relu", "tanh", "relu"]}, ["'act'", "duplicate", "'relu'"],
                 id="duplicate-categories"),
    pytest.param(lambda: Space(act=Categorical("relu")), ["'act'", "'relu'", "list"],
                 id="choices-a-string"),
    pytest.param({"act": [{"a": 1}]}, ["'act'", "{'a': 1}"], id="choice-a-mapping"),
    pytest.param({"act": [1.0, NAN]}, ["'act'", "nan", "finite"], id="choice-nan"),
    # --- steps
    pytest.param(lambda: Space(x=Float(0, 1, step=0.3)), ["'x'", "0.3", "does not divide",
                 "[0.0, 1.0]"], id="float-step-not-dividing"),
    pytest.param({"n": {"type": "int", "low": 0, "high": 10, "step": 3}}, ["'n'", "3",
                 "does not divide", "[0, 10]"], id="int-step-not-dividing"),
    pytest.param(lambda: Space(x=Float(0, 1, step=2.0)), ["'x'", "2.0", "does not divide"],
                 id="float-step-larger-than-range"),
    pytest.param(lambda: Space(x=Float(0, 1, step=0.0)), ["'x'", "step", "0.0"],
                 id="float-step-zero"),
    pytest.param(lambda: Space(x=Float(0, 1, step=-0.5)), ["'x'", "-0.5"],
                 id="float-step-negative"),
    pytest.param(lambda: Space(n=Int(0, 10, step=0)), ["'n'", "step", "0"], id="int-step-0"),
    pytest.param(lambda: Space(n=Int(0, 10, step=2.5)), ["'n'", "2.5"],  # type: ignore[arg-type]
                 id="int-step-fractional"),
    pytest.param(lambda: Space(x=Float(1e-3, 1, log=True, step=0.001)), ["'x'", "log",
                 "step=0.001"], id="float-step-with-log"),
    pytest.param(lambda: Space(n=Int(1, 10, log=True, step=3)), ["'n'", "log", "step=3"],
                 id="int-step-with-log"),
    # --- other bad fields
    pytest.param(lambda: Space(n=Int(1.5, 4)), ["'n'", "1.5", "integer"],  # type: ignore[arg-type]
                 id="int-fractional-bound"),
    pytest.param({"lr": {"type": "float", "low": "abc", "high": 1}}, ["'lr'", "'abc'",
                 "number"], id="non-numeric-string"),
    pytest.param(lambda: Space(lr=Float(0, 1, log="yes")), ["'lr'", "'yes'", "log"],  # type: ignore[arg-type]
                 id="log-not-bool"),
    pytest.param({"lr": {"type": "float", "low": 0}}, ["'lr'", "missing", "high"],
                 id="missing-key"),
    # --- unknown keys, unknown type
    pytest.param(_yaml("lr: {type: float, low: 0.001, high: 0.1, lgo: true}"), ["'lr'",
                 "unknown key", "lgo", "allowed"], id="unknown-key-yaml"),
    pytest.param(_json('{"lr": {"type": "float", "low": 0.001, "high": 0.1, "scale": "log"}}'),
                 ["'lr'", "unknown key", "scale", "allowed"], id="unknown-key-json"),
    pytest.param({"c": {"type": "categorical", "choices": ["a"], "low": 0}}, ["'c'",
                 "unknown key", "low"], id="unknown-key-categorical"),
    pytest.param({"b": {"type": "pow2", "low": 16, "high": 64, "log": True}}, ["'b'",
                 "unknown key", "log"], id="unknown-key-pow2"),
    pytest.param({"lr": {"type": "double", "low": 0, "high": 1}}, ["'lr'", "'double'",
                 "categorical", "float", "int", "pow2"], id="unknown-type"),
    pytest.param({"lr": {"low": 0, "high": 1}}, ["'lr'", "`type`", "None"],
                 id="missing-type"),
    pytest.param({"lr": {"type": ["float"], "low": 0, "high": 1}}, ["'lr'", "['float']"],
                 id="type-not-a-string"),
    pytest.param({"lr": 0.1}, ["'lr'", "0.1", "mapping"], id="spec-a-number"),
    # --- powers of two
    pytest.param({"batch": {"type": "pow2", "low": 12, "high": 64}}, ["'batch'", "12",
                 "power of two"], id="pow2-low-not-power"),
    pytest.param(lambda: Space(batch=PowerOfTwo(16, 100)), ["'batch'", "100",
                 "power of two"], id="pow2-high-not-power"),
    pytest.param(lambda: Space(batch=PowerOfTwo(0, 16)), ["'batch'", "0", "power of two"],
                 id="pow2-zero"),
    pytest.param(lambda: Space(batch=PowerOfTwo(16.5, 32)), ["'batch'", "16.5"],  # type: ignore[arg-type]
                 id="pow2-fractional"),
    # --- conditions
    pytest.param(lambda: Space(momentum=Float(0, 1, when={"optimizer": "sgd"})),
                 ["'momentum'", "'optimizer'", "not in the space"], id="condition-missing-parent"),
    pytest.param(lambda: Space(lr=Float(0, 1), wd=Float(0, 1, when={"lr": 0.5})),
                 ["'wd'", "'lr'", "Float", "Categorical, Int or PowerOfTwo"],
                 id="condition-continuous-parent"),
    pytest.param(lambda: Space(s=Float(0, 1, step=0.5), wd=Float(0, 1, when={"s": 0.5})),
                 ["'wd'", "'s'", "Float"], id="condition-stepped-float-parent"),
    pytest.param(lambda: Space(optimizer=Categorical(["sgd", "adam"]),
                               momentum=Float(0, 1, when={"optimizer": "rmsprop"})),
                 ["'momentum'", "'optimizer'", "'rmsprop'", "cannot take", "'sgd'"],
                 id="condition-value-not-a-choice"),
    pytest.param(lambda: Space(layers=Int(1, 3), w=Float(0, 1, when={"layers": [2, 5]})),
                 ["'w'", "'layers'", "5", "cannot take"], id="condition-value-out-of-range"),
    pytest.param(lambda: Space(layers=Int(1, 3), w=Float(0, 1, when={"layers": "2"})),
                 ["'w'", "'layers'", "'2'"], id="condition-value-wrong-type"),
    pytest.param(lambda: Space(opt=Categorical(["sgd"]), m=Float(0, 1, when={"opt": []})),
                 ["'m'", "'opt'", "[]"], id="condition-no-values"),
    pytest.param({"opt": ["sgd"], "m": {"type": "float", "low": 0, "high": 1, "when": "sgd"}},
                 ["'m'", "'sgd'", "`when`", "mapping"], id="condition-not-a-mapping"),
    pytest.param(lambda: Space(a=Categorical(["x", "y"], when={"b": 1}),
                               b=Int(1, 2, when={"a": "x"})),
                 ["cycle", "a -> b -> a"], id="condition-cycle-2"),
    pytest.param(lambda: Space(a=Int(1, 2, when={"c": 1}), b=Int(1, 2, when={"a": 1}),
                               c=Int(1, 2, when={"b": 1})),
                 ["cycle", "a -> c -> b -> a"], id="condition-cycle-3"),
    pytest.param(lambda: Space(a=Categorical(["x"], when={"a": "x"})), ["'a'", "own condition"],
                 id="condition-self"),
    # --- names
    pytest.param({"1lr": {"type": "float", "low": 0, "high": 1}}, ["'1lr'", "not allowed"],
                 id="name-starts-with-digit"),
    pytest.param({"learning rate": [1, 2]}, ["'learning rate'", "not allowed"],
                 id="name-with-space"),
    pytest.param({"": [1, 2]}, ["''", "not allowed"], id="name-empty"),
    pytest.param({"lr\n": [1, 2]}, ["'lr\\n'", "not allowed"], id="name-trailing-newline"),
    pytest.param(lambda: Space({3: Int(0, 1)}), ["3", "not allowed"], id="name-not-a-string"),  # type: ignore[dict-item]
    # --- whole documents
    pytest.param(_json('{"lr": {"type": "float", "low": 0, "high": 1}, "lr": [1, 2]}'),
                 ["'lr'", "twice"], id="duplicate-name-json"),
    pytest.param(_yaml("lr: {type: float, low: 0, high: 1}\nlr: [1, 2]\n"), ["'lr'", "twice",
                 "line 2"], id="duplicate-name-yaml"),
    pytest.param(_yaml("lr: {type: float, low: 0, low: 1, high: 2}"), ["'low'", "twice"],
                 id="duplicate-key-yaml"),
    pytest.param(_yaml("- a\n- b\n"), ["mapping", "list"], id="yaml-a-list"),
    pytest.param(_yaml("lr: [a, b"), ["not valid YAML"], id="yaml-syntax"),
    pytest.param(_yaml("lr: [a, \x07]"), ["not valid YAML", "#x0007"], id="yaml-bad-character"),
    pytest.param(_json('{"lr": [1, 2]'), ["not valid JSON"], id="json-syntax"),
]


@pytest.mark.parametrize(("spec", "expected"), BAD_SPECS)
def test_bad_spec_raises_one_clear_error(
    spec: dict[str, Any] | Callable[[], Space], expected: list[str]
) -> None:
    with pytest.raises(InvalidSpaceError) as info:
        if callable(spec):
            spec()
        else:
            Space.from_dict(spec)
    assert info.type is InvalidSpaceError
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, tunelab.TunelabError)
    message = str(info.value)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_step_error_never_changes_the_range() -> None:
    param = Float(0.0, 1.0, step=0.3)
    with pytest.raises(InvalidSpaceError):
        Space(x=param)
    assert (param.low, param.high, param.step) == (0.0, 1.0, 0.3)


def test_spec_from_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpaceError, match="does not exist"):
        Space.from_file(str(tmp_path / "missing.yaml"))
    other = tmp_path / "space.toml"
    other.write_text("lr = 1\n")
    with pytest.raises(InvalidSpaceError, match=r"\.json, \.yaml or \.yml.*'\.toml'"):
        Space.from_file(str(other))


# --------------------------------------------------------------------------- YAML safety


def test_yaml_python_tags_are_rejected_and_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payloads = [
        f'lr: !!python/object/apply:os.system ["touch {marker}"]\n',
        f'lr: !!python/object/apply:subprocess.call [["touch", "{marker}"]]\n',
        f'!!python/object/new:builtins.exec ["open({str(marker)!r}, \'w\').close()"]\n',
        "lr: !!python/name:os.system\n",
    ]
    for text in payloads:
        with pytest.raises(InvalidSpaceError, match="not valid YAML"):
            Space.from_yaml(text)
        path = tmp_path / "space.yaml"
        path.write_text(text)
        with pytest.raises(InvalidSpaceError, match="not valid YAML"):
            Space.from_file(str(path))
    assert not marker.exists()
    # control: the first payload is live, an unsafe loader would have run it
    control = tmp_path / "control"
    yaml.unsafe_load(f'lr: !!python/object/apply:os.system ["touch {control}"]\n')
    assert control.exists()


def test_yaml_numeric_strings_are_numbers() -> None:
    space = Space.from_yaml(
        "lr: {type: float, low: 1e-4, high: 1E-1, log: true}\n"
        "wd: {type: float, low: '0', high: '1e-2', step: '2.5e-3'}\n"
        "units: {type: int, low: 1e1, high: '1e3', step: 10}\n"
        "batch: {type: pow2, low: '16', high: 5.12e2}\n"
        "rate: [1e-4, 3e-4, 1e-3]\n"
        "name: ['1e-4', 'x']\n"
    )
    assert space["lr"].low == 1e-4 and space["lr"].high == 0.1 and space["lr"].log is True
    assert (space["wd"].low, space["wd"].high, space["wd"].step) == (0.0, 0.01, 0.0025)
    assert (space["units"].low, space["units"].high) == (10, 1000)
    assert type(space["units"].low) is int
    assert space["batch"].grid(5) == [16, 32, 64, 128, 256, 512]
    assert space["rate"].grid(5) == [1e-4, 3e-4, 1e-3]
    assert space["name"].grid(5) == ["1e-4", "x"]  # quoted: stays a string
    json_space = Space.from_json('{"lr": {"type": "float", "low": "1e-4", "high": "0.1"}}')
    assert (json_space["lr"].low, json_space["lr"].high) == (1e-4, 0.1)


def test_yaml_merge_keys_still_work() -> None:
    space = Space.from_yaml(
        "a: &base {type: float, low: 0, high: 1}\n"
        "b: {<<: *base, high: 2}\n"
    )
    assert space["a"].high == 1.0 and space["b"].high == 2.0 and space["b"].low == 0.0


# --------------------------------------------------------------------------- round trips


def test_to_dict_format() -> None:
    space = Space(
        opt=Categorical(["sgd", "adam"]),
        m=Float(0, 0.9, step=0.3, when={"opt": "sgd"}),
        lr=Float(1e-4, 1e-1, log=True),
        n=Int(1, 9, step=2),
        w=Int(1, 64, log=True, when={"opt": ["sgd", "adam"]}),
        b=PowerOfTwo(16, 512),
    )
    assert space.to_dict() == {
        "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
        "m": {"type": "float", "low": 0.0, "high": 0.9, "step": 0.3, "when": {"opt": "sgd"}},
        "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
        "n": {"type": "int", "low": 1, "high": 9, "step": 2},
        "w": {"type": "int", "low": 1, "high": 64, "log": True,
              "when": {"opt": ["sgd", "adam"]}},
        "b": {"type": "pow2", "low": 16, "high": 512},
    }


def _assert_round_tripped(loaded: Space, original: Space) -> None:
    assert loaded == original
    assert loaded.to_dict() == original.to_dict()
    assert loaded.names == original.names
    for name in original.names:
        assert type(loaded[name]) is type(original[name])
        assert loaded[name].when == original[name].when
    # same behaviour: same samples, same grid
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(50):
        assert loaded.sample(rng_a) == original.sample(rng_b)
    assert list(islice(loaded.iter_grid(2), 500)) == list(islice(original.iter_grid(2), 500))


def test_json_round_trip() -> None:
    space = kitchen_sink()
    text = space.to_json()
    assert json.loads(text) == space.to_dict()
    _assert_round_tripped(Space.from_json(text), space)
    # choices keep their types through JSON
    assert Space.from_json(text)["head"].grid(5) == [None, 1, 2.5, "mlp"]
    assert [type(v) for v in Space.from_json(text)["head"].grid(5)] == [
        type(None), int, float, str
    ]


def test_yaml_round_trip() -> None:
    space = kitchen_sink()
    text = space.to_yaml()
    assert "!!" not in text  # plain YAML, no Python tags
    loaded = Space.from_yaml(text)
    _assert_round_tripped(loaded, space)
    assert [type(v) for v in loaded["head"].grid(5)] == [type(None), int, float, str]
    assert Space.from_dict(space.to_dict()) == space


def test_round_trip_of_awkward_values() -> None:
    space = Space(
        tiny=Float(1e-12, 1e-10, log=True),
        big=Float(-1e20, 1e20),
        flags=Categorical([True, False, None, 0, 1, 0.5, "yes", "no", "null", "1e-4"]),
        bits=PowerOfTwo(1, 2**40),
    )
    _assert_round_tripped(Space.from_yaml(space.to_yaml()), space)
    _assert_round_tripped(Space.from_json(space.to_json()), space)
    assert Space.from_yaml(space.to_yaml())["flags"].grid(1) == [
        True, False, None, 0, 1, 0.5, "yes", "no", "null", "1e-4"
    ]


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml", ".YAML"])
def test_from_file(tmp_path: Path, suffix: str) -> None:
    space = kitchen_sink()
    path = tmp_path / f"space{suffix}"
    path.write_text(space.to_json(indent=2) if suffix == ".json" else space.to_yaml())
    _assert_round_tripped(Space.from_file(str(path)), space)


def test_hand_written_yaml_with_conditions(tmp_path: Path) -> None:
    path = tmp_path / "space.yml"
    path.write_text(
        "optimizer: [sgd, adam]\n"
        "lr: {type: float, low: 1e-5, high: 1e-1, log: true}\n"
        "momentum:\n"
        "  type: float\n"
        "  low: 0.0\n"
        "  high: 0.99\n"
        "  when: {optimizer: sgd}\n"
        "batch_size: {type: pow2, low: 16, high: 512}\n"
    )
    space = Space.from_file(str(path))
    assert space == Space(
        optimizer=Categorical(["sgd", "adam"]),
        lr=Float(1e-5, 1e-1, log=True),
        momentum=Float(0.0, 0.99, when={"optimizer": "sgd"}),
        batch_size=PowerOfTwo(16, 512),
    )
    assert space.validate({"optimizer": "adam", "lr": 0.01, "batch_size": 64})


# --------------------------------------------------------------------------- encoding


def test_encode_decode_round_trip_many_configs() -> None:
    space = kitchen_sink()
    rng = np.random.default_rng(11)
    for _ in range(1500):
        config = space.sample(rng)
        x = space.encode(config)
        assert x.shape == (len(space),)
        for i, name in enumerate(space.names):
            if name in config:
                assert 0.0 <= x[i] <= 1.0, (name, x[i])
            else:
                assert math.isnan(x[i]), (name, x[i])
        assert_same_config(space.decode(x), config, space)


def test_encode_discrete_values_at_bin_centres() -> None:
    space = Space(
        n=Int(0, 3), s=Float(0, 1, step=0.5), b=PowerOfTwo(1, 8), c=Categorical(["a", "b"])
    )
    x = space.encode({"n": 1, "s": 1.0, "b": 4, "c": "a"})
    assert x.tolist() == [0.375, 5 / 6, 0.625, 0.25]
    assert space.decode(x) == {"n": 1, "s": 1.0, "b": 4, "c": "a"}


def test_encode_validates() -> None:
    space = kitchen_sink()
    with pytest.raises(InvalidConfigError, match="'beta2' is missing"):
        space.encode({"optimizer": "adam", "lr": 0.01})


def test_decode_of_random_points_is_always_valid() -> None:
    space = kitchen_sink()
    rng = np.random.default_rng(12)
    points = rng.random((3000, len(space)))
    # the corners and faces of the cube too (u = 0 and u = 1 exactly)
    points[:200] = rng.integers(0, 2, size=(200, len(space)))
    for x in points:
        config = space.decode(x)
        assert space.validate(config) == config
        for name, value in config.items():
            assert space[name].contains(value), (name, value)


def test_decode_endpoints_are_exact_bounds() -> None:
    space = Space(a=Float(-0.1, 0.2), b=Float(1e-4, 1e-1, log=True), c=Int(1, 1000, log=True))
    assert space.decode([0.0, 0.0, 0.0]) == {"a": -0.1, "b": 1e-4, "c": 1}
    assert space.decode([1.0, 1.0, 1.0]) == {"a": 0.2, "b": 0.1, "c": 1000}
    # values outside the cube are clipped, not extrapolated
    assert space.decode([-5.0, 7.0, 2.0]) == {"a": -0.1, "b": 0.1, "c": 1000}


def test_decode_rejects_bad_points() -> None:
    space = Space(opt=Categorical(["sgd", "adam"]), m=Float(0, 1, when={"opt": "sgd"}))
    with pytest.raises(InvalidArgumentError, match="2 coordinates; got 3"):
        space.decode([0.1, 0.2, 0.3])
    with pytest.raises(InvalidArgumentError, match=r"'m'.*NaN"):
        space.decode([0.1, float("nan")])  # opt = sgd, so m is active
    assert space.decode([0.9, float("nan")]) == {"opt": "adam"}  # m inactive: ignored
    with pytest.raises(InvalidArgumentError, match=r"'x'.*NaN"):
        Space(x=Int(0, 3)).decode([float("nan")])


def test_samples_respect_bounds() -> None:
    space = Space(
        a=Float(-3.0, 7.5),
        b=Float(1e-6, 1e-2, log=True),
        c=Float(0.25, 1.0, step=0.25),
        d=Int(-5, 5),
        e=Int(2, 200, log=True),
        f=Int(0, 100, step=20),
        g=PowerOfTwo(4, 64),
    )
    rng = np.random.default_rng(13)
    samples = [space.sample(rng) for _ in range(2000)]
    for name in space.names:
        values = [s[name] for s in samples]
        p = space[name]
        assert min(values) >= p.low and max(values) <= p.high, name
    assert {type(s["a"]) for s in samples} == {float}
    assert {type(s["d"]) for s in samples} == {int}
    assert {s["c"] for s in samples} == {0.25, 0.5, 0.75, 1.0}
    assert {s["f"] for s in samples} == {0, 20, 40, 60, 80, 100}
    assert set(range(-5, 6)) == {s["d"] for s in samples}
    assert {s["g"] for s in samples} == {4, 8, 16, 32, 64}
    # linear Float fills its range
    a = np.array([s["a"] for s in samples])
    assert a.min() < -2.9 and a.max() > 7.4
    assert abs(np.mean(a < 2.25) - 0.5) < 0.05


def test_log_scale_is_log_uniform() -> None:
    space = Space(lr=Float(1e-6, 1.0, log=True), units=Int(1, 4096, log=True))
    rng = np.random.default_rng(14)
    samples = [space.sample(rng) for _ in range(4000)]
    lr = np.array([s["lr"] for s in samples])
    # the geometric midpoint splits the mass in half (a linear scale would give ~0.001)
    assert abs(np.mean(lr < 1e-3) - 0.5) < 0.04
    # each of the six decades gets about a sixth
    decades = np.histogram(np.log10(lr), bins=6, range=(-6, 0))[0] / len(lr)
    assert np.all(np.abs(decades - 1 / 6) < 0.03), decades
    units = np.array([s["units"] for s in samples])
    assert abs(np.mean(units < 64) - 0.5) < 0.06  # 64 = sqrt(4096)
    assert units.min() == 1 and units.max() > 2048


def test_categorical_sampling_is_uniform() -> None:
    space = Space(c=Categorical(["a", "b", "c", "d"]))
    rng = np.random.default_rng(15)
    counts = Counter(space.sample(rng)["c"] for _ in range(4000))
    assert set(counts) == {"a", "b", "c", "d"}
    assert all(abs(n / 4000 - 0.25) < 0.03 for n in counts.values()), counts


def test_sample_seed() -> None:
    space = kitchen_sink()
    assert space.sample(seed=3) == space.sample(seed=3)
    assert [space.sample(seed=s) for s in range(5)] != [space.sample(seed=3)] * 5
    assert len({json.dumps(space.sample(seed=s), sort_keys=True) for s in range(20)}) == 20


# --------------------------------------------------------------------------- grids


def test_grid_size_is_the_product_of_values() -> None:
    space = Space(
        a=Int(1, 3),
        b=Categorical(["x", "y", "z"]),
        c=PowerOfTwo(16, 64),
        d=Float(0, 1, step=0.25),
        e=Float(0, 1),
    )
    assert space.grid_size(points=4) == 3 * 3 * 3 * 5 * 4 == len(space.grid(points=4))
    assert space.grid_size() == 3 * 3 * 3 * 5 * 5
    grid = space.grid(points=4)
    assert len({json.dumps(c, sort_keys=True) for c in grid}) == len(grid)
    for config in grid:
        assert space.validate(config) == config


def test_grid_values() -> None:
    assert [c["x"] for c in Space(x=Float(0, 1, step=0.25)).grid(points=2)] == [
        0.0, 0.25, 0.5, 0.75, 1.0
    ]
    assert [c["x"] for c in Space(x=Float(0.0, 0.3, step=0.1)).grid()] == [0.0, 0.1, 0.2, 0.3]
    assert [c["x"] for c in Space(x=Float(-1, 1)).grid(points=5)] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert [c["x"] for c in Space(x=Float(-1, 1)).grid(points=1)] == [0.0]
    log = [c["x"] for c in Space(x=Float(1e-4, 1e-1, log=True)).grid(points=4)]
    assert log == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1], rel=1e-12)
    assert log[0] == 1e-4 and log[-1] == 1e-1  # exact bounds
    assert [c["x"] for c in Space(x=Float(-0.1, 0.2)).grid(points=2)] == [-0.1, 0.2]
    assert [c["n"] for c in Space(n=Int(1, 6, log=True)).grid(points=2)] == [1, 2, 3, 4, 5, 6]


def test_grid_order_first_parameter_slowest() -> None:
    space = Space(a=Int(1, 2), b=Categorical(["x", "y"]), c=PowerOfTwo(1, 2))
    assert [tuple(c.values()) for c in space.grid()] == [
        (1, "x", 1), (1, "x", 2), (1, "y", 1), (1, "y", 2),
        (2, "x", 1), (2, "x", 2), (2, "y", 1), (2, "y", 2),
    ]
    assert all(list(c) == ["a", "b", "c"] for c in space.grid())


def test_conditional_grid_only_active_children() -> None:
    space = Space(
        optimizer=Categorical(["sgd", "adam"]),
        momentum=Float(0.0, 0.9, step=0.45, when={"optimizer": "sgd"}),
        nesterov=Categorical([True, False], when={"optimizer": "sgd"}),
        beta=Float(0.9, 0.99, when={"optimizer": "adam"}),
        layers=Int(1, 2),
    )
    grid = space.grid(points=3)
    # sgd: 3 momenta x 2 nesterov; adam: 3 betas; times 2 layers
    assert len(grid) == (3 * 2 + 3) * 2 == space.grid_size(points=3)
    assert sum(c["optimizer"] == "sgd" for c in grid) == 12
    for config in grid:
        assert space.validate(config) == config
        assert ("beta" in config) == (config["optimizer"] == "adam")
    assert grid[0] == {"optimizer": "sgd", "momentum": 0.0, "nesterov": True, "layers": 1}
    assert grid[-1] == {"optimizer": "adam", "beta": 0.99, "layers": 2}
    assert len({json.dumps(c, sort_keys=True) for c in grid}) == len(grid)


def test_nested_conditional_grid_size() -> None:
    space = Space(
        model=Categorical(["linear", "mlp"]),
        layers=Int(1, 3, when={"model": "mlp"}),
        skip=Categorical([True, False], when={"layers": [2, 3]}),
    )
    # linear: 1; mlp: layers 1 -> 1, layers 2/3 -> 2 each
    assert space.grid_size() == 1 + 1 + 2 + 2 == len(space.grid())
    assert space.grid() == [
        {"model": "linear"},
        {"model": "mlp", "layers": 1},
        {"model": "mlp", "layers": 2, "skip": True},
        {"model": "mlp", "layers": 2, "skip": False},
        {"model": "mlp", "layers": 3, "skip": True},
        {"model": "mlp", "layers": 3, "skip": False},
    ]


def test_grid_is_lazy_and_rejects_bad_points() -> None:
    space = Space(**{f"p{i}": Int(0, 9) for i in range(12)})  # 10^12 points
    first = next(space.iter_grid())
    assert first == {f"p{i}": 0 for i in range(12)}
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(InvalidArgumentError, match="points"):
            Space(x=Float(0, 1)).grid(points=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- validate


def _validation_space() -> Space:
    return Space(
        optimizer=Categorical(["sgd", "adam"]),
        momentum=Float(0.0, 0.99, when={"optimizer": "sgd"}),
        lr=Float(1e-4, 1e-1, log=True),
        layers=Int(1, 4),
        stride=Int(0, 8, step=2),
        step=Float(0.0, 1.0, step=0.25),
        batch=PowerOfTwo(16, 128),
        flag=Categorical([True, False, 1]),
    )


GOOD = {"optimizer": "adam", "lr": 0.01, "layers": 2, "stride": 4, "step": 0.5, "batch": 32,
        "flag": True}

BAD_CONFIGS = [
    pytest.param({k: v for k, v in GOOD.items() if k != "layers"}, "'layers'", "missing",
                 id="missing-param"),
    pytest.param({**GOOD, "optimizer": "sgd"}, "'momentum'", "missing",
                 id="missing-active-child"),
    pytest.param({**GOOD, "momentum": 0.5}, "'momentum'", "inactive", id="inactive-with-value"),
    pytest.param({**GOOD, "dropout": 0.1}, "'dropout'", "unknown", id="unknown-param"),
    pytest.param({**GOOD, "lr": 0.5}, "'lr'", "0.5", id="float-above-high"),
    pytest.param({**GOOD, "lr": 1e-5}, "'lr'", "1e-05", id="float-below-low"),
    pytest.param({**GOOD, "lr": float("nan")}, "'lr'", "nan", id="float-nan"),
    pytest.param({**GOOD, "lr": "0.01"}, "'lr'", "'0.01'", id="float-as-string"),
    pytest.param({**GOOD, "lr": True}, "'lr'", "True", id="float-bool"),
    pytest.param({**GOOD, "layers": 5}, "'layers'", "5", id="int-out-of-range"),
    pytest.param({**GOOD, "layers": 2.0}, "'layers'", "2.0", id="int-as-float"),
    pytest.param({**GOOD, "layers": True}, "'layers'", "True", id="int-bool"),
    pytest.param({**GOOD, "layers": np.bool_(True)}, "'layers'", "True", id="int-numpy-bool"),
    pytest.param({**GOOD, "stride": 3}, "'stride'", "3", id="int-off-step"),
    pytest.param({**GOOD, "step": 0.3}, "'step'", "0.3", id="float-off-step"),
    pytest.param({**GOOD, "batch": 48}, "'batch'", "48", id="pow2-not-power"),
    pytest.param({**GOOD, "batch": 256}, "'batch'", "256", id="pow2-out-of-range"),
    pytest.param({**GOOD, "optimizer": "rmsprop"}, "'optimizer'", "'rmsprop'",
                 id="categorical-unknown"),
    pytest.param({**GOOD, "optimizer": ["sgd"]}, "'optimizer'", "['sgd']",
                 id="categorical-unhashable"),
    pytest.param({**GOOD, "flag": 1.0}, "'flag'", "1.0", id="categorical-1.0-is-not-1"),
]


@pytest.mark.parametrize(("config", "name", "fragment"), BAD_CONFIGS)
def test_validate_rejects(config: dict[str, Any], name: str, fragment: str) -> None:
    space = _validation_space()
    with pytest.raises(InvalidConfigError) as info:
        space.validate(config)
    assert isinstance(info.value, ValueError)
    assert name in str(info.value) and fragment in str(info.value), str(info.value)


def test_validate_accepts_and_normalizes() -> None:
    space = _validation_space()
    assert space.validate(GOOD) == GOOD
    config = {**GOOD, "optimizer": "sgd", "momentum": 0, "lr": np.float64(0.01),
              "layers": np.int64(3), "batch": np.int32(64), "flag": 1}
    clean = space.validate(config)
    assert clean == {**config, "momentum": 0.0, "lr": 0.01, "layers": 3, "batch": 64}
    assert type(clean["momentum"]) is float and type(clean["lr"]) is float
    assert type(clean["layers"]) is int and type(clean["batch"]) is int
    assert type(clean["flag"]) is int
    assert list(clean) == [n for n in space.names if n in clean]  # declaration order
    with pytest.raises(InvalidConfigError, match="mapping"):
        space.validate([("optimizer", "adam")])  # type: ignore[arg-type]
