"""The Siamese network: one tower embeds both faces, a head compares the embeddings.

The loss is not part of the net: the head says what its output is for a loss (a logit or a
distance, :meth:`loss_input`), and the losses registry supplies one (``model.loss``).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from .tapconv import plain_convs

WHOLE = (0.0, 0.0, 1.0, 1.0)  # a member's view that is the whole input (model.views)


class SiameseNet(nn.Module):
    def __init__(self, tower: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.tower = tower
        self.head = head
        self.flip_tta = False  # evaluation embeds a face and its mirror image, averaged
        # A fixed map fitted after training (model.wccn); the identity until then.
        self.whiten: nn.Module = nn.Identity()
        # Scores against a cohort of training faces, fitted after training (model.score_norm).
        self.score_norm: nn.Module | None = None
        # Hand-crafted descriptors joined to the embedding, fitted after training
        # (model.descriptor, models/descriptors.py); unused until then.
        self.descriptor: nn.Module | None = None
        self.inference_copy = False  # made by for_inference: BatchNorm folded, eval only

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings of a batch of faces, ``(B, 1, S, S)`` in [0, 1] -> ``(B, D)``.

        In eval mode with ``flip_tta``, the mean of the face's and its mirror image's tower
        outputs (the mirror image is the same person), before any whitening; with a fitted
        descriptor, the whitened embedding joined to the face's descriptor (unit length).
        """
        if self.flip_tta and not self.training:
            # Face and mirror in one pass through the tower: half the kernel launches.
            # (Split by reshaping, not by len(x): an ONNX export keeps any batch size.)
            h = self.tower(torch.cat([x, x.flip(-1)])).float().unflatten(0, (2, -1))
            h = (h[0] + h[1]) / 2
        else:
            h = self.tower(x)
        if self.descriptor is not None and bool(self.descriptor.fitted):
            return self.descriptor.fuse(self.head.units(self.whiten(h)), x)
        return self.whiten(h)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        # One pass through the tower for both sides: half the kernel launches, same result.
        h = self.whiten(self.tower(torch.cat([x1, x2])))  # (2B, D)
        h1, h2 = h.chunk(2)
        return self.head(h1, h2)  # (B,) logit or distance

    def score(self, out: torch.Tensor) -> torch.Tensor:
        """Higher means more likely the same person, for every head."""
        return self.head.score(out)

    def pair_scores(self, h1: torch.Tensor, h2: torch.Tensor, out=None) -> torch.Tensor:
        """The verdict's score of each embedding pair ``(h1[i], h2[i])``: the head's, through
        the cohort normalisation when the net has one (``out``: the head's output, if made)."""
        s = self.score(self.head(h1, h2) if out is None else out)
        return self._normalised(s, h1, h2)

    def pairwise_scores(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """The score of every ``(h1[i], h2[j])``: ``(N, M)``."""
        return self._normalised(self.score(self.head.pairwise(h1, h2)), h1, h2)

    @property
    def normalises(self) -> bool:
        """Whether scores go through a fitted cohort normalisation (``model.score_norm``)."""
        return self.score_norm is not None and bool(self.score_norm.fitted)

    def cohort_stats(self, h: torch.Tensor) -> torch.Tensor | None:
        """Each embedding's mean and standard deviation of cosines with the cohort ``(B, 2)``:
        what turns two faces' cosine into the score (models/cohort.py); None without one."""
        if not self.normalises:
            return None
        return torch.stack(self.score_norm.stats(self.head.units(h)), 1)

    def _normalised(self, s: torch.Tensor, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        if not self.normalises:
            return s
        return self.score_norm(s, self.head.units(h1), self.head.units(h2))


def for_inference(net: SiameseNet) -> SiameseNet:
    """An eval-mode copy of ``net`` that embeds as ``net`` does, with each BatchNorm folded
    into the convolution (or linear layer) before it: one pass over memory fewer a layer.
    The head and the whitening are shared with ``net``, not copied."""
    # Its convolutions as nn.Conv2d: an eval-mode TapConv2d is one, and fx's folding looks
    # for that class (models/tapconv.py).
    fast = SiameseNet(_folded(plain_convs(copy.deepcopy(net.tower)).eval()), net.head)
    fast.flip_tta, fast.whiten, fast.score_norm = net.flip_tta, net.whiten, net.score_norm
    fast.descriptor = net.descriptor
    fast.inference_copy = True
    return fast.eval()


def has_batchnorm(module: nn.Module) -> bool:
    """Whether ``for_inference`` has a BatchNorm of ``module`` to fold (and so traces it)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def _folded(module: nn.Module) -> nn.Module:
    if not has_batchnorm(module):
        return module  # nothing to fold: no fx trace, and none of the garbage it leaves
    from torch.fx.experimental.optimization import fuse
    from torch.fx.proxy import TraceError

    try:
        return fuse(module, inplace=True)
    except (TraceError, TypeError, NotImplementedError, RuntimeError):
        # fx cannot trace code that reads a tensor's size as a number (a member tower's
        # view crop); its parts that it can trace are folded one by one.
        for name, child in module.named_children():
            setattr(module, name, _folded(child))
        return module


# Halving a face as Pillow's antialiased bilinear resize does (and torch's F.interpolate with
# antialias=True): a triangle filter of taps 1, 3, 3, 1 over 8 along each axis, at stride 2,
# renormalised where it reaches past the border.
_TRIANGLE = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8


def halvings(size: int, tower_size: int) -> int:
    """How many times faces of ``size`` pixels are halved for a tower of ``tower_size``
    (``model.tower_size``, a power-of-two fraction of ``size`` as the configuration checks);
    0 when it is unset or the faces are no larger."""
    if not 0 < tower_size < size:
        return 0
    return (size // tower_size).bit_length() - 1


def halve(x: torch.Tensor, times: int = 1) -> torch.Tensor:
    """Faces ``(B, 1, S, S)`` at half their size, ``times`` times over: the antialiased
    bilinear resize (equal to ``F.interpolate(..., antialias=True)``, tested) written as a
    convolution, which exports to ONNX where the antialiased resize does not."""
    kernel = (_TRIANGLE[:, None] * _TRIANGLE[None, :]).to(x.dtype)[None, None]
    for _ in range(times):
        ones = torch.ones_like(x[:1])
        x = F.conv2d(x, kernel, stride=2, padding=1) / F.conv2d(ones, kernel, stride=2, padding=1)
    return x


class Downsampled(nn.Module):
    """A tower on its input halved ``times`` times (``model.tower_size``; :func:`halve`): the
    net takes larger faces than the tower, so that what reads the faces beside the tower (the
    descriptor) sees every pixel, while the tower sees what a resize to its size would give.
    Faces already at the tower's ``size`` pass as they are: training halves them before its
    augmentation (``training.objectives``), which then draws on a quarter of the pixels. With
    ``model.views_before_halving`` each member is one of these, on its view of the whole face
    (training then jitters whole faces)."""

    def __init__(self, tower: nn.Module, times: int, size: int) -> None:
        super().__init__()
        self.tower, self.times, self.size = tower, times, size
        self.embedding_dim = tower.embedding_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, S, S) -> (B, D)
        if x.shape[-1] != self.size:
            x = halve(x, self.times)
        return self.tower(x)


class MemberTowers(nn.Module):
    """Several independent towers as one: each face's embedding is their embeddings joined.

    An ensemble that stays a Siamese verifier: one (composite) tower embeds both faces and
    one number, the mean of the members' cosines (see ``CosineHead``), decides.
    """

    def __init__(self, towers: list[nn.Module], views=()) -> None:
        super().__init__()
        if views and len(views) != len(towers):
            raise ValueError(f"{len(views)} views for {len(towers)} member towers")
        self.members = nn.ModuleList(towers)
        self.views = [tuple(v) for v in views] or [WHOLE] * len(towers)
        self.embedding_dim = sum(t.embedding_dim for t in towers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, S, S) -> (B, members * D)
        return torch.cat([t(view(x, v)) for t, v in zip(self.members, self.views, strict=True)], 1)


def view(x: torch.Tensor, box: tuple[float, ...]) -> torch.Tensor:
    """The ``(left, top, right, bottom)`` fraction of every face in ``x``, resized back to
    ``x``'s size (bilinear), so that each member tower keeps its input size."""
    if tuple(box) == WHOLE:
        return x
    # Python ints: the ONNX exporter's trace gives sizes as tensors, which round() refuses;
    # the face's size is fixed in an export (only the batch is dynamic).
    h, w = (int(d) for d in x.shape[-2:])
    left, top, right, bottom = box
    part = x[..., round(top * h) : round(bottom * h), round(left * w) : round(right * w)]
    return F.interpolate(part, size=(h, w), mode="bilinear", align_corners=False)
