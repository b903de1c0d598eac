"""Non-dominated sorting and hypervolume (tunelab._pareto, re-exported by analysis)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tunelab._pareto import as_losses, hypervolume, non_dominated_mask, non_dominated_ranks
from tunelab.analysis import hypervolume as exported_hypervolume


def brute_mask(points: np.ndarray) -> np.ndarray:
    out = []
    for p in points:
        dominated = np.all(points <= p, axis=1) & np.any(points < p, axis=1)
        out.append(not dominated.any())
    return np.array(out, dtype=bool)


def brute_ranks(points: np.ndarray) -> np.ndarray:
    ranks = np.full(len(points), -1)
    left = np.arange(len(points))
    rank = 0
    while len(left):
        front = brute_mask(points[left])
        ranks[left[front]] = rank
        left = left[~front]
        rank += 1
    return ranks


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_sorting_matches_brute_force_with_many_ties(m):
    rng = np.random.default_rng(m)
    for _ in range(150):
        points = rng.integers(0, 4, size=(int(rng.integers(0, 50)), m)).astype(float)
        assert non_dominated_mask(points).tolist() == brute_mask(points).tolist()
        assert non_dominated_ranks(points).tolist() == brute_ranks(points).tolist()


def test_identical_points_do_not_dominate_each_other():
    points = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    assert non_dominated_mask(points).tolist() == [True, True, False]
    assert non_dominated_ranks(points).tolist() == [0, 0, 1]


@pytest.mark.parametrize("m", [2, 3])
def test_ten_thousand_points_sort_fast(m):
    points = np.random.default_rng(0).random((10_000, m))
    start = time.perf_counter()
    mask = non_dominated_mask(points)
    ranks = non_dominated_ranks(points)
    assert time.perf_counter() - start < 2.0  # about 0.1 s on one core
    assert mask.tolist() == (ranks == 0).tolist()
    sample = np.random.default_rng(1).choice(10_000, 300, replace=False)
    assert brute_mask(points[sample]).sum() >= 1
    front = points[mask]  # nothing in the whole set dominates a front point
    for p in front[:50]:
        assert not np.any(np.all(points <= p, axis=1) & np.any(points < p, axis=1))


def test_hypervolume_exact_values():
    assert hypervolume([[1.0, 4.0], [2.0, 2.0], [4.0, 1.0]], [5.0, 5.0]) == 11.0
    assert hypervolume([[0.0, 0.0, 0.0]], [1.0, 2.0, 3.0]) == 6.0
    assert hypervolume([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]], [1.0, 1.0, 1.0]) == 1.0
    # Two boxes in 3-D overlapping in a quarter cube.
    got = hypervolume([[0.0, 0.5, 0.0], [0.5, 0.0, 0.0]], [1.0, 1.0, 1.0])
    assert got == pytest.approx(0.75)
    assert hypervolume(np.empty((0, 2)), [1.0, 1.0]) == 0.0
    assert hypervolume([[2.0, 0.0]], [1.0, 1.0]) == 0.0  # outside the reference box


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_matches_monte_carlo(m):
    rng = np.random.default_rng(5)
    points = rng.random((25, m))
    ref = np.full(m, 1.1)
    samples = rng.random((200_000, m)) * 1.1
    dominated = np.zeros(len(samples), dtype=bool)
    for p in points:
        dominated |= np.all(samples >= p, axis=1)
    assert hypervolume(points, ref) == pytest.approx(dominated.mean() * 1.1**m, rel=0.02)


def test_as_losses_negates_maximised_columns_and_names_bad_directions():
    losses = as_losses([[0.9, 10.0]], ["max", "min"])
    assert losses.tolist() == [[-0.9, 10.0]]
    assert as_losses([], ["min", "max"]).shape == (0, 2)
    with pytest.raises(ValueError, match="'up'"):
        as_losses([[1.0]], ["up"])
    with pytest.raises(ValueError, match="one column per direction"):
        as_losses([[1.0, 2.0]], ["min"])
    with pytest.raises(ValueError, match="finite"):
        non_dominated_mask([[np.nan, 1.0]])
    assert exported_hypervolume is hypervolume
