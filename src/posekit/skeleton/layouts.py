"""Joint layouts: named joints, bones and left/right pairs.

Every array of keypoints in posekit is ``(..., V, 2)`` in pixels (origin at the top-left
corner of the frame, x to the right, y down) and carries the name of its layout, so a
consumer always knows what joint ``v`` is. Besides the built-in layouts, a user layout is a
small JSON or YAML file (see :func:`load_layout_file`), accepted wherever a layout name is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from posekit.core.errors import ConfigError


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

_TORSO_AND_LIMBS = [
    ("right_shoulder", "left_shoulder"),
    ("left_shoulder", "left_hip"),
    ("right_hip", "left_hip"),
    ("right_shoulder", "right_hip"),
    *_LIMBS,
]
"""The shoulder-hip box and the limbs: the body edges that COCO-17, LCRNet-13 and BlazePose-33 share."""

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
        *_TORSO_AND_LIMBS,
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
        *_TORSO_AND_LIMBS,
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
        *_TORSO_AND_LIMBS,
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

NTU25 = _layout(
    "ntu25",
    ("spine_base", "spine_mid", "neck", "head", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
     "right_shoulder", "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee", "left_ankle",
     "left_foot", "right_hip", "right_knee", "right_ankle", "right_foot", "spine_shoulder", "left_hand_tip",
     "left_thumb", "right_hand_tip", "right_thumb"),
    [
        ("spine_base", "spine_mid"),
        ("spine_mid", "spine_shoulder"),
        ("neck", "spine_shoulder"),
        ("head", "neck"),
        ("left_shoulder", "spine_shoulder"),
        ("right_shoulder", "spine_shoulder"),
        ("left_elbow", "left_shoulder"),
        ("left_wrist", "left_elbow"),
        ("left_hand", "left_wrist"),
        ("right_elbow", "right_shoulder"),
        ("right_wrist", "right_elbow"),
        ("right_hand", "right_wrist"),
        ("left_hip", "spine_base"),
        ("left_knee", "left_hip"),
        ("left_ankle", "left_knee"),
        ("left_foot", "left_ankle"),
        ("right_hip", "spine_base"),
        ("right_knee", "right_hip"),
        ("right_ankle", "right_knee"),
        ("right_foot", "right_ankle"),
        ("left_hand_tip", "left_thumb"),
        ("left_thumb", "left_hand"),
        ("right_hand_tip", "right_thumb"),
        ("right_thumb", "right_hand"),
    ],
    center="spine_shoulder",
)  # fmt: skip
"""NTU RGB+D / Kinect v2 body joints in the Kinect SDK order (the ``.skeleton`` files' joints 1-25).

The bones are the tree NTU-trained graph models use (child, parent), rooted at the spine
shoulder; Kinect's ``neck`` is the upper neck between the spine shoulder and the head.
"""

OPENPOSE18 = _layout(
    "openpose18",
    ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
     "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye",
     "right_ear", "left_ear"),
    [
        ("nose", "neck"),
        ("right_shoulder", "neck"),
        ("left_shoulder", "neck"),
        ("right_hip", "right_shoulder"),
        ("left_hip", "left_shoulder"),
        ("right_eye", "nose"),
        ("left_eye", "nose"),
        ("right_ear", "right_eye"),
        ("left_ear", "left_eye"),
        *_LIMBS,
    ],
    center="neck",
)  # fmt: skip
"""OpenPose COCO-18 order (ST-GCN's Kinetics-skeleton): the COCO keypoints plus the neck."""

PENN13 = _layout(
    "penn13",
    ("head", *_BODY12),
    [
        ("head", "left_shoulder"),
        *_TORSO_AND_LIMBS,
    ],
    center="left_hip",
)
"""Penn Action's 13 labelled joints: head, then the 12 body joints, left before right."""

LAYOUTS: dict[str, JointLayout] = {
    lay.name: lay
    for lay in (COCO17, POSETICS17, LCRNET13, BLAZEPOSE33, NTU25, OPENPOSE18, PENN13, H36M17, MPI_INF_3DHP17)
}

LAYOUT_FILE_SUFFIXES = (".json", ".yaml", ".yml")


def get_layout(name: str) -> JointLayout:
    """A built-in layout by name, or a user layout from a ``.json`` / ``.yaml`` file path."""
    if name in LAYOUTS:
        return LAYOUTS[name]
    if Path(name).suffix.lower() in LAYOUT_FILE_SUFFIXES:
        return load_layout_file(Path(name))
    raise ConfigError(
        f"unknown joint layout {name!r}; known layouts: {', '.join(LAYOUTS)}, or a layout file "
        f"({', '.join(LAYOUT_FILE_SUFFIXES)})"
    )


def check_layout_option(value: str | None, flag: str) -> None:
    """Raise the one-line error of ``flag`` when ``value`` is neither a built-in layout nor a valid layout file."""
    if value is None:
        return
    try:
        get_layout(value)
    except ConfigError as exc:
        raise ConfigError(f"{flag}: {exc}") from None


def load_layout_file(path: Path) -> JointLayout:
    """Read a user layout: a JSON or YAML mapping with

    ``name`` (str), ``joints`` (list of unique names), ``bones`` (list of ``[child, parent]``
    joint names, the parent nearer to the centre), ``center`` (a joint name) and, optionally,
    ``left_right`` (list of ``[left, right]`` joint names; default: the ``left_X``/``right_X``
    names). Any problem is one :class:`ConfigError` line naming the file and the key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"layout file {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        spec = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"layout file {path}: not valid {path.suffix[1:].upper()} ({first})") from None
    try:
        return _layout_from_spec(spec)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"layout file {path}: {exc.args[0] if exc.args else exc}") from None


def _layout_from_spec(spec: Any) -> JointLayout:
    if not isinstance(spec, dict):
        raise ValueError("expected a mapping with name, joints, bones, center (and optionally left_right)")
    missing = [k for k in ("name", "joints", "bones", "center") if k not in spec]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}; a layout needs name, joints, bones and center")
    name, joints = spec["name"], spec["joints"]
    if not isinstance(name, str) or not name:
        raise ValueError("name must be a non-empty string")
    if name in LAYOUTS:
        raise ValueError(f"name {name!r} is a built-in layout; give the user layout another name")
    if not isinstance(joints, list) or not joints or not all(isinstance(j, str) and j for j in joints):
        raise ValueError("joints must be a non-empty list of joint names")
    if len(set(joints)) != len(joints):
        raise ValueError(f"joint names repeat: {sorted({j for j in joints if joints.count(j) > 1})}")
    names = tuple(joints)
    bones = _name_pairs(spec["bones"], names, "bones")
    pairs = _name_pairs(spec["left_right"], names, "left_right") if "left_right" in spec else None
    center = spec["center"]
    if center not in names:
        raise ValueError(f"center {center!r} is not one of the joints")
    layout = _layout(name, names, bones, center)
    if pairs is not None:
        layout = JointLayout(name, names, layout.edges, layout.center, _named_edges(names, pairs))
    return layout


def _name_pairs(value: Any, names: tuple[str, ...], key: str) -> list[tuple[str, str]]:
    if not isinstance(value, list) or not all(isinstance(p, list | tuple) and len(p) == 2 for p in value):
        raise ValueError(f"{key} must be a list of [joint, joint] pairs")
    unknown = sorted({j for p in value for j in p if j not in names})
    if unknown:
        raise ValueError(f"{key} name joints that are not in joints: {unknown}")
    return [(a, b) for a, b in value]
