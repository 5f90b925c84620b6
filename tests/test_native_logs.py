"""MediaPipe's native start-up notices stay off stderr; anything else written to descriptor 2 still shows."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from posekit.estimators.native_logs import filtered_native_stderr, is_known_notice

NOTICES = (
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "W0000 00:00:1796165026.737307   17978 inference_feedback_manager.cc:114] Feedback manager requires a model "
    "with a single signature inference. Disabling support for feedback tensors.",
)


def test_known_notices_are_recognised_and_real_errors_are_not() -> None:
    assert all(is_known_notice(line) for line in NOTICES)
    assert not is_known_notice("E0000 00:00:1.0 1 calculator_graph.cc:1] Calculator::Open() failed: model not found")
    assert not is_known_notice("Segmentation fault")


def test_native_writes_other_than_notices_reach_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with filtered_native_stderr():
        for line in (*NOTICES, "E0000 real failure in native code"):
            os.write(2, (line + "\n").encode())
    err = capfd.readouterr().err
    assert err == "E0000 real failure in native code\n"


@pytest.mark.slow
def test_mediapipe_expert_runs_without_native_notices_on_stderr() -> None:
    program = (
        "import numpy as np\n"
        "from posekit.estimators.base import EstimatorConfig\n"
        "from posekit.estimators.mediapipe import MediaPipePose\n"
        "expert = MediaPipePose(None, EstimatorConfig())\n"
        "import time; time.sleep(0.5)\n"
        "expert.infer_crops(np.zeros((2, 256, 256, 3), np.uint8), np.zeros((2, 4), np.float32))\n"
        "print('ran')\n"
    )
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ran"
    assert not [line for line in run.stderr.splitlines() if is_known_notice(line)], run.stderr
    assert "GetPrototype" not in run.stderr
