"""MediaPipe's native start-up notices stay off stderr; anything else written to descriptor 2 still shows."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from posekit.estimators.native_logs import filtered_native_stderr, is_known_notice
from tests.conftest import REPO, SHARED_DATA

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
def test_mediapipe_expert_runs_without_native_notices_or_protobuf_warnings() -> None:
    ntu = SHARED_DATA / "videos" / "ntu-S001C001P001R001A001_rgb.avi"
    program = (
        "import sys, cv2, numpy as np\n"
        "from posekit.estimators.base import EstimatorConfig\n"
        "from posekit.estimators.mediapipe import MediaPipePose\n"
        "from tests.videos import read_frames\n"
        "frame = read_frames(sys.argv[1], 1)[0]\n"
        "crops = np.stack([cv2.resize(frame[100:1080, 600:1300], (256, 256))] * 2)\n"
        "expert = MediaPipePose(None, EstimatorConfig())\n"
        "import time; time.sleep(0.5)\n"
        "found = expert.infer_crops(crops, np.zeros((2, 4), np.float32))\n"
        "print('ran', int(np.isfinite(found.keypoints).all(-1).any(-1).sum()))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program, str(ntu)], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["ran", "2"], "BlazePose found no pose: the warning path was not run"
    assert not [line for line in run.stderr.splitlines() if is_known_notice(line)], run.stderr
    assert "GetPrototype" not in run.stderr
