"""MediaPipe BlazePose (full) as a top-down expert: one pose per given person box.

BlazePose is a single-person model; run on an upscaled crop around each tracked person it
becomes a multi-person, top-down expert that recovers small people. The crop goes straight to
BlazePose's landmark model as its region of interest (the ``PoseLandmarkByRoiCpu`` graph of
``mediapipe==0.10.14``, whose model files ship in the wheel). ``mp.solutions.pose`` would first run
BlazePose's own person detector inside the crop and keep its best detection, which in a crowded
crop is often another person (a neighbour or a spectator): two tracks then got one pose. The
region is taken upright (no rotation), as the crops are.

BlazePose also estimates world landmarks: metric 3D joints (metres) centred between the hips, on axes that
follow the crop's (x right, y down, z away from the camera). An upright crop is only scaled and shifted
from the frame, so these are the camera's axes: each person also gets ``keypoints_3d`` in posekit's 3D
convention (``posekit.io.schema.COORDINATES_3D``), re-centred exactly on the midpoint of the hips, with each
landmark's visibility as its 3D joint score.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from posekit.core.errors import ConfigError
from posekit.estimators.base import CropPoses, EstimatorConfig, TopDownExpert
from posekit.estimators.native_logs import filtered_native_stderr
from posekit.skeleton.layouts import BLAZEPOSE33

log = logging.getLogger(__name__)

LANDMARKS_IN_ROI_GRAPH = """
input_stream: "image"
input_stream: "roi"
output_stream: "landmarks"
output_stream: "world_landmarks"
node {
  calculator: "PoseLandmarkByRoiCpu"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  output_stream: "LANDMARKS:landmarks"
  output_stream: "WORLD_LANDMARKS:world_landmarks"
}
"""
"""BlazePose's landmark model on a given region of interest, without its person detector; no pose, no packet."""


class MediaPipePose(TopDownExpert):
    """BlazePose full on each box's crop; per-joint score = the landmark's visibility, person score their mean."""

    name = "mediapipe"
    layout = BLAZEPOSE33
    gives_3d = True

    def __init__(self, weights: Path | None, config: EstimatorConfig) -> None:
        if weights is not None:
            raise ConfigError(
                f"mediapipe uses the BlazePose full model inside the mediapipe package; "
                f"it takes no weights path (got {weights}): use --experts mediapipe"
            )
        # protobuf warns on every result MediaPipe 0.10.14 unpacks; the message names an API only MediaPipe calls
        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
        try:
            from mediapipe.framework.formats import rect_pb2
            from mediapipe.python import solution_base
        except ImportError as exc:
            raise ConfigError(
                "the mediapipe expert needs mediapipe==0.10.14 (later releases dropped its pose "
                f"solution): pip install mediapipe==0.10.14 ({exc})"
            ) from exc
        if config.device not in ("auto", "cpu"):
            log.info("mediapipe runs on the CPU (asked for %s)", config.device)
        super().__init__(config)
        self._whole_crop = rect_pb2.NormalizedRect(x_center=0.5, y_center=0.5, width=1.0, height=1.0, rotation=0.0)
        with filtered_native_stderr():
            self._landmarker = solution_base.SolutionBase(
                graph_config=LANDMARKS_IN_ROI_GRAPH,
                side_inputs={"model_complexity": 1},
                outputs=["landmarks", "world_landmarks"],
            )
            self._process(np.zeros((64, 64, 3), np.uint8))

    def _process(self, crop: np.ndarray):
        """BlazePose's landmarks on one ``(H, W, 3)`` uint8 RGB crop (None where it sees no pose).

        The first call, made at construction inside :func:`filtered_native_stderr`, starts the graph's
        model, whose threads would otherwise print their start-up notices while other experts run.
        """
        return self._landmarker.process({"image": crop, "roi": self._whole_crop})

    def infer_crops(self, crops: np.ndarray, boxes: np.ndarray) -> CropPoses:
        N, height, width = crops.shape[:3]
        V = self.layout.num_joints
        found = CropPoses(
            np.full((N, V, 2), np.nan, np.float32),
            np.zeros((N, V), np.float32),
            np.zeros(N, np.float32),
            np.full((N, V, 3), np.nan, np.float32),
            np.zeros((N, V), np.float32),
        )
        hips = self.layout.indices(["left_hip", "right_hip"])
        for n, crop in enumerate(crops):
            result = self._process(crop)
            if result.landmarks is None:
                continue
            landmarks = np.array([(q.x, q.y, q.visibility) for q in result.landmarks.landmark], np.float32)
            found.keypoints[n] = landmarks[:, :2] * np.array([width, height], np.float32)
            found.joint_scores[n] = landmarks[:, 2]
            found.scores[n] = float(landmarks[:, 2].mean())
            world = np.array([(q.x, q.y, q.z, q.visibility) for q in result.world_landmarks.landmark], np.float32)
            found.keypoints_3d[n] = world[:, :3] - world[hips, :3].mean(axis=0)
            found.joint_scores_3d[n] = world[:, 3]
        return found
