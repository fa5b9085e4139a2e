"""Training's TensorBoard log never imports TensorFlow, even where it is installed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def run_with_fake_tensorflow(tmp_path, code: str) -> subprocess.CompletedProcess:
    # A "tensorflow" that fails loudly on import stands in for an installed one.
    fake = tmp_path / "fake"
    (fake / "tensorflow").mkdir(parents=True)
    (fake / "tensorflow" / "__init__.py").write_text("raise RuntimeError('tensorflow imported')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), *sys.path])}
    script = textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )


def test_the_fake_tensorflow_is_what_tensorboard_would_import(tmp_path):
    # Without the switch, TensorBoard's writer reaches for the (fake) TensorFlow.
    done = run_with_fake_tensorflow(
        tmp_path,
        """
        from torch.utils.tensorboard import SummaryWriter
        SummaryWriter("tb").add_scalar("x", 1.0, 0)
        """,
    )
    assert done.returncode != 0 and "tensorflow imported" in done.stderr


def test_metric_logger_writes_events_without_tensorflow(tmp_path):
    done = run_with_fake_tensorflow(
        tmp_path,
        """
        import sys
        from siamese_faces.training.callbacks import MetricLogger
        log = MetricLogger(".")
        log.log({"epoch": 0, "val/loss": 0.5})
        log.log({"epoch": 1, "val/loss": 0.25})
        log.close()
        assert "tensorflow" not in sys.modules
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        events = EventAccumulator("tb")
        events.Reload()
        print([(e.step, e.value) for e in events.Scalars("val/loss")])
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[(0, 0.5), (1, 0.25)]"
    assert (tmp_path / "metrics.csv").is_file()
