"""Model outputs for many pairs, each image embedded once."""

from __future__ import annotations

import contextlib

import torch

from ..models.siamese import SiameseNet
from ..training.rundata import PairSet, batch_images


def autocast(device: torch.device, enabled: bool):
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


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
    """Embeddings ``(len(rows), D)`` float32 of ``images[rows]``, in eval mode."""
    was_training = net.training
    net.eval()
    out = []
    for i in range(0, len(rows), batch):
        x = batch_images(images, rows[i : i + batch], device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, bf16):
            out.append(net.embed(x).float())  # with flip averaging if the net has it
    net.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, 0)


@torch.no_grad()
def pair_outputs(
    net: SiameseNet,
    images: torch.Tensor,
    pairs: PairSet,
    device: torch.device,
    bf16: bool = False,
    channels_last: bool = True,
) -> torch.Tensor:
    """Head outputs (logit or distance) ``(P,)`` for every pair."""
    rows, inverse = torch.unique(torch.cat([pairs.a, pairs.b]), return_inverse=True)
    h = embed_rows(net, images, rows, device, bf16, channels_last=channels_last)
    ia, ib = inverse[: len(pairs)], inverse[len(pairs) :]
    was_training = net.training
    net.eval()
    out = net.head(h[ia], h[ib]).float().cpu()
    net.train(was_training)
    return out


def pair_metrics(
    net: SiameseNet, out: torch.Tensor, y: torch.Tensor, threshold: float
) -> dict[str, float]:
    from .metrics import accuracy

    return {
        "loss": float(net.loss(out, y).detach()),
        "acc": accuracy(net.score(out).numpy(), y.numpy(), threshold),
    }
