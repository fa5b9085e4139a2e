"""train.reuse_memory: freed tensors' pages are reused by the next step instead of faulted anew."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import pytest

from siamese_faces import runtime
from siamese_faces.config import Config
from siamese_faces.data.rundata import prepare
from siamese_faces.training.trainer import fit

from ..helpers import command_parsers
from .test_training import Interrupt, tiny

# A step in miniature, ten times: three 40 MiB tensors (above glibc's largest mmap threshold,
# 32 MiB) made, written and freed; it prints the minor page faults each round cost. In a
# process of its own: the setting is process-wide and cannot be undone for blocks kept.
ROUNDS = """
import json, resource, sys, torch
from siamese_faces.runtime import reuse_freed_memory
applied = reuse_freed_memory() if sys.argv[1] == "reuse" else False
faults = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = torch.ones(10 * 2**20)
    b = torch.ones(10 * 2**20)
    c = a + b
    del a, b, c
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": applied, "faults": faults}))
"""


def fault_rounds(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", ROUNDS, mode], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(
    runtime.glibc() is None, reason="the allocator settings are glibc's; elsewhere a no-op"
)
def test_reused_memory_is_not_faulted_in_again():
    pages = 3 * 40 * 2**20 // 4096  # a round's tensors
    plain, reused = fault_rounds("system"), fault_rounds("reuse")
    assert not plain["applied"] and reused["applied"]
    # glibc's default: each round maps fresh pages and faults every one of them in again
    assert min(plain["faults"][1:]) > pages // 2
    # kept: the first rounds fault the pages in (the heap settles within a few rounds, the
    # blocks' order varying from run to run), then rounds reuse them
    assert reused["faults"][0] > pages // 2
    assert max(reused["faults"][-3:]) < pages // 20


def test_training_asks_for_it_unless_turned_off(monkeypatch):
    calls = []
    monkeypatch.setattr(runtime, "reuse_freed_memory", lambda: calls.append(1) or True)
    assert Config().train.reuse_memory is True  # on by default
    runtime.set_threads(1, runtime.DistContext(), reuse_memory=False)
    assert calls == []
    runtime.set_threads(1, runtime.DistContext(), reuse_memory=True)
    assert calls == [1]


def test_training_sets_long_lived_objects_aside_and_always_gives_them_back(lfw_like, tmp_path):
    # Each validation runs a full collection (evaluation/predict.embed_rows); while training,
    # the objects that were there before it (dataset, libraries) are frozen out of it.
    cfg = tiny(lfw_like, "train.epochs=2")
    data = prepare(cfg)
    seen = []
    fit(
        cfg,
        data,
        tmp_path / "a",
        runtime.DistContext(),
        hook=lambda e, s: seen.append(gc.get_freeze_count()),
    )
    assert seen and min(seen) > 1000  # the heap before training, set aside at every step
    assert gc.get_freeze_count() == 0  # and given back after

    def die(epoch, step):
        raise Interrupt

    with pytest.raises(Interrupt):
        fit(cfg, data, tmp_path / "b", runtime.DistContext(), hook=die)
    assert gc.get_freeze_count() == 0


BATCH_COMMANDS = {"evaluate", "verify", "oneshot", "report", "enroll", "identify", "calibrate"}


def test_the_commands_that_embed_many_faces_say_so_and_no_other():
    from siamese_faces import cli

    marked = {n for n, p in command_parsers(cli.build_parser()) if p.get_default("batch_work")}
    assert marked == BATCH_COMMANDS  # serve's memory after a burst goes back to the system


@pytest.mark.parametrize(("argv", "asks"), [(["evaluate", "RUN"], True), (["serve", "RUN"], False)])
def test_main_keeps_freed_memory_before_a_batch_command_runs(monkeypatch, argv, asks):
    from siamese_faces import cli

    parser, asked = cli.build_parser(), []
    monkeypatch.setattr(runtime, "reuse_freed_memory", lambda: asked.append(1) or True)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    commands = dict(command_parsers(parser))
    commands[argv[0]].set_defaults(func=lambda args: len(asked))  # what the command saw
    assert cli.main(argv) == int(asks)
