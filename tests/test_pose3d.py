"""The 3D slot of skeleton tracks: an expert's 3D mapped by joint meaning, matched to tracks, kept in shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posekit.core.errors import ConfigError
from posekit.estimators.base import CropPoses, EstimatorConfig
from posekit.estimators.registry import ExpertSpec
from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter, iter_skeleton_clips, read_proposals
from posekit.refine.clip import ClipProposals, refine_clip
from posekit.refine.pose3d import ExpertWorld3D, expert_3d_source
from posekit.refine.tracks import AggregationOptions, TrackFilterOptions, skeleton_tracks
from posekit.skeleton.layouts import BLAZEPOSE33, COCO17, POSETICS17
from posekit.skeleton.records import ExpertFrame, PoseProposals, SkeletonClip
from posekit.workflows.extraction.options import ExtractOptions
from tests.conftest import SHARED_DATA
from tests.fake_expert import FakeTopDown


def blazepose_person(rng: np.random.Generator, P: int = 1) -> PoseProposals:
    V = BLAZEPOSE33.num_joints
    return PoseProposals(
        rng.random((P, V, 2)).astype(np.float32) * 100,
        np.full((P, V), 0.9, np.float32),
        np.tile(np.array([0, 0, 100, 200], np.float32), (P, 1)),
        np.full(P, 0.9, np.float32),
        BLAZEPOSE33,
        keypoints_3d=rng.normal(size=(P, V, 3)).astype(np.float32),
        joint_scores_3d=rng.random((P, V)).astype(np.float32),
    )


def test_blazepose_3d_maps_to_coco17_by_joint_meaning():
    person = blazepose_person(np.random.default_rng(0))
    coco = person.to_layout(COCO17)
    assert coco.keypoints_3d.shape == (1, 17, 3)
    for v, joint in enumerate(COCO17.joints):
        source = BLAZEPOSE33.index(joint)
        np.testing.assert_array_equal(coco.keypoints_3d[0, v], person.keypoints_3d[0, source])
        assert coco.joint_scores_3d[0, v] == person.joint_scores_3d[0, source]


def test_blazepose_3d_to_posetics17_interpolates_neck_and_mid_hip_with_the_lower_score():
    person = blazepose_person(np.random.default_rng(1))
    posetics = person.to_layout(POSETICS17)
    joints, scores = person.keypoints_3d[0], person.joint_scores_3d[0]
    shoulders = BLAZEPOSE33.indices(["left_shoulder", "right_shoulder"])
    hips = BLAZEPOSE33.indices(["left_hip", "right_hip"])
    np.testing.assert_allclose(posetics.keypoints_3d[0, POSETICS17.index("neck")], joints[shoulders].mean(0), atol=1e-6)
    np.testing.assert_allclose(posetics.keypoints_3d[0, POSETICS17.index("mid_hip")], joints[hips].mean(0), atol=1e-6)
    assert posetics.joint_scores_3d[0, POSETICS17.index("mid_hip")] == scores[hips].min()


def two_experts(rng: np.random.Generator) -> tuple[list[PoseProposals], list[PoseProposals]]:
    """A 2D-only expert seeing track 1 on frames 0-2 and a 3D expert seeing it on frames 0 and 2 only."""
    flat = []
    for _ in range(3):
        props = blazepose_person(rng).to_layout(COCO17)
        flat.append(
            PoseProposals(props.keypoints, props.joint_scores, props.boxes, props.scores, COCO17, np.array([1]))
        )
    with_3d = [blazepose_person(rng).to_layout(COCO17) for _ in range(3)]
    for t, props in enumerate(with_3d):
        props.keypoints = flat[t].keypoints + 1.0
        props.track_ids = np.array([1 if t != 1 else -1], np.int32)
    return flat, with_3d


def test_tracks_take_the_3d_of_the_expert_proposals_matched_to_them_nan_where_it_saw_nobody():
    flat, with_3d = two_experts(np.random.default_rng(2))
    source = expert_3d_source([flat, with_3d])
    assert source == ExpertWorld3D(1)
    options = AggregationOptions(gamma=0.0)
    (track,) = skeleton_tracks([flat, with_3d], COCO17, options, source_3d=source).tracks
    np.testing.assert_array_equal(track.t, [0, 1, 2])
    assert track.keypoints_3d.shape == (3, 17, 3) and track.keypoints_3d.dtype == np.float32
    np.testing.assert_array_equal(track.keypoints_3d[0], with_3d[0].keypoints_3d[0])
    np.testing.assert_array_equal(track.keypoints_3d[2], with_3d[2].keypoints_3d[0])
    np.testing.assert_array_equal(track.joint_scores_3d[2], with_3d[2].joint_scores_3d[0])
    assert np.isnan(track.keypoints_3d[1]).all() and (track.joint_scores_3d[1] == 0).all()


def test_tracks_have_no_3d_without_a_source():
    flat, with_3d = two_experts(np.random.default_rng(3))
    assert expert_3d_source([flat]) is None
    (track,) = skeleton_tracks([flat, with_3d], COCO17, AggregationOptions(gamma=0.0)).tracks
    assert track.keypoints_3d is None


def write_proposals(frames: list[ExpertFrame], info: ShardInfo, out: Path) -> Path:
    writer = ShardWriter(out, info)
    writer.add(frames)
    return writer.flush()


def test_proposals_shards_keep_3d_and_reaggregation_restores_the_tracks_3d(tmp_path: Path):
    flat, with_3d = two_experts(np.random.default_rng(4))
    frames = [
        ExpertFrame("clip", "clip.mp4", 100, 200, 10.0, name, t, t, t / 10, props)
        for name, per_t in (("yolo", flat), ("mediapipe", with_3d))
        for t, props in enumerate(per_t)
    ]
    info = ShardInfo("proposals", COCO17, ("yolo", "mediapipe"), columns=("keypoints_3d",))
    path = write_proposals(frames, info, tmp_path)
    back = read_proposals(path)
    assert [f.proposals.has_3d for f in back] == [False] * 3 + [True] * 3
    np.testing.assert_array_equal(back[5].proposals.keypoints_3d, with_3d[2].keypoints_3d)
    proposals = ClipProposals.from_expert_frames(back, info.layout, info.experts)
    clip, _ = refine_clip(proposals, AggregationOptions(gamma=0.0), 0.0, TrackFilterOptions())
    expected = skeleton_tracks([flat, with_3d], COCO17, AggregationOptions(gamma=0.0), 0.0, ExpertWorld3D(1))
    np.testing.assert_array_equal(clip.tracks[0].keypoints_3d, expected.tracks[0].keypoints_3d)


def test_proposals_shards_without_3d_keep_their_version_1_columns(tmp_path: Path):
    flat, _ = two_experts(np.random.default_rng(5))
    frames = [ExpertFrame("clip", "clip.mp4", 100, 200, 10.0, "yolo", t, t, 0.0, p) for t, p in enumerate(flat)]
    path = write_proposals(frames, ShardInfo("proposals", COCO17, ("yolo",)), tmp_path)
    back = read_proposals(path)
    assert not any(f.proposals.has_3d for f in back)


class FakeTopDown3D(FakeTopDown):
    """The stick figure, and a 3D pose whose every joint's x is the crop's mean grey level / 1000."""

    gives_3d = True

    def infer_crops(self, crops: np.ndarray, boxes: np.ndarray) -> CropPoses:
        found = super().infer_crops(crops, boxes)
        joints_3d = np.zeros((len(crops), 17, 3), np.float32)
        joints_3d[..., 0] = crops.reshape(len(crops), -1).mean(axis=1)[:, None] / 1000
        return found._replace(keypoints_3d=joints_3d, joint_scores_3d=found.joint_scores)


def test_top_down_base_returns_each_box_its_own_3d_in_box_order_across_crop_batches():
    expert = FakeTopDown3D(None, EstimatorConfig(crop_batch=2, crop_size=64, crop_scale=1.0))
    frame = np.repeat(np.array([50, 100, 150], np.uint8), 100)[None, :, None].repeat(100, 0).repeat(3, 2)
    boxes = np.array([[25, 0, 75, 100], [125, 0, 175, 100], [225, 0, 275, 100]], np.float32)
    (props,) = expert.predict([frame], [boxes])
    assert props.keypoints_3d.shape == (3, 17, 3) and props.joint_scores_3d.shape == (3, 17)
    np.testing.assert_allclose(props.keypoints_3d[:, 0, 0], [0.05, 0.1, 0.15], atol=2e-3)


def test_3d_needs_an_expert_that_estimates_3d():
    with pytest.raises(ConfigError, match="--3d needs an expert"):
        ExtractOptions(experts=(ExpertSpec("yolo"),), pose_3d=True)
    assert ExtractOptions(experts=(ExpertSpec("yolo"), ExpertSpec("mediapipe")), pose_3d=True).pose_3d


@pytest.mark.slow
def test_mediapipe_fills_the_3d_of_every_pose_it_posed_on_a_real_frame(tmp_path: Path):
    from posekit.workflows.extraction.run import run_extraction

    video = SHARED_DATA / "videos" / "ntu-S001C001P001R001A001_rgb.avi"
    options = ExtractOptions(
        experts=(ExpertSpec("yolo"), ExpertSpec("mediapipe")),
        max_frames=2,
        layout="posetics17",
        pose_3d=True,
        keep_proposals=True,
    )
    run_extraction(video, tmp_path, options, progress=False)
    (clip, info), *_ = list(iter_skeleton_clips(tmp_path))
    posed = {
        (f.t, int(tid))
        for f in read_proposals(tmp_path / "proposals")
        if f.expert == "mediapipe"
        for tid, joints in zip(f.proposals.track_ids, f.proposals.keypoints)
        if np.isfinite(joints).any()
    }
    with_3d = {
        (int(t), track.track_id)
        for track in clip.tracks
        for t, joints in zip(track.t, track.keypoints_3d)
        if np.isfinite(joints).all()
    }
    kept = {(int(t), track.track_id) for track in clip.tracks for t in track.t}
    assert posed and posed & kept == with_3d
    main = max(clip.tracks, key=len)
    joints = main.keypoints_3d
    assert joints.shape == (len(main), 17, 3) and info.coordinates_3d.startswith("metres")
    np.testing.assert_allclose(joints[:, POSETICS17.index("mid_hip")], 0.0, atol=1e-4)
    assert (joints[:, POSETICS17.index("nose"), 1] < -0.3).all()
    shoulders = np.linalg.norm(
        joints[:, POSETICS17.index("left_shoulder")] - joints[:, POSETICS17.index("right_shoulder")], axis=-1
    )
    assert ((shoulders > 0.2) & (shoulders < 0.6)).all()


def test_inspect_counts_the_person_frames_with_3d(tmp_path: Path):
    import json

    from typer.testing import CliRunner

    from posekit.cli.app import app

    flat, with_3d = two_experts(np.random.default_rng(6))
    refined = skeleton_tracks([flat, with_3d], COCO17, AggregationOptions(gamma=0.0), 0.0, ExpertWorld3D(1))
    clip = SkeletonClip("clip.mp4", "clip.mp4", 100, 200, 10.0, np.arange(3), np.arange(3) / 10, refined.tracks)
    writer = ShardWriter(tmp_path, ShardInfo("skeletons", COCO17, ("yolo", "mediapipe")))
    writer.add([clip])
    writer.flush()
    result = CliRunner().invoke(app, ["inspect", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["person_frames"], doc["person_frames_3d"]) == (3, 2)
