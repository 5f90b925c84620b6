"""NTU RGB+D 60/120 ``.skeleton`` files (Kinect v2, 25 joints) and the dataset's official benchmarks.

A file is text: the frame count, then per frame the body count and per body a line of 10 body values
(body id, clipped edges, hand states, restricted, lean x/y, tracking state), the joint count (25) and
one line per joint of ``x y z`` (camera space, metres), ``depthX depthY`` (depth-frame pixels),
``colorX colorY`` (1920 x 1080 colour-frame pixels), the orientation quaternion ``w x y z`` and the
joint's tracking state (0 not tracked, 1 inferred, 2 tracked).

Bodies are kept as the thesis authors' ``ntu_gendata`` keeps them: the body at position ``m`` of each
frame fills slot ``m`` (up to 4), and the two slots with the most motion energy (the summed standard
deviations of x, y and z over the slot's non-empty frames) are kept, highest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from posekit.core.errors import InputFileError
from posekit.io.formats.slots import clip_from_slots
from posekit.skeleton.layouts import NTU25
from posekit.skeleton.records import SkeletonClip

KINECT_SLOTS = 4
"""Bodies per frame the Kinect v2 SDK tracks (and the authors read)."""
COLOR_SIZE = (1920, 1080)
"""Width, height of the colour frames ``colorX``/``colorY`` refer to."""
FPS = 30.0
COORDINATES_3D = (
    "metres; Kinect v2 camera space as the NTU RGB+D .skeleton files give it: origin at the depth sensor, "
    "x to the sensor's left (the subject's right when facing it), y up, z away from the sensor"
)
TRACKING_SCORE = np.array([0.0, 0.5, 1.0], np.float32)
"""Joint score of each Kinect tracking state (not tracked, inferred, tracked)."""

Benchmark = Literal["xsub", "xview", "xsub120", "xset120"]
TRAIN_SUBJECTS_60 = frozenset((1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38))
"""Cross-subject training performers of NTU RGB+D 60 (Shahroudy et al. 2016)."""
TRAIN_SUBJECTS_120 = TRAIN_SUBJECTS_60 | frozenset(
    (45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93,
     94, 95, 97, 98, 100, 103)
)  # fmt: skip
"""Cross-subject training performers of NTU RGB+D 120 (Liu et al. 2019)."""
TRAIN_CAMERAS_60 = frozenset((2, 3))
"""Cross-view: cameras 2 and 3 train, camera 1 tests."""
NTU60_SETUPS, NTU60_ACTIONS, NTU120_ACTIONS = 17, 60, 120

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


@dataclass(frozen=True)
class NtuSample:
    """What an NTU sample name ``SsssCcccPpppRrrrAaaa`` says: setup, camera, performer, replication, action."""

    name: str
    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @classmethod
    def parse(cls, name: str) -> NtuSample | None:
        found = _NAME.fullmatch(name)
        return None if found is None else cls(name, *(int(g) for g in found.groups()))

    @property
    def label(self) -> str:
        """The class name: the action code ``A001`` .. ``A120`` (index = action - 1)."""
        return f"A{self.action:03d}"


def ntu_classes(benchmark: Benchmark) -> list[str]:
    """``A001`` .. ``A060`` (NTU 60 benchmarks) or ``A001`` .. ``A120``."""
    count = NTU120_ACTIONS if benchmark.endswith("120") else NTU60_ACTIONS
    return [f"A{a:03d}" for a in range(1, count + 1)]


def ntu_split(sample: NtuSample, benchmark: Benchmark) -> str | None:
    """``train`` / ``val`` of ``sample`` in the official ``benchmark``; None when the benchmark leaves it out
    (an NTU 120 sample under an NTU 60 benchmark)."""
    if benchmark in ("xsub", "xview") and (sample.setup > NTU60_SETUPS or sample.action > NTU60_ACTIONS):
        return None
    if benchmark == "xsub":
        train = sample.performer in TRAIN_SUBJECTS_60
    elif benchmark == "xview":
        train = sample.camera in TRAIN_CAMERAS_60
    elif benchmark == "xsub120":
        train = sample.performer in TRAIN_SUBJECTS_120
    else:
        train = sample.setup % 2 == 0
    return "train" if train else "val"


def read_ntu_skeleton(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a ``.skeleton`` file into Kinect slots.

    Returns ``xyz`` ``(4, T, 25, 3)`` float64 metres, ``color`` ``(4, T, 25, 2)`` float64 colour pixels and
    ``state`` ``(4, T, 25)`` int8 tracking states; zeros (state -1) where a slot has no body.
    """
    try:
        tokens = Path(path).read_text(encoding="ascii", errors="replace").split()
        T = int(tokens[0])
        xyz = np.zeros((KINECT_SLOTS, T, NTU25.num_joints, 3))
        color = np.zeros((KINECT_SLOTS, T, NTU25.num_joints, 2))
        state = np.full((KINECT_SLOTS, T, NTU25.num_joints), -1, np.int8)
        k = 1
        for t in range(T):
            bodies = int(tokens[k])
            k += 1
            for m in range(bodies):
                k += 10
                joints = int(tokens[k])
                values = np.asarray(tokens[k + 1 : k + 1 + 12 * joints], dtype=np.float64).reshape(joints, 12)
                k += 1 + 12 * joints
                if m < KINECT_SLOTS:
                    v = min(joints, NTU25.num_joints)
                    xyz[m, t, :v] = values[:v, 0:3]
                    color[m, t, :v] = values[:v, 5:7]
                    state[m, t, :v] = values[:v, 11]
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (ValueError, IndexError):
        raise InputFileError(f"{path}: not an NTU .skeleton file (truncated or malformed)") from None
    return xyz, color, state


def motion_energy(xyz: np.ndarray) -> np.ndarray:
    """``(S,)`` energy of each slot of ``(S, T, V, 3)``: std of x + std of y + std of z over its non-empty frames."""
    energy = np.zeros(len(xyz))
    for s, body in enumerate(xyz):
        frames = body[body.sum(axis=(1, 2)) != 0]
        if len(frames):
            energy[s] = sum(frames[..., c].std() for c in range(3))
    return energy


def ntu_clip(path: Path, max_bodies: int = 2) -> tuple[SkeletonClip, int]:
    """The clip of a ``.skeleton`` file with its ``max_bodies`` most moving bodies, and how many bodies with
    data were left out.

    ``keypoints_3d`` hold the camera-space metres, ``keypoints`` the colour-frame pixels; both scores are
    the tracking state (not tracked 0, inferred 0.5, tracked 1).
    """
    xyz, color, state = read_ntu_skeleton(path)
    energy = motion_energy(xyz)
    order = np.argsort(-energy, kind="stable")[:max_bodies]
    with_data = int((state >= 0).any(axis=(1, 2)).sum())
    kept = int((state[order] >= 0).any(axis=(1, 2)).sum())
    absent = state[order] < 0
    kp = np.where(absent[..., None], np.nan, color[order])
    kp3 = np.where(absent[..., None], np.nan, xyz[order])
    scores = np.where(absent, np.nan, TRACKING_SCORE[np.clip(state[order], 0, 2)])
    clip = clip_from_slots(
        Path(path).stem,
        kp,
        scores,
        width=COLOR_SIZE[0],
        height=COLOR_SIZE[1],
        fps=FPS,
        keypoints_3d=kp3,
        source=str(path),
    )
    return clip, with_data - kept


def read_missing_list(path: Path) -> set[str]:
    """Sample names (one per line, ``.skeleton`` optional) of the dataset's list of samples with missing
    skeletons."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputFileError(f"--missing {path}: cannot read it ({exc.strerror or exc})") from None
    return {line.strip().removesuffix(".skeleton") for line in lines if line.strip() and not line.startswith("#")}
