"""YOLO-pose run top-down: on an upscaled crop around each tracked person.

The same network as the ``yolo`` expert, but it sees each person large (a 60 px pedestrian
fills a 256 px crop), so it places joints that the full-frame pass misses or blurs. In
each crop the detection that best overlaps the expected person box is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from posekit.core.boxes import box_iou
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.crops import crop_person, crop_to_frame
from posekit.estimators.yolo import load_yolo
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import PoseProposals

MIN_IOU_WITH_EXPECTED_BOX = 0.2


class YoloTopDown:
    """YOLO-pose on person crops, all crops of a batch in one forward pass."""

    needs_boxes: ClassVar[bool] = True

    def __init__(self, weights: Path | None, config: EstimatorConfig) -> None:
        self.name = "yolo-topdown"
        self.layout = COCO17
        self.config = config
        self.model = load_yolo(weights)

    def predict(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray] | None = None) -> list[PoseProposals]:
        if boxes is None:
            raise ValueError("yolo-topdown is a top-down expert: pass one (P, 4) box array per frame")
        size, scale = self.config.crop_size, self.config.crop_scale
        crops, transforms, owners = [], [], []
        for f, (frame, frame_boxes) in enumerate(zip(frames, boxes)):
            for box in frame_boxes:
                crop, M = crop_person(frame, box, scale, size)
                crops.append(np.ascontiguousarray(crop[..., ::-1]))
                transforms.append(M)
                owners.append(f)
        results = (
            self.model.predict(
                crops, imgsz=size, conf=self.config.min_box_score, device=self.config.device, verbose=False
            )
            if crops
            else []
        )
        out = []
        k = 0
        for frame_boxes in boxes:
            P = len(frame_boxes)
            keypoints = np.full((P, 17, 2), np.nan, np.float32)
            joint_scores = np.zeros((P, 17), np.float32)
            scores = np.zeros(P, np.float32)
            for p in range(P):
                picked = self._pick(results[k], transforms[k], frame_boxes[p])
                if picked is not None:
                    keypoints[p], joint_scores[p], scores[p] = picked
                k += 1
            out.append(
                PoseProposals(
                    keypoints, joint_scores, np.asarray(frame_boxes, np.float32).reshape(P, 4), scores, COCO17
                )
            )
        return out

    @staticmethod
    def _pick(result, M: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
        """The crop's detection that overlaps the expected person box most, in frame pixels."""
        if result.keypoints is None or len(result.boxes) == 0:
            return None
        det_boxes = crop_to_frame(result.boxes.xyxy.cpu().numpy().reshape(-1, 2, 2), M).reshape(-1, 4)
        iou = box_iou(det_boxes, np.asarray(box, np.float32)[None])[:, 0]
        best = int(np.argmax(iou))
        if iou[best] < MIN_IOU_WITH_EXPECTED_BOX:
            return None
        xy = result.keypoints.xy[best].cpu().numpy().astype(np.float32)
        missing = (xy == 0).all(-1)
        xy = crop_to_frame(xy, M)
        xy[missing] = np.nan
        conf = result.keypoints.conf
        joint_scores = conf[best].cpu().numpy().astype(np.float32) if conf is not None else np.ones(17, np.float32)
        return xy, joint_scores, float(result.boxes.conf[best])
