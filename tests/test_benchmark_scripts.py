"""Arithmetic of the benchmark scripts whose output the README quotes."""

import pytest

from .helpers import script


def load(name: str):
    return script("benchmarks", name)


def test_peer_ratios_are_of_medians_and_same_round():
    peer = load("peer_keras")
    rates = {
        "keras-fp32": [100, 300, 200],
        "keras-bf16": [200, 400, 300],
        "torch-bf16": [300, 500, 600],
    }
    result = {
        "engines": {
            e: {"images_per_s": sorted(r)[1], "runs": [{"images_per_s": x} for x in r]}
            for e, r in rates.items()
        }
    }
    peer.add_ratios(result)
    torch_bf16 = result["engines"]["torch-bf16"]
    assert torch_bf16["vs_keras_same_precision"] == pytest.approx(500 / 300)
    assert torch_bf16["vs_keras_same_precision_round_range"] == pytest.approx(
        [500 / 400, 600 / 300]
    )
    assert torch_bf16["vs_keras_fp32"] == pytest.approx(500 / 200)
    assert torch_bf16["vs_keras_fp32_round_range"] == pytest.approx([500 / 300, 300 / 100])
    assert (
        "vs_keras_fp32" not in result["engines"]["keras-bf16"]
    )  # Keras is not compared with itself


def test_tower_layers_finds_the_default_towers_convolutions():
    convs = load("tower_layers").tower_convs("default")
    # the stem's, then each stage's (strided first); the last two train as tap products
    assert convs[0] == (1, 32, 2, 64)
    assert convs[-2:] == [(128, 256, 2, 8), (256, 256, 1, 4)]
    assert len(convs) == len(set(convs)) == 8


def test_step_profile_gives_self_time_a_step_largest_first_and_the_rest():
    from types import SimpleNamespace

    prof = load("step_profile")
    events = [  # profiler totals over 2 steps, in microseconds
        SimpleNamespace(key="aten::mm", self_cpu_time_total=4000.0, count=8),
        SimpleNamespace(key="aten::conv", self_cpu_time_total=12000.0, count=4),
        SimpleNamespace(key="aten::fill_", self_cpu_time_total=2000.0, count=26),
    ]
    rows = prof.self_times(events, steps=2)
    assert rows == [("aten::conv", 6.0, 2), ("aten::mm", 2.0, 4), ("aten::fill_", 1.0, 13)]
    text = prof.report(rows, top=2)
    assert "66.7%" in text.splitlines()[1]  # 6 of 9 ms
    assert text.splitlines()[-2].split()[-2:] == ["1.00", "11.1%"]  # the fill, below the top 2
    assert text.splitlines()[-1].split()[-1] == "9.00"


def test_step_profile_says_when_the_profiler_faults_in_fresh_pages():
    prof = load("step_profile")
    quiet = prof.fault_note(0, 200, page_bytes=4096)  # 0.8 MiB more a step: the profile stands
    assert quiet == "minor page faults a step: 0 without the profiler, 200 under it"
    loud = prof.fault_note(10, 8202, page_bytes=4096)  # 32 MiB more a step
    assert loud.startswith("minor page faults a step: 10 without the profiler, 8202 under it: ")
    assert "32 MiB more fresh pages" in loud and "inflated" in loud


def test_train_memory_reads_the_epoch_from_trainings_own_line():
    from siamese_faces.training.trainer import epoch_line

    row = {"epoch": 7, "train/loss": 0.5, "train/acc": 0.8, "seconds": 1.0}
    row |= {"val/loss": 0.6, "val/acc": 0.7, "val/auc": 0.75}
    epoch = load("train_memory").EPOCH
    for line in (epoch_line(row, True, True, 36), epoch_line(row, False, False)):
        assert int(epoch.match(line).group(1)) == 7


def test_step_variants_put_the_first_layer_back_on_2x2_phases_or_4x4_in_fp32():
    from unittest import mock

    import torch

    from siamese_faces.models import phases
    from siamese_faces.models.koch import KochTower

    variants = load("step_variants").VARIANTS
    before = variants["first layer on 2x2 phases"].change
    study, koch = KochTower(input_size=125), KochTower(input_size=105, filters=(64, 128, 128, 256))
    assert before(study) and not study.features[0].feeds_phases
    assert not before(koch)  # nothing phased feeds a phased layer there: the row is skipped
    fp32_too = variants["first layer on 4x4 phases in fp32 too"].change
    with mock.patch.object(phases, "blocks_pay", phases.blocks_pay):
        assert not fp32_too(study) and phases.blocks_pay() is False  # unlinked above
        assert fp32_too(KochTower(input_size=125))
        assert phases.blocks_pay() is torch.is_grad_enabled()  # fp32, with a gradient
    assert phases.blocks_pay() is False  # the patch ends with the test
