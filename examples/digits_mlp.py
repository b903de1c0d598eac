"""Tune a scikit-learn MLP on the digits data that ships with scikit-learn (no download),
with Hyperband over epochs.

The objective trains one epoch per step with ``partial_fit`` up to ``trial.resource``
(the epochs Hyperband grants this run) and reports validation accuracy after each one.
When Hyperband pauses the trial at a rung it saves the network's weights as a checkpoint
(NumPy arrays, no pickle); when it promotes the trial, the next run restores them and goes
on from that epoch instead of starting over. This is `make demo`:

    tunelab run examples/digits_mlp.py:objective --space examples/digits_mlp.yaml \\
        --metric val_acc --direction max --trials 49 --workers 2 --seed 0 \\
        --scheduler hyperband --min-resource 1 --max-resource 27 --eta 3

``python examples/digits_mlp.py`` runs a small version in memory.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import tunelab

MAX_EPOCHS = 27


@functools.lru_cache(maxsize=1)
def load_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.3, random_state=seed, stratify=y
    )
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_val), y_train, y_val


def restore(model: MLPClassifier, state: dict, x: np.ndarray, y: np.ndarray,
            classes: np.ndarray) -> None:
    """Put the checkpointed weights into a fresh ``model``.

    One ``partial_fit`` on one mini-batch builds the layers (and the optimizer); the saved
    arrays are then copied *in place*, since the optimizer holds references to them.
    The optimizer's own state (Adam's moment estimates) is not saved: it restarts.
    """
    model.partial_fit(x[: model.batch_size], y[: model.batch_size], classes=classes)
    for i, (coef, intercept) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        coef[...] = state[f"coef_{i}"]
        intercept[...] = state[f"intercept_{i}"]


def objective(trial: tunelab.TrialHandle) -> dict[str, float]:
    x_train, x_val, y_train, y_val = load_data()
    classes = np.unique(y_train)
    model = MLPClassifier(
        hidden_layer_sizes=(trial["hidden"],) * trial["layers"],
        learning_rate_init=trial["lr"],
        alpha=trial["alpha"],
        batch_size=trial["batch_size"],
        shuffle=False,  # we shuffle per epoch below, so a resumed run sees the same order
        random_state=trial.seed,
    )
    epochs = trial.resource or MAX_EPOCHS
    state = trial.load_checkpoint()  # None on a fresh start; sets trial.resumed_from
    best = 0.0
    with warnings.catch_warnings(), threadpool_limits(limits=1):  # 2 workers on 2 cores
        warnings.simplefilter("ignore", ConvergenceWarning)
        if state is not None:
            restore(model, state, x_train, y_train, classes)
            best = float(state["best_val_acc"])
        val_acc = best
        for epoch in range(trial.resumed_from + 1, epochs + 1):
            order = np.random.default_rng([trial.seed, epoch]).permutation(len(y_train))
            model.partial_fit(x_train[order], y_train[order], classes=classes)  # one epoch
            val_acc = float(model.score(x_val, y_val))
            best = max(best, val_acc)
            decision = trial.report(epoch, val_acc=val_acc, train_loss=float(model.loss_))
            if decision == tunelab.Decision.PAUSE:  # resumed later with more epochs
                weights = {f"coef_{i}": w for i, w in enumerate(model.coefs_)}
                weights.update({f"intercept_{i}": b for i, b in enumerate(model.intercepts_)})
                trial.save_checkpoint({**weights, "best_val_acc": best}, step=epoch)
            if decision != tunelab.Decision.CONTINUE:
                break
    return {"val_acc": val_acc, "best_val_acc": best}


if __name__ == "__main__":
    space = tunelab.Space.from_file("examples/digits_mlp.yaml")
    study = tunelab.Study(
        "digits-mlp", space, metric="val_acc", direction="max", store="memory", seed=0,
        scheduler=tunelab.Hyperband(min_resource=1, max_resource=9, eta=3),
    )
    study.optimize(objective, n_trials=17, workers=2)
    print(study.budget().table())
    for trial in study.leaderboard(3):
        print(trial.number, round(trial.value or 0, 4), trial.config)
