"""The one main-persons rule: actors before a spectator, the same order in every place that picks persons."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter
from posekit.io.torch_dataset import SkeletonShardDataset
from posekit.refine.tracks import RefinedTracks, TrackFilterOptions, filter_tracks
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import SkeletonClip, SkeletonTrack
from posekit.workflows.datasets.exports.arrays import box_score_array, person_arrays

T, WIDTH, HEIGHT = 20, 340, 256


def person(track_id: int, box: list[float], score: float, wave: float, frames: range = range(T)) -> SkeletonTrack:
    """A track standing in ``box`` (xyxy pixels) whose joints swing by ``wave`` pixels from frame to frame."""
    t = np.array(frames, np.int32)
    x1, y1, x2, y2 = box
    rest = np.stack([np.linspace(x1 + 5, x2 - 5, 17), np.linspace(y1 + 5, y2 - 5, 17)], axis=-1)
    swing = wave * np.sin(t)[:, None, None] * np.ones((1, 17, 2))
    n = len(t)
    return SkeletonTrack(
        track_id=track_id,
        t=t,
        keypoints=(rest[None] + swing).astype(np.float32),
        joint_scores=np.full((n, 17), 0.9, np.float32),
        joint_source=np.zeros((n, 17), np.int8),
        boxes=np.tile(np.array(box, np.float32), (n, 1)),
        box_scores=np.full(n, score, np.float32),
        confidence=np.full(n, np.nan, np.float32),
    )


def two_actors_and_a_spectator() -> SkeletonClip:
    """Track ids in an order no rule should follow: the still, confidently detected spectator first, then a
    passer-by on a few frames, then the two actors (large, central, moving, detected less confidently)."""
    tracks = [
        person(1, [150, 10, 200, 110], score=0.95, wave=0.0),
        person(2, [260, 20, 320, 160], score=0.9, wave=8.0, frames=range(3)),
        person(3, [10, 5, 190, 250], score=0.5, wave=6.0),
        person(4, [150, 5, 335, 250], score=0.4, wave=6.0),
    ]
    return SkeletonClip(
        "wrestle.mp4", "wrestle.mp4", WIDTH, HEIGHT, 28.0, np.arange(T, dtype=np.int32), np.arange(T) / 28.0, tracks
    )


def test_the_actors_come_first_not_the_most_confidently_detected_spectator() -> None:
    clip = two_actors_and_a_spectator()
    assert [track.track_id for track in clip.main_persons()] == [3, 4, 1, 2]
    assert [track.track_id for track in clip.main_persons(2)] == [3, 4]


def test_extraction_to_array_exports_and_the_unik_reader_take_the_same_persons_in_order(tmp_path: Path) -> None:
    clip = two_actors_and_a_spectator()
    actors = clip.main_persons(2)

    kept = filter_tracks(RefinedTracks(list(clip.tracks)), TrackFilterOptions(max_persons=2), WIDTH, HEIGHT, clip.fps)
    assert {track.track_id for track in kept.tracks} == {3, 4}
    assert kept.dropped["beyond_max_persons"] == T + 3

    array = clip.to_array(max_persons=2)  # (C, T, V, M)
    for m, track in enumerate(actors):
        np.testing.assert_array_equal(array[..., m][:, track.t], track.keypoints.transpose(2, 0, 1))

    keypoints, _ = person_arrays(clip, COCO17, COCO17, max_persons=2)  # (M, T, V, 2)
    np.testing.assert_allclose(keypoints, np.nan_to_num(array.transpose(3, 1, 2, 0)))
    np.testing.assert_allclose(box_score_array(clip, 2), [[0.5] * T, [0.4] * T], rtol=1e-6)

    writer = ShardWriter(tmp_path, ShardInfo(kind="skeletons", layout=COCO17, experts=("test",)))
    writer.add([clip])
    writer.flush()
    reader = SkeletonShardDataset(tmp_path, labels=None, window=None, layout=COCO17)
    joints = reader.joints(0)  # (C, T, V, M), screen-normalised
    scale = max(WIDTH, HEIGHT) / 2
    for m, track in enumerate(actors):
        pixels = joints[..., m].transpose(1, 2, 0) * scale + np.array([WIDTH, HEIGHT]) / 2
        np.testing.assert_allclose(pixels, track.keypoints, atol=1e-3)
