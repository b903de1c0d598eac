"""Tune a scikit-learn MLP on the digits data that ships with scikit-learn (no download).

Each trial trains epoch by epoch with ``partial_fit`` and reports validation accuracy, so
the store keeps a learning curve per trial. Run it through the CLI (this is `make demo`):

    tunelab run examples/digits_mlp.py:objective --space examples/digits_mlp.yaml \
        --metric val_acc --direction max --trials 30 --workers 2
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import tunelab

EPOCHS = 10


def load_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.3, random_state=seed, stratify=y
    )
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_val), y_train, y_val


def objective(trial: tunelab.TrialHandle) -> dict[str, float]:
    x_train, x_val, y_train, y_val = load_data()
    model = MLPClassifier(
        hidden_layer_sizes=(trial["hidden"],) * trial["layers"],
        learning_rate_init=trial["lr"],
        alpha=trial["alpha"],
        batch_size=trial["batch_size"],
        random_state=trial.seed,
    )
    classes = np.unique(y_train)
    best = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for epoch in range(EPOCHS):
            model.partial_fit(x_train, y_train, classes=classes)  # one epoch of mini-batches
            val_acc = float(model.score(x_val, y_val))
            best = max(best, val_acc)
            trial.report(epoch, val_acc=val_acc, train_loss=float(model.loss_))
    return {"val_acc": val_acc, "best_val_acc": best}


if __name__ == "__main__":
    space = tunelab.Space.from_file("examples/digits_mlp.yaml")
    study = tunelab.Study("digits-mlp", space, metric="val_acc", direction="max", store="memory")
    study.optimize(objective, n_trials=4, workers=2)
    for trial in study.leaderboard(3):
        print(trial.number, round(trial.value or 0, 4), trial.config)
