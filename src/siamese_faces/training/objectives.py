"""What a training step optimises: pairs through the head, identities through a margin
softmax (CosFace, ArcFace), or (self-supervised) each image's two random views.

An objective gives each epoch's batches (seeded, sharded over DDP processes) and the module
that DDP wraps: the Siamese net itself for pairs; the net plus the margin softmax's class
weights for identities (so those weights are trained and synchronised too); the tower for
views. Inference always uses the Siamese net alone: one tower embeds both faces and the head
compares them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import Config
from ..data.rundata import RunData, batch_images
from ..data.samplers import (
    balanced_order,
    identity_order,
    identity_pairs,
    restricted_pairs,
    shard,
)
from ..evaluation.predict import make_pair_loss
from ..losses import create_loss
from ..members import member_units
from ..models.siamese import halve, halvings
from ..runtime import autocast, bf16_supported
from .augment import augment, erase, jitter
from .distill import relation_loss, score_matrix, teacher_units


class TowerFaces:
    """The training faces of image ``rows`` as the tower takes them: in [0, 1], halved
    (``model.tower_size``) once, when they are larger than the tower's, not at every epoch;
    else gathered from the images at each batch. ``batch(rows)``: those rows' faces.

    Halved under the training step's autocast, as each batch was halved inside the step
    before: bf16 faces when training in bf16, and the same values bit for bit, since
    :func:`~siamese_faces.models.siamese.halve` treats each face alone (tested)."""

    def __init__(self, data: RunData, rows: torch.Tensor, cfg: Config, ctx, chunk: int = 1024):
        self.images, self.device = data.images, ctx.device
        # Views cut before the halving (model.views_before_halving) need the whole face.
        tower_size = 0 if cfg.model.views_before_halving else cfg.model.tower_size
        times = halvings(data.images.shape[-1], tower_size)
        self.where = None  # each image row's place among the halved faces
        if times:
            rows = rows.unique()
            self.where = torch.full((len(data.images),), -1, dtype=torch.long)
            self.where[rows] = torch.arange(len(rows))
            with autocast(ctx.device, cfg.train.bf16 and bf16_supported(ctx.device)):
                self.faces = torch.cat(
                    [
                        halve(batch_images(data.images, rows[i : i + chunk], ctx.device), times)
                        for i in range(0, len(rows), chunk)
                    ]
                )

    def batch(self, rows: torch.Tensor) -> torch.Tensor:
        if self.where is None:
            return batch_images(self.images, rows, self.device)
        return self.faces.index_select(0, self.where[rows].to(self.faces.device))


def _images(
    faces: TowerFaces, rows: torch.Tensor, cfg: Config, gen, views: int = 1, strength=None
) -> torch.Tensor:
    """The faces of ``rows`` as a training batch: augmented (with ``strength``'s settings of
    :func:`augment`, always, when given; else as ``train.augment`` and
    ``train.augment_scale`` say), ``views`` draws of each one after the other."""
    # The tower's own faces (model.tower_size, models.siamese.Downsampled), jittered at the
    # tower's size: a quarter of the pixels to warp.
    x = faces.batch(rows)
    if strength is not None or cfg.train.augment:
        kw = strength or jitter(cfg.train.augment_scale)
        drawn = [augment(x, gen, mirror=cfg.train.mirror, **kw) for _ in range(views)]
        x = drawn[0] if views == 1 else torch.cat(drawn)  # no copy on the usual path
    if cfg.train.erase:
        x = erase(x, gen, cfg.train.erase)
    fmt = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
    return x.contiguous(memory_format=fmt)


def image_batches(order: np.ndarray, cfg: Config, ctx):
    """This process's batches of the epoch's ``order`` of positions among the training images;
    a last batch of one face is dropped (BatchNorm, and a softmax over the batch's other
    faces, need two)."""
    mine = torch.from_numpy(shard(order, ctx.rank, ctx.world))
    bs = max(1, cfg.train.batch_size // ctx.world)
    for i in range(0, len(mine), bs):
        idx = mine[i : i + bs]
        if len(idx) >= 2:
            yield idx


class PairObjective:
    """The head's pair loss. Restricted: the training file's pairs only (re-balanced with
    ``train.same_fraction`` if set). Unrestricted: new pairs drawn from identities each epoch."""

    def __init__(self, net, data: RunData, cfg: Config, ctx) -> None:
        self.net, self.data, self.cfg, self.ctx = net, data, cfg, ctx
        self.module = net
        self.loss = make_pair_loss(net, cfg.model)
        self.faces = TowerFaces(data, torch.cat([data.train.a, data.train.b]), cfg, ctx)

    def epoch_pairs(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t, d = self.cfg.train, self.data
        if self.cfg.data.protocol == "restricted":
            order = torch.from_numpy(
                restricted_pairs(d.train.y.numpy() > 0.5, t.same_fraction, t.seed, epoch)
            )
            return d.train.a[order], d.train.b[order], d.train.y[order]
        n = t.pairs_per_epoch or len(d.train)
        ia, ib, same = identity_pairs(d.identity_labels.numpy(), n, t.same_fraction, t.seed, epoch)
        rows = d.identity_rows
        return rows[ia], rows[ib], torch.from_numpy(same.astype(np.float32))

    def batches(self, epoch: int):
        a, b, y = self.epoch_pairs(epoch)
        mine = torch.from_numpy(shard(np.arange(len(y)), self.ctx.rank, self.ctx.world))
        bs = max(1, self.cfg.train.batch_size // self.ctx.world)
        for i in range(0, len(mine), bs):
            idx = mine[i : i + bs]
            yield a[idx], b[idx], y[idx]

    def sides(self, batch, gen) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch``'s first faces and their partners, as the tower sees them."""
        return tuple(_images(self.faces, r, self.cfg, gen) for r in batch[:2])

    def images(self, batch, gen) -> torch.Tensor:
        """The tower's input for ``batch``: its first faces, then their partners."""
        return torch.cat(self.sides(batch, gen))

    def forward(self, model, batch, gen) -> tuple[torch.Tensor, float]:
        """Loss and the number of correct decisions in ``batch``."""
        # The two sides apart: the net joins them for its one pass, so no copy is made here.
        x1, x2 = self.sides(batch, gen)
        y = batch[2].to(self.ctx.device)
        out = model(x1, x2)
        loss = self.loss(out, y)
        with torch.no_grad():
            correct = float(
                ((self.net.score(out) > self.net.head.default_threshold) == y.bool()).sum()
            )
        return loss, correct


class TowerModule(nn.Module):
    """What an objective trains around the Siamese net's ``tower``: :meth:`embed` runs the
    tower, or once :meth:`compile_tower` is called (``train.compile``) its forward through
    ``torch.compile``. The compiled function is held apart from the module's children, so
    the state dict and checkpoints are eager's, and the tower itself stays eager for
    validation and for its BatchNorm-folded inference copy (a deep copy of a compiled
    module would call the original's forward)."""

    def __init__(self, tower: nn.Module) -> None:
        super().__init__()
        self.tower = tower
        self.compiled = None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.tower(x) if self.compiled is None else self.compiled(x)

    def compile_tower(self) -> None:
        # The tower alone, not the loss: its input is the same shape in every run of a
        # recipe, so inductor's on-disk cache serves a later run (a View 2 fold, whose
        # class weights differ in number) instead of compiling again.
        self.compiled = torch.compile(self.tower.forward)


class IdentityModule(TowerModule):
    """The Siamese net's tower plus the margin softmax's class weights, as one module for DDP.

    Not the head: its parameters take no part in this loss, and DDP needs a gradient for
    every parameter it wraps.
    """

    def __init__(self, net, criterion: nn.Module, groups: int = 1, distill: float = 0.0) -> None:
        super().__init__(net.tower)
        self.criterion = criterion
        self.groups, self.distill = groups, distill

    def forward(self, x: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor | None = None):
        h = self.embed(x)  # (B, D)
        loss = self.criterion(h, labels)
        if teacher is not None:  # the teacher's joined unit vectors of the same faces
            student = score_matrix(h, self.groups)
            loss = loss + self.distill * relation_loss(
                student, teacher @ teacher.T, self.criterion.scale
            )
        return loss, self.criterion.logits(h.detach())


class IdentityObjective:
    """Margin softmax over the training people (unrestricted protocol only): the loss named
    by ``train.objective``."""

    def __init__(self, net, data: RunData, cfg: Config, ctx) -> None:
        self.net, self.data, self.cfg, self.ctx = net, data, cfg, ctx
        if len(self.epoch_order(0)) < 2:
            raise ValueError(
                f"train.min_images_per_person={cfg.train.min_images_per_person}: too few "
                "training people have that many images for an epoch to train on; lower it "
                "(1: every person)."
            )
        classes = int(data.identity_labels.max()) + 1
        gen = torch.Generator().manual_seed(cfg.train.seed + 1)
        crit = create_loss(
            cfg.train.objective,
            num_classes=classes,
            dim=net.tower.embedding_dim,
            scale=cfg.model.scale,
            margin=cfg.model.margin,
            generator=gen,
            groups=cfg.model.members,
            subcentres=cfg.model.subcentres,
        ).to(ctx.device)
        self.module = IdentityModule(net, crit, cfg.model.members, cfg.train.distill)
        self.faces = TowerFaces(data, data.identity_rows, cfg, ctx)
        # The teacher's embedding of each identity row, made once (None: no distillation).
        self.teacher = teacher_units(cfg, data, ctx.device) if cfg.train.distill else None

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Positions among the training images that ``epoch`` trains on, in its order."""
        t = self.cfg.train
        labels = self.data.identity_labels.numpy()
        return balanced_order(
            labels, t.seed, epoch, t.max_images_per_person, t.min_images_per_person
        )

    def batches(self, epoch: int):
        d = self.data
        for idx in image_batches(self.epoch_order(epoch), self.cfg, self.ctx):
            yield d.identity_rows[idx], d.identity_labels[idx], idx

    def images(self, batch, gen) -> torch.Tensor:
        """The tower's input for ``batch``."""
        return _images(self.faces, batch[0], self.cfg, gen)

    def forward(self, model, batch, gen) -> tuple[torch.Tensor, float]:
        _, labels, idx = batch
        x = self.images(batch, gen)
        labels = labels.to(self.ctx.device)
        teacher = None if self.teacher is None else self.teacher[idx].to(self.ctx.device)
        loss, logits = model(x, labels, teacher)
        return loss, float((logits.argmax(1) == labels).sum())


# Two views of one face must differ more than training's own draws make them, or telling
# them from the batch's other faces teaches which pixels a face has, not what it looks like.
INSTANCE_AUGMENT = {
    "rotate_deg": 15.0,
    "scale": 0.25,
    "shift": 0.12,
    "contrast": 0.4,
    "brightness": 0.2,
}


class InstanceModule(TowerModule):
    """The tower and SimCLR's NT-Xent loss (Chen et al., 2020): each of ``2B`` views must pick
    its partner among the other ``2B - 1`` by cosine over ``temperature``; members each
    their own loss, as for the other objectives."""

    def __init__(self, net, groups: int, temperature: float) -> None:
        super().__init__(net.tower)
        self.groups, self.temperature = groups, temperature

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: the first views of ``B`` faces, then their second views, ``(2B, 1, S, S)``;
        the loss and how many views found their partner."""
        u = member_units(self.embed(x), self.groups)  # (2B, G, D)
        n = len(x) // 2
        partner = torch.arange(2 * n, device=x.device).roll(n)  # i <-> i + n
        sims = torch.einsum("igd,jgd->gij", u, u) / self.temperature  # (G, 2B, 2B)
        itself = torch.eye(2 * n, dtype=torch.bool, device=x.device)
        sims = sims.masked_fill(itself, float("-inf"))
        loss = F.cross_entropy(sims.flatten(0, 1), partner.repeat(self.groups))
        return loss, (sims.mean(0).argmax(1) == partner).sum()


class InstanceObjective:
    """Self-supervised pre-training on the protocol's training images: the images of the
    training pairs and (unrestricted) of the training people, never a validation or test
    image. No name and no pair label is read, so the restricted protocol allows it too."""

    def __init__(self, net, data: RunData, cfg: Config, ctx) -> None:
        self.data, self.cfg, self.ctx = data, cfg, ctx
        self.rows = torch.cat([data.train.a, data.train.b, data.identity_rows]).unique()
        self.module = InstanceModule(net, cfg.model.members, cfg.train.temperature)
        self.faces = TowerFaces(data, self.rows, cfg, ctx)

    def batches(self, epoch: int):
        order = identity_order(len(self.rows), self.cfg.train.seed, epoch)
        for idx in image_batches(order, self.cfg, self.ctx):
            yield (self.rows[idx],)

    def images(self, batch, gen) -> torch.Tensor:
        """The tower's input for ``batch``: each face's two views."""
        return _images(self.faces, batch[0], self.cfg, gen, 2, INSTANCE_AUGMENT)

    def forward(self, model, batch, gen) -> tuple[torch.Tensor, float]:
        views = self.images(batch, gen)
        loss, found = model(views)
        return loss, float(found) / 2  # a face's two views: each counts a half


OBJECTIVES = {
    "pairs": PairObjective,
    "cosface": IdentityObjective,
    "arcface": IdentityObjective,
    "adaface": IdentityObjective,
    "instance": InstanceObjective,
}


def make_objective(net, data: RunData, cfg: Config, ctx):
    return OBJECTIVES[cfg.train.objective](net, data, cfg, ctx)
