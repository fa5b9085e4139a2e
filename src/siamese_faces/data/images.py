"""Decoding any image file to 8-bit grayscale, and the preprocessing of every model input."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..io import unreadable

if TYPE_CHECKING:
    from .align import AlignSpec

# A truncated JPEG must be an error, never a silently grey-filled face.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Larger images are refused before decoding: a 48-megapixel phone photo passes, a
# decompression bomb (a small file that decodes to gigabytes) does not.
MAX_PIXELS = 64_000_000


class BadImageError(ValueError):
    """An image file cannot be decoded; the message names the file."""


class TooManyPixels(BadImageError):
    """An image over ``MAX_PIXELS`` (or a decompression bomb), refused before decoding."""


@dataclass(frozen=True)
class Preprocess:
    """How a decoded image becomes a model input.

    ``crop`` is ``(left, top, right, bottom)`` as fractions of the frame, so one setting fits
    images of any size (``(0.25, 0.25, 0.75, 0.75)`` keeps the central half); then the crop
    is resized to ``size`` x ``size``.
    """

    size: int = 125
    crop: tuple[float, float, float, float] | None = None
    # Detect and align the face first (see :mod:`.align`); None: the image is taken as it is.
    align: AlignSpec | None = None

    def __post_init__(self) -> None:
        if not 8 <= self.size <= 1024:
            raise ValueError(f"preprocess.size={self.size}: use a side between 8 and 1024 pixels.")
        if self.crop is not None:
            left, top, right, bottom = self.crop
            if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
                raise ValueError(
                    f"preprocess.crop={self.crop}: needs 0 <= left < right <= 1 and "
                    "0 <= top < bottom <= 1 (fractions of the image)."
                )


def _to_gray(im: Image.Image) -> Image.Image:
    if im.mode == "L":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # Pillow's convert("L") clips 16-bit values at 255; scale the range down instead.
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 or im.mode.startswith("I;16") else 255.0
        return Image.fromarray(np.clip(arr * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        return Image.fromarray(np.clip(arr * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1", "LA", "RGBA", "RGBX", "La"):
        im = im.convert("RGBA" if "A" in im.mode else "RGB")
    return im.convert("L")


def load_image(
    path: str | Path, preprocess: Preprocess | None = None, data: bytes | None = None
) -> np.ndarray:
    """Decode ``path`` (or the bytes ``data``, which ``path`` then only names in messages) to
    a grayscale uint8 array; crop and resize if ``preprocess`` is given.

    Raises :class:`BadImageError` naming the file for an empty, corrupt or truncated image.
    """
    path = Path(path)
    try:
        with Image.open(path if data is None else io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:  # checked before any pixel is decoded
                raise TooManyPixels(
                    f"{path}: {im.width}x{im.height} pixels, over the limit of "
                    f"{MAX_PIXELS:,}; resize it first."
                )
            im.load()
            # A phone stores a portrait photo sideways with an EXIF Orientation tag: upright it.
            gray = _to_gray(ImageOps.exif_transpose(im))
    except BadImageError:  # TooManyPixels, raised above
        raise
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise BadImageError(unreadable(path, "image file", exc)) from None
    except Image.DecompressionBombError:
        raise TooManyPixels(f"{path}: too many pixels to decode safely; resize it first.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # Pillow reports a truncated file as OSError and an empty/unknown one as
        # UnidentifiedImageError; both mean the same to a user: this file is unusable.
        raise BadImageError(f"{path}: cannot decode image ({exc}); replace the file.") from None
    if preprocess is not None and preprocess.align is not None:
        from .align import align

        gray = Image.fromarray(align(np.asarray(gray, dtype=np.uint8), preprocess.align, str(path)))
    if preprocess is not None:
        if preprocess.crop is not None:
            w, h = gray.size
            left, top, right, bottom = preprocess.crop
            gray = gray.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))
        if gray.size != (preprocess.size, preprocess.size):
            gray = gray.resize((preprocess.size, preprocess.size), Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.uint8)
