"""Joint layouts, conversions between them, body geometry, UNIK input streams and the in-memory pose records."""

from posekit.skeleton.convert import conversion_matrix, convert_keypoints
from posekit.skeleton.layouts import BLAZEPOSE33, COCO17, LAYOUTS, LCRNET13, POSETICS17, JointLayout, get_layout

__all__ = [
    "BLAZEPOSE33",
    "COCO17",
    "LAYOUTS",
    "LCRNET13",
    "POSETICS17",
    "JointLayout",
    "conversion_matrix",
    "convert_keypoints",
    "get_layout",
]
