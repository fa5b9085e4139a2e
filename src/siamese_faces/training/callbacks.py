"""Small objects the training loop calls: early stopping, checkpoints, metric logging."""

from __future__ import annotations

import io
import json
import math
import sys
import types
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from ..config import changed_settings
from ..io import LaterWrites, atomic_write, atomic_write_text, csv_text


@dataclass
class EarlyStopping:
    """Stop after ``patience`` epochs without a lower validation loss; remember the best."""

    patience: int = 3
    best: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, val_loss: float, epoch: int) -> bool:
        """Record an epoch; True if it is the best so far."""
        if val_loss < self.best:
            self.best, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience

    def state(self) -> dict:
        return asdict(self)


def keep_tensorflow_out() -> None:
    """Let TensorBoard's writer use its own stub of TensorFlow even where TensorFlow is installed.

    Why: its compat layer imports TensorFlow when it can (the ``[peer]`` extra installs it),
    which costs every training process TensorFlow's start-up time and memory, for event files
    its stub writes alike. A module named ``tensorboard.compat.notf`` is that
    layer's own switch to the stub. Too late if the process has already resolved it.
    """
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


class MetricLogger:
    """One row per epoch to ``metrics.csv`` and TensorBoard; names carry their split."""

    def __init__(self, run_dir: Path, enabled: bool = True, purge_step: int | None = None):
        self.run_dir, self.enabled, self.rows = Path(run_dir), enabled, []
        self.writer = None
        if enabled:
            keep_tensorflow_out()
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events a crashed run wrote after its last checkpoint.
            self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=purge_step)

    def log(self, row: dict) -> None:
        self.rows.append(row)
        if not self.enabled:
            return
        for key, value in row.items():
            if key != "epoch" and not math.isnan(value):  # NaN: not measured this epoch
                self.writer.add_scalar(key, value, row["epoch"])
        self.writer.flush()
        self.write_csv()

    def write_csv(self) -> None:
        atomic_write_text(self.run_dir / "metrics.csv", csv_text(self.rows))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _plain_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # channels_last weights are not contiguous; safetensors stores plain row-major tensors.
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save_weights(
    path: Path,
    model: torch.nn.Module,
    config_json: str,
    epoch: int,
    later: LaterWrites | None = None,
) -> None:
    """``model``'s weights, with the config and epoch they came from, now (or by ``later``)."""
    data = safetensors_bytes(_plain_state(model), {"config": config_json, "epoch": str(epoch)})
    if later is None:
        atomic_write(path, lambda fh: fh.write(data))
    else:
        later.write(path, data)


def load_weights(path: Path, model: torch.nn.Module) -> None:
    model.load_state_dict(load_file(str(path)))


class CheckpointSaver:
    """``best.safetensors`` whenever validation improves; ``last.pt`` every epoch for resuming.

    Written on a thread of their own while the next epoch trains (``wait`` for them): the
    weights are copied first, so what is written is what was given."""

    def __init__(self, run_dir: Path, config_json: str, enabled: bool = True):
        self.run_dir, self.config_json, self.enabled = Path(run_dir), config_json, enabled
        self.later = LaterWrites()

    def wait(self) -> None:
        """Return once every checkpoint given is on the disk (raising any error in writing)."""
        self.later.wait()

    def close(self) -> None:
        """``wait``, then let the writing thread go (a later save starts another)."""
        self.later.close()

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.safetensors"

    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.pt"

    def save_best(self, net, epoch: int) -> None:
        """``net`` as the best weights (of ``epoch``) now, after any given before, unless this
        process saves nothing."""
        if self.enabled:
            self.wait()
            save_weights(self.best_path, net, self.config_json, epoch)

    def save(
        self,
        net,
        module,
        optimizer,
        scheduler,
        epoch: int,
        stopper: EarlyStopping,
        rows: list[dict],
        improved: bool,
        average: torch.nn.Module | None = None,
    ) -> None:
        """``net``'s weights as the best if ``improved``; everything to resume from as last
        (with ``average``, the moving average of the weights, when training keeps one)."""
        if not self.enabled:
            return
        self.later.wait()  # the last epoch's, long written: never more than an epoch queued
        if improved:
            save_weights(self.best_path, net, self.config_json, epoch, self.later)
        state = {
            "config": self.config_json,
            "epoch": epoch,
            "model": _plain_state(module),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "stopper": stopper.state(),
            "rows": rows,
        }
        if average is not None:
            state["average"] = _plain_state(average)
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        buf = io.BytesIO()
        torch.save(state, buf)  # tensors copied into the bytes now: training may go on
        self.later.write(self.last_path, buf.getbuffer())

    def load_last(self) -> dict:
        # weights_only: a checkpoint can hold tensors and plain data, never code to run.
        try:
            state = torch.load(self.last_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for a damaged or foreign file
            raise ValueError(
                f"{self.last_path}: not a readable checkpoint ({type(exc).__name__}); it is "
                "damaged: train into a new --out, or delete it to start this run afresh."
            ) from None
        saved, ours = json.loads(state["config"]), json.loads(self.config_json)
        diff = changed_settings(saved, ours, source=str(self.last_path))
        if diff:
            raise ValueError(
                f"{self.last_path}: --resume with a different configuration ({', '.join(diff)} "
                "changed); resume with the same settings, or train into a new --out folder."
            )
        return state
