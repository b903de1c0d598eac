"""Cross-validation splits for :class:`~tunelab.integrations.TuneSearchCV`: the same
splits for every trial, and nested subsamples of each training fold for the
``n_samples`` fidelity."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["FixedSplits", "SubsampledSplits", "subsample_order"]

Split = tuple[np.ndarray, np.ndarray]


class FixedSplits:
    """A cross-validator that yields splits computed once (so that every trial of a
    search is scored on the same folds, even with a shuffling splitter).

    >>> cv = FixedSplits([(np.array([0, 1]), np.array([2]))])
    >>> cv.get_n_splits(), [t.tolist() for t, _ in cv.split(None)]
    (1, [[0, 1]])
    """

    def __init__(self, splits: Sequence[Split]) -> None:
        self.splits = [(np.asarray(train), np.asarray(test)) for train, test in splits]

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return len(self.splits)

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        yield from self.splits


def subsample_order(train: np.ndarray, y: Any, seed: int, stratify: bool) -> np.ndarray:
    """The training indices in a random order whose every prefix is a subsample; with
    ``stratify`` each prefix holds the classes in about their proportions in ``train``.

    >>> order = subsample_order(np.arange(6), np.array([0, 0, 0, 0, 1, 1]), 0, True)
    >>> sorted(order.tolist()) == list(range(6)), sorted(int(i) > 3 for i in order[:3])
    (True, [False, False, True])
    """
    rng = np.random.default_rng(seed)
    if not stratify or y is None:
        return train[rng.permutation(len(train))]
    labels = np.asarray(y)[train]
    keys = np.empty(len(train))
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        ranks = rng.permutation(len(members))
        # The j-th member of a class of n goes to position ~ j/n of the order.
        keys[members] = (ranks + rng.random(len(members))) / len(members)
    return train[np.argsort(keys, kind="stable")]


class SubsampledSplits:
    """The splits of ``base`` with each training fold cut to its first ``n_samples``
    indices in :func:`subsample_order` (test folds stay whole): larger budgets train on
    supersets of smaller ones.

    >>> base = FixedSplits([(np.arange(10), np.arange(10, 12))])
    >>> cv = SubsampledSplits(base, n_samples=4, seed=0, stratify=False)
    >>> [(len(tr), len(te)) for tr, te in cv.split(np.zeros((12, 1)))]
    [(4, 2)]
    """

    def __init__(self, base: FixedSplits, n_samples: int, seed: int, stratify: bool) -> None:
        self.base = base
        self.n_samples = n_samples
        self.seed = seed
        self.stratify = stratify

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.base.get_n_splits()

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        for fold, (train, test) in enumerate(self.base.split(X, y, groups)):
            order = subsample_order(train, y, self.seed + fold, self.stratify)
            yield np.sort(order[: self.n_samples]), test
