"""ST-GCN's Kinetics-skeleton: one JSON per video, OpenPose-18 poses with coordinates normalised to [0, 1].

A video file: ``{"data": [{"frame_index": i (1-based), "skeleton": [{"pose": [x0, y0, ..., x17, y17],
"score": [s0, ..., s17]}, ...]}, ...], "label": str, "label_index": int}``; frames without a person may be
left out. The label file: ``{video_id: {"has_skeleton": bool, "label": str, "label_index": int}}``.
Persons are not tracked: a frame's skeletons are ranked by their summed joint score (as ST-GCN's loader
ranks them) and rank ``m`` fills slot ``m``; a joint at (0, 0) with score 0 is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posekit.core.errors import InputFileError
from posekit.io.formats.slots import clip_from_slots, zeros_to_nan
from posekit.skeleton.layouts import OPENPOSE18
from posekit.skeleton.records import SkeletonClip

FRAME_SIZE = (340, 256)
"""Width, height of the videos ST-GCN ran OpenPose on (Kinetics resized to 340 x 256)."""
FPS = 30.0


def read_labels(path: Path) -> dict[str, tuple[str, int, bool]]:
    """Video id -> (label, label_index, has_skeleton) of an ST-GCN label file."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return {
            vid: (str(v["label"]), int(v["label_index"]), bool(v.get("has_skeleton", True))) for vid, v in doc.items()
        }
    except OSError as exc:
        raise InputFileError(f"--labels {path}: cannot read it ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputFileError(f"--labels {path}: not an ST-GCN label file ({exc})") from None


def kinetics_clip(path: Path, frame_size: tuple[int, int] = FRAME_SIZE) -> SkeletonClip:
    """The clip of one ST-GCN video JSON, coordinates scaled to pixels of ``frame_size`` (width, height)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        frames = doc["data"]
        T = max((int(f["frame_index"]) for f in frames), default=0)
        M = max((len(f["skeleton"]) for f in frames), default=0)
        V = OPENPOSE18.num_joints
        kp = np.zeros((M, T, V, 2), np.float32)
        sc = np.zeros((M, T, V), np.float32)
        for f in frames:
            t = int(f["frame_index"]) - 1
            people = sorted(f["skeleton"], key=lambda p: -float(np.sum(p["score"])))
            for m, person in enumerate(people):
                kp[m, t] = np.asarray(person["pose"], np.float32).reshape(V, 2)
                sc[m, t] = np.asarray(person["score"], np.float32).reshape(V)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise InputFileError(f"{path}: not an ST-GCN skeleton JSON ({type(exc).__name__}: {exc})") from None
    pixels = zeros_to_nan(kp, sc) * np.asarray(frame_size, np.float32)
    box = np.where(np.isfinite(pixels).all(-1), sc, 0).mean(-1)
    return clip_from_slots(
        Path(path).stem, pixels, sc, width=frame_size[0], height=frame_size[1], fps=FPS, box_scores=box,
        source=str(path),
    )  # fmt: skip
