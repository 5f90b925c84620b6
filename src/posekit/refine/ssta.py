"""SST-A: Selective Spatio-Temporal Aggregation of several experts' 2D poses (thesis 3.3.2).

Array conventions (every function here is pure and works on plain arrays):

- ``proposals``: ``(M, T, V, 2)`` or batched ``(B, M, T, V, 2)`` float pixels, one pose
  proposal per expert ``m``, frame ``t`` and joint ``v`` of one person track (``B`` tracks or
  clips padded with NaN to a common ``T``). A joint is missing when either coordinate is not
  finite (NaN); ``(0, 0)`` is a real pixel here, never a missing marker.
- Output keypoints are float64 pixels in the same frame, NaN where no joint is known.

Two modes:

- ``mode="thesis"`` is eq. 3.1 (joint selection), 3.4 (confidence C) and 3.3 (gamma filter)
  exactly. Missing joints are handled by ``missing``:

  * ``"skip"`` (default): a missing proposal takes no part in any argmin nor in the mean of
    eq. 3.4. When the previous aggregated joint is missing (no expert had it at ``t - 1``),
    eq. 3.1 uses the last aggregated position of that joint (held across the gap); before
    the joint was ever seen, the ``t = 0`` rule applies. With complete inputs this is eq. 3.1
    to the letter.
  * ``"zero"``: the authors' public code, where experts report a missing joint as ``(0, 0)``:
    missing proposals become the point ``(0, 0)`` and take part in every distance, argmin,
    mean and normaliser as such (two missing experts "agree" perfectly). The recursion runs
    on those zeros; a selected ``(0, 0)`` that stands for a missing joint is written out as
    NaN with source ``-1``.

  Eq. 3.1 ties go to the lowest expert index; at ``t = 0`` the selected joint is the one of
  the lower-index expert ``k_a`` of the closest pair, pairs being ordered lexicographically.
- ``mode="robust"``: missing joints stay missing, and each extra step of
  :class:`RobustOptions` can be switched off: consensus anchor, drift and outlier recovery,
  re-initialisation after gaps, short-gap filling and temporal smoothing.

Confidence normaliser ``D_normal`` (eq. 3.4) is computed on the aggregated pose:

- ``"head-neck"`` (thesis): distance head to neck. COCO-17 has neither joint: the head is the
  nose and the neck the midpoint of the shoulders. Layouts with a ``head`` or ``neck`` joint
  (LCRNet-13, Posetics-17) use it.
- ``"shoulders"`` (the authors' public code): shoulder width.

The joints averaged in eq. 3.4 are ``"body12"`` (shoulders to ankles, the public code),
``"body13"`` (those and the head, the thesis' 13 joints; default) or ``"all"``.
"""

from __future__ import annotations

import functools
import math
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Union

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import savgol_filter

from posekit.skeleton.layouts import COCO17, JointLayout

Mode = Literal["thesis", "robust"]
Missing = Literal["skip", "zero"]
Normaliser = Literal["head-neck", "shoulders"]
JointSubset = Union[Literal["body12", "body13", "all"], Sequence[int]]  # noqa: UP007
Anchor = Literal["pair", "medoid"]
Smoother = Literal["savgol", "median"]

SOURCE_NONE = -1
"""``source`` value of a joint that no expert gave (output NaN)."""
SOURCE_FILLED = -2
"""``source`` value of a joint filled by interpolation across a short gap (robust mode)."""

DEFAULT_GAMMA = 0.18
"""The thesis' threshold gamma of eq. 3.3 (Fig. 3.7/3.8); the authors' public demo runs 0.06."""
EPS = 1e-12
"""The thesis' offset epsilon of eq. 3.4."""

_BODY12 = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip


@dataclass(frozen=True)
class RobustOptions:
    """The extra steps of ``mode="robust"``; each one can be switched off.

    Distances are in units of the track's body scale (:func:`body_scale`, pixels); a track
    without a known scale (no shoulders in any proposal) skips both threshold tests.

    Attributes:
        anchor: consensus joint used to (re-)initialise and re-anchor: ``"pair"`` is the
            eq. 3.1 ``t = 0`` rule (lower-index expert of the closest pair), ``"medoid"`` the
            expert with the smallest summed distance to the others.
        drift_threshold: re-anchor on the consensus when the previous aggregated joint is
            farther than this from every (admissible) expert at ``t``; ``None`` disables.
        consensus_threshold: when the closest pair of experts agrees within this distance,
            eq. 3.1 at ``t > 0`` only chooses among the experts within it of the consensus
            joint, so an outlier expert cannot be followed; ``None`` disables.
        reinit_gap: re-initialise on the consensus after a joint was missing for at least this
            many frames (``1``: after any gap); ``None`` holds the last position, as thesis mode.
        fill_gaps: fill interior gaps of at most this many frames by linear interpolation
            (source :data:`SOURCE_FILLED`); ``0`` disables.
        smooth: temporal smoothing of each joint track, ``"savgol"``
            (``scipy.signal.savgol_filter``) or ``"median"`` (``scipy.ndimage.median_filter``);
            ``None`` disables. Missing joints stay missing.
        smooth_window: filter length in frames (odd; shortened for shorter tracks).
        smooth_polyorder: polynomial order of the Savitzky-Golay filter.
    """

    anchor: Anchor = "pair"
    drift_threshold: float | None = 0.5
    consensus_threshold: float | None = 0.5
    reinit_gap: int | None = 1
    fill_gaps: int = 0
    smooth: Smoother | None = None
    smooth_window: int = 9
    smooth_polyorder: int = 2

    def __post_init__(self) -> None:
        if self.anchor not in ("pair", "medoid"):
            raise ValueError(f"unknown anchor {self.anchor!r}; use 'pair' or 'medoid'")
        if self.smooth not in (None, "savgol", "median"):
            raise ValueError(f"unknown smoother {self.smooth!r}; use 'savgol', 'median' or None")
        for name in ("drift_threshold", "consensus_threshold"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 body scales or None; got {value}")
        if self.reinit_gap is not None and self.reinit_gap < 1:
            raise ValueError(f"reinit_gap must be >= 1 frame or None; got {self.reinit_gap}")
        if self.fill_gaps < 0:
            raise ValueError(f"fill_gaps must be >= 0 frames; got {self.fill_gaps}")
        if self.smooth_window < 3 or self.smooth_window % 2 == 0:
            raise ValueError(f"smooth_window must be an odd number of frames >= 3; got {self.smooth_window}")
        if not 0 <= self.smooth_polyorder < self.smooth_window:
            raise ValueError(f"smooth_polyorder must be in [0, smooth_window); got {self.smooth_polyorder}")


@dataclass(frozen=True)
class Aggregation:
    """The result of SST-A for ``B`` tracks (the ``B`` axis is absent for an unbatched input).

    Attributes:
        keypoints: ``(B, T, V, 2)`` float64 pixels of the aggregated poses; NaN where missing.
        source: ``(B, T, V)`` int8 index of the expert each joint was taken from;
            :data:`SOURCE_NONE` (-1) where missing, :data:`SOURCE_FILLED` (-2) where interpolated.
        confidence: ``(B, T)`` float64 confidence C of eq. 3.4 in (0, 1]; NaN where it cannot
            be computed (no aggregated joint with a proposal, or the normaliser joints missing).
        keep: ``(B, T)`` bool, eq. 3.3: C >= gamma and the pose has a joint in the C subset.
        options: the settings that produced it (mode, gamma, normaliser, joints, missing,
            eps and, in robust mode, the :class:`RobustOptions`).
    """

    keypoints: np.ndarray
    source: np.ndarray
    confidence: np.ndarray
    keep: np.ndarray
    options: dict = field(default_factory=dict, compare=False)


def _batched(proposals: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.asarray(proposals, dtype=np.float64)
    if x.ndim == 4 and x.shape[-1] == 2:
        return x[None], False
    if x.ndim != 5 or x.shape[-1] != 2:
        raise ValueError(f"proposals must be (M, T, V, 2) or (B, M, T, V, 2) pixels; got shape {x.shape}")
    return x, True


def _check_layout(V: int, layout: JointLayout) -> None:
    if layout.num_joints != V:
        raise ValueError(f"proposals have V={V} joints but layout {layout.name!r} has {layout.num_joints}")


def _present(x: np.ndarray) -> np.ndarray:
    return np.isfinite(x[..., 0]) & np.isfinite(x[..., 1])


def _d2(
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


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Eq. 3.2, Euclidean distance over the last axis (size 2), pixels."""
    return np.sqrt(_d2(a[..., 0], a[..., 1], b[..., 0], b[..., 1]))


def _head_index(layout: JointLayout) -> int:
    return layout.index("head") if "head" in layout.joints else layout.index("nose")


def joint_subset(joints: JointSubset, layout: JointLayout = COCO17) -> np.ndarray:
    """Indices (ascending, int64) of the joints averaged in eq. 3.4."""
    if isinstance(joints, str):
        if joints == "all":
            return np.arange(layout.num_joints)
        if joints not in ("body12", "body13"):
            raise ValueError(f"unknown joint subset {joints!r}; use 'body12', 'body13', 'all' or indices")
        idx = layout.indices(_BODY12)
        if joints == "body13":
            idx.append(_head_index(layout))
        return np.array(sorted(idx))
    idx = np.array(sorted(int(j) for j in joints), dtype=np.int64)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= layout.num_joints:
        raise ValueError(f"joint subset {list(joints)} is empty or outside 0..{layout.num_joints - 1}")
    return idx


def _normaliser_xy(x: np.ndarray, y: np.ndarray, normaliser: Normaliser, layout: JointLayout) -> np.ndarray:
    ls, rs = layout.index("left_shoulder"), layout.index("right_shoulder")
    if normaliser == "shoulders":
        return np.sqrt(_d2(x[..., ls], y[..., ls], x[..., rs], y[..., rs]))
    if normaliser != "head-neck":
        raise ValueError(f"unknown normaliser {normaliser!r}; use 'head-neck' or 'shoulders'")
    if "neck" in layout.joints:
        nx, ny = x[..., layout.index("neck")], y[..., layout.index("neck")]
    else:
        nx, ny = (x[..., ls] + x[..., rs]) * 0.5, (y[..., ls] + y[..., rs]) * 0.5
    h = _head_index(layout)
    return np.sqrt(_d2(x[..., h], y[..., h], nx, ny))


def _check_normaliser(normaliser: str) -> None:
    if normaliser not in ("head-neck", "shoulders"):
        raise ValueError(f"unknown normaliser {normaliser!r}; use 'head-neck' or 'shoulders'")


def normaliser_length(
    keypoints: np.ndarray, normaliser: Normaliser = "head-neck", layout: JointLayout = COCO17
) -> np.ndarray:
    """``D_normal`` of eq. 3.4 for poses ``(..., V, 2)`` pixels: ``(...)`` pixels, NaN if missing.

    ``"head-neck"``: head (``head`` or else ``nose``) to neck (``neck`` or else the midpoint of
    the shoulders); ``"shoulders"``: left to right shoulder.
    """
    k = np.asarray(keypoints, dtype=np.float64)
    return _normaliser_xy(k[..., 0], k[..., 1], normaliser, layout)


def _confidence_xy(
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
    """Eq. 3.4 from aggregated ``(B, T, V)`` and proposal ``(M, B, T, V)`` x/y pixels.

    ``valid`` ``(M, B, T, V)`` marks the terms counted (``None``: the terms without a NaN
    coordinate), and every other term must have a NaN coordinate; ``dn`` ``(B, T)`` is
    ``D_normal`` (NaN where unknown); ``work`` optional three scratch arrays
    ``(M, B, T, V)``. Terms are summed expert-major, joint-minor, left to right (a reduction
    over the outer axis of a C-contiguous array, which numpy does in order). Returns ``(B, T)``.
    """
    M, B, T, _ = px.shape
    N = len(idx)
    out, tmp, low = work or (None, None, None)
    d2 = _d2(ax[None], ay[None], px, py, out=out, tmp=tmp)
    picked = np.take(d2, idx, axis=3, out=_prefix(tmp, (M, B, T, N)))
    terms = _prefix(low, (M, N, B, T))
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
    joints: JointSubset = "body13",
    layout: JointLayout = COCO17,
    eps: float = EPS,
) -> np.ndarray:
    """Confidence C of eq. 3.4 for poses ``(B, T, V, 2)`` against proposals ``(B, M, T, V, 2)``.

    ``C = exp(-(1 / NM) sum_v sum_k D(P_A(v), P_k(v)) / (D_normal + eps))`` over the joint
    subset, with ``D_normal`` from the aggregated pose. Terms where the aggregated joint or
    the proposal is missing are left out and ``NM`` counts the terms kept. Returns ``(B, T)``
    (``(T,)`` for unbatched ``(T, V, 2)`` and ``(M, T, V, 2)``); NaN where no term or no
    ``D_normal`` exists. Terms are summed expert-major, joint-minor, left to right, as
    :func:`ssta_reference_loop` does, so both agree to the last bit.
    """
    a = np.asarray(aggregated, dtype=np.float64)
    p, batched = _batched(proposals)
    if not batched:
        a = a[None]
    _check_layout(p.shape[3], layout)
    ok = _present(a)
    ax, ay = a[..., 0], a[..., 1]
    px, py = p[..., 0].swapaxes(0, 1), p[..., 1].swapaxes(0, 1)
    valid = ok[None] & np.isfinite(px) & np.isfinite(py)
    dn = _normaliser_xy(ax, ay, normaliser, layout)
    ax, ay = np.where(ok, ax, np.nan), np.where(ok, ay, np.nan)
    px, py = np.where(valid, px, np.nan), np.where(valid, py, np.nan)
    c = _confidence_xy(ax, ay, px, py, valid, joint_subset(joints, layout), dn, eps)
    return c if batched else c[0]


def gamma_filter(conf: np.ndarray, gamma: float = DEFAULT_GAMMA, present: np.ndarray | None = None) -> np.ndarray:
    """Eq. 3.3: ``(...)`` bool mask of poses kept, ``C >= gamma`` (and ``present`` if given)."""
    with np.errstate(invalid="ignore"):
        keep = np.asarray(conf) >= gamma
    return keep if present is None else keep & present


def _first_argmin(values: Iterable[np.ndarray], out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
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


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index[s], s]`` for ``values`` ``(M, *S)`` and ``index`` ``(*S)`` in ``0..M-1``."""
    size = index.size
    flat = index.astype(np.intp).ravel() * size + np.arange(size)
    return values.ravel().take(flat, mode="clip").reshape(index.shape)


_SCRATCH = threading.local()
_SCRATCH_MAX = 1 << 23
"""Float64 elements of scratch memory kept per thread between calls of :func:`aggregate`."""


def _scratch(shape: tuple[int, ...], n: int) -> list[np.ndarray]:
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


def _prefix(a: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """The first ``prod(shape)`` elements of scratch array ``a`` seen as ``shape``; None without ``a``."""
    return None if a is None else a.reshape(-1)[: math.prod(shape)].reshape(shape)


@functools.lru_cache(maxsize=8)
def _arange(n: int) -> np.ndarray:
    """Read-only ``np.arange(n)`` (intp), cached: the flat positions of gathers."""
    a = np.arange(n, dtype=np.intp)
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=8)
def _pairs(M: int) -> tuple[np.ndarray, np.ndarray]:
    """Expert pairs ``(i, j)``, ``i < j``, in lexicographic order."""
    return np.triu_indices(M, 1)


def _pair_rule(X: np.ndarray, Y: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 3.1, ``t = 0`` case, on ``X, Y, P`` ``(M, ...)``: ``(choice int8, squared pair distance)``.

    The choice is the lower-index expert of the first closest pair (pairs in lexicographic
    order); with one expert present, that expert. The distance is inf with fewer than two.
    Missing joints are NaN.
    """
    first = P.argmax(0).astype(np.int8)
    if len(X) < 2:
        return first, np.full(X.shape[1:], np.inf)
    ii, jj = _pairs(len(X))
    d2 = _d2(X[ii], Y[ii], X[jj], Y[jj])
    d2[np.isnan(d2)] = np.inf
    arg = d2.argmin(0)
    best = np.take_along_axis(d2, arg[None], 0)[0]
    paired = np.isfinite(best)
    return np.where(paired, ii.take(arg), first).astype(np.int8), best


def _medoid_rule(X: np.ndarray, Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Consensus expert (int8) on ``(M, ...)``: smallest summed distance to the other present experts."""
    M = len(X)
    sums = []
    for k in range(M):
        s = np.where(P[k], 0.0, np.inf)
        for j in range(M):
            if j != k:
                s += np.where(P[j], np.sqrt(_d2(X[k], Y[k], X[j], Y[j])), 0.0)
        sums.append(s)
    return _first_argmin(sums)[0]


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


_CHUNK = 1 << 15
"""Joint-frames (tracks x frames x joints) per chunk of :func:`aggregate`; chunks stay in cache."""
_BLOCK = 16
"""Frames per block of the two-level scan in :func:`_run_maps`."""


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


def _run_maps(F: np.ndarray) -> np.ndarray:
    """States ``s_t = F_t(s_(t-1))`` from maps ``F`` ``(M, B, T, V)`` int8; ``(B, T, V)`` int8.

    ``F[j, b, t, v]`` is the expert selected at ``t`` when ``j`` was selected at the previous
    frame; the start state is 0. This is the recursion of eq. 3.1 over frames, done with
    array ops: maps are coded as integers (``sum_j F(j) M^j``, uint16), prefix compositions
    ``F_t o ... o F_0`` come from a two-level scan (Hillis-Steele inside blocks of
    :data:`_BLOCK` frames, then across blocks) with a composition table. For ``M > 4`` maps
    are composed directly, with ``ceil(log2 T)`` rounds.
    """
    M, B, T, V = F.shape
    if M == 1:
        return F[0].copy()
    if M > 4:
        G = F.copy()
        d = 1
        while d < T:
            composed = [_take(G[:, :, d:], G[j, :, :-d]) for j in range(M)]
            for j, c in enumerate(composed):
                G[j, :, d:] = c
            d *= 2
        return G[0]
    table, K = _map_tables(M)
    powers = M ** np.arange(M)
    nb = -(-T // _BLOCK)
    code = np.full((B, nb * _BLOCK, V), int((np.arange(M) * powers).sum()), np.uint16)
    head = code[:, :T]
    np.copyto(head, F[0], casting="unsafe")
    for j in range(1, M):
        head += F[j].astype(np.uint16) * np.uint16(powers[j])
    code = code.reshape(B, nb, _BLOCK, V)
    _scan_codes(code, table, K, axis=2)
    across = code[:, :, -1].copy()
    _scan_codes(across, table, K, axis=1)
    code *= np.uint16(M)
    code[:, 1:] += (across[:, :-1] % np.uint16(M))[:, :, None, :]
    digits = ((np.arange(K)[:, None] // powers) % M).astype(np.int8).ravel()
    return digits.take(code, mode="clip").reshape(B, nb * _BLOCK, V)[:, :T]


def _select(
    X: np.ndarray,
    Y: np.ndarray,
    P: np.ndarray,
    *,
    robust: RobustOptions | None = None,
    scale: np.ndarray | None = None,
    work: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Eq. 3.1 (thesis) or its robust variant: selected expert ``(B, T, V)`` int8.

    ``X, Y`` ``(M, B, T, V)`` pixels, NaN where ``P`` (presence) is false; ``work`` optional
    three scratch arrays of that shape. Where no expert is present the index is arbitrary.
    """
    M, B, T, V = X.shape
    out, tmp, low = work or (None, None, None)
    anyp = P.any(0)
    if robust is None and anyp.all():
        F = np.empty((M, B, T, V), np.int8)
        o, w, lo = (None, None, None) if out is None else (out[:, :, 1:], tmp[:, :, 1:], low[:, :, 1:])
        xj, yj = X[:, :, :-1], Y[:, :, :-1]
        d2 = (_d2(X[k, None, :, 1:], Y[k, None, :, 1:], xj, yj, out=o, tmp=w) for k in range(M))
        F[:, :, 1:] = _first_argmin(d2, out=lo)[0]
        F[:, :, 0] = _pair_rule(X[:, :, 0], Y[:, :, 0], P[:, :, 0])[0]
        return _run_maps(F)
    tt = np.arange(T)[None, :, None]
    last = np.maximum.accumulate(np.where(anyp, tt, -1), axis=1)
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
    init, dpair2 = _pair_rule(X, Y, P)
    restart = prev < 0
    barred: list[np.ndarray | float] = [0.0] * M
    if robust is not None:
        anchor = init if robust.anchor == "pair" else _medoid_rule(X, Y, P)
        init = anchor
        if robust.reinit_gap is not None:
            restart |= tt - prev - 1 >= robust.reinit_gap
        s2 = (scale * scale)[:, None, None]
        if robust.consensus_threshold is not None:
            lim = robust.consensus_threshold**2 * s2
            agree = dpair2 <= lim
            ax, ay = _take(X, anchor), _take(Y, anchor)
            barred = [np.where(agree & ~(_d2(X[k], Y[k], ax, ay) <= lim), np.inf, 0.0) for k in range(M)]
    d2 = (_d2(X[k, None], Y[k, None], Xp, Yp, out=out, tmp=tmp) + barred[k] for k in range(M))
    F, dmin2 = _first_argmin(d2, out=low)
    if robust is not None and robust.drift_threshold is not None:
        F = np.where(dmin2 > robust.drift_threshold**2 * s2, anchor, F)
    F = np.where(restart[None], init[None], F)
    F = np.where(anyp[None], F, np.arange(M, dtype=np.int8)[:, None, None, None])
    return _run_maps(F)


def fill_gaps(keypoints: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of interior gaps of at most ``max_gap`` frames.

    ``keypoints`` ``(..., T, V, 2)`` pixels, NaN = missing. Returns the filled copy and the
    ``(..., T, V)`` mask of filled joints; gaps at the ends of a track are not extrapolated.
    """
    x = np.asarray(keypoints, dtype=np.float64)
    lead, (T, V) = x.shape[:-3], x.shape[-3:-1]
    x = x.reshape(-1, T, V, 2)
    ok = _present(x)
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
    ok = _present(out)
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
    ok = _present(x)
    window = min(window | 1, T if T % 2 else T - 1)
    if window < 3 or (method == "savgol" and window <= polyorder):
        return x.reshape(*lead, T, V, 2).copy()
    b = np.nan_to_num(_bridge(x), nan=0.0)
    if method == "savgol":
        out = savgol_filter(b, window, polyorder, axis=1, mode="interp")
    elif method == "median":
        out = median_filter(b, size=(1, window, 1, 1), mode="nearest")
    else:
        raise ValueError(f"unknown smoother {method!r}; use 'savgol' or 'median'")
    out = np.where(ok[..., None], out, np.nan)
    return out.reshape(*lead, T, V, 2)


def body_scale(proposals: np.ndarray, layout: JointLayout = COCO17) -> np.ndarray:
    """Body scale per track, pixels: median over experts and frames of
    max(shoulder width, torso length mid-shoulders to mid-hips).

    ``proposals`` ``(M, T, V, 2)`` or ``(B, M, T, V, 2)`` (or poses ``(T, V, 2)``); returns
    ``()`` or ``(B,)``, NaN for a track without shoulders.
    """
    x = np.asarray(proposals, dtype=np.float64)
    ls, rs = layout.index("left_shoulder"), layout.index("right_shoulder")
    lh, rh = layout.index("left_hip"), layout.index("right_hip")
    sh = _dist(x[..., ls, :], x[..., rs, :])
    torso = _dist((x[..., ls, :] + x[..., rs, :]) * 0.5, (x[..., lh, :] + x[..., rh, :]) * 0.5)
    s = np.fmax(sh, torso)
    s = s.reshape(-1) if x.ndim < 5 else s.reshape(s.shape[0], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(s, axis=-1)


def aggregate(
    proposals: np.ndarray,
    *,
    mode: Mode = "thesis",
    gamma: float = DEFAULT_GAMMA,
    normaliser: Normaliser = "head-neck",
    joints: JointSubset = "body13",
    missing: Missing = "skip",
    eps: float = EPS,
    layout: JointLayout = COCO17,
    robust: RobustOptions | None = None,
) -> Aggregation:
    """SST-A on proposal stacks ``(M, T, V, 2)`` or ``(B, M, T, V, 2)`` pixels, NaN = missing.

    Joint selection by eq. 3.1 (``mode="thesis"``) or its robust variant, confidence C by
    eq. 3.4 with ``normaliser`` and ``joints``, and the gamma filter of eq. 3.3. Vectorised
    over tracks, frames and joints (see :func:`_run_maps` for the recursion over frames).
    ``missing`` (thesis mode only) is ``"skip"`` or ``"zero"`` (the public code; see the module
    docstring). ``robust`` defaults to ``RobustOptions()`` in robust mode.
    """
    x, batched = _batched(proposals)
    M, V = x.shape[1], x.shape[3]
    _check_layout(V, layout)
    if not 1 <= M <= 127:
        raise ValueError(f"SST-A needs 1 to 127 experts; got M={M}")
    if mode not in ("thesis", "robust"):
        raise ValueError(f"unknown SST-A mode {mode!r}; use 'thesis' or 'robust'")
    if missing not in ("skip", "zero"):
        raise ValueError(f"unknown missing-joint policy {missing!r}; use 'skip' or 'zero'")
    if mode == "robust" and missing == "zero":
        raise ValueError("mode='robust' treats missing joints as missing; missing='zero' is thesis-only")
    idx = joint_subset(joints, layout)
    _check_normaliser(normaliser)
    x = np.ascontiguousarray(x)
    B, M, T, V, _ = x.shape
    options = {"mode": mode, "gamma": gamma, "normaliser": normaliser, "missing": missing, "eps": eps}
    options["joints"] = joints if isinstance(joints, str) else [int(j) for j in joints]
    if mode == "robust":
        options["robust"] = robust or RobustOptions()
    per_chunk = max(1, _CHUNK // max(1, T * V))
    if per_chunk < B:
        kw = {"mode": mode, "gamma": gamma, "normaliser": normaliser, "joints": joints, "missing": missing}
        parts = [
            aggregate(x[i : i + per_chunk], **kw, eps=eps, layout=layout, robust=robust) for i in range(0, B, per_chunk)
        ]
        out = [np.concatenate([getattr(p, f) for p in parts]) for f in ("keypoints", "source", "confidence", "keep")]
        return Aggregation(*(out if batched else (a[0] for a in out)), options=options)
    if T == 0:
        out = (np.zeros((B, 0, V, 2)), np.zeros((B, 0, V), np.int8), np.zeros((B, 0)), np.zeros((B, 0), bool))
        return Aggregation(*(out if batched else (a[0] for a in out)), options=options)
    X, Y, *work = _scratch((M, B, T, V), 5)
    np.copyto(X, x[..., 0].swapaxes(0, 1))
    np.copyto(Y, x[..., 1].swapaxes(0, 1))
    fx, fy = np.isfinite(X), np.isfinite(Y)
    P = fx & fy
    if (fx != fy).any() or np.isinf(X).any() or np.isinf(Y).any():
        X[~P], Y[~P] = np.nan, np.nan
    if missing == "zero":
        np.putmask(X, ~P, 0.0)
        np.putmask(Y, ~P, 0.0)
    opts = options.get("robust")
    scale = body_scale(np.stack([X, Y], -1).swapaxes(0, 1), layout) if opts is not None else None
    sel = _select(X, Y, np.ones_like(P) if missing == "zero" else P, robust=opts, scale=scale, work=work)
    at = sel.astype(np.intp)
    at *= B * T * V
    at += _arange(B * T * V).reshape(B, T, V)
    got = P.reshape(-1).take(at, mode="clip")
    kp = np.empty((B, T, V, 2))
    ax, ay = kp[..., 0], kp[..., 1]
    X.reshape(-1).take(at, out=ax, mode="clip")
    Y.reshape(-1).take(at, out=ay, mode="clip")
    del at
    source = np.where(got, sel, np.int8(SOURCE_NONE))
    has_pose = None
    if missing == "zero":
        dn = _normaliser_xy(ax, ay, normaliser, layout)
        conf = _confidence_xy(ax, ay, X, Y, None, idx, dn, eps, work)
        has_pose = got[..., idx].any(-1)
        kp[..., 0], kp[..., 1] = np.where(got, ax, np.nan), np.where(got, ay, np.nan)
    else:
        if opts is not None and opts.fill_gaps > 0:
            kp, filled = fill_gaps(kp, opts.fill_gaps)
            source = np.where(filled, np.int8(SOURCE_FILLED), source)
        if opts is not None and opts.smooth is not None:
            kp = smooth(kp, opts.smooth, opts.smooth_window, opts.smooth_polyorder)
        ax, ay = kp[..., 0], kp[..., 1]
        dn = _normaliser_xy(ax, ay, normaliser, layout)
        conf = _confidence_xy(ax, ay, X, Y, None, idx, dn, eps, work)
    keep = gamma_filter(conf, gamma, has_pose)
    if not batched:
        kp, source, conf, keep = kp[0], source[0], conf[0], keep[0]
    return Aggregation(kp, source, conf, keep, options)


def ssta_reference_loop(
    proposals: np.ndarray,
    *,
    gamma: float = DEFAULT_GAMMA,
    normaliser: Normaliser = "head-neck",
    joints: JointSubset = "body13",
    missing: Missing = "skip",
    eps: float = EPS,
    layout: JointLayout = COCO17,
) -> Aggregation:
    """Thesis mode (eq. 3.1, 3.3, 3.4) as a plain per-frame, per-joint Python loop.

    The straightforward reading of the equations, kept as the reference that :func:`aggregate`
    must reproduce bit for bit, and as the baseline of ``bench/sst_a_speed.py``. Takes one
    stack ``(M, T, V, 2)`` pixels; same NaN policy and outputs as :func:`aggregate`. The argmins
    of eq. 3.1 compare squared distances, which have the same minimiser as D.
    """
    P = np.asarray(proposals, dtype=np.float64)
    if P.ndim != 4 or P.shape[-1] != 2:
        raise ValueError(f"proposals must be (M, T, V, 2) pixels; got shape {P.shape}")
    M, T, V, _ = P.shape
    _check_layout(V, layout)
    if missing not in ("skip", "zero"):
        raise ValueError(f"unknown missing-joint policy {missing!r}; use 'skip' or 'zero'")
    zero = missing == "zero"
    subset = [int(j) for j in joint_subset(joints, layout)]
    ls, rs = layout.index("left_shoulder"), layout.index("right_shoulder")
    head = _head_index(layout)
    neck = layout.index("neck") if "neck" in layout.joints else None
    _check_normaliser(normaliser)

    def sq(p: tuple[float, float], q: tuple[float, float]) -> float:
        dx = p[0] - q[0]
        dy = p[1] - q[1]
        return dx * dx + dy * dy

    def proposal(k: int, t: int, v: int) -> tuple[float, float] | None:
        px, py = float(P[k, t, v, 0]), float(P[k, t, v, 1])
        if math.isfinite(px) and math.isfinite(py):
            return (px, py)
        return (0.0, 0.0) if zero else None

    def real(k: int, t: int, v: int) -> bool:
        return math.isfinite(float(P[k, t, v, 0])) and math.isfinite(float(P[k, t, v, 1]))

    keypoints = np.full((T, V, 2), np.nan)
    source = np.full((T, V), SOURCE_NONE, dtype=np.int8)
    conf = np.full(T, np.nan)
    keep = np.zeros(T, dtype=bool)
    previous: list[tuple[float, float] | None] = [None] * V
    for t in range(T):
        agg: list[tuple[float, float] | None] = [None] * V
        for v in range(V):
            cands = [proposal(k, t, v) for k in range(M)]
            choice = None
            best = math.inf
            if previous[v] is None:
                for i in range(M):
                    for j in range(i + 1, M):
                        if cands[i] is not None and cands[j] is not None:
                            d = sq(cands[i], cands[j])
                            if d < best:
                                best, choice = d, i
                if choice is None:
                    choice = next((k for k in range(M) if cands[k] is not None), None)
            else:
                for k in range(M):
                    if cands[k] is not None:
                        d = sq(cands[k], previous[v])
                        if d < best:
                            best, choice = d, k
            if choice is not None:
                agg[v] = cands[choice]
                previous[v] = agg[v]
                if real(choice, t, v):
                    keypoints[t, v] = agg[v]
                    source[t, v] = choice
        total, count = 0.0, 0
        for k in range(M):
            for v in subset:
                e = proposal(k, t, v)
                if agg[v] is not None and e is not None:
                    total += math.sqrt(sq(agg[v], e))
                    count += 1
        if neck is not None:
            pn = agg[neck]
        elif agg[ls] is not None and agg[rs] is not None:
            pn = ((agg[ls][0] + agg[rs][0]) * 0.5, (agg[ls][1] + agg[rs][1]) * 0.5)
        else:
            pn = None
        pa, pb = (agg[ls], agg[rs]) if normaliser == "shoulders" else (agg[head], pn)
        if count > 0 and pa is not None and pb is not None:
            conf[t] = np.exp(-(total / count) / (math.sqrt(sq(pa, pb)) + eps))
        present = any(not math.isnan(keypoints[t, v, 0]) for v in subset)
        keep[t] = present and not math.isnan(conf[t]) and conf[t] >= gamma
    options = {"mode": "thesis", "gamma": gamma, "normaliser": normaliser, "missing": missing, "eps": eps}
    options["joints"] = joints if isinstance(joints, str) else [int(j) for j in joints]
    return Aggregation(keypoints, source, conf, keep, options)
