"""In-memory records that shards hold: skeleton clips and their tracks, expert frames."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posekit.estimators.base import PoseProposals


@dataclass
class SkeletonTrack:
    """One person followed through a clip, on the ``n`` frames where they were seen.

    Attributes:
        track_id: stable id within the clip.
        t: ``(n,)`` int32 positions in the clip's frame list (not source frame numbers).
        keypoints: ``(n, V, 2)`` float32 pixels, NaN = missing joint.
        joint_scores: ``(n, V)`` float32 per-joint score.
        joint_source: ``(n, V)`` int8 index of the expert each joint came from (-1 = none).
        boxes: ``(n, 4)`` float32 ``x1, y1, x2, y2`` pixels.
        box_scores: ``(n,)`` float32 person score.
        confidence: ``(n,)`` float32 SST-A confidence C of thesis eq. 3.4; NaN when not aggregated.
    """

    track_id: int
    t: np.ndarray
    keypoints: np.ndarray
    joint_scores: np.ndarray
    joint_source: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    @property
    def presence(self) -> float:
        """Sum of person scores over the track's frames: long, confident tracks rank first."""
        return float(np.nansum(self.box_scores))


@dataclass
class SkeletonClip:
    """A clip's skeletons: ``T`` sampled frames and every person track in them.

    ``label``, ``source_label`` and ``text`` are set in datasets built by ``posekit
    build-dataset`` (optional shard columns, ``docs/shards.md``); None elsewhere.
    """

    clip_id: str
    video_path: str
    width: int
    height: int
    fps: float
    frame_index: np.ndarray
    timestamp: np.ndarray
    tracks: list[SkeletonTrack] = field(default_factory=list)
    label: str | None = None
    source_label: str | None = None
    text: str | None = None

    @property
    def num_frames(self) -> int:
        return len(self.frame_index)

    def to_array(self, max_persons: int = 2, with_scores: bool = False) -> np.ndarray:
        """``(C, T, V, M)`` float32 array of the ``M = max_persons`` most present tracks.

        ``C`` is ``x, y`` pixels (plus the joint score with ``with_scores``); NaN where a
        person is absent or a joint missing. Normalisation belongs to the training reader.
        """
        V = self.tracks[0].keypoints.shape[1] if self.tracks else 0
        C = 3 if with_scores else 2
        out = np.full((C, self.num_frames, V, max_persons), np.nan, np.float32)
        ranked = sorted(self.tracks, key=lambda tr: -tr.presence)[:max_persons]
        for m, track in enumerate(ranked):
            person = out[..., m]
            person[0:2, track.t] = track.keypoints.transpose(2, 0, 1)
            if with_scores:
                person[2, track.t] = track.joint_scores
        return out


@dataclass
class ExpertFrame:
    """What one expert saw in frame ``t`` of a clip (one proposals-shard row)."""

    clip_id: str
    video_path: str
    width: int
    height: int
    fps: float
    expert: str
    t: int
    frame_index: int
    timestamp: float
    proposals: PoseProposals
