import numpy as np
import pytest

from posekit.refine.tracks import AggregationOptions, length_batches, skeleton_tracks, stack_tracks
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import PoseProposals


def frame(ids, rng, offset=0.0):
    n = len(ids)
    return PoseProposals(
        (rng.random((n, 17, 2)) * 100 + offset).astype(np.float32),
        np.full((n, 17), 0.9, np.float32),
        rng.random((n, 4)).astype(np.float32),
        np.full(n, 0.8, np.float32),
        COCO17,
        np.array(ids, np.int32),
    )


def test_stack_tracks_groups_experts_by_track_id_with_nan_where_unseen():
    rng = np.random.default_rng(0)
    expert_a = [frame([2, 1], rng), frame([1, -1], rng), frame([], rng), frame([2], rng)]
    expert_b = [frame([1], rng), frame([], rng), frame([], rng), frame([2, 1], rng)]
    expert_a[1].joint_scores[0, 5] = 0.1
    stacks = stack_tracks([expert_a, expert_b], min_joint_score=0.3)
    assert [s.track_id for s in stacks] == [1, 2]
    one = stacks[0]
    np.testing.assert_array_equal(one.t, [0, 1, 3])
    assert one.keypoints.shape == (2, 3, 17, 2)
    np.testing.assert_array_equal(one.keypoints[0, 0], expert_a[0].keypoints[1])
    np.testing.assert_array_equal(one.keypoints[1, 2], expert_b[3].keypoints[1])
    assert np.isnan(one.keypoints[1, 1]).all() and np.isnan(one.keypoints[0, 2]).all()
    assert np.isnan(one.keypoints[0, 1, 5]).all() and np.isnan(one.joint_scores[0, 1, 5])
    np.testing.assert_array_equal(one.boxes[2], expert_b[3].boxes[1])


def test_one_expert_gives_its_own_tracks_without_confidence():
    rng = np.random.default_rng(1)
    frames = [frame([1], rng), frame([1], rng)]
    (track,) = skeleton_tracks([frames], COCO17, AggregationOptions()).tracks
    np.testing.assert_array_equal(track.keypoints, np.stack([f.keypoints[0] for f in frames]))
    assert (track.joint_source == 0).all() and np.isnan(track.confidence).all()


def test_several_experts_are_aggregated_and_filtered_by_gamma():
    rng = np.random.default_rng(2)
    base = [frame([1], rng) for _ in range(4)]
    close = [PoseProposals(f.keypoints + 0.5, f.joint_scores, f.boxes, f.scores, COCO17, f.track_ids) for f in base]
    far = [PoseProposals(f.keypoints + 0.5, f.joint_scores, f.boxes, f.scores, COCO17, f.track_ids) for f in base]
    far[2].keypoints[:] += 400
    (track,) = skeleton_tracks([base, close, far], COCO17, AggregationOptions(gamma=0.18)).tracks
    assert 2 not in track.t.tolist() or track.confidence[list(track.t).index(2)] >= 0.18
    assert (track.confidence >= 0.18).all()
    assert set(np.unique(track.joint_source)) <= {0, 1, 2}
    everything = skeleton_tracks([base, close, far], COCO17, AggregationOptions(gamma=0.0)).tracks[0]
    assert len(everything.t) == 4 and np.isfinite(everything.confidence).all()


@pytest.mark.slow
def test_refine_aggregate_reproduces_extraction_from_proposals_and_refilters(short_clip, tmp_path):
    from typer.testing import CliRunner

    from posekit.cli.app import app
    from posekit.estimators.base import EstimatorConfig
    from posekit.estimators.registry import parse_experts
    from posekit.io.shards import read_skeletons
    from posekit.workflows.extraction.options import ExtractOptions
    from posekit.workflows.extraction.run import run_extraction

    options = ExtractOptions(
        experts=tuple(parse_experts("yolo,yolo-topdown")),
        estimator=EstimatorConfig(imgsz=1280),
        max_frames=4,
        keep_proposals=True,
    )
    run_extraction(short_clip, tmp_path / "x", options, progress=False)
    runner = CliRunner()
    args = ["refine", "aggregate", "--proposals", str(tmp_path / "x" / "proposals")]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "same")])
    assert result.exit_code == 0, result.output
    same = (tmp_path / "same" / "skeletons-00000.parquet").read_bytes()
    assert same == (tmp_path / "x" / "skeletons-00000.parquet").read_bytes()
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "strict"), "--gamma", "0.99", "--mode", "robust"])
    assert result.exit_code == 0, result.output
    kept = sum(len(t) for t in read_skeletons(tmp_path / "strict")[0].tracks)
    assert kept < sum(len(t) for t in read_skeletons(tmp_path / "x")[0].tracks)
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "bad"), "--mode", "magic"])
    assert result.exit_code == 2 and "--mode" in result.output and "magic" in result.output

    result = runner.invoke(app, [*args, "--out", str(tmp_path / "x"), "--overwrite"])
    assert result.exit_code == 2 and "holds the proposals being read" in result.output
    assert (tmp_path / "x" / "proposals").is_dir()


def test_length_batches_bound_padding_and_keep_every_track_once():
    lengths = [3000, 10, 10, 12, 2900, 5]
    batches = length_batches(lengths, budget=6000)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 6000 or len(batch) == 1
    assert [5, 1, 2, 3] in batches


def _person(nose: bool = True) -> np.ndarray:
    """An upright COCO-17 pose, pixels: head 40 px above the shoulders, shoulders 40 px wide."""
    pose = np.zeros((17, 2), np.float32)
    pose[:] = (100.0, 150.0)
    pose[0] = (100.0, 60.0) if nose else (np.nan, np.nan)
    pose[1:5] = np.nan
    pose[5], pose[6] = (120.0, 100.0), (80.0, 100.0)
    pose[11], pose[12] = (115.0, 200.0), (85.0, 200.0)
    return pose


def _expert(poses: list[np.ndarray], shift: float) -> list[PoseProposals]:
    return [
        PoseProposals(
            (p + shift)[None].astype(np.float32),
            np.where(np.isnan(p[:, 0]), 0.0, 0.9)[None].astype(np.float32),
            np.array([[60.0, 50.0, 140.0, 210.0]], np.float32),
            np.full(1, 0.8, np.float32),
            COCO17,
            np.array([7], np.int32),
        )
        for p in poses
    ]


def test_person_seen_from_behind_is_kept_at_gamma_0_with_the_shoulder_normaliser_recorded():
    poses = [_person(), _person(nose=False), _person(nose=False)]
    experts = [_expert(poses, 0.0), _expert(poses, 2.0), _expert(poses, -1.0)]
    refined = skeleton_tracks(experts, COCO17, AggregationOptions(gamma=0.0))
    (track,) = refined.tracks
    assert track.t.tolist() == [0, 1, 2]
    assert np.isfinite(track.confidence).all()
    assert track.normaliser.tolist() == [0, 1, 1]
    assert refined.dropped == {"below_gamma": 0, "too_few_joints": 0, "no_joints": 0}


def test_every_pose_left_out_is_counted_by_reason():
    arms_only = np.full((17, 2), np.nan, np.float32)
    arms_only[7:11] = [(90.0, 120.0), (110.0, 120.0), (85.0, 140.0), (115.0, 140.0)]
    nothing = np.full((17, 2), np.nan, np.float32)
    good, bad = _person(), _person()
    poses_a = [good, bad, arms_only, nothing]
    far = [good, bad + 300.0, arms_only, nothing]
    experts = [_expert(poses_a, 0.0), _expert(poses_a, 1.0), _expert(far, 0.0)]
    refined = skeleton_tracks(experts, COCO17, AggregationOptions(gamma=0.5))
    (track,) = refined.tracks
    assert track.t.tolist() == [0]
    assert refined.dropped == {"below_gamma": 1, "too_few_joints": 1, "no_joints": 1}
    assert refined.poses + sum(refined.dropped.values()) == 4
    single = skeleton_tracks([_expert(poses_a, 0.0)], COCO17, AggregationOptions())
    assert single.dropped["no_joints"] == 1 and (single.tracks[0].normaliser == -1).all()


@pytest.mark.slow
def test_street_clip_two_experts_keep_at_gamma_0_every_person_yolo_alone_finds(sample_clip, tmp_path):
    import json

    from posekit.estimators.registry import parse_experts
    from posekit.io.shards import read_skeletons
    from posekit.workflows.extraction.options import ExtractOptions
    from posekit.workflows.extraction.run import run_extraction

    found = {}
    for experts in ("yolo", "yolo,yolo-topdown"):
        options = ExtractOptions(
            experts=tuple(parse_experts(experts)), max_frames=40, aggregation=AggregationOptions(gamma=0.0)
        )
        out = tmp_path / experts.replace(",", "+")
        summary = run_extraction(sample_clip, out, options, progress=False)
        (clip,) = read_skeletons(out)
        manifest = json.loads((out / "manifest.json").read_text())
        (entry,) = manifest["entries"]
        assert set(entry["dropped"]) == {"below_gamma", "too_few_joints", "no_joints", "merged_box"}
        assert manifest["dropped"] == entry["dropped"] == summary.dropped
        assert entry["dropped"]["below_gamma"] == 0
        counted = sum(len(t) for t in clip.tracks) + entry["dropped"]["too_few_joints"] + entry["dropped"]["no_joints"]
        found[experts] = (len(clip.tracks), counted, clip.tracks)
    (solo_tracks, solo_poses, _), (both_tracks, both_poses, tracks) = found["yolo"], found["yolo,yolo-topdown"]
    assert solo_tracks > 0
    assert both_tracks >= solo_tracks and both_poses >= solo_poses  # every pose kept, or dropped by a counted rule
    assert all(np.isfinite(t.confidence).all() and (t.normaliser >= 0).all() for t in tracks)
