"""Joint layouts: named joints, bones and left/right pairs.

Every array of keypoints in posekit is ``(..., V, 2)`` in pixels (origin at the top-left
corner of the frame, x to the right, y down) and carries the name of its layout, so a
consumer always knows what joint ``v`` is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class JointLayout:
    """A skeleton topology: ``V`` named joints and the bones between them.

    ``edges`` are (a, b) joint-index pairs used for drawing and bones. In tree layouts
    (Posetics-17) each pair is (child, parent) with the parent nearer to ``center``, so a
    bone vector ``joint[child] - joint[parent]`` points away from the body centre.
    """

    name: str
    joints: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    center: int
    flip_pairs: tuple[tuple[int, int], ...] = field(default=())

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(f"layout {self.name!r} has no joint {joint!r}; it has {list(self.joints)}") from None

    def indices(self, joints: list[str] | tuple[str, ...]) -> list[int]:
        return [self.index(j) for j in joints]

    def flip_permutation(self) -> list[int]:
        """Joint ``v`` of a mirrored skeleton is joint ``perm[v]`` of the original (left and right swapped)."""
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "joints": list(self.joints),
                "edges": [list(e) for e in self.edges],
                "center": self.center,
                "flip_pairs": [list(p) for p in self.flip_pairs],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> JointLayout:
        d = json.loads(text)
        return cls(
            name=d["name"],
            joints=tuple(d["joints"]),
            edges=tuple(tuple(e) for e in d["edges"]),
            center=int(d["center"]),
            flip_pairs=tuple(tuple(p) for p in d.get("flip_pairs", [])),
        )


def _named_edges(joints: tuple[str, ...], pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((joints.index(child), joints.index(parent)) for child, parent in pairs)


def _lr_pairs(joints: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    pairs = []
    for i, name in enumerate(joints):
        if name.startswith("left_"):
            right = "right_" + name[len("left_") :]
            if right in joints:
                pairs.append((i, joints.index(right)))
    return tuple(pairs)


def _layout(name: str, joints: tuple[str, ...], bones: list[tuple[str, str]], center: str) -> JointLayout:
    return JointLayout(name, joints, _named_edges(joints, bones), joints.index(center), _lr_pairs(joints))


_LIMBS = [
    ("left_elbow", "left_shoulder"),
    ("left_wrist", "left_elbow"),
    ("right_elbow", "right_shoulder"),
    ("right_wrist", "right_elbow"),
    ("left_knee", "left_hip"),
    ("left_ankle", "left_knee"),
    ("right_knee", "right_hip"),
    ("right_ankle", "right_knee"),
]

_BODY12 = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

COCO17 = _layout(
    "coco17",
    ("nose", "left_eye", "right_eye", "left_ear", "right_ear", *_BODY12),
    [
        ("left_eye", "nose"),
        ("right_eye", "nose"),
        ("left_ear", "left_eye"),
        ("right_ear", "right_eye"),
        ("nose", "left_shoulder"),
        ("right_shoulder", "left_shoulder"),
        ("left_shoulder", "left_hip"),
        ("right_hip", "left_hip"),
        ("right_shoulder", "right_hip"),
        *_LIMBS,
    ],
    center="left_hip",
)
"""COCO keypoints order (the MS-COCO person keypoints, also YOLO-pose and AlphaPose)."""

POSETICS17 = _layout(
    "posetics17",
    ("nose", "mouth", "neck", "chest", "mid_hip", *_BODY12),
    [
        ("nose", "mouth"),
        ("mouth", "neck"),
        ("neck", "chest"),
        ("mid_hip", "chest"),
        ("left_shoulder", "neck"),
        ("right_shoulder", "neck"),
        ("left_hip", "mid_hip"),
        ("right_hip", "mid_hip"),
        *_LIMBS,
    ],
    center="chest",
)
"""UNIK / Posetics layout (thesis 3.7.1): 12 body joints plus nose, mouth, neck, chest, mid-hip."""

LCRNET13 = _layout(
    "lcrnet13",
    ("right_ankle", "left_ankle", "right_knee", "left_knee", "right_hip", "left_hip",
     "right_wrist", "left_wrist", "right_elbow", "left_elbow", "right_shoulder", "left_shoulder", "head"),
    [
        ("head", "left_shoulder"),
        ("right_shoulder", "left_shoulder"),
        ("left_shoulder", "left_hip"),
        ("right_hip", "left_hip"),
        ("right_shoulder", "right_hip"),
        *_LIMBS,
    ],
    center="left_hip",
)  # fmt: skip
"""LCRNet++ 13 joints (12 body joints, right before left, and one head point)."""

BLAZEPOSE33 = _layout(
    "blazepose33",
    ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
     "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", *_BODY12[:6],
     "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
     *_BODY12[6:], "left_heel", "right_heel", "left_foot_index", "right_foot_index"),
    [
        ("left_eye_inner", "nose"),
        ("left_eye", "left_eye_inner"),
        ("left_eye_outer", "left_eye"),
        ("left_ear", "left_eye_outer"),
        ("right_eye_inner", "nose"),
        ("right_eye", "right_eye_inner"),
        ("right_eye_outer", "right_eye"),
        ("right_ear", "right_eye_outer"),
        ("mouth_left", "mouth_right"),
        ("nose", "left_shoulder"),
        ("right_shoulder", "left_shoulder"),
        ("left_shoulder", "left_hip"),
        ("right_hip", "left_hip"),
        ("right_shoulder", "right_hip"),
        *_LIMBS,
        ("left_pinky", "left_wrist"),
        ("left_index", "left_wrist"),
        ("left_thumb", "left_wrist"),
        ("right_pinky", "right_wrist"),
        ("right_index", "right_wrist"),
        ("right_thumb", "right_wrist"),
        ("left_heel", "left_ankle"),
        ("left_foot_index", "left_heel"),
        ("right_heel", "right_ankle"),
        ("right_foot_index", "right_heel"),
    ],
    center="left_hip",
)  # fmt: skip
"""MediaPipe BlazePose 33 landmarks, in MediaPipe's order."""

_LEGS_TO_MID_HIP = [("left_hip", "mid_hip"), ("right_hip", "mid_hip"), *_LIMBS[4:]]
_ARMS = _LIMBS[:4]

H36M17 = _layout(
    "h36m17",
    ("mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "spine", "thorax",
     "neck_base", "head_top", *_BODY12[0:6:2], *_BODY12[1:6:2]),
    [
        *_LEGS_TO_MID_HIP,
        ("spine", "mid_hip"),
        ("thorax", "spine"),
        ("neck_base", "thorax"),
        ("head_top", "neck_base"),
        ("left_shoulder", "thorax"),
        ("right_shoulder", "thorax"),
        *_ARMS,
    ],
    center="mid_hip",
)  # fmt: skip
"""Human3.6M's 17 joints in MMPose's order (its body3d ``.npz`` files). The root is the pelvis, the midpoint of
the hips (``mid_hip``); the ankle joints are those MMPose calls ``*_foot``; ``thorax``, ``spine``, ``neck_base`` and
``head_top`` have no namesake in the 2D layouts, so no 2D layout gives them."""

MPI_INF_3DHP17 = _layout(
    "mpi_inf_3dhp17",
    ("head_top", "neck_base", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
     "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "mid_hip",
     "spine", "head_centre"),
    [
        *_LEGS_TO_MID_HIP,
        ("spine", "mid_hip"),
        ("neck_base", "spine"),
        ("head_centre", "neck_base"),
        ("head_top", "head_centre"),
        ("left_shoulder", "neck_base"),
        ("right_shoulder", "neck_base"),
        *_ARMS,
    ],
    center="mid_hip",
)  # fmt: skip
"""MPI-INF-3DHP's 17 joints in MMPose's order. Its ``root`` is the midpoint of the hips (``mid_hip``), its
``neck`` lies at the base of the neck, about 7 cm above the shoulders' midpoint (``neck_base``, not the 2D layouts'
``neck``), its ``head`` is the head's centre (``head_centre``, not a face landmark)."""

LAYOUTS: dict[str, JointLayout] = {
    lay.name: lay for lay in (COCO17, POSETICS17, LCRNET13, BLAZEPOSE33, H36M17, MPI_INF_3DHP17)
}


def get_layout(name: str) -> JointLayout:
    """Look a layout up by name (``coco17``, ``posetics17``, ``lcrnet13``, ``blazepose33``, ``h36m17``, ...)."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise KeyError(f"unknown joint layout {name!r}; known layouts: {', '.join(LAYOUTS)}") from None
