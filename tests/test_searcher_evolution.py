"""Tests of regularized (aging) evolution: population, tournament, aging, mutation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tunelab
from tunelab import (
    Categorical,
    Float,
    Int,
    InvalidArgumentError,
    PowerOfTwo,
    RandomSearcher,
    RegularizedEvolution,
    Space,
    Trial,
    TrialStatus,
)
from tunelab.searchers import SEARCHERS, make_searcher

COMPLETE = TrialStatus.COMPLETE


def trial(number: int, config: dict[str, Any], value: float | None = None,
          status: TrialStatus = COMPLETE, **system_attrs: Any) -> Trial:
    return Trial(number=number, status=status, config=config, value=value,
                 system_attrs=system_attrs)


# Each trial k has a = b = c = 100 * k: a child that keeps two of the three values names
# its parent without doubt.
ABC = Space(a=Int(0, 1000), b=Int(0, 1000), c=Int(0, 1000))


def abc(k: int) -> dict[str, Any]:
    return {"a": 100 * k, "b": 100 * k, "c": 100 * k}


def parent_of(child: dict[str, Any]) -> int:
    """The k of the trial ``child`` was mutated from (it shares two values with it)."""
    (k,) = {v // 100 for v in child.values() if v % 100 == 0 and
            sum(w == v for w in child.values()) >= 2}
    return k


def parents(searcher: RegularizedEvolution, history: list[Trial], draws: int = 30) -> list[int]:
    n = len(history)
    return [parent_of(searcher.suggest(ABC, history, n + i)) for i in range(draws)]


# ---------------------------------------------------------------- registry and arguments


def test_registered_and_exported():
    assert SEARCHERS["evolution"] is RegularizedEvolution
    assert tunelab.RegularizedEvolution is RegularizedEvolution
    s = make_searcher("evolution", seed=2)
    assert isinstance(s, RegularizedEvolution) and s.seed == 2


def test_spec_round_trips_every_argument():
    s = RegularizedEvolution(population_size=7, sample_size=3, mutations=2, sigma=0.05, seed=4)
    assert s.spec() == {"name": "evolution", "population_size": 7, "sample_size": 3,
                        "mutations": 2, "sigma": 0.05, "seed": 4}
    rebuilt = make_searcher(s.spec())
    assert rebuilt.spec() == s.spec()
    assert repr(s) == ("RegularizedEvolution(population_size=7, sample_size=3, mutations=2, "
                       "sigma=0.05, seed=4)")


@pytest.mark.parametrize("kwargs, message", [
    ({"population_size": 0}, "`population_size` must be an integer >= 1; got 0"),
    ({"population_size": 2.5}, "`population_size` must be an integer >= 1; got 2.5"),
    ({"population_size": True}, "`population_size` must be an integer >= 1; got True"),
    ({"sample_size": 0}, "`sample_size` must be an integer >= 1; got 0"),
    ({"population_size": 4, "sample_size": 5},
     "`sample_size` must be <= `population_size` (4); got 5"),
    ({"mutations": 0}, "`mutations` must be an integer >= 1; got 0"),
    ({"sigma": 0}, "`sigma` must be a number in (0, 1]; got 0"),
    ({"sigma": 1.5}, "`sigma` must be a number in (0, 1]; got 1.5"),
    ({"sigma": float("nan")}, "`sigma` must be a number in (0, 1]; got nan"),
    ({"sigma": "0.1"}, "`sigma` must be a number in (0, 1]; got '0.1'"),
    ({"seed": -1}, "`seed` must be an integer >= 0 or None; got -1"),
])
def test_invalid_arguments_are_named(kwargs, message):
    with pytest.raises(InvalidArgumentError) as info:
        RegularizedEvolution(**kwargs)
    assert str(info.value) == message


def test_unknown_option_in_a_spec_is_an_invalid_argument():
    with pytest.raises(InvalidArgumentError, match="bad options for searcher 'evolution'"):
        make_searcher({"name": "evolution", "tournament": 3})


# ---------------------------------------------------------------- population and aging


def test_random_draws_until_the_population_is_full():
    space = Space(x=Float(0, 1), y=Float(0, 1))
    evo, rnd = RegularizedEvolution(population_size=3, sample_size=2, seed=8), \
        RandomSearcher(seed=8)
    history = [trial(0, {"x": 0.5, "y": 0.5}, 1.0), trial(1, {"x": 0.1, "y": 0.1}, 2.0),
               trial(2, {"x": 0.2, "y": 0.2}, status=TrialStatus.FAILED),
               trial(3, {"x": 0.3, "y": 0.3}, status=TrialStatus.RUNNING),
               trial(4, {"x": 0.4, "y": 0.4}, float("nan"))]
    # two valued trials (failed, running and NaN ones do not count) < population of 3
    for n in range(5, 10):
        assert evo.suggest(space, history, n) == rnd.suggest(space, history, n)


def test_parent_is_the_best_of_the_most_recent_trials_and_the_old_best_ages_out():
    history = [trial(0, abc(0), 0.0), trial(1, abc(1), 5.0), trial(2, abc(2), 3.0),
               trial(3, abc(3), 4.0)]
    evo = RegularizedEvolution(population_size=3, sample_size=3, seed=1)
    assert set(parents(evo, history)) == {2}  # trial 0 (best of all) has aged out
    # while it is in the population, trial 0 wins every tournament
    evo = RegularizedEvolution(population_size=4, sample_size=4, seed=1)
    assert set(parents(evo, history)) == {0}


def test_failed_running_and_unvalued_trials_are_not_in_the_population():
    history = [trial(0, abc(0), 0.0), trial(1, abc(1), 5.0), trial(2, abc(2), 3.0),
               trial(3, abc(3), 4.0), trial(4, abc(4), status=TrialStatus.FAILED),
               trial(5, abc(5), status=TrialStatus.RUNNING),
               trial(6, abc(6), status=TrialStatus.WAITING)]
    evo = RegularizedEvolution(population_size=3, sample_size=3, seed=2)
    assert set(parents(evo, history)) == {2}


def test_tournament_samples_members_uniformly():
    history = [trial(k, abc(k), float(k)) for k in range(6)]
    one = RegularizedEvolution(population_size=3, sample_size=1, seed=3)
    assert set(parents(one, history, 60)) == {3, 4, 5}  # any member; never an aged one
    two = RegularizedEvolution(population_size=3, sample_size=2, seed=3)
    drawn = parents(two, history, 90)
    assert set(drawn) == {3, 4} and drawn.count(3) > drawn.count(4)  # the worst never wins


def test_direction_max_picks_the_highest_value():
    history = [trial(k, abc(k), v) for k, v in enumerate([9.0, 1.0, 7.0, 3.0])]
    evo = RegularizedEvolution(population_size=4, sample_size=4, seed=5)
    assert set(parents(evo, history)) == {1}
    evo.setup("value", "max")
    assert set(parents(evo, history)) == {0}


def test_a_value_measured_after_more_training_outranks_a_better_early_one():
    history = [trial(0, abc(0), 5.0),  # complete: a full evaluation
               trial(1, abc(1), 1.0, status=TrialStatus.STOPPED, step=2),
               trial(2, abc(2), 2.0, status=TrialStatus.PAUSED, step=4)]
    evo = RegularizedEvolution(population_size=3, sample_size=3, seed=6)
    assert set(parents(evo, history)) == {0}
    evo = RegularizedEvolution(population_size=2, sample_size=2, seed=6)
    assert set(parents(evo, history)) == {2}  # step 4 beats step 2 despite its worse value


def test_proposals_avoid_configurations_already_in_the_study():
    space = Space(a=Int(0, 2), b=Categorical(["x"]))
    history = [trial(0, {"a": 0, "b": "x"}, 0.0),
               trial(1, {"a": 1, "b": "x"}, status=TrialStatus.RUNNING)]
    evo = RegularizedEvolution(population_size=1, sample_size=1, seed=0)
    for n in range(2, 12):
        assert evo.suggest(space, history, n) == {"a": 2, "b": "x"}


def test_proposals_follow_from_seed_and_history():
    history = [trial(k, abc(k), float(k % 3)) for k in range(5)]
    a = RegularizedEvolution(population_size=4, sample_size=2, seed=11)
    b = RegularizedEvolution(population_size=4, sample_size=2, seed=11)
    assert [a.suggest(ABC, history, n) for n in (5, 9, 5)] == \
        [b.suggest(ABC, history, n) for n in (5, 9, 5)]


# ---------------------------------------------------------------- mutation

KINDS = Space(
    flog=Float(1e-5, 1.0, log=True),
    flin=Float(-1.0, 1.0),
    fstep=Float(0.0, 1.0, step=0.25),
    int_=Int(1, 10),
    intlog=Int(1, 1000, log=True),
    intstep=Int(0, 20, step=5),
    pow2=PowerOfTwo(8, 256),
    cat=Categorical(["a", 1, 2.5, True, None]),
    fixed=Categorical(["only"]),
)


def changed(a: dict[str, Any], b: dict[str, Any]) -> set[str]:
    return {k for k in a.keys() | b.keys()
            if k not in a or k not in b or type(a[k]) is not type(b[k]) or a[k] != b[k]}


@pytest.mark.parametrize("sigma", [0.2, 1e-12, 1.0])
def test_mutation_changes_exactly_one_parameter_and_keeps_types(sigma):
    evo = RegularizedEvolution(sigma=sigma, seed=0)
    rng = np.random.default_rng(0)
    seen: set[str] = set()
    for _ in range(300):
        parent = KINDS.sample(rng)
        snapshot = dict(parent)
        child = evo.mutate(KINDS, parent, rng)
        assert parent == snapshot  # the parent is left as it is
        assert KINDS.validate(child) == child
        assert all(type(child[k]) is type(parent[k]) for k in parent if k != "cat")
        diff = changed(parent, child)
        assert len(diff) == 1 and "fixed" not in diff
        seen |= diff
    assert seen == set(KINDS.names) - {"fixed"}  # every kind of parameter gets mutated


def test_discrete_parameters_move_to_a_neighbour_on_small_steps():
    evo = RegularizedEvolution(sigma=1e-9, seed=0)
    rng = np.random.default_rng(1)
    cases = [(Int(0, 10), 5, {4, 6}), (Int(0, 10), 0, {1}), (Int(0, 20, step=5), 20, {15}),
             (Float(0.0, 1.0, step=0.25), 0.5, {0.25, 0.75}), (PowerOfTwo(8, 64), 64, {32}),
             (PowerOfTwo(8, 64), 16, {8, 32}), (Int(1, 1000, log=True), 1, {2})]
    for param, value, allowed in cases:
        space = Space(p=param)
        got = {evo.mutate(space, {"p": value}, rng)["p"] for _ in range(30)}
        assert got == allowed, (param, value)


def test_continuous_floats_move_locally_with_a_small_sigma():
    space = Space(x=Float(0.0, 1.0), lr=Float(1e-6, 1.0, log=True))
    evo = RegularizedEvolution(sigma=0.01, seed=0)
    rng = np.random.default_rng(2)
    for _ in range(50):
        child = evo.mutate(space, {"x": 0.5, "lr": 1e-3}, rng)
        if child["x"] != 0.5:
            assert 0.44 < child["x"] < 0.56 and child["lr"] == 1e-3
        else:  # one decade is 1/6 of the log range: moves stay within a third of a decade
            assert 10**-3.35 < child["lr"] < 10**-2.65


def test_mutations_option_changes_that_many_parameters():
    rng = np.random.default_rng(3)
    two = RegularizedEvolution(mutations=2, seed=0)
    many = RegularizedEvolution(mutations=50, seed=0)
    for _ in range(50):
        parent = KINDS.sample(rng)
        assert len(changed(parent, two.mutate(KINDS, parent, rng))) == 2
        assert changed(parent, many.mutate(KINDS, parent, rng)) == set(KINDS.names) - {"fixed"}


@pytest.mark.parametrize("child_first", [False, True])
def test_conditional_children_appear_and_disappear_with_their_parent(child_first):
    params = {
        "momentum": Float(0.0, 0.9, when={"opt": "sgd"}),
        "nesterov": Categorical([False, True], when={"opt": "sgd"}),
        "beta": Float(0.5, 0.999, when={"opt": ["adam", "adamw"]}),
        "opt": Categorical(["sgd", "adam", "adamw"]),
        "lr": Float(1e-4, 1e-1, log=True),
    }
    if not child_first:
        params = {"opt": params.pop("opt"), **params}
    space = Space(params)
    evo = RegularizedEvolution(seed=0)
    rng = np.random.default_rng(4)
    opt_changes = 0
    for _ in range(200):
        parent = space.sample(rng)
        child = evo.mutate(space, parent, rng)
        assert space.validate(child) == child
        assert ("momentum" in child) == ("nesterov" in child) == (child["opt"] == "sgd")
        assert ("beta" in child) == (child["opt"] != "sgd")
        diff = changed(parent, child)
        if child["opt"] != parent["opt"]:
            opt_changes += 1
            assert diff - {"opt", "momentum", "nesterov", "beta"} == set()
            kept = {k for k in ("momentum", "nesterov", "beta") if k in parent and k in child}
            assert all(parent[k] == child[k] for k in kept)  # adam -> adamw keeps beta
        else:
            assert len(diff) == 1
    assert opt_changes > 20


def test_a_space_with_one_configuration_is_proposed_as_it_is():
    space = Space(a=Categorical(["only"]))
    evo = RegularizedEvolution(population_size=1, sample_size=1, seed=0)
    history = [trial(0, {"a": "only"}, 1.0)]
    assert evo.suggest(space, history, 1) == {"a": "only"}
    assert evo.mutate(Space(a=Categorical(["only"]), b=Int(0, 1)), {"a": "only", "b": 0},
                      np.random.default_rng(0)) == {"a": "only", "b": 1}


# ---------------------------------------------------------------- end to end


def _best(searcher: tunelab.Searcher, space: Space, objective, n: int) -> float:
    history: list[Trial] = []
    for number in range(n):
        config = searcher.suggest(space, tuple(history), number)
        history.append(trial(number, config, objective(config)))
    return min(t.value for t in history if t.value is not None)


def test_evolution_beats_random_search_on_a_sum_of_squares():
    space = Space({f"x{i}": Float(-5.0, 5.0) for i in range(4)})

    def sphere(config):
        return sum((config[f"x{i}"] - 1.0) ** 2 for i in range(4))

    evo = _best(RegularizedEvolution(seed=0), space, sphere, 200)
    rnd = _best(RandomSearcher(seed=0), space, sphere, 200)
    assert evo < rnd / 5, (evo, rnd)


def test_evolution_maximizes_in_a_study():
    study = tunelab.Study("evo", Space(x=Float(0, 1), y=Int(0, 50)),
                          searcher=RegularizedEvolution(population_size=8, sample_size=4),
                          direction="max", store="memory", seed=1)
    study.optimize(lambda c: -((c["x"] - 0.7) ** 2) - ((c["y"] - 20) / 50) ** 2, n_trials=80)
    best = study.best_trial
    assert abs(best.config["x"] - 0.7) < 0.1 and abs(best.config["y"] - 20) <= 5


# The conformance suite's runs are shorter than the default population: these check the
# same contract once evolution has started.
SMALL = {"name": "evolution", "population_size": 4, "sample_size": 2, "seed": 5}
MIXED = Space(opt=Categorical(["sgd", "adam"]), lr=Float(1e-4, 1e-1, log=True),
              momentum=Float(0.0, 0.9, step=0.1, when={"opt": "sgd"}), layers=Int(1, 3),
              batch=PowerOfTwo(16, 64))


def _run(searcher: tunelab.Searcher, n: int, history: list[Trial] | None = None) -> list[Trial]:
    trials = list(history or [])
    for _ in range(n):
        number = len(trials)
        config = searcher.suggest(MIXED, tuple(trials), number)
        trials.append(trial(number, config, config["lr"] * config["layers"]))
    return trials


def test_evolution_resumes_from_history_alone_and_is_deterministic():
    whole = _run(make_searcher(SMALL), 20)
    assert [t.config for t in whole] == [t.config for t in _run(make_searcher(SMALL), 20)]
    resumed = _run(make_searcher(SMALL), 10, history=_run(make_searcher(SMALL), 10))
    assert [t.config for t in resumed] == [t.config for t in whole]
    assert len({tunelab.space.config_key(t.config) for t in whole}) == 20


def test_evolution_in_a_study_resumed_through_sqlite(tmp_path):
    def objective(config):
        return config["lr"] * config["layers"]

    db = str(tmp_path / "e.db")
    tunelab.Study("e", MIXED, searcher=make_searcher(SMALL), store=db).optimize(objective, 7)
    tunelab.Study("e", store=db).optimize(objective, n_trials=7)
    whole = tunelab.Study("w", MIXED, searcher=make_searcher(SMALL), store="memory")
    whole.optimize(objective, n_trials=14)
    assert [t.config for t in tunelab.load_study("e", store=db).trials] == \
        [t.config for t in whole.trials]
    assert tunelab.load_study("e", store=db).searcher.spec() == make_searcher(SMALL).spec()
