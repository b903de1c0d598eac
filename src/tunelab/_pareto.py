"""Pareto dominance and hypervolume: pure NumPy, used by the study, searchers and analysis.

Every function works on *losses*: an ``(n, m)`` array of ``n`` points and ``m`` objectives,
all minimised. :func:`as_losses` turns metric values with directions into losses (a
maximised column is negated). A point dominates another when it is no worse in every
objective and strictly better in one; identical points do not dominate each other.

>>> import numpy as np
>>> pts = np.array([[1.0, 4.0], [2.0, 2.0], [3.0, 3.0], [4.0, 1.0]])
>>> non_dominated_mask(pts).tolist()
[True, True, False, True]
>>> non_dominated_ranks(pts).tolist()
[0, 0, 1, 0]
>>> hypervolume(pts[non_dominated_mask(pts)], [5.0, 5.0])
11.0
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

__all__ = ["as_losses", "hypervolume", "non_dominated_mask", "non_dominated_ranks"]


def as_losses(
    values: np.ndarray | Sequence[Sequence[float]], directions: Sequence[str]
) -> np.ndarray:
    """``values`` (one column per objective) as losses: columns whose direction is
    ``"max"`` are negated."""
    arr = np.array(values, dtype=float)
    if arr.size == 0:
        arr = arr.reshape(0, len(directions))
    if arr.ndim != 2 or arr.shape[1] != len(directions):
        raise ValueError(
            f"values must have one column per direction ({len(directions)}); got shape "
            f"{np.shape(values)}"
        )
    for j, d in enumerate(directions):
        if d not in ("min", "max"):
            raise ValueError(f"direction {j} must be 'min' or 'max'; got {d!r}")
        if d == "max":
            arr[:, j] = -arr[:, j]
    return arr


def _points(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"points must be a 2-D array (n points x m objectives); got {arr.shape}")
    if arr.size and not np.isfinite(arr).all():
        raise ValueError("points must be finite (drop NaN/inf rows first)")
    return arr


def _lex_order(pts: np.ndarray) -> np.ndarray:
    """Indices sorting the points lexicographically (first objective first). A point that
    dominates another always comes before it."""
    return np.lexsort(pts.T[::-1])


def non_dominated_mask(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Which points no other point dominates (the Pareto front), as a boolean array.

    Two objectives: one sort and a sweep, O(n log n). More: each front point, in
    lexicographic order, removes what it dominates in one vectorised pass, O(n * front).
    """
    pts = _points(points)
    n, m = pts.shape
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    if m == 1:
        return pts[:, 0] == pts[:, 0].min()
    order = _lex_order(pts)
    if m == 2:
        f1, f2 = pts[order, 0], pts[order, 1]
        # Best second objective among points with a strictly smaller first objective.
        best_before = np.inf
        i = 0
        while i < n:
            j = i
            while j + 1 < n and f1[j + 1] == f1[i]:
                j += 1
            group_min = f2[i]  # sorted: the group's first has its smallest f2
            if group_min < best_before:
                keep = f2[i : j + 1] == group_min
                mask[order[i : j + 1][keep]] = True
                best_before = group_min
            i = j + 1
        return mask
    return _front_mask(pts)


def _front_mask(pts: np.ndarray) -> np.ndarray:
    """Non-dominated points of any dimension: take the next surviving point in
    lexicographic order, drop every point it dominates, repeat. Each round is one
    vectorised pass over the survivors, and there are as many rounds as front points."""
    order = _lex_order(pts)
    alive = order  # surviving indices, in lexicographic order
    cursor = 0
    while cursor < len(alive):
        c = pts[alive[cursor]]
        rest = pts[alive]
        keep = np.any(rest < c, axis=1) | np.all(rest == c, axis=1)
        # Points before the cursor were kept by earlier rounds and are never dominated
        # by a later point (lexicographic order), so ``keep`` is True there.
        alive = alive[keep]
        cursor = int(np.count_nonzero(keep[: cursor + 1]))
    mask = np.zeros(len(pts), dtype=bool)
    mask[alive] = True
    return mask


def non_dominated_ranks(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """The non-domination rank of every point: 0 for the Pareto front, 1 for the front of
    what is left, and so on.

    Two objectives: efficient non-dominated sort with binary search (ENS-BS, Zhang et al.
    2015): points in lexicographic order each go to the first front whose last point
    does not dominate them, O(n log n). Three: the same, each front kept as a staircase
    of its (f2, f3) projection. More: the fronts are peeled one by one, each with the
    vectorised sweep of :func:`non_dominated_mask`.
    """
    pts = _points(points)
    n, m = pts.shape
    ranks = np.zeros(n, dtype=np.int64)
    if n == 0:
        return ranks
    if m == 1:
        _, inverse = np.unique(pts[:, 0], return_inverse=True)
        return np.asarray(inverse, dtype=np.int64).reshape(n)
    order = _lex_order(pts)
    if m == 2:
        last1: list[float] = []  # per front: its last point (the smallest f2 in it)
        last2: list[float] = []
        for idx in order:
            a, b = pts[idx]
            lo, hi = 0, len(last1)
            while lo < hi:  # first front that does not dominate (a, b)
                mid = (lo + hi) // 2
                if last2[mid] < b or (last2[mid] == b and last1[mid] < a):
                    lo = mid + 1
                else:
                    hi = mid
            if lo == len(last1):
                last1.append(a)
                last2.append(b)
            else:
                last1[lo], last2[lo] = a, b
            ranks[idx] = lo
        return ranks
    if m == 3:
        return _ranks_3d(pts, order, ranks)
    rank = 0
    left = np.arange(n)
    while len(left):
        front = _front_mask(pts[left])
        ranks[left[front]] = rank
        left = left[~front]
        rank += 1
    return ranks


class _Staircase:
    """One front of three objectives, seen from its (f2, f3) projection: the points no
    other of the front weakly dominates there, f2 increasing and f3 decreasing. Points
    arrive in lexicographic order, so every point already in has f1 <= the newcomer's."""

    __slots__ = ("f1", "f2", "f3")

    def __init__(self) -> None:
        self.f1: list[float] = []
        self.f2: list[float] = []
        self.f3: list[float] = []

    def dominates(self, a: float, b: float, c: float) -> bool:
        k = bisect.bisect_right(self.f2, b) - 1
        if k < 0:
            return False
        e3 = self.f3[k]  # the smallest f3 among the points with f2 <= b
        if e3 != c:
            return e3 < c
        return not (self.f2[k] == b and self.f1[k] == a)  # an identical point does not

    def add(self, a: float, b: float, c: float) -> None:
        k = bisect.bisect_right(self.f2, b)
        if k and self.f2[k - 1] == b and self.f3[k - 1] == c:
            return  # the same projection is in already, with an f1 no larger
        while k and self.f2[k - 1] == b:  # same f2, larger f3: now weakly dominated
            k -= 1
            del self.f1[k], self.f2[k], self.f3[k]
        end = k
        while end < len(self.f3) and self.f3[end] >= c:
            end += 1
        del self.f1[k:end], self.f2[k:end], self.f3[k:end]
        self.f1.insert(k, a)
        self.f2.insert(k, b)
        self.f3.insert(k, c)


def _ranks_3d(pts: np.ndarray, order: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """ENS-BS for three objectives, each front kept as a staircase: O(n log n) per
    front check instead of a pass over the front."""
    fronts: list[_Staircase] = []
    for idx in order.tolist():
        a, b, c = pts[idx].tolist()
        lo, hi = 0, len(fronts)
        while lo < hi:
            mid = (lo + hi) // 2
            if fronts[mid].dominates(a, b, c):
                lo = mid + 1
            else:
                hi = mid
        if lo == len(fronts):
            fronts.append(_Staircase())
        fronts[lo].add(a, b, c)
        ranks[idx] = lo
    return ranks


def hypervolume(
    points: np.ndarray | Sequence[Sequence[float]], reference: Sequence[float]
) -> float:
    """The volume dominated by ``points`` (losses) and bounded by ``reference``.

    Points not strictly better than the reference in every objective add nothing.
    Two objectives: a sweep, O(n log n); more: slices along the last objective, each a
    hypervolume one dimension lower (fine for fronts of hundreds of points in 3-D).
    """
    pts = _points(points)
    ref = np.asarray(reference, dtype=float).reshape(-1)
    if pts.shape[0] and pts.shape[1] != len(ref):
        raise ValueError(
            f"the reference point has {len(ref)} coordinates; the points have {pts.shape[1]}"
        )
    if not np.isfinite(ref).all():
        raise ValueError(f"the reference point must be finite; got {ref.tolist()}")
    if pts.shape[0] == 0:
        return 0.0
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = pts[non_dominated_mask(pts)]
    return float(_hv(pts, ref))


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    m = pts.shape[1]
    if m == 1:
        return float(ref[0] - pts[:, 0].min())
    if m == 2:
        order = np.lexsort((pts[:, 1], pts[:, 0]))
        f1, f2 = pts[order, 0], pts[order, 1]
        volume, best2 = 0.0, ref[1]
        for a, b in zip(f1, f2, strict=True):
            if b < best2:
                volume += (ref[0] - a) * (best2 - b)
                best2 = b
        return volume
    order = np.argsort(pts[:, -1], kind="stable")
    pts = pts[order]
    volume = 0.0
    for i in range(len(pts)):
        upper = pts[i + 1, -1] if i + 1 < len(pts) else ref[-1]
        depth = upper - pts[i, -1]
        if depth <= 0:
            continue
        below = pts[: i + 1, :-1]
        below = below[non_dominated_mask(below)]
        volume += depth * _hv(below, ref[:-1])
    return volume
