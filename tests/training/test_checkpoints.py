"""Checkpoints written on a thread of their own: what was given, in order, errors raised."""

from __future__ import annotations

import threading

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import siamese_faces.io
from siamese_faces.io import LaterWrites
from siamese_faces.training.callbacks import CheckpointSaver, EarlyStopping


def test_later_writes_land_in_order_and_wait_returns_once_all_are_written(tmp_path):
    later = LaterWrites()
    for k in range(5):  # the same file over and over: the last one given wins
        later.write(tmp_path / "f.bin", bytes([k]) * 1000)
    later.write(tmp_path / "g.bin", memoryview(b"abc"))
    later.wait()
    assert (tmp_path / "f.bin").read_bytes() == bytes([4]) * 1000
    assert (tmp_path / "g.bin").read_bytes() == b"abc"
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    later.close()


def test_later_writes_happen_off_the_callers_thread(tmp_path, monkeypatch):
    release, names = threading.Event(), []

    # The write waits for the caller to go on: made on the caller's thread, write() would
    # never return (and the file would exist before release).
    def held_write(target, write):
        names.append(threading.current_thread().name)
        release.wait(10)
        with open(target, "wb") as fh:
            write(fh)

    monkeypatch.setattr(siamese_faces.io, "atomic_write", held_write)
    later = LaterWrites()
    later.write(tmp_path / "f.bin", b"x")
    assert not (tmp_path / "f.bin").exists()  # not yet written: the caller went on
    release.set()
    later.close()
    assert (tmp_path / "f.bin").read_bytes() == b"x"
    assert names == ["later-writes_0"]


def test_a_failed_later_write_is_raised_by_wait(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    later = LaterWrites()
    later.write(tmp_path / "a-file" / "last.pt", b"x")  # its folder cannot be made
    with pytest.raises(OSError):
        later.wait()
    later.close()


def test_a_checkpoint_holds_the_weights_it_was_given_not_later_ones(tmp_path):
    net = nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    saver = CheckpointSaver(tmp_path, "{}")
    given = {k: v.clone() for k, v in net.state_dict().items()}
    saver.save(net, net, opt, sched, 0, EarlyStopping(3), [], improved=True)
    with torch.no_grad():  # training goes on while the files are written
        for p in net.parameters():
            p.add_(1.0)
    saver.wait()
    best = load_file(str(saver.best_path))
    last = saver.load_last()["model"]
    for k, v in given.items():
        assert torch.equal(best[k], v) and torch.equal(last[k], v), k
