"""MediaPipe on tracked person boxes gives each person their own pose (two people side by side, arm wrestling)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import build_estimator
from posekit.refine.tracking import PersonTracker
from posekit.skeleton.records import PoseProposals
from tests.conftest import SHARED_DATA
from tests.videos import read_frames

ARMWRESTLING = SHARED_DATA / "videos" / "kinetics-armwrestling.mp4"
FRAMES = 32
BOX_MARGIN = 0.1
"""A joint counts as in its person's box when within this fraction of the box's longer side of it."""

pytestmark = pytest.mark.slow


def tracked_mediapipe(frames: list[np.ndarray]) -> list[tuple[np.ndarray, PoseProposals]]:
    """Per frame: the track ids of YOLO's tracked people and MediaPipe's poses on their boxes (the driver's flow)."""
    config = EstimatorConfig(imgsz=640)
    detector, mediapipe = build_estimator("yolo", config), build_estimator("mediapipe", config)
    tracker = PersonTracker(fps=28.0)
    out = []
    for start in range(0, len(frames), 8):
        batch = frames[start : start + 8]
        detections = detector.predict(batch)
        ids = [tracker.update(d.boxes, d.scores) for d in detections]
        boxes = [d.boxes[i >= 0] for d, i in zip(detections, ids)]
        out.extend((i[i >= 0], p) for i, p in zip(ids, mediapipe.predict(batch, boxes)))
    return out


def share_in_own_box(keypoints: np.ndarray, box: np.ndarray) -> float:
    """Fraction of a pose's found joints ``(V, 2)`` pixels inside ``box`` (xyxy pixels) widened by BOX_MARGIN."""
    x1, y1, x2, y2 = box
    margin = BOX_MARGIN * max(x2 - x1, y2 - y1)
    found = keypoints[~np.isnan(keypoints[:, 0])]
    inside = (found[:, 0] >= x1 - margin) & (found[:, 0] <= x2 + margin)
    inside &= (found[:, 1] >= y1 - margin) & (found[:, 1] <= y2 + margin)
    return float(inside.mean())


def two_largest_tracks(results: list[tuple[np.ndarray, PoseProposals]]) -> list[int]:
    """The track ids with the largest summed box area: the two arm wrestlers, in front of the spectators."""
    area: dict[int, float] = {}
    for ids, props in results:
        for track, (x1, y1, x2, y2) in zip(ids, props.boxes):
            area[int(track)] = area.get(int(track), 0.0) + float((x2 - x1) * (y2 - y1))
    return sorted(area, key=area.get, reverse=True)[:2]


def check_each_person_gets_their_own_pose(frames: list[np.ndarray], frame_width: int) -> None:
    results = tracked_mediapipe(frames)
    poses = [(ids, props, p) for ids, props in results for p in np.flatnonzero(~np.isnan(props.keypoints).all((1, 2)))]
    assert len(poses) >= len(frames), f"MediaPipe found only {len(poses)} poses in {len(frames)} frames"
    outside = [
        (props.boxes[p].round().tolist(), share_in_own_box(props.keypoints[p], props.boxes[p]))
        for _, props, p in poses
        if share_in_own_box(props.keypoints[p], props.boxes[p]) < 0.9
    ]
    assert not outside, (
        f"{len(outside)} of {len(poses)} poses lie outside their own box (box, share inside): {outside[:3]}"
    )
    wrestlers = set(two_largest_tracks(results))
    for ids, props in results:
        rows = [p for p in np.flatnonzero(np.isin(ids, list(wrestlers))) if not np.isnan(props.keypoints[p]).all()]
        if len(rows) == 2:
            gap = np.nanmean(np.linalg.norm(props.keypoints[rows[0]] - props.keypoints[rows[1]], axis=-1))
            assert gap > 0.05 * frame_width, f"the two arm wrestlers got one pose ({gap:.1f} px apart)"


def test_mediapipe_gives_each_tracked_person_a_pose_inside_their_own_box():
    frames = read_frames(ARMWRESTLING, FRAMES)
    check_each_person_gets_their_own_pose(frames, frames[0].shape[1])


def test_mediapipe_gives_each_tracked_person_their_own_pose_at_1080p():
    frames = [cv2.resize(f, (1434, 1080), interpolation=cv2.INTER_CUBIC) for f in read_frames(ARMWRESTLING, FRAMES)]
    check_each_person_gets_their_own_pose(frames, 1434)
