"""Architecture spaces are ordinary Spaces; evolution mutates one edge; cost counting."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from tunelab import (
    InvalidArgumentError,
    RandomSearcher,
    RegularizedEvolution,
    Space,
    Study,
    Trial,
    TrialStatus,
)
from tunelab.nas import (
    DARTS_OPS,
    NB201_OPS,
    CellNetwork,
    CellSpace,
    Genotype,
    count_flops,
    count_params,
    measure_cost,
    nasbench201_space,
)

torch.set_num_threads(1)


def test_nasbench201_space_matches_the_tabular_benchmark_names() -> None:
    space = nasbench201_space()
    assert isinstance(space, Space)
    assert space.names == tuple(f"Op{k}" for k in range(6))
    assert all(tuple(space[n].choices) == NB201_OPS for n in space.names)  # type: ignore[attr-defined]
    assert space.grid_size() == 5**6
    config = {f"Op{k}": op for k, op in enumerate(
        ["nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "none", "nor_conv_1x1"])}
    g = space.genotype(config)
    assert g.edges == ((0, 1, "nor_conv_3x3"), (1, 2, "skip_connect"), (0, 3, "avg_pool_3x3"),
                       (2, 3, "nor_conv_1x1"))
    assert g.output == "last"
    assert space.config_of(g) == config


def test_cell_space_round_trips_and_rejects_bad_arguments() -> None:
    space = CellSpace(4, DARTS_OPS)
    assert len(space) == 10 and space.edges[-1] == (3, 4)
    config = space.sample(seed=3)
    assert space.config_of(space.genotype(config)) == config
    assert Space.from_dict(space.to_dict()) == space  # a stored study rebuilds it
    assert type(CellSpace.from_json(space.to_json())) is Space
    with pytest.raises(InvalidArgumentError, match="`nodes` must be an integer in"):
        CellSpace(0)
    with pytest.raises(InvalidArgumentError, match="must not repeat"):
        CellSpace(2, ("none", "none"))
    with pytest.raises(InvalidArgumentError, match="`output` must be one of"):
        CellSpace(2, output="sum")


def test_every_searcher_runs_on_a_cell_space() -> None:
    space = nasbench201_space()
    for searcher in ("random", "evolution", "tpe", "sobol"):
        study = Study(f"nb-{searcher}", space, store="memory", seed=0, searcher=searcher,
                      capture_environment=False)
        study.optimize(lambda c: float(sum(v == "nor_conv_3x3" for v in c.values())),
                       n_trials=12)
        assert len(study.trials) == 12


def test_regularized_evolution_changes_exactly_one_edge_op() -> None:
    space = nasbench201_space()
    evo = RegularizedEvolution(population_size=5, sample_size=2, seed=0)
    history = [Trial(n, TrialStatus.COMPLETE, space.sample(seed=n), value=float(n))
               for n in range(5)]
    for n in range(5, 40):
        child = evo.suggest(space, history, n)
        diffs = [min(sum(child[k] != t.config[k] for k in space.names) for t in history)]
        assert diffs[0] == 1  # one edge mutated from its parent (a population member)
        history.append(Trial(n, TrialStatus.COMPLETE, child, value=float(n % 7)))
    rng = __import__("numpy").random.default_rng(0)
    parent = space.sample(seed=1)
    for _ in range(50):
        child = evo.mutate(space, parent, rng)
        changed = [k for k in space.names if child[k] != parent[k]]
        assert len(changed) == 1 and child[changed[0]] in NB201_OPS


def test_cell_network_forward_and_cost_counts() -> None:
    space = nasbench201_space()
    g = space.genotype(space.sample(seed=0))
    net = CellNetwork(g, in_channels=3, num_classes=10, channels=4, stages=2)
    assert net(torch.zeros(2, 3, 8, 8)).shape == (2, 10)
    # a conv of 2 -> 3 channels, 3x3, no bias, on 5x5 (padding 1): 25 * 3 * 2 * 9 MACs
    conv = torch.nn.Conv2d(2, 3, 3, padding=1, bias=False)
    assert count_flops(conv, (2, 5, 5)) == 25 * 3 * 2 * 9
    assert count_params(conv) == 3 * 2 * 9
    # an empty cell costs less than an all-conv cell
    empty = CellNetwork(Genotype(3, (), "last"), in_channels=3, num_classes=10, channels=4,
                        stages=2)
    full = CellNetwork(space.genotype({n: "nor_conv_3x3" for n in space.names}),
                       in_channels=3, num_classes=10, channels=4, stages=2)
    assert count_flops(full, (3, 8, 8)) > count_flops(empty, (3, 8, 8))
    assert count_params(full) - count_params(empty) == 6 * (4 * 4 * 9 + 2 * 4) + 6 * (
        8 * 8 * 9 + 2 * 8)
    cost = measure_cost(full, (3, 8, 8), repeats=3)
    assert cost.latency_ms > 0 and cost.as_metrics()["params"] == count_params(full)


def test_hardware_aware_multi_objective_study() -> None:
    space = nasbench201_space()

    def objective(config: dict) -> dict[str, float]:
        net = CellNetwork(space.genotype(config), in_channels=1, num_classes=10, channels=4,
                          stages=1)
        cost = measure_cost(net, (1, 8, 8), repeats=2)
        proxy = float(sum(v in ("nor_conv_3x3", "nor_conv_1x1") for v in config.values()))
        return {"score": proxy, "flops": float(cost.flops)}

    study = Study("hw", space, metric=["score", "flops"], direction=["max", "min"],
                  searcher=RandomSearcher(seed=0), store="memory", capture_environment=False)
    study.optimize(objective, n_trials=15)
    front = study.pareto_front()
    assert front and all({"score", "flops"} <= set(t.metrics) for t in front)
    cheapest = min(study.trials, key=lambda t: (t.metrics["flops"], -t.metrics["score"]))
    assert cheapest.number in {t.number for t in front}  # the cheapest cell is on the front


def test_importing_nas_without_torch_names_the_pip_line() -> None:
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None  # as if PyTorch were not installed
        import tunelab
        try:
            import tunelab.nas
        except tunelab.MissingExtraError as exc:
            print(str(exc))
        else:
            raise SystemExit("imported without torch")
        assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install 'tunelab[torch]'" in out.splitlines()
