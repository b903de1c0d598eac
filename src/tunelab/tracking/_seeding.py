"""Seeding the random number generators a training run uses."""

from __future__ import annotations

import random
import sys

import numpy as np

from tunelab._errors import InvalidArgumentError

__all__ = ["seed_everything"]


def seed_everything(seed: int, *, deterministic_torch: bool = False) -> list[str]:
    """Seed Python's ``random``, NumPy's global generator and, when torch is imported,
    torch (CPU and every GPU) from ``seed``; returns what was seeded.

    Call it first thing in an objective with ``trial.seed`` so that a rerun with the same
    seed (``tunelab repro``) trains the same way. ``deterministic_torch=True`` also asks
    torch for deterministic kernels (slower on GPUs).

    >>> seed_everything(7)[:2]
    ['random', 'numpy']
    >>> a = np.random.rand(); _ = seed_everything(7); a == np.random.rand()
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgumentError(f"`seed` must be an integer >= 0; got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    done = ["random", "numpy"]
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
        if deterministic_torch:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        done.append("torch")
    return done
