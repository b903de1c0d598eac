"""LightGBM with early stopping decided across trials (ASHA, stopping mode).

``LightGBMCallback`` reports the held-out multi-class log-loss after every boosting
round. Each trial may boost up to the full budget, but at each rung (3, 9, 27... rounds)
it goes on only if it is in the best third of the trials that reached that rung so far;
otherwise training ends there, like LightGBM's own early stopping, but judged against
the other configurations instead of the trial's own past.

    python examples/lightgbm_callback.py            # 40 configurations, up to 243 rounds
    python examples/lightgbm_callback.py --quick    # 8 configurations, up to 27 rounds
"""

from __future__ import annotations

import argparse
from typing import Any

import lightgbm as lgb
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tunelab import ASHA, Float, Int, Space, Study
from tunelab.integrations import LightGBMCallback

SPACE = Space(learning_rate=Float(0.01, 0.3, log=True), num_leaves=Int(4, 64, log=True),
              min_data_in_leaf=Int(5, 50, log=True), feature_fraction=Float(0.3, 1.0))


def make_objective(rounds: int) -> Any:
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0)

    def objective(trial: Any) -> None:
        params = {**trial, "objective": "multiclass", "num_class": 10, "verbose": -1,
                  "num_threads": 1, "seed": trial.seed % 2**31}
        train = lgb.Dataset(x_train, y_train, params=params)  # binned with these params
        valid = lgb.Dataset(x_val, y_val, reference=train)
        lgb.train(params, train, num_boost_round=rounds, valid_sets=[valid],
                  callbacks=[LightGBMCallback(trial, "valid_0-multi_logloss",
                                              metric="logloss")])

    return objective


def main(argv: list[str] | None = None) -> Study:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (for CI)")
    args = parser.parse_args(argv)
    n_trials, rounds = (8, 27) if args.quick else (40, 243)
    study = Study("lightgbm-asha", SPACE, metric="logloss", store="memory", seed=0,
                  scheduler=ASHA(min_resource=3, max_resource=rounds, eta=3, mode="stopping"))
    study.optimize(make_objective(rounds), n_trials=n_trials)
    stopped = sum(t.status.value == "STOPPED" for t in study.trials)
    print(f"best log-loss {study.best_value:.4f} with {study.best_config}")
    print(f"{stopped} of {len(study.trials)} trials stopped early")
    print(study.budget().table())
    return study


if __name__ == "__main__":
    main()
