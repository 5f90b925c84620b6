"""YOLO-pose run top-down: on an upscaled crop around each tracked person.

The same network as the ``yolo`` expert, but it sees each person large (a 60 px pedestrian
fills a 256 px crop), so it places joints that the full-frame pass misses or blurs. In
each crop the detection that best overlaps the expected person box is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.core.boxes import box_iou
from posekit.estimators.base import CropPoses, EstimatorConfig, TopDownExpert
from posekit.estimators.runtimes import Runtime, YoloRunner
from posekit.estimators.yolo import bundled_yolo_weights, shared_yolo
from posekit.skeleton.layouts import COCO17

MIN_IOU_WITH_EXPECTED_BOX = 0.2


class YoloTopDown(TopDownExpert):
    """YOLO-pose on person crops, the crops of a batch in forward passes of at most ``crop_batch`` crops."""

    name = "yolo-topdown"
    layout = COCO17

    def __init__(self, weights: Path | None, config: EstimatorConfig) -> None:
        super().__init__(config)
        self.device = config.resolve()
        self.min_box_score = config.min_box_score
        self.weights = weights or bundled_yolo_weights()
        self.model = shared_yolo(self.weights)
        self.runner = YoloRunner(self.model, self.weights)

    def use_runtime(self, runtime: Runtime, threads: int) -> None:
        """Run the network on ``runtime`` (:mod:`posekit.estimators.runtimes`) with ``threads`` CPU threads."""
        self.runner = YoloRunner(self.model, self.weights, runtime, threads)

    def warm_up(self) -> None:
        """Start the network's predictor now rather than on the first crops (:meth:`YoloRunner.start`)."""
        self.runner.start(**self._predict_settings(self.config.crop_size))

    def infer_crops(self, crops: np.ndarray, boxes: np.ndarray) -> CropPoses:
        results = self.runner.predict(list(crops), **self._predict_settings(crops.shape[1]))
        V = self.layout.num_joints
        found = CropPoses(
            np.full((len(crops), V, 2), np.nan, np.float32),
            np.zeros((len(crops), V), np.float32),
            np.zeros(len(crops), np.float32),
        )
        for n, (result, box) in enumerate(zip(results, boxes)):
            picked = self._pick(result, box)
            if picked is not None:
                found.keypoints[n], found.joint_scores[n], found.scores[n] = picked
        return found

    def _predict_settings(self, size: int) -> dict:
        """Ultralytics ``predict``'s settings for crops of ``size`` pixels."""
        return {"imgsz": size, "conf": self.min_box_score, "device": self.device, "verbose": False}

    def _pick(self, result, box: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
        """The crop's detection that overlaps the expected person box most: crop-pixel joints, NaN where missing."""
        if result.keypoints is None or len(result.boxes) == 0:
            return None
        iou = box_iou(result.boxes.xyxy.cpu().numpy().astype(np.float32), box[None])[:, 0]
        best = int(np.argmax(iou))
        if iou[best] < MIN_IOU_WITH_EXPECTED_BOX:
            return None
        xy = result.keypoints.xy[best].cpu().numpy().astype(np.float32)
        xy[(xy == 0).all(-1)] = np.nan
        conf = result.keypoints.conf
        joint_scores = conf[best].cpu().numpy().astype(np.float32) if conf is not None else np.ones(len(xy), np.float32)
        return xy, joint_scores, float(result.boxes.conf[best])
