"""Keras 3 (on PyTorch) with the median stopping rule.

A small dense network on scikit-learn's digits; ``KerasCallback`` reports the validation
accuracy after every epoch, and a trial whose best accuracy so far is below the median
of the finished trials at the same epoch stops there (``model.fit`` returns early).

    python examples/keras_callback.py            # 20 configurations, 20 epochs
    python examples/keras_callback.py --quick    # 5 configurations, 4 epochs
"""

from __future__ import annotations

import argparse
import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")  # or "jax", "tensorflow"

import keras
from sklearn.datasets import load_digits

from tunelab import Float, Int, MedianStopping, Space, Study
from tunelab.integrations import KerasCallback

SPACE = Space(lr=Float(1e-4, 1e-1, log=True), units=Int(16, 128, log=True),
              dropout=Float(0.0, 0.5))


def make_objective(epochs: int, samples: int | None = None) -> Any:
    x, y = load_digits(return_X_y=True)
    x, y = (x[:samples] / 16.0).astype("float32"), y[:samples]

    def objective(trial: Any) -> None:
        keras.utils.set_random_seed(trial.seed % 2**31)
        model = keras.Sequential([
            keras.Input((64,)),
            keras.layers.Dense(trial["units"], activation="relu"),
            keras.layers.Dropout(trial["dropout"]),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(keras.optimizers.Adam(trial["lr"]), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, y, validation_split=0.3, epochs=epochs, batch_size=64, verbose=0,
                  callbacks=[KerasCallback(trial, "val_accuracy")])

    return objective


def main(argv: list[str] | None = None) -> Study:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (for CI)")
    args = parser.parse_args(argv)
    n_trials, epochs, samples = (5, 4, 400) if args.quick else (20, 20, None)
    study = Study("keras-median", SPACE, metric="val_accuracy", direction="max",
                  store="memory", seed=0, scheduler=MedianStopping(grace_period=2, min_samples=2))
    study.optimize(make_objective(epochs, samples), n_trials=n_trials)
    stopped = sum(t.status.value == "STOPPED" for t in study.trials)
    print(f"best validation accuracy {study.best_value:.3f} with {study.best_config}")
    print(f"{stopped} of {len(study.trials)} trials stopped early")
    return study


if __name__ == "__main__":
    main()
