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
        keypoints_3d: ``(P, V, 3)`` float32 metres in the shards' ``coordinates_3d`` convention (camera axes,
            origin at the mid-hip), NaN where the expert gave no 3D joint; None for an expert without 3D.
        joint_scores_3d: ``(P, V)`` float32 score of each 3D joint; None with ``keypoints_3d``.
    """

    keypoints: np.ndarray
    joint_scores: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    layout: JointLayout
    track_ids: np.ndarray | None = None
    keypoints_3d: np.ndarray | None = None
    joint_scores_3d: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.track_ids is None:
            self.track_ids = np.full(len(self.scores), -1, dtype=np.int32)

    @property
    def has_3d(self) -> bool:
        return self.keypoints_3d is not None

    def filled_3d(self) -> tuple[np.ndarray, np.ndarray]:
        """``(P, V, 3)`` 3D joints and ``(P, V)`` scores, NaN (scores 0) for an expert without 3D."""
        if self.keypoints_3d is not None and self.joint_scores_3d is not None:
            return self.keypoints_3d, self.joint_scores_3d
        P, V = self.joint_scores.shape
        return np.full((P, V, 3), np.nan, np.float32), np.zeros((P, V), np.float32)

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
        with_3d = any(p.has_3d for p in parts)
        filled = [p.filled_3d() for p in parts] if with_3d else []
        return cls(
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.joint_scores for p in parts]),
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            layout,
            np.concatenate([p.track_ids for p in parts]),
            np.concatenate([f[0] for f in filled]) if with_3d else None,
            np.concatenate([f[1] for f in filled]) if with_3d else None,
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
            None if self.keypoints_3d is None else self.keypoints_3d[index],
            None if self.joint_scores_3d is None else self.joint_scores_3d[index],
        )

    def to_layout(self, layout: JointLayout) -> PoseProposals:
        """The same persons in ``layout``, 2D and 3D joints mapped by joint meaning (``posekit.skeleton.convert``)."""
        kpts, scores = convert_keypoints(self.keypoints, self.joint_scores, self.layout, layout)
        kpts_3d, scores_3d = self.keypoints_3d, self.joint_scores_3d
        if kpts_3d is not None:
            kpts_3d, scores_3d = convert_keypoints(kpts_3d, scores_3d, self.layout, layout)
        return PoseProposals(kpts, scores, self.boxes, self.scores, layout, self.track_ids, kpts_3d, scores_3d)


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
        keypoints_3d: ``(n, V, 3)`` float32 3D joints in the shard's ``coordinates_3d`` convention
            (by default metres, camera axes x right / y down / z away, origin at the mid-hip), NaN = missing
            joint; None when the track has no 3D source.
        joint_scores_3d: ``(n, V)`` float32 score of each 3D joint; None with ``keypoints_3d``.
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
    keypoints_3d: np.ndarray | None = None
    joint_scores_3d: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.normaliser is None:
            self.normaliser = np.full(len(self.t), -1, np.int8)
        if self.keypoints_3d is not None and self.joint_scores_3d is None:
            self.joint_scores_3d = np.where(np.isnan(self.keypoints_3d[..., 0]), 0.0, 1.0).astype(np.float32)

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

    @property
    def has_3d(self) -> bool:
        """Whether any track carries ``keypoints_3d``."""
        return any(tr.keypoints_3d is not None for tr in self.tracks)

    def main_persons(self, max_persons: int | None = None) -> list[SkeletonTrack]:
        """The clip's tracks, main person first (:mod:`posekit.skeleton.persons`), at most ``max_persons``."""
        order = rank_persons(self.tracks, self.width, self.height, self.fps)
        return [self.tracks[i] for i in order[:max_persons]]

    def to_array(self, max_persons: int = 2, with_scores: bool = False, coords: str = "2d") -> np.ndarray:
        """``(C, T, V, M)`` float32 array of the ``M = max_persons`` main persons (:meth:`main_persons`), in order.

        ``coords="2d"``: ``C`` is ``x, y`` pixels; ``"3d"``: ``x, y, z`` of ``keypoints_3d`` (NaN for a
        track without 3D); plus the joint score with ``with_scores``. NaN where a person is absent or a
        joint missing. Normalisation belongs to the training reader.
        """
        if coords not in ("2d", "3d"):
            raise ValueError(f"coords must be '2d' or '3d', not {coords!r}")
        V = self.tracks[0].keypoints.shape[1] if self.tracks else 0
        D = 3 if coords == "3d" else 2
        out = np.full((D + int(with_scores), self.num_frames, V, max_persons), np.nan, np.float32)
        for m, track in enumerate(self.main_persons(max_persons)):
            joints, scores = (
                (track.keypoints_3d, track.joint_scores_3d) if coords == "3d" else (track.keypoints, track.joint_scores)
            )
            if joints is None:
                continue
            person = out[..., m]
            person[0:D, track.t] = joints.transpose(2, 0, 1)
            if with_scores:
                person[D, track.t] = scores
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
