"""Detection and alignment of any photo: moved, rotated, tiny, huge, two faces, any mode."""

import warnings

import numpy as np
import pytest
from PIL import Image

from siamese_faces.data.align import (
    AlignSpec,
    NoFaceError,
    SeveralFacesWarning,
    align,
    find_faces,
    landmarks,
    measure_template,
    off_template,
    similarity,
)
from siamese_faces.data.cache import load_images
from siamese_faces.data.images import BadImageError, Preprocess, load_image

from ..helpers import REAL_DATA, needs_lfw

pytest.importorskip("dlib", reason="alignment needs the [align] extra (dlib-bin), in [test]")


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ (scale * rot).T + shift
    m = similarity(src, dst)
    assert np.allclose(m[:, :2], scale * rot) and np.allclose(m[:, 2], shift)
    mirrored = src * [-1, 1]  # a reflection is never fitted: the best rotation instead
    assert np.linalg.det(similarity(mirrored, src)[:, :2]) > 0


@pytest.fixture(scope="module")
def faces():
    if not (REAL_DATA / "lfw2").is_dir():
        pytest.skip(
            f"the real LFW-a data is not at {REAL_DATA} (CI and developer machines have it)"
        )
    paths = sorted((REAL_DATA / "lfw2").glob("A*/*_0001.jpg"))[:60]
    info = measure_template(paths, limit=60)
    spec = AlignSpec(tuple(map(tuple, info["template"])), tuple(info["frame"]))
    return paths, spec


def displaced(image: Image.Image, scale: float, angle: float, at: tuple, canvas=520, mode="RGB"):
    side = round(image.width * scale)
    face = (
        image.convert("RGB").resize((side, side)).rotate(angle, expand=True, fillcolor=(90, 90, 90))
    )
    out = Image.new("RGB", (canvas, canvas), (30, 160, 60))
    out.paste(face, at)
    return out.convert(mode)


def points_of(gray):
    return landmarks(gray, find_faces(gray)[0])


@needs_lfw
@pytest.mark.parametrize(
    "scale, angle, at", [(0.6, 18, (300, 40)), (1.2, -15, (10, 200)), (0.8, 0, (0, 0))]
)
def test_a_moved_scaled_rotated_face_comes_back_to_the_template(faces, tmp_path, scale, angle, at):
    paths, spec = faces
    original = Image.open(paths[7])
    path = tmp_path / "moved.jpg"
    displaced(original, scale, angle, at).save(path, quality=95)
    out = load_image(path, Preprocess(250, None, spec))
    template = np.asarray(spec.template)
    assert out.shape == (250, 250)
    # Within a tenth of the eye distance of the template, and of the original's own points.
    assert off_template(points_of(out), template) < 0.1
    original_points = points_of(np.asarray(original.convert("L")))
    assert off_template(points_of(out), original_points) < 0.1


@needs_lfw
def test_an_aligned_image_is_kept_as_it_is(faces):
    paths, spec = faces
    gray = load_image(paths[3])
    assert np.array_equal(align(gray, spec), gray)  # auto: already in the run's geometry


@needs_lfw
@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P"])
def test_every_image_mode_aligns(faces, tmp_path, mode):
    paths, spec = faces
    path = tmp_path / ("face.tif" if mode == "CMYK" else "face.png")
    displaced(Image.open(paths[5]), 0.9, 10, (100, 100), mode=mode).save(path)
    out = load_image(path, Preprocess(250, None, spec))
    assert off_template(points_of(out), np.asarray(spec.template)) < 0.1


@needs_lfw
def test_an_exif_rotated_photo_is_uprighted_before_alignment(faces, tmp_path):
    paths, spec = faces
    upright = displaced(Image.open(paths[9]), 1.0, 0, (120, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera stored it turned; a viewer turns it back
    path = tmp_path / "phone.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=95)
    out = load_image(path, Preprocess(250, None, spec))
    assert off_template(points_of(out), np.asarray(spec.template)) < 0.1


@needs_lfw
def test_two_faces_warn_and_the_largest_is_aligned(faces, tmp_path):
    paths, spec = faces
    big, small = Image.open(paths[11]), Image.open(paths[12])
    canvas = displaced(big, 1.0, 0, (20, 100), canvas=600)
    canvas.paste(small.convert("RGB").resize((140, 140)), (420, 20))
    path = tmp_path / "two.jpg"
    canvas.save(path, quality=95)
    with pytest.warns(SeveralFacesWarning, match=r"two\.jpg: [2-9] faces; aligning the largest"):
        out = load_image(path, Preprocess(250, None, spec))
    big_points = points_of(np.asarray(big.convert("L")))
    assert off_template(points_of(out), big_points) < 0.1


@needs_lfw
@pytest.mark.parametrize("kind", ["noise", "tiny", "blank"])
def test_no_face_is_an_error_naming_the_file_or_a_counted_skip(faces, tmp_path, kind):
    paths, spec = faces
    path = tmp_path / f"{kind}.png"
    if kind == "noise":
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300), np.uint8)).save(path)
    elif kind == "tiny":
        Image.open(paths[0]).resize((16, 16)).save(path)
    else:
        Image.new("L", (250, 250), 128).save(path)
    pre = Preprocess(64, None, spec)
    with pytest.raises(NoFaceError, match=rf"{kind}\.png: no face found.*--align none"):
        load_image(path, pre)
    loaded = load_images([paths[0], path], pre, tmp_path / "cache", skip_bad=True)
    assert len(loaded.paths) == 1 and loaded.skipped[0][0] == path


def test_a_huge_image_is_refused_before_any_detection(tmp_path, monkeypatch):
    import siamese_faces.data.images as images

    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
    path = tmp_path / "huge.png"
    Image.new("L", (101, 100), 0).save(path)
    spec = AlignSpec(((1.0, 1.0),) * 5, (250, 250))
    with pytest.raises(BadImageError, match="over the limit"):
        load_image(path, Preprocess(64, None, spec))


def test_a_decompression_bomb_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (9000, 8000), 0).save(path)  # 72 megapixels in a few kilobytes
    spec = AlignSpec(((1.0, 1.0),) * 5, (250, 250))
    with pytest.raises(BadImageError, match="bomb.png: 9000x8000 pixels, over the limit"):
        load_image(path, Preprocess(64, None, spec))


def test_missing_dlib_names_the_extra(monkeypatch):
    import siamese_faces.data.align as a

    monkeypatch.setattr(a._local, "models", None, raising=False)
    monkeypatch.setitem(__import__("sys").modules, "dlib", None)
    with pytest.raises(ValueError, match=r"siamese-faces\[align\]"):
        a.find_faces(np.zeros((20, 20), np.uint8))
    warnings.simplefilter("default")
