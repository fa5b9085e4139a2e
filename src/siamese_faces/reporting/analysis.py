"""What the report computes, apart from drawing it and from the document: the architecture
table, examples of right and wrong, measurable properties of each pair, resemblance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.rundata import RunData
from ..models.siamese import WHOLE


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, tuple(t.shape)[1:]))


def _leaf_rows(net, rows: list) -> list:
    """Forward hooks that add a row (name, type, output shape, parameters) per leaf layer."""
    hooks = []
    for name, m in net.tower.named_modules():
        if not list(m.children()):
            count = f"{sum(p.numel() for p in m.parameters()):,}"
            hooks.append(
                m.register_forward_hook(
                    lambda mod, i, o, n=name, c=count: rows.append(
                        [n, type(mod).__name__, _shape(o), c]
                    )
                )
            )
    views = getattr(net.tower, "views", [])  # model.views: the part each member looks at
    for k, (member, box) in enumerate(zip(getattr(net.tower, "members", []), views, strict=True)):
        if tuple(box) != WHOLE:
            what = "view " + ",".join(f"{v:g}" for v in box)
            hooks.append(
                member.register_forward_pre_hook(
                    lambda mod, i, k=k, what=what: rows.append(
                        [f"members.{k}", what, _shape(i[0]), "0"]
                    )
                )
            )
    return hooks


def architecture(run) -> list[list]:
    """Layer, output shape and parameters of one tower, from a forward pass with hooks."""
    rows: list[list] = []
    net = run.net
    hooks = _leaf_rows(net, rows)
    size = run.config.data.size
    with torch.no_grad():
        net.tower.eval()(torch.zeros(1, 1, size, size, device=run.device))
    for h in hooks:
        h.remove()
    rows += _fitted_row("whiten", net.whiten, str(net.tower.embedding_dim))
    if net.descriptor is not None:  # the histograms joined to the embedding after it
        joined = net.tower.embedding_dim + net.descriptor.dim
        rows += _fitted_row("descriptor", net.descriptor, str(joined))
    head = sum(p.numel() for p in net.head.parameters())
    rows.append(["head", type(net.head).__name__, "1", f"{head:,}"])
    rows += _fitted_row("score_norm", net.score_norm, "1")
    rows.append(["total", "", "", f"{sum(p.numel() for p in net.parameters()):,}"])
    return rows


def _fitted_row(name: str, module, shape: str) -> list[list]:
    """The row of what is fitted after training (``model.wccn``, ``model.descriptor``,
    ``model.score_norm``):
    values, not trained parameters; none when the net has no such part."""
    if module is None:
        return []
    # flags and constant tables are not fitted values
    fitted = [b for n, b in module.named_buffers() if n.split(".")[-1] not in ("fitted", "table")]
    if not fitted:
        return []
    values = sum(b.numel() for b in fitted)
    return [[name, type(module).__name__, shape, f"0 ({values:,} fitted values)"]]


class ScoredPairs:
    """The saved scores of a run's test pairs, with their images from the run's data."""

    def __init__(self, scores: list[dict], data: RunData) -> None:
        self.rows, self.data = scores, data
        self.s = np.array([float(r["score"]) for r in scores])
        self.y = np.array([int(r["same"]) for r in scores]).astype(bool)
        self._row_of = {p: i for i, p in enumerate(data.paths)}
        self._tree = Path(data.source.dataset.tree)

    def row(self, i: int, k: int) -> int:
        """The image array row of pair ``i``'s image ``k`` (1 or 2)."""
        return self._row_of[self._tree / self.rows[i][f"image{k}"]]

    def images(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        # The run's preprocessed images are in memory already: no file is decoded again.
        return tuple(self.data.images[self.row(i, k)].numpy() for k in (1, 2))

    def wrong(self, threshold: float) -> np.ndarray:
        return (self.s > threshold) != self.y


def example_indices(pairs: ScoredPairs, threshold: float, n: int = 8) -> dict[str, list[int]]:
    """The most confident false accepts, false rejects and correct decisions, ``n`` each."""
    s, y, wrong = pairs.s, pairs.y, pairs.wrong(threshold)
    return {
        "false accept": [i for i in np.argsort(-s) if wrong[i] and not y[i]][:n],
        "false reject": [i for i in np.argsort(s) if wrong[i] and y[i]][:n],
        "correct": [i for i in np.argsort(-np.abs(s - threshold)) if not wrong[i]][:n],
    }


def image_properties(pairs: ScoredPairs) -> dict[str, list[float]]:
    """Brightness, contrast and left-right asymmetry (a pose proxy) of each pair, averaged
    over its two images."""
    props: dict[str, list[float]] = {
        "brightness (mean pixel)": [],
        "contrast (pixel std)": [],
        "left-right asymmetry (pose proxy)": [],
    }
    for i in range(len(pairs.rows)):
        pair = np.stack(pairs.images(i)).astype(np.float32)
        props["brightness (mean pixel)"].append(pair.mean())
        props["contrast (pixel std)"].append(pair.reshape(2, -1).std(1).mean())
        props["left-right asymmetry (pose proxy)"].append(np.abs(pair - pair[:, :, ::-1]).mean())
    return props


@torch.no_grad()
def resemblance(run, pairs: ScoredPairs, threshold: float) -> list[int]:
    """For each pair, how many training images the model calls the same as its first face."""
    data = pairs.data
    train_people = data.people_rows(data.source.train.people).values()
    train_rows = torch.tensor(sorted({r for rs in train_people for r in rs}))
    h_train = run.embed(data.images, train_rows)
    probes = torch.tensor([pairs.row(i, 1) for i in range(len(pairs.rows))])
    h_probe = run.embed(data.images, probes)
    counts = []
    for i in range(0, len(h_probe), 64):
        counts += (run.pairwise_scores(h_probe[i : i + 64], h_train) > threshold).sum(1).tolist()
    return counts
