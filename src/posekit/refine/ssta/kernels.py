"""Array kernels of SST-A: squared distances, first argmins, gathers, scratch memory and the frame scan.

Nothing here knows the thesis; :mod:`.thesis` and :mod:`.robust` build eq. 3.1 from these
pieces. Arrays are ``(M, B, T, V)`` (experts, tracks, frames, joints) unless a docstring says otherwise.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterable

import numpy as np


def d2(
    ax: np.ndarray,
    ay: np.ndarray,
    bx: np.ndarray,
    by: np.ndarray,
    out: np.ndarray | None = None,
    tmp: np.ndarray | None = None,
) -> np.ndarray:
    """Squared eq. 3.2 on separate x and y arrays, pixels^2 (same argmin as D).

    ``out`` and ``tmp`` are optional scratch arrays of the broadcast shape.
    """
    dx = np.subtract(ax, bx, out=out)
    dy = np.subtract(ay, by, out=tmp)
    dx *= dx
    dy *= dy
    dx += dy
    return dx


def present(x: np.ndarray) -> np.ndarray:
    """``(...)`` bool: the joint of ``(..., 2)`` pixels has two finite coordinates."""
    return np.isfinite(x[..., 0]) & np.isfinite(x[..., 1])


def first_argmin(values: Iterable[np.ndarray], out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index (int8) and value of the first minimum over equal-shape arrays, NaN ignored.

    ``values`` is consumed one array at a time (a generator may reuse one buffer); ``out``
    optionally receives the minimum. Where every value is NaN the index is 0 and the minimum inf.
    """
    arg = best = np.zeros(0)
    for k, v in enumerate(values):
        if k == 0:
            best = np.fmin(v, np.inf, out=out)
            arg = np.zeros(v.shape, np.int8)
            continue
        better = v < best
        np.fmin(best, v, out=best)
        arg += better.view(np.int8) * (np.int8(k) - arg)
    return arg, best


def take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index[s], s]`` for ``values`` ``(M, *S)`` and ``index`` ``(*S)`` in ``0..M-1``."""
    size = index.size
    flat = index.astype(np.intp).ravel() * size + np.arange(size)
    return values.ravel().take(flat, mode="clip").reshape(index.shape)


_SCRATCH = threading.local()
_SCRATCH_MAX = 1 << 23
"""Float64 elements of scratch memory kept per thread between calls of SST-A."""


def scratch(shape: tuple[int, ...], n: int) -> list[np.ndarray]:
    """``n`` float64 scratch arrays of ``shape`` for internal use only (never returned).

    Reused across calls in the same thread, so repeated calls do not map fresh pages.
    """
    size = math.prod(shape)
    pool = getattr(_SCRATCH, "pool", None)
    if pool is None or pool.size < n * size:
        pool = np.empty(n * size)
        if pool.size <= _SCRATCH_MAX:
            _SCRATCH.pool = pool
    return [pool[i * size : (i + 1) * size].reshape(shape) for i in range(n)]


def prefix(a: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """The first ``prod(shape)`` elements of scratch array ``a`` seen as ``shape``; None without ``a``."""
    return None if a is None else a.reshape(-1)[: math.prod(shape)].reshape(shape)


@functools.lru_cache(maxsize=8)
def flat_positions(n: int) -> np.ndarray:
    """Read-only ``np.arange(n)`` (intp), cached: the flat positions of gathers."""
    a = np.arange(n, dtype=np.intp)
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=8)
def expert_pairs(M: int) -> tuple[np.ndarray, np.ndarray]:
    """Expert pairs ``(i, j)``, ``i < j``, in lexicographic order."""
    return np.triu_indices(M, 1)


def held_previous(X: np.ndarray, Y: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The previous aggregated position each frame compares against, held across gaps.

    Returns ``Xp, Yp`` ``(M, B, T, V)``: every expert's proposal at the last earlier frame
    where any expert had the joint (the selected one is read from them by the scan), ``prev``
    ``(B, T, V)`` that frame (-1 before the joint was ever seen) and ``tt`` ``(1, T, 1)``.
    """
    T = X.shape[2]
    tt = np.arange(T)[None, :, None]
    last = np.maximum.accumulate(np.where(P.any(0), tt, -1), axis=1)
    prev = np.empty_like(last)
    prev[:, :1] = -1
    prev[:, 1:] = last[:, :-1]
    Xp, Yp = np.empty_like(X), np.empty_like(Y)
    Xp[:, :, 1:], Yp[:, :, 1:] = X[:, :, :-1], Y[:, :, :-1]
    Xp[:, :, :1], Yp[:, :, :1] = X[:, :, :1], Y[:, :, :1]
    fix = (prev >= 0) & (prev != tt - 1)
    if fix.any():
        b, t, v = np.nonzero(fix)
        pt = prev[b, t, v]
        Xp[:, b, t, v], Yp[:, b, t, v] = X[:, b, pt, v], Y[:, b, pt, v]
    return Xp, Yp, prev, tt


@functools.lru_cache(maxsize=4)
def _map_tables(M: int) -> tuple[np.ndarray, int]:
    """Composition table of all maps ``{0..M-1} -> {0..M-1}`` coded as ``sum_j f(j) M^j``.

    Returns ``(table, K)`` with ``K = M^M`` and ``table[a * K + b]`` the code of ``a o b``.
    """
    K = M**M
    powers = M ** np.arange(M)
    digits = (np.arange(K)[:, None] // powers) % M
    composed = digits[np.arange(K)[:, None, None], digits[None, :, :]]
    return (composed * powers).sum(-1).ravel().astype(np.uint16), K


BLOCK = 16
"""Frames per block of the two-level scan in :func:`run_maps`."""


def _scan_codes(code: np.ndarray, table: np.ndarray, K: int, axis: int) -> None:
    """In place, inclusive Hillis-Steele scan of composition along ``axis`` of coded maps."""
    n = code.shape[axis]
    later = [slice(None)] * code.ndim
    earlier = [slice(None)] * code.ndim
    d = 1
    while d < n:
        later[axis], earlier[axis] = slice(d, None), slice(None, -d)
        a = code[tuple(later)] * code.dtype.type(K)
        a += code[tuple(earlier)]
        code[tuple(later)] = table.take(a, mode="clip")
        d *= 2


def run_maps(F: np.ndarray) -> np.ndarray:
    """States ``s_t = F_t(s_(t-1))`` from maps ``F`` ``(M, B, T, V)`` int8; ``(B, T, V)`` int8.

    ``F[j, b, t, v]`` is the expert selected at ``t`` when ``j`` was selected at the previous
    frame; the start state is 0. This is the recursion of eq. 3.1 over frames, done with
    array ops: maps are coded as integers (``sum_j F(j) M^j``, uint16), prefix compositions
    ``F_t o ... o F_0`` come from a two-level scan (Hillis-Steele inside blocks of
    :data:`BLOCK` frames, then across blocks) with a composition table. For ``M > 4`` maps
    are composed directly, with ``ceil(log2 T)`` rounds.
    """
    M, B, T, V = F.shape
    if M == 1:
        return F[0].copy()
    if M > 4:
        G = F.copy()
        d = 1
        while d < T:
            composed = [take(G[:, :, d:], G[j, :, :-d]) for j in range(M)]
            for j, c in enumerate(composed):
                G[j, :, d:] = c
            d *= 2
        return G[0]
    table, K = _map_tables(M)
    powers = M ** np.arange(M)
    nb = -(-T // BLOCK)
    code = np.full((B, nb * BLOCK, V), int((np.arange(M) * powers).sum()), np.uint16)
    head = code[:, :T]
    np.copyto(head, F[0], casting="unsafe")
    for j in range(1, M):
        head += F[j].astype(np.uint16) * np.uint16(powers[j])
    code = code.reshape(B, nb, BLOCK, V)
    _scan_codes(code, table, K, axis=2)
    across = code[:, :, -1].copy()
    _scan_codes(across, table, K, axis=1)
    code *= np.uint16(M)
    code[:, 1:] += (across[:, :-1] % np.uint16(M))[:, :, None, :]
    digits = ((np.arange(K)[:, None] // powers) % M).astype(np.int8).ravel()
    return digits.take(code, mode="clip").reshape(B, nb * BLOCK, V)[:, :T]
