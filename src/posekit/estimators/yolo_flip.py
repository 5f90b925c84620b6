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
from posekit.skeleton.records import PoseProposals


def mirror_back(mirrored: PoseProposals, width: int) -> PoseProposals:
    """Proposals found on a frame mirrored left-right (``width`` pixels), in the original frame's pixels.

    x becomes ``width - x`` (pixel edges, as Ultralytics' coordinates), box corners swap, and left and
    right joints swap (:meth:`~posekit.skeleton.layouts.JointLayout.flip_permutation`).
    """
    perm = mirrored.layout.flip_permutation()
    keypoints = mirrored.keypoints[:, perm].copy()
    keypoints[..., 0] = width - keypoints[..., 0]
    x1, y1, x2, y2 = mirrored.boxes.T
    boxes = np.stack([width - x2, y1, width - x1, y2], axis=1).astype(np.float32)
    return PoseProposals(keypoints, mirrored.joint_scores[:, perm], boxes, mirrored.scores, mirrored.layout)


class YoloFlipPose(YoloPose):
    """:class:`~posekit.estimators.yolo.YoloPose` on each frame mirrored left-right, people mirrored back."""

    name = "yolo-flip"

    def infer_frames(self, frames: Sequence[np.ndarray]) -> list[PoseProposals]:
        mirrored = [np.ascontiguousarray(frame[:, ::-1]) for frame in frames]
        found = super().infer_frames(mirrored)
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
        x1, y1, x2, y2 = boxes.T
        mirrored_boxes = np.stack([width - x2, y1, width - x1, y2], axis=1).astype(np.float32)
        found = super().infer_crops(np.ascontiguousarray(crops[:, :, ::-1]), mirrored_boxes)
        perm = self.layout.flip_permutation()
        keypoints = found.keypoints[:, perm].copy()
        keypoints[..., 0] = width - keypoints[..., 0]
        return CropPoses(keypoints, found.joint_scores[:, perm], found.scores)
