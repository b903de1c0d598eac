"""A REINFORCE controller as a searcher (Zoph and Le 2017; Pham et al. 2018, ENAS).

The policy samples a configuration token by token, one token per parameter in the space's
order: the logits of token ``t`` are a bias plus a row chosen by the previous token's
value (an autoregressive softmax policy, a first-order stand-in for the papers' LSTM).
Each finished trial is one episode; its reward (the target metric, negated when it is
minimised) updates the policy by the policy gradient ``A * grad log p(config)`` with the
advantage ``A`` taken against an exponential moving-average baseline, plus an entropy
bonus. The policy is NumPy only and is replayed from the trial history in trial-number
order, so the searcher's state is a function of the history and its seed (a resumed study
proposes what the original would have).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunelab._errors import InvalidArgumentError
from tunelab.searchers import Searcher
from tunelab.space import Categorical, Config, Param, Space, Value, config_key
from tunelab.trial import Trial, TrialStatus

__all__ = ["ReinforceController"]

RETRIES = 16  # draws before proposing a configuration already in the study anyway
FINAL = (TrialStatus.COMPLETE, TrialStatus.STOPPED)


def _choices(param: Param, bins: int) -> list[Value]:
    if isinstance(param, Categorical):
        return list(param.choices)
    values: list[Value] = []
    for i in range(bins):
        v = param.from_unit((i + 0.5) / bins)
        if v not in values:
            values.append(v)
    if param.is_discrete:
        grid = param.grid(bins)
        if len(grid) <= bins:
            return grid
    return values


def _token(choices: Sequence[Value], value: Value) -> int | None:
    for i, c in enumerate(choices):
        if type(c) is type(value) and c == value:
            return i
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        nums = [(abs(float(c) - float(value)), i) for i, c in enumerate(choices)
                if isinstance(c, (int, float)) and not isinstance(c, bool)]
        if nums:
            return min(nums)[1]
    return None


@dataclass
class _Policy:
    """The logits: ``bias[t]`` (K_t) and ``table[t]`` (K_{t-1} x K_t) for t >= 1."""

    bias: list[np.ndarray]
    table: list[np.ndarray]
    baseline: float | None = None
    scale: float = 0.0  # moving average of the squared advantage
    episodes: list[tuple[int, float]] = field(default_factory=list)

    @classmethod
    def uniform(cls, sizes: Sequence[int]) -> _Policy:
        return cls([np.zeros(k) for k in sizes],
                   [np.zeros((0, 0))] + [np.zeros((a, b)) for a, b in itertools.pairwise(sizes)])

    def logits(self, t: int, prev: int | None) -> np.ndarray:
        z = self.bias[t]
        return z if prev is None else z + self.table[t][prev]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return np.asarray(e / e.sum())


class ReinforceController(Searcher):
    """REINFORCE over a discrete space (architecture cells, or any space: numeric
    parameters are cut into ``bins`` values; a conditional parameter is a token only when
    it is active).

    ``lr`` is the step of the policy gradient, ``baseline_decay`` the weight of the old
    baseline in its moving average, ``entropy_weight`` the entropy bonus; with
    ``normalize`` the advantage is divided by the moving root-mean-square advantage, so
    the step does not depend on the metric's scale. A proposal already in the study is
    redrawn a few times. Trials count once they are COMPLETE or STOPPED (a trial stopped
    early by ASHA rewards with its value at the rung where it stopped).

    >>> from tunelab import Categorical, Space, Trial, TrialStatus
    >>> from tunelab.nas import ReinforceController
    >>> space = Space({f"x{i}": Categorical(["a", "b", "c"]) for i in range(4)})
    >>> ctl = ReinforceController(lr=0.3, seed=0)
    >>> ctl.setup("ones", "max")
    >>> history = []
    >>> for n in range(150):
    ...     c = ctl.suggest(space, history, n)
    ...     r = sum(v == "a" for v in c.values())
    ...     history.append(Trial(n, TrialStatus.COMPLETE, c, value=r, metrics={"ones": r}))
    >>> bool(ctl.probabilities(space, history)[0][0] > 0.6)
    True
    """

    name = "reinforce"

    def __init__(
        self,
        lr: float = 0.2,
        baseline_decay: float = 0.9,
        entropy_weight: float = 0.01,
        normalize: bool = True,
        bins: int = 8,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        for key, value, low, high in (("lr", lr, 0.0, math.inf),
                                      ("baseline_decay", baseline_decay, 0.0, 1.0),
                                      ("entropy_weight", entropy_weight, 0.0, math.inf)):
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not math.isfinite(value) or not low <= value < high
                    or (key == "lr" and value == 0)):
                allowed = "> 0" if key == "lr" else f"in [{low}, {high})"
                raise InvalidArgumentError(f"`{key}` must be a number {allowed}; got {value!r}")
        if not isinstance(normalize, bool):
            raise InvalidArgumentError(f"`normalize` must be True or False; got {normalize!r}")
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise InvalidArgumentError(f"`bins` must be an integer >= 2; got {bins!r}")
        self.lr = float(lr)
        self.baseline_decay = float(baseline_decay)
        self.entropy_weight = float(entropy_weight)
        self.normalize = normalize
        self.bins = bins
        self._cache: tuple[str, _Policy] | None = None

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "lr": self.lr, "baseline_decay": self.baseline_decay,
                "entropy_weight": self.entropy_weight, "normalize": self.normalize,
                "bins": self.bins, "seed": self.seed}

    # ------------------------------------------------------------------ policy

    @staticmethod
    def order(space: Space) -> list[str]:
        """The parameters in token order: declaration order, a condition's parents first."""
        depth: dict[str, int] = {}

        def of(name: str) -> int:
            if name not in depth:
                depth[name] = 1 + max((of(p) for p in space[name].when), default=-1)
            return depth[name]

        return sorted(space.names, key=of)

    def _tokens(self, space: Space) -> list[list[Value]]:
        return [_choices(space[n], self.bins) for n in self.order(space)]

    def _reward(self, trial: Trial) -> float | None:
        if trial.status not in FINAL or trial.is_rerun or trial.value is None:
            return None
        value = float(trial.value)
        if not math.isfinite(value):
            return None
        return value if self.direction == "max" else -value

    def policy(self, space: Space, history: Collection[Trial]) -> _Policy:
        """The policy after replaying every finished trial of ``history`` by number."""
        tokens = self._tokens(space)
        names = self.order(space)
        episodes: list[tuple[int, float, list[int | None]]] = []
        for trial in sorted(history, key=lambda t: t.number):
            reward = self._reward(trial)
            if reward is None:
                continue
            actions = [_token(ch, trial.config[n]) if n in trial.config else None
                       for n, ch in zip(names, tokens, strict=True)]
            if any(a is None and n in trial.config for n, a in zip(names, actions,
                                                                    strict=True)):
                continue  # a value the policy cannot produce (an enqueued config, say)
            episodes.append((trial.number, reward, actions))
        key = space.to_json()
        policy: _Policy
        if (self._cache is not None and self._cache[0] == key
                and [(n, r) for n, r, _ in episodes[: len(self._cache[1].episodes)]]
                == self._cache[1].episodes):
            policy = self._cache[1]
        else:
            policy = _Policy.uniform([len(t) for t in tokens])
        for number, reward, taken in episodes[len(policy.episodes):]:
            self._update(policy, taken, reward)
            policy.episodes.append((number, reward))
        self._cache = (key, policy)
        return policy

    def _update(self, policy: _Policy, actions: list[int | None], reward: float) -> None:
        if policy.baseline is None:
            policy.baseline = reward
        advantage = reward - policy.baseline
        policy.baseline = (self.baseline_decay * policy.baseline
                           + (1 - self.baseline_decay) * reward)
        if self.normalize:
            policy.scale = (self.baseline_decay * policy.scale
                            + (1 - self.baseline_decay) * advantage**2)
            advantage = advantage / math.sqrt(policy.scale) if policy.scale > 0 else 0.0
        prev: int | None = None
        grads = []
        for t, a in enumerate(actions):
            if a is None:  # an inactive conditional parameter: no token
                prev = None
                continue
            p = _softmax(policy.logits(t, prev))
            onehot = np.zeros_like(p)
            onehot[a] = 1.0
            logp = np.log(np.clip(p, 1e-300, None))
            entropy = -float((p * logp).sum())
            grads.append((t, prev, advantage * (onehot - p)
                          - self.entropy_weight * p * (logp + entropy)))
            prev = a
        for t, prev_a, g in grads:  # ascend all tokens at the episode's own policy
            policy.bias[t] += self.lr * g
            if prev_a is not None:
                policy.table[t][prev_a] += self.lr * g

    def probabilities(self, space: Space, history: Collection[Trial]) -> list[np.ndarray]:
        """Each token's marginal probabilities (tokens in :meth:`order`) under the policy
        learnt from ``history``: exact by forward propagation along the chain when every
        parameter is active (conditional parameters are treated as always active)."""
        policy = self.policy(space, history)
        out: list[np.ndarray] = []
        marginal: np.ndarray | None = None
        for t in range(len(policy.bias)):
            if marginal is None:
                marginal = _softmax(policy.logits(t, None))
            else:
                marginal = sum((marginal[k] * _softmax(policy.logits(t, k))
                                for k in range(len(marginal))), np.zeros(len(policy.bias[t])))
            out.append(marginal)
        return out

    # ------------------------------------------------------------------ proposals

    def sample(self, space: Space, policy: _Policy, rng: np.random.Generator) -> Config:
        """Draw one configuration from ``policy``, token by token."""
        config: Config = {}
        prev: int | None = None
        for t, (name, choices) in enumerate(zip(self.order(space), self._tokens(space),
                                                strict=True)):
            if not space.is_active(name, config):
                prev = None
                continue
            p = _softmax(policy.logits(t, prev))
            a = int(rng.choice(len(p), p=p))
            config[name] = choices[a]
            prev = a
        return space.validate({n: config[n] for n in space.names if n in config})

    def suggest(self, space: Space, history: Collection[Trial], number: int) -> Config:
        rng = self.rng(number)
        policy = self.policy(space, history)
        seen = {config_key(t.config) for t in history}
        first: Config | None = None
        for _ in range(RETRIES):
            child = self.sample(space, policy, rng)
            if config_key(child) not in seen:
                return child
            first = child if first is None else first
        assert first is not None
        return first
