"""SST-A as the thesis writes it (section 3.3.2): eqs. 3.1 to 3.4, one joint and one frame at a time.

Notation of the thesis: ``P_k^t(v)`` is the position (pixels) of joint ``v`` at frame ``t`` by
expert ``k`` of ``K = {k_1 .. k_M}``; ``P_A^t(v)`` the aggregated joint.

- eq. 3.2, :func:`distance`: ``D(P_1(v), P_2(v))``, the Euclidean distance.
- eq. 3.1, :func:`select_first` (``t = 0``: the lower-index expert ``k_a`` of the closest pair
  ``(k_a, k_b)``; the thesis allows "any one of the two", and :func:`select_first_public` is the
  member the authors' public code takes) and :func:`select_next` (``t > 0``: the expert closest
  to ``P_A^(t-1)(v)``).
- eq. 3.4, :func:`confidence_of`: ``C = exp(-(1/NM) sum_V sum_K D(P_A(v), P_k(v)) / (D_normal + eps))``,
  with ``D_normal`` from :func:`d_normal` (head-neck in the thesis; where it is undefined,
  shoulder width then torso stand in, scaled to a head-neck size: :data:`HEAD_NECK_PER_SHOULDER_WIDTH`).
- eq. 3.3, :func:`keep`: the pose is kept when ``C >= gamma``.

:func:`ssta_reference_loop` runs them over a whole track in plain Python. It is the reading
of the thesis that the vectorised :func:`posekit.refine.ssta.aggregate` reproduces bit for bit,
and the baseline of ``bench/sst_a_speed.py``. Missing joints (NaN) take no part in any argmin
or in the mean of eq. 3.4 (``missing="skip"``), or are the point ``(0, 0)`` as in the authors'
public code (``missing="zero"``); argmin ties go to the lowest expert index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from posekit.skeleton.geometry import head_index
from posekit.skeleton.layouts import COCO17, JointLayout

Point = tuple[float, float]

DEFAULT_GAMMA = 0.18
"""The thesis' threshold gamma of eq. 3.3 (Fig. 3.7/3.8); the authors' public demo runs 0.06."""
EPS = 1e-12
"""The thesis' offset epsilon of eq. 3.4."""

SOURCE_NONE = -1
"""``source`` value of a joint that no expert gave (output NaN)."""
SOURCE_FILLED = -2
"""``source`` value of a joint filled by interpolation across a short gap (robust mode)."""

NORMALISERS = ("head-neck", "shoulders", "torso")
"""The lengths ``D_normal`` of eq. 3.4 can be; a pose records the one used by its index here."""
NORMALISER_NONE = -1
"""Recorded normaliser of a pose without C (a single expert's pose, never aggregated)."""

HEAD_NECK_PER_SHOULDER_WIDTH = 0.92
"""Median head-neck distance / shoulder width of real poses (docs/ssta.md, "Normaliser fallback")."""
HEAD_NECK_PER_TORSO = 0.41
"""Median head-neck distance / same-side shoulder-to-hip length of real poses (docs/ssta.md)."""
HEAD_NECK_UNITS = {"head-neck": 1.0, "shoulders": HEAD_NECK_PER_SHOULDER_WIDTH, "torso": HEAD_NECK_PER_TORSO}
"""Head-neck distances per pixel of each normaliser length: the fallback scale factors."""

BODY12 = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
"""The 12 body joints the authors' public code averages in eq. 3.4; the thesis adds the head (13)."""


@dataclass(frozen=True)
class Aggregation:
    """The result of SST-A for ``B`` tracks (the ``B`` axis is absent for an unbatched input).

    Attributes:
        keypoints: ``(B, T, V, 2)`` float64 pixels of the aggregated poses; NaN where missing.
        source: ``(B, T, V)`` int8 index of the expert each joint was taken from;
            :data:`SOURCE_NONE` (-1) where missing, :data:`SOURCE_FILLED` (-2) where interpolated.
        confidence: ``(B, T)`` float64 confidence C of eq. 3.4 in (0, 1]; NaN where it cannot be
            computed (no aggregated joint with a proposal, or no normaliser length measurable).
        keep: ``(B, T)`` bool, eq. 3.3: C >= gamma and the pose has a joint in the C subset.
        normaliser: ``(B, T)`` int8 index into :data:`NORMALISERS` of the ``D_normal`` used;
            :data:`NORMALISER_NONE` where C is NaN.
        options: the settings that produced it (``AggregationOptions.settings()``).
    """

    keypoints: np.ndarray
    source: np.ndarray
    confidence: np.ndarray
    keep: np.ndarray
    normaliser: np.ndarray
    options: dict = field(default_factory=dict, compare=False)


def distance(p: Point, q: Point) -> float:
    """Eq. 3.2: ``D(p, q)``, pixels."""
    return math.sqrt(squared_distance(p, q))


def squared_distance(p: Point, q: Point) -> float:
    """``D(p, q)^2``, pixels^2: the argmins of eq. 3.1 compare it (same minimiser as D)."""
    dx = p[0] - q[0]
    dy = p[1] - q[1]
    return dx * dx + dy * dy


def select_first(candidates: Sequence[Point | None]) -> int | None:
    """Eq. 3.1, ``t = 0``: ``k_a`` of ``(k_a, k_b) = argmin_{i != j} D(P_ki, P_kj)``, pairs in lexicographic order.

    With one expert present, that expert; with none, None.
    """
    best, choice = math.inf, None
    for i, p in enumerate(candidates):
        for q in candidates[i + 1 :]:
            if p is not None and q is not None:
                d = squared_distance(p, q)
                if d < best:
                    best, choice = d, i
    if choice is None:
        choice = next((k for k, p in enumerate(candidates) if p is not None), None)
    return choice


PUBLIC_PAIRS = ((1, 2, 1), (0, 1, 1), (0, 2, 2))
"""The authors' public code at ``t = 0`` (three experts): ``(i, j, chosen)`` in the order it compares the pairs."""


def select_first_public(candidates: Sequence[Point | None]) -> int | None:
    """Eq. 3.1, ``t = 0``, as the authors' public code reads it, for three experts.

    The pairs of :data:`PUBLIC_PAIRS` in that order: the closest gives its listed member (the
    member other than expert 0, and expert 1 for the pair (1, 2)); among equal distances
    (eq. 3.2, compared after the square root as that code does) the last pair compared wins.
    Pairs with a missing member take no part; with no complete pair, the first expert
    present, as :func:`select_first`.
    """
    if len(candidates) != 3:
        raise ValueError(f"the public code's t = 0 rule is defined for three experts; got {len(candidates)}")
    best, choice = math.inf, None
    for i, j, chosen in PUBLIC_PAIRS:
        p, q = candidates[i], candidates[j]
        if p is not None and q is not None:
            d = distance(p, q)
            if d <= best:
                best, choice = d, chosen
    if choice is None:
        choice = next((k for k, p in enumerate(candidates) if p is not None), None)
    return choice


def select_next(candidates: Sequence[Point | None], previous: Point) -> int | None:
    """Eq. 3.1, ``t > 0``: ``k_a = argmin_k D(P_k^t(v), P_A^(t-1)(v))``; None when no expert has the joint."""
    best, choice = math.inf, None
    for k, p in enumerate(candidates):
        if p is not None:
            d = squared_distance(p, previous)
            if d < best:
                best, choice = d, k
    return choice


def _midpoint(p: Point | None, q: Point | None) -> Point | None:
    return None if p is None or q is None else ((p[0] + q[0]) * 0.5, (p[1] + q[1]) * 0.5)


def _span(p: Point | None, q: Point | None) -> float | None:
    return None if p is None or q is None else distance(p, q)


def normaliser_lengths(pose: Sequence[Point | None], layout: JointLayout) -> dict[str, float | None]:
    """Each candidate ``D_normal`` of one aggregated pose, pixels (None where a joint is missing).

    head-neck: head (``head`` or ``nose``) to neck (``neck`` or the mid-shoulders); shoulders:
    left to right shoulder; torso: shoulder to hip of the same side, the mean of the sides present.
    """
    ls, rs = pose[layout.index("left_shoulder")], pose[layout.index("right_shoulder")]
    neck = pose[layout.index("neck")] if "neck" in layout.joints else _midpoint(ls, rs)
    sides = [_span(ls, pose[layout.index("left_hip")]), _span(rs, pose[layout.index("right_hip")])]
    present = [s for s in sides if s is not None]
    torso = (present[0] + present[1]) * 0.5 if len(present) == 2 else (present[0] if present else None)
    return {"head-neck": _span(pose[head_index(layout)], neck), "shoulders": _span(ls, rs), "torso": torso}


def fallback_order(normaliser: str) -> tuple[str, ...]:
    """The chosen normaliser first, then the others in :data:`NORMALISERS` order."""
    return (normaliser, *(n for n in NORMALISERS if n != normaliser))


def d_normal(pose: Sequence[Point | None], normaliser: str, layout: JointLayout) -> tuple[float | None, int]:
    """``D_normal`` of eq. 3.4 for one aggregated pose, pixels, and the index of the length it came from.

    The chosen ``normaliser`` where it exists (so thesis mode is eq. 3.4 wherever the pose has
    a head and a neck); else the first measurable of :func:`fallback_order`, converted to the
    chosen length's size with the measured ratios :data:`HEAD_NECK_UNITS`.
    """
    lengths = normaliser_lengths(pose, layout)
    for name in fallback_order(normaliser):
        if lengths[name] is not None:
            return lengths[name] * (HEAD_NECK_UNITS[name] / HEAD_NECK_UNITS[normaliser]), NORMALISERS.index(name)
    return None, NORMALISER_NONE


def confidence_of(distances: Sequence[float], dn: float, eps: float = EPS) -> float:
    """Eq. 3.4 from the ``NM`` distances ``D(P_A(v), P_k(v))`` (pixels) and ``D_normal`` (pixels)."""
    total = 0.0
    for d in distances:
        total += d
    return float(np.exp(-(total / len(distances)) / (dn + eps)))


def keep(c: float, gamma: float = DEFAULT_GAMMA) -> bool:
    """Eq. 3.3: the pose is kept when ``C >= gamma`` (a pose without C is not)."""
    return not math.isnan(c) and c >= gamma


def joint_subset(joints: str | Sequence[int], layout: JointLayout = COCO17) -> np.ndarray:
    """Indices (ascending, int64) of the joints averaged in eq. 3.4: body12, body13 (thesis), all, or indices."""
    if isinstance(joints, str):
        if joints == "all":
            return np.arange(layout.num_joints)
        if joints not in ("body12", "body13"):
            raise ValueError(f"unknown joint subset {joints!r}; use 'body12', 'body13', 'all' or indices")
        idx = layout.indices(BODY12)
        if joints == "body13":
            idx.append(head_index(layout))
        return np.array(sorted(idx))
    idx = np.array(sorted(int(j) for j in joints), dtype=np.int64)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= layout.num_joints:
        raise ValueError(f"joint subset {list(joints)} is empty or outside 0..{layout.num_joints - 1}")
    return idx


def ssta_reference_loop(
    proposals: np.ndarray,
    *,
    gamma: float = DEFAULT_GAMMA,
    normaliser: str = "head-neck",
    joints: str = "body13",
    missing: str = "skip",
    eps: float = EPS,
    first_pick: str = "lower",
    layout: JointLayout = COCO17,
) -> Aggregation:
    """Thesis mode (eqs. 3.1, 3.3, 3.4) on one stack ``(M, T, V, 2)`` pixels as a plain per-frame, per-joint loop.

    ``first_pick`` is the ``t = 0`` rule: ``"lower"`` :func:`select_first`, ``"public"``
    :func:`select_first_public`.
    When the previous aggregated joint is missing (no expert had it at ``t - 1``), eq. 3.1 uses
    the last aggregated position of that joint (held across the gap); before the joint was ever
    seen, the ``t = 0`` rule applies. With ``missing="zero"`` the recursion runs on the zeros, and
    a selected ``(0, 0)`` that stands for a missing joint is written out as NaN with source -1.
    """
    P = np.asarray(proposals, dtype=np.float64)
    if P.ndim != 4 or P.shape[-1] != 2:
        raise ValueError(f"proposals must be (M, T, V, 2) pixels; got shape {P.shape}")
    M, T, V, _ = P.shape
    if layout.num_joints != V:
        raise ValueError(f"proposals have V={V} joints but layout {layout.name!r} has {layout.num_joints}")
    zero = missing == "zero"
    subset = [int(j) for j in joint_subset(joints, layout)]
    first = select_first_public if first_pick == "public" else select_first

    def real(k: int, t: int, v: int) -> Point | None:
        x, y = float(P[k, t, v, 0]), float(P[k, t, v, 1])
        return (x, y) if math.isfinite(x) and math.isfinite(y) else None

    def proposal(k: int, t: int, v: int) -> Point | None:
        p = real(k, t, v)
        return (0.0, 0.0) if p is None and zero else p

    keypoints = np.full((T, V, 2), np.nan)
    source = np.full((T, V), SOURCE_NONE, dtype=np.int8)
    conf = np.full(T, np.nan)
    kept = np.zeros(T, dtype=bool)
    used = np.full(T, NORMALISER_NONE, dtype=np.int8)
    previous: list[Point | None] = [None] * V
    for t in range(T):
        pose: list[Point | None] = [None] * V
        for v in range(V):
            candidates = [proposal(k, t, v) for k in range(M)]
            prev = previous[v]
            choice = first(candidates) if prev is None else select_next(candidates, prev)
            if choice is not None:
                pose[v] = previous[v] = candidates[choice]
                if real(choice, t, v) is not None:
                    keypoints[t, v] = pose[v]
                    source[t, v] = choice
        terms = [
            distance(pose[v], e)
            for k in range(M)
            for v in subset
            if pose[v] is not None and (e := proposal(k, t, v)) is not None
        ]
        dn, code = d_normal(pose, normaliser, layout)
        if terms and dn is not None:
            conf[t], used[t] = confidence_of(terms, dn, eps), code
        has_joint = any(not math.isnan(keypoints[t, v, 0]) for v in subset)
        kept[t] = has_joint and keep(conf[t], gamma)
    settings = {"mode": "thesis", "gamma": gamma, "normaliser": normaliser, "joints": joints, "missing": missing}
    if first_pick != "lower":
        settings["first_pick"] = first_pick
    return Aggregation(keypoints, source, conf, kept, used, {**settings, "eps": eps})
