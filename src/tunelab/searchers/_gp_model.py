"""The Gaussian-process model behind :class:`tunelab.searchers.gp.GPSearcher`.

Plain NumPy/SciPy, no autograd:

* a Matérn-5/2 kernel with one length scale per parameter (ARD), a signal variance and a
  noise variance, ``k(r) = s2 (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r)`` with
  ``r^2 = sum_j d_j^2 / l_j^2``;
* hyperparameters ``theta = (log l_1..l_p, log s2, log noise)`` fitted by maximising the
  log marginal likelihood plus log priors, with analytic gradients and L-BFGS-B;
* the posterior (mean, variance and their gradients in the inputs);
* log expected improvement computed stably (Ament et al. 2023, "Unexpected improvements to
  expected improvement for Bayesian optimization"), with its gradient.

Inputs are rows of model coordinates: a number in [0, 1] for a numeric parameter, and the
choice index (``-1`` when inactive) for a categorical one. A categorical parameter enters
the kernel as a one-hot vector scaled so that two different choices are at distance 1 (all
choices equidistant; an inactive one is at distance 1/sqrt(2) from every choice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack
from scipy.optimize import minimize
from scipy.special import erfcx, log_ndtr, ndtr

__all__ = [
    "GP",
    "Pairs",
    "fit_theta",
    "log_ei",
    "log_h",
    "neg_log_posterior",
    "pairwise_sq",
    "theta_bounds",
]

SQRT5 = math.sqrt(5.0)
_LOG_2PI = math.log(2 * math.pi)
_C1 = 0.5 * _LOG_2PI  # log sqrt(2 pi)
_C2 = 0.5 * math.log(math.pi / 2)  # log sqrt(pi / 2)
_INV_SQRT_EPS = 1.0 / math.sqrt(np.finfo(float).eps)

#: Bounds on the hyperparameters (inputs on the unit cube, outputs standardised). The noise
#: floor is low because the outputs are standardised over the whole history: on Branin (range
#: ~300, std ~50) a floor of 1e-6 is a noise s.d. of ~0.05 in loss units, which hid the last
#: digits of the minimum (mean gap 5e-5 at 100 trials); at 1e-9 the gap is ~1e-6. A kernel
#: matrix that does not factor gets more noise (see ``GPSearcher._fit``).
LENGTH_BOUNDS = (5e-3, 50.0)
SIGNAL_BOUNDS = (0.05, 20.0)
NOISE_BOUNDS = (1e-9, 1.0)


def theta_bounds(p: int) -> list[tuple[float, float]]:
    """L-BFGS-B bounds of ``theta`` for ``p`` parameters."""
    return [(math.log(LENGTH_BOUNDS[0]), math.log(LENGTH_BOUNDS[1]))] * p + [
        (math.log(SIGNAL_BOUNDS[0]), math.log(SIGNAL_BOUNDS[1])),
        (math.log(NOISE_BOUNDS[0]), math.log(NOISE_BOUNDS[1])),
    ]


# ---------------------------------------------------------------------------- kernel


def _onehot(z: np.ndarray, cat: np.ndarray, n_choices: np.ndarray) -> list[np.ndarray]:
    """One-hot blocks (scaled by 1/sqrt2) of the categorical columns of ``z``."""
    blocks = []
    for j in np.flatnonzero(cat):
        idx = z[:, j].astype(int)
        block = np.zeros((len(z), int(n_choices[j])))
        rows = np.flatnonzero(idx >= 0)
        block[rows, idx[rows]] = math.sqrt(0.5)
        blocks.append(block)
    return blocks


def pairwise_sq(z: np.ndarray, cat: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Squared per-parameter distances between rows ``rows`` and ``cols`` of ``z``:
    shape ``(len(rows), p)``."""
    a, b = z[rows], z[cols]
    out = a - b
    out *= out
    for j in np.flatnonzero(cat):
        ca, cb = a[:, j], b[:, j]
        # different choices: 1; one inactive: 1/2; same choice or both inactive: 0
        out[:, j] = np.where(ca == cb, 0.0, np.where((ca < 0) | (cb < 0), 0.5, 1.0))
    return out


def _matern(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``M(r)`` and ``G(r) = -M'(r) / r = 5/3 (1 + sqrt5 r) exp(-sqrt5 r)``."""
    t = SQRT5 * r
    e = np.exp(-t)
    g = (1.0 + t) * e
    m = (t * t) * (e / 3.0)
    m += g
    g *= 5.0 / 3.0
    return m, g


def _matern_value(r: np.ndarray) -> np.ndarray:
    """``M(r)``; overwrites ``r`` (fewer passes over a large array than :func:`_matern`)."""
    r *= SQRT5
    e = np.negative(r)
    np.exp(e, out=e)
    out = r * r
    out *= 1.0 / 3.0
    out += r
    out += 1.0
    out *= e
    return out


def _log_prior(theta: np.ndarray) -> tuple[float, np.ndarray]:
    """Log prior of ``theta`` (up to a constant) and its gradient.

    Length scales: ``-0.1 (l^2 + 1 / l^2)`` each, which favours ``l`` near 1 and keeps it
    away from both extremes; signal variance: Gamma(2, 1); noise variance: Gamma(1.1, 30).
    """
    p = len(theta) - 2
    grad = np.empty_like(theta)
    a = np.exp(2.0 * theta[:p])
    ai = 1.0 / a
    value = -0.1 * float(np.sum(a + ai))
    grad[:p] = -0.2 * (a - ai)
    s2, noise = math.exp(theta[p]), math.exp(theta[p + 1])
    value += theta[p] - s2 + 0.1 * theta[p + 1] - 30.0 * noise
    grad[p] = 1.0 - s2
    grad[p + 1] = 0.1 - 30.0 * noise
    return value, grad


class Pairs:
    """The distinct pairs of training inputs: squared per-parameter distances of the
    lower triangle (``d2``, shape ``(n (n - 1) / 2, p)``) and their flat indices."""

    def __init__(self, z: np.ndarray, cat: np.ndarray) -> None:
        n = len(z)
        rows, cols = np.tril_indices(n, -1)
        self.n = n
        self.flat = rows * n + cols
        self.rows, self.cols = rows, cols
        self.d2 = pairwise_sq(z, cat, rows, cols)


def neg_log_posterior(
    theta: np.ndarray, pairs: Pairs, y: np.ndarray
) -> tuple[float, np.ndarray]:
    """Minus (log marginal likelihood + log prior) and its gradient in ``theta``.

    ``pairs`` describes the inputs, ``y`` holds the standardised outputs. The gradient of
    the log likelihood is ``1/2 tr((alpha alpha^T - K^-1) dK/dtheta)``; as every matrix
    is symmetric, only the lower triangle is computed.
    """
    n = len(y)
    p = len(theta) - 2
    inv_l2 = np.exp(-2.0 * theta[:p])
    s2, noise = math.exp(theta[p]), math.exp(theta[p + 1])
    r = np.sqrt(pairs.d2 @ inv_l2)
    sr = SQRT5 * r
    e = np.exp(-sr)
    g = (1.0 + sr) * e  # -M'(r) / r = 5/3 g
    m = g + (5.0 / 3.0) * (r * r) * e
    k = np.empty((n, n))
    k.ravel()[pairs.flat] = s2 * m
    k.flat[:: n + 1] = s2 + noise
    chol, info = lapack.dpotrf(k, lower=1, clean=0, overwrite_a=1)
    if info != 0:
        return 1e25, np.zeros_like(theta)
    alpha = lapack.dpotrs(chol, y, lower=1)[0]
    log_det = 2.0 * float(np.sum(np.log(chol.ravel()[:: n + 1])))
    kinv, info = lapack.dpotri(chol, lower=1, overwrite_c=1)
    if info != 0:
        return 1e25, np.zeros_like(theta)
    kflat = kinv.ravel()
    w = alpha[pairs.rows] * alpha[pairs.cols] - kflat[pairs.flat]  # lower triangle of W
    trace_w = float(alpha @ alpha - np.sum(kflat[:: n + 1]))
    lml = -0.5 * float(y @ alpha) - 0.5 * log_det - 0.5 * n * _LOG_2PI
    grad = np.empty_like(theta)
    # two triangles: 1/2 * 2 = 1; the diagonal of dK/dlog l is zero
    grad[:p] = (5.0 / 3.0) * s2 * inv_l2 * (pairs.d2.T @ (w * g))
    grad[p] = s2 * (float(w @ m) + 0.5 * trace_w)
    grad[p + 1] = 0.5 * noise * trace_w
    prior, prior_grad = _log_prior(theta)
    return -(lml + prior), -(grad + prior_grad)


def fit_theta(
    z: np.ndarray,
    y: np.ndarray,
    cat: np.ndarray,
    starts: list[np.ndarray],
    maxfun: int = 60,
    ftol: float = 1e-6,
) -> np.ndarray:
    """The MAP hyperparameters: L-BFGS-B from each start, the best optimum wins."""
    pairs = Pairs(z, cat)
    bounds = theta_bounds(z.shape[1])
    best_theta, best_value = starts[0], math.inf
    for start in starts:
        res = minimize(
            neg_log_posterior,
            start,
            args=(pairs, y),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxfun": maxfun, "ftol": ftol},
        )
        if np.isfinite(res.fun) and res.fun < best_value:
            best_theta, best_value = np.asarray(res.x, dtype=float), float(res.fun)
    return best_theta


# ---------------------------------------------------------------------------- posterior


@dataclass
class GP:
    """A Gaussian process conditioned on ``(z, y)`` with fixed hyperparameters ``theta``."""

    z: np.ndarray
    y: np.ndarray
    theta: np.ndarray
    cat: np.ndarray
    n_choices: np.ndarray

    def __post_init__(self) -> None:
        p = self.z.shape[1]
        self.lengths = np.exp(self.theta[:p])
        self.s2 = math.exp(self.theta[p])
        self.noise = math.exp(self.theta[p + 1])
        self._num = np.flatnonzero(~self.cat)
        self._factor()

    def _features(self, z: np.ndarray) -> np.ndarray:
        blocks = [z[:, self._num] / self.lengths[self._num]]
        cat_l = self.lengths[self.cat]
        for block, length in zip(_onehot(z, self.cat, self.n_choices), cat_l, strict=True):
            blocks.append(block / length)
        return np.hstack(blocks)

    def _factor(self) -> None:
        self._f = self._features(self.z)
        self._f2 = np.einsum("ij,ij->i", self._f, self._f)
        k = self._cross(self._f, self._f2)
        k.flat[:: len(self.y) + 1] = self.s2 + self.noise
        chol, info = lapack.dpotrf(k, lower=1, clean=1)
        if info != 0:
            raise np.linalg.LinAlgError("the kernel matrix is not positive definite")
        self._alpha = lapack.dpotrs(chol, self.y, lower=1)[0]
        # the inverse factor: variances by one matrix product, accurate to ~eps sqrt(cond K)
        self._linv = lapack.dtrtri(chol, lower=1)[0]

    def _radius(self, f: np.ndarray, f2: np.ndarray) -> np.ndarray:
        r2 = f @ (-2.0 * self._f.T)
        r2 += f2[:, None]
        r2 += self._f2[None, :]
        np.maximum(r2, 0.0, out=r2)
        return np.sqrt(r2, out=r2)

    def _cross(self, f: np.ndarray, f2: np.ndarray) -> np.ndarray:
        k = _matern_value(self._radius(f, f2))
        k *= self.s2
        return k

    def predict(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of the latent function at the rows of ``z``."""
        f = self._features(z)
        kx = self._cross(f, np.einsum("ij,ij->i", f, f))
        mean = kx @ self._alpha
        v = kx @ self._linv.T
        var = self.s2 - np.einsum("ij,ij->i", v, v)
        return mean, np.maximum(var, 1e-12 * self.s2)

    def predict_grad(
        self, z: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients in the numeric coordinates of ``z``
        (zero in the categorical ones)."""
        f = self._features(z)
        r = self._radius(f, np.einsum("ij,ij->i", f, f))
        m, g = _matern(r)
        kx = self.s2 * m
        mean = kx @ self._alpha
        v = kx @ self._linv.T
        var = self.s2 - np.einsum("ij,ij->i", v, v)
        w = v @ self._linv  # K^-1 k, one row per point
        num = self._num
        # dk/dz_j = -s2 G(r) (z_j - z'_j) / l_j^2
        scale = self.s2 * g  # (m, n)
        inv_l2 = 1.0 / self.lengths[num] ** 2
        zn, tn = z[:, num], self.z[:, num]
        dmean = np.zeros(z.shape)
        dvar = np.zeros(z.shape)
        # sum_n c_n (z_j - t_nj) = z_j sum_n c_n - (c @ t)_j
        ca = scale * self._alpha[None, :]
        dmean[:, num] = -(zn * ca.sum(axis=1)[:, None] - ca @ tn) * inv_l2
        cw = scale * w
        dvar[:, num] = 2.0 * (zn * cw.sum(axis=1)[:, None] - cw @ tn) * inv_l2
        floor = 1e-12 * self.s2
        small = var < floor
        dvar[small] = 0.0
        return mean, np.maximum(var, floor), dmean, dvar

    def with_fantasies(self, z: np.ndarray) -> GP:
        """The GP after observing its own mean at ``z`` (kriging believer): the mean is
        unchanged, the variance shrinks around ``z``."""
        if len(z) == 0:
            return self
        mean, _ = self.predict(z)
        return GP(np.vstack([self.z, z]), np.concatenate([self.y, mean]), self.theta,
                  self.cat, self.n_choices)


# ---------------------------------------------------------------------------- log EI


def _log1mexp(a: np.ndarray) -> np.ndarray:
    """``log(1 - exp(a))`` for ``a < 0``, accurate on both sides of -log 2."""
    out = np.empty_like(a)
    near = a > -math.log(2.0)
    out[near] = np.log(-np.expm1(a[near]))
    out[~near] = np.log1p(-np.exp(a[~near]))
    return out


def log_h(z: np.ndarray) -> np.ndarray:
    """``log(phi(z) + z Phi(z))``, finite for every finite ``z`` (EI = sigma h(z))."""
    z = np.asarray(z, dtype=float)
    upper = z > -1.0
    if upper.all():  # the direct formula is accurate here
        return np.log(z * ndtr(z) + np.exp(-0.5 * z * z - _C1))
    out = np.empty_like(z)
    zu = z[upper]
    out[upper] = np.log(zu * ndtr(zu) + np.exp(-0.5 * zu * zu - _C1))
    zl = z[~upper]
    far = zl < -_INV_SQRT_EPS
    mid = zl[~far]
    res = np.empty_like(zl)
    # h(z) = phi(z) (1 - |z| sqrt(pi/2) erfcx(-z / sqrt2)) for z <= -1
    res[~far] = -0.5 * mid * mid - _C1 + _log1mexp(
        np.log(erfcx(-mid / math.sqrt(2.0)) * np.abs(mid)) + _C2
    )
    zf = zl[far]
    res[far] = -0.5 * zf * zf - _C1 - 2.0 * np.log(np.abs(zf))  # h ~ phi(z) / z^2
    out[~upper] = res
    return out


def log_ei(
    mean: np.ndarray, var: np.ndarray, best: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log expected improvement below ``best`` and its derivatives in mean and variance."""
    sigma = np.sqrt(var)
    z = (best - mean) / sigma
    lh = log_h(z)
    value = np.log(sigma) + lh
    ratio = np.exp(log_ndtr(z) - lh)  # h'(z) / h(z) = Phi(z) / h(z)
    d_mean = -ratio / sigma
    d_var = (1.0 - ratio * z) / (2.0 * var)
    return value, d_mean, d_var
