"""In-memory records: what an expert saw in a frame, skeleton clips and their tracks, expert frames."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.persons import rank_persons


@dataclass
class PoseProposals:
    """What one expert saw in one frame: ``P`` persons.

    Attributes:
        keypoints: ``(P, V, 2)`` float32 pixels in the full frame; NaN where the expert gave no joint.
        joint_scores: ``(P, V)`` float32 per-joint confidence in [0, 1] (the model's own scale).
        boxes: ``(P, 4)`` float32 person boxes ``x1, y1, x2, y2`` in pixels.
        scores: ``(P,)`` float32 person confidence.
        layout: the joint layout of ``keypoints``.
        track_ids: ``(P,)`` int32 track id per person, -1 until a tracker assigns one.
    """

    keypoints: np.ndarray
    joint_scores: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    layout: JointLayout
    track_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.track_ids is None:
            self.track_ids = np.full(len(self.scores), -1, dtype=np.int32)

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls, layout: JointLayout) -> PoseProposals:
        V = layout.num_joints
        return cls(
            keypoints=np.zeros((0, V, 2), np.float32),
            joint_scores=np.zeros((0, V), np.float32),
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros((0,), np.float32),
            layout=layout,
        )

    @classmethod
    def concat(cls, parts: list[PoseProposals], layout: JointLayout) -> PoseProposals:
        """The persons of ``parts`` (all in ``layout``) one after the other."""
        if not parts:
            return cls.empty(layout)
        return cls(
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.joint_scores for p in parts]),
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            layout,
            np.concatenate([p.track_ids for p in parts]),
        )

    def select(self, index: np.ndarray) -> PoseProposals:
        """The persons at ``index`` (integer array or boolean mask), in that order."""
        return PoseProposals(
            self.keypoints[index],
            self.joint_scores[index],
            self.boxes[index],
            self.scores[index],
            self.layout,
            self.track_ids[index],
        )

    def to_layout(self, layout: JointLayout) -> PoseProposals:
        kpts, scores = convert_keypoints(self.keypoints, self.joint_scores, self.layout, layout)
        return PoseProposals(kpts, scores, self.boxes, self.scores, layout, self.track_ids)


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
        normaliser: ``(n,)`` int8 length that normalised C (eq. 3.4's ``D_normal``): 0 head-neck,
            1 shoulder width, 2 torso (``posekit.refine.ssta.NORMALISERS``); -1 when not aggregated
            (the default).
    """

    track_id: int
    t: np.ndarray
    keypoints: np.ndarray
    joint_scores: np.ndarray
    joint_source: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    confidence: np.ndarray
    normaliser: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.normaliser is None:
            self.normaliser = np.full(len(self.t), -1, np.int8)

    def __len__(self) -> int:
        return len(self.t)


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

    def main_persons(self, max_persons: int | None = None) -> list[SkeletonTrack]:
        """The clip's tracks, main person first (:mod:`posekit.skeleton.persons`), at most ``max_persons``."""
        order = rank_persons(self.tracks, self.width, self.height, self.fps)
        return [self.tracks[i] for i in order[:max_persons]]

    def to_array(self, max_persons: int = 2, with_scores: bool = False) -> np.ndarray:
        """``(C, T, V, M)`` float32 array of the ``M = max_persons`` main persons (:meth:`main_persons`), in order.

        ``C`` is ``x, y`` pixels (plus the joint score with ``with_scores``); NaN where a
        person is absent or a joint missing. Normalisation belongs to the training reader.
        """
        V = self.tracks[0].keypoints.shape[1] if self.tracks else 0
        C = 3 if with_scores else 2
        out = np.full((C, self.num_frames, V, max_persons), np.nan, np.float32)
        for m, track in enumerate(self.main_persons(max_persons)):
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
