"""Robust mode: eq. 3.1 with a consensus anchor, drift and outlier recovery, re-initialisation after gaps,
then optional gap filling and temporal smoothing (:class:`posekit.refine.ssta.RobustOptions`).

Missing joints stay missing (NaN, never the point (0, 0)); distances are in body scales of the track.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from posekit.refine.ssta.equations import SOURCE_FILLED
from posekit.refine.ssta.kernels import d2, first_argmin, held_previous, present, run_maps, take
from posekit.refine.ssta.options import RobustOptions, Smoother
from posekit.refine.ssta.thesis import identity_maps, pair_rule
from posekit.skeleton import geometry
from posekit.skeleton.layouts import COCO17, JointLayout


def body_scale(proposals: np.ndarray, layout: JointLayout = COCO17) -> np.ndarray:
    """Body scale per track, pixels: median over experts and frames of :func:`posekit.skeleton.geometry.body_scale`.

    ``proposals`` ``(M, T, V, 2)`` or ``(B, M, T, V, 2)`` (or poses ``(T, V, 2)``) pixels;
    returns ``()`` or ``(B,)``, NaN for a track without shoulders.
    """
    x = np.asarray(proposals, dtype=np.float64)
    s = geometry.body_scale(x, layout)
    s = s.reshape(-1) if x.ndim < 5 else s.reshape(s.shape[0], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(s, axis=-1)


def medoid_rule(X: np.ndarray, Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Consensus expert (int8) on ``(M, ...)``: smallest summed distance to the other present experts."""
    M = len(X)
    sums = []
    for k in range(M):
        s = np.where(P[k], 0.0, np.inf)
        for j in range(M):
            if j != k:
                s += np.where(P[j], np.sqrt(d2(X[k], Y[k], X[j], Y[j])), 0.0)
        sums.append(s)
    return first_argmin(sums)[0]


def select_robust(
    X: np.ndarray,
    Y: np.ndarray,
    P: np.ndarray,
    robust: RobustOptions,
    scale: np.ndarray,
    work: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Eq. 3.1 with the steps of ``robust``: the selected expert ``(B, T, V)`` int8.

    ``X, Y`` ``(M, B, T, V)`` pixels, NaN where ``P`` is false; ``scale`` ``(B,)`` body scale
    per track, pixels (NaN: threshold tests skipped); ``work`` optional three scratch arrays.
    """
    M = X.shape[0]
    out, tmp, low = work or (None, None, None)
    anyp = P.any(0)
    Xp, Yp, prev, tt = held_previous(X, Y, P)
    anchor, dpair2 = pair_rule(X, Y, P)
    if robust.anchor == "medoid":
        anchor = medoid_rule(X, Y, P)
    restart = prev < 0
    if robust.reinit_gap is not None:
        restart |= tt - prev - 1 >= robust.reinit_gap
    s2 = (scale * scale)[:, None, None]
    barred: list[np.ndarray | float] = [0.0] * M
    if robust.consensus_threshold is not None:
        lim = robust.consensus_threshold**2 * s2
        agree = dpair2 <= lim
        ax, ay = take(X, anchor), take(Y, anchor)
        barred = [np.where(agree & ~(d2(X[k], Y[k], ax, ay) <= lim), np.inf, 0.0) for k in range(M)]
    nearest = (d2(X[k, None], Y[k, None], Xp, Yp, out=out, tmp=tmp) + barred[k] for k in range(M))
    F, dmin2 = first_argmin(nearest, out=low)
    if robust.drift_threshold is not None:
        F = np.where(dmin2 > robust.drift_threshold**2 * s2, anchor, F)
    F = np.where(restart[None], anchor[None], F)
    F = np.where(anyp[None], F, identity_maps(M))
    return run_maps(F)


def fill_gaps(keypoints: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of interior gaps of at most ``max_gap`` frames.

    ``keypoints`` ``(..., T, V, 2)`` pixels, NaN = missing. Returns the filled copy and the
    ``(..., T, V)`` mask of filled joints; gaps at the ends of a track are not extrapolated.
    """
    x = np.asarray(keypoints, dtype=np.float64)
    lead, (T, V) = x.shape[:-3], x.shape[-3:-1]
    x = x.reshape(-1, T, V, 2)
    ok = present(x)
    tt = np.arange(T)[None, :, None]
    last = np.maximum.accumulate(np.where(ok, tt, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(ok, tt, T)[:, ::-1], axis=1)[:, ::-1]
    fill = ~ok & (last >= 0) & (nxt < T) & (nxt - last - 1 <= max_gap)
    x0 = np.take_along_axis(x, np.clip(last, 0, T - 1)[..., None], axis=1)
    x1 = np.take_along_axis(x, np.clip(nxt, 0, T - 1)[..., None], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = ((tt - last) / (nxt - last))[..., None]
    out = np.where(fill[..., None], x0 + (x1 - x0) * w, x)
    return out.reshape(*lead, T, V, 2), fill.reshape(*lead, T, V)


def _bridge(x: np.ndarray) -> np.ndarray:
    """Every gap of ``(N, T, V, 2)`` filled: linear inside, nearest value at the ends."""
    T = x.shape[1]
    out, _ = fill_gaps(x, T)
    ok = present(out)
    tt = np.arange(T)[None, :, None]
    first = np.minimum.accumulate(np.where(ok, tt, T)[:, ::-1], axis=1)[:, ::-1]
    last = np.maximum.accumulate(np.where(ok, tt, -1), axis=1)
    src = np.where(ok, tt, np.where(first < T, first, last))
    return np.take_along_axis(out, np.clip(src, 0, T - 1)[..., None], axis=1)


def smooth(keypoints: np.ndarray, method: Smoother = "savgol", window: int = 9, polyorder: int = 2) -> np.ndarray:
    """Temporal smoothing of each joint track of ``(..., T, V, 2)`` pixels; NaN stays NaN.

    Gaps are bridged (linearly, nearest value at the ends) only while filtering, so joints
    next to a gap see that bridge inside the window.
    """
    x = np.asarray(keypoints, dtype=np.float64)
    lead, (T, V) = x.shape[:-3], x.shape[-3:-1]
    x = x.reshape(-1, T, V, 2)
    ok = present(x)
    window = min(window | 1, T if T % 2 else T - 1)
    if window < 3 or (method == "savgol" and window <= polyorder):
        return x.reshape(*lead, T, V, 2).copy()
    b = np.nan_to_num(_bridge(x), nan=0.0)
    if method == "savgol":
        from scipy.signal import savgol_filter  # scipy.signal costs about a second at import; smoothing is opt-in

        out = savgol_filter(b, window, polyorder, axis=1, mode="interp")
    elif method == "median":
        from scipy.ndimage import median_filter

        out = median_filter(b, size=(1, window, 1, 1), mode="nearest")
    else:
        raise ValueError(f"unknown smoother {method!r}; use 'savgol' or 'median'")
    out = np.where(ok[..., None], out, np.nan)
    return out.reshape(*lead, T, V, 2)


def post_process(keypoints: np.ndarray, source: np.ndarray, robust: RobustOptions) -> tuple[np.ndarray, np.ndarray]:
    """Gap filling (source :data:`SOURCE_FILLED` where filled), then smoothing of ``(B, T, V, 2)`` pixels."""
    if robust.fill_gaps > 0:
        keypoints, filled = fill_gaps(keypoints, robust.fill_gaps)
        source = np.where(filled, np.int8(SOURCE_FILLED), source)
    if robust.smooth is not None:
        keypoints = smooth(keypoints, robust.smooth, robust.smooth_window, robust.smooth_polyorder)
    return keypoints, source
