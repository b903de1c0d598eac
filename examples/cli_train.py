"""A training script that knows nothing about tunelab: it takes its hyperparameters as
command-line options and prints one JSON line of metrics per epoch (anything else it
prints is passed through). ``command_line.py`` tunes it with ``tunelab run``.

    python examples/cli_train.py --lr 0.05 --momentum 0.9 --epochs 5
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description="SGD with momentum on a noisy linear model")
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)  # the data is fixed; --seed varies the training
    x = rng.normal(size=(600, 10))
    y = x @ rng.normal(size=10) + 0.5 * rng.normal(size=600)
    x_train, y_train, x_val, y_val = x[:400], y[:400], x[400:], y[400:]
    train_rng = np.random.default_rng(args.seed)
    w, velocity = np.zeros(10), np.zeros(10)
    print(f"training with lr={args.lr} momentum={args.momentum}")
    val_loss = float("nan")
    for epoch in range(1, args.epochs + 1):
        for rows in np.array_split(train_rng.permutation(400), 20):
            grad = x_train[rows].T @ (x_train[rows] @ w - y_train[rows]) / len(rows)
            velocity = args.momentum * velocity - args.lr * grad
            w = w + velocity
        val_loss = float(np.mean((x_val @ w - y_val) ** 2))
        if not np.isfinite(val_loss):
            raise SystemExit(f"diverged at epoch {epoch}")
        print(json.dumps({"step": epoch, "val_loss": val_loss}), flush=True)
    return val_loss


if __name__ == "__main__":
    main()
