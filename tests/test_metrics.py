import numpy as np
import pytest

from posekit.eval.metrics import completeness, jitter, mpjpe_normalised, pck, pckh
from posekit.skeleton.geometry import box_size, head_length, torso_size
from posekit.skeleton.layouts import COCO17, POSETICS17


def upright_coco_pose() -> np.ndarray:
    kpts = np.zeros((17, 2), np.float32)
    i = COCO17.index
    kpts[i("nose")] = (100, 40)
    kpts[i("left_eye")], kpts[i("right_eye")] = (104, 36), (96, 36)
    kpts[i("left_ear")], kpts[i("right_ear")] = (108, 38), (92, 38)
    kpts[i("left_shoulder")], kpts[i("right_shoulder")] = (120, 80), (80, 80)
    kpts[i("left_elbow")], kpts[i("right_elbow")] = (125, 120), (75, 120)
    kpts[i("left_wrist")], kpts[i("right_wrist")] = (128, 160), (72, 160)
    kpts[i("left_hip")], kpts[i("right_hip")] = (112, 170), (88, 170)
    kpts[i("left_knee")], kpts[i("right_knee")] = (112, 230), (88, 230)
    kpts[i("left_ankle")], kpts[i("right_ankle")] = (112, 290), (88, 290)
    return kpts[None]


def test_head_length_is_nose_to_interpolated_neck():
    assert head_length(upright_coco_pose(), COCO17)[0] == pytest.approx(40.0)
    posetics = np.zeros((1, 17, 2), np.float32)
    posetics[0, POSETICS17.index("neck")] = (0, 30)
    assert head_length(posetics, POSETICS17)[0] == pytest.approx(30.0)


def test_pckh_counts_joints_within_half_a_head_and_missing_predictions_as_wrong():
    gt = upright_coco_pose()
    pred = gt.copy()
    pred[0, 0] += (19, 0)
    pred[0, 1] += (21, 0)
    pred[0, 2] = np.nan
    assert pckh(pred, gt, COCO17, 0.5) == pytest.approx(15 / 17)
    gt_missing = gt.copy()
    gt_missing[0, 16] = np.nan
    assert pckh(gt, gt_missing, COCO17, 0.5) == pytest.approx(1.0)


def test_pck_with_torso_and_box_scales():
    gt = upright_coco_pose()
    assert torso_size(gt, COCO17)[0] == pytest.approx(np.hypot(32, 90))
    assert box_size(np.array([[0, 0, 30, 100]], np.float32))[0] == 100
    pred = gt + 10
    assert pck(pred, gt, np.array([100.0]), 0.1) == 0.0
    assert pck(pred, gt, np.array([100.0]), 0.2) == 1.0


def test_mpjpe_is_normalised_by_head_length():
    gt = upright_coco_pose()
    assert mpjpe_normalised(gt + np.array([20, 0], np.float32), gt, COCO17) == pytest.approx(0.5)


def test_completeness_and_jitter():
    kpts = np.zeros((5, 17, 2), np.float32)
    kpts[0, :4] = np.nan
    assert completeness(kpts) == pytest.approx(1 - 4 / 85)
    line = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 17, 2), np.float32)
    assert jitter(line, 50.0) == pytest.approx(0.0)
    shaky = line.copy()
    shaky[1::2] += 1.0
    assert jitter(shaky, 50.0) == pytest.approx(2 * np.sqrt(2) / 50)
    assert jitter(np.stack([line, shaky]), np.array([50.0, 50.0])) == pytest.approx(np.sqrt(2) / 50)
    assert completeness(kpts, joints=[0, 1, 2, 3]) == pytest.approx(1 - 4 / 20)
