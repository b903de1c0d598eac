"""Differentiable architecture search (DARTS) on the digits that ship with scikit-learn.

One DARTS search is one trial of a study: each search epoch is a report (supernet
validation accuracy, how many skip connections the derived cell has, the entropy of the
architecture weights), so ``tunelab show`` and the dashboard draw its curve. The derived
cell is then retrained from scratch and its validation accuracy is the trial's result.

    python examples/nas_darts.py           # about a minute on one CPU thread
    python examples/nas_darts.py --tiny    # a few seconds
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits

import tunelab
from tunelab.nas import DARTS, CellNetwork, CellSpace, count_flops, train_network

OPS = ("none", "skip_connect", "conv_3x3", "sep_conv_3x3", "max_pool_3x3", "avg_pool_3x3")


def load(n_train: int, n_val: int) -> tuple[Any, Any]:
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(data.target)
    order = np.random.default_rng(0).permutation(len(y))
    tr, va = order[:n_train], order[n_train : n_train + n_val]
    return (x[tr], y[tr]), (x[va], y[va])


def main(tiny: bool = False, store: str = "memory") -> dict[str, Any]:
    torch.set_num_threads(1)
    train, val = load(500 if tiny else 1000, 300 if tiny else 500)
    space = CellSpace(nodes=2 if tiny else 3, ops=OPS)
    study = tunelab.Study("nas-darts", tunelab.Space(order=tunelab.Categorical([1, 2])),
                          metric="accuracy", direction="max", store=store)
    trial = study.ask({"order": 1})
    darts = DARTS(epochs=3 if tiny else 8, order=trial["order"], channels=6 if tiny else 8,
                  stages=1, batch_size=32, w_lr=0.1, alpha_lr=0.01, max_skips=2, seed=0)
    found = darts.search(space, train, val, trial=trial)
    net = CellNetwork(found.genotype, in_channels=1, num_classes=10, channels=darts.channels,
                      stages=1)
    retrained = train_network(net, train, val, epochs=4 if tiny else 10, batch_size=32,
                              lr=0.1, seed=0)
    done = study.tell(trial, {"accuracy": retrained.val_accuracy,
                              "search_seconds": found.seconds,
                              "flops": float(count_flops(net, (1, 8, 8)))})
    return {"cell": found.genotype, "config": found.config, "search": found.history,
            "accuracy": retrained.val_accuracy, "trial": done}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = main(args.tiny)
    logging.getLogger("tunelab").info("derived cell %s; retrained accuracy %.3f",
                                      result["cell"], result["accuracy"])
