"""Hand-crafted face descriptors, whitened on the training people, fused with the tower.

A tower trained from scratch on a few thousand faces and the classical descriptors of face
verification err on different pairs: histograms of oriented gradients (HOG; Dalal & Triggs,
2005) and of uniform local binary patterns (LBP; Ahonen et al., 2006) over a grid of cells
describe a face's edges and textures with no learning; with ``illumination="tan-triggs"``
they read the face after Tan & Triggs' illumination normalisation (2010). After training,
``Descriptor`` is fitted on the training faces only (never a validation or test person): a
PCA to ``dim`` whitened directions, then the within-person whitening the tower's embedding
gets (``WithinClassWhitening``). The net then embeds a face as ``[sqrt(1 - a) u, sqrt(a) d]``,
``u`` the cosine head's units of the tower's embedding (a net of several members: each
member's part at unit length over the square root of their number) and ``d`` the
descriptor's, so the cosine of two faces is ``(1 - a) cos_tower + a cos_descriptor``
(``cos_tower`` the members' mean):
still one embedding a face and one cosine, for the threshold, the cohort normalisation, the
gallery's index and the ONNX export alike. The weight ``a`` is chosen on validation pairs,
like the threshold (docs/accuracy.md measures it).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..config import ILLUMINATIONS
from .siamese import halve
from .whiten import WithinClassWhitening

ORIENTATIONS = 9  # HOG's unsigned orientation bins (Dalal & Triggs)
UNIFORM = 59  # LBP(8, 1): 58 uniform patterns and one bin for all the others
RIDGE = 0.1  # the descriptor's within-person whitening ridge, as the tower's (model.wccn)
SMALLEST = 32  # a face smaller than this leaves HOG too few cells to describe it


def uniform_patterns() -> torch.Tensor:
    """Each 8-bit LBP code's bin: its own for the 58 codes with at most two 0/1 transitions
    around the circle (in code order), the last bin for every other code."""
    table, k = torch.full((256,), UNIFORM - 1, dtype=torch.long), 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            table[code], k = k, k + 1
    return table


def cell_histograms(bins: torch.Tensor, weights: torch.Tensor, count: int, cell: int):
    """Per-cell histograms ``(B, count, g, g)`` of per-pixel ``bins`` ``(B, H, W)`` (each
    pixel adding its ``weights``), over the whole ``cell``-square cells that fit (g of a side).
    One scatter-add a pixel, not a one-hot plane a bin: the histograms of a batch of faces
    cost about what one pass over their pixels does. ``bins``: whole numbers, as integers or
    as floats (each pixel's column then found in float arithmetic, exact below 2 ** 24, and
    converted once: int64 passes over this many pixels cost twice as much)."""
    b, g = bins.shape[0], bins.shape[-1] // cell
    index = bins[:, : g * cell, : g * cell].flatten(1) * (g * g) + cell_of_pixels(g, cell, bins)
    out = torch.zeros(b, count * g * g, device=bins.device, dtype=weights.dtype)
    out = out.scatter_add(1, index.long(), weights[:, : g * cell, : g * cell].flatten(1))
    return out.view(b, count, g, g)


def cell_of_pixels(g: int, cell: int, like: torch.Tensor, mirrored: bool = False):
    """Each pixel's cell, ``(g * cell) ** 2`` in raster order, of a ``g`` x ``g`` grid of
    ``cell``-square cells (``mirrored``: of the grid mirrored left to right), as ``like``'s
    dtype."""
    side = torch.arange(g * cell, device=like.device) // cell
    across = side.flip(0) if mirrored else side
    return (side[:, None] * g + across[None, :]).flatten().to(like.dtype)


def gradient_histograms(x: torch.Tensor, cell: int) -> torch.Tensor:
    """HOG of faces ``(B, 1, S, S)`` in [0, 1] -> ``(B, 4 * 9 * (S // cell - 1) ** 2)``:
    centred differences, each pixel's magnitude voting for its unsigned orientation's bin,
    summed over ``cell``-square cells, 2x2-cell blocks L2-Hys normalised."""
    x = x[:, 0]
    gx = F.pad(x[..., :, 2:] - x[..., :, :-2], (1, 1, 0, 0))
    gy = F.pad(x[..., 2:, :] - x[..., :-2, :], (0, 0, 1, 1))
    # Unsigned orientation in [0, pi), floored into equal bins (a horizontal gradient, either
    # way, in the first). In place where a pass can reuse its input's memory, and the bins
    # kept as floats: the same numbers as int64 bins, with fewer and cheaper passes.
    angle = torch.atan2(gy, gx).remainder_(math.pi)
    nearest = angle.mul_(ORIENTATIONS / math.pi).clamp_(max=ORIENTATIONS - 1).floor_()
    if torch.onnx.is_in_onnx_export():  # its atan2 is NaN where both differences are 0
        nearest = torch.nan_to_num(nearest, nan=0.0)  # torch's bin there (magnitude 0)
    cells = cell_histograms(nearest, gx.mul_(gx).add_(gy.mul_(gy)).sqrt_(), ORIENTATIONS, cell)
    g = cells.shape[-1] - 1
    blocks = torch.cat([cells[..., i : i + g, j : j + g] for i in (0, 1) for j in (0, 1)], 1)
    blocks = unit_blocks(blocks).clamp(max=0.2)  # L2-Hys
    return unit_blocks(blocks).flatten(1)


def blur_matrix(n: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    """``(n, n)``: row i the Gaussian of ``sigma`` pixels (taps to 3 sigma) around pixel i of
    a line of ``n``, the taps past an end mirrored back onto the line (the end pixel once)."""
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, device=like.device)
    k = torch.exp(-(t * t) / (2 * sigma * sigma)).to(like.dtype)
    where = (torch.arange(n, device=like.device)[:, None] + t).abs()
    where = torch.where(where >= n, 2 * (n - 1) - where, where)
    m = torch.zeros(n, n, dtype=like.dtype, device=like.device)
    return m.scatter_add_(1, where, (k / k.sum()).expand(n, -1))


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Faces ``(B, 1, H, W)`` blurred by a Gaussian of ``sigma`` pixels, the border mirrored:
    two matrix products (one an axis), which export to ONNX as they are."""
    along_y = blur_matrix(x.shape[-2], sigma, x)
    along_x = blur_matrix(x.shape[-1], sigma, x)
    return along_y @ x @ along_x.T


def tan_triggs(x: torch.Tensor, gamma=0.2, sigmas=(1.0, 2.0), alpha=0.1, tau=10.0) -> torch.Tensor:
    """Tan & Triggs' illumination normalisation (2010) of faces ``(B, 1, S, S)`` in [0, 1], at
    their published settings: gamma correction, a difference of Gaussians (a band-pass that
    drops the slow shading of the light), and each face's contrast equalised in two stages,
    large values squashed by ``tau * tanh(x / tau)``."""
    x = (x.clamp_min(0) + 1e-3) ** gamma  # the small offset keeps the gradient of 0 ** 0.2 finite
    x = gaussian_blur(x, sigmas[0]) - gaussian_blur(x, sigmas[1])
    x = x / x.abs().pow(alpha).mean((1, 2, 3), keepdim=True).pow(1 / alpha)
    x = x / x.abs().clamp(max=tau).pow(alpha).mean((1, 2, 3), keepdim=True).pow(1 / alpha)
    return tau * torch.tanh(x / tau)


def unit_blocks(blocks: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each block's histogram ``blocks[:, :, i, j]`` at unit length (``F.normalize`` along
    dim 1, which over this layout runs a strided norm several times slower)."""
    return blocks / blocks.square().sum(1, keepdim=True).sqrt().clamp_min(eps)


AROUND = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))  # bit order


def pattern_codes(x: torch.Tensor, radius: int) -> torch.Tensor:
    """LBP(8, ``radius``) codes of faces ``(B, S, S)``: ``(B, S - 2r, S - 2r)`` bytes, bit b
    set where the pixel ``radius`` away in direction ``AROUND[b]`` (corners and edge middles;
    no interpolation) is at least the centre."""
    s, r = x.shape[-1], radius
    centre = x[..., r:-r, r:-r]
    # bytes, not int64, until the table's lookup: a pass over them costs an eighth as much;
    # each comparison added in the same pass as its bit's weight (a sum of bits, not |= and
    # <<, which the ONNX export has no operator for)
    code = torch.zeros_like(centre, dtype=torch.uint8)
    for bit, (dy, dx) in enumerate(AROUND):
        neighbour = x[..., r + r * dy : s - r + r * dy, r + r * dx : s - r + r * dx]
        code.add_(neighbour >= centre, alpha=1 << bit)
    return code


def mirrored_codes() -> torch.Tensor:
    """Each code's code in the mirror image: the bits of left and right neighbours swapped."""
    swap = [AROUND.index((dy, -dx)) for dy, dx in AROUND]
    codes = torch.arange(256)
    return sum(((codes >> b) & 1) << swap[b] for b in range(8))


def pattern_histograms(
    x: torch.Tensor, cell: int, table: torch.Tensor, radius: int = 1, mirror: bool = False
) -> torch.Tensor:
    """Uniform LBP(8, ``radius``) of faces ``(B, 1, S, S)`` -> ``(B, 59 * ((S - 2 radius) //
    cell) ** 2)``: each pixel compared with the eight pixels ``radius`` away (``pattern_codes``),
    each cell's histogram of pattern bins (``table``) as frequencies, square-rooted (so that
    their dot products are the Hellinger kernel). ``mirror``: also those of each face's
    mirror image, ``(2B, ...)`` (the faces', then the mirrors'), from the same codes: the
    mirror's code at a pixel is the face's at the mirrored pixel with left and right bits
    swapped, so each comparison serves both."""
    code = pattern_codes(x[:, 0], radius)
    m, faces = code.shape[-1], code.shape[0]  # not len(): the ONNX batch stays dynamic
    g = m // cell
    n = g * cell  # the whole cells from the top left; the mirror's lie at the face's right
    lut = table * (g * g)  # each code's bin's first column
    counts = torch.zeros(2 if mirror else 1, faces, UNIFORM * g * g, device=x.device)
    ones = torch.ones((), device=x.device).expand(faces, n * n)
    index = lut[code[..., :n, :n].flatten(1).long()] + cell_of_pixels(g, cell, lut)
    counts[0].scatter_add_(1, index, ones)
    if mirror:
        lut = lut[mirrored_codes().to(x.device)]
        index = lut[code[..., :n, m - n :].flatten(1).long()]
        counts[1].scatter_add_(1, index + cell_of_pixels(g, cell, lut, mirrored=True), ones)
    return (counts.flatten(0, 1) / (cell * cell)).sqrt()


class Joined(nn.Module):
    """What a fitted descriptor gives the net: its unit descriptors of faces (one a family
    of histograms, each ``dim`` directions) joined to the tower's units by shares ``a_k``
    chosen on validation, ``[sqrt(1 - sum a) u, sqrt(a_1) d_1, ...]``: the cosine of two
    faces is ``(1 - sum a) cos_tower + sum a_k cos_k``."""

    def shares(self) -> torch.Tensor:
        """Each family's share ``(K,)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.embed_features(self.features(x))

    def embed_features(self, features: torch.Tensor) -> torch.Tensor:
        """Unit descriptors ``(B, dim)`` of raw histograms ``features``."""
        return self.unit(self.directions(features))

    def join(self, u: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """The cosine head's units ``u`` of the tower's embeddings (``CosineHead.units``: their
        dot product is the members' mean cosine) joined to descriptors ``d``, each family's
        part weighted by the square root of its share."""
        a = self.shares().float()
        parts = zip(a, self.families(d), strict=True)
        return torch.cat([(1 - a.sum()).sqrt() * u, *(w.sqrt() * p for w, p in parts)], 1)

    def families(self, d: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Descriptors ``d`` ``(B, dim)`` (unit, or on the directions) cut into each
        family's part."""
        return d.split(d.shape[1] // len(self.shares()), 1)

    @torch.no_grad()
    def fit(self, features, grouped, labels, generator) -> tuple[dict, torch.Tensor]:
        """The PCA on all of ``features`` (centred in place), then the whitening on those
        ``grouped`` names (``fit_directions``, ``fit_whitening``): what was fitted, and every
        face's unit descriptor."""
        units = self.fit_whitening(self.fit_directions(features, generator), grouped, labels)
        info = {"features": features.shape[1], "images": len(features), "grouped": len(grouped)}
        return info, units

    def fuse(self, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The head's units ``u`` of faces ``x`` joined to the faces' descriptors."""
        with torch.autocast(x.device.type, enabled=False):
            return self.join(u, self(x))


class Descriptor(Joined):
    """HOG and LBP histograms of a face and of its mirror image (``illumination``: of the face
    as it is, or Tan & Triggs normalised; ``halvings``: of the face halved that many times
    first), to ``dim`` whitened directions: ``(B, 1, S, S)`` -> unit ``(B, dim)``; the cells
    are of the halved face. Until :meth:`fit`, not used."""

    def __init__(
        self,
        size: int,
        dim: int,
        hog_cell: int,
        lbp_cell: int,
        ridge: float,
        lbp_radii: tuple[int, ...] = (1,),
        illumination: str = "none",
        halvings: int = 0,
    ) -> None:
        super().__init__()
        if illumination not in ILLUMINATIONS:
            raise ValueError(
                f"model.descriptor_illumination={illumination!r}: use one of "
                f"{', '.join(ILLUMINATIONS)}."
            )
        self.hog_cell, self.lbp_cell, self.lbp_radii = hog_cell, lbp_cell, tuple(lbp_radii)
        self.illumination, self.halvings = illumination, halvings
        self.register_buffer("table", uniform_patterns(), persistent=False)
        size >>= halvings  # the histograms read the face halved this many times
        lbp = sum(UNIFORM * ((size - 2 * r) // lbp_cell) ** 2 for r in self.lbp_radii)
        # the face's and its mirror's HOG: the first columns of features(), LBP's after them
        self.hog_features = 2 * 4 * ORIENTATIONS * (size // hog_cell - 1) ** 2
        features = self.hog_features + 2 * lbp
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("project", torch.zeros(features, dim))
        self.whiten = WithinClassWhitening(dim, 1, ridge)
        self.register_buffer("weight", torch.tensor(0.0))  # a: the descriptor's share
        self.register_buffer("fitted", torch.tensor(False))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The raw histograms ``(B, features)``, in float32 whatever the autocast."""
        with torch.autocast(x.device.type, enabled=False):
            x = halve(x.float(), self.halvings)
            if self.illumination == "tan-triggs":  # equal on the mirror image, mirrored
                x = tan_triggs(x)
            both = torch.cat([x, x.flip(-1)])
            parts = [gradient_histograms(both, self.hog_cell)] + [
                pattern_histograms(x, self.lbp_cell, self.table, r, mirror=True)
                for r in self.lbp_radii
            ]
            return torch.cat([p.unflatten(0, (2, -1)).transpose(0, 1).flatten(1) for p in parts], 1)

    def directions(self, features: torch.Tensor) -> torch.Tensor:
        """Raw histograms ``features`` on the PCA's whitened directions ``(B, dim)``."""
        return (features.float() - self.mean) @ self.project

    def unit(self, z: torch.Tensor) -> torch.Tensor:
        """Unit descriptors of faces on the directions, ``z`` (:meth:`directions`)."""
        return F.normalize(self.whiten(z), dim=1)

    @property
    def feature_count(self) -> int:
        return self.mean.shape[0]

    @property
    def dim(self) -> int:
        return self.project.shape[1]

    def shares(self) -> torch.Tensor:
        return self.weight[None]

    def set_shares(self, shares) -> None:
        self.weight.fill_(shares[0])

    def check_faces(self, faces: int) -> None:
        """Refuse to fit on ``faces`` training faces if they are too few for the directions."""
        dim = self.project.shape[1]
        if faces <= dim:
            raise ValueError(
                f"model.descriptor_dim={dim}: the descriptor is fitted on {faces} training "
                "faces, too few for that many directions; lower model.descriptor_dim or set "
                'model.descriptor = "none".'
            )

    @torch.no_grad()
    def fit_directions(
        self, features: torch.Tensor, generator: torch.Generator, bf16: bool = False
    ) -> torch.Tensor:
        """The PCA of training faces' raw histograms ``features`` (from :meth:`features`; all
        the training faces or a sample of them): their mean and whitened directions, its
        search's products in bfloat16 if ``bf16`` (:func:`whitened_directions`). Returns
        the faces on those directions, ``(B, dim)``. ``features`` is centred in place (each
        face's tens of thousands of values are not copied)."""
        self.check_faces(len(features))
        mean = features.mean(0)
        centred = features.sub_(mean)
        self.mean.copy_(mean)
        project, z = whitened_directions(centred, self.dim, generator, bf16)
        self.project.copy_(project)
        return z

    @torch.no_grad()
    def fit_whitening(self, z: torch.Tensor, grouped: torch.Tensor, labels: torch.Tensor):
        """The within-person whitening, fitted on the faces on the directions ``z`` that
        ``grouped`` names, with person ``labels`` (under the restricted protocol no face is
        grouped by name, and the PCA still saw every training-pair image: it reads no
        label). Returns every face's unit descriptor; the share is chosen apart, on
        validation pairs (``training.trainer.fit_descriptor``)."""
        self.whiten.fit(z[grouped], labels)
        self.fitted.fill_(True)
        return self.unit(z)


class DescriptorFamilies(Joined):
    """Several :class:`Descriptor` side by side, one an illumination or a scale of the face
    (``model.descriptor_illumination`` or ``model.descriptor_halvings`` with more than one):
    each its own PCA, within-person whitening and share, so that each family's directions
    are its own, not a joined PCA's (docs/accuracy.md measured both)."""

    def __init__(self, parts: list[Descriptor]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.register_buffer("fitted", torch.tensor(False))

    @property
    def feature_count(self) -> int:
        return sum(p.feature_count for p in self.parts)

    @property
    def dim(self) -> int:
        return sum(p.dim for p in self.parts)

    def shares(self) -> torch.Tensor:
        return torch.stack([p.weight for p in self.parts])

    def set_shares(self, shares) -> None:
        for part, a in zip(self.parts, shares, strict=True):
            part.weight.fill_(a)

    def check_faces(self, faces: int) -> None:
        self.parts[0].check_faces(faces)  # every family has model.descriptor_dim directions

    def split(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Raw ``features`` ``(B, feature_count)`` cut into each family's columns (views)."""
        return features.split([p.feature_count for p in self.parts], 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([p.features(x) for p in self.parts], 1)

    def directions(self, features: torch.Tensor) -> torch.Tensor:
        parts = zip(self.parts, self.split(features), strict=True)
        return torch.cat([p.directions(f) for p, f in parts], 1)

    def unit(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([p.unit(f) for p, f in zip(self.parts, self.families(z), strict=True)], 1)

    @torch.no_grad()
    def fit_directions(
        self, features: torch.Tensor, generator: torch.Generator, bf16: bool = False
    ) -> torch.Tensor:
        """Each family's PCA on its own columns of ``features`` (centred in place), as
        :meth:`Descriptor.fit_directions` fits one; the faces on all the directions."""
        parts = zip(self.parts, self.split(features), strict=True)
        return torch.cat([p.fit_directions(f, generator, bf16) for p, f in parts], 1)

    @torch.no_grad()
    def fit_whitening(self, z: torch.Tensor, grouped: torch.Tensor, labels: torch.Tensor):
        parts = zip(self.parts, self.families(z), strict=True)
        units = torch.cat([p.fit_whitening(f, grouped, labels) for p, f in parts], 1)
        self.fitted.fill_(True)
        return units


# The PCA's randomised search (Halko, Martinsson & Tropp, 2011, subspace iteration): this many
# directions beyond the ones kept, and this many passes of the histograms back and forth.
OVERSAMPLE, PASSES = 10, 4


def whitened_directions(
    centred: torch.Tensor, dim: int, generator: torch.Generator, bf16: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The PCA of centred histograms ``(N, F)``: their top ``dim`` directions, each scaled by
    one over its singular value, ``(F, dim)``, and the faces on them, ``(N, dim)``.
    ``bf16``: the search's products in bfloat16 (for a CPU that runs them natively), its
    last product and the SVD in float32."""
    # A randomised SVD finds the top directions of a few thousand faces' tens of thousands of
    # histogram bins in seconds; a full one takes minutes. It is torch.svd_lowrank's
    # algorithm, written out so that its passes can run in bfloat16: they only find the
    # subspace, which the float32 product after them then measures (docs/accuracy.md
    # compares the two precisions; an earlier PCA of ours in bf16 that never formed the
    # centred matrix had lowered validation AUC).
    seed = int(torch.randint(2**31, (1,), generator=generator))
    q = min(dim + OVERSAMPLE, *centred.shape)
    low = centred.to(torch.bfloat16) if bf16 else centred

    def onto(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """An orthonormal basis of ``m @ x``, the product in ``m``'s precision."""
        return torch.linalg.qr((m @ x.to(m.dtype)).float()).Q

    # The start drawn as torch.svd_lowrank draws it from the same seed, so that in float32
    # this gives its directions (tested in tests/evaluation/test_descriptor_pca.py).
    start = torch.randn(len(centred), q, generator=torch.Generator().manual_seed(seed))
    basis = onto(low.T, start)  # (F, q): the bins' side, where the directions lie
    for _ in range(PASSES):
        basis = onto(low.T, onto(low, basis))
    del low
    u, s, wh = torch.linalg.svd(centred @ basis, full_matrices=False)
    scale = s[:dim].clamp_min(1e-6)
    # The faces on the directions are the SVD's left vectors (centred @ basis @ wh.T / s = u):
    # no second float32 pass over the histograms (docs/accuracy.md times the one saved).
    return (basis @ wh.T)[:, :dim] / scale, u[:, :dim] * (s[:dim] / scale)


def make_descriptor(
    size: int | None,
    dim: int,
    lbp_divisor: int = 8,
    lbp_radii: tuple[int, ...] = (1,),
    illumination: tuple[str, ...] = ("none",),
    halvings: tuple[int, ...] = (0,),
) -> Descriptor | DescriptorFamilies:
    """The descriptor of ``size``-square faces: HOG cells of size // 16 pixels (a 16 x 16 grid
    whatever the size) and LBP cells of size // ``lbp_divisor`` (8: a 7 x 7 grid,
    10: a 10 x 10 one at 64 pixels; docs/accuracy.md), LBP at each of ``lbp_radii``, of the
    faces as each of ``illumination`` leaves them, at each of ``halvings`` (the face halved
    that many times, its cells in the same grid); more than one illumination or scale: one
    family each, the scales outermost."""
    if problem := size_problem(size, halvings):
        raise ValueError(problem)
    parts = []
    for h in halvings:
        cells = ((size >> h) // 16, (size >> h) // lbp_divisor)
        parts += [Descriptor(size, dim, *cells, RIDGE, lbp_radii, i, h) for i in illumination]
    return parts[0] if len(parts) == 1 else DescriptorFamilies(parts)


def size_problem(size: int | None, halvings: tuple[int, ...] = (0,)) -> str | None:
    """Why faces of ``size`` pixels are too small for the histograms at every one of
    ``halvings`` (the smallest scale decides), with the fix; None if they are not."""
    halvings = max(halvings)
    if size is not None and size >> halvings >= SMALLEST:
        return None
    if halvings:
        return (
            f"model.descriptor_halvings: faces of {size} pixels halved {halvings} times are "
            f"too small for the histograms; use data.size >= {SMALLEST << halvings} or fewer "
            "halvings."
        )
    return (
        f"model.descriptor: faces of {size} pixels are too small for its histograms; "
        f'use data.size >= {SMALLEST} or model.descriptor = "none".'
    )
