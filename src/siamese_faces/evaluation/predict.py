"""Model outputs for many pairs, each image embedded once, and the pair loss they are judged by."""

from __future__ import annotations

import gc
from collections.abc import Callable

import torch

from ..config import ModelConfig
from ..data.rundata import PairSet, batch_images
from ..losses import create_loss, pair_loss_name
from ..models.siamese import SiameseNet, for_inference, has_batchnorm
from ..runtime import autocast

PairLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (head output, labels) -> loss


def make_pair_loss(net: SiameseNet, model: ModelConfig) -> PairLoss:
    """The pair loss of ``model.loss`` (or the head's own) on what ``net``'s head gives it."""
    name = pair_loss_name(model, net.head.default_loss)
    criterion = create_loss(name, margin=model.margin, scale=model.scale)

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # Outputs gathered on the CPU (validation) meet the head's parameters where they are.
        param = next(net.head.parameters(), None)
        if param is not None:
            out, y = out.to(param.device), y.to(param.device)
        # In float32 whatever the autocast dtype: every loss casts its input.
        return criterion(*net.head.loss_input(out, y))

    return loss


@torch.no_grad()
def embed_rows(
    net: SiameseNet,
    images: torch.Tensor,
    rows: torch.Tensor,
    device: torch.device,
    bf16: bool = False,
    batch: int = 256,
    channels_last: bool = True,
) -> torch.Tensor:
    """Embeddings ``(len(rows), D)`` float32 of ``images[rows]``, in eval mode (through
    ``net``'s inference copy, made now unless ``net`` is one)."""
    traced = not net.inference_copy and has_batchnorm(net.tower)
    if not net.inference_copy:
        net = for_inference(net)
    out = []
    for i in range(0, len(rows), batch):
        x = batch_images(images, rows[i : i + batch], device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, bf16):
            out.append(net.embed(x).float())  # with flip averaging if the net has it
    if traced:
        # The copy's fx trace (BatchNorm folding) leaves reference cycles that keep its weights
        # and the tensors they touched alive until a full collection, which a long-lived
        # process seldom runs: training grew by a copy at every epoch's validation.
        del net
        gc.collect()
    return torch.cat(out) if out else torch.zeros(0, 0)


@torch.no_grad()
def pair_outputs(
    net: SiameseNet,
    images: torch.Tensor,
    pairs: PairSet,
    device: torch.device,
    bf16: bool = False,
    channels_last: bool = True,
    embed=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Head outputs (logit or distance; what the pair loss takes) ``(P,)`` for every pair,
    and the scores the verdict is made on (through the cohort normalisation, if the net has
    one); ``embed(images, rows)`` embeds (another backend), else the net itself."""
    rows, ia, ib = pairs.faces()
    if embed is None:
        h = embed_rows(net, images, rows, device, bf16, channels_last=channels_last)
    else:
        h = embed(images, rows).to(device)
    was_training = net.training
    net.eval()
    out = net.head(h[ia], h[ib]).float()
    scores = net.pair_scores(h[ia], h[ib], out)
    net.train(was_training)
    return out.cpu(), scores.cpu()


def pair_metrics(
    loss: PairLoss, out: torch.Tensor, scores: torch.Tensor, y: torch.Tensor, threshold: float
) -> dict[str, float]:
    from .metrics import accuracy

    return {
        "loss": float(loss(out, y).detach()),
        "acc": accuracy(scores.numpy(), y.numpy(), threshold),
    }
