"""PyTorch Lightning: report a logged metric after every epoch; stop the Trainer when told."""

from __future__ import annotations

from typing import Any

from tunelab._errors import MissingExtraError
from tunelab.integrations._report import StepReporter

try:
    import lightning.pytorch as pl
except ImportError as exc:  # pragma: no cover - exercised without lightning only
    raise MissingExtraError(
        "LightningCallback needs the 'lightning' package, which is not installed; install "
        "it with: pip install 'tunelab[lightning]'"
    ) from exc

__all__ = ["LightningCallback"]


class LightningCallback(pl.Callback):
    """Report ``monitor`` (a metric the module logs with ``self.log``, e.g. ``"val_loss"``)
    at the end of every training epoch (after its validation), as step ``epoch + 1``
    under the name ``metric`` (default: ``monitor``); the Trainer stops after the epoch
    at which the scheduler says PAUSE or STOP.

    A run resumed from a Lightning checkpoint (``trainer.fit(..., ckpt_path=...)``) goes
    on counting epochs, so a promoted trial reports the steps after its pause. To keep
    one, save it in the trial's folder when the callback's :attr:`decision` is PAUSE:
    ``with trial.checkpoint() as folder: trainer.save_checkpoint(folder / "last.ckpt")``.

    >>> import torch, lightning.pytorch as pl
    >>> from tunelab.integrations import LightningCallback
    >>> class Line(pl.LightningModule):
    ...     def __init__(self, lr):
    ...         super().__init__(); self.lr = lr; self.w = torch.nn.Linear(1, 1)
    ...     def training_step(self, batch, _):
    ...         loss = ((self.w(batch[0]) - 2 * batch[0]) ** 2).mean()
    ...         self.log("train_loss", loss); return loss
    ...     def configure_optimizers(self):
    ...         return torch.optim.SGD(self.parameters(), lr=self.lr)
    >>> data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(8, 1)))
    >>> from tunelab import TrialHandle
    >>> trial = TrialHandle({"lr": 0.1}, number=0, seed=0)  # normally given by a study
    >>> trainer = pl.Trainer(max_epochs=2, callbacks=[LightningCallback(trial, "train_loss")],
    ...                      logger=False, enable_checkpointing=False,
    ...                      enable_progress_bar=False, enable_model_summary=False)
    >>> trainer.fit(Line(trial["lr"]), data)
    >>> sorted(trial.last_metrics)
    ['train_loss']
    """

    def __init__(self, trial: Any, monitor: str = "val_loss", *,
                 metric: str | None = None) -> None:
        super().__init__()
        self._reporter = StepReporter(trial, monitor, metric, "LightningCallback")

    @property
    def decision(self) -> Any:
        """The scheduler's answer at the last epoch."""
        return self._reporter.decision

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        metrics = trainer.callback_metrics
        monitor = self._reporter.monitor
        if monitor not in metrics:
            raise self._reporter.missing(metrics)
        if self._reporter.report(trainer.current_epoch + 1, metrics[monitor]):
            trainer.should_stop = True
