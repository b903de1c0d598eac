"""DARTS on MNIST (CPU, one thread): search cost, and the derived cell against random
cells of similar size trained the same way.

    python -m benchmarks.nas_darts_mnist                 # ~15 min of CPU on one thread
    python -m benchmarks.nas_darts_mnist --quick         # a ~1 minute smoke run

Data: the 10,000 images of ``/work/shared/data/mnist/t10k-*`` (the MNIST test set, the
only split in the shared data), shuffled with seed 0 into 8,000 training and 2,000
validation images, downsampled 28x28 -> 14x14 by 2x2 average pooling. DARTS searches on
the 8,000 training images, split in halves (weights on one, architecture on the other);
the derived cell and ``--random`` random cells are then each retrained from scratch on all
8,000 and scored on the 2,000 validation images. Random cells are drawn like derived
cells (each node keeps min(2, node) inputs from distinct earlier nodes, each with a
uniformly drawn op other than ``none``) and kept only when their parameter count is
within 0.75x-1.33x of the derived network's ("similar size"). Writes
``docs/benchmarks/data/nas-darts-mnist.json`` and ``docs/benchmarks/nas-darts-mnist.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from tunelab import Categorical, Space, Study
from tunelab.nas import (
    DARTS,
    DARTS_OPS,
    CellNetwork,
    CellSpace,
    Genotype,
    count_flops,
    count_params,
    measure_latency,
    train_network,
)

ROOT = Path(__file__).resolve().parents[1]
MNIST = Path(os.environ.get("TUNELAB_DATA", "/work/shared/data")) / "mnist"


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip) as a NumPy array."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(n_train: int = 8000, n_val: int = 2000, size: int = 14) -> tuple[Any, Any]:
    x = torch.tensor(read_idx(MNIST / "t10k-images-idx3-ubyte.gz"), dtype=torch.float32)
    y = torch.tensor(read_idx(MNIST / "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    x = (x / 255.0 - 0.1307) / 0.3081
    x = x.unsqueeze(1)
    if size != 28:
        x = torch.nn.functional.adaptive_avg_pool2d(x, size)
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(y)))
    tr, va = order[:n_train], order[n_train : n_train + n_val]
    return (x[tr], y[tr]), (x[va], y[va])


def random_cell(space: CellSpace, rng: np.random.Generator) -> Genotype:
    ops = [o for o in space.ops if o != "none"]
    edges = []
    for node in range(1, space.nodes + 1):
        srcs = rng.choice(node, size=min(2, node), replace=False)
        edges += [(int(s), node, ops[int(rng.integers(len(ops)))]) for s in sorted(srcs)]
    return Genotype(space.nodes, tuple(sorted(edges, key=lambda e: (e[1], e[0]))), space.output)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--random", type=int, default=10)
    parser.add_argument("--search-epochs", type=int, default=8)
    parser.add_argument("--train-epochs", type=int, default=4)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha-lr", type=float, default=6e-3)
    parser.add_argument("--tag", default="", help="suffix of the JSON file name")
    parser.add_argument("--write", action="store_true", help="write the report files")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    n_train, n_val = (1000, 500) if args.quick else (8000, 2000)
    if args.quick:
        args.random, args.search_epochs, args.train_epochs = 2, 1, 1
    train, val = load(n_train, n_val)
    half = n_train // 2
    search_train = (train[0][:half], train[1][:half])
    search_val = (train[0][half:], train[1][half:])
    space = CellSpace(args.nodes, DARTS_OPS)
    macro = dict(in_channels=1, num_classes=10, channels=args.channels, stages=2,
                 cells_per_stage=1)
    shape = (1, 14, 14)

    # the search: one trial of a study, one report per search epoch
    study = Study("darts-mnist", Space(order=Categorical([1, 2])), metric="val_accuracy",
                  direction="max", store="memory", capture_environment=False)
    trial = study.ask({"order": 1})
    darts = DARTS(epochs=args.search_epochs, order=1, channels=args.channels, stages=2,
                  batch_size=64, w_lr=0.05, alpha_lr=args.alpha_lr, max_skips=2, guard="stop",
                  seed=args.seed)
    cpu0 = time.process_time()
    found = darts.search(space, search_train, search_val, trial=trial)
    search_cpu = time.process_time() - cpu0
    study.tell(trial)

    def score(genotype: Genotype, seed: int) -> dict[str, Any]:
        torch.manual_seed(seed)
        net = CellNetwork(genotype, **macro)  # type: ignore[arg-type]
        t0 = time.process_time()
        res = train_network(net, train, val, epochs=args.train_epochs, batch_size=64,
                            lr=0.05, seed=seed)
        return {"cell": genotype.to_dict(), "val_accuracy": res.val_accuracy,
                "params": count_params(net), "flops": count_flops(net, shape),
                "latency_ms": 1000 * measure_latency(net, shape, repeats=10),
                "train_cpu_seconds": time.process_time() - t0}

    derived = score(found.genotype, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    randoms: list[dict[str, Any]] = []
    tried = 0
    while len(randoms) < args.random and tried < 1000:
        tried += 1
        cell = random_cell(space, rng)
        p = count_params(CellNetwork(cell, **macro))  # type: ignore[arg-type]
        if 0.75 <= p / derived["params"] <= 1.33:
            randoms.append(score(cell, args.seed))
    out = {"args": vars(args), "search": {"cpu_seconds": search_cpu, "epochs": found.epochs,
                                          "stopped_early": found.stopped_early,
                                          "history": found.history,
                                          "cell": found.genotype.to_dict()},
           "derived": derived, "random": randoms, "random_draws": tried,
           "machine": platform.processor() or platform.machine(),
           "total_cpu_seconds": time.process_time()}
    if args.write:
        name = f"nas-darts-mnist{args.tag}.json"
        (ROOT / "docs/benchmarks/data" / name).write_text(json.dumps(out, indent=1))
    accs = np.array([r["val_accuracy"] for r in randoms])
    print(json.dumps({"search_cpu_s": round(search_cpu, 1), "derived": derived["val_accuracy"],
                      "random_mean": float(accs.mean()) if len(accs) else None,
                      "random_sd": float(accs.std(ddof=1)) if len(accs) > 1 else None,
                      "rank": int((accs > derived["val_accuracy"]).sum()) + 1,
                      "total_cpu_s": round(time.process_time(), 1)}))
    return out


def _cell(cell: dict[str, Any]) -> str:
    return ", ".join(f"{s}->{d} {op}" for s, d, op in cell["edges"])


def report(paths: list[Path]) -> str:
    """The markdown tables of one or more result files (one section each)."""
    lines: list[str] = []
    for path in paths:
        d = json.loads(path.read_text())
        a, s, der = d["args"], d["search"], d["derived"]
        accs = np.array([r["val_accuracy"] for r in d["random"]])
        better = int((accs > der["val_accuracy"]).sum())
        lines += [
            f"\n### `{path.name}`: alpha_lr {a.get('alpha_lr', 6e-3)}, "
            f"{a['search_epochs']} search epochs, {a['train_epochs']} training epochs\n",
            f"Search: {s['cpu_seconds']:.0f} s CPU, {s['epochs']} epochs"
            f"{' (stopped early by the skip guard)' if s['stopped_early'] else ''}; "
            f"derived cell: {_cell(s['cell'])}. Whole run: {d['total_cpu_seconds']:.0f} s CPU.\n",
            "| search epoch | supernet val acc | skip count | alpha entropy |",
            "|---|---|---|---|",
            *[f"| {int(h['epoch'])} | {h['val_accuracy']:.3f} | {int(h['skip_count'])} | "
              f"{h['alpha_entropy']:.3f} |" for h in s["history"]],
            "",
            f"Retrained from scratch, scored on the 2,000 validation images "
            f"({len(accs)} random cells, drawn from {d['random_draws']} to match the size):\n",
            "| network | val accuracy | params | MFLOPs | train CPU s |",
            "|---|---|---|---|---|",
            f"| DARTS cell | {der['val_accuracy']:.4f} | {der['params']:,} | "
            f"{der['flops'] / 1e6:.2f} | {der['train_cpu_seconds']:.0f} |",
            f"| random cells, mean ± sd | {accs.mean():.4f} ± {accs.std(ddof=1):.4f} | "
            f"{np.mean([r['params'] for r in d['random']]):,.0f} | "
            f"{np.mean([r['flops'] for r in d['random']]) / 1e6:.2f} | "
            f"{np.mean([r['train_cpu_seconds'] for r in d['random']]):.0f} |",
            f"| random cells, median [min, max] | {np.median(accs):.4f} "
            f"[{accs.min():.4f}, {accs.max():.4f}] | | | |",
            "",
            f"The DARTS cell is beaten by {better} of the {len(accs)} random cells "
            f"(rank {better + 1} of {len(accs) + 1}).",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
