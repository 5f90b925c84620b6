"""Conversions between joint layouts, with the interpolated joints of the thesis.

A joint of the target layout is either a joint of the source layout with the same name or
a fixed linear combination of source joints (thesis 3.7.1 adds neck, chest, mid-hip and a
face point by interpolation to obtain the 17 Posetics joints). A target joint is missing
(NaN) when any source joint it depends on is missing, and its score is the lowest of
theirs: an interpolated joint is never more certain than what it was made from.

Where a source layout names a joint the same as the target but means another point (Kinect's
``neck`` is the upper neck, Posetics' neck the mid-shoulder point), :data:`_MEANINGS` maps the
target joint by meaning before any name is matched.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from posekit.skeleton.layouts import JointLayout, get_layout

MOUTH_FROM_NOSE_TOWARDS_NECK = 0.25
"""Where the mouth sits on the nose-to-neck segment when a layout has no mouth landmark.

COCO-17 has no mouth; on adult anthropometric averages the mouth lies about a quarter of the
way from the nose tip to the mid-shoulder point in the image plane of an upright person.
"""

_DERIVED: dict[str, list[tuple[str, float]]] = {
    "neck": [("left_shoulder", 0.5), ("right_shoulder", 0.5)],
    "mid_hip": [("left_hip", 0.5), ("right_hip", 0.5)],
    "chest": [("neck", 0.5), ("mid_hip", 0.5)],
    "mouth": [("mouth_left", 0.5), ("mouth_right", 0.5)],
}
"""Interpolated joints, tried when the source layout lacks a joint of that name."""

_FALLBACKS: dict[str, list[list[tuple[str, float]]]] = {
    "mouth": [
        [("nose", 1.0 - MOUTH_FROM_NOSE_TOWARDS_NECK), ("neck", MOUTH_FROM_NOSE_TOWARDS_NECK)],
        [("head", 1.0)],
    ],
    "nose": [[("head", 1.0)]],
    "head": [[("nose", 1.0)]],
}
"""Second choices, in order, when neither the name nor its interpolation exists in the source.

LCRNet-13 has one head point on the face: it fills both Posetics face slots (nose, mouth).
"""


_MEANINGS: dict[str, dict[str, list[tuple[str, float]]]] = {
    "ntu25": {
        "nose": [("head", 1.0)],
        "mouth": [("head", 0.5), ("neck", 0.5)],
        "neck": [("spine_shoulder", 1.0)],
        "chest": [("spine_mid", 1.0)],
        "mid_hip": [("spine_base", 1.0)],
    },
    "penn13": {"mouth": [("head", 0.5), ("left_shoulder", 0.25), ("right_shoulder", 0.25)]},
    "lcrnet13": {"mouth": [("head", 0.5), ("left_shoulder", 0.25), ("right_shoulder", 0.25)]},
}
"""Per source layout: target joint -> weights of that layout's own joints, taken before names.

NTU-25 to the 17 main joints (thesis 3.7.3, table 3.3): the Posetics neck, chest and mid-hip are
Kinect's spine shoulder, spine mid and spine base; the Kinect head fills the nose and the
mouth is half-way between the head and Kinect's (upper) neck. Penn-13 and LCRNet-13 (Toyota
Smarthome's poses) are completed to 17 as the authors complete their 13-joint poses: nose = head,
mouth half-way between the head and the neck (mid-shoulders); neck, chest and mid-hip interpolate
as for every layout.
"""


def _resolve(joint: str, src: JointLayout, depth: int = 0) -> dict[int, float] | None:
    if depth > 4:
        return None
    meaning = _MEANINGS.get(src.name, {}).get(joint)
    if meaning is not None and depth == 0:
        return {src.index(part): w for part, w in meaning}
    if joint in src.joints:
        return {src.index(joint): 1.0}
    recipes = ([_DERIVED[joint]] if joint in _DERIVED else []) + _FALLBACKS.get(joint, [])
    for recipe in recipes:
        weights: dict[int, float] = {}
        for part, w in recipe:
            sub = _resolve(part, src, depth + 1)
            if sub is None:
                break
            for idx, sw in sub.items():
                weights[idx] = weights.get(idx, 0.0) + w * sw
        else:
            return weights
    return None


def conversion_matrix(src: JointLayout | str, dst: JointLayout | str) -> np.ndarray:
    """``(V_dst, V_src)`` weights; a row of zeros marks a target joint the source cannot give.

    Layouts are given as objects (a user layout read from a file or a shard) or built-in names.
    """
    return _conversion_matrix(_as_layout(src), _as_layout(dst))


def _as_layout(layout: JointLayout | str) -> JointLayout:
    return get_layout(layout) if isinstance(layout, str) else layout


@cache
def _conversion_matrix(src: JointLayout, dst: JointLayout) -> np.ndarray:
    W = np.zeros((dst.num_joints, src.num_joints), dtype=np.float64)
    for i, joint in enumerate(dst.joints):
        weights = _resolve(joint, src)
        for j, w in (weights or {}).items():
            W[i, j] = w
    W.setflags(write=False)
    return W


def convert_keypoints(
    keypoints: np.ndarray,
    scores: np.ndarray | None,
    src: JointLayout | str,
    dst: JointLayout | str,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Map ``(..., V_src, C)`` keypoints (C = 2 pixels or 3 metres) and ``(..., V_src)`` scores to layout ``dst``.

    Returns ``(..., V_dst, C)`` float32 keypoints (NaN where the source cannot give the
    joint or one of its ingredients is missing) and ``(..., V_dst)`` scores (NaN likewise).
    """
    src, dst = _as_layout(src), _as_layout(dst)
    kpts = np.asarray(keypoints, dtype=np.float32)
    if src == dst:
        return kpts, None if scores is None else np.asarray(scores, dtype=np.float32)
    W = conversion_matrix(src, dst)
    used = W != 0
    missing_src = np.isnan(kpts).any(axis=-1)
    out = np.einsum("ds,...sc->...dc", W, np.nan_to_num(kpts, nan=0.0)).astype(np.float32)
    missing = (missing_src.astype(np.float32) @ used.T.astype(np.float32)) > 0
    missing |= ~used.any(axis=1)
    out[missing] = np.nan
    if scores is None:
        return out, None
    sc = np.asarray(scores, dtype=np.float32)
    expanded = np.where(used, sc[..., None, :], np.inf)
    out_scores = expanded.min(axis=-1).astype(np.float32)
    out_scores[missing] = np.nan
    return out, out_scores
