"""posekit eval --gt3d: MPJPE (root-aligned) and PA-MPJPE against MMPose body3d labels, on hand-checkable cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from posekit.cli.evaluate import eval_app
from posekit.eval.pose3d import (
    Gt3dOptions,
    body_bones,
    bone_length_spread,
    load_gt3d,
    procrustes_aligned,
    score_3d,
    scored_joints,
    tracked_3d,
)
from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import COCO17, H36M17, MPI_INF_3DHP17
from posekit.skeleton.records import SkeletonClip, SkeletonTrack
from tests.conftest import SHARED_DATA

GT3D_DEV = SHARED_DATA / "gt3d-dev"


def standing_person(layout) -> np.ndarray:
    """``(17, 3)`` metres of a plausible body in ``layout``, 3 m in front of the camera, hips' midpoint as root."""
    joints = {
        "head_top": (0, -0.75, 0), "head_centre": (0, -0.65, 0), "neck_base": (0, -0.5, 0), "thorax": (0, -0.45, 0),
        "spine": (0, -0.2, 0), "mid_hip": (0, 0, 0), "left_shoulder": (0.2, -0.45, 0),
        "right_shoulder": (-0.2, -0.45, 0), "left_elbow": (0.25, -0.2, 0), "right_elbow": (-0.25, -0.2, 0),
        "left_wrist": (0.3, 0.05, -0.1), "right_wrist": (-0.3, 0.05, -0.1), "left_hip": (0.1, 0, 0),
        "right_hip": (-0.1, 0, 0), "left_knee": (0.12, 0.45, 0), "right_knee": (-0.12, 0.45, 0.05),
        "left_ankle": (0.12, 0.9, 0), "right_ankle": (-0.12, 0.9, 0.1),
    }  # fmt: skip
    out = np.array([joints[name] for name in layout.joints], np.float64)
    return out + np.array([0.3, 0.2, 3.0])


def write_npz(path: Path, S_metres: np.ndarray, layout, millimetres: bool = False, names=None) -> Path:
    N = len(S_metres)
    S = np.concatenate([S_metres * (1000 if millimetres else 1), np.ones((N, 17, 1))], axis=-1)
    part = np.concatenate([S_metres[..., :2] / S_metres[..., 2:] * 1000 + 500, np.ones((N, 17, 1))], axis=-1)
    names = names or [f"img{i}.jpg" for i in range(N)]
    lo, hi = part[..., :2].min(1), part[..., :2].max(1)
    np.savez(path, imgname=np.array(names), S=S, part=part, center=(lo + hi) / 2, scale=(hi - lo).max(1) / 200)
    return path


def test_procrustes_undoes_scale_rotation_and_translation_exactly():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(12, 3))
    rotation = Rotation.from_euler("xyz", [30, -50, 80], degrees=True).as_matrix()
    pred = 1.7 * gt @ rotation + np.array([0.4, -2.0, 3.0])
    np.testing.assert_allclose(procrustes_aligned(pred, gt), gt, atol=1e-9)


def test_procrustes_never_mirrors():
    gt = standing_person(MPI_INF_3DHP17)
    gt[:, 2] += np.linspace(0, 0.3, 17)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    aligned = procrustes_aligned(mirrored, gt)
    assert np.linalg.norm(aligned - gt, axis=-1).mean() > 0.01


def test_mpjpe_is_root_aligned_and_pa_mpjpe_ignores_a_similarity_transform(tmp_path: Path):
    gt_joints = standing_person(MPI_INF_3DHP17)
    gt = load_gt3d(write_npz(tmp_path / "gt.npz", gt_joints[None], MPI_INF_3DHP17))
    coco, _ = convert_keypoints(gt_joints[None], None, MPI_INF_3DHP17, COCO17)
    coco = np.nan_to_num(coco[0], nan=0.0)
    shifted = coco + np.array([1.0, -0.5, 2.0])
    moved_wrist = coco.copy()
    moved_wrist[COCO17.index("left_wrist"), 0] += 0.012
    rotated = 0.8 * coco @ Rotation.from_euler("y", 40, degrees=True).as_matrix() + 5.0
    score = score_3d([shifted, moved_wrist, rotated], _repeat(gt, 3), COCO17)
    assert score.joints.tolist() == [12, 12, 12]
    np.testing.assert_allclose(score.mpjpe[:2], [0.0, 1.0], atol=1e-3)
    assert score.mpjpe[2] > 50
    np.testing.assert_allclose(score.pa_mpjpe[[0, 2]], [0.0, 0.0], atol=1e-3)
    overall = score.overall()
    assert overall["scored"] == 3 and overall["joints"] == 36
    assert overall["mpjpe"] == pytest.approx(score.mpjpe.mean())


def _repeat(gt, n):
    from dataclasses import replace

    return replace(
        gt,
        images=gt.images * n,
        clips=gt.clips * n,
        frames=gt.frames * n,
        joints=np.repeat(gt.joints, n, 0),
        joints_2d=np.repeat(gt.joints_2d, n, 0),
        boxes=np.repeat(gt.boxes, n, 0),
    )


def test_scored_joints_are_the_limbs_a_2d_layout_gives_root_left_out():
    names = [MPI_INF_3DHP17.joints[j] for j in scored_joints(COCO17, MPI_INF_3DHP17)]
    assert sorted(names) == sorted(COCO17.joints[5:])
    assert "mid_hip" not in names and "neck_base" not in names


@pytest.mark.parametrize("layout", [H36M17, MPI_INF_3DHP17])
@pytest.mark.parametrize("millimetres", [False, True])
def test_labels_layout_and_unit_are_recognised(tmp_path: Path, layout, millimetres: bool):
    joints = standing_person(layout)[None]
    gt = load_gt3d(write_npz(tmp_path / "gt.npz", joints, layout, millimetres))
    assert gt.layout is layout and gt.unit == ("mm" if millimetres else "m")
    np.testing.assert_allclose(gt.joints, joints)
    forced = load_gt3d(tmp_path / "gt.npz", Gt3dOptions(gt3d_layout="h36m17", gt3d_unit="m"))
    assert forced.layout is H36M17 and forced.unit == "m"


def test_dev_labels_are_3dhp_in_metres():
    gt = load_gt3d(GT3D_DEV / "test_3dhp_test.npz")
    assert gt.layout is MPI_INF_3DHP17 and gt.unit == "m" and gt.clips == ["TS1_002001.jpg", "TS2_001850.jpg"]


def track_of(track_id: int, joints_3d: np.ndarray, pixels: np.ndarray) -> SkeletonTrack:
    return SkeletonTrack(
        track_id=track_id,
        t=np.array([0], np.int32),
        keypoints=pixels[None].astype(np.float32),
        joint_scores=np.ones((1, 17), np.float32),
        joint_source=np.zeros((1, 17), np.int8),
        boxes=np.array([[0, 0, 10, 10]], np.float32),
        box_scores=np.ones(1, np.float32),
        confidence=np.ones(1, np.float32),
        keypoints_3d=joints_3d[None].astype(np.float32),
    )


def test_each_labelled_person_gets_the_3d_of_the_track_whose_2d_matches_it(tmp_path: Path):
    gt_joints = standing_person(MPI_INF_3DHP17)
    npz = write_npz(tmp_path / "gt.npz", gt_joints[None], MPI_INF_3DHP17, names=["img0.jpg"])
    gt = load_gt3d(npz)
    pixels, _ = convert_keypoints(gt.joints_2d[0], None, MPI_INF_3DHP17, COCO17)
    joints_3d, _ = convert_keypoints(gt_joints - gt_joints[14], None, MPI_INF_3DHP17, COCO17)
    far_away = track_of(1, np.zeros((17, 3)), pixels + 400)
    labelled = track_of(2, joints_3d, pixels + 2)
    clip = SkeletonClip("img0.jpg", "img0.jpg", 1000, 1000, 1.0, np.array([0]), np.array([0.0]), [far_away, labelled])
    shards = tmp_path / "shards"
    shards.mkdir()
    writer = ShardWriter(shards, ShardInfo("skeletons", COCO17, ("yolo", "mediapipe")))
    writer.add([clip])
    writer.flush()
    pred, layout = tracked_3d(gt, shards)
    assert layout.name == "coco17"
    np.testing.assert_allclose(pred[0], joints_3d, atol=1e-6)
    result = CliRunner().invoke(eval_app, ["--gt3d", str(npz), "--shards", str(shards)])
    assert result.exit_code == 0, result.output
    assert "PA-MPJPE" in result.output and "1 of 1" in result.output


def test_gt3d_without_predictions_is_one_line_and_exit_2(tmp_path: Path):
    npz = write_npz(tmp_path / "gt.npz", standing_person(H36M17)[None], H36M17)
    result = CliRunner().invoke(eval_app, ["--gt3d", str(npz)])
    assert result.exit_code == 2 and "--shards" in result.output
    (tmp_path / "bad.npz").write_bytes(b"not a file")
    result = CliRunner().invoke(eval_app, ["--gt3d", str(tmp_path / "bad.npz"), "--shards", str(tmp_path)])
    assert result.exit_code == 2 and "body3d" in result.output and "Traceback" not in result.output


def test_bone_length_spread_is_the_coefficient_of_variation_of_each_limb_bone():
    bones = body_bones(COCO17)
    assert len(bones) == 12
    forearm = bones.index((COCO17.index("left_wrist"), COCO17.index("left_elbow")))
    joints = np.zeros((4, 17, 3))
    joints[:, COCO17.index("left_wrist"), 0] = [0.2, 0.3, 0.2, 0.3]
    joints[2, COCO17.index("right_ankle")] = np.nan
    spread = bone_length_spread(joints, bones)
    assert spread[forearm] == pytest.approx(0.05 / 0.25)
    shin = bones.index((COCO17.index("right_ankle"), COCO17.index("right_knee")))
    assert np.isnan(spread[shin])  # every length 0: no spread defined
    one_frame = bone_length_spread(joints[:1], bones)
    assert np.isnan(one_frame).all()
