"""The estimator protocol: a batch of frames in, one :class:`PoseProposals` per frame out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from posekit.errors import ConfigError
from posekit.skeleton import JointLayout, convert_keypoints


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


@dataclass(frozen=True)
class EstimatorConfig:
    """Settings shared by every expert; each expert reads the ones that apply to it.

    Attributes:
        device: ``cpu`` or ``cuda:N``.
        imgsz: network input size in pixels for full-frame (one-stage) experts. Small people
            need a larger input: on the bundled street clip YOLO11n-pose finds almost no one at 640.
        min_box_score: person detections below this are dropped by full-frame experts.
        crop_scale: top-down experts enlarge each person box by this factor before cropping.
        crop_size: side in pixels of the square crop a top-down expert sees (small people are upscaled).
    """

    device: str = "cpu"
    imgsz: int = 640
    min_box_score: float = 0.1
    crop_scale: float = 1.25
    crop_size: int = 256

    def __post_init__(self) -> None:
        check_device(self.device)


def check_device(device: str) -> None:
    """Fail once, before any video, when ``device`` is malformed or not on this machine."""
    if device == "cpu":
        return
    kind, _, index = device.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ConfigError(f"unknown --device {device!r}; use cpu, cuda or cuda:N")
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA GPU is visible on this machine; use --device cpu")
    if index and int(index) >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")


@runtime_checkable
class Estimator(Protocol):
    """A pose expert. Frames are ``(H, W, 3)`` uint8 RGB arrays.

    One-stage experts (``needs_boxes = False``) find people themselves. Top-down experts
    (``needs_boxes = True``) estimate one pose per given box and return the persons in box
    order, one per box (NaN keypoints where they found nothing).
    """

    name: str
    layout: JointLayout
    needs_boxes: ClassVar[bool]

    def predict(
        self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray] | None = None
    ) -> list[PoseProposals]: ...


def require_file(path: Path, what: str, hint: str) -> Path:
    """Fail with one line naming ``path`` when it is not a readable file."""
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path} ({hint})")
    return path
