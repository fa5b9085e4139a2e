import numpy as np
import pytest
from PIL import Image

from siamese_faces.data.cache import load_images
from siamese_faces.data.images import BadImageError, Preprocess, load_image


def gradient(w=60, h=40):
    return np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))


def test_grayscale_jpeg_and_png_decode(tmp_path):
    Image.fromarray(gradient()).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (40, 60)
    assert np.array_equal(out, gradient())


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "CMYK", "P", "LA"])
def test_colour_modes_become_gray(tmp_path, mode):
    rgb = Image.fromarray(np.stack([gradient()] * 3, axis=-1), "RGB")
    img = rgb.convert(mode)
    path = tmp_path / ("x.jpg" if mode in ("RGB", "CMYK") else "x.png")
    img.save(path)
    out = load_image(path)
    assert out.shape == (40, 60)
    assert abs(int(out[:, -1].mean()) - 255) < 12 and out[:, 0].mean() < 12


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    arr = (np.linspace(0, 65535, 50).astype(np.uint16)[None, :]).repeat(10, axis=0)
    Image.fromarray(arr).save(tmp_path / "deep.png")
    out = load_image(tmp_path / "deep.png")
    assert out[0, 0] == 0 and out[0, -1] == 255 and 120 < out[0, 25] < 135


def test_crop_and_resize(tmp_path):
    arr = np.zeros((100, 100), np.uint8)
    arr[25:75, 25:75] = 200
    Image.fromarray(arr).save(tmp_path / "c.png")
    out = load_image(tmp_path / "c.png", Preprocess(size=20, crop=(0.25, 0.25, 0.75, 0.75)))
    assert out.shape == (20, 20) and out.min() == 200


def test_preprocess_validates():
    with pytest.raises(ValueError, match="fractions"):
        Preprocess(size=32, crop=(0.5, 0.1, 0.4, 0.9))
    with pytest.raises(ValueError, match="between 8 and 1024"):
        Preprocess(size=2)


def bad_files(tmp_path):
    Image.fromarray(gradient()).save(tmp_path / "good.jpg")
    data = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "corrupt.jpg").write_bytes(b"this is not a jpeg at all" * 10)
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    return ["empty.jpg", "corrupt.jpg", "truncated.jpg"]


@pytest.mark.parametrize("name", ["empty.jpg", "corrupt.jpg", "truncated.jpg"])
def test_bad_image_is_an_error_naming_the_file(tmp_path, name):
    bad_files(tmp_path)
    with pytest.raises(BadImageError, match=name):
        load_image(tmp_path / name)


def test_bad_images_stop_the_cache_unless_skipped(tmp_path):
    bad = bad_files(tmp_path)
    paths = [tmp_path / "good.jpg"] + [tmp_path / b for b in bad]
    pre = Preprocess(size=16)
    with pytest.raises(BadImageError, match="replace the file"):
        load_images(paths, pre, tmp_path / "cache")
    result = load_images(paths, pre, tmp_path / "cache", skip_bad=True)
    assert result.paths == [tmp_path / "good.jpg"] and result.images.shape == (1, 16, 16)
    assert sorted(p.name for p, _ in result.skipped) == sorted(bad)
    # The cached copy remembers the skips: still reported, and still an error without the flag.
    again = load_images(paths, pre, tmp_path / "cache", skip_bad=True)
    assert again.cache_hit and len(again.skipped) == 3
    with pytest.raises(BadImageError):
        load_images(paths, pre, tmp_path / "cache")


def test_exif_orientation_is_applied(tmp_path):
    # A phone's portrait photo: stored 40 wide, 20 high, with Orientation=6 (turn 90° clockwise).
    arr = np.zeros((20, 40), dtype=np.uint8)
    arr[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    Image.fromarray(arr).save(path, exif=exif, quality=95)
    upright = load_image(path)
    assert upright.shape == (40, 20)  # now 20 wide, 40 high
    assert upright[:20].mean() > 200 and upright[20:].mean() < 50  # the white half on top


def test_too_many_pixels_is_a_clear_error_before_decoding(tmp_path, monkeypatch):
    from siamese_faces.data import images

    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((30, 40), dtype=np.uint8)).save(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)  # 1,200 pixels is over it
    with pytest.raises(BadImageError, match="30 pixels, over the limit of 1,000"):
        load_image(path)
    # Pillow's own bomb check (a file whose header claims gigapixels) is one line too.
    monkeypatch.setattr(images, "MAX_PIXELS", 10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(BadImageError, match="too many pixels"):
        load_image(path)


def test_a_folder_or_unreadable_file_is_named(tmp_path):
    with pytest.raises(BadImageError, match="a folder, not an image"):
        load_image(tmp_path)
