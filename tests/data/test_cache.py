import subprocess
import sys
import textwrap

import numpy as np

from siamese_faces.data.cache import load_images
from siamese_faces.data.images import Preprocess, load_image
from siamese_faces.data.layout import open_dataset


def test_second_run_is_a_cache_hit_with_the_same_pixels(lfw_like, tmp_path):
    paths = open_dataset(lfw_like).all_images()
    pre = Preprocess(size=24)
    first = load_images(paths, pre, tmp_path / "c")
    second = load_images(paths, pre, tmp_path / "c")
    assert not first.cache_hit and second.cache_hit
    assert np.array_equal(first.images, second.images)
    assert np.array_equal(second.images[3], load_image(paths[3], pre))


def test_key_changes_with_preprocessing_and_files(lfw_like, tmp_path):
    paths = open_dataset(lfw_like).all_images()
    load_images(paths, Preprocess(size=24), tmp_path / "c")
    assert not load_images(paths, Preprocess(size=32), tmp_path / "c").cache_hit
    assert not load_images(paths, Preprocess(24, (0.1, 0.1, 0.9, 0.9)), tmp_path / "c").cache_hit
    assert not load_images(paths[:-1], Preprocess(size=24), tmp_path / "c").cache_hit
    # A file rewritten in place (new size/mtime) is decoded again.
    paths[0].write_bytes(paths[1].read_bytes())
    again = load_images(paths, Preprocess(size=24), tmp_path / "c")
    assert not again.cache_hit and np.array_equal(again.images[0], again.images[1])


KILL_MID_WRITE = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from pathlib import Path
    from siamese_faces.data import cache
    from siamese_faces.data.images import Preprocess
    real_save = np.save
    def dying_save(fh, arr, allow_pickle=False):
        fh.write(b"\\x93NUMPY half of a header")  # some bytes reach the disk ...
        fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)      # ... then the process dies
    cache.np.save = dying_save
    paths = [Path(p) for p in sys.argv[2:]]
    cache.load_images(paths, Preprocess(size=24), Path(sys.argv[1]))
""")


def test_cache_write_killed_half_way_is_not_trusted(lfw_like, tmp_path):
    paths = open_dataset(lfw_like).all_images()
    cache_dir = tmp_path / "c"
    proc = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, str(cache_dir), *map(str, paths)])
    assert proc.returncode == -9  # it really was killed mid-write
    assert not list(cache_dir.glob("*.npy")) and not list(cache_dir.glob("*.json"))
    result = load_images(paths, Preprocess(size=24), cache_dir)
    assert not result.cache_hit and result.images.shape == (len(paths), 24, 24)
    assert load_images(paths, Preprocess(size=24), cache_dir).cache_hit


def test_array_without_its_index_is_not_trusted(lfw_like, tmp_path):
    # Killed between the two renames: the array is there, its index is not.
    paths = open_dataset(lfw_like).all_images()
    first = load_images(paths, Preprocess(size=24), tmp_path / "c")
    first.cache_file.with_suffix(".json").unlink()
    np.save(first.cache_file, np.zeros_like(first.images))  # and even if the array is wrong
    again = load_images(paths, Preprocess(size=24), tmp_path / "c")
    assert not again.cache_hit and np.array_equal(again.images, first.images)


def test_a_hit_under_another_spelling_gives_back_the_callers_paths(lfw_like, tmp_path, monkeypatch):
    # The key is of absolute paths, so ../x and /abs/x share a cache; what comes back must be
    # the caller's own spelling, which the dataset's people are keyed by (a hit once handed
    # back the first run's relative paths to a run given an absolute folder).
    absolute = open_dataset(lfw_like).all_images()
    bad = absolute[2]
    bad.write_bytes(b"not a jpeg")
    monkeypatch.chdir(lfw_like.parent)
    relative = [p.relative_to(lfw_like.parent) for p in absolute]
    first = load_images(relative, Preprocess(size=24), tmp_path / "c", skip_bad=True)
    second = load_images(absolute, Preprocess(size=24), tmp_path / "c", skip_bad=True)
    assert second.cache_hit and np.array_equal(first.images, second.images)
    assert second.paths == [p for p in absolute if p != bad]
    assert first.paths == [p for p in relative if p != bad.relative_to(lfw_like.parent)]
    assert [p for p, _ in second.skipped] == [bad]
