"""Train/validation splits of a pairs file, saved as JSON so that a run can be repeated exactly.

- ``letters``: the 2019 study's rule. Same pairs whose name starts with A-E and different
  pairs whose first name starts with A-C go to validation. It does not keep people apart
  (the second person of a different pair may start with any letter); ``overlap_people``
  says how many people it puts on both sides.
- ``people`` (default): people linked by any pair form a connected component; whole
  components go to one side, so no person is ever on both. Components are visited in a
  seeded random order and each joins validation when that brings the validation same and
  different counts closer to ``fraction`` of the whole, which keeps the class balance.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from .lfw import PairsFile

RULES = ("people", "letters")


@dataclass(frozen=True)
class Split:
    rule: str
    fraction: float | None
    seed: int | None
    pairs_file: str
    pairs_sha256: str
    train: tuple[int, ...]  # indices into PairsFile.pairs
    val: tuple[int, ...]
    overlap_people: tuple[str, ...]

    def counts(self, pairs: PairsFile) -> dict:
        def side(idx):
            same = sum(pairs.pairs[i].same for i in idx)
            return {
                "pairs": len(idx),
                "same": same,
                "different": len(idx) - same,
                "people": len({n for i in idx for n in pairs.pairs[i].people}),
            }

        total = len(self.train) + len(self.val)
        return {
            "rule": self.rule,
            "fraction": self.fraction,
            "seed": self.seed,
            "train": side(self.train),
            "val": side(self.val),
            "val_fraction": round(len(self.val) / total, 4) if total else 0.0,
            "overlap_people": len(self.overlap_people),
        }

    def to_dict(self, pairs: PairsFile) -> dict:
        def rows(idx):
            return [
                [p.name1, p.index1, p.name2, p.index2, int(p.same), p.line]
                for p in (pairs.pairs[i] for i in idx)
            ]

        return {
            **self.counts(pairs),
            "pairs_file": self.pairs_file,
            "pairs_sha256": self.pairs_sha256,
            "overlap_people_names": list(self.overlap_people),
            "train_indices": list(self.train),
            "val_indices": list(self.val),
            "train_pairs": rows(self.train),
            "val_pairs": rows(self.val),
        }

    def save(self, path: str | Path, pairs: PairsFile) -> None:
        from ..io import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_dict(pairs), indent=1))


def load_split(path: str | Path, pairs: PairsFile) -> Split:
    """Read a saved split; an error if it was made from a different pairs file."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read split file ({exc}).") from None
    if d.get("pairs_sha256") != pairs.sha256:
        raise ValueError(
            f"{path}: this split was made from {d.get('pairs_file')} (sha256 "
            f"{str(d.get('pairs_sha256'))[:12]}...), not {pairs.path}; make a new split with "
            "`siamese-faces data split`."
        )
    return Split(
        d["rule"],
        d["fraction"],
        d["seed"],
        d["pairs_file"],
        d["pairs_sha256"],
        tuple(d["train_indices"]),
        tuple(d["val_indices"]),
        tuple(d["overlap_people_names"]),
    )


def _overlap(pairs: PairsFile, train: list[int], val: list[int]) -> tuple[str, ...]:
    a = {n for i in train for n in pairs.pairs[i].people}
    b = {n for i in val for n in pairs.pairs[i].people}
    return tuple(sorted(a & b))


def split_letters(pairs: PairsFile) -> Split:
    """The study's rule: same A-E, different A-C (by the first person's first letter)."""
    val = [
        i
        for i, p in enumerate(pairs.pairs)
        if p.name1[:1].upper() in ("ABCDE" if p.same else "ABC")
    ]
    chosen = set(val)
    train = [i for i in range(len(pairs.pairs)) if i not in chosen]
    return Split(
        "letters",
        None,
        None,
        str(pairs.path),
        pairs.sha256,
        tuple(train),
        tuple(val),
        _overlap(pairs, train, val),
    )


def _components(pairs: PairsFile) -> list[list[int]]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs.pairs:
        parent[find(p.name1)] = find(p.name2)
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pairs.pairs):
        groups.setdefault(find(p.name1), []).append(i)
    return [groups[k] for k in sorted(groups)]  # sorted: the order must not depend on hashing


def split_people(pairs: PairsFile, fraction: float = 0.3, seed: int = 0) -> Split:
    """Person-disjoint split aiming at ``fraction`` of the pairs (of each class) in validation."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction={fraction}: the validation fraction must be between 0 and 1.")
    comps = _components(pairs)
    random.Random(seed).shuffle(comps)
    target_same, target_diff = fraction * pairs.num_same, fraction * pairs.num_different
    vs = vd = 0
    val: list[int] = []
    for comp in comps:
        cs = sum(pairs.pairs[i].same for i in comp)
        cd = len(comp) - cs
        before = abs(vs - target_same) + abs(vd - target_diff)
        after = abs(vs + cs - target_same) + abs(vd + cd - target_diff)
        if after < before:
            val.extend(comp)
            vs, vd = vs + cs, vd + cd
    chosen = set(val)
    train = [i for i in range(len(pairs.pairs)) if i not in chosen]
    val.sort()
    return Split(
        "people",
        fraction,
        seed,
        str(pairs.path),
        pairs.sha256,
        tuple(train),
        tuple(val),
        _overlap(pairs, train, val),
    )


def make_split(
    pairs: PairsFile, rule: str = "people", fraction: float = 0.3, seed: int = 0
) -> Split:
    if rule == "letters":
        return split_letters(pairs)
    if rule == "people":
        return split_people(pairs, fraction, seed)
    raise ValueError(f"split rule {rule!r}: choose one of {', '.join(RULES)}.")
