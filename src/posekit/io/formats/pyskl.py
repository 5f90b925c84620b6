"""pyskl / MMAction2 skeleton pickles: ``{"split": {name: [frame_dir, ...]}, "annotations": [...]}``.

Each annotation: ``frame_dir`` (the sample name), ``label`` (int), ``keypoint`` ``(M, T, V, C)`` (C = 2
pixels, or 3: x, y, z of a 3D skeleton), ``keypoint_score`` ``(M, T, V)`` (2D; optional in 3D pickles),
``img_shape`` ``(h, w)`` and ``total_frames``; posekit's own exports add ``box_score`` ``(M, T)``. A joint
at the origin whose score is 0 (or that has no score) is missing, as their zero-filled arrays mean.

A pickle is untrusted input: it is read by :class:`SafeUnpickler`, which builds numpy arrays and plain
Python values only, so a crafted file cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from posekit.core.errors import InputFileError
from posekit.io.formats.slots import clip_from_slots, zeros_to_nan
from posekit.skeleton.records import SkeletonClip

_ALLOWED = {
    ("builtins", name)
    for name in ("dict", "list", "tuple", "set", "frozenset", "str", "bytes", "int", "float", "bool", "complex")
} | {
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
"""The globals a skeleton pickle may name: containers, numbers, numpy arrays and scalars (protocol 2 writes
bytes through ``_codecs.encode``)."""
_NUMPY_SCALARS = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray")
FPS = 30.0
"""Frame rate recorded for pyskl clips (the pickles do not carry one)."""


class SafeUnpickler(pickle.Unpickler):
    """Unpickle numpy arrays and builtins only; any other global (``os.system``, ``eval`` ...) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module in _NUMPY_SCALARS and name in np.sctypeDict and isinstance(np.sctypeDict[name], type):
            return np.sctypeDict[name]
        if module.startswith("numpy.dtypes") and name.endswith("DType"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}: a skeleton pickle holds arrays and plain values")


def load_pyskl(path: Path) -> dict:
    """The ``{split, annotations}`` dict of a pyskl pickle, read with :class:`SafeUnpickler`."""
    try:
        with open(path, "rb") as f:
            doc = SafeUnpickler(f).load()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise InputFileError(f"{path}: not a readable skeleton pickle ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list):
        raise InputFileError(f"{path}: not a pyskl pickle (expected a dict with 'split' and 'annotations')")
    if not isinstance(doc.get("split", {}), dict):
        raise InputFileError(f"{path}: 'split' is not a dict of split name -> sample names")
    return doc


def annotation_clip(ann: dict) -> SkeletonClip:
    """The clip of one pyskl annotation: 2D ``keypoint`` into ``keypoints`` (pixels), 3D into
    ``keypoints_3d`` (with NaN 2D keypoints); persons in their pickle order, every ``M`` slot kept."""
    name = ann.get("frame_dir")
    try:
        kp = np.asarray(ann["keypoint"], dtype=np.float32)
        if kp.ndim != 4 or kp.shape[-1] not in (2, 3):
            raise ValueError(f"keypoint has shape {kp.shape}, expected (M, T, V, 2|3)")
        score = ann.get("keypoint_score")
        score = None if score is None else np.asarray(score, dtype=np.float32).reshape(kp.shape[:3])
        box = ann.get("box_score")
        box = None if box is None else np.asarray(box, dtype=np.float32).reshape(kp.shape[:2])
        height, width = (int(v) for v in ann.get("img_shape", (0, 0)))
    except (KeyError, ValueError, TypeError) as exc:
        raise InputFileError(f"annotation {name!r}: {exc}") from None
    joints = zeros_to_nan(kp, score)
    present = np.isfinite(joints).all(-1)
    scores = score if score is not None else present.astype(np.float32)
    common = {"width": width, "height": height, "fps": FPS, "box_scores": box, "keep_empty": True}
    if kp.shape[-1] == 3:
        flat = np.full((*kp.shape[:3], 2), np.nan, np.float32)
        return clip_from_slots(str(name), flat, scores, keypoints_3d=joints, scores_3d=scores, **common)
    return clip_from_slots(str(name), joints, scores, **common)
