"""The refine step of the clip pipeline: one representation of a clip's proposals, one way to its skeletons."""

from __future__ import annotations

import numpy as np

from posekit.refine.clip import ClipProposals, refine_clip
from posekit.refine.tracks import DROP_REASONS, TRACK_DROP_REASONS, AggregationOptions, TrackFilterOptions
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import PoseProposals

T = 5


def person(rng: np.random.Generator, x0: float, size: float) -> tuple[np.ndarray, np.ndarray]:
    """``(17, 2)`` pixels of a person standing in a ``size``-pixel box at ``x0``, and the box."""
    keypoints = np.stack([x0 + rng.uniform(0, size / 2, 17), rng.uniform(50, 50 + size, 17)], -1)
    return keypoints.astype(np.float32), np.array([x0, 50, x0 + size / 2, 50 + size], np.float32)


def two_person_clip(seed: int = 0) -> ClipProposals:
    """Two experts; a large person (track 1) on every frame, a small one (track 2) on the first two."""
    rng = np.random.default_rng(seed)
    per_expert = []
    for _ in range(2):
        frames = []
        for t in range(T):
            people = [person(rng, 100, 300)] + ([person(rng, 500, 80)] if t < 2 else [])
            ids = np.array([1, 2][: len(people)], np.int32)
            frames.append(
                PoseProposals(
                    np.stack([k for k, _ in people]),
                    np.full((len(people), 17), 0.9, np.float32),
                    np.stack([b for _, b in people]),
                    np.full(len(people), 0.9, np.float32),
                    COCO17,
                    ids,
                )
            )
        per_expert.append(frames)
    return ClipProposals(
        "clip", "clip.mp4", 640, 480, 10.0, np.arange(T, dtype=np.int32) * 3, np.arange(T) * 0.3, COCO17,
        ("a", "b"), per_expert, dropped={"merged_box": 2},
    )  # fmt: skip


def test_proposals_round_trip_through_their_shard_rows():
    clip = two_person_clip()
    back = ClipProposals.from_expert_frames(clip.expert_frames(), COCO17, clip.experts)
    np.testing.assert_array_equal(back.frame_index, clip.frame_index)
    np.testing.assert_array_equal(back.timestamp, clip.timestamp)
    assert (back.clip_id, back.width, back.height, back.fps, back.experts) == ("clip", 640, 480, 10.0, ("a", "b"))
    for frames, again in zip(clip.per_expert, back.per_expert):
        for props, prop_back in zip(frames, again):
            np.testing.assert_array_equal(prop_back.keypoints, props.keypoints)
            np.testing.assert_array_equal(prop_back.track_ids, props.track_ids)


def test_refine_counts_the_trackers_drops_then_the_person_filters():
    skeletons, dropped = refine_clip(
        two_person_clip(), AggregationOptions(gamma=0.0), 0.0, TrackFilterOptions(max_persons=1)
    )
    assert [t.track_id for t in skeletons.tracks] == [1]
    assert list(dropped) == [*DROP_REASONS, "merged_box", *TRACK_DROP_REASONS]
    assert dropped["merged_box"] == 2 and dropped["beyond_max_persons"] == 2
    np.testing.assert_array_equal(skeletons.frame_index, np.arange(T) * 3)


def test_one_expert_alone_gives_its_own_poses_as_skeletons():
    clip = two_person_clip()
    alone = clip.of_expert(1)
    assert alone.experts == ("b",) and alone.per_expert[0] is clip.per_expert[1]
    skeletons, _ = refine_clip(alone, AggregationOptions(), 0.0, TrackFilterOptions())
    (first, second) = skeletons.tracks
    np.testing.assert_array_equal(first.keypoints[3], clip.per_expert[1][3].keypoints[0])
    assert len(second) == 2
