"""Eqs. 3.3 and 3.4 vectorised: ``D_normal`` with its fallbacks, the confidence C, the gamma filter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from posekit.refine.ssta.equations import (
    DEFAULT_GAMMA,
    EPS,
    HEAD_NECK_UNITS,
    NORMALISER_NONE,
    NORMALISERS,
    fallback_order,
    joint_subset,
)
from posekit.refine.ssta.kernels import d2, prefix, present
from posekit.refine.ssta.options import Normaliser
from posekit.skeleton.geometry import head_length_xy, shoulder_width_xy, side_torso_length_xy
from posekit.skeleton.layouts import COCO17, JointLayout

_LENGTHS = {"head-neck": head_length_xy, "shoulders": shoulder_width_xy, "torso": side_torso_length_xy}


def check_normaliser(normaliser: str) -> None:
    if normaliser not in NORMALISERS:
        raise ValueError(f"unknown normaliser {normaliser!r}; use {', '.join(NORMALISERS)}")


def d_normal_xy(
    x: np.ndarray, y: np.ndarray, normaliser: Normaliser, layout: JointLayout
) -> tuple[np.ndarray, np.ndarray]:
    """``D_normal`` of eq. 3.4 from aggregated ``(..., V)`` x and y pixels, with its fallbacks.

    Returns ``(...)`` pixels (NaN where no length is measurable) and ``(...)`` int8 index into
    :data:`NORMALISERS` of the length used (``NORMALISER_NONE`` there), as
    :func:`posekit.refine.ssta.equations.d_normal` defines them per pose.
    """
    check_normaliser(normaliser)
    dn = np.full(x.shape[:-1], np.nan)
    used = np.full(x.shape[:-1], NORMALISER_NONE, np.int8)
    for name in reversed(fallback_order(normaliser)):
        length = _LENGTHS[name](x, y, layout)
        ok = ~np.isnan(length)
        dn = np.where(ok, length * (HEAD_NECK_UNITS[name] / HEAD_NECK_UNITS[normaliser]), dn)
        used = np.where(ok, np.int8(NORMALISERS.index(name)), used)
    return dn, used


def normaliser_length(
    keypoints: np.ndarray, normaliser: Normaliser = "head-neck", layout: JointLayout = COCO17
) -> np.ndarray:
    """``D_normal`` of eq. 3.4 for poses ``(..., V, 2)`` pixels: ``(...)`` pixels, NaN if no length is measurable."""
    k = np.asarray(keypoints, dtype=np.float64)
    return d_normal_xy(k[..., 0], k[..., 1], normaliser, layout)[0]


def confidence_xy(
    ax: np.ndarray,
    ay: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    valid: np.ndarray | None,
    idx: np.ndarray,
    dn: np.ndarray,
    eps: float,
    work: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Eq. 3.4 from aggregated ``(B, T, V)`` and proposal ``(M, B, T, V)`` x/y pixels: ``(B, T)``.

    ``valid`` ``(M, B, T, V)`` marks the terms counted (``None``: the terms without a NaN
    coordinate), and every other term must have a NaN coordinate; ``dn`` ``(B, T)`` is
    ``D_normal`` (NaN where unknown); ``work`` optional three scratch arrays
    ``(M, B, T, V)``. Terms are summed expert-major, joint-minor, left to right (a reduction
    over the outer axis of a C-contiguous array, which numpy does in order), as
    :func:`posekit.refine.ssta.equations.ssta_reference_loop` does.
    """
    M, B, T, _ = px.shape
    N = len(idx)
    out, tmp, low = work or (None, None, None)
    squared = d2(ax[None], ay[None], px, py, out=out, tmp=tmp)
    picked = np.take(squared, idx, axis=3, out=prefix(tmp, (M, B, T, N)))
    terms = prefix(low, (M, N, B, T))
    if terms is None:
        terms = np.empty((M, N, B, T))
    np.copyto(terms, picked.transpose(0, 3, 1, 2))
    terms = terms.reshape(M * N, B * T)
    np.sqrt(terms, out=terms)
    if valid is None:
        count = np.add.reduce(terms == terms, axis=0, dtype=np.intp).reshape(B, T)
    else:
        count = valid[..., idx].sum(axis=(0, 3))
    np.fmax(terms, 0.0, out=terms)
    total = np.add.reduce(terms, axis=0).reshape(B, T) if terms.size else np.zeros((B, T))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.exp(-(total / count) / (dn + eps))
    c[count == 0] = np.nan
    return c


def confidence(
    aggregated: np.ndarray,
    proposals: np.ndarray,
    *,
    normaliser: Normaliser = "head-neck",
    joints: str | Sequence[int] = "body13",
    layout: JointLayout = COCO17,
    eps: float = EPS,
) -> np.ndarray:
    """Confidence C of eq. 3.4 for poses ``(B, T, V, 2)`` against proposals ``(B, M, T, V, 2)``, pixels.

    Terms where the aggregated joint or the proposal is missing are left out and ``NM`` counts
    the terms kept; ``D_normal`` comes from the aggregated pose (:func:`d_normal_xy`). Returns
    ``(B, T)`` (``(T,)`` for unbatched ``(T, V, 2)`` and ``(M, T, V, 2)``); NaN where no term or
    no ``D_normal`` exists. Equal to the ``confidence`` of ``aggregate`` to the last bit.
    """
    a = np.asarray(aggregated, dtype=np.float64)
    p = np.asarray(proposals, dtype=np.float64)
    batched = p.ndim == 5
    if not batched:
        a, p = a[None], p[None]
    if p.ndim != 5 or p.shape[-1] != 2 or p.shape[3] != layout.num_joints:
        raise ValueError(f"proposals must be (M, T, V, 2) or (B, M, T, V, 2) pixels in {layout.name}; got {p.shape}")
    ok = present(a)
    ax, ay = a[..., 0], a[..., 1]
    px, py = p[..., 0].swapaxes(0, 1), p[..., 1].swapaxes(0, 1)
    valid = ok[None] & np.isfinite(px) & np.isfinite(py)
    dn, _ = d_normal_xy(ax, ay, normaliser, layout)
    ax, ay = np.where(ok, ax, np.nan), np.where(ok, ay, np.nan)
    px, py = np.where(valid, px, np.nan), np.where(valid, py, np.nan)
    c = confidence_xy(ax, ay, px, py, valid, joint_subset(joints, layout), dn, eps)
    return c if batched else c[0]


def gamma_filter(conf: np.ndarray, gamma: float = DEFAULT_GAMMA, has_joint: np.ndarray | None = None) -> np.ndarray:
    """Eq. 3.3: ``(...)`` bool mask of poses kept, ``C >= gamma`` (and ``has_joint`` if given)."""
    with np.errstate(invalid="ignore"):
        kept = np.asarray(conf) >= gamma
    return kept if has_joint is None else kept & has_joint
