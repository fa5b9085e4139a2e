"""Distillation: a finished run (the teacher) shows a new tower how alike its faces are.

The teacher embeds every training image once, before the first step, exactly as it does at
test time (flip averaging and whitening included); its judgement of a batch is then the
matrix of its scores between the batch's faces (the mean of its members' cosines, or the
cosine of the embedding that its fitted HOG and LBP histograms joined; before any score
normalisation: the student's head gives cosines too). The student is trained to
match it row by row: each face's softmax over its cosines with the batch's other faces, at
the identity objective's scale, against the teacher's (a KL divergence; relational
distillation, so the two embeddings need not have the same width).
The student sees its augmented faces; the teacher's targets are of the faces as they are.

The protocol's rule holds for the teacher too: it must not have trained on anyone the student
validates or tests on (sources.py checks it from the teacher's own data, before anything
trains).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..config import Config, ConfigError
from ..data.rundata import RunData
from ..members import member_units
from .sources import source_run


def score_matrix(h: torch.Tensor, groups: int) -> torch.Tensor:
    """``(B, B)`` scores between a batch's faces: the mean of the members' cosines."""
    u = member_units(h, groups)  # (B, G, D)
    return torch.einsum("bgd,cgd->bc", u, u) / groups


def relation_loss(student: torch.Tensor, teacher: torch.Tensor, scale: float) -> torch.Tensor:
    """KL(teacher || student) of each row's softmax over the other faces of the batch, at
    ``scale`` (a face's score with itself is left out: it is 1 for both)."""
    b = student.shape[0]
    off = ~torch.eye(b, dtype=torch.bool, device=student.device)
    s = (scale * student)[off].view(b, b - 1)
    t = (scale * teacher)[off].view(b, b - 1)
    return F.kl_div(
        F.log_softmax(s, 1), F.log_softmax(t, 1), reduction="batchmean", log_target=True
    )


def teacher_units(cfg: Config, data: RunData, device: torch.device) -> torch.Tensor:
    """The teacher's embeddings of ``data.identity_rows`` as unit vectors scaled so that
    their dot product is its score, ``(N, width)``."""
    run = source_run("train.teacher", cfg.train.teacher, cfg, data, device)
    if run.config.model.head != "cosine":
        raise ConfigError(
            f"train.teacher={cfg.train.teacher!r} scores with model.head = "
            f"{run.config.model.head!r}; a teacher's scores must be cosines, as the student's "
            'are: choose a run trained with model.head = "cosine".'
        )
    h = run.embed(data.images, data.identity_rows)
    # The head's units: its members' parts, or the one embedding that a fitted descriptor
    # joined to them (wider than the members, so not split); their dot product is its score.
    return run.net.head.units(h)
