"""PyTorch Lightning under Hyperband: report every epoch, pause with a checkpoint, resume.

A small MLP on scikit-learn's digits. ``LightningCallback`` reports the validation loss
after every epoch; Hyperband stops the Trainer at a rung (PAUSE). The objective then saves
a Lightning checkpoint in the trial's folder, and when Hyperband promotes the trial it
resumes from that checkpoint (``trainer.fit(..., ckpt_path=...)``) up to the new budget.

    python examples/lightning_callback.py            # 27 epochs at most, ~30 configurations
    python examples/lightning_callback.py --quick    # 9 epochs at most, 6 configurations
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import lightning.pytorch as pl
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tunelab import Decision, Float, Hyperband, Int, Space, Study
from tunelab.integrations import LightningCallback

SPACE = Space(lr=Float(1e-3, 0.3, log=True), hidden=Int(16, 128, log=True))


class MLP(pl.LightningModule):
    def __init__(self, lr: float, hidden: int) -> None:
        super().__init__()
        self.lr = lr
        self.net = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(),
                                       torch.nn.Linear(hidden, 10))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self.net(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)


def loaders(samples: int | None) -> tuple[Any, Any]:
    x, y = load_digits(return_X_y=True)
    x, y = x[:samples] / 16.0, y[:samples]
    parts = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    tensors = [torch.tensor(a, dtype=torch.float32 if a.ndim == 2 else torch.long)
               for a in parts]
    train = torch.utils.data.TensorDataset(tensors[0], tensors[2])
    valid = torch.utils.data.TensorDataset(tensors[1], tensors[3])
    return (torch.utils.data.DataLoader(train, batch_size=64, shuffle=True),
            torch.utils.data.DataLoader(valid, batch_size=256))


def make_objective(samples: int | None) -> Any:
    train, valid = loaders(samples)

    def objective(trial: Any) -> None:
        pl.seed_everything(trial.seed % 2**31, verbose=False)
        folder = trial.latest_checkpoint()  # set when Hyperband promotes a paused trial
        callback = LightningCallback(trial, "val_loss")
        trainer = pl.Trainer(max_epochs=trial.resource, callbacks=[callback], logger=False,
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, accelerator="cpu", devices=1)
        trainer.fit(MLP(trial["lr"], trial["hidden"]), train, valid,
                    ckpt_path=None if folder is None else folder / "last.ckpt")
        if callback.decision is Decision.PAUSE:
            with trial.checkpoint() as out:
                trainer.save_checkpoint(out / "last.ckpt")

    return objective


def main(argv: list[str] | None = None) -> Study:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (for CI)")
    args = parser.parse_args(argv)
    n_trials, epochs, samples = (6, 9, 600) if args.quick else (30, 27, None)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    study = Study("lightning-hyperband", SPACE, metric="val_loss", store="memory", seed=0,
                  scheduler=Hyperband(min_resource=1, max_resource=epochs, eta=3))
    study.optimize(make_objective(samples), n_trials=n_trials)
    print(f"best validation loss {study.best_value:.4f} with {study.best_config}")
    print(study.budget().table())
    return study


if __name__ == "__main__":
    main()
