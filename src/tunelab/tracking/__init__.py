"""What each trial ran on: environment cards, config hashes and seeding.

* :func:`capture_environment` -- Python and package versions, OS, CPU, memory, GPU and
  CUDA, git commit with a dirty flag and a size-capped diff, the command line;
* :func:`diff_environments` -- what changed between a recorded card and now;
* :func:`seed_everything` -- seed ``random``, NumPy and torch from a trial's seed;
* :func:`config_hash` and :func:`card_hash` -- stable short hashes.
"""

from tunelab.tracking._environment import (
    DIFF_LIMIT,
    EnvironmentDifference,
    capture_environment,
    card_hash,
    config_hash,
    cpu_model,
    current_environment,
    diff_environments,
    git_state,
    redact_argv,
)
from tunelab.tracking._seeding import seed_everything

__all__ = [
    "DIFF_LIMIT",
    "EnvironmentDifference",
    "capture_environment",
    "card_hash",
    "config_hash",
    "cpu_model",
    "current_environment",
    "diff_environments",
    "git_state",
    "redact_argv",
    "seed_everything",
]
