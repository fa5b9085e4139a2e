"""Everything LFW-specific: its pairs files, read exactly (errors name the file, the line and
the fix), its file names, and which image ``name, index`` means.

Two formats:

- View 1 (``pairsDevTrain.txt``, ``pairsDevTest.txt``): a first line ``N``, then N *same*
  lines ``name<TAB>i<TAB>j`` and N *different* lines ``name1<TAB>i<TAB>name2<TAB>j``.
- View 2 (``pairs.txt``): a first line ``F N`` (10 300), then F folds of N same and N
  different lines each.

Image index ``i`` is the 1-based number in ``name_%04d.jpg``. Past this module a pair is an
:class:`~siamese_faces.data.pairs.ImagePair` (two files), whatever format it came from.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..io import unreadable
from .layout import NUMBERED, FaceDataset, Person
from .pairs import ImagePair

# LFW's file names, looked for beside and above the image tree.
TRAIN_PAIRS = "pairsDevTrain.txt"  # View 1
TEST_PAIRS = "pairsDevTest.txt"
TRAIN_PEOPLE = "peopleDevTrain.txt"  # View 1's training people (a superset of the pairs')
TEST_PEOPLE = "peopleDevTest.txt"
VIEW2_PAIRS = "pairs.txt"  # View 2: 10 folds of 300 same + 300 different pairs


class PairsFormatError(ValueError):
    """A pairs file is malformed, or refers to something it must not."""


class DuplicatePairsWarning(UserWarning):
    """The same pair appears on more than one line of a pairs file."""


@dataclass(frozen=True)
class Pair:
    name1: str
    index1: int
    name2: str
    index2: int
    same: bool
    line: int  # 1-based line in its file, for messages
    fold: int = 0  # View 2 fold (0-based); always 0 for View 1

    @property
    def key(self) -> tuple[str, int, str, int]:
        """Order-free identity of the pair, for finding duplicates."""
        a, b = (self.name1, self.index1), (self.name2, self.index2)
        return (*min(a, b), *max(a, b))

    @property
    def people(self) -> tuple[str, str]:
        return self.name1, self.name2


@dataclass(frozen=True)
class PairsFile:
    path: Path
    format: str  # "view1" or "view2"
    folds: int
    pairs: tuple[Pair, ...]
    sha256: str

    @property
    def people(self) -> set[str]:
        return {name for p in self.pairs for name in p.people}

    @property
    def num_same(self) -> int:
        return sum(p.same for p in self.pairs)

    @property
    def num_different(self) -> int:
        return len(self.pairs) - self.num_same

    def select_folds(self, folds: set[int], tag: str) -> PairsFile:
        """The pairs of ``folds`` (0-based) as a file of their own, named ``path#tag``, whose
        digest depends on the whole file and the selection (a split saved for one fold's
        training pairs is refused for another's)."""
        digest = hashlib.sha256(f"{self.sha256}#{tag}".encode()).hexdigest()
        kept = tuple(p for p in self.pairs if p.fold in folds)
        return PairsFile(Path(f"{self.path}#{tag}"), self.format, len(folds), kept, digest)


def view2_fold(pairs: PairsFile, fold: int) -> tuple[PairsFile, PairsFile]:
    """LFW View 2's protocol for ``fold`` (1-based): training pairs from the other folds,
    test pairs from this one."""
    if pairs.format != "view2" or not 1 <= fold <= pairs.folds:
        raise PairsFormatError(
            f"{pairs.path}: data.fold={fold} needs a View 2 pairs file ('F N' header) with at "
            f"least {fold} folds; this one has {pairs.folds} ({pairs.format}). Use LFW's "
            f"{VIEW2_PAIRS} as data.pairs_test, or data.fold=0 for View 1's files."
        )
    others = set(range(pairs.folds)) - {fold - 1}
    return pairs.select_folds(others, f"train-fold{fold}"), pairs.select_folds(
        {fold - 1}, f"fold{fold}"
    )


def parse_people(path: str | Path) -> dict[str, int]:
    """A people file (``peopleDevTrain.txt``): a count line N, then N ``name<TAB>images``
    lines; an error naming file:line for anything else."""
    path = Path(path)
    _, lines = read_lines(path, "people file")
    if not lines or not (lines[0].strip().isascii() and lines[0].strip().isdigit()):
        raise PairsFormatError(f"{path}:1: the first line must be the number of people.")
    expected = int(lines[0])
    if len(lines) - 1 != expected:
        raise PairsFormatError(
            f"{path}:1: the header says {expected} people, but {len(lines) - 1} lines follow."
        )
    people = {}
    for k, text in enumerate(lines[1:], start=2):
        fields = text.split("\t") if "\t" in text else text.split()
        where = f"{path}:{k}"
        if len(fields) != 2:
            raise PairsFormatError(f"{where}: a people line is name<TAB>number of images.")
        count = fields[1].strip()
        if not (count.isascii() and count.isdigit() and int(count) > 0):
            raise PairsFormatError(
                f"{where}: number of images {count!r} is not a positive integer."
            )
        people[_check_name(fields[0].strip(), where)] = int(count)
    return people


def _check_name(name: str, where: str) -> str:
    # A pairs file must never make us read outside the data folder. A name is looked up among
    # the people found on disk, never joined to a path; still, only plain names pass: a folder
    # under the image tree, or Group/Name for identities two folders deep (data.depth=2).
    if not name or name.strip() != name:
        raise PairsFormatError(f"{where}: empty or space-padded name {name!r}.")
    parts = name.split("/")
    if len(parts) > 2 or "\\" in name or any(p in ("", ".", "..") or ".." in p for p in parts):
        raise PairsFormatError(
            f"{where}: name {name!r} contains a path separator or '..'; a pairs file may only "
            "name people (folders under the image tree, Group/Name when two deep)."
        )
    return name


def excerpt(text: str, limit: int = 24) -> str:
    """``text`` for a message: quoted, and cut short (an error never echoes a whole file)."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _check_index(text: str, where: str) -> int:
    # Strict: int() would also take "1_0", "+1" and non-ASCII digits.
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise PairsFormatError(f"{where}: image index {excerpt(text)} is not an integer.")
    value = int(text)
    if value <= 0:
        raise PairsFormatError(
            f"{where}: image index {value} must be positive (1 is the file name_0001.jpg)."
        )
    return value


def _parse_line(fields: list[str], same: bool, where: str, fold: int, line: int) -> Pair:
    if same:
        if len(fields) != 3:
            raise PairsFormatError(
                f"{where}: a same pair has 3 tab-separated fields (name, i, j); found "
                f"{len(fields)}. Is the header count right?"
            )
        name = _check_name(fields[0], where)
        return Pair(
            name,
            _check_index(fields[1], where),
            name,
            _check_index(fields[2], where),
            True,
            line,
            fold,
        )
    if len(fields) != 4:
        raise PairsFormatError(
            f"{where}: a different pair has 4 tab-separated fields (name1, i, name2, j); found "
            f"{len(fields)}. Is the header count right?"
        )
    return Pair(
        _check_name(fields[0], where),
        _check_index(fields[1], where),
        _check_name(fields[2], where),
        _check_index(fields[3], where),
        False,
        line,
        fold,
    )


def read_lines(path: Path, what: str) -> tuple[bytes, list[str]]:
    """A text file's bytes and lines: UTF-8 with or without a byte-order mark, any line ends,
    trailing blank lines dropped; errors name the file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        why = unreadable(path, what, exc)
        if why is None:
            raise
        raise PairsFormatError(why) from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (Excel writes one) is no field
    except UnicodeDecodeError:
        raise PairsFormatError(f"{path}: not UTF-8 text; is this a {what}?") from None
    return raw, split_lines(text)


def split_lines(text: str) -> list[str]:
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()  # a trailing newline (or several) is not a line
    return lines


def _header(path: Path, lines: list[str]) -> tuple[str, int, int]:
    """Format, folds and pairs of each class a fold, from the first line."""
    if not lines:
        raise PairsFormatError(f"{path}:1: empty pairs file; the first line must be N or 'F N'.")
    header = lines[0].split()
    numbers = [int(h) for h in header if h.isascii() and h.isdigit()]
    if len(numbers) == len(header) == 1 and numbers[0] > 0:
        return "view1", 1, numbers[0]
    if len(numbers) == len(header) == 2 and min(numbers) > 0:
        return "view2", numbers[0], numbers[1]
    raise PairsFormatError(
        # The line itself is not echoed: a path from a weights file could name any file.
        f"{path}:1: the header must be one positive integer N (View 1: N same "
        "then N different lines) or two, 'F N' (View 2: F folds of N same + N different)."
    )


def parse_pairs(path: str | Path, text: str | None = None) -> PairsFile:
    """Parse a View 1 or View 2 pairs file; raise :class:`PairsFormatError` naming file:line.

    Duplicate pairs raise a :class:`DuplicatePairsWarning` listing their lines.
    """
    path = Path(path)
    if text is None:
        raw, lines = read_lines(path, "pairs file")
    else:
        raw, lines = text.encode("utf-8"), split_lines(text)
    fmt, folds, per_class = _header(path, lines)
    body = lines[1:]
    expected = 2 * per_class * folds
    if len(body) != expected:
        where = f"{path}:{len(lines)}" if len(body) < expected else f"{path}:{expected + 2}"
        raise PairsFormatError(
            f"{where}: header says {folds} fold(s) x ({per_class} same + {per_class} different) "
            f"= {expected} pair lines, but the file has {len(body)}. Fix the header or the lines."
        )
    pairs = []
    for k, line_text in enumerate(body):
        line = k + 2
        fold, within = divmod(k, 2 * per_class)
        fields = line_text.split("\t") if "\t" in line_text else line_text.split()
        where = f"{path}:{line}"
        pairs.append(
            _parse_line([f.strip() for f in fields], within < per_class, where, fold, line)
        )
    _warn_duplicates(path, pairs)
    return PairsFile(path, fmt, folds, tuple(pairs), hashlib.sha256(raw).hexdigest())


def _warn_duplicates(path: Path, pairs: Iterable[Pair]) -> None:
    lines_of: dict[tuple, list[int]] = {}
    for p in pairs:
        lines_of.setdefault(p.key, []).append(p.line)
    dups = [lines for lines in lines_of.values() if len(lines) > 1]
    if dups:
        shown = "; ".join("lines " + ", ".join(map(str, ls)) for ls in dups[:10])
        more = f" (and {len(dups) - 10} more)" if len(dups) > 10 else ""
        warnings.warn(
            f"{path}: {len(dups)} duplicate pair(s): {shown}{more}.",
            DuplicatePairsWarning,
            stacklevel=3,
        )


@functools.lru_cache(maxsize=8192)
def _numbered(person: Person) -> dict[int, Path]:
    """The person's images by the index a pairs file gives them: the number of files named
    ``<Name>_<digits>.<ext>`` (LFW's), else, for a person with no file so named (any other
    identity folder, e.g. Omniglot's ``0709_01.png``), the 1-based place in file-name order."""
    out = {}
    own = person.name.rsplit("/", 1)[-1]
    for path in person.images:
        m = NUMBERED.match(path.stem)
        if m and m["name"] == own:
            out[int(m["index"])] = path
    return out or {k: path for k, path in enumerate(person.images, start=1)}


def image_of(dataset: FaceDataset, name: str, index: int) -> Path | None:
    """The file a pairs file calls ``name, index`` (``name_%04d.*``, see ``_numbered``), or None."""
    person = dataset.people.get(name)
    return None if person is None else _numbered(person).get(index)


def index_of(person: Person) -> dict[Path, int]:
    """The inverse of ``image_of`` for one person: each of its images' index."""
    return {path: k for k, path in _numbered(person).items()}


def image_pairs(pairs: PairsFile, dataset: FaceDataset) -> list[ImagePair]:
    """Every pair of the file as two image files; an error naming file:line for a missing one."""
    files = resolve_images(pairs, dataset)
    return [
        ImagePair(f1, f2, p.same, p.name1, p.name2, p.fold, f"{pairs.path}:{p.line}")
        for p, (f1, f2) in zip(pairs.pairs, files, strict=True)
    ]


def resolve_images(pairs: PairsFile, dataset: FaceDataset) -> list[tuple[Path, Path]]:
    """The two image files of every pair; an error naming file:line for one that does not exist."""
    out = []
    for p in pairs.pairs:
        files = []
        for name, index in ((p.name1, p.index1), (p.name2, p.index2)):
            found = image_of(dataset, name, index)
            if found is None:
                why = (
                    "no such person"
                    if name not in dataset.people
                    else f"{name} has no image {name}_{index:04d}"
                )
                raise PairsFormatError(
                    f"{pairs.path}:{p.line}: {why} under {dataset.tree}; is --data the right "
                    "folder for this pairs file?"
                )
            files.append(found)
        out.append((files[0], files[1]))
    return out


def check_disjoint(train: PairsFile, test: PairsFile, allow_overlap: bool = False) -> set[str]:
    """People named in both files; an error unless ``allow_overlap`` (they must be unseen)."""
    shared = train.people & test.people
    if shared and not allow_overlap:
        some = ", ".join(sorted(shared)[:5])
        raise PairsFormatError(
            f"{train.path} and {test.path} share {len(shared)} person(s) ({some}...): test people "
            "must be unseen in training. Use other files, or --allow-overlap if you mean it."
        )
    return shared
