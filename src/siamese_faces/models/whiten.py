"""Within-class covariance normalisation (WCCN), fitted on the training people after training.

A tower trained on a few thousand faces leaves directions in its embedding along which the
photos of one person still vary a lot (pose, light). WCCN (Hatch et al., 2006) rescales the
embedding so that this within-person variation becomes the same in every direction: a fixed
linear map at the end of the tower, so that at inference one tower still embeds both faces
and their cosine decides. Fitted on the images of the training people only (the unrestricted
protocol's identities), never on a validation or test person; under the restricted protocol,
which groups no faces by name, each same-labelled training pair is a class of two faces
(the labels that protocol trains on; ``RunData.fitting_faces``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..members import check_split, member_units


class WithinClassWhitening(nn.Module):
    """``h`` -> ``(unit(h) - mean) @ W`` for each member's part of the embedding.

    ``W = (S_w + ridge * tr(S_w) / D * I)^(-1/2)``, ``S_w`` the within-class covariance of
    the unit embeddings (classes of two or more faces: people, or same pairs). The ridge
    keeps directions that the training faces barely use from being blown up. Until
    :meth:`fit` it is the identity.
    """

    def __init__(self, dim: int, groups: int = 1, ridge: float = 0.1) -> None:
        super().__init__()
        d = check_split(dim, groups)
        self.groups, self.ridge = groups, ridge
        self.register_buffer("mean", torch.zeros(groups, d))
        # Identity matrices made by hand: torch.eye on the meta device (load_run's shape check)
        # imports TorchDynamo, more than a second of every cold command.
        matrix = torch.zeros(groups, d, d)
        matrix.diagonal(dim1=1, dim2=2).fill_(1.0)
        self.register_buffer("matrix", matrix)
        self.register_buffer("fitted", torch.tensor(False))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not bool(self.fitted):
            return h
        with torch.autocast(h.device.type, enabled=False):  # a small matmul, kept in float32
            x = member_units(h, self.groups) - self.mean
            return torch.einsum("bgd,gde->bge", x, self.matrix).flatten(1)

    @torch.no_grad()
    def fit(self, h: torch.Tensor, labels: torch.Tensor) -> dict:
        """Fit on embeddings ``h`` ``(N, G * D)`` of training faces with person ``labels``."""
        x = member_units(h.to(self.mean.device), self.groups)
        labels = labels.to(x.device)
        counts = torch.bincount(labels)
        keep = counts[labels] >= 2
        if int(keep.sum()) < 2:
            raise ValueError(
                "model.wccn: no training person has two or more images, so there is no "
                "within-person variation to normalise; set model.wccn=0."
            )
        sums = torch.zeros(len(counts), *x.shape[1:], device=x.device).index_add_(0, labels, x)
        centred = (x - sums[labels] / counts[labels, None, None])[keep]
        cov = torch.einsum("ngd,nge->gde", centred, centred) / len(centred)  # (G, D, D)
        d = cov.shape[-1]
        eye = torch.eye(d, device=x.device)
        trace = cov.diagonal(dim1=1, dim2=2).sum(1)[:, None, None]
        values, vectors = torch.linalg.eigh(cov.double() + (self.ridge * trace / d * eye).double())
        root = vectors @ torch.diag_embed(values.rsqrt()) @ vectors.transpose(1, 2)
        self.mean.copy_(x.mean(0))
        self.matrix.copy_(root.float())
        self.fitted.fill_(True)
        return {"images": int(keep.sum()), "people": int((counts >= 2).sum())}
