"""Multivariate Parzen estimators on the unit cube, for TPE.

Numeric coordinates get truncated Gaussian kernels on ``[0, 1]``; categorical
coordinates get a kernel that keeps the observed choice with probability ``1 - w`` and
spreads ``w`` over the others (Aitchison and Aitken); a NaN coordinate (a conditional
parameter that is inactive) is uniform. A prior component (uniform over the cube) keeps
every region reachable.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["CubeLayout", "ParzenEstimator"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
#: The categorical indices of estimators with no categorical coordinate (never read).
_NO_CHOICES = np.zeros((0, 0), dtype=np.int64)
#: Exponents below this are raised to it before exp() (e^-500 ~ 7e-218: far below what
#: a sum that includes the prior's share can resolve, and clear of exp's slow underflow path)
_EXPONENT_FLOOR = -500.0


@dataclass(frozen=True)
class CubeLayout:
    """How each coordinate of a space's unit cube is modelled.

    ``n_choices[j]`` is the number of choices of a categorical coordinate (0 for numeric
    ones); ``min_bandwidth[j]`` keeps kernels of discrete coordinates wide enough to reach
    the neighbouring values; ``centers[j]`` lists the unit positions of a discrete
    coordinate's values (None for continuous ones), to which proposals are snapped.
    """

    n_choices: np.ndarray
    min_bandwidth: np.ndarray
    centers: tuple[np.ndarray | None, ...]

    @cached_property
    def categorical(self) -> np.ndarray:
        return self.n_choices > 0

    @cached_property
    def any_categorical(self) -> bool:
        return bool(self.categorical.any())

    @cached_property
    def no_move(self) -> np.ndarray:
        """Zeros, one per coordinate (no categorical coordinate moves)."""
        zeros = np.zeros(len(self.n_choices))
        zeros.setflags(write=False)
        return zeros

    @cached_property
    def log_prior(self) -> float:
        """Log density of the uniform distribution on the whole cube."""
        return float(self.log_uniform.sum())

    @cached_property
    def log_uniform(self) -> np.ndarray:
        """Per coordinate: the log density of the uniform distribution (0, or -log k)."""
        out: np.ndarray = -np.log(np.where(self.categorical, self.n_choices, 1).astype(float))
        return out

    def snap(self, x: np.ndarray) -> np.ndarray:
        """Move discrete coordinates of the rows of ``x`` to the nearest value's position."""
        out = x.copy()
        for j, c in enumerate(self.centers):
            if c is None:
                continue
            col = out[:, j]
            idx = np.clip(np.searchsorted(c, col), 1, len(c) - 1) if len(c) > 1 else None
            if idx is None:
                out[:, j] = c[0]
                continue
            left, right = c[idx - 1], c[idx]
            out[:, j] = np.where(np.abs(col - left) <= np.abs(right - col), left, right)
        return out


class ParzenEstimator:
    """A mixture of one kernel per observation plus a uniform prior component.

    ``points`` are rows on the unit cube (NaN: inactive coordinate). A point's bandwidth
    in a numeric coordinate is the larger gap to its neighbours there (the prior's centre
    counts as a neighbour), at least ``min_bandwidth``: kernels are narrow where good
    points crowd and wide where they are alone. With ``bandwidth_cap`` it is also at most
    ``bandwidth_cap * m ** (-1 / (d + 4))`` (Scott's rule for ``m`` points in ``d``
    dimensions): a gap in one coordinate says nothing about the others, and in several
    dimensions a lone point's kernel would otherwise spread over the whole cube.
    ``multivariate=False`` treats the coordinates independently (a product of
    one-dimensional mixtures, as in the original TPE) instead of one product kernel per
    point.
    """

    def __init__(
        self,
        points: np.ndarray,
        layout: CubeLayout,
        *,
        prior_weight: float = 1.0,
        min_bandwidth: float = 0.0,
        multivariate: bool = True,
        bandwidth_cap: float | None = None,
        _gaps: np.ndarray | None = None,
    ) -> None:
        self.multivariate = multivariate
        self._min_bandwidth = min_bandwidth
        self._prior_weight = prior_weight
        self._quad: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._marginal_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.layout = layout
        self.points = points
        m, d = points.shape
        self.m = m
        cat = layout.categorical
        self._cat = cat
        nan = np.isnan(points)
        active = ~nan
        floor = np.maximum(layout.min_bandwidth, min_bandwidth)
        factor = max(m, 1) ** (-1.0 / (d + 4))
        # --- categorical: probability of moving off the observed choice
        k = layout.n_choices
        plain = not layout.any_categorical and bool(active.all())  # numbers, all active
        self.move = (layout.no_move if not layout.any_categorical else
                     np.where(cat, (k - 1) / np.maximum(k, 1) * min(0.5, 0.6 * factor), 0.0))
        num = ~cat
        # normalisers of the truncated kernels, per point and coordinate
        gaps = _neighbor_bandwidths(points, floor, nan) if _gaps is None else _gaps
        self._gaps = gaps
        if bandwidth_cap is not None and m:
            cap = np.maximum(bandwidth_cap * factor, floor)  # never below the floor
            gaps = (np.minimum(gaps, cap[None, :]) if plain
                    else np.where(active, np.minimum(gaps, cap[None, :]), 1.0))
        h = gaps if plain else np.where(num[None, :], gaps, 1.0)
        self.bandwidth = h
        mu = points if plain else np.where(active & num, points, 0.5)
        self._mu = mu
        self._h = h
        log_norm = _log_normalisers(mu, h)
        self._log_norm = log_norm if plain else np.where(active & num, log_norm, 0.0)
        self._active = active
        self._plain = plain
        self._log_prior = layout.log_prior
        total = m + prior_weight
        self._log_w_point = math.log(1.0 / total) if m else -math.inf
        self._log_w_prior = math.log(prior_weight / total) if prior_weight > 0 else -math.inf
        self._p_prior = prior_weight / total
        # categorical indices of the points (-1 where inactive or numeric; only read for
        # categorical coordinates, so none are kept when there are none)
        self._cat_idx = (_NO_CHOICES if plain else np.where(
            active & cat, np.floor(np.nan_to_num(points) * np.maximum(k, 1)), -1
        ).astype(np.int64))

    def independent(self) -> ParzenEstimator:
        """The same points as independent one-dimensional mixtures with no bandwidth
        cap (what ``multivariate=False`` and ``bandwidth_cap=None`` give), reusing this
        estimator's neighbour gaps."""
        if not self._plain:
            return ParzenEstimator(self.points, self.layout, prior_weight=self._prior_weight,
                                   min_bandwidth=self._min_bandwidth, multivariate=False,
                                   _gaps=self._gaps)
        # numbers only: all but the bandwidths and their normalisers is this estimator's
        twin = object.__new__(ParzenEstimator)  # a shallow copy, as copy.copy makes it
        twin.__dict__.update(self.__dict__)
        twin.multivariate = False
        twin._quad = twin._marginal_cache = None
        twin.bandwidth = twin._h = self._gaps
        # where the cap left a bandwidth as it was, so is its normaliser
        capped = self._h != self._gaps
        if capped.any():
            twin._log_norm = self._log_norm.copy()
            twin._log_norm[capped] = _log_normalisers(self._mu[capped], self._gaps[capped])
        return twin

    # ------------------------------------------------------------------ density

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Log density of each row of ``x`` (NaN coordinates are marginalised out)."""
        n = x.shape[0]
        if self.m == 0:
            return np.full(n, self._log_prior + self._log_w_prior)
        nan = np.isnan(x)
        if self._plain and not nan.any():  # numbers only, every coordinate active
            if self.multivariate:
                return self._log_pdf_numbers(x)
            if self._prior_weight > 0:
                return self._log_pdf_marginal_numbers(x)
        x_active = ~nan
        xv = np.nan_to_num(x, nan=0.5)
        if not self.multivariate:
            return self._log_pdf_independent(x, x_active, xv)
        num = ~self._cat
        if x_active.all() and self._active.all():
            # every coordinate active: the Gaussian exponents as matrix products
            if self._quad is None:
                inv = 1.0 / self._h[:, num] ** 2  # m x d'
                mu = self._mu[:, num]
                self._quad = (inv.T.copy(), (mu * inv).T.copy(),
                              -0.5 * (mu * mu * inv).sum(axis=1)
                              + self._log_norm[:, num].sum(axis=1))
            inv_t, mu_inv_t, const = self._quad
            xn = xv[:, num]
            log_k = -0.5 * ((xn * xn) @ inv_t) + xn @ mu_inv_t + const
            for j in np.flatnonzero(self._cat):
                term = self._term(int(j), xv[:, j])
                if term is not None:
                    log_k += term
        else:
            both = x_active[:, None, :] & self._active[None, :, :]  # n x m x d
            z = (xv[:, None, num] - self._mu[None, :, num]) / self._h[None, :, num]
            terms = -0.5 * z * z + self._log_norm[None, :, num]
            log_k = np.where(both[:, :, num], terms, 0.0).sum(axis=2)
            for j in np.flatnonzero(self._cat):
                term = self._term(int(j), xv[:, j])
                if term is not None:
                    log_k += np.where(both[:, :, j], term, 0.0)
        # coordinates where x is active but a point is not: uniform density (1 or 1/k)
        log_uniform = self.layout.log_uniform
        if self._cat.any():
            missing = x_active[:, None, :] & ~self._active[None, :, :]
            log_k += (missing * log_uniform[None, None, :]).sum(axis=2)
        mixture = _logsumexp_rows(log_k) + self._log_w_point
        prior = self._log_w_prior + (x_active * log_uniform[None, :]).sum(axis=1)
        return np.logaddexp(mixture, prior)

    def _log_pdf_numbers(self, x: np.ndarray) -> np.ndarray:
        """:meth:`log_pdf` (multivariate) when every coordinate is an active number: the
        Gaussian exponents as matrix products; the prior's density is 1."""
        if self._quad is None:
            inv = 1.0 / self._h ** 2  # m x d
            mu = self._mu
            self._quad = (inv.T.copy(), (mu * inv).T.copy(),
                          -0.5 * (mu * mu * inv).sum(axis=1) + self._log_norm.sum(axis=1))
        inv_t, mu_inv_t, const = self._quad
        log_k = -0.5 * ((x * x) @ inv_t) + x @ mu_inv_t + const
        out: np.ndarray = np.logaddexp(_logsumexp_rows(log_k) + self._log_w_point,
                                       self._log_w_prior)
        return out

    def _log_pdf_marginal_numbers(self, x: np.ndarray) -> np.ndarray:
        """:meth:`log_pdf` (independent, with a prior) when every coordinate is an active
        number: all coordinates at once, one row of kernels per (coordinate, candidate).
        The prior's share keeps every density away from 0, so kernels that underflow to 0
        change nothing."""
        if self._marginal_cache is None:
            self._marginal_cache = (self._mu.T.copy(), (1.0 / self._h).T.copy(),
                                    np.exp(self._log_norm).T.copy())
        mu_t, inv_h_t, norm_t = self._marginal_cache  # d x m each
        z = (x.T[:, :, None] - mu_t[:, None, :]) * inv_h_t[:, None, :]  # d x n x m
        np.multiply(z, z, out=z)
        np.multiply(z, -0.5, out=z)
        # exp() is several times slower where it underflows; a kernel below e^-500 of its
        # peak adds nothing next to the prior's share, so its exponent is clamped
        np.maximum(z, _EXPONENT_FLOOR, out=z)
        np.exp(z, out=z)
        mass = np.einsum("dnm,dm->dn", z, norm_t)  # d x n
        out: np.ndarray = np.log((mass + self._prior_weight)
                                 / (self.m + self._prior_weight)).sum(axis=0)
        return out

    def _term(self, j: int, xj: np.ndarray) -> np.ndarray | None:
        """Log kernel of every point in coordinate ``j`` at values ``xj`` (n x m)."""
        if not self._cat[j]:
            z = (xj[:, None] - self._mu[:, j][None, :]) / self._h[:, j][None, :]
            out: np.ndarray = -0.5 * z * z + self._log_norm[:, j][None, :]
            return out
        k = int(self.layout.n_choices[j])
        if k < 2:
            return None
        xi = np.floor(xj * k).astype(np.int64)
        same = xi[:, None] == self._cat_idx[:, j][None, :]
        w = self.move[j]
        return np.where(same, math.log(1.0 - w), math.log(w / (k - 1)))

    def _log_pdf_independent(
        self, x: np.ndarray, x_active: np.ndarray, xv: np.ndarray
    ) -> np.ndarray:
        """Sum over coordinates of one-dimensional mixtures (univariate TPE)."""
        n, d = x.shape
        total = np.zeros(n)
        for j in range(d):
            act = self._active[:, j]
            m_j = int(act.sum())
            k = int(self.layout.n_choices[j]) if self._cat[j] else 1
            log_uniform = -math.log(k) if k > 1 else 0.0
            norm = m_j + self._prior_weight
            log_prior = (math.log(self._prior_weight / norm) if self._prior_weight > 0
                         else -math.inf) + log_uniform
            term = self._term(j, xv[:, j]) if m_j else None
            if term is None:
                dens = np.full(n, log_prior if m_j else log_uniform)
            else:
                mix = _logsumexp_rows(np.where(act[None, :], term, -np.inf)) - math.log(norm)
                dens = np.logaddexp(mix, log_prior)
            total += np.where(x_active[:, j], dens, 0.0)
        return total

    # ------------------------------------------------------------------ sampling

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` rows drawn from the mixture (inactive coordinates drawn uniformly)."""
        d = self.points.shape[1] if self.points.ndim == 2 else len(self.layout.n_choices)
        out = rng.random((n, d))
        if self.m == 0:
            return out
        from_prior = rng.random(n) < self._p_prior
        which = rng.integers(0, self.m, size=n)
        u = rng.random((n, d))
        if self._plain:  # numbers only, all active: every coordinate at once
            return self._sample_numbers(rng, n, out, from_prior, which, u)
        for j in range(d):
            if not self.multivariate:  # each coordinate from its own component
                act_j = np.flatnonzero(self._active[:, j])
                if len(act_j) == 0:
                    continue
                which = act_j[rng.integers(0, len(act_j), size=n)]
                from_prior = rng.random(n) < self._prior_weight / (
                    len(act_j) + self._prior_weight)
            act = self._active[which, j] & ~from_prior
            if not act.any():
                continue
            if self._cat[j]:
                k = int(self.layout.n_choices[j])
                if k < 2:
                    continue
                keep = u[:, j] >= self.move[j]
                own = self._cat_idx[which, j]
                shift = rng.integers(1, k, size=n)
                idx = np.where(keep, own, (own + shift) % k)
                out[:, j] = np.where(act, (idx + 0.5) / k, out[:, j])
            else:
                mu = self._mu[which, j]
                h = self._h[which, j]
                lo, hi = ndtr(-mu / h), ndtr((1.0 - mu) / h)
                p = lo + u[:, j] * (hi - lo)
                v = mu + h * ndtri(np.clip(p, 1e-12, 1 - 1e-12))
                out[:, j] = np.where(act, np.clip(v, 0.0, 1.0), out[:, j])
        return out


    def _sample_numbers(
        self, rng: np.random.Generator, n: int, out: np.ndarray, from_prior: np.ndarray,
        which: np.ndarray, u: np.ndarray,
    ) -> np.ndarray:
        """:meth:`sample` when every coordinate is a number and every point is active: the
        same draws in the same order, the truncated-Gaussian inversions done at once."""
        d = out.shape[1]
        if self.multivariate:  # one component per row
            mu, h = self._mu[which], self._h[which]
            keep = ~from_prior[:, None]
        else:  # a component and a prior coin per coordinate, drawn coordinate by coordinate
            comp = np.empty((n, d), dtype=np.int64)
            keep = np.empty((n, d), dtype=bool)
            share = self._prior_weight / (self.m + self._prior_weight)
            for j in range(d):
                comp[:, j] = rng.integers(0, self.m, size=n)
                keep[:, j] = ~(rng.random(n) < share)
            cols = np.arange(d)
            mu, h = self._mu[comp, cols], self._h[comp, cols]
        lo, hi = ndtr(-mu / h), ndtr((1.0 - mu) / h)
        p = lo + u * (hi - lo)
        # np.minimum(np.maximum()) is np.clip without its argument handling
        v = mu + h * ndtri(np.minimum(np.maximum(p, 1e-12), 1 - 1e-12))
        result: np.ndarray = np.where(keep, np.minimum(np.maximum(v, 0.0), 1.0), out)
        return result


def _log_normalisers(mu: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Log of the factor that makes a Gaussian kernel (centre ``mu``, width ``h``)
    truncated to [0, 1] a density. The kernel's mass on [0, 1] is 1 to double precision
    unless the centre lies within 8 widths of an edge, so only those are computed."""
    low, high = mu / h, (1.0 - mu) / h
    near = (low < 8.0) | (high < 8.0)
    if near.all():  # (every kernel of a small or tightly capped set) no gather or scatter
        log_mass = np.log(np.maximum(ndtr(high) - ndtr(-low), 1e-300))
    else:
        log_mass = np.zeros_like(mu)
        if near.any():
            mass = ndtr(high[near]) - ndtr(-low[near])
            log_mass[near] = np.log(np.maximum(mass, 1e-300))
    out: np.ndarray = -log_mass - np.log(h) - _LOG_SQRT_2PI
    return out


def _neighbor_bandwidths(
    points: np.ndarray, floor: np.ndarray, nan: np.ndarray | None = None
) -> np.ndarray:
    """Per point and coordinate: the larger gap to its neighbours among the points (the
    prior's centre 0.5 included), clipped to ``[floor, 1]``; 1 where inactive (``nan``:
    ``np.isnan(points)`` when the caller has it)."""
    m, d = points.shape
    if nan is None:
        nan = np.isnan(points)
    any_nan = bool(nan.any())
    rows, zeros, halves, ones = _columns(d)
    # One row per coordinate (contiguous sorts), the prior's centre last.
    allv = np.concatenate((np.where(nan, np.inf, points).T if any_nan else points.T, halves),
                          axis=1)
    order, srt = _stable_argsort_rows(allv)
    # 0, the sorted values (inactive ones at 1), 1
    pad = np.concatenate((zeros, np.where(np.isinf(srt), 1.0, srt) if any_nan else srt, ones),
                         axis=1)
    best = np.maximum(srt - pad[:, :m + 1], pad[:, 2:] - srt)
    gap = np.empty_like(best)
    gap[rows, order] = best  # back to the points' order
    out = np.minimum(np.maximum(gap[:, :m].T, floor[None, :]), 1.0)
    return np.where(nan, 1.0, out) if any_nan else out


@functools.lru_cache(maxsize=16)
def _columns(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For ``d`` coordinates: the row indices as a column, and columns of 0, 0.5 and 1
    (read-only, shared)."""
    out = (np.arange(d)[:, None], np.zeros((d, 1)), np.full((d, 1), 0.5), np.ones((d, 1)))
    for a in out:
        a.setflags(write=False)
    return out


def _stable_argsort_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.argsort(a, axis=1, kind="stable")`` and the sorted rows. A row without equal
    values has one sorted order, so the (faster) default sort is used there; rows with
    ties are sorted again stably, so tied points keep the same order every time."""
    order = np.argsort(a, axis=1)
    rows = _columns(a.shape[0])[0]
    srt = a[rows, order]
    tied = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
    if len(tied):
        order[tied] = np.argsort(a[tied], axis=1, kind="stable")
        srt[tied] = a[tied[:, None], order[tied]]
    return order, srt


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """log(sum(exp(a), axis=1)) without overflow (rows of -inf give -inf)."""
    top = a.max(axis=1)
    if np.isfinite(top).all():  # every row's sum is at least 1: e^-500 terms add nothing
        shifted = a - top[:, None]
        np.maximum(shifted, _EXPONENT_FLOOR, out=shifted)
        np.exp(shifted, out=shifted)
        total: np.ndarray = np.log(shifted.sum(axis=1)) + top
        return total
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out: np.ndarray = np.log(np.exp(a - safe[:, None]).sum(axis=1)) + safe
    return out
