"""The flip test as an expert: YOLO-pose on the mirrored frame, its people mirrored back (COCO-17).

A second proposal source from the same offline weights for SST-A: the network's errors on a mirrored
image are partly independent of those on the original, and each joint comes back as the same body side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from posekit.estimators.yolo import YoloPose
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
