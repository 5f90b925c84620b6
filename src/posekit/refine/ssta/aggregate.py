"""``aggregate``: SST-A on proposal stacks, every mode, vectorised over tracks, frames and joints.

Array conventions: ``proposals`` are ``(M, T, V, 2)`` or batched ``(B, M, T, V, 2)`` float
pixels, one pose proposal per expert ``m``, frame ``t`` and joint ``v`` of one person track
(``B`` tracks padded with NaN to a common ``T``); ``scores``, where given, the experts' joint
scores ``(M, T, V)`` or ``(B, M, T, V)`` (read by fused mode only). A joint is missing when either coordinate is
not finite; ``(0, 0)`` is a real pixel here, never a missing marker (except with
``missing="zero"``, the authors' public code). Output keypoints are float64 pixels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from posekit.refine.ssta.confidence import confidence_xy, d_normal_xy, gamma_filter
from posekit.refine.ssta.equations import NORMALISER_NONE, SOURCE_NONE, Aggregation, joint_subset
from posekit.refine.ssta.fused import select_fused
from posekit.refine.ssta.kernels import flat_positions, scratch
from posekit.refine.ssta.options import AggregationOptions
from posekit.refine.ssta.robust import body_scale, post_process, select_robust
from posekit.refine.ssta.thesis import select_thesis
from posekit.skeleton.layouts import COCO17, JointLayout

CHUNK = 1 << 15
"""Joint-frames (tracks x frames x joints) per chunk of :func:`aggregate`; chunks stay in cache."""


def aggregate(
    proposals: np.ndarray,
    options: AggregationOptions | None = None,
    *,
    scores: np.ndarray | None = None,
    layout: JointLayout = COCO17,
    **settings: object,
) -> Aggregation:
    """SST-A (thesis 3.3.2) on ``(M, T, V, 2)`` or ``(B, M, T, V, 2)`` pixel stacks, NaN = missing.

    Joint selection by eq. 3.1 (``mode="thesis"``), its robust variant, or the fused joints of
    :mod:`posekit.refine.ssta.fused` (weighted by ``scores``, the joint scores shaped like the
    stack without its last axis; None: equal weights), confidence C by
    eq. 3.4 and the gamma filter of eq. 3.3, with ``options`` (default
    :class:`AggregationOptions`) where keyword ``settings`` replace single fields, e.g.
    ``aggregate(x, mode="robust", gamma=0.06)``.
    """
    options = dataclasses.replace(options or AggregationOptions(), **settings)
    x = np.asarray(proposals, dtype=np.float64)
    batched = x.ndim == 5
    if not batched:
        x = x[None]
    if x.ndim != 5 or x.shape[-1] != 2:
        raise ValueError(f"proposals must be (M, T, V, 2) or (B, M, T, V, 2) pixels; got shape {np.shape(proposals)}")
    B, M, T, V, _ = x.shape
    if layout.num_joints != V:
        raise ValueError(f"proposals have V={V} joints but layout {layout.name!r} has {layout.num_joints}")
    if not 1 <= M <= 127:
        raise ValueError(f"SST-A needs 1 to 127 experts; got M={M}")
    if scores is None:
        w = np.ones(x.shape[:-1])
    else:
        w = np.asarray(scores, dtype=np.float64)
        if w.shape != np.shape(proposals)[:-1]:
            expected = np.shape(proposals)[:-1]
            raise ValueError(f"scores must have the proposals' shape without the last axis {expected}; got {w.shape}")
        w = w if batched else w[None]
    x = np.ascontiguousarray(x)
    per_chunk = max(1, CHUNK // max(1, T * V))
    parts = [
        _aggregate_chunk(x[i : i + per_chunk], w[i : i + per_chunk], options, layout)
        for i in range(0, max(B, 1), per_chunk)
    ]
    fields = [np.concatenate(f) if len(parts) > 1 else f[0] for f in zip(*parts)]
    return Aggregation(*(fields if batched else (a[0] for a in fields)), options=options.settings())


def _aggregate_chunk(
    x: np.ndarray, w: np.ndarray, options: AggregationOptions, layout: JointLayout
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(keypoints, source, confidence, keep, normaliser)`` of ``(B, M, T, V, 2)`` contiguous pixels, ``w`` their
    ``(B, M, T, V)`` joint weights."""
    B, M, T, V, _ = x.shape
    if T == 0:
        return (
            np.zeros((B, 0, V, 2)),
            np.zeros((B, 0, V), np.int8),
            np.zeros((B, 0)),
            np.zeros((B, 0), bool),
            np.zeros((B, 0), np.int8),
        )
    idx = joint_subset(options.joints, layout)
    zero = options.missing == "zero"
    X, Y, *work = scratch((M, B, T, V), 5)
    np.copyto(X, x[..., 0].swapaxes(0, 1))
    np.copyto(Y, x[..., 1].swapaxes(0, 1))
    fx, fy = np.isfinite(X), np.isfinite(Y)
    P = fx & fy
    if (fx != fy).any() or np.isinf(X).any() or np.isinf(Y).any():
        X[~P], Y[~P] = np.nan, np.nan
    if zero:
        np.putmask(X, ~P, 0.0)
        np.putmask(Y, ~P, 0.0)
    if options.mode == "fused":
        fx, fy, source, RX, RY = select_fused(X, Y, w.swapaxes(0, 1), options.fused, layout)
        dn, used = d_normal_xy(fx, fy, options.normaliser, layout)
        conf = confidence_xy(fx, fy, RX, RY, None, idx, dn, options.eps, work)
        used = np.where(np.isnan(conf), np.int8(NORMALISER_NONE), used)
        return np.stack([fx, fy], -1), source, conf, gamma_filter(conf, options.gamma), used
    if options.mode == "robust":
        scale = body_scale(np.stack([X, Y], -1).swapaxes(0, 1), layout)
        sel = select_robust(X, Y, P, options.robust, scale, work)
    else:
        sel = select_thesis(X, Y, np.ones_like(P) if zero else P, work, options.first_pick)
    at = sel.astype(np.intp)
    at *= B * T * V
    at += flat_positions(B * T * V).reshape(B, T, V)
    got = P.reshape(-1).take(at, mode="clip")
    kp = np.empty((B, T, V, 2))
    ax, ay = kp[..., 0], kp[..., 1]
    X.reshape(-1).take(at, out=ax, mode="clip")
    Y.reshape(-1).take(at, out=ay, mode="clip")
    del at
    source = np.where(got, sel, np.int8(SOURCE_NONE))
    has_joint = None
    if zero:
        dn, used = d_normal_xy(ax, ay, options.normaliser, layout)
        conf = confidence_xy(ax, ay, X, Y, None, idx, dn, options.eps, work)
        has_joint = got[..., idx].any(-1)
        kp[..., 0], kp[..., 1] = np.where(got, ax, np.nan), np.where(got, ay, np.nan)
    else:
        if options.mode == "robust":
            kp, source = post_process(kp, source, options.robust)
        dn, used = d_normal_xy(kp[..., 0], kp[..., 1], options.normaliser, layout)
        conf = confidence_xy(kp[..., 0], kp[..., 1], X, Y, None, idx, dn, options.eps, work)
    used = np.where(np.isnan(conf), np.int8(NORMALISER_NONE), used)
    return kp, source, conf, gamma_filter(conf, options.gamma, has_joint), used
