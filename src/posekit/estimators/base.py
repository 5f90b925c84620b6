"""The estimator protocol: a batch of frames in, one :class:`PoseProposals` per frame out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from posekit.core.errors import ConfigError
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import PoseProposals


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
