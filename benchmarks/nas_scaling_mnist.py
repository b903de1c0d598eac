"""Compound scaling on MNIST (CPU, one thread): search alpha, beta, gamma at phi = 1 on a
small proxy, then scale the base network to phi = 0..3 and train each the same way.

    python -m benchmarks.nas_scaling_mnist --write       # a few minutes of CPU

Proxy: 2,000 training / 1,000 validation images of the MNIST test file (the split of
``benchmarks.nas_darts_mnist``), 2 epochs, 8 random draws of the two shares of the
doubling (every draw meets alpha * beta^2 * gamma^2 = 2 exactly). Then the base network
(stages of depth 1, 1, 1; width 8; input 14x14, from 28x28 images) is scaled with the best
coefficients to phi = 0, 1, 2, 3 and trained on 8,000 images for 3 epochs; FLOPs and
parameters are counted from the modules (forward hooks), latency measured (batch 1, one
thread). Writes ``docs/benchmarks/data/nas-scaling-mnist.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from benchmarks.nas_darts_mnist import load
from tunelab.nas import (
    CompoundScaling,
    count_flops,
    count_params,
    measure_latency,
    search_coefficients,
    train_network,
)

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    train, val = load(8000, 2000, size=28)
    proxy_train, proxy_val = (train[0][:2000], train[1][:2000]), (val[0][:1000], val[1][:1000])
    scaling = CompoundScaling(base_depths=(1, 1, 1), base_width=8, base_resolution=14)

    def proxy(net: torch.nn.Module) -> float:
        torch.manual_seed(0)
        return train_network(net, proxy_train, proxy_val, epochs=2, lr=0.05, seed=0).val_accuracy

    t0 = time.process_time()
    best, study = search_coefficients(scaling, proxy, n_trials=args.trials, seed=0)
    search_cpu = time.process_time() - t0
    trials = [{"alpha": t.metrics["alpha"], "beta": t.metrics["beta"],
               "gamma": t.metrics["gamma"], "accuracy": t.metrics["accuracy"],
               "flops": t.metrics["flops"]} for t in study.trials]
    scaled = []
    for phi in (0, 1, 2, 3):
        torch.manual_seed(0)
        net = scaling.build(best, phi)
        shape = (1, 28, 28)
        t1 = time.process_time()
        res = train_network(net, train, val, epochs=3, lr=0.05, seed=0)
        scaled.append({"phi": phi, "dims": vars(net.dims) | {"depths": list(net.dims.depths)},
                       "val_accuracy": res.val_accuracy, "flops": count_flops(net, shape),
                       "params": count_params(net),
                       "latency_ms": 1000 * measure_latency(net, shape, repeats=20),
                       "train_cpu_seconds": time.process_time() - t1})
    out = {"coefficients": vars(best), "constraint": best.flops_factor, "trials": trials,
           "search_cpu_seconds": search_cpu, "scaled": scaled,
           "total_cpu_seconds": time.process_time()}
    if args.write:
        (ROOT / "docs/benchmarks/data/nas-scaling-mnist.json").write_text(
            json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
