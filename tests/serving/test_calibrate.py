"""Thresholds users own: at a false-accept rate (against a slow loop), saved with their origin."""

import json

import numpy as np
import pytest

from siamese_faces.cli import main
from siamese_faces.evaluation.metrics import threshold_at_far


@pytest.mark.parametrize("far", [0.0, 0.01, 0.1, 0.25, 0.5])
def test_threshold_at_far_matches_a_slow_loop(far):
    rng = np.random.default_rng(int(far * 100))
    scores, labels = rng.normal(size=200), rng.integers(0, 2, 200)
    different = scores[labels == 0]
    threshold, achieved = threshold_at_far(scores, labels, far)
    # The lowest candidate (a different pair's score) whose rate stays within far.
    ok = [t for t in sorted(different) if (different > t).mean() <= far + 1e-12]
    assert threshold == ok[0] and achieved == (different > ok[0]).mean() <= far + 1e-12


def test_calibrate_saves_the_threshold_and_verify_names_it(run_dir, capsys):
    run, data = run_dir
    assert main(["calibrate", str(run), "--align", "none", "--far", "0.5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    saved = json.loads((run / "threshold.json").read_text())
    assert saved["threshold"] == result["threshold"] and saved["origin"] == result["origin"]
    assert result["origin"] == "validation pairs, false-accept rate 0.5"
    photo = data / "lfw2" / "Gus_G" / "Gus_G_0001.jpg"
    assert main(["verify", "--align", "none", str(run), str(photo), str(photo), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["threshold"] == result["threshold"]
    assert out["threshold_origin"] == "validation pairs, false-accept rate 0.5"
    assert (
        main(
            [
                "calibrate",
                str(run),
                "--align",
                "none",
                "--accuracy",
                "--pairs-test",
                str(data / "pairsDevTest.txt"),
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["origin"].endswith("pairsDevTest.txt, best accuracy")
    (run / "threshold.json").unlink()  # the session's other tests expect the run's own
