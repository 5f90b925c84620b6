"""Person tracking across frames with Ultralytics' trackers, merged-box suppression, and cross-expert matching.

ByteTrack (the default) associates boxes by IoU with a Kalman motion model and, unlike trackers
that drop weak detections, also matches low-score boxes in a second pass, which is what keeps
small, partly occluded people tracked. BoT-SORT (``--tracker botsort``) runs here without its
camera-motion and appearance models (no frames and no re-identification weights reach the
tracker). Before either sees a frame, a box that swallows two persons (:func:`merged_boxes`) is
left untracked, so one detection of two people cannot take over a person's track.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from posekit.core.boxes import box_iou
from posekit.core.options import check_bounds

TrackerKind = Literal["bytetrack", "botsort"]
MergedBoxes = Literal["drop", "keep"]

MERGED_COVER = (0.25, 0.8)
"""A merged box is covered by each of the two persons it holds over this fraction of its area."""
MERGED_RECENT_SECONDS = 0.5
"""Tracked persons seen this recently (their last box) count as persons a detection may swallow."""
SAME_PERSON_IOU = 0.5
"""Boxes overlapping at least this much (IoU) are taken for the same person."""
MERGED_UNION_IOU = 0.7
"""A merged box overlaps the union box of the two persons it holds at least this much (IoU)."""
TRACKER_DROP_REASONS = ("merged_box",)
"""Why the tracker gave a detected person no track, before any expert posed it (:attr:`PersonTracker.dropped`)."""


@dataclass(frozen=True)
class TrackerConfig:
    """Person tracking: the tracker, the merged-box rule, fragment stitching, and the tracker's thresholds
    (Ultralytics' defaults, with the track buffer in seconds)."""

    tracker: TrackerKind = field(
        default="bytetrack",
        metadata={
            "help": "Person tracker (Ultralytics): bytetrack = IoU and motion; botsort = the same with its own "
            "Kalman state, no camera-motion or appearance model (docs/tracking.md measures both)."
        },
    )
    merged_boxes: MergedBoxes = field(
        default="drop",
        metadata={
            "help": "drop = a detection spanned by two persons (each covering 25-80 % of it, one scored at least "
            "as high, detected now or tracked in the last 0.5 s) is not tracked, counted as merged_box; keep = "
            "track it."
        },
    )
    stitch_seconds: float = field(
        default=1.0,
        metadata={
            "help": "Join a track that starts within this many seconds after another ended, where their boxes "
            "overlap (IoU >= 0.3), into one identity (0: off).",
            "min": 0.0,
        },
    )
    track_high_thresh: float = field(default=0.25, metadata={"cli": False})
    track_low_thresh: float = field(default=0.1, metadata={"cli": False})
    new_track_thresh: float = field(default=0.25, metadata={"cli": False})
    match_thresh: float = field(default=0.8, metadata={"cli": False})
    buffer_seconds: float = field(default=3.0, metadata={"cli": False})
    fuse_score: bool = field(default=True, metadata={"cli": False})

    def __post_init__(self) -> None:
        check_bounds(self)


def merged_boxes(
    boxes: np.ndarray, scores: np.ndarray, recent: np.ndarray, recent_scores: np.ndarray, min_score: float
) -> np.ndarray:
    """``(P,)`` bool: which of a frame's ``(P, 4)`` xyxy boxes swallow two persons.

    A box swallows two persons when two boxes each cover :data:`MERGED_COVER` of its area, do not
    overlap each other as much as one person's boxes do (:data:`SAME_PERSON_IOU`), and together span
    it (their union box overlaps it by :data:`MERGED_UNION_IOU`). The persons are the frame's other
    boxes scored (``(P,)`` ``scores``) at least ``min_score``, and the ``(R, 4)`` ``recent`` boxes of
    tracked persons (``(R,)`` ``recent_scores``) that none of those covers. A box scored above both
    persons it holds is taken for a person, not a merged box (a detector scores a box of two people
    lower than either).
    """
    out = np.zeros(len(boxes), bool)
    if len(boxes) + len(recent) < 3:
        return out
    every = np.concatenate([boxes, recent]).astype(np.float64)
    area = np.prod((every[:, 2:] - every[:, :2]).clip(min=0), axis=1)
    same = box_iou(every, every) >= SAME_PERSON_IOU
    P = len(boxes)
    confident = scores >= min_score
    score = np.concatenate([scores, recent_scores])
    for i in range(P):
        counted = confident & (np.arange(P) != i)
        others = np.concatenate([counted, ~same[P:, :P][:, counted].any(axis=1)])
        meet = (np.minimum(every[:, 2:], every[i, 2:]) - np.maximum(every[:, :2], every[i, :2])).clip(min=0)
        covered = meet.prod(axis=1) / max(area[i], 1e-9)
        held = np.flatnonzero(others & (covered >= MERGED_COVER[0]) & (covered <= MERGED_COVER[1]))
        for a, b in zip(*np.triu_indices(len(held), 1)):
            pair = every[[held[a], held[b]]]
            union = np.concatenate([pair[:, :2].min(0), pair[:, 2:].max(0)])[None]
            if score[[held[a], held[b]]].max() < score[i] or same[held[a], held[b]]:
                continue
            if box_iou(union, every[i : i + 1])[0, 0] >= MERGED_UNION_IOU:
                out[i] = True
                break
    return out


class PersonTracker:
    """Assigns stable track ids (1, 2, ...) to the person boxes of successive frames of one video.

    With ``merged_boxes="drop"`` a box that swallows two persons (:func:`merged_boxes`) gets no id, so it
    cannot take over a person's track; :attr:`merged` counts those the tracker would have used (score at
    least ``track_low_thresh``).
    """

    def __init__(self, fps: float, config: TrackerConfig | None = None) -> None:
        from ultralytics.trackers.bot_sort import BOTSORT
        from ultralytics.trackers.byte_tracker import BYTETracker
        from ultralytics.utils import IterableSimpleNamespace

        self.config = cfg = config or TrackerConfig()
        fps = fps if fps and fps > 0 else 30.0
        args = IterableSimpleNamespace(
            tracker_type=cfg.tracker,
            track_high_thresh=cfg.track_high_thresh,
            track_low_thresh=cfg.track_low_thresh,
            new_track_thresh=cfg.new_track_thresh,
            track_buffer=max(1, round(cfg.buffer_seconds * fps)),
            match_thresh=cfg.match_thresh,
            fuse_score=cfg.fuse_score,
            gmc_method="none",
            proximity_thresh=0.5,
            appearance_thresh=0.8,
            with_reid=False,
        )
        self._tracker = BOTSORT(args) if cfg.tracker == "botsort" else BYTETracker(args)
        self._recent_frames = max(1, round(MERGED_RECENT_SECONDS * fps))
        self._last: dict[int, tuple[int, np.ndarray, float]] = {}
        self._frame = 0
        self.merged = 0

    @property
    def dropped(self) -> dict[str, int]:
        """Detections given no track so far, by reason (:data:`TRACKER_DROP_REASONS`)."""
        return {"merged_box": self.merged}

    def _recent_boxes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(R, 4)`` last boxes and ``(R,)`` their scores, of the tracks seen within :data:`MERGED_RECENT_SECONDS`."""
        recent = [(box, score) for seen, box, score in self._last.values() if self._frame - seen <= self._recent_frames]
        return np.array([b for b, _ in recent], np.float32).reshape(-1, 4), np.array([s for _, s in recent], np.float32)

    def update(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Track ids ``(P,)`` int32 for this frame's ``(P, 4)`` xyxy boxes; -1 for untracked and merged boxes."""
        from ultralytics.engine.results import Boxes

        ids = np.full(len(boxes), -1, dtype=np.int32)
        tracked = np.ones(len(boxes), bool)
        if self.config.merged_boxes == "drop":
            tracked = ~merged_boxes(boxes, scores, *self._recent_boxes(), self.config.track_high_thresh)
            self.merged += int((~tracked & (scores >= self.config.track_low_thresh)).sum())
        rows = np.flatnonzero(tracked)
        data = np.zeros((len(rows), 6), np.float32)
        data[:, :4] = boxes[rows]
        data[:, 4] = scores[rows]
        for row in self._tracker.update(Boxes(data, orig_shape=(1, 1)).numpy()):
            ids[rows[int(row[-1])]] = int(row[4])
        for i in np.flatnonzero(ids >= 0):
            self._last[int(ids[i])] = (self._frame, boxes[i].astype(np.float32), float(scores[i]))
        self._frame += 1
        return ids


def match_boxes(reference: np.ndarray, candidates: np.ndarray, min_iou: float = 0.3) -> np.ndarray:
    """For each candidate box, the index of its reference box (Hungarian on IoU), or -1.

    ``reference`` is ``(R, 4)`` and ``candidates`` ``(K, 4)`` xyxy; returns ``(K,)`` int.
    """
    from scipy.optimize import linear_sum_assignment

    out = np.full(len(candidates), -1, dtype=np.int64)
    if len(reference) == 0 or len(candidates) == 0:
        return out
    iou = box_iou(candidates, reference)
    rows, cols = linear_sum_assignment(-iou)
    ok = iou[rows, cols] >= min_iou
    out[rows[ok]] = cols[ok]
    return out
