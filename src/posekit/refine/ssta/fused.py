"""Fused mode: the experts that agree on a joint are averaged instead of one being picked (not in the thesis).

Per frame and joint, on ``(M, B, T, V)`` x/y pixel arrays (NaN = missing):

1. **Side repair** (:func:`repair_sides`): an expert whose left and right joints are swapped
   relative to the others is flipped back before anything is fused.
2. **Fusion** (:func:`fuse_joints`): the closest pair of experts (eq. 3.1's ``t = 0`` rule,
   eq. 3.2 distance) must lie within ``fuse_tolerance`` body scales of each other; the joint is
   then the weighted mean (joint scores, or equal weights) of every expert within that radius
   of the pair's midpoint, so an expert far from the others is left out. Where no two experts
   agree, the joint is taken from one expert: the closest pair's member with the larger weight
   (the only expert present, where one is).

The confidence C of eq. 3.4 is then computed on the fused pose against the side-repaired
proposals (:func:`posekit.refine.ssta.confidence.confidence_xy`), and eq. 3.3 filters as in
every mode. Distances are in body scales: :func:`posekit.skeleton.geometry.body_scale`, the
median over the experts of the frame, else over the whole track.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from posekit.core.errors import ConfigError
from posekit.refine.ssta.kernels import d2, expert_pairs, first_argmin, take
from posekit.refine.ssta.options import FusedOptions
from posekit.skeleton import geometry
from posekit.skeleton.layouts import JointLayout

MAX_SWAP_EXPERTS = 10
"""Side repair tries every subset of experts to flip (2^M); more experts than this are refused."""


def pose_scale(X: np.ndarray, Y: np.ndarray, layout: JointLayout) -> np.ndarray:
    """``(B, T)`` body scale of each person-frame, pixels, from ``(M, B, T, V)`` x/y pixels.

    The median over experts of :func:`posekit.skeleton.geometry.body_scale`; where no expert of the
    frame has one, the median over the track's experts and frames; NaN where neither exists.
    """
    s = geometry.body_scale(np.stack([X, Y], -1), layout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        frame = np.nanmedian(s, axis=0)
        track = np.nanmedian(s.swapaxes(0, 1).reshape(s.shape[1], -1), axis=1)
    return np.where(np.isnan(frame), track[:, None], frame)


@functools.lru_cache(maxsize=8)
def flip_subsets(M: int) -> np.ndarray:
    """``(2^M, M)`` bool: every subset of experts to flip; subset ``c`` flips expert ``m`` when bit ``M-1-m`` of ``c``
    is set, so among equally good subsets the first one listed flips the higher-index experts."""
    c = np.arange(1 << M)[:, None]
    return ((c >> (M - 1 - np.arange(M))[None]) & 1).astype(bool)


def flip_index(layout: JointLayout) -> np.ndarray:
    """``(V,)`` joint permutation that swaps every left joint with its right counterpart."""
    return np.asarray(layout.flip_permutation())


def side_costs(
    X: np.ndarray, Y: np.ndarray, layout: JointLayout, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per expert pair ``(i, j)`` (lexicographic), the mean left/right joint distance as given and with ``i`` flipped.

    Over the left/right joint pairs ``(a, b)`` both experts have both joints of: as given
    ``(D(i_a, j_a) + D(i_b, j_b)) / 2``, flipped ``(D(i_a, j_b) + D(i_b, j_a)) / 2`` (eq. 3.2), in
    body scales. Returns ``same, flipped`` ``(pairs, B, T)`` (0 where the pair shares no such
    joints) and ``(pairs, B, T)`` bool, whether it shares any.
    """
    ii, jj = expert_pairs(len(X))
    a = np.array([p[0] for p in layout.flip_pairs], np.intp)
    b = np.array([p[1] for p in layout.flip_pairs], np.intp)

    def dist(u: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.sqrt(d2(X[ii][..., u], Y[ii][..., u], X[jj][..., w], Y[jj][..., w]))

    same = (dist(a, a) + dist(b, b)) * 0.5
    flipped = (dist(a, b) + dist(b, a)) * 0.5
    ok = np.isfinite(same) & np.isfinite(flipped)
    count = ok.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.maximum(count, 1) * scale[None]
        same = np.where(ok, same, 0.0).sum(-1) / unit
        flipped = np.where(ok, flipped, 0.0).sum(-1) / unit
    known = (count > 0) & np.isfinite(scale)[None]
    return np.where(known, same, 0.0), np.where(known, flipped, 0.0), known


def repair_sides(
    X: np.ndarray, Y: np.ndarray, W: np.ndarray, layout: JointLayout, scale: np.ndarray, margin: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flip back the experts whose left and right joints are swapped relative to the others.

    ``X, Y, W`` ``(M, B, T, V)`` pixels and weights, ``scale`` ``(B, T)`` pixels. Per frame, the
    subset of experts to flip is the one that minimises the summed :func:`side_costs` over
    expert pairs (a pair costs its flipped distance when exactly one of its experts is
    flipped); of two complementary subsets (equal cost) the one whose flipped experts weigh
    less (summed left/right joint weights) is flipped. The flip is made only when it lowers
    the mean cost per expert pair by more than ``margin`` body scales. Returns the repaired
    ``X, Y, W`` and ``(M, B, T)`` bool, the experts flipped.
    """
    M = len(X)
    flips = np.zeros(X.shape[:3], bool)
    if M < 2 or not layout.flip_pairs:
        return X, Y, W, flips
    if M > MAX_SWAP_EXPERTS:
        raise ConfigError(f"--swap-repair takes at most {MAX_SWAP_EXPERTS} experts (got {M}); pass --no-swap-repair")
    same, flipped, known = side_costs(X, Y, layout, scale)
    ii, jj = expert_pairs(M)
    subsets = flip_subsets(M)
    odd = subsets[:, ii] ^ subsets[:, jj]
    cost = np.where(odd[:, :, None, None], flipped[None], same[None]).sum(1)
    sides = np.array([j for p in layout.flip_pairs for j in p], np.intp)
    side_weight = np.nan_to_num(W[..., sides]).sum(-1)
    flipped_weight = np.tensordot(subsets.astype(np.float64), side_weight, axes=(1, 0))
    low = cost.min(0)
    best = np.where(cost == low[None], flipped_weight, np.inf).argmin(0)
    pairs = np.maximum(known.sum(0), 1)
    accept = (cost[0] - low) / pairs > margin
    flips = subsets[best].transpose(2, 0, 1) & accept[None]
    if not flips.any():
        return X, Y, W, flips
    perm = flip_index(layout)
    m = flips[..., None]
    return (np.where(m, X[..., perm], X), np.where(m, Y[..., perm], Y), np.where(m, W[..., perm], W), flips)


def fuse_joints(
    X: np.ndarray, Y: np.ndarray, W: np.ndarray, scale: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fused joints: ``(B, T, V)`` x and y pixels (NaN where no expert has the joint) and the source expert int8.

    ``X, Y`` ``(M, B, T, V)`` pixels, NaN = missing; ``W`` ``(M, B, T, V)`` positive weights
    where present; ``scale`` ``(B, T)`` body scale, pixels (NaN: no pair agrees, one expert is taken).
    The source is the agreeing expert of largest weight, or the one expert taken (-1 where none).
    """
    M = len(X)
    P = np.isfinite(X) & np.isfinite(Y)
    w = np.where(P, W, 0.0)
    if M < 2:
        return np.where(P[0], X[0], np.nan), np.where(P[0], Y[0], np.nan), np.where(P[0], 0, -1).astype(np.int8)
    ii, jj = expert_pairs(M)
    pair_d2 = d2(X[ii], Y[ii], X[jj], Y[jj])
    pair_d2[np.isnan(pair_d2)] = np.inf
    arg = pair_d2.argmin(0)
    best = np.take_along_axis(pair_d2, arg[None], 0)[0]
    a, b = ii[arg].astype(np.int8), jj[arg].astype(np.int8)
    radius2 = (tolerance * scale) ** 2
    radius2 = np.where(np.isnan(radius2), -1.0, radius2)[..., None]
    agree = best <= radius2
    mx = (take(X, a) + take(X, b)) * 0.5
    my = (take(Y, a) + take(Y, b)) * 0.5
    near = (d2(X, Y, mx[None], my[None]) <= radius2[None]) & agree[None]
    wn = np.where(near, w, 0.0)
    total = wn.sum(0)
    wn = np.where(total[None] > 0, wn, near.astype(np.float64))
    total = wn.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fx = (np.where(near, X, 0.0) * wn).sum(0) / total
        fy = (np.where(near, Y, 0.0) * wn).sum(0) / total
    lead, _ = first_argmin(-wn[k] for k in range(M))
    paired = np.isfinite(best)
    one = np.where(take(w, b) > take(w, a), b, a)
    one = np.where(paired, one, P.argmax(0).astype(np.int8))
    source = np.where(agree, lead, one).astype(np.int8)
    x = np.where(agree, fx, take(X, one))
    y = np.where(agree, fy, take(Y, one))
    source = np.where(P.any(0), source, np.int8(-1))
    return x, y, source


def select_fused(
    X: np.ndarray, Y: np.ndarray, W: np.ndarray, options: FusedOptions, layout: JointLayout
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fused mode on ``(M, B, T, V)`` x/y pixels (NaN = missing) and weights ``W`` (joint scores, or ones).

    Returns the fused ``(B, T, V)`` x, y pixels and source int8 (-1 = missing), and the
    side-repaired ``(M, B, T, V)`` x, y the confidence C of eq. 3.4 is computed against.
    """
    present = np.isfinite(X) & np.isfinite(Y)
    if options.fuse_weights == "equal":
        weights = present.astype(np.float64)
    else:
        weights = np.where(present & np.isfinite(W) & (W > 0), W, 0.0)
    scale = pose_scale(X, Y, layout)
    if options.swap_repair:
        X, Y, weights, _ = repair_sides(X, Y, weights, layout, scale, options.swap_margin)
    x, y, source = fuse_joints(X, Y, weights, scale, options.fuse_tolerance)
    return x, y, source, X, Y
