"""XGBoost under ASHA: report every boosting round, pause, resume from the saved model.

``XGBoostCallback`` reports the held-out log-loss after each round. ASHA grants each new
trial a few rounds; when it pauses a trial the objective saves the booster as JSON in the
trial's folder, and when ASHA promotes the trial the objective loads it and boosts on
from there instead of starting over.

    python examples/xgboost_callback.py            # 40 configurations, up to 243 rounds
    python examples/xgboost_callback.py --quick    # 8 configurations, up to 27 rounds
"""

from __future__ import annotations

import argparse
from typing import Any

import xgboost as xgb
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from tunelab import ASHA, Decision, Float, Int, Space, Study
from tunelab.integrations import XGBoostCallback

SPACE = Space(eta=Float(0.01, 0.5, log=True), max_depth=Int(2, 8),
              subsample=Float(0.5, 1.0), min_child_weight=Float(0.1, 10, log=True))


def make_objective() -> Any:
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0)
    train, valid = xgb.DMatrix(x_train, y_train), xgb.DMatrix(x_val, y_val)

    def objective(trial: Any) -> None:
        params = {**trial, "objective": "binary:logistic", "eval_metric": "logloss",
                  "nthread": 1, "seed": trial.seed % 2**31}
        folder = trial.latest_checkpoint()  # None for a fresh trial
        previous = None if folder is None else str(folder / "model.json")
        callback = XGBoostCallback(trial, "valid-logloss", metric="logloss")
        booster = xgb.train(params, train, num_boost_round=trial.resource - trial.resumed_from,
                            evals=[(valid, "valid")], xgb_model=previous,
                            verbose_eval=False, callbacks=[callback])
        if callback.decision is Decision.PAUSE:
            with trial.checkpoint() as out:
                booster.save_model(str(out / "model.json"))

    return objective


def main(argv: list[str] | None = None) -> Study:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (for CI)")
    args = parser.parse_args(argv)
    n_trials, rounds = (8, 27) if args.quick else (40, 243)
    study = Study("xgboost-asha", SPACE, metric="logloss", store="memory", seed=0,
                  scheduler=ASHA(min_resource=3, max_resource=rounds, eta=3))
    study.optimize(make_objective(), n_trials=n_trials)
    print(f"best log-loss {study.best_value:.4f} with {study.best_config}")
    print(study.budget().table())
    return study


if __name__ == "__main__":
    main()
