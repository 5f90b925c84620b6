"""Penn Action labels: one MATLAB ``.mat`` file per video (``labels/0001.mat`` ...).

Fields: ``x``, ``y`` ``(nframes, 13)`` pixels and ``visibility`` ``(nframes, 13)`` (1 visible) of the
13 joints (:data:`posekit.skeleton.layouts.PENN13` order), ``action`` (class name), ``pose`` (camera
view), ``train`` (1 train, -1 test), ``bbox`` ``(nframes, 4)`` x1 y1 x2 y2, ``dimensions`` (height,
width, nframes) and ``nframes``. One person per video; an invisible joint keeps its annotated position
with score 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.core.errors import InputFileError
from posekit.io.formats.slots import clip_from_slots
from posekit.skeleton.records import SkeletonClip

FPS = 30.0


def _text(value: object) -> str:
    return str(np.asarray(value).ravel()[0])


def penn_clip(path: Path) -> tuple[SkeletonClip, str, str]:
    """The clip of one Penn Action label file, its action and its split (``train`` / ``val`` for test)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
        x, y = np.asarray(mat["x"], np.float32), np.asarray(mat["y"], np.float32)
        visible = np.asarray(mat["visibility"], np.float32)
        if x.ndim != 2 or x.shape != y.shape or x.shape != visible.shape or x.shape[1] != 13:
            raise ValueError(f"x, y, visibility have shapes {x.shape}, {y.shape}, {visible.shape}; expected (T, 13)")
        height, width = (int(v) for v in np.asarray(mat["dimensions"]).ravel()[:2])
        action, train = _text(mat["action"]), int(np.asarray(mat["train"]).ravel()[0])
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError, IndexError, NotImplementedError) as exc:
        raise InputFileError(f"{path}: not a Penn Action label file ({type(exc).__name__}: {exc})") from None
    keypoints = np.stack([x, y], axis=-1)[None]
    clip = clip_from_slots(
        Path(path).stem, keypoints, visible[None], width=width, height=height, fps=FPS, source=str(path)
    )
    return clip, action, "train" if train == 1 else "val"
