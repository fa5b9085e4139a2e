"""Find the images of a face dataset on disk, whatever of the three layouts it comes in.

A dataset is a set of people, each with one or more images. Four layouts are read:

- ``tree``: ``DIR/<Name>/<Name>_0001.jpg`` (LFW's download, any identity-folder dataset);
- ``above``: ``DIR/lfw2/<Name>/...``, a folder holding exactly one such tree (what LFW-a
  unpacks to, with the pairs files beside ``lfw2/``);
- ``flat``: ``DIR/<Name>_0001.jpg`` all in one folder (the layout the 2019 study made);
- ``nested`` (``depth=2``, the setting ``data.depth``): identities two folders deep,
  ``DIR/<Group>/<Name>/*`` (Omniglot: ``Alphabet/characterNN/*.png``); a person is then
  called ``<Group>/<Name>``. Asked for, never guessed: a folder of several LFW trees side by
  side looks the same and must stay an error.

In a tree the person is the folder name, whatever the files are called. In the flat layout
the person comes from the file name ``<Name>_<digits>.<ext>``. Which file LFW's pairs files
mean by ``name, index`` is LFW's business: :mod:`siamese_faces.data.lfw`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".tif", ".tiff", ".webp"})
DATA_ENV = "SIAMESE_FACES_DATA"
NUMBERED = re.compile(r"^(?P<name>.+)_(?P<index>\d+)$")


class DatasetError(ValueError):
    """The data folder cannot be read as a face dataset; the message says why and what to do."""


@dataclass(frozen=True)
class Person:
    name: str
    images: tuple[Path, ...]  # sorted by file name


@dataclass(frozen=True)
class FaceDataset:
    """The people and images of one dataset, and where it lies."""

    root: Path  # the folder that was given (where pairs files are looked for first)
    tree: Path  # the folder whose children are the people (or the flat folder)
    layout: str  # "tree", "above", "flat" or "nested"
    people: dict[str, Person]

    @property
    def num_images(self) -> int:
        return sum(len(p.images) for p in self.people.values())

    def all_images(self) -> list[Path]:
        """Every image, ordered by person name then file name (a stable order for caches)."""
        return [path for name in sorted(self.people) for path in self.people[name].images]


def _is_image(entry: os.DirEntry) -> bool:
    return entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS


def _scan_person(name: str, folder: Path) -> Person:
    images = sorted(Path(e.path) for e in os.scandir(folder) if _is_image(e))
    return Person(name, tuple(images))


def _holds_image(folder: Path) -> bool:
    """Whether ``folder`` directly holds at least one image."""
    return any(_is_image(e) for e in os.scandir(folder))


def _subfolders(folder: Path, holding) -> list[Path]:
    """Sub-folders of ``folder`` for which ``holding(sub_folder)`` is true."""
    return [Path(e.path) for e in os.scandir(folder) if e.is_dir() and holding(Path(e.path))]


def _image_subdirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` that directly hold at least one image."""
    return _subfolders(folder, _holds_image)


def _read_tree(root: Path, tree: Path, layout: str) -> FaceDataset:
    people = {}
    for entry in sorted(os.scandir(tree), key=lambda e: e.name):
        if entry.is_dir():
            person = _scan_person(entry.name, Path(entry.path))
            if person.images:
                people[entry.name] = person
    return FaceDataset(root=root, tree=tree, layout=layout, people=people)


def _read_flat(folder: Path) -> FaceDataset:
    groups: dict[str, list[Path]] = {}
    unnamed = []
    for entry in os.scandir(folder):
        if _is_image(entry):
            m = NUMBERED.match(Path(entry.name).stem)
            if m is None:
                unnamed.append(entry.name)
            else:
                groups.setdefault(m["name"], []).append(Path(entry.path))
    if unnamed:
        raise DatasetError(
            f"{folder}: flat layout, but {len(unnamed)} image(s) are not named "
            "<Name>_<number>.<ext> "
            f"(e.g. {sorted(unnamed)[0]!r}); rename them, or put each person's images in a "
            f"folder of their own (<Name>/...)."
        )
    people = {}
    for name in sorted(groups):
        people[name] = Person(name, tuple(sorted(groups[name])))
    return FaceDataset(root=folder, tree=folder, layout="flat", people=people)


def resolve_data_dir(data: str | os.PathLike | None) -> Path:
    """``--data`` if given, else ``$SIAMESE_FACES_DATA``; an error that says how to set either."""
    if data is None or str(data) == "":
        data = os.environ.get(DATA_ENV)
    if not data:
        raise DatasetError(
            f"no dataset given: pass --data DIR or set {DATA_ENV}=DIR "
            "(DIR holds <Name>/<Name>_0001.jpg folders, e.g. ../shared/lfw-a)."
        )
    path = Path(data).expanduser()
    if not path.is_dir():
        raise DatasetError(f"{path}: no such folder; --data must name the folder of the images.")
    return path


def _read_nested(root: Path) -> FaceDataset:
    people = {}
    for group in sorted(_image_parents(root)):
        for folder in sorted(_image_subdirs(group)):
            name = f"{group.name}/{folder.name}"
            people[name] = _scan_person(name, folder)
    if not people or _holds_image(root) or _image_subdirs(root):
        raise DatasetError(
            f"{root}: data.depth=2 (--depth 2) reads identities two folders deep, "
            "<Group>/<Name>/<images>, and this folder is not laid out so; leave data.depth=1 "
            "for <Name>/<images> folders."
        )
    return FaceDataset(root=root, tree=root, layout="nested", people=people)


def _image_parents(root: Path) -> list[Path]:
    """Sub-folders of ``root`` that hold folders of images."""
    return _subfolders(root, _image_subdirs)


def open_dataset(data: str | os.PathLike | None, depth: int = 1) -> FaceDataset:
    """Read the people and images under ``data`` (see the module docstring for layouts);
    ``depth=2``: identities are ``<Group>/<Name>`` folders."""
    root = resolve_data_dir(data)
    if depth == 2:
        return _read_nested(root)
    if _holds_image(root):
        return _read_flat(root)
    if _image_subdirs(root):
        return _read_tree(root, root, "tree")
    trees = _image_parents(root)
    if len(trees) == 1:
        return _read_tree(root, trees[0], "above")
    if len(trees) > 1:
        names = ", ".join(sorted(t.name for t in trees)[:5])
        raise DatasetError(
            f"{root}: holds {len(trees)} image trees ({names}); pass --data with the one to use, "
            "or --depth 2 (data.depth=2) if identities sit two folders deep, as Omniglot's "
            "Alphabet/characterNN do."
        )
    deeper = sorted(p.name for p in _subfolders(root, _image_parents))
    if deeper:  # e.g. Omniglot's download: background sets of Alphabet/characterNN folders
        raise DatasetError(
            f"{root}: no images found at one or two folders deep; its folders "
            f"{', '.join(deeper[:5])} hold image trees: pass --data with one of them (and "
            "--depth 2 where identities sit two folders deep, as Omniglot's Alphabet/characterNN)."
        )
    raise DatasetError(
        f"{root}: no images found. Expected <Name>/<Name>_0001.jpg folders, a folder holding one "
        f"such tree (LFW-a's lfw2/), or <Name>_0001.jpg files in one folder."
    )


def find_pairs_file(dataset: FaceDataset, filename: str) -> Path | None:
    """Look for ``filename`` beside or above the image tree, nearest first."""
    seen = []
    for folder in (dataset.tree, dataset.root, dataset.tree.parent, dataset.root.parent):
        if folder not in seen:
            seen.append(folder)
            candidate = folder / filename
            if candidate.is_file():
                return candidate
    return None
