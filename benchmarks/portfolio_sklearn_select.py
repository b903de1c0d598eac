"""An alternative way to choose a portfolio's first configurations, checked only by
cross-validation over the *building* datasets (the held-out datasets play no part):

* ``greedy`` -- what ``tunelab.portfolio.build_portfolio`` does: add, one at a time, the
  configuration that lowers the mean (per-dataset best) normalized regret most;
* ``swap`` -- start from the greedy first ``n`` and swap members for other candidates
  while the set's mean regret on the building folds drops (a local search on the whole
  set of ``n`` rather than one member at a time), then order the set greedily.

    python -m benchmarks.portfolio_sklearn_select

prints, per model and for the pool size and normalization ``build`` chose, the 5-fold
cross-validated regret (mean over left-out building datasets, range-normalized against
the whole table) of the first 1, 3 and 5 configurations of each method. The shipped
portfolios are ``greedy``; ``swap`` is not among the ways of building that ``build``'s
judged cross-validation chooses from (the report shows the comparison).

It also prints, per model, the judged cross-validated regret of the first 5 on the
building datasets of the 300-5,000-row rule with the portfolios built from those alone
and with the larger building datasets added to every fold's training
(:func:`larger_datasets_check`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from tunelab.portfolio import ResultsTable


def greedy_order(regrets: np.ndarray, k: int) -> list[int]:
    """Rows of ``regrets`` (configurations x datasets) chosen greedily: each step adds the
    row that minimises the mean over datasets of the best regret so far (first of equals)."""
    current = np.full(regrets.shape[1], np.inf)
    chosen: list[int] = []
    for _ in range(min(k, regrets.shape[0])):
        means = np.minimum(regrets, current[None, :]).mean(axis=1)
        means[chosen] = np.inf
        best = int(np.argmin(means))
        chosen.append(best)
        current = np.minimum(current, regrets[best])
    return chosen


def set_regret(regrets: np.ndarray, rows: Sequence[int]) -> float:
    """Mean over datasets of the best regret among ``rows``."""
    return float(regrets[list(rows)].min(axis=0).mean())


def swap_refine(regrets: np.ndarray, chosen: Sequence[int]) -> list[int]:
    """Local search on the set ``chosen``: replace one member by another row while that
    lowers :func:`set_regret` (first improvement, until none does); the result is ordered
    greedily within the set."""
    current = list(chosen)
    best = set_regret(regrets, current)
    improved = True
    while improved:
        improved = False
        for i in range(len(current)):
            for j in range(regrets.shape[0]):
                if j in current:
                    continue
                trial = [*current[:i], j, *current[i + 1:]]
                score = set_regret(regrets, trial)
                if score < best - 1e-12:
                    current, best, improved = trial, score, True
    order = greedy_order(regrets[current], len(current))
    return [current[o] for o in order]


def cv_first_n(table: ResultsTable, rows: Sequence[int], normalize: str, method: str,
               folds: int = 5, k: int = 5, ns: Sequence[int] = (1, 3, 5)
               ) -> dict[int, float]:
    """Cross-validated regret of a portfolio's first ``n`` (for each ``n`` in ``ns``):
    the datasets are dealt round robin into ``folds`` groups, as
    ``tunelab.portfolio.cross_validate`` does; the first ``k`` are chosen by ``method``
    (``greedy`` or ``swap``) among ``rows`` on the other groups, with ``normalize``, and
    scored on the group by range-normalized regret against the whole table."""
    if method not in ("greedy", "swap"):
        raise ValueError(f"unknown method {method!r}")
    n = len(table.datasets)
    full = table.regrets("range")
    rows = list(rows)
    pool = ResultsTable([table.configs[i] for i in rows], table.datasets, table.values[rows],
                        table.direction)
    totals = dict.fromkeys(ns, 0.0)
    for f in range(folds):
        test = list(range(f, n, folds))
        train = [j for j in range(n) if j % folds != f]
        reg = pool.subset(train).regrets(normalize)
        picked = greedy_order(reg, k)
        if method == "swap":
            picked = swap_refine(reg, picked)
        chosen = [rows[i] for i in picked]
        for m in ns:
            totals[m] += float(full[np.ix_(chosen[:m], test)].min(axis=0).sum())
    return {m: v / n for m, v in totals.items()}


def compare() -> dict[str, dict[str, dict[int, float]]]:
    """Per model: ``greedy`` and ``swap`` cross-validated regret on the building datasets,
    for the pool size and normalization recorded in the built-in portfolio file."""
    import yaml

    from benchmarks.portfolio_sklearn import BUILTIN, read_journal
    from benchmarks.portfolio_sklearn_eval import building_table
    from benchmarks.portfolio_sklearn_models import MODELS

    journal = read_journal()
    out = {}
    for name in MODELS:
        path = BUILTIN / f"{name}.yaml"
        if not path.exists():
            continue
        meta = yaml.safe_load(path.read_text(encoding="utf-8")).get("meta", {})
        table = building_table(name, journal)
        rows = range(min(int(meta["candidates"]), len(table.configs)))  # incl. default
        norm = str(meta["normalize"])
        out[name] = {m: cv_first_n(table, rows, norm, m) for m in ("greedy", "swap")}
    return out


def larger_datasets_check() -> dict[str, tuple[float, float]]:
    """Per model: the cross-validated regret of the first 5 on the building datasets of
    the 300-5,000-row rule, with the portfolios built from the other folds alone and with
    the larger building datasets added to every fold's training -- whether the larger
    datasets help portfolios carry over, judged on building datasets only. Uses the pool
    size, normalization and way of building each shipped portfolio records."""
    import yaml

    from benchmarks.portfolio_sklearn import BUILTIN, read_journal
    from benchmarks.portfolio_sklearn_eval import (
        BUILD_TEXT,
        BUILD_TEXT_THREE_WAY,
        BUILD_TEXT_TWO_FITS,
        building_measurements,
        building_table,
        cv_with_more_datasets,
    )
    from benchmarks.portfolio_sklearn_holdout import BUILDING_JOURNAL
    from benchmarks.portfolio_sklearn_models import MAX_SOURCE_ROWS, MODELS, source_rows

    journal = read_journal()
    building3 = read_journal(BUILDING_JOURNAL)
    how_of = {text: how for texts in (BUILD_TEXT, BUILD_TEXT_THREE_WAY, BUILD_TEXT_TWO_FITS)
              for how, text in texts.items()}
    out = {}
    for name in MODELS:
        meta = yaml.safe_load((BUILTIN / f"{name}.yaml").read_text(encoding="utf-8"))["meta"]
        table, judge, _ = building_measurements(name, building_table(name, journal), journal,
                                                building3)
        if judge is None:
            continue
        base = [j for j, d in enumerate(table.datasets) if source_rows(d) <= MAX_SOURCE_ROWS]
        more = [j for j, d in enumerate(table.datasets) if source_rows(d) > MAX_SOURCE_ROWS]
        if not more:
            continue
        rows = range(min(int(meta["candidates"]), len(table.configs)))
        args = (table, judge, rows, str(meta["normalize"]), how_of[str(meta["build"])], base)
        out[name] = (cv_with_more_datasets(*args), cv_with_more_datasets(*args, more))
    return out


def main() -> int:
    for name, res in compare().items():
        print(name, {m: {n: round(v, 4) for n, v in r.items()} for m, r in res.items()})
    for name, (alone, more) in larger_datasets_check().items():
        print(name, f"CV regret of the first 5 on the 300-5,000-row building datasets: "
              f"{alone:.4f} from them alone, {more:.4f} with the larger datasets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
