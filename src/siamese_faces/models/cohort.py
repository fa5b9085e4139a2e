"""Score normalisation against a cohort of training faces (S-norm), fitted after training.

A cosine of 0.6 means more for two faces that look like nobody else than for two that look
like many people. S-norm (adaptive score normalisation over the whole cohort; Matejka et al.,
2017) measures each face against the cohort, the training people of the run, never a
validation or test person: ``mu`` and ``sd`` of its cosines with the cohort. A pair's score
becomes ``((s - mu_a) / sd_a + (s - mu_b) / sd_b) / 2``.

Over the whole cohort, a face's ``mu`` and ``sd`` need only the cohort's mean ``m`` and
covariance ``C`` of its unit vectors: ``mu = u . m`` and ``sd^2 = u' C u``. So what is fitted
has the same size whatever the number of training people, travels in the weights file like
the whitening, and leaves every score exact (``experiments/score_norm.py`` computes the same
from the cohort itself, with a top-k choice too; k = all won on validation, docs/accuracy.md).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def person_means(units: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """One unit vector a person of ``labels``: the mean of their faces' ``units``, at unit
    length, in label order."""
    labels = labels.to(units.device)
    sums = torch.zeros(int(labels.max()) + 1, units.shape[1], device=units.device)
    return F.normalize(sums.index_add_(0, labels, units.float())[torch.bincount(labels) > 0])


class CohortNorm(nn.Module):
    """The cohort's mean and covariance of unit embeddings ``(D,)``, ``(D, D)``; until
    :meth:`fit`, scores pass through unchanged."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("cov", torch.zeros(dim, dim))
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def fit(self, units: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        """Fit on training faces' unit embeddings ``(N, D)`` (the run's ``head.units``): with
        person ``labels``, one member of the cohort a person (the mean of their faces, at
        unit length); without (the restricted protocol groups no faces by name), each face."""
        units = units.float().to(self.mean.device)
        if labels is not None:
            units = person_means(units, labels)
        if len(units) < 2:
            raise ValueError(
                "model.score_norm: a cohort needs at least two training faces (or people); "
                'set model.score_norm = "none".'
            )
        self.mean.copy_(units.mean(0))
        centred = units - self.mean
        self.cov.copy_(centred.T @ centred / (len(units) - 1))
        self.fitted.fill_(True)
        return {"cohort": len(units)}

    def stats(self, units: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each face's mean and standard deviation of its cosines with the cohort."""
        units = units.float()
        var = ((units @ self.cov) * units).sum(1)
        return units @ self.mean, var.clamp_min(1e-12).sqrt()

    def forward(self, s: torch.Tensor, u1: torch.Tensor, u2: torch.Tensor) -> torch.Tensor:
        """Scores ``s`` of the pairs ``(u1[i], u2[i])`` ``(B,)``, or of every ``(u1[i], u2[j])``
        ``(N, M)``, normalised."""
        if not bool(self.fitted):
            return s
        (mu1, sd1), (mu2, sd2) = self.stats(u1), self.stats(u2)
        if s.dim() == 2:
            mu1, sd1, mu2, sd2 = mu1[:, None], sd1[:, None], mu2[None], sd2[None]
        return ((s - mu1) / sd1 + (s - mu2) / sd2) / 2

    def search_forms(self, units: torch.Tensor, side: str) -> torch.Tensor:
        """Vectors whose inner products are the normalised scores, for an inner-product index:
        enrolled faces as ``side = "key"``, ``[g, g / sd_g, mu_g / sd_g, 1]``; probes as
        ``"query"``, ``[u / sd_u, u, -1, -mu_u / sd_u] / 2``. Their product is
        ``(s / sd_u + s / sd_g - mu_g / sd_g - mu_u / sd_u) / 2``: the score above."""
        units = units.float()
        mu, sd = self.stats(units)
        if side == "key":
            return torch.cat(
                [units, units / sd[:, None], (mu / sd)[:, None], torch.ones_like(mu)[:, None]], 1
            )
        minus = -torch.ones_like(mu)[:, None]
        return torch.cat([units / sd[:, None], units, minus, (-mu / sd)[:, None]], 1) / 2
