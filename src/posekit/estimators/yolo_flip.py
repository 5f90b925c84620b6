"""The flip test as experts: YOLO-pose on the mirrored frame or mirrored person crops, mirrored back (COCO-17).

A second proposal source from the same offline weights for SST-A: the network's errors on a mirrored
image are partly independent of those on the original, and each joint comes back as the same body side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from posekit.estimators.base import CropPoses
from posekit.estimators.yolo import YoloPose
from posekit.estimators.yolo_topdown import YoloTopDown
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import PoseProposals


def mirror_boxes(boxes: np.ndarray, width: int) -> np.ndarray:
    """``(N, 4)`` boxes ``x1 y1 x2 y2`` of an image ``width`` pixels wide, mirrored left-right (corners swap)."""
    x1, y1, x2, y2 = boxes.T
    return np.stack([width - x2, y1, width - x1, y2], axis=1).astype(np.float32)


def mirror_joints(
    keypoints: np.ndarray, joint_scores: np.ndarray, width: int, layout: JointLayout
) -> tuple[np.ndarray, np.ndarray]:
    """``(N, V, 2)`` pixel joints and their ``(N, V)`` scores found on a mirrored image, in the original's pixels.

    x becomes ``width - x`` (pixel edges, as Ultralytics' coordinates) and left and right joints swap
    (:meth:`~posekit.skeleton.layouts.JointLayout.flip_permutation`).
    """
    perm = layout.flip_permutation()
    out = keypoints[:, perm].copy()
    out[..., 0] = width - out[..., 0]
    return out, joint_scores[:, perm]


def mirror_back(mirrored: PoseProposals, width: int) -> PoseProposals:
    """Proposals found on a frame mirrored left-right (``width`` pixels), in the original frame's pixels."""
    keypoints, joint_scores = mirror_joints(mirrored.keypoints, mirrored.joint_scores, width, mirrored.layout)
    return PoseProposals(keypoints, joint_scores, mirror_boxes(mirrored.boxes, width), mirrored.scores, mirrored.layout)


class YoloFlipPose(YoloPose):
    """:class:`~posekit.estimators.yolo.YoloPose` on each frame mirrored left-right, people mirrored back."""

    name = "yolo-flip"

    def infer_frames(self, frames: Sequence[np.ndarray], imgsz: int | None = None) -> list[PoseProposals]:
        mirrored = [np.ascontiguousarray(frame[:, ::-1]) for frame in frames]
        found = super().infer_frames(mirrored, imgsz)
        return [mirror_back(props, frame.shape[1]) for props, frame in zip(found, frames)]


class YoloTopDownFlip(YoloTopDown):
    """:class:`~posekit.estimators.yolo_topdown.YoloTopDown` on each person crop mirrored left-right.

    The flip test of top-down pose estimators, kept as a proposal of its own for SST-A to weigh against
    the unmirrored crop's: the crop and its expected box are mirrored, the network runs, and the joints
    come back mirrored to the crop's pixels with left and right swapped.
    """

    name = "yolo-topdown-flip"

    def infer_crops(self, crops: np.ndarray, boxes: np.ndarray) -> CropPoses:
        width = crops.shape[2]
        found = super().infer_crops(np.ascontiguousarray(crops[:, :, ::-1]), mirror_boxes(boxes, width))
        keypoints, joint_scores = mirror_joints(found.keypoints, found.joint_scores, width, self.layout)
        return CropPoses(keypoints, joint_scores, found.scores)
