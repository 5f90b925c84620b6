"""MediaPipe BlazePose (full) as a top-down expert: one pose per given person box.

BlazePose is a single-person model; run on an upscaled crop around each tracked person it
becomes a multi-person, top-down expert that recovers small people. Uses the legacy
``mp.solutions.pose`` API of ``mediapipe==0.10.14``, whose model files ship in the wheel.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from posekit.core.errors import ConfigError
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.crops import crop_person, crop_to_frame
from posekit.skeleton.layouts import BLAZEPOSE33
from posekit.skeleton.records import PoseProposals

log = logging.getLogger(__name__)


class MediaPipePose:
    """BlazePose full on each box; per-joint score = the landmark's visibility."""

    needs_boxes: ClassVar[bool] = True

    def __init__(self, weights: Path | None, config: EstimatorConfig) -> None:
        if weights is not None:
            raise ConfigError(
                f"mediapipe uses the BlazePose full model inside the mediapipe package; "
                f"it takes no weights path (got {weights}): use --experts mediapipe"
            )
        try:
            from mediapipe.python.solutions import pose as mp_pose
        except ImportError as exc:
            raise ConfigError(
                "the mediapipe expert needs mediapipe==0.10.14 (later releases dropped its pose "
                f"solution): pip install mediapipe==0.10.14 ({exc})"
            ) from exc
        if config.device != "cpu":
            log.info("mediapipe runs on the CPU (asked for %s)", config.device)
        self.name = "mediapipe"
        self.layout = BLAZEPOSE33
        self.config = config
        self._pose = mp_pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False)

    def predict(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray] | None = None) -> list[PoseProposals]:
        if boxes is None:
            raise ValueError("mediapipe is a top-down expert: pass one (P, 4) box array per frame")
        return [self._predict_frame(frame, frame_boxes) for frame, frame_boxes in zip(frames, boxes)]

    def _predict_frame(self, frame: np.ndarray, boxes: np.ndarray) -> PoseProposals:
        P, V = len(boxes), self.layout.num_joints
        keypoints = np.full((P, V, 2), np.nan, np.float32)
        joint_scores = np.zeros((P, V), np.float32)
        scores = np.zeros(P, np.float32)
        for p, box in enumerate(boxes):
            crop, M = crop_person(frame, box, self.config.crop_scale, self.config.crop_size)
            result = self._pose.process(crop)
            if result.pose_landmarks is None:
                continue
            lm = np.array([(q.x, q.y, q.visibility) for q in result.pose_landmarks.landmark], np.float32)
            keypoints[p] = crop_to_frame(lm[:, :2] * self.config.crop_size, M)
            joint_scores[p] = lm[:, 2]
            scores[p] = float(lm[:, 2].mean())
        return PoseProposals(keypoints, joint_scores, np.asarray(boxes, np.float32).reshape(P, 4), scores, self.layout)
