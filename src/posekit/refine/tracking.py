"""Person tracking across frames with Ultralytics' ByteTrack, and cross-expert matching.

ByteTrack associates boxes by IoU with a Kalman motion model and, unlike trackers that
drop weak detections, also matches low-score boxes in a second pass, which is what keeps
small, partly occluded people tracked. It needs no appearance model (so no extra weights
to ship) and is maintained inside the Ultralytics package posekit already depends on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from posekit.core.boxes import box_iou


@dataclass(frozen=True)
class TrackerConfig:
    """ByteTrack settings (Ultralytics' defaults, with the track buffer in seconds)."""

    track_high_thresh: float = 0.25
    track_low_thresh: float = 0.1
    new_track_thresh: float = 0.25
    match_thresh: float = 0.8
    buffer_seconds: float = 3.0
    fuse_score: bool = True


class PersonTracker:
    """Assigns stable track ids (1, 2, ...) to the person boxes of successive frames of one video."""

    def __init__(self, fps: float, config: TrackerConfig | None = None) -> None:
        from ultralytics.trackers.byte_tracker import BYTETracker
        from ultralytics.utils import IterableSimpleNamespace

        cfg = config or TrackerConfig()
        fps = fps if fps and fps > 0 else 30.0
        args = IterableSimpleNamespace(
            tracker_type="bytetrack",
            track_high_thresh=cfg.track_high_thresh,
            track_low_thresh=cfg.track_low_thresh,
            new_track_thresh=cfg.new_track_thresh,
            track_buffer=max(1, round(cfg.buffer_seconds * fps)),
            match_thresh=cfg.match_thresh,
            fuse_score=cfg.fuse_score,
        )
        self._tracker = BYTETracker(args)

    def update(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Track ids ``(P,)`` int32 for this frame's ``(P, 4)`` xyxy boxes; -1 for untracked boxes."""
        from ultralytics.engine.results import Boxes

        ids = np.full(len(boxes), -1, dtype=np.int32)
        data = np.zeros((len(boxes), 6), np.float32)
        data[:, :4] = boxes
        data[:, 4] = scores
        tracked = self._tracker.update(Boxes(data, orig_shape=(1, 1)).numpy())
        for row in tracked:
            ids[int(row[-1])] = int(row[4])
        return ids


def match_boxes(reference: np.ndarray, candidates: np.ndarray, min_iou: float = 0.3) -> np.ndarray:
    """For each candidate box, the index of its reference box (Hungarian on IoU), or -1.

    ``reference`` is ``(R, 4)`` and ``candidates`` ``(K, 4)`` xyxy; returns ``(K,)`` int.
    """
    out = np.full(len(candidates), -1, dtype=np.int64)
    if len(reference) == 0 or len(candidates) == 0:
        return out
    iou = box_iou(candidates, reference)
    rows, cols = linear_sum_assignment(-iou)
    ok = iou[rows, cols] >= min_iou
    out[rows[ok]] = cols[ok]
    return out
