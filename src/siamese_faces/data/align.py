"""Face detection and alignment: any photo into the geometry of the run's own training images.

A face is found by dlib's HOG detector, five landmarks (the eye centres, the nose tip, the
mouth corners) by dlib's 68-point shape predictor, both from the ``face-recognition-models``
package (weights inside the package, CC0; nothing is downloaded; its face-recognition network
is never used). A similarity transform (rotation, uniform scale, shift; no reflection or
shear) maps the landmarks onto a template, and the photo is resampled into the run's frame.

The template is measured on the run's own training images (the median landmark positions
over the faces found), so LFW-a's geometry is reproduced without outside knowledge of it.

When a photo holds several faces the largest is aligned: a photo of one person is framed on
that person, while a face in the background is smaller; the nearest to the centre would pick
a bystander in a photo framed off-centre on its subject. A warning names the file.
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .images import BadImageError

POINTS = ("left eye", "right eye", "nose tip", "mouth left", "mouth right")
# The detector's smallest face is 80 px. It looks at the image as it is, then, if no face
# was found, doubled once (a face of 40 px, half an LFW face); an image larger than
# DETECT_SIDE is searched shrunk to it (a phone photo's face is large), its landmarks found
# at full size. Measured in experiments/align_candidates.py.
DETECT_SIDE = 640
_local = threading.local()  # dlib's objects are built once per thread


class NoFaceError(BadImageError):
    """No face was found in an image that had to be aligned."""


class AlignerMissing(ValueError):
    """dlib or its landmark model is not installed (the ``[align]`` extra)."""


class SeveralFacesWarning(UserWarning):
    """An image holds more than one face; the largest was used."""


@dataclass(frozen=True)
class AlignSpec:
    """How to align: the template (5 points, pixels of the frame) and the frame's size.

    ``mode``: ``auto`` keeps an image that is already in the frame's geometry as it is (its
    landmarks within ``tolerance`` inter-ocular distances of the template); ``always`` warps
    every image.
    """

    template: tuple[tuple[float, float], ...]
    frame: tuple[int, int]  # (width, height)
    mode: str = "auto"
    tolerance: float = 0.1


def _models():
    """dlib's detector and 68-point predictor for this thread; a clear error if missing."""
    if getattr(_local, "models", None) is None:
        spec = importlib.util.find_spec("face_recognition_models")
        try:
            import dlib
        except ImportError:
            dlib = None
        if dlib is None or spec is None:
            raise AlignerMissing(
                "face alignment needs dlib and its landmark model: pip install "
                "'siamese-faces[align]' (dlib-bin and face-recognition-models), or pass "
                "--align none for photos already aligned like the run's training images."
            )
        # The package's own loader needs pkg_resources; the file lies beside its __init__.
        models = Path(next(iter(spec.submodule_search_locations))) / "models"
        predictor = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
        _local.models = (dlib.get_frontal_face_detector(), predictor)
    return _local.models


def shrunk(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """``gray`` at most ``DETECT_SIDE`` on its longer side (where faces are searched), and the
    factor it was shrunk by (1.0: as it was)."""
    shrink = min(1.0, DETECT_SIDE / max(gray.shape))
    if shrink == 1:
        return gray, 1.0
    size = (round(gray.shape[1] * shrink), round(gray.shape[0] * shrink))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BILINEAR)), shrink


def find_faces(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes ``(left, top, right, bottom)`` in a grayscale uint8 image, largest first."""
    detector, _ = _models()
    small, shrink = shrunk(gray)
    found = detector(small, 0) or detector(small, 1)
    boxes = [
        tuple(round(v / shrink) for v in (r.left(), r.top(), r.right(), r.bottom())) for r in found
    ]
    return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))


def landmarks(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The five points of ``POINTS`` (pixels, ``(5, 2)``) of the face in ``box``."""
    import dlib

    _, predictor = _models()
    shape = predictor(gray, dlib.rectangle(*box))
    p = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.float64)
    # 68-point indices: 36-41 and 42-47 the eyes (image-left first), 30 the nose tip,
    # 48 and 54 the mouth corners.
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The similarity transform ``(2, 3)`` taking ``src`` points nearest to ``dst`` (least
    squares, Umeyama 1991; no reflection)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ sign @ vt
    scale = (sig * np.diag(sign)).sum() / (s**2).sum(1).mean()
    m = scale * rot
    return np.hstack([m, (mu_d - m @ mu_s)[:, None]])


def warp(gray: np.ndarray, m: np.ndarray, frame: tuple[int, int]) -> np.ndarray:
    """``gray`` resampled by ``m`` (source -> frame pixels) into a ``frame`` image."""
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]  # PIL asks frame -> source
    fill = int(np.median(gray))
    out = Image.fromarray(gray).transform(
        frame, Image.Transform.AFFINE, tuple(inv.ravel()), Image.Resampling.BILINEAR, fillcolor=fill
    )
    return np.asarray(out, dtype=np.uint8)


def off_template(points: np.ndarray, template: np.ndarray) -> float:
    """Mean distance of ``points`` from the template, in the template's inter-ocular distances."""
    iod = np.linalg.norm(template[1] - template[0])
    return float(np.linalg.norm(points - template, axis=1).mean() / iod)


def align(gray: np.ndarray, spec: AlignSpec, where: str = "image") -> np.ndarray:
    """``gray`` in the run's frame: its largest face's landmarks on the template. An image
    with no face is a :class:`NoFaceError` naming ``where``."""
    boxes = find_faces(gray)
    if not boxes:
        raise NoFaceError(
            f"{where}: no face found; give a photo with a face, or --align none if it is "
            "already aligned like the run's training images."
        )
    if len(boxes) > 1:
        warnings.warn(
            f"{where}: {len(boxes)} faces; aligning the largest.", SeveralFacesWarning, stacklevel=2
        )
    template = np.asarray(spec.template, dtype=np.float64)
    points = landmarks(gray, boxes[0])
    in_frame = gray.shape[::-1] == tuple(spec.frame)
    if spec.mode == "auto" and in_frame and off_template(points, template) <= spec.tolerance:
        return gray  # already in the run's geometry
    return warp(gray, similarity(points, template), tuple(spec.frame))


def measure_template(paths: list[Path], limit: int = 400) -> dict:
    """The median landmarks over the faces found in up to ``limit`` of ``paths`` (evenly
    spaced), all of one frame size: the run's own geometry."""
    from .images import load_image

    step = max(1, len(paths) // limit)
    chosen = paths[::step][:limit]
    found, frames = [], set()
    for path in chosen:
        gray = load_image(path)
        frames.add(gray.shape[::-1])
        boxes = find_faces(gray)
        if boxes:
            found.append(landmarks(gray, boxes[0]))
    if len(frames) != 1:
        raise ValueError(
            f"the run's training images have {len(frames)} sizes ({sorted(frames)[:3]}); a "
            "template needs one frame: crop or resize them alike first."
        )
    if len(found) < max(5, len(chosen) // 4):
        raise ValueError(
            f"faces found in only {len(found)} of {len(chosen)} of the run's training images: "
            "are they faces? For a run on other images, pass --align none."
        )
    points = np.stack(found)
    template = np.median(points, axis=0)
    spread = np.median(np.linalg.norm(points - template, axis=2), axis=0)
    return {
        "template": template.round(2).tolist(),
        "points": list(POINTS),
        "frame": list(frames.pop()),
        "images_measured": len(chosen),
        "faces_found": len(found),
        "median_spread_px": spread.round(2).tolist(),
        "detector": "dlib HOG (as is, then doubled); 68-point shape predictor",
    }
