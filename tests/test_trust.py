"""Skeletons a user can trust: merged boxes not tracked, fragments stitched, lone joints demoted."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.refine.tracking import PersonTracker, TrackerConfig, merged_boxes
from posekit.refine.tracks import AggregationOptions, TrackProposals, skeleton_tracks, stitch_map, stitch_track_ids
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import PoseProposals

LEFT = np.array([0, 0, 200, 250], np.float32)
RIGHT = np.array([120, 0, 340, 250], np.float32)
BOTH = np.array([0, 0, 320, 250], np.float32)


def boxes(*rows: np.ndarray) -> np.ndarray:
    return np.stack(rows).astype(np.float32)


def test_a_box_spanning_two_tracked_persons_takes_no_track_and_is_counted() -> None:
    tracker = PersonTracker(fps=25)
    scores2 = np.array([0.8, 0.6], np.float32)
    for _ in range(3):
        left_id, right_id = tracker.update(boxes(LEFT, RIGHT), scores2)
    ids = tracker.update(boxes(LEFT, BOTH), np.array([0.8, 0.55], np.float32))
    assert ids.tolist() == [left_id, -1] and tracker.merged == 1
    back = tracker.update(boxes(LEFT, RIGHT), scores2)
    assert back.tolist() == [left_id, right_id], "the second person comes back under their own id"

    former = PersonTracker(fps=25, config=TrackerConfig(merged_boxes="keep"))
    for _ in range(3):
        former.update(boxes(LEFT, RIGHT), scores2)
    assert (former.update(boxes(LEFT, BOTH), np.array([0.8, 0.55], np.float32)) >= 0).all()
    assert former.merged == 0


def test_a_person_overlapped_by_weaker_neighbours_is_not_a_merged_box() -> None:
    person = np.array([130, 15, 185, 100], np.float32)
    halves = boxes(person, [146, 16, 187, 99], [128, 34, 166, 103])
    assert not merged_boxes(halves, np.array([0.67, 0.3, 0.3]), np.zeros((0, 4)), np.zeros(0), 0.25)[0]
    assert merged_boxes(boxes(BOTH, LEFT, RIGHT), np.array([0.5, 0.8, 0.6]), np.zeros((0, 4)), np.zeros(0), 0.25)[0]


def fragment(track_id: int, frames: range, box: np.ndarray) -> TrackProposals:
    n = len(frames)
    return TrackProposals(
        track_id,
        np.array(frames, np.int32),
        np.full((1, n, 17, 2), float(track_id), np.float32),
        np.ones((1, n, 17), np.float32),
        np.repeat(box[None], n, axis=0).astype(np.float32),
        np.ones(n, np.float32),
    )


def test_track_fragments_of_one_person_are_stitched_under_the_first_id() -> None:
    here, elsewhere = np.array([10, 10, 60, 150]), np.array([300, 10, 350, 150])
    parts = [
        fragment(1, range(0, 5), here),
        fragment(4, range(8, 12), here + 5),
        fragment(5, range(8, 12), elsewhere),
        fragment(7, range(14, 16), here + 8),
        fragment(9, range(40, 45), here),
    ]
    assert stitch_map(parts, max_gap=5) == {4: 1, 7: 1}
    assert stitch_map(parts, max_gap=0) == {}


def test_stitched_ids_reach_every_expert_so_skeletons_and_proposals_agree() -> None:
    box = np.array([[10, 10, 60, 150]], np.float32)

    def frame(track_id: int) -> PoseProposals:
        return PoseProposals(
            np.full((1, 17, 2), 30.0, np.float32), np.ones((1, 17), np.float32), box, np.ones(1, np.float32),
            COCO17, np.array([track_id], np.int32),
        )  # fmt: skip

    experts = [[frame(i) for i in (2, 2, -1, 6, 6)], [frame(i) for i in (2, 2, -1, 6, 6)]]
    assert stitch_track_ids(experts, max_gap=2) == {6: 2}
    assert [int(p.track_ids[0]) for p in experts[1]] == [2, 2, -1, 2, 2]
    (track,) = skeleton_tracks(experts, COCO17, AggregationOptions(gamma=0.0)).tracks
    assert track.track_id == 2 and track.t.tolist() == [0, 1, 3, 4]


def legs_and_face(face: bool, shift: float) -> np.ndarray:
    pose = np.full((17, 2), np.nan, np.float32)
    pose[11:17] = [(90, 150), (110, 150), (90, 190), (110, 190), (90, 230), (110, 230)]
    pose[5:7] = [(85, 100), (115, 100)]
    if face:
        pose[0:5] = [(100, 220), (97, 218), (103, 218), (94, 220), (106, 220)]
    return pose + shift


def expert(poses: list[np.ndarray]) -> list[PoseProposals]:
    return [
        PoseProposals(
            p[None],
            np.where(np.isnan(p[:, 0]), 0.0, 0.95)[None].astype(np.float32),
            np.array([[80, 90, 120, 240]], np.float32),
            np.ones(1, np.float32),
            COCO17,
            np.array([1], np.int32),
        )
        for p in poses
    ]


def test_a_joint_only_one_expert_claims_is_missing_and_scores_follow_agreement() -> None:
    experts = [
        expert([legs_and_face(False, 0.0)] * 3),
        expert([legs_and_face(False, 1.0)] * 3),
        expert([legs_and_face(True, 0.5)] * 3),
    ]
    (dropped,) = skeleton_tracks(experts, COCO17, AggregationOptions(gamma=0.0)).tracks
    assert np.isnan(dropped.keypoints[:, :5]).all() and (dropped.joint_source[:, :5] == -1).all()
    assert np.isfinite(dropped.keypoints[:, 5:7]).all() and np.isfinite(dropped.keypoints[:, 11:]).all()
    np.testing.assert_allclose(dropped.joint_scores[:, 11:], 0.95, rtol=1e-6)

    fuller = [[legs_and_face(False, 0.0)] * 3, [legs_and_face(False, 1.0)] * 3]
    for pose in fuller[0] + fuller[1]:
        pose[7:11] = [(80, 120), (120, 120), (78, 140), (122, 140)]
    full = [expert(p) for p in fuller] + [expert([legs_and_face(True, 0.5)] * 3)]
    (kept_on_full_view,) = skeleton_tracks(full, COCO17, AggregationOptions(gamma=0.0)).tracks
    assert np.isfinite(kept_on_full_view.keypoints[:, :5]).all(), "12 agreed joints of 17: not a partial view"

    (scored,) = skeleton_tracks(experts, COCO17, AggregationOptions(gamma=0.0, lone_joints="score")).tracks
    assert np.isfinite(scored.keypoints[:, :5]).all()
    np.testing.assert_allclose(scored.joint_scores[:, :5], 0.95 / 3, rtol=1e-6)

    (kept,) = skeleton_tracks(experts, COCO17, AggregationOptions(gamma=0.0, lone_joints="keep")).tracks
    np.testing.assert_allclose(kept.joint_scores[:, :5], 0.95, rtol=1e-6)
    np.testing.assert_array_equal(kept.confidence, dropped.confidence)


@pytest.mark.parametrize("kind", ["bytetrack", "botsort"])
def test_either_tracker_keeps_the_ids_of_two_people_walking_past_each_other(kind: str) -> None:
    tracker = PersonTracker(fps=10, config=TrackerConfig(tracker=kind))
    scores = np.array([0.9, 0.8], np.float32)
    walker, other = np.array([10, 10, 50, 130], np.float32), np.array([300, 14, 340, 134], np.float32)
    first = tracker.update(boxes(walker, other), scores)
    step = np.array([12, 0, 12, 0], np.float32)
    for k in range(1, 12):
        moved = boxes(walker + k * step, other - k * step)
        assert tracker.update(moved, scores).tolist() == first.tolist()


def test_a_run_from_before_the_tracker_choices_resumes_only_with_their_old_values(tmp_path) -> None:
    import json

    from posekit.core.errors import ConfigError
    from posekit.estimators.registry import ExpertSpec
    from posekit.io.manifest import MANIFEST_NAME, RunManifest
    from posekit.refine.tracking import TrackerConfig
    from posekit.workflows.extraction.options import ExtractOptions

    def settings(tracker: TrackerConfig) -> dict:
        return ExtractOptions(experts=(ExpertSpec("yolo"),), tracker=tracker).settings()

    as_before = TrackerConfig(merged_boxes="keep", stitch_seconds=0.0)
    old = settings(as_before)
    for new_field in ("tracker", "merged_boxes", "stitch_seconds"):
        del old["tracker"][new_field]
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"settings": old, "entries": []}))
    RunManifest.open(tmp_path, settings(as_before))
    with pytest.raises(ConfigError, match="tracker differ"):
        RunManifest.open(tmp_path, settings(TrackerConfig()))
