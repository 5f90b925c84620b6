"""Toyota Smarthome pose JSON (the LCRNet++ poses the dataset ships) and its cs / cv1 / cv2 benchmarks.

A file ``Action_pSS_rRR_vVV_cCC.json``: ``{"frames": [[{"pose2d": [x0..x12, y0..y12], "pose3d": [x0..x12,
y0..y12, z0..z12] (optional)}, ...], ...]}``, one list of persons per frame in the LCRNet-13 joint order,
pixels of the 640 x 480 videos. The person at position ``m`` of a frame fills slot ``m``, as the thesis
authors read them; a joint at (0, 0) is missing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from posekit.core.errors import InputFileError
from posekit.io.formats.slots import clip_from_slots, zeros_to_nan
from posekit.skeleton.layouts import LCRNET13
from posekit.skeleton.records import SkeletonClip

FRAME_SIZE = (640, 480)
FPS = 20.0
"""Toyota Smarthome videos run at 20 frames per second."""
COORDINATES_3D = "metres; LCRNet++ 3D pose as Toyota Smarthome ships it, relative to the body centre (y down)"

Benchmark = Literal["cs", "cv1", "cv2"]
TRAIN_SUBJECTS = frozenset((3, 4, 6, 7, 9, 12, 13, 15, 17, 19, 25))
"""Cross-subject training subjects (Das et al. 2019)."""
CV_TRAIN_CAMERAS = {"cv1": frozenset((1,)), "cv2": frozenset((1, 3, 4, 6, 7))}
CV_TEST_CAMERA = 2
ACTIONS = (
    "Cook.Cleandishes", "Cook.Cleanup", "Cook.Cut", "Cook.Stir", "Cook.Usestove", "Cutbread", "Drink.Frombottle",
    "Drink.Fromcan", "Drink.Fromcup", "Drink.Fromglass", "Eat.Attable", "Eat.Snack", "Enter", "Getup", "Laydown",
    "Leave", "Makecoffee.Pourgrains", "Makecoffee.Pourwater", "Maketea.Boilwater", "Maketea.Insertteabag",
    "Pour.Frombottle", "Pour.Fromcan", "Pour.Fromkettle", "Readbook", "Sitdown", "Takepills", "Uselaptop",
    "Usetelephone", "Usetablet", "Walk", "WatchTV",
)  # fmt: skip
"""The 31 cross-subject classes, in the order the thesis authors number them."""
CV_ACTIONS = (
    "Cutbread", "Drink.Frombottle", "Drink.Fromcan", "Drink.Fromcup", "Drink.Fromglass", "Eat.Attable", "Eat.Snack",
    "Enter", "Getup", "Leave", "Pour.Frombottle", "Pour.Fromcan", "Readbook", "Sitdown", "Takepills", "Uselaptop",
    "Usetablet", "Usetelephone", "Walk",
)  # fmt: skip
"""The 19 cross-view classes (the actions every camera sees)."""

_NAME = re.compile(r"(?P<action>[^_]+)_p(?P<subject>\d+)_r(?P<rep>\d+)_v(?P<view>\d+)_c(?P<camera>\d+)")


@dataclass(frozen=True)
class SmarthomeSample:
    name: str
    action: str
    subject: int
    camera: int

    @classmethod
    def parse(cls, name: str) -> SmarthomeSample | None:
        found = _NAME.fullmatch(name)
        if found is None:
            return None
        return cls(name, found["action"], int(found["subject"]), int(found["camera"]))


def smarthome_classes(benchmark: Benchmark) -> list[str]:
    return list(ACTIONS if benchmark == "cs" else CV_ACTIONS)


def smarthome_split(sample: SmarthomeSample, benchmark: Benchmark) -> str | None:
    """``train`` / ``val`` (the benchmark's test set) of ``sample``; None when the benchmark leaves it out
    (cross-view: another camera, or an action not in the 19 cross-view classes)."""
    if benchmark == "cs":
        return "train" if sample.subject in TRAIN_SUBJECTS else "val"
    if sample.action not in CV_ACTIONS:
        return None
    if sample.camera in CV_TRAIN_CAMERAS[benchmark]:
        return "train"
    return "val" if sample.camera == CV_TEST_CAMERA else None


def smarthome_clip(path: Path) -> SkeletonClip:
    """The clip of one Smarthome pose JSON (LCRNet-13 pixels; ``pose3d`` into ``keypoints_3d`` when given)."""
    V = LCRNET13.num_joints
    try:
        frames = json.loads(Path(path).read_text(encoding="utf-8"))["frames"]
        M = max((len(f) for f in frames), default=0)
        kp = np.zeros((M, len(frames), V, 2), np.float32)
        kp3 = np.zeros((M, len(frames), V, 3), np.float32)
        has_3d = False
        for t, people in enumerate(frames):
            for m, person in enumerate(people):
                kp[m, t] = np.asarray(person["pose2d"], np.float32).reshape(2, V).T
                if "pose3d" in person:
                    kp3[m, t] = np.asarray(person["pose3d"], np.float32).reshape(3, V).T
                    has_3d = True
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputFileError(f"{path}: not a Smarthome pose JSON ({type(exc).__name__}: {exc})") from None
    pixels = zeros_to_nan(kp)
    scores = np.isfinite(pixels).all(-1).astype(np.float32)
    return clip_from_slots(
        Path(path).stem, pixels, scores, width=FRAME_SIZE[0], height=FRAME_SIZE[1], fps=FPS,
        keypoints_3d=zeros_to_nan(kp3) if has_3d else None, source=str(path),
    )  # fmt: skip
