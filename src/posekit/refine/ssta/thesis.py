"""Thesis mode, vectorised: eq. 3.1 over every track, frame and joint at once.

Eq. 3.1 is a recursion over frames (the expert chosen at ``t`` depends on the joint chosen at
``t - 1``). For each frame and each possible previous choice ``j`` the choice at ``t`` is an
argmin over experts, a map ``F_t: j -> k`` computed for all frames in parallel; the choices
are the prefix compositions of these maps (:func:`posekit.refine.ssta.kernels.run_maps`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from posekit.refine.ssta.equations import PUBLIC_PAIRS
from posekit.refine.ssta.kernels import d2, expert_pairs, first_argmin, held_previous, run_maps


def pair_rule(X: np.ndarray, Y: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 3.1, ``t = 0`` case, on ``X, Y, P`` ``(M, ...)``: ``(choice int8, squared pair distance)``.

    The choice is the lower-index expert of the first closest pair (pairs in lexicographic
    order); with one expert present, that expert. The distance is inf with fewer than two.
    Missing joints are NaN.
    """
    first = P.argmax(0).astype(np.int8)
    if len(X) < 2:
        return first, np.full(X.shape[1:], np.inf)
    ii, jj = expert_pairs(len(X))
    pair_d2 = d2(X[ii], Y[ii], X[jj], Y[jj])
    pair_d2[np.isnan(pair_d2)] = np.inf
    arg = pair_d2.argmin(0)
    best = np.take_along_axis(pair_d2, arg[None], 0)[0]
    paired = np.isfinite(best)
    return np.where(paired, ii.take(arg), first).astype(np.int8), best


def public_pair_rule(X: np.ndarray, Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Eq. 3.1, ``t = 0``, as the authors' public code (:func:`~posekit.refine.ssta.equations.select_first_public`).

    ``X, Y, P`` ``(3, ...)``; returns the choice ``(...)`` int8: the pairs of ``PUBLIC_PAIRS`` in
    order, the last of the closest (distance after the square root) giving its listed member.
    """
    if len(X) != 3:
        raise ValueError(f"--first-pick public is the authors' three-expert rule; got {len(X)} experts")
    choice = P.argmax(0).astype(np.int8)
    best = np.full(X.shape[1:], np.inf)
    for i, j, chosen in PUBLIC_PAIRS:
        d = np.sqrt(d2(X[i], Y[i], X[j], Y[j]))
        better = d <= best
        best = np.where(better, d, best)
        choice = np.where(better, np.int8(chosen), choice)
    return choice


def identity_maps(M: int) -> np.ndarray:
    """``(M, 1, 1, 1)`` int8 map ``j -> j``: a frame without the joint keeps the previous choice."""
    return np.arange(M, dtype=np.int8)[:, None, None, None]


def select_thesis(
    X: np.ndarray, Y: np.ndarray, P: np.ndarray, work: Sequence[np.ndarray] = (), first_pick: str = "lower"
) -> np.ndarray:
    """Eq. 3.1: the selected expert ``(B, T, V)`` int8.

    ``X, Y`` ``(M, B, T, V)`` pixels, NaN where ``P`` (presence) is false; ``work`` optional
    three scratch arrays of that shape; ``first_pick`` the ``t = 0`` rule (``"lower"``
    :func:`pair_rule`, ``"public"`` :func:`public_pair_rule`). After a gap the previous aggregated joint is the last
    one seen; before the joint was ever seen the ``t = 0`` rule applies. Where no expert is
    present the index is arbitrary.
    """
    M = X.shape[0]
    out, tmp, low = work or (None, None, None)
    anyp = P.any(0)

    def first(x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
        return public_pair_rule(x, y, p) if first_pick == "public" else pair_rule(x, y, p)[0]

    if anyp.all():
        F = np.empty(X.shape, np.int8)
        o, w, lo = (None, None, None) if out is None else (out[:, :, 1:], tmp[:, :, 1:], low[:, :, 1:])
        xj, yj = X[:, :, :-1], Y[:, :, :-1]
        nearest = (d2(X[k, None, :, 1:], Y[k, None, :, 1:], xj, yj, out=o, tmp=w) for k in range(M))
        F[:, :, 1:] = first_argmin(nearest, out=lo)[0]
        F[:, :, 0] = first(X[:, :, 0], Y[:, :, 0], P[:, :, 0])
        return run_maps(F)
    Xp, Yp, prev, _ = held_previous(X, Y, P)
    init = first(X, Y, P)
    nearest = (d2(X[k, None], Y[k, None], Xp, Yp, out=out, tmp=tmp) for k in range(M))
    F, _ = first_argmin(nearest, out=low)
    F = np.where((prev < 0)[None], init[None], F)
    F = np.where(anyp[None], F, identity_maps(M))
    return run_maps(F)
