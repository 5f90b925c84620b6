"""The NTU-Pose protocol (workflows/protocols/ntu_pose.py) on the real NTU RGB+D clip, and its failure classes."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.core.errors import ConfigError
from posekit.estimators.registry import parse_experts
from posekit.eval.degrade import get_degradation
from posekit.eval.reference import Matched
from posekit.io.video import iter_frames
from posekit.refine.ssta.fused import flip_index
from posekit.skeleton.layouts import COCO17
from posekit.workflows.protocols.degradation import run_protocol
from posekit.workflows.protocols.ntu_pose import FUSED, failure_classes, ntu_degradation, ntu_pose_options
from tests.conftest import SHARED_DATA

NTU = SHARED_DATA / "videos" / "ntu-S001C001P001R001A001_rgb.avi"
POSE = np.array(
    [
        (100, 40), (106, 34), (94, 34), (112, 38), (88, 38), (125, 70), (75, 70), (135, 110), (65, 110),
        (140, 150), (60, 150), (118, 150), (82, 150), (120, 210), (80, 210), (122, 270), (78, 270),
    ],
    dtype=np.float64,
)  # fmt: skip


def test_ntu_degradation_takes_1080p_to_320x180_and_occludes() -> None:
    name = ntu_degradation(1920, 1080)
    assert name == "downscale-0.166667+occlude-0.3"
    frame = next(iter(iter_frames(NTU, None, 1))).image
    assert frame.shape == (1080, 1920, 3)
    steps = get_degradation(name).steps
    small = round(1920 * steps[0].value), round(1080 * steps[0].value)
    assert small == (320, 180)
    assert ntu_degradation(768, 576) == "downscale-0.3125+occlude-0.3"
    assert ntu_degradation(320, 180) == "occlude-0.3"


def test_ntu_pose_options_score_fused_beside_thesis_without_discarding_frames() -> None:
    options = ntu_pose_options(NTU, parse_experts("yolo,yolo-topdown"), max_frames=3, reference_imgsz=1280)
    assert options.degradations == ("downscale-0.166667+occlude-0.3",)
    assert options.gamma is None and not options.include_clean
    assert options.extra_ssta[FUSED].mode == "fused"
    with pytest.raises(ConfigError, match="at least two experts"):
        ntu_pose_options(NTU, parse_experts("yolo"))


def matched(pred: np.ndarray, hit: bool = True) -> Matched:
    ref = POSE[None]
    return Matched(ref, pred[None], np.full((1, 4), np.nan), np.full(1, np.nan), np.array([hit]), 1)


def test_failure_classes_tell_missed_wrong_swapped_missing_and_joint_errors_apart() -> None:
    assert failure_classes(matched(POSE), COCO17)["correct"] == 100.0
    assert failure_classes(matched(POSE, hit=False), COCO17)["missed_person"] == 100.0
    assert failure_classes(matched(POSE + 500.0), COCO17)["wrong_person"] == 100.0
    swapped = failure_classes(matched(POSE[flip_index(COCO17)]), COCO17)
    # head length 30 px, radius 15 px: the nose and the eyes (12 px apart) stay correct, the other 14 joints swap
    assert swapped["swapped_sides"] == pytest.approx(100 * 14 / 17) and swapped["correct"] == pytest.approx(300 / 17)
    pred = POSE.copy()
    pred[COCO17.index("left_wrist")] = np.nan
    pred[COCO17.index("left_knee")] += (30.0, 0.0)
    out = failure_classes(matched(pred), COCO17)
    assert out["missing_joint"] == pytest.approx(100 / 17) and out["joint_error"] == pytest.approx(100 / 17)
    assert sum(out[k] for k in out if k != "joints") == pytest.approx(100.0) and out["joints"] == 17


@pytest.mark.slow
def test_ntu_pose_protocol_on_real_clip_scores_every_expert_thesis_and_fused(tmp_path) -> None:
    options = ntu_pose_options(NTU, parse_experts("yolo,yolo-topdown"), max_frames=4)
    result = run_protocol(NTU, options)
    degraded = options.degradations[0]
    rows = {r["method"]: r for r in result.rows if r["degradation"] == degraded}
    assert {"yolo", "yolo-topdown", "sst-a thesis", FUSED} <= set(rows)
    assert result.meta["reference"]["person_frames"] == 4
    for r in rows.values():
        assert r["ref_persons"] == 4 and 0.0 <= r["pckh"] <= 100.0
    classes = failure_classes(result.matched[degraded][FUSED], options.layout)
    assert classes["correct"] == pytest.approx(rows[FUSED]["pckh"])
