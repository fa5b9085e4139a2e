"""The dataset seam: a pair is two image files and whether they show one person.

Parsers of pairs formats (LFW's: :mod:`.lfw`) end here; every floor above (run data,
training, evaluation, reports) sees only :class:`ImagePair`, never a format's own keys, so a
new format touches the data floor only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ImagePair:
    image1: Path
    image2: Path
    same: bool
    name1: str  # the person of each image (folder name), for captions and one-shot trials
    name2: str
    fold: int = 0  # a benchmark's fold (LFW View 2), 0 otherwise
    where: str = ""  # where it was read ("file:line"), for messages; "" when formed

    @property
    def people(self) -> tuple[str, str]:
        return self.name1, self.name2
