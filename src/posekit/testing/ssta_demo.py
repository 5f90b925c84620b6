"""Load the SSTA-PRS demo proposals (three real experts on one Toyota Smarthome video).

The files ``*_AlphaPose2d.npz``, ``*_LCRNet2d.npz`` and ``*_OpenPose2d.npz`` each hold
``kpts``, float32 ``(frames, 17, 2)`` pixels in COCO-17 order with ``(0, 0)`` for a missing
joint. They become one stack ``(M, T, 17, 2)`` float64 pixels with NaN for missing, cut to
the shortest expert (AlphaPose 1380 frames, LCRNet++ 1379, OpenPose 1380 -> T = 1379).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from posekit.skeleton.layouts import COCO17

DEMO_EXPERTS = ("AlphaPose", "LCRNet", "OpenPose")
"""Expert order of :func:`load_ssta_demo`: expert index 0, 1, 2."""

FACE_JOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")

LcrnetFace = Literal["nose", "all", "none"]


@dataclass(frozen=True)
class ProposalStack:
    """Proposals of ``M`` experts for one person track.

    Attributes:
        keypoints: ``(M, T, 17, 2)`` float64 pixels, COCO-17, NaN = missing joint.
        experts: the ``M`` expert names, in stack order.
        video: the video name the proposals come from.
    """

    keypoints: np.ndarray
    experts: tuple[str, ...]
    video: str


def load_expert_npz(path: str | Path) -> np.ndarray:
    """One expert's ``kpts`` as ``(T, 17, 2)`` float64 pixels, ``(0, 0)`` turned into NaN."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "kpts" not in data.files:
                raise ValueError(f"{path}: no 'kpts' array (has {data.files})")
            k = np.asarray(data["kpts"], dtype=np.float64)
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read as .npz ({e})") from None
    if k.ndim != 3 or k.shape[1:] != (COCO17.num_joints, 2):
        raise ValueError(f"{path}: kpts has shape {k.shape}, expected (frames, 17, 2)")
    return np.where((k == 0.0).all(-1, keepdims=True), np.nan, k)


def load_ssta_demo(
    directory: str | Path,
    experts: Sequence[str] = DEMO_EXPERTS,
    lcrnet_face: LcrnetFace = "nose",
) -> ProposalStack:
    """Stack the demo experts into ``(M, T, 17, 2)`` float64 pixels, NaN = missing.

    ``experts`` are matched against the file names (``*_<expert>2d.npz``), in that order.
    LCRNet++ has a single head point, which its files repeat in the five face slots:
    ``lcrnet_face="nose"`` keeps it as the nose only (eyes and ears missing),
    ``"all"`` keeps the file as is (the authors' demo), ``"none"`` drops it.
    """
    directory = Path(directory)
    if lcrnet_face not in ("nose", "all", "none"):
        raise ValueError(f"unknown lcrnet_face {lcrnet_face!r}; use 'nose', 'all' or 'none'")
    poses, video = [], ""
    for name in experts:
        files = sorted(directory.glob(f"*_{name}2d.npz"))
        if len(files) != 1:
            raise FileNotFoundError(f"{directory}: expected one *_{name}2d.npz, found {len(files)}")
        k = load_expert_npz(files[0])
        video = files[0].name[: -len(f"_{name}2d.npz")]
        if name.lower().startswith("lcrnet") and lcrnet_face != "all":
            drop = FACE_JOINTS[1:] if lcrnet_face == "nose" else FACE_JOINTS
            k[:, COCO17.indices(drop)] = np.nan
        poses.append(k)
    T = min(len(p) for p in poses)
    return ProposalStack(np.stack([p[:T] for p in poses]), tuple(experts), video)
